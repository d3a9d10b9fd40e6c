/*
 * The registry as go-micro Service JSON, read from shm: what the sidecar's
 * and the web's GET /registry and the control socket's services answer
 * (its service reply adds node health beside a record's JSON, so it reads
 * the record itself). Each record holds the JSON array of its versions;
 * these join them.
 */
#ifndef MICRO_SHM_SERVICES_JSON_H
#define MICRO_SHM_SERVICES_JSON_H

#include <stddef.h>

struct evbuffer;
struct shm;

/* Append "[...every Service object...]" to out. */
void	 shm_services_json(struct shm *, unsigned, struct evbuffer *);
/* Append the array of name's versions; -1 if it is not registered. */
int	 shm_service_json(struct shm *, unsigned, const char *, size_t,
	    struct evbuffer *);

#endif
