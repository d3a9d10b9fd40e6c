/* Finding and addressing the broker for microctl publish / subscribe. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "broker/broker.h"
#include "cmd.h"
#include "cmd-broker.h"

int
cmd_broker_address(struct cmd_ctx *ctx, char *buf, size_t len)
{
	static const char *const roles[] = { "broker", NULL };

	return cmd_listener(ctx, roles, buf, len);
}

/* A name the broker would refuse is the command line's fault. */
enum cmd_status
cmd_broker_target(const char *path, const char *topic, const char *queue,
    char *buf, size_t len)
{
	int	 n;

	/* Valid names need no percent-encoding. */
	if (!broker_name_valid(topic) ||
	    (queue != NULL && !broker_name_valid(queue))) {
		cmd_error("bad topic or queue name (1-255 of A-Za-z0-9._:/-)");
		return CMD_USAGE;
	}
	n = snprintf(buf, len, "%s?topic=%s%s%s", path, topic,
	    queue != NULL ? "&queue=" : "", queue != NULL ? queue : "");
	if (n < 0 || (size_t)n >= len)
		return cmd_error("topic and queue too long");
	return CMD_OK;
}
