#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http-int.h"
#include "util.h"

/* Response parsing. */
static int
http_creq_append(http_parser *p, char **buf, size_t *len, const char *at,
    size_t n)
{
	struct http_creq	*r = p->data;

	r->headlen += n;
	if (r->headlen > r->client->cfg.max_header_size)
		return -1;
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, at, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static void
http_creq_flush_header(struct http_creq *r)
{
	if (r->field == NULL)
		return;
	http_headers_add(r->rsp_headers, r->field,
	    r->value != NULL ? r->value : "");
	free(r->field);
	free(r->value);
	r->field = r->value = NULL;
	r->fieldlen = r->valuelen = 0;
}

static int
http_creq_on_begin(http_parser *p)
{
	struct http_creq	*r = p->data;

	http_headers_clear(r->rsp_headers);	/* after a 100 Continue */
	r->headlen = 0;
	return 0;
}

static int
http_creq_on_field(http_parser *p, const char *at, size_t n)
{
	struct http_creq	*r = p->data;

	if (r->head_done)
		return 0;	/* trailers */
	if (!http_token_chars(at, n))
		return -1;	/* "Name :" and the like: a bad response */
	if (r->value != NULL)
		http_creq_flush_header(r);
	return http_creq_append(p, &r->field, &r->fieldlen, at, n);
}

static int
http_creq_on_value(http_parser *p, const char *at, size_t n)
{
	struct http_creq	*r = p->data;

	if (r->head_done)
		return 0;
	if (r->value == NULL)
		r->value = xstrdup("");
	return http_creq_append(p, &r->value, &r->valuelen, at, n);
}

static int
http_creq_on_head(http_parser *p)
{
	struct http_creq	*r = p->data;

	http_creq_flush_header(r);
	r->status = p->status_code;
	if (r->status < 100 || r->status > 599)
		return -1;	/* not a status: a bad response */
	r->head_end = 1;
	http_parser_pause(p, 1);
	if (r->status / 100 == 1 && r->status != 101)
		return 0;	/* interim: its message completes at once */
	/*
	 * The body is passed on dechunked, without the hop-by-hop
	 * Transfer-Encoding: another coding (gzip, chunked) would reach the
	 * client undeclared. Refused as nginx does its upstreams'.
	 */
	if (http_headers_has_other_token(r->rsp_headers, "Transfer-Encoding",
	    "chunked") || http_te_faulty(r->rsp_headers, p->http_minor))
		return -1;
	memset(&r->rsp_chunked, 0, sizeof(r->rsp_chunked));
	r->head_done = 1;
	/* 1: no body, whatever Content-Length says (RFC 9112 6.3). */
	return strcmp(r->method, "HEAD") == 0 || r->status == 204 ||
	    r->status == 304;
}

static int
http_creq_on_body(http_parser *p, const char *at, size_t n)
{
	struct http_creq	*r = p->data;

	if (http_chunked_data(&r->rsp_chunked, at, n) == -1)
		return -1;
	if (r->body_cb == NULL && evbuffer_get_length(r->rsp_body) + n >
	    r->client->cfg.max_body_size)
		return -1;
	evbuffer_add(r->rsp_body, at, n);
	return 0;
}

static int
http_creq_on_complete(http_parser *p)
{
	struct http_creq	*r = p->data;

	if (!r->head_done)
		return 0;	/* interim response */
	r->msg_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_creq_settings = {
	.on_message_begin = http_creq_on_begin,
	.on_header_field = http_creq_on_field,
	.on_header_value = http_creq_on_value,
	.on_headers_complete = http_creq_on_head,
	.on_body = http_creq_on_body,
	.on_message_complete = http_creq_on_complete,
};

/* 101: the connection leaves the client with the bytes past the head. */
static void
http_creq_upgrade(struct http_creq *r)
{
	struct stream	*s;

	if (r->upgrade_cb == NULL) {
		http_creq_done(r, HTTP_CLIENT_PROTOCOL);
		return;
	}
	http_creq_unlink(r);
	evtimer_del(r->timer);
	s = r->conn->stream;
	stream_handover(s);
	r->conn->stream = NULL;
	http_cconn_free(r->conn);
	r->conn = NULL;
	r->busy++;
	r->upgrade_cb(r, s, r->arg);
	r->busy--;
	r->dead = 0;
	http_creq_free(r);
}

/* Deliver streamed body bytes; returns -1 if the request ended. */
static int
http_creq_deliver(struct http_creq *r)
{
	if (r->body_cb == NULL || evbuffer_get_length(r->rsp_body) == 0)
		return 0;
	r->busy++;
	r->body_cb(r, r->rsp_body, r->arg);
	r->busy--;
	return http_creq_gone(r);
}

static int
http_creq_head(struct http_creq *r)
{
	if (r->head_cb == NULL || r->status == 101)
		return 0;
	http_creq_progress(r);
	r->busy++;
	r->head_cb(r, r->arg);
	r->busy--;
	return http_creq_gone(r);
}

/* Returns -1 once the request is over. */
int
http_creq_execute(struct http_creq *r, struct evbuffer *in, const char *data,
    size_t len)
{
	enum http_errno	 err;
	size_t		 used;

	r->rsp_chunked.scan = r->head_done && (r->parser.flags & F_CHUNKED) ?
	    data : NULL;
	used = http_parser_execute(&r->parser, &http_creq_settings, data, len);
	err = HTTP_PARSER_ERRNO(&r->parser);
	if (err == HPE_PAUSED) {
		http_parser_pause(&r->parser, 0);
		err = HPE_OK;
	}
	if (err == HPE_OK && http_parse_checked(&r->rsp_chunked, data, used,
	    r->head_end) == -1)
		err = HPE_STRICT;
	r->head_end = 0;
	if (in != NULL)
		evbuffer_drain(in, used);
	if (err != HPE_OK) {
		http_creq_done(r, HTTP_CLIENT_PROTOCOL);
		return -1;
	}
	if (r->msg_done) {
		if (http_creq_deliver(r) == -1)
			return -1;
		if (r->status == 101)
			http_creq_upgrade(r);
		else
			http_creq_done(r, HTTP_CLIENT_OK);
		return -1;
	}
	if (r->head_done == 1) {
		r->head_done = 2;
		return http_creq_head(r);
	}
	return http_creq_deliver(r);
}

void
http_creq_parse(struct http_creq *r)
{
	struct evbuffer		*in;
	struct evbuffer_iovec	 v;

	if (r->conn == NULL || r->paused)
		return;
	in = stream_input(r->conn->stream);
	while (evbuffer_get_length(in) > 0 && !r->paused) {
		if (!r->got_byte) {
			r->got_byte = 1;
			if (r->replay != NULL) {
				evbuffer_free(r->replay);
				r->replay = NULL;
			}
		}
		evbuffer_peek(in, -1, NULL, &v, 1);
		if (http_creq_execute(r, in, v.iov_base, v.iov_len) == -1)
			return;
	}
}

