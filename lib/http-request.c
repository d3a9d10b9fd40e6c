#include "config.h"

#include <stdlib.h>

#include <event2/buffer.h>

#include "http-int.h"

void
http_request_free(struct http_request *req)
{
	free(req->method);
	free(req->target);
	free(req->path);
	free(req->query);
	http_headers_free(req->headers);
	http_headers_free(req->reply_headers);
	evbuffer_free(req->body);
	free(req);
}

/* Request accessors. */
const char *
http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_request_target(const struct http_request *req)
{
	return req->target;
}

const char *
http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_request_query(const struct http_request *req)
{
	return req->query;
}

char *
http_request_query_param(const struct http_request *req, const char *name)
{
	return http_query_get(req->query, name);
}

int
http_request_query_check(struct http_request *req, const char *service)
{
	if (http_query_valid(req->query))
		return 0;
	http_reply_error(req, 400, service,
	    "bad query string (percent-encoding, or an encoded NUL)");
	return -1;
}

const struct http_headers *
http_request_headers(const struct http_request *req)
{
	return req->headers;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	return http_headers_get(req->headers, name);
}

struct evbuffer *
http_request_body(struct http_request *req)
{
	return req->body;
}

const char *
http_request_peer(const struct http_request *req)
{
	return req->peer;
}

int
http_request_orphaned(const struct http_request *req)
{
	return req->conn == NULL;
}

void
http_request_set_cancel_cb(struct http_request *req, http_cancel_cb cb,
    void *arg)
{
	req->cancel_cb = cb;
	req->cancel_arg = arg;
}

void
http_request_stream_body(struct http_request *req, http_body_cb cb,
    void *arg)
{
	req->body_cb = cb;
	req->body_arg = arg;
}


void
http_request_release(struct http_request *req)
{
	http_request_finish(req, 0);
}
