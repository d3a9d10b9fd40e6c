#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cmd.h"
#include "cmd-http.h"
#include "log.h"
#include "util.h"

/* Lets the gateway's own "request timeout" answer arrive before ours. */
#define CMD_HTTP_GRACE_MS	1000

static size_t
cmd_http_write(char *data, size_t size, size_t n, void *arg)
{
	struct cmd_http_reply	*reply = arg;

	/* size is 1 (libcurl's promise), so size * n cannot overflow. */
	n *= size;
	if (reply->len + n > CMD_HTTP_MAX)
		return 0;	/* libcurl then fails with CURLE_WRITE_ERROR */
	reply->body = xrealloc(reply->body, reply->len + n + 1);
	memcpy(reply->body + reply->len, data, n);
	reply->len += n;
	reply->body[reply->len] = '\0';
	return n;
}

static struct curl_slist *
cmd_http_headers(const struct cmd_opts *opts, int has_body)
{
	struct curl_slist	*h = NULL;
	char			 buf[64];

	/* No 100-continue round trip: our servers read the body anyway. */
	h = curl_slist_append(h, "Expect:");
	if (has_body)
		h = curl_slist_append(h, "Content-Type: application/json");
	if (opts->has_timeout) {
		snprintf(buf, sizeof(buf), "Timeout: %" PRIu64 "ms",
		    opts->timeout_ms);
		h = curl_slist_append(h, buf);
	}
	if (h == NULL)
		fatalx("curl_slist_append failed");
	return h;
}

static void
cmd_http_setup(CURL *c, const struct cmd_opts *opts, const char *method,
    const char *body, struct cmd_http_reply *reply)
{
	long	 total;

	total = opts->has_timeout ? (long)opts->timeout_ms +
	    CMD_HTTP_GRACE_MS : CMD_HTTP_TIMEOUT_MS;
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	/* Never through $http_proxy: the sidecar is meant to be reached. */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)CMD_HTTP_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cmd_http_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, reply);
}

int
cmd_http(const struct cmd_opts *opts, const char *method, const char *addr,
    const char *target, const char *body, struct cmd_http_reply *reply)
{
	struct curl_slist	*headers;
	char			 err[CURL_ERROR_SIZE] = "";
	char			*url;
	CURLcode		 rc;
	CURL			*c;

	memset(reply, 0, sizeof(*reply));
	if ((c = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	xasprintf(&url, "http://%s%s", addr, target);
	headers = cmd_http_headers(opts, body != NULL);
	cmd_http_setup(c, opts, method, body, reply);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	if ((rc = curl_easy_perform(c)) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply->status);
	else {
		cmd_error("%s %s: %s", method, url, rc == CURLE_WRITE_ERROR ?
		    "answer too large" : *err != '\0' ? err :
		    curl_easy_strerror(rc));
		cmd_http_reply_free(reply);
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	free(url);
	if (rc == CURLE_OK && reply->body == NULL)
		reply->body = xstrdup("");
	return rc == CURLE_OK ? 0 : -1;
}

void
cmd_http_reply_free(struct cmd_http_reply *reply)
{
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
}

/* "HTTP 502: <the first line>", that line only if it is UTF-8 text. */
static char *
cmd_http_status(const struct cmd_http_reply *reply)
{
	size_t	 n = strcspn(reply->body, "\r\n");
	json_t	*line;
	char	*out;

	line = json_stringn(reply->body, n);
	if (line == NULL || n == 0)
		xasprintf(&out, "HTTP %ld", reply->status);
	else
		xasprintf(&out, "HTTP %ld: %s", reply->status,
		    json_string_value(line));
	json_decref(line);
	return out;
}

char *
cmd_http_error(const struct cmd_http_reply *reply, long *code)
{
	json_t		*e;
	const char	*detail;
	char		*out, *p;

	e = json_loadb(reply->body, reply->len, 0, NULL);
	detail = json_string_value(json_object_get(e, "detail"));
	if (detail != NULL && json_is_integer(json_object_get(e, "code"))) {
		*code = (long)json_integer_value(json_object_get(e, "code"));
		out = xstrdup(detail);
	} else {
		*code = reply->status;
		out = cmd_http_status(reply);
	}
	json_decref(e);
	/* It ends up on one line of stderr or in one table cell. */
	for (p = out; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return out;
}

/*
 * The api's /rpc, or the sidecar's when the api role is off or maps /rpc
 * as any other path ([api] rpc = off: "api_rpc" false in the status).
 */
int
cmd_rpc_address(struct cmd_ctx *ctx, char *buf, size_t len)
{
	static const char *const api[] = { "api", "sidecar", NULL };
	static const char *const sidecar[] = { "sidecar", NULL };
	const msgpack_object	*rpc;

	if (ctx->opts->proxy_address == NULL) {
		if (cmd_simple(ctx, "status") == -1)
			return -1;
		rpc = ctl_map_get(ctx->reply.data, "api_rpc");
		if (rpc == NULL || rpc->type != MSGPACK_OBJECT_BOOLEAN ||
		    rpc->via.boolean)
			return cmd_listener_of(ctx, api, buf, len);
		return cmd_listener_of(ctx, sidecar, buf, len);
	}
	if ((size_t)snprintf(buf, len, "%s", ctx->opts->proxy_address) >=
	    len) {
		cmd_error("proxy address too long");
		return -1;
	}
	return 0;
}

int
cmd_rpc(struct cmd_ctx *ctx, const char *rpc, const char *service,
    const char *endpoint, const json_t *request, const char *node,
    struct cmd_http_reply *reply)
{
	json_t	*body;
	char	*text;
	int	 rv;

	/* Fails only for text that is not UTF-8. */
	body = json_pack("{s:s, s:s, s:O, s:s*}", "service", service,
	    "endpoint", endpoint, "request", request, "address", node);
	if (body == NULL) {
		cmd_error("service and endpoint must be UTF-8 text");
		return -1;
	}
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
		fatalx("json_dumps failed");
	rv = cmd_http(ctx->opts, "POST", rpc, "/rpc", text, reply);
	free(text);
	json_decref(body);
	return rv;
}
