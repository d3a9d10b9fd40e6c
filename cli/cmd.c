#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cmd.h"
#include "log.h"
#include "output.h"
#include "util.h"

static void
cmd_vwarn(const char *fmt, va_list ap)
{
	char	*s;

	/* A service's or the broker's answer may be in it. */
	s = output_vtext(NULL, fmt, ap);
	fprintf(stderr, "microctl: %s\n", s);
	free(s);
}

void
cmd_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	cmd_vwarn(fmt, ap);
	va_end(ap);
}

enum cmd_status
cmd_error(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	cmd_vwarn(fmt, ap);
	va_end(ap);
	return CMD_ERROR;
}

enum cmd_status
cmd_usage(const struct cmd_entry *entry)
{
	fprintf(stderr, "usage: microctl [-j] [-s socket]%s%s %s%s%s\n",
	    entry->flags & CMD_F_PROXY ? " [--proxy-address host:port]" : "",
	    entry->flags & (CMD_F_PROXY | CMD_F_HTTP) ?
	    " [--timeout duration]" : "", entry->name,
	    *entry->usage != '\0' ? " " : "", entry->usage);
	return CMD_USAGE;
}

/* The worker roles the control protocol knows (doc/control-protocol.md). */
static int
cmd_role_known(const char *role)
{
	static const char *const roles[] = { "registry", "api", "web",
	    "sidecar", "broker" };
	size_t	 i;

	for (i = 0; i < nitems(roles); i++) {
		if (strcmp(role, roles[i]) == 0)
			return 1;
	}
	return 0;
}

int
cmd_parse_worker(char *spec, long long *id)
{
	char	*slash, *end;

	*id = -1;
	if ((slash = strchr(spec, '/')) == NULL)
		return cmd_role_known(spec) ? 0 : -1;
	*slash++ = '\0';
	if (!cmd_role_known(spec) || *slash < '0' || *slash > '9')
		return -1;
	errno = 0;
	*id = strtoll(slash, &end, 10);
	if (errno != 0 || *end != '\0' || *id > UINT32_MAX)
		return -1;
	return 0;
}

/* One connection serves every request of a command. */
int
cmd_begin(struct cmd_ctx *ctx, const char *cmd, size_t nargs)
{
	const char	*cause;

	if (ctx->client == NULL && (ctx->client =
	    ctlclient_connect(ctx->opts->socket, &cause)) == NULL) {
		cmd_error("%s", cause);
		return -1;
	}
	ctlclient_begin(ctx->client, &ctx->frame, cmd, nargs > 0);
	if (nargs > 0) {
		ctl_pack_str(&ctx->frame.pk, "args");
		msgpack_pack_map(&ctx->frame.pk, nargs);
	}
	return 0;
}

int
cmd_call(struct cmd_ctx *ctx)
{
	const char	*cause;

	ctl_msg_free(&ctx->reply);
	if (ctlclient_call(ctx->client, &ctx->frame, &ctx->reply, &cause) ==
	    -1) {
		cmd_error("%s", cause);
		return -1;
	}
	return 0;
}

int
cmd_simple(struct cmd_ctx *ctx, const char *cmd)
{
	if (cmd_begin(ctx, cmd, 0) == -1)
		return -1;
	return cmd_call(ctx);
}

/* "a", "a or b", "a, b or c" for a message. */
static char *
cmd_listener_names(const char *const *roles)
{
	char	*s = xstrdup(roles[0]), *more;
	size_t	 i;

	for (i = 1; roles[i] != NULL; i++) {
		xasprintf(&more, "%s%s%s", s, roles[i + 1] != NULL ? ", " :
		    " or ", roles[i]);
		free(s);
		s = more;
	}
	return s;
}

int
cmd_listener(struct cmd_ctx *ctx, const char *const *roles, char *buf,
    size_t len)
{
	if (cmd_simple(ctx, "status") == -1)
		return -1;
	return cmd_listener_of(ctx, roles, buf, len);
}

int
cmd_listener_of(struct cmd_ctx *ctx, const char *const *roles, char *buf,
    size_t len)
{
	const msgpack_object	*listeners, *addr;
	char			*names;
	size_t			 i;

	listeners = ctl_map_get(ctx->reply.data, "listeners");
	for (i = 0; roles[i] != NULL; i++) {
		addr = ctl_map_get(listeners, roles[i]);
		if (addr == NULL || addr->type != MSGPACK_OBJECT_STR)
			continue;
		if (addr->via.str.size >= len) {
			cmd_error("%s address too long", roles[i]);
			return -1;
		}
		memcpy(buf, addr->via.str.ptr, addr->via.str.size);
		buf[addr->via.str.size] = '\0';
		return 0;
	}
	names = cmd_listener_names(roles);
	cmd_error("microd runs no %s listener", names);
	free(names);
	return -1;
}

char *
cmd_read_input(const char *path, size_t max, size_t *len)
{
	const char	*name = strcmp(path, "-") == 0 ? "stdin" : path;
	FILE		*f = stdin;
	char		*buf;
	size_t		 n;

	if (strcmp(path, "-") != 0 && (f = fopen(path, "r")) == NULL) {
		cmd_error("%s: %s", name, strerror(errno));
		return NULL;
	}
	buf = xmalloc(max + 1);
	errno = 0;
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		if (ferror(f))
			cmd_error("%s: %s", name, errno != 0 ? strerror(errno) :
			    "read error");
		else
			cmd_error("%s: larger than %zu bytes", name, max);
		free(buf);
		buf = NULL;
	} else
		buf[n] = '\0';
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}
