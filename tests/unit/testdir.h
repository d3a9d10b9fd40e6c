/* A private temp dir for a unit test, and its removal (one level deep). */
#ifndef MICRO_TESTDIR_H
#define MICRO_TESTDIR_H

void	 testdir_remove(const char *);

#endif
