/*
 * logs [-f] [-n lines] [-l level] [ROLE[/ID]]: the recent log lines of
 * microd's processes, oldest first, and with -f the new ones as they
 * come, until microd goes or microctl is interrupted.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "log.h"
#include "mpjson.h"
#include "output.h"
#include "util.h"

/* The most lines microd sends back (doc/control-protocol.md). */
#define CMD_LOGS_LINES_MAX	1000

static enum cmd_status	cmd_logs_exec(struct cmd_ctx *);

const struct cmd_entry cmd_logs_entry = {
	.name = "logs",
	.usage = "[-f] [-n lines] [-l level] [ROLE[/ID]]",
	.minargs = 0,
	.maxargs = 1,
	.flags = CMD_F_LOGS,
	.exec = cmd_logs_exec,
};

struct cmd_logs {
	long long	 lines;
	const char	*level;		/* NULL: every level */
	char		*role;		/* NULL: every process */
	long long	 id;		/* -1: every worker of the role */
};

/* The options and argument; -1 after printing what is wrong. */
static int
cmd_logs_parse(struct cmd_ctx *ctx, struct cmd_logs *l)
{
	const struct cmd_opts	*o = ctx->opts;
	enum log_level		 level;
	char			*end;

	l->lines = 20;
	if (o->lines != NULL) {
		errno = 0;
		l->lines = strtoll(o->lines, &end, 10);
		if (*o->lines < '0' || *o->lines > '9' || *end != '\0' ||
		    errno != 0 || l->lines > CMD_LOGS_LINES_MAX) {
			cmd_error("bad -n '%s' (want 0 to %d lines)", o->lines,
			    CMD_LOGS_LINES_MAX);
			return -1;
		}
	}
	if ((l->level = o->level) != NULL &&
	    log_parse_level(l->level, &level) == -1) {
		cmd_error("bad -l '%s' (want error, warn, info or debug)",
		    l->level);
		return -1;
	}
	l->id = -1;
	if (ctx->argc == 0)
		return 0;
	l->role = xstrdup(ctx->argv[0]);
	if (strcmp(l->role, "master") != 0 &&
	    cmd_parse_worker(l->role, &l->id) == -1) {
		cmd_error("bad process '%s' (want master, ROLE or ROLE/ID)",
		    ctx->argv[0]);
		return -1;
	}
	return 0;
}

static int
cmd_logs_request(struct cmd_ctx *ctx, const struct cmd_logs *l)
{
	const char	*cause;
	msgpack_packer	*pk = &ctx->frame.pk;

	if (cmd_begin(ctx, "logs", 2 + (l->level != NULL) +
	    (l->role != NULL) + (l->id != -1)) == -1)
		return -1;
	ctl_pack_kv_uint(pk, "lines", (uint64_t)l->lines);
	ctl_pack_kv_bool(pk, "follow", ctx->opts->follow);
	if (l->level != NULL)
		ctl_pack_kv_str(pk, "level", l->level);
	if (l->role != NULL)
		ctl_pack_kv_str(pk, "role", l->role);
	if (l->id != -1)
		ctl_pack_kv_uint(pk, "id", (uint64_t)l->id);
	if (ctlclient_send(ctx->client, &ctx->frame, &cause) == -1) {
		cmd_error("%s", cause);
		return -1;
	}
	return 0;
}

/* "2024-05-01 12:00:00.123 api/0[1234] info: message" */
static void
cmd_logs_print(const msgpack_object *d)
{
	char		 when[32], role[32], level[16], msg[1024];
	int64_t		 ms = output_field_int(d, "time");

	output_field(d, "role", role, sizeof(role));
	output_field(d, "level", level, sizeof(level));
	output_field(d, "msg", msg, sizeof(msg));
	output_time(ms / 1000, when, sizeof(when));
	if (strcmp(role, "master") == 0)
		output_line("%s.%03d %s[%" PRId64 "] %s: %s", when,
		    (int)(ms % 1000), role, output_field_int(d, "pid"), level,
		    msg);
	else
		output_line("%s.%03d %s/%" PRId64 "[%" PRId64 "] %s: %s", when,
		    (int)(ms % 1000), role, output_field_int(d, "id"),
		    output_field_int(d, "pid"), level, msg);
}

static enum cmd_status
cmd_logs_json(const msgpack_object *d)
{
	enum cmd_status	 rv;
	const char	*cause;
	json_t		*v;

	if ((v = mpjson_from_msgpack(d, &cause)) == NULL)
		return cmd_error("microd sent data with no JSON form: %s",
		    cause);
	rv = output_json_line(v);
	json_decref(v);
	return rv;
}

static enum cmd_status
cmd_logs_event(struct cmd_ctx *ctx, const struct ctl_msg *m)
{
	if (strcmp(m->event, "lost") == 0) {
		if (ctx->opts->json)
			printf("{\"lost\":%" PRId64 "}\n",
			    output_field_int(m->data, "lines"));
		else
			printf("-- %" PRId64 " lines lost --\n",
			    output_field_int(m->data, "lines"));
		return CMD_OK;
	}
	if (strcmp(m->event, "log") != 0)
		return CMD_OK;
	if (ctx->opts->json)
		return cmd_logs_json(m->data);
	cmd_logs_print(m->data);
	return CMD_OK;
}

/*
 * Events until the reply that ends the backlog; with -f, for as long as
 * microd sends them: a quiet daemon is no error then, so no timeout.
 */
static enum cmd_status
cmd_logs_receive(struct cmd_ctx *ctx)
{
	enum cmd_status	 rv = CMD_OK;
	struct ctl_msg	 m;
	const char	*cause;

	while (rv == CMD_OK) {
		memset(&m, 0, sizeof(m));
		if (ctlclient_recv(ctx->client, &m, &cause) == -1) {
			rv = cmd_error("%s", cause);
			ctl_msg_free(&m);
			break;
		}
		if (m.is_reply && !ctx->opts->follow) {
			ctl_msg_free(&m);
			break;
		}
		if (m.is_reply)
			ctlclient_set_timeout(ctx->client, INT_MAX);
		else
			rv = cmd_logs_event(ctx, &m);
		ctl_msg_free(&m);
		/* Nobody reads any more: microctl_flush() says so. */
		if (fflush(stdout) == EOF || ferror(stdout))
			break;
	}
	return rv;
}

static enum cmd_status
cmd_logs_exec(struct cmd_ctx *ctx)
{
	struct cmd_logs	 l;
	enum cmd_status	 rv;

	memset(&l, 0, sizeof(l));
	if (cmd_logs_parse(ctx, &l) == -1)
		rv = cmd_usage(ctx->entry);
	else if (cmd_logs_request(ctx, &l) == -1)
		rv = CMD_ERROR;
	else
		rv = cmd_logs_receive(ctx);
	free(l.role);
	return rv;
}
