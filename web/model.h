/*
 * What the dashboard shows, copied out of shm: a summary row per service
 * and a row per worker slot. Pages, the live feed and /metrics read these
 * instead of holding a shm read open while they format.
 */
#ifndef MICRO_WEB_MODEL_H
#define MICRO_WEB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "shm/shm.h"

struct worker;

struct web_service {
	char		*name;
	char		**versions;	/* distinct, in node order */
	size_t		  nversions;
	size_t		  nnodes;
};

struct web_services {
	struct web_service	*v;	/* sorted by name */
	size_t			 n;
	uint64_t		 generation;
};

struct web_slot {
	unsigned		 index;
	struct shm_slot_info	 info;
	struct micro_counters	 counters;
};

struct web_slots {
	struct web_slot		*v;	/* used slots, in slot order */
	size_t			 n;
};

/* Every service (prefix NULL) or those whose name starts with prefix. */
void	 web_model_services(struct worker *, const char *,
	    struct web_services *);
void	 web_model_services_free(struct web_services *);
void	 web_model_slots(struct worker *, struct web_slots *);
void	 web_model_slots_free(struct web_slots *);
/* "registry", "api"... for a slot's role. */
const char	*web_model_role(const struct web_slot *);
const char	*web_model_state(const struct web_slot *);

#endif
