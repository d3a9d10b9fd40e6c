/*
 * The registry database's files around sqlite: each takes the database's
 * path; "-wal" and "-shm" name its other files.
 */
#ifndef MICRO_REGISTRY_STORE_FILE_H
#define MICRO_REGISTRY_STORE_FILE_H

#include <sys/types.h>

#include <stddef.h>

/* The inode of path and a suffix; 0 if there is no such file. */
ino_t	 store_file_ino(const char *, const char *);
/* -1 with *cause naming the file and why if one of the three is not. */
int	 store_file_writable(const char *, char **);
/*
 * Rename path and its -wal and -shm, those there are, to
 * "<path>.<tag>-<unix ms>" (in to) and the same suffixes. Returns how
 * many there were, or -1 (logged).
 */
int	 store_file_move_aside(const char *, const char *, char *, size_t);
/*
 * A -wal with a damaged header moved aside alone, logged; -1 with *cause
 * if it cannot be.
 */
int	 store_file_wal_check(const char *, char **);
/* path as an sqlite URI (file:) with a query; to free. */
char	*store_file_uri(const char *, const char *);
/* Unlink path and suffix if it is still the file of that inode. */
void	 store_file_unlink_own(const char *, const char *, ino_t);

#endif
