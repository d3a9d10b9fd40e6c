/*
 * Between the two halves of lib/ws: ws-handshake.c (the HTTP upgrade,
 * both sides) hands the upgraded connection to ws.c (framing).
 */
#ifndef MICRO_WS_INT_H
#define MICRO_WS_INT_H

#include <stddef.h>

struct stream;
struct ws_callbacks;
struct ws_limits;

/* Take the stream over (and free it); server is 1 on the accepting side. */
struct ws	*ws_new(struct stream *, int, const struct ws_limits *,
		    const struct ws_callbacks *, void *);
void		 ws_random(void *, size_t);

#endif
