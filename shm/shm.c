#include "config.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/internal.h"
#include "util.h"

#define SHM_SLOTS_MAX		4096
#define SHM_ARENA_MIN		(64 * 1024)
#define SHM_RECORD_SHARE	32	/* largest record = arena / this */

static size_t
shm_align(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

static uint64_t
shm_pow2(uint64_t n)
{
	uint64_t	 p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

/* Lay the segment out in hdr; -1 if the figures do not fit in size. */
static int
shm_plan(struct shm_hdr *hdr, size_t size, unsigned nslots,
    size_t max_services, const char **cause)
{
	size_t	 off;

	if (nslots == 0 || nslots > SHM_SLOTS_MAX) {
		*cause = "slot count out of range";
		return -1;
	}
	if (max_services == 0 || max_services > UINT32_MAX / 4) {
		*cause = "max services out of range";
		return -1;
	}
	hdr->slots_off = SHM_HEADER_SIZE;
	hdr->index_cap = shm_pow2(2 * (uint64_t)max_services);
	off = shm_align(SHM_HEADER_SIZE + (size_t)nslots * SHM_SLOT_SIZE, 64);
	hdr->index_off[0] = off;
	hdr->index_off[1] = off + hdr->index_cap * sizeof(uint64_t);
	hdr->arena_off = shm_align(hdr->index_off[1] +
	    hdr->index_cap * sizeof(uint64_t), SHM_REC_ALIGN);
	if (size < hdr->arena_off + SHM_ARENA_MIN) {
		*cause = "segment too small for its slots, index and arena";
		return -1;
	}
	hdr->arena_size = (size - hdr->arena_off) & ~(uint64_t)(SHM_REC_ALIGN - 1);
	if (hdr->arena_size / SHM_REC_ALIGN >= UINT32_MAX) {
		*cause = "segment too large";
		return -1;
	}
	hdr->max_record = (hdr->arena_size / SHM_RECORD_SHARE) &
	    ~(uint64_t)(SHM_REC_ALIGN - 1);
	hdr->max_services = max_services;
	hdr->nslots = nslots;
	hdr->slot_size = SHM_SLOT_SIZE;
	hdr->size = size;
	hdr->header_size = SHM_HEADER_SIZE;
	return 0;
}

static struct shm *
shm_map(int fd, size_t size, const char **cause)
{
	struct shm	*shm;
	void		*base;

	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		*cause = strerror(errno);
		return NULL;
	}
	shm = xcalloc(1, sizeof(*shm));
	shm->base = base;
	shm->size = size;
	shm->fd = fd;
	shm->hdr = base;
	return shm;
}

/*
 * A sealed memfd rather than an anonymous shared mapping: the fd can be
 * passed to a re-executed binary or a tool, and the seals make a resize
 * (hence SIGBUS in a reader) impossible.
 */
struct shm *
shm_create(size_t size, unsigned nslots, size_t max_services,
    const char **cause)
{
	struct shm_hdr	 plan;
	struct shm	*shm;
	int		 fd;

	memset(&plan, 0, sizeof(plan));
	if (shm_plan(&plan, size, nslots, max_services, cause) == -1)
		return NULL;
	if ((fd = memfd_create("microd-shm", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1) {
		*cause = strerror(errno);
		return NULL;
	}
	if (ftruncate(fd, (off_t)size) == -1 || fcntl(fd, F_ADD_SEALS,
	    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == -1 ||
	    (shm = shm_map(fd, size, cause)) == NULL) {
		*cause = strerror(errno);
		close(fd);
		return NULL;
	}
	memcpy(plan.magic, SHM_MAGIC, sizeof(plan.magic));
	plan.layout_version = SHM_LAYOUT_VERSION;
	plan.created_ms = util_wall_ms();
	plan.epoch = 1;
	memcpy(shm->hdr, &plan, sizeof(plan));
	shm->layout = plan;
	return shm;
}

/* The header fields shm_plan derives from size, slots and max services. */
#define SHM_GEOMETRY_START	offsetof(struct shm_hdr, header_size)
#define SHM_GEOMETRY_END	offsetof(struct shm_hdr, created_ms)

/*
 * Check a segment made elsewhere: its geometry must be exactly what this
 * binary would lay out for the same size, slots and max services, so that
 * no offset in it points outside the mapping. Fills plan with it.
 */
static int
shm_check(const struct shm_hdr *hdr, size_t size, struct shm_hdr *plan,
    const char **cause)
{
	const char	*why;

	if (memcmp(hdr->magic, SHM_MAGIC, sizeof(hdr->magic)) != 0) {
		*cause = "not a microd segment (bad magic)";
		return -1;
	}
	if (hdr->layout_version != SHM_LAYOUT_VERSION) {
		*cause = "segment layout version not supported";
		return -1;
	}
	memset(plan, 0, sizeof(*plan));
	if (shm_plan(plan, size, hdr->nslots, hdr->max_services, &why) == -1 ||
	    memcmp((const char *)hdr + SHM_GEOMETRY_START,
	    (const char *)plan + SHM_GEOMETRY_START,
	    SHM_GEOMETRY_END - SHM_GEOMETRY_START) != 0) {
		*cause = "segment header inconsistent";
		return -1;
	}
	return 0;
}

struct shm *
shm_attach(int fd, const char **cause)
{
	struct shm	*shm;
	struct stat	 st;

	if (fstat(fd, &st) == -1) {
		*cause = strerror(errno);
		return NULL;
	}
	if ((size_t)st.st_size < SHM_HEADER_SIZE) {
		*cause = "segment too small";
		return NULL;
	}
	if ((shm = shm_map(fd, (size_t)st.st_size, cause)) == NULL)
		return NULL;
	if (shm_check(shm->hdr, shm->size, &shm->layout, cause) == -1) {
		munmap(shm->base, shm->size);
		free(shm);
		return NULL;
	}
	return shm;
}

void
shm_destroy(struct shm *shm)
{
	munmap(shm->base, shm->size);
	close(shm->fd);
	free(shm);
}

int
shm_fd(const struct shm *shm)
{
	return shm->fd;
}

size_t
shm_size(const struct shm *shm)
{
	return shm->size;
}

unsigned
shm_nslots(const struct shm *shm)
{
	return shm->layout.nslots;
}

uint64_t
shm_generation(const struct shm *shm)
{
	return LOAD_ACQ(&shm->hdr->generation);
}

void
shm_stats(const struct shm *shm, struct shm_stats *st)
{
	struct shm_hdr	*h = shm->hdr;
	uint64_t	 head, tail;

	st->generation = LOAD_ACQ(&h->generation);
	st->epoch = LOAD(&h->epoch);
	st->services = LOAD(&h->services);
	st->nodes = LOAD(&h->nodes);
	st->puts = LOAD(&h->puts);
	st->deletes = LOAD(&h->deletes);
	st->full_errors = LOAD(&h->full_errors);
	st->wait_errors = LOAD(&h->wait_errors);
	st->rebuilds = LOAD(&h->rebuilds);
	st->moved = LOAD(&h->moved);
	st->arena_size = shm->layout.arena_size;
	tail = LOAD(&h->tail);
	head = LOAD(&h->head);
	st->bytes_used = head >= tail ? head - tail : 0;
	st->bytes_live = LOAD(&h->bytes_live);
	st->stalls = LOAD(&h->stalls);
	st->resets = LOAD(&h->resets);
	st->max_services = shm->layout.max_services;
	st->max_record = shm->layout.max_record;
	st->writer_pid = LOAD(&h->writer_pid);
	st->writer_heartbeat_ms = LOAD(&h->heartbeat_ms);
	st->writer_starts = LOAD(&h->writer_starts);
}
