/*
 * microctl commands, one per cli/cmd-*.c file (tmux's pattern). Options
 * and the argument count are checked centrally in cli/microctl.c before a
 * command's exec runs; exec returns the process exit status.
 *
 * Registry commands reach microd over the control socket, or a sidecar
 * over HTTP with --proxy-address; cmd_send_service() and cmd_services()
 * (cli/cmd-registry.c) hide which.
 */
#ifndef MICRO_CMD_H
#define MICRO_CMD_H

#include <stdint.h>

#include <jansson.h>

#include "ctlclient.h"

enum cmd_status {
	CMD_OK = 0,
	CMD_ERROR = 1,
	CMD_USAGE = 2,
};

/* cmd_entry flags. */
#define CMD_F_PROXY	0x1	/* works over --proxy-address */
#define CMD_F_TTL	0x2	/* takes --ttl */
#define CMD_F_QUEUE	0x4	/* takes --queue */
#define CMD_F_HTTP	0x8	/* always speaks HTTP (takes --timeout) */
#define CMD_F_LOGS	0x10	/* takes -f, -n and -l */

struct cmd_opts {
	const char	*socket;
	const char	*proxy_address;	/* HOST:PORT of a sidecar */
	int		 json;
	int		 has_ttl;
	uint64_t	 ttl_ms;
	const char	*queue;		/* --queue: a queue group */
	int		 has_timeout;
	uint64_t	 timeout_ms;	/* --timeout: each HTTP request's */
	int		 follow;	/* -f: logs keeps printing new lines */
	const char	*lines;		/* -n: checked by the command */
	const char	*level;		/* -l: checked by the command */
};

struct cmd_ctx {
	const struct cmd_entry	*entry;
	const struct cmd_opts	*opts;
	int			 argc;	/* arguments after the command */
	char			**argv;
	struct ctlclient	*client;
	struct ctl_frame	 frame;
	struct ctl_msg		 reply;
};

struct cmd_entry {
	const char	*name;
	const char	*alias;		/* micro's words, e.g. "list services" */
	const char	*usage;		/* what follows the name */
	int		 minargs;
	int		 maxargs;
	int		 flags;
	enum cmd_status	(*exec)(struct cmd_ctx *);
};

extern const struct cmd_entry cmd_call_entry;
extern const struct cmd_entry cmd_deregister_entry;
extern const struct cmd_entry cmd_health_entry;
extern const struct cmd_entry cmd_logs_entry;
extern const struct cmd_entry cmd_publish_entry;
extern const struct cmd_entry cmd_subscribe_entry;
extern const struct cmd_entry cmd_register_entry;
extern const struct cmd_entry cmd_reload_entry;
extern const struct cmd_entry cmd_restart_entry;
extern const struct cmd_entry cmd_service_entry;
extern const struct cmd_entry cmd_services_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_stop_entry;
extern const struct cmd_entry cmd_version_entry;
extern const struct cmd_entry cmd_workers_entry;

/* Print "microctl: ..." on stderr, made printable as output_line(). */
void		 cmd_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
/* The same; returns CMD_ERROR. */
enum cmd_status	 cmd_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
/* Print the command's usage on stderr; returns CMD_USAGE. */
enum cmd_status	 cmd_usage(const struct cmd_entry *);

/*
 * Split a worker "api/2" into "api" (spec, cut at the slash) and 2; *id
 * is -1 without "/ID". -1 if spec is not ROLE or ROLE/ID, ROLE one of
 * registry, api, web, sidecar, broker.
 */
int		 cmd_parse_worker(char *spec, long long *id);

/*
 * Connect and begin a request to microd whose "args" map will hold nargs
 * pairs (0: no args), packed by the caller into ctx->frame.pk. Returns -1
 * after printing the error.
 */
int		 cmd_begin(struct cmd_ctx *, const char *, size_t);
/*
 * Send it and wait: 0 with ctx->reply filled (replacing an earlier reply),
 * -1 after printing why.
 */
int		 cmd_call(struct cmd_ctx *);
/* A request without args: cmd_begin() and cmd_call(). */
int		 cmd_simple(struct cmd_ctx *, const char *);
/*
 * The "host:port" of the first of the NULL-terminated roles that microd
 * listens for, from its status; -1 after printing why not.
 */
int		 cmd_listener(struct cmd_ctx *, const char *const *, char *,
		    size_t);
/* The same from the status reply in ctx already. */
int		 cmd_listener_of(struct cmd_ctx *, const char *const *, char *,
		    size_t);
/*
 * The whole of a file or, for "-", stdin (name it "stdin" in messages), at
 * most max bytes (CMD_INPUT_MAX for a call's request, SVC_JSON_MAX for a
 * Service) and NUL-terminated; NULL after printing why.
 */
#define CMD_INPUT_MAX	(4U * 1024 * 1024)	/* the api's max_body_size */
char		*cmd_read_input(const char *, size_t, size_t *);

/* Read a register/deregister Service file (or "-") and send it. */
enum cmd_status	 cmd_send_service(struct cmd_ctx *, const char *);
/*
 * The Service objects of every service (name NULL) or of the versions of
 * one, as a JSON array; NULL after printing why.
 */
json_t		*cmd_services(struct cmd_ctx *, const char *);

#endif
