#include "config.h"

#include <sys/file.h>

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "microd/master.h"
#include "log.h"

#define STATE_PID_NAME	"microd.pid"

/* The pid the holder wrote in dir, 0 if unknown. */
static long
state_lock_holder(int dirfd)
{
	char	 buf[32];
	ssize_t	 n;
	int	 fd;

	if ((fd = openat(dirfd, STATE_PID_NAME, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* For the next one's message; a read-only state_dir has none. */
static void
state_lock_say_pid(int dirfd)
{
	char	 pid[32];
	int	 fd, n;

	if ((fd = openat(dirfd, STATE_PID_NAME, O_WRONLY | O_CREAT |
	    O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)) == -1)
		return;
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (write(fd, pid, (size_t)n) != n)
		log_warn("%s", STATE_PID_NAME);
	close(fd);
}

/*
 * One microd per state_dir: two registry workers writing one registry.db
 * lose each other's registrations. The master takes an flock on the
 * directory itself (a read-only one too, which a lock file could not be
 * made in), and its workers keep the descriptor: the lock is the open
 * file's, so it goes once the last process of this microd is gone,
 * however they end (a registry worker draining after its master was
 * killed still writes). The pid goes to microd.pid for the message of a
 * second one. A file system without locks (ENOLCK) is said, not fatal.
 * Returns the descriptor, or -1 with err set.
 */
int
state_lock(const char *dir, char *err, size_t errlen)
{
	long	 holder;
	int	 fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == ENOLCK) {
			log_warnx("%s: cannot lock (%s): nothing keeps a second "
			    "microd off this state_dir", dir, strerror(errno));
			return fd;
		}
		if (errno != EWOULDBLOCK)
			snprintf(err, errlen, "%s: lock: %s", dir,
			    strerror(errno));
		else if ((holder = state_lock_holder(fd)) > 0 &&
		    kill((pid_t)holder, 0) == -1 && errno == ESRCH)
			snprintf(err, errlen, "state_dir %s is in use by workers "
			    "of microd pid %ld, which is gone (fuser -v %s)",
			    dir, holder, dir);
		else if (holder > 0)
			snprintf(err, errlen, "state_dir %s is in use by microd "
			    "pid %ld", dir, holder);
		else
			snprintf(err, errlen, "state_dir %s is in use by another "
			    "microd", dir);
		close(fd);
		return -1;
	}
	state_lock_say_pid(fd);
	return fd;
}
