#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "http-int.h"
#include "log.h"
#include "utf8.h"
#include "util.h"

/*
 * Go's net/http StatusText: the "status" of go-micro's error JSON is
 * that text, and a service's error keeps its code through the gateway.
 */
static const struct {
	int		 code;
	const char	*text;
} http_statuses[] = {
	{ 100, "Continue" }, { 101, "Switching Protocols" },
	{ 102, "Processing" }, { 103, "Early Hints" },
	{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
	{ 203, "Non-Authoritative Information" }, { 204, "No Content" },
	{ 205, "Reset Content" }, { 206, "Partial Content" },
	{ 207, "Multi-Status" }, { 208, "Already Reported" },
	{ 226, "IM Used" },
	{ 300, "Multiple Choices" }, { 301, "Moved Permanently" },
	{ 302, "Found" }, { 303, "See Other" }, { 304, "Not Modified" },
	{ 305, "Use Proxy" }, { 307, "Temporary Redirect" },
	{ 308, "Permanent Redirect" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" },
	{ 402, "Payment Required" }, { 403, "Forbidden" },
	{ 404, "Not Found" }, { 405, "Method Not Allowed" },
	{ 406, "Not Acceptable" }, { 407, "Proxy Authentication Required" },
	{ 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
	{ 411, "Length Required" }, { 412, "Precondition Failed" },
	{ 413, "Request Entity Too Large" }, { 414, "Request URI Too Long" },
	{ 415, "Unsupported Media Type" },
	{ 416, "Requested Range Not Satisfiable" },
	{ 417, "Expectation Failed" }, { 418, "I'm a teapot" },
	{ 421, "Misdirected Request" }, { 422, "Unprocessable Entity" },
	{ 423, "Locked" }, { 424, "Failed Dependency" },
	{ 425, "Too Early" }, { 426, "Upgrade Required" },
	{ 428, "Precondition Required" }, { 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" },
	{ 451, "Unavailable For Legal Reasons" },
	{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
	{ 506, "Variant Also Negotiates" }, { 507, "Insufficient Storage" },
	{ 508, "Loop Detected" }, { 510, "Not Extended" },
	{ 511, "Network Authentication Required" },
};

const char *
http_status_text(int code)
{
	size_t	 i;

	for (i = 0; i < nitems(http_statuses); i++) {
		if (http_statuses[i].code == code)
			return http_statuses[i].text;
	}
	return "Unknown";
}

/* RFC 7231 IMF-fixdate, formatted once a second. */
void
http_date(char *buf, size_t len)
{
	static time_t	 last;
	static char	 cached[64];
	time_t		 now = time(NULL);
	struct tm	 tm;

	if (now != last) {
		gmtime_r(&now, &tm);
		strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S GMT",
		    &tm);
		last = now;
	}
	snprintf(buf, len, "%s", cached);
}

/* The layer frames the message itself; these come from the handler. */
static int
http_reply_header_ours(const char *name)
{
	static const char	*ours[] = { "Connection", "Date",
	    "Transfer-Encoding", "Keep-Alive" };
	size_t			 i;

	for (i = 0; i < nitems(ours); i++) {
		if (strcasecmp(name, ours[i]) == 0)
			return 1;
	}
	return 0;
}

/* A CR or LF would let a value smuggle headers or a second response. */
static int
http_reply_header_unsafe(const char *name, const char *value)
{
	return name[strcspn(name, "\r\n:")] != '\0' || *name == '\0' ||
	    value[strcspn(value, "\r\n")] != '\0';
}

static void
http_reply_write_head(struct http_request *req, struct evbuffer *out)
{
	const char	*name, *value;
	char		 date[64];
	size_t		 i;

	evbuffer_add_printf(out, "HTTP/1.%d %d %s\r\n", req->minor,
	    req->status, http_status_text(req->status));
	for (i = 0; http_headers_at(req->reply_headers, i, &name, &value);
	    i++) {
		if (http_reply_header_ours(name))
			continue;
		if (http_reply_header_unsafe(name, value)) {
			log_warnx("http: reply header \"%s\" dropped: bad "
			    "characters", name);
			continue;
		}
		http_header_line(out, name, value);
	}
	http_date(date, sizeof(date));
	http_header_line(out, "Date", date);
	if (req->chunked)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	if (!req->keepalive)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (req->minor == 0)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	evbuffer_add(out, "\r\n", 2);
}

struct http_headers *
http_reply_headers(struct http_request *req)
{
	return req->reply_headers;
}

void
http_reply_start(struct http_request *req, int status)
{
	struct evbuffer	*out;

	if (req->started)
		fatalx("%s: reply already started", __func__);
	req->started = 1;
	req->status = status;
	req->nobody = req->head || status / 100 == 1 || status == 204 ||
	    status == 304;
	/* RFC 9110 8.6: never in these, whatever a proxied node sent. */
	if (status / 100 == 1 || status == 204)
		http_headers_remove(req->reply_headers, "Content-Length");
	/* RFC 9110 15.5.9: a 408 says the server stopped waiting. */
	if (http_request_last(req) || status == 408)
		req->keepalive = 0;
	if (!req->nobody &&
	    http_headers_get(req->reply_headers, "Content-Length") == NULL) {
		if (req->minor >= 1)
			req->chunked = 1;
		else
			req->keepalive = 0;	/* the close ends the body */
	}
	if ((out = http_request_output(req)) != NULL)
		http_reply_write_head(req, out);
}

void
http_reply_chunk(struct http_request *req, const void *data, size_t len)
{
	struct evbuffer	*out;

	if (!req->started)
		fatalx("%s: reply not started", __func__);
	if (len == 0 || req->nobody || (out = http_request_output(req)) == NULL)
		return;
	if (req->chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	if (req->chunked)
		evbuffer_add(out, "\r\n", 2);
}

void
http_reply_chunk_buffer(struct http_request *req, struct evbuffer *buf)
{
	struct evbuffer	*out;
	size_t		 len = evbuffer_get_length(buf);

	if (!req->started)
		fatalx("%s: reply not started", __func__);
	if (len == 0 || req->nobody || (out = http_request_output(req)) == NULL) {
		evbuffer_drain(buf, len);
		return;
	}
	if (req->chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add_buffer(out, buf);
	if (req->chunked)
		evbuffer_add(out, "\r\n", 2);
}

void
http_reply_end(struct http_request *req)
{
	struct evbuffer	*out;

	if (!req->started)
		fatalx("%s: reply not started", __func__);
	if (req->chunked && !req->nobody &&
	    (out = http_request_output(req)) != NULL)
		evbuffer_add(out, "0\r\n\r\n", 5);
	http_request_count(req, req->status);
	http_request_finish(req, 1);
}

void
http_reply_abort(struct http_request *req)
{
	if (!req->started)
		fatalx("%s: reply not started", __func__);
	req->keepalive = 0;
	if (req->conn != NULL)
		req->conn->aborted = 1;
	http_request_count(req, req->status);
	http_request_finish(req, 1);
}

/* Content-Type and Content-Length of a reply whose body is known. */
static void
http_reply_set_length(struct http_request *req, int status,
    const char *content_type, size_t len)
{
	char	 num[32];

	if (content_type != NULL)
		http_headers_set(req->reply_headers, "Content-Type",
		    content_type);
	if (status / 100 == 1 || status == 204 || status == 304) {
		http_headers_remove(req->reply_headers, "Content-Length");
		return;
	}
	snprintf(num, sizeof(num), "%zu", len);
	http_headers_set(req->reply_headers, "Content-Length", num);
}

void
http_reply(struct http_request *req, int status, const char *content_type,
    const void *body, size_t len)
{
	http_reply_set_length(req, status, content_type, len);
	http_reply_start(req, status);
	http_reply_chunk(req, body, len);
	http_reply_end(req);
}

void
http_reply_buffer(struct http_request *req, int status,
    const char *content_type, struct evbuffer *body)
{
	http_reply_set_length(req, status, content_type,
	    evbuffer_get_length(body));
	http_reply_start(req, status);
	http_reply_chunk_buffer(req, body);
	http_reply_end(req);
}

char *
http_error_json(const char *id, int code, const char *detail)
{
	json_t	*o;
	char	*s;

	if (id == NULL)
		id = "go.micro.api";
	if (detail == NULL)
		detail = "";
	/* A detail may quote hostile input: JSON strings must be UTF-8. */
	o = json_pack("{s:o, s:i, s:o, s:s}",
	    "id", utf8_json_string(id, strlen(id)), "code", code,
	    "detail", utf8_json_string(detail, strlen(detail)),
	    "status", http_status_text(code));
	if (o == NULL || (s = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("%s: out of memory", __func__);
	json_decref(o);
	return s;
}

void
http_reply_data_headers(struct http_request *req)
{
	http_headers_set(req->reply_headers, "X-Content-Type-Options",
	    "nosniff");
	http_headers_set(req->reply_headers, "Content-Security-Policy",
	    HTTP_CSP_DATA);
}

void
http_reply_error(struct http_request *req, int code, const char *id,
    const char *detail)
{
	char	*s = http_error_json(id, code, detail);

	/* The detail may echo the request: never sniffed as a page. */
	http_reply_data_headers(req);
	http_reply(req, code, "application/json", s, strlen(s));
	free(s);
}

size_t
http_reply_pending(const struct http_request *req)
{
	struct evbuffer	*out;

	if ((out = http_request_output(req)) == NULL)
		return 0;
	return evbuffer_get_length(out);
}

void
http_reply_set_writable_cb(struct http_request *req, http_writable_cb cb,
    void *arg)
{
	req->writable_cb = cb;
	req->writable_arg = arg;
}
