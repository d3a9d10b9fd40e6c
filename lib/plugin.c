/*
 * The plugin loader shared by the registry and broker backends
 * (doc/plugins.md): one path rule, one ABI check, the same messages.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "util.h"

/* The name becomes a path: nothing but a plain word. */
static int
plugin_name_valid(const char *name)
{
	return *name != '\0' && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789-") == strlen(name);
}

const void *
plugin_load(const char *kind, const char *name, const char *symbol,
    uint32_t abi, char **cause)
{
	const char	*dir = getenv("MICROD_PLUGIN_DIR");
	const uint32_t	*have;
	char		 path[1024];
	void		*dl;

	if (!plugin_name_valid(name)) {
		xasprintf(cause, "%s backend \"%s\" is not a valid name", kind,
		    name);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s-%s.so",
	    dir != NULL && *dir != '\0' ? dir : PKGLIBDIR, kind, name);
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		xasprintf(cause, "%s backend %s: %s", kind, name, dlerror());
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
	return have;
}
