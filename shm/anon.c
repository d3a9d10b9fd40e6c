#include "config.h"

#include <sys/mman.h>

#include <errno.h>
#include <string.h>

#include "shm/anon.h"

void *
shm_anon_create(unsigned nslots, size_t size, const char **cause)
{
	void	*p;

	if (nslots == 0 || nslots > SHM_ANON_SLOTS_MAX) {
		*cause = "bad number of slots";
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		*cause = strerror(errno);
		return NULL;
	}
	return p;
}
