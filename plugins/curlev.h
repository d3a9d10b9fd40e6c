/*
 * libcurl's multi interface driven by a libevent loop, for the plugins:
 * requests never block the registry worker. A transfer is a struct
 * curlev_xfer: the caller sets up its easy handle, starts it, and gets
 * done() once, on the loop, unless it cancels first.
 */
#ifndef MICRO_PLUGINS_CURLEV_H
#define MICRO_PLUGINS_CURLEV_H

#include <stddef.h>

#include <curl/curl.h>

#define CURLEV_BODY_MAX	(16 * 1024 * 1024)	/* bytes of one response */

struct curlev;
struct curlev_xfer;
struct event_base;

/*
 * data: a streamed response (a watch) is handed over as it arrives;
 * return -1 to abort the transfer. NULL: the body is collected in
 * xfer->body (NUL-terminated) up to CURLEV_BODY_MAX.
 */
typedef int	(*curlev_data_cb)(struct curlev_xfer *, const char *, size_t);
/*
 * The transfer is over: result is CURLE_OK and status the HTTP status, or
 * the curl error (xfer->error says more). The xfer is freed after the
 * call returns.
 */
typedef void	(*curlev_done_cb)(struct curlev_xfer *, CURLcode, long);

struct curlev_xfer {
	struct curlev		*cev;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*request;	/* POST body, owned */
	char			*body;		/* collected response */
	size_t			 len;
	size_t			 size;
	char			 error[CURL_ERROR_SIZE];
	curlev_data_cb		 data;
	curlev_done_cb		 done;
	void			*arg;
	struct curlev_xfer	*next;
	struct curlev_xfer	*prev;
};

struct curlev	*curlev_new(struct event_base *, const char **);
/*
 * At most max connections open to one host (host:port) at a time, the
 * rest of the transfers wait in libcurl's queue (their total timeout runs
 * while they wait). Unset (0): unlimited.
 */
void		 curlev_max_host_connections(struct curlev *, long);
/* Cancels every transfer still running (their done() is not called). */
void		 curlev_free(struct curlev *);

/*
 * A transfer of url with method ("GET", "PUT", "POST") and an optional
 * request body (copied). Add headers with curlev_header and options on
 * xfer->easy, then curlev_start.
 */
struct curlev_xfer *curlev_xfer_new(struct curlev *, const char *,
		    const char *, const char *, curlev_done_cb, void *);
void		 curlev_header(struct curlev_xfer *, const char *);
int		 curlev_start(struct curlev_xfer *, const char **);
void		 curlev_cancel(struct curlev_xfer *);
/*
 * Run n transfers that were not started to their end together, blocking
 * for at most timeout_ms in all, and free them (done() is not called).
 * Only for shutdown, when this host's entries must leave the store
 * before the process does. Returns how many answered 200.
 */
size_t		 curlev_run_all_now(struct curlev_xfer **, size_t, long);

#endif
