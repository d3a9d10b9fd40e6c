/*
 * The registry database's files around sqlite (registry/store.c): the
 * database, its -wal and -shm, found, checked, moved aside. sqlite opens
 * what it may not write read-only, takes a damaged -wal for an empty one,
 * and says neither which file nor why.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "registry/store-file.h"
#include "util.h"

static const char *const store_suffix[] = { "", "-wal", "-shm" };

ino_t
store_file_ino(const char *path, const char *suffix)
{
	char		 file[1024];
	struct stat	 sb;

	snprintf(file, sizeof(file), "%s%s", path, suffix);
	return stat(file, &sb) == 0 ? sb.st_ino : 0;
}

/*
 * The database does not exist and its directory may not be written:
 * sqlite, refused the file to write, tries it read-only and reports that
 * it is missing (ENOENT), not why it could not be made (EROFS, EACCES).
 */
static int
store_file_creatable(const char *path, char **cause)
{
	char	 dir[1024];
	char	*slash;

	if (access(path, F_OK) == 0 || errno != ENOENT)
		return 0;
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else
		slash[slash == dir] = '\0';
	if (access(dir, W_OK) == 0)
		return 0;
	xasprintf(cause, "cannot create %s: %s", path, strerror(errno));
	return -1;
}

/*
 * sqlite opens a file it may not write (the database, its -wal or -shm)
 * read-only, and says so only at the first write, without saying which
 * or why.
 */
int
store_file_writable(const char *path, char **cause)
{
	char	 file[1024];
	size_t	 i;

	if (store_file_creatable(path, cause) == -1)
		return -1;
	for (i = 0; i < nitems(store_suffix); i++) {
		snprintf(file, sizeof(file), "%s%s", path, store_suffix[i]);
		if (access(file, W_OK) == -1 && errno != ENOENT) {
			xasprintf(cause, "cannot write to %s: %s", file,
			    strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
store_file_move_aside(const char *path, const char *tag, char *to, size_t len)
{
	char		 from[1024], dst[1024];
	size_t		 i;
	int		 moved = 0;

	snprintf(to, len, "%s.%s-%llu", path, tag,
	    (unsigned long long)util_wall_ms());
	for (i = 0; i < nitems(store_suffix); i++) {
		snprintf(from, sizeof(from), "%s%s", path, store_suffix[i]);
		snprintf(dst, sizeof(dst), "%s%s", to, store_suffix[i]);
		if (rename(from, dst) == 0)
			moved++;
		else if (errno != ENOENT) {
			log_warn("cannot move %s aside", from);
			return -1;
		}
	}
	return moved;
}

#define STORE_FILE_WAL_MAGIC	0x377f0682	/* low bit: byte order */
#define STORE_FILE_WAL_VERSION	3007000
#define STORE_FILE_WAL_HEADER	32

static uint32_t
store_file_get32(const unsigned char *p, int big)
{
	return big ? (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3] :
	    (uint32_t)p[3] << 24 | p[2] << 16 | p[1] << 8 | p[0];
}

/* As sqlite checks it: sqlite.org/fileformat.html, "WAL File Format". */
static int
store_file_wal_header_ok(const unsigned char *h, size_t len)
{
	uint32_t	 s1 = 0, s2 = 0;
	size_t		 i;
	int		 big;

	if (len < STORE_FILE_WAL_HEADER ||
	    (store_file_get32(h, 1) & ~1U) != STORE_FILE_WAL_MAGIC ||
	    store_file_get32(h + 4, 1) != STORE_FILE_WAL_VERSION)
		return 0;
	big = h[3] & 1;
	for (i = 0; i < STORE_FILE_WAL_HEADER - 8; i += 8) {
		s1 += store_file_get32(h + i, big) + s2;
		s2 += store_file_get32(h + i + 4, big) + s1;
	}
	return s1 == store_file_get32(h + 24, 1) &&
	    s2 == store_file_get32(h + 28, 1);
}

/*
 * sqlite takes a -wal whose header is not valid for an empty one: the
 * changes in it are dropped without a word, and the file written over.
 * A process killed at any point leaves a valid header or an empty file,
 * so anything else was damaged from outside: it is kept for a human, and
 * the database goes on without it, as sqlite would.
 */
int
store_file_wal_check(const char *path, char **cause)
{
	unsigned char	 h[STORE_FILE_WAL_HEADER];
	char		 wal[1024], to[1024];
	ssize_t		 n;
	int		 fd;

	snprintf(wal, sizeof(wal), "%s-wal", path);
	if ((fd = open(wal, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;		/* none, or sqlite will say why */
	n = read(fd, h, sizeof(h));
	close(fd);
	if (n <= 0 || store_file_wal_header_ok(h, n))
		return 0;
	snprintf(to, sizeof(to), "%s.corrupt-%llu-wal", path,
	    (unsigned long long)util_wall_ms());
	if (rename(wal, to) == -1) {
		xasprintf(cause, "%s has a damaged header and cannot be moved "
		    "aside: %s", wal, strerror(errno));
		return -1;
	}
	log_warnx("%s has a damaged header: the changes in it are lost; "
	    "moved aside as %s", wal, to);
	return 0;
}

/*
 * "%", "?" and "#" escaped; an absolute path after an empty authority,
 * since "file:" and one starting with "//" would name a host.
 */
char *
store_file_uri(const char *path, const char *query)
{
	char	*uri, *p;

	uri = xmalloc(3 * strlen(path) + strlen(query) + sizeof("file://?"));
	p = stpcpy(uri, path[0] == '/' ? "file://" : "file:");
	for (; *path != '\0'; path++) {
		if (strchr("%?#", *path) != NULL)
			p += sprintf(p, "%%%02X", (unsigned char)*path);
		else
			*p++ = *path;
	}
	sprintf(p, "?%s", query);
	return uri;
}

/* The open database's own -wal or -shm, if it is still at the path. */
void
store_file_unlink_own(const char *path, const char *suffix, ino_t ino)
{
	char	 file[1024];

	snprintf(file, sizeof(file), "%s%s", path, suffix);
	if (ino != 0 && store_file_ino(path, suffix) == ino &&
	    unlink(file) == -1)
		log_warn("unlink %s", file);
}
