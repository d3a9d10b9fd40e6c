#include "config.h"

#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microd/master.h"
#include "log.h"

#define STATE_LOCK_NAME	"microd.lock"

/* The pid the holder wrote, 0 if unknown. */
static long
state_lock_holder(int fd)
{
	char	 buf[32];
	ssize_t	 n;

	if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/*
 * One microd per state_dir: two registry workers writing one registry.db
 * lose each other's registrations. The master takes an flock on
 * state_dir/microd.lock, and its workers keep the descriptor: the lock is
 * the open file's, so it goes once the last process of this microd is
 * gone, however they end (a registry worker draining after its master was
 * killed still writes). A file system without locks (ENOLCK) is said, not
 * fatal. Returns the descriptor, or -1 with err set.
 */
int
state_lock(const char *dir, char *err, size_t errlen)
{
	char	 path[CONFIG_STR_MAX + sizeof(STATE_LOCK_NAME) + 1];
	char	 pid[32];
	long	 holder;
	int	 fd, n;

	snprintf(path, sizeof(path), "%s/%s", dir, STATE_LOCK_NAME);
	/* Left by a run as root: a read-only descriptor locks as well. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0644)) == -1 && errno == EACCES)
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == ENOLCK) {
			log_warnx("%s: cannot lock (%s): nothing keeps a second "
			    "microd off this state_dir", path, strerror(errno));
			return fd;
		}
		if (errno != EWOULDBLOCK)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		else if ((holder = state_lock_holder(fd)) > 0)
			snprintf(err, errlen, "state_dir %s is in use by microd "
			    "pid %ld", dir, holder);
		else
			snprintf(err, errlen, "state_dir %s is in use by another "
			    "microd", dir);
		close(fd);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if ((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR &&
	    (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n))
		log_warn("%s", path);
	return fd;
}
