/*
 * The plugin loader shared by the registry and broker backends
 * (doc/plugins.md): one path rule, one ABI check, the same messages.
 */
#include "config.h"

#include <sys/stat.h>

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "util.h"

/* The name becomes a path: nothing but a plain word. */
static int
plugin_name_valid(const char *name)
{
	return *name != '\0' && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789-") == strlen(name);
}

/* Whether the file holds every segment its program headers declare. */
static int
plugin_segments_whole(int fd, const Elf64_Ehdr *eh, uint64_t size)
{
	Elf64_Phdr	 ph;
	size_t		 i;

	for (i = 0; i < eh->e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh->e_phoff +
		    i * eh->e_phentsize)) != (ssize_t)sizeof(ph))
			return 0;
		if (ph.p_type == PT_LOAD && (ph.p_offset > size ||
		    ph.p_filesz > size - ph.p_offset))
			return 0;
	}
	return 1;
}

/*
 * dlopen maps a shared object's segments from its file and faults
 * (SIGBUS) on pages past its end: a plugin cut short (a copy interrupted,
 * a full disk) would kill the master, which loads the broker's. -1 if
 * path is such a file; anything else is left to dlopen to judge.
 */
static int
plugin_cut_short(const char *path)
{
	Elf64_Ehdr	 eh;
	struct stat	 st;
	int		 fd, cut = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	if (fstat(fd, &st) == 0 && pread(fd, &eh, sizeof(eh), 0) ==
	    (ssize_t)sizeof(eh) && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
	    eh.e_ident[EI_CLASS] == ELFCLASS64)
		cut = !plugin_segments_whole(fd, &eh, (uint64_t)st.st_size);
	close(fd);
	return cut ? -1 : 0;
}

/*
 * dlopen's error names the file it failed on: the plugin itself, or
 * for a library the plugin needs (libnats not installed) only that
 * library. The plugin's path goes in front then, so the line says which
 * file was being loaded.
 */
static void
plugin_dlerror(const char *kind, const char *name, const char *path,
    char **cause)
{
	const char	*err = dlerror();

	if (strncmp(err, path, strlen(path)) == 0)
		xasprintf(cause, "%s backend %s: %s", kind, name, err);
	else
		xasprintf(cause, "%s backend %s: %s: %s", kind, name, path,
		    err);
}

/*
 * The size the linker recorded for the symbol at have, 0 if unknown: a
 * struct built from another header under the same ABI number (the number
 * not bumped) would be read past its end, or misread.
 */
static size_t
plugin_symbol_size(const void *have)
{
	const ElfW(Sym)	*sym = NULL;
	Dl_info		 info;

	if (dladdr1(have, &info, (void **)&sym, RTLD_DL_SYMENT) == 0 ||
	    sym == NULL)
		return 0;
	return sym->st_size;
}

const void *
plugin_load(const char *kind, const char *name, const char *symbol,
    uint32_t abi, size_t size, char **cause)
{
	const char	*dir = getenv("MICROD_PLUGIN_DIR");
	const uint32_t	*have;
	char		 path[1024];
	size_t		 found;
	void		*dl;

	if (!plugin_name_valid(name)) {
		xasprintf(cause, "%s backend \"%s\" is not a valid name", kind,
		    name);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s-%s.so",
	    dir != NULL && *dir != '\0' ? dir : PKGLIBDIR, kind, name);
	if (plugin_cut_short(path) == -1) {
		xasprintf(cause, "%s is cut short: its segments run past its "
		    "end", path);
		return NULL;
	}
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		plugin_dlerror(kind, name, path, cause);
		return NULL;
	}
	if ((have = dlsym(dl, symbol)) == NULL) {
		xasprintf(cause, "%s has no %s", path, symbol);
		dlclose(dl);
		return NULL;
	}
	if (*have != abi) {
		xasprintf(cause, "%s is not binary compatible (ABI %u, microd "
		    "speaks %u)", path, *have, abi);
		dlclose(dl);
		return NULL;
	}
	if ((found = plugin_symbol_size(have)) != size) {
		if (found == 0)
			xasprintf(cause, "%s: its %s has no size in its symbol "
			    "table", path, symbol);
		else
			xasprintf(cause, "%s is not binary compatible (its %s "
			    "is %zu bytes, microd expects %zu)", path, symbol,
			    found, size);
		dlclose(dl);
		return NULL;
	}
	return have;
}
