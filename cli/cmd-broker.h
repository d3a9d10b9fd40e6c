/*
 * What microctl publish and subscribe share: they find the broker's
 * listener in microd's status and speak HTTP / websocket to it.
 */
#ifndef MICRO_CMD_BROKER_H
#define MICRO_CMD_BROKER_H

#include <stddef.h>

struct cmd_ctx;

/* The broker listener "host:port"; -1 after printing why not. */
int	 cmd_broker_address(struct cmd_ctx *, char *, size_t);
/* "/<path>?topic=T[&queue=Q]"; -1 after printing why not. */
int	 cmd_broker_target(const char *, const char *, const char *, char *,
	    size_t);

#endif
