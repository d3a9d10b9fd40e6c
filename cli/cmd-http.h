/*
 * microctl's HTTP: blocking requests with libcurl to a sidecar's /registry
 * and to the /rpc of the api gateway or a sidecar. Every command that
 * speaks HTTP goes through here, so the control-socket and HTTP paths of a
 * command differ only in transport.
 */
#ifndef MICRO_CMD_HTTP_H
#define MICRO_CMD_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct cmd_ctx;
struct cmd_opts;

#define CMD_HTTP_CONNECT_MS	5000
#define CMD_HTTP_TIMEOUT_MS	30000
#define CMD_HTTP_MAX		(64 * 1024 * 1024)	/* answer bytes */

struct cmd_http_reply {
	long	 status;
	char	*body;		/* NUL-terminated */
	size_t	 len;
};

/*
 * METHOD http://ADDR TARGET with an optional JSON body. 0 with the answer,
 * whatever its status, in reply (free it with cmd_http_reply_free()); -1
 * after printing why no answer came.
 */
int		 cmd_http(const struct cmd_opts *, const char *, const char *,
		    const char *, const char *, struct cmd_http_reply *);
void		 cmd_http_reply_free(struct cmd_http_reply *);
/*
 * What went wrong in a non-2xx answer: the go-micro error's detail and
 * code, or the status and the body's first line when it is not one.
 * Returns an allocated string.
 */
char		*cmd_http_error(const struct cmd_http_reply *, long *);

/*
 * The /rpc to use: --proxy-address, else microd's api listener, else its
 * sidecar's. -1 after printing why there is none.
 */
int		 cmd_rpc_address(struct cmd_ctx *, char *, size_t);
/*
 * POST {"service","endpoint","request"[,"address"]} to the /rpc at the
 * first argument; as cmd_http().
 */
int		 cmd_rpc(struct cmd_ctx *, const char *, const char *,
		    const char *, const json_t *, const char *,
		    struct cmd_http_reply *);

#endif
