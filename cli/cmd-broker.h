/*
 * What microctl publish and subscribe share: they find the broker's
 * listener in microd's status and speak HTTP / websocket to it.
 */
#ifndef MICRO_CMD_BROKER_H
#define MICRO_CMD_BROKER_H

#include <stddef.h>

#include "cmd.h"

/* The broker listener "host:port"; -1 after printing why not. */
int	 cmd_broker_address(struct cmd_ctx *, char *, size_t);
/*
 * "/<path>?topic=T[&queue=Q]": CMD_OK, or after printing why not the exit
 * status (CMD_USAGE for a name that is not valid).
 */
enum cmd_status	 cmd_broker_target(const char *, const char *, const char *,
		    char *, size_t);

#endif
