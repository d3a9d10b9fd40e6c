#include "config.h"

#include "shm/internal.h"

/*
 * Slots are written by the master one field at a time (relaxed atomics):
 * the readers are displays (micro-top, /metrics) for which a snapshot that
 * mixes two updates is harmless. The pid is stored last on claim and
 * cleared first on release, so a slot with a pid is always fully set.
 */
int
shm_slot_claim(struct shm *shm, const struct shm_slot_info *info,
    const char **cause)
{
	struct shm_slot	*s;
	uint64_t	*counter;
	unsigned	 i;
	size_t		 k;

	for (i = 0; i < shm->layout.nslots; i++) {
		s = shm_slot_at(shm, i);
		if (LOAD(&s->state) != SHM_SLOT_FREE)
			continue;
		counter = (uint64_t *)&s->counters;
		for (k = 0; k < sizeof(s->counters) / sizeof(*counter); k++)
			STORE(&counter[k], 0);
		STORE(&s->epoch, 0);
		STORE(&s->beat_ms, 0);
		STORE(&s->role, info->role);
		STORE(&s->id, info->id);
		STORE(&s->generation, info->generation);
		STORE(&s->restarts, info->restarts);
		STORE(&s->started_ms, info->started_ms);
		STORE(&s->state, info->state == SHM_SLOT_FREE ?
		    SHM_SLOT_STARTING : info->state);
		STORE_REL(&s->pid, info->pid);
		return (int)i;
	}
	*cause = "no free shm slot";
	return -1;
}

void
shm_slot_set_pid(struct shm *shm, unsigned i, pid_t pid)
{
	STORE_REL(&shm_slot_at(shm, i)->pid, pid);
}

void
shm_slot_set_state(struct shm *shm, unsigned i, enum shm_slot_state state)
{
	STORE(&shm_slot_at(shm, i)->state, state);
}

void
shm_slot_set_generation(struct shm *shm, unsigned i, unsigned gen)
{
	STORE(&shm_slot_at(shm, i)->generation, gen);
}

/*
 * The process is gone (reaped): whatever epoch it held no longer protects
 * anything, so the writer may reclaim past it.
 */
void
shm_slot_clear(struct shm *shm, unsigned i)
{
	struct shm_slot	*s = shm_slot_at(shm, i);

	STORE(&s->pid, 0);
	STORE_REL(&s->epoch, 0);
	STORE_REL(&s->state, SHM_SLOT_FREE);
}

void
shm_slot_info(const struct shm *shm, unsigned i, struct shm_slot_info *info)
{
	struct shm_slot	*s = shm_slot_at(shm, i);

	info->pid = LOAD_ACQ(&s->pid);
	info->role = LOAD(&s->role);
	info->id = LOAD(&s->id);
	info->generation = LOAD(&s->generation);
	info->state = LOAD(&s->state);
	info->restarts = LOAD(&s->restarts);
	info->started_ms = LOAD(&s->started_ms);
}

void
shm_slot_beat(struct shm *shm, unsigned i, uint64_t now_ms)
{
	STORE(&shm_slot_at(shm, i)->beat_ms, now_ms);
}

uint64_t
shm_slot_beat_ms(const struct shm *shm, unsigned i)
{
	return LOAD(&shm_slot_at(shm, i)->beat_ms);
}

struct micro_counters *
shm_slot_counters(struct shm *shm, unsigned i)
{
	return &shm_slot_at(shm, i)->counters;
}
