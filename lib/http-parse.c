#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http-int.h"
#include "log.h"
#include "util.h"

enum http_chunked_state {
	HTTP_CHUNKED_HEAD_LF,	/* the parser rereads the head's last LF */
	HTTP_CHUNKED_SIZE0,	/* a chunk-size's first digit */
	HTTP_CHUNKED_SIZE,
	HTTP_CHUNKED_BWS,	/* blanks after the size, before ";" or CR */
	HTTP_CHUNKED_EXT,
	HTTP_CHUNKED_LF,	/* ends the chunk-size line */
	HTTP_CHUNKED_DATA_CR,	/* after the chunk data */
	HTTP_CHUNKED_DATA_LF,
	HTTP_CHUNKED_TRAILER,
	HTTP_CHUNKED_TRAILER_LF,
};

/* One framing byte; the next state, or -1. */
static int
http_chunked_byte(struct http_chunked *ck, unsigned char c)
{
	switch (ck->state) {
	case HTTP_CHUNKED_HEAD_LF:
		return c == '\n' ? HTTP_CHUNKED_SIZE0 : -1;
	case HTTP_CHUNKED_SIZE0:
	case HTTP_CHUNKED_SIZE:
		if (isxdigit(c)) {
			ck->nonzero |= c != '0';
			return HTTP_CHUNKED_SIZE;
		}
		if (ck->state == HTTP_CHUNKED_SIZE0)
			return -1;
		/* FALLTHROUGH */
	case HTTP_CHUNKED_BWS:
		if (c == ' ' || c == '\t')
			return HTTP_CHUNKED_BWS;
		if (c == ';')
			return HTTP_CHUNKED_EXT;
		return c == '\r' ? HTTP_CHUNKED_LF : -1;
	case HTTP_CHUNKED_EXT:
		if (c == '\r')
			return HTTP_CHUNKED_LF;
		return (c < ' ' && c != '\t') || c == 0x7f ? -1 :
		    HTTP_CHUNKED_EXT;
	case HTTP_CHUNKED_LF:
		if (c != '\n')
			return -1;
		return ck->nonzero ? HTTP_CHUNKED_DATA_CR :
		    HTTP_CHUNKED_TRAILER;
	case HTTP_CHUNKED_DATA_CR:
		return c == '\r' ? HTTP_CHUNKED_DATA_LF : -1;
	case HTTP_CHUNKED_DATA_LF:
		ck->nonzero = 0;
		return c == '\n' ? HTTP_CHUNKED_SIZE0 : -1;
	case HTTP_CHUNKED_TRAILER:
		if (c == '\n')
			return -1;
		return c == '\r' ? HTTP_CHUNKED_TRAILER_LF :
		    HTTP_CHUNKED_TRAILER;
	default:	/* HTTP_CHUNKED_TRAILER_LF */
		return c == '\n' ? HTTP_CHUNKED_TRAILER : -1;
	}
}

static int
http_chunked_scan(struct http_chunked *ck, const char *at, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if ((ck->state = http_chunked_byte(ck, at[i])) == -1)
			return -1;
	}
	return 0;
}

/* On n bytes of chunk data at at: the framing since the last data. */
int
http_chunked_data(struct http_chunked *ck, const char *at, size_t n)
{
	if (ck->scan == NULL)
		return 0;
	if (http_chunked_scan(ck, ck->scan, at - ck->scan) == -1)
		return -1;
	ck->scan = at + n;
	return 0;
}

/*
 * The parser took n bytes of block: the chunk framing after the last data,
 * and if it paused on a head's end, that byte, which it takes on trust for
 * the LF (after a CR, any byte ends the head).
 */
int
http_parse_checked(struct http_chunked *ck, const char *block, size_t n,
    int head_end)
{
	const char	*scan = ck->scan;

	ck->scan = NULL;
	if (scan != NULL && http_chunked_scan(ck, scan, block + n - scan) == -1)
		return -1;
	return head_end && block[n] != '\n' ? -1 : 0;
}

/*
 * RFC 9112 2.2 lets a recipient take a bare LF for the end of a line, and
 * http-parser does, anywhere in a head. A proxy in front that does not
 * would read other fields, or another request, in the same bytes: every
 * line of a request head ends in CRLF. *cr: the byte before at was a CR.
 */
static int
http_head_crlf(const char *at, size_t n, int *cr)
{
	const char	*p, *lf, *end = at + n;

	if (n == 0)
		return 0;
	for (p = at; (lf = memchr(p, '\n', end - p)) != NULL; p = lf + 1) {
		if (lf == at ? !*cr : lf[-1] != '\r')
			return -1;
	}
	*cr = end[-1] == '\r';
	return 0;
}

/*
 * RFC 9112 6.1: chunked is applied once (http-parser refuses it twice in
 * one field, not in two), and a 1.0 message framed by Transfer-Encoding is
 * faulty.
 */
int
http_te_faulty(const struct http_headers *h, int minor)
{
	size_t	 te = http_headers_count_of(h, "Transfer-Encoding");

	return te > 1 || (te == 1 && minor < 1);
}

/* Head parsing: accumulate url, header fields and values. */
static int
http_conn_append(http_parser *p, char **buf, size_t *len, const char *at,
    size_t n)
{
	struct http_conn	*conn = p->data;

	if (p->nread > conn->srv->limits.max_header_size) {
		conn->error = 431;
		return -1;
	}
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, at, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static void
http_conn_flush_header(struct http_conn *conn)
{
	if (conn->field == NULL)
		return;
	http_headers_add(conn->req->headers, conn->field,
	    conn->value != NULL ? conn->value : "");
	free(conn->field);
	free(conn->value);
	conn->field = conn->value = NULL;
	conn->fieldlen = conn->valuelen = 0;
}

static int
http_conn_on_begin(http_parser *p)
{
	struct http_conn	*conn = p->data;
	struct http_request	*req;

	req = xcalloc(1, sizeof(*req));
	req->conn = conn;
	req->headers = http_headers_new();
	req->reply_headers = http_headers_new();
	if ((req->body = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	snprintf(req->peer, sizeof(req->peer), "%s", conn->peer);
	conn->req = req;
	return 0;
}

static int
http_conn_on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn	*conn = p->data;

	/* The target alone over the bound of the whole head. */
	if (conn->urllen + n > conn->srv->limits.max_header_size) {
		conn->error = 414;
		return -1;
	}
	return http_conn_append(p, &conn->url, &conn->urllen, at, n);
}

static int
http_conn_on_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn	*conn = p->data;

	if (conn->state != HTTP_CONN_HEAD)
		return 0;	/* trailers: bounded by the parser, dropped */
	/* "Name :" framed by the parser but unseen by lookups: 400. */
	if (!http_token_chars(at, n))
		return -1;
	if (conn->value != NULL)
		http_conn_flush_header(conn);
	return http_conn_append(p, &conn->field, &conn->fieldlen, at, n);
}

static int
http_conn_on_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn	*conn = p->data;

	if (conn->state != HTTP_CONN_HEAD)
		return 0;
	if (conn->value == NULL)
		conn->value = xstrdup("");
	return http_conn_append(p, &conn->value, &conn->valuelen, at, n);
}

static int
http_conn_on_head(http_parser *p)
{
	struct http_conn	*conn = p->data;

	http_conn_flush_header(conn);
	memset(&conn->chunked, 0, sizeof(conn->chunked));
	conn->head_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int
http_conn_on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn	*conn = p->data;
	struct http_request	*req = conn->req;

	if (http_chunked_data(&conn->chunked, at, n) == -1)
		return -1;
	if (conn->state == HTTP_CONN_DISCARD)
		return 0;
	if (conn->state == HTTP_CONN_BODY && evbuffer_get_length(req->body) +
	    n > conn->srv->limits.max_body_size) {
		conn->error = 413;
		return -1;
	}
	evbuffer_add(req->body, at, n);
	return 0;
}

static int
http_conn_on_complete(http_parser *p)
{
	struct http_conn	*conn = p->data;

	conn->msg_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_conn_settings = {
	.on_message_begin = http_conn_on_begin,
	.on_url = http_conn_on_url,
	.on_header_field = http_conn_on_field,
	.on_header_value = http_conn_on_value,
	.on_headers_complete = http_conn_on_head,
	.on_body = http_conn_on_body,
	.on_message_complete = http_conn_on_complete,
};

/*
 * No whitespace or control bytes (RFC 9112 3.2): http-parser lets a tab
 * and DEL through, and a proxy must not pass them on.
 */
static int
http_conn_target_chars(const char *url, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return 0;
	}
	return 1;
}

/* An authority's host[:port], or empty: what Host may hold. */
static int
http_conn_host_chars(const char *host)
{
	return host[strspn(host, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:[]")] == '\0';
}

/*
 * RFC 9112 3.2.2: the authority of an absolute-form target replaces Host,
 * so the Host compared with Origin and forwarded by the proxies is the
 * one the target names. It passes the checks Host does (no userinfo).
 */
static int
http_conn_authority(struct http_request *req, const char *url,
    const struct http_parser_url *u)
{
	const char	*auth;
	char		*host;
	int		 ok;

	if (!(u->field_set & (1 << UF_SCHEMA)))
		return 0;
	auth = url + u->field_data[UF_SCHEMA].off +
	    u->field_data[UF_SCHEMA].len + strlen("://");
	host = xstrndup(auth, strcspn(auth, "/?#"));
	if ((ok = http_conn_host_chars(host)))
		http_headers_set(req->headers, "Host", host);
	free(host);
	return ok ? 0 : -1;
}

/*
 * Split the request target into path and query, the authority of an
 * absolute-form one taken for Host; -1 if it is not a target.
 */
static int
http_conn_target(struct http_conn *conn, struct http_request *req)
{
	struct http_parser_url	 u;
	const char		*url = conn->url;
	int			 connect = conn->parser.method == HTTP_CONNECT;

	if (url == NULL || !http_conn_target_chars(url, conn->urllen))
		return -1;
	req->target = xstrdup(url);
	if (strcmp(url, "*") == 0) {
		req->path = xstrdup(url);
		return 0;
	}
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, conn->urllen, connect, &u) != 0)
		return -1;
	if (u.field_set & (1 << UF_PATH))
		req->path = xstrndup(url + u.field_data[UF_PATH].off,
		    u.field_data[UF_PATH].len);
	else
		req->path = xstrdup(connect ? url : "/");
	if (u.field_set & (1 << UF_QUERY))
		req->query = xstrndup(url + u.field_data[UF_QUERY].off,
		    u.field_data[UF_QUERY].len);
	return http_conn_authority(req, url, &u);
}

/*
 * RFC 9112 3.2: one Host in HTTP/1.1 (at most one in 1.0), whose value is
 * empty or an authority's host[:port], so routing by Host and the Host a
 * proxy forwards are the one the client meant.
 */
static int
http_conn_host_valid(const struct http_request *req)
{
	const char	*host = http_headers_get(req->headers, "Host");
	size_t		 n = http_headers_count_of(req->headers, "Host");

	if (n > 1 || (n == 0 && req->minor >= 1))
		return 0;
	return host == NULL || http_conn_host_chars(host);
}

/*
 * RFC 9110 10.1.1: 100-continue is the only expectation there is (a 1.0
 * request's are ignored).
 */
static int
http_conn_expect_unmet(const struct http_request *req)
{
	const struct http_headers	*h = req->headers;

	if (req->minor < 1 || http_headers_get(h, "Expect") == NULL)
		return 0;
	return http_headers_has_other_token(h, "Expect", "100-continue") ||
	    !http_headers_has_token(h, "Expect", "100-continue");
}

static int
http_conn_body_expected(const http_parser *p)
{
	return (p->flags & F_CHUNKED) ||
	    (p->content_length > 0 && p->content_length != ULLONG_MAX);
}

/* After the head handler, if it kept its hands off: buffer the body. */
static void
http_conn_buffer_body(struct http_conn *conn)
{
	struct http_request	*req = conn->req;
	uint64_t		 len = conn->parser.content_length;

	if (req->body_cb == NULL && len != ULLONG_MAX &&
	    len > conn->srv->limits.max_body_size) {
		http_conn_fail(conn, 413);
		return;
	}
	if (conn->expect) {
		conn->expect = 0;
		evbuffer_add_printf(stream_output(conn->stream),
		    "HTTP/1.1 100 Continue\r\n\r\n");
	}
	if (req->body_cb != NULL) {
		req->owned = 1;
		conn->state = HTTP_CONN_STREAM;
		http_conn_arm(conn, conn->srv->limits.read_timeout_ms);
	} else
		conn->state = HTTP_CONN_BODY;
}

static void
http_conn_head(struct http_conn *conn)
{
	struct http_server	*srv = conn->srv;
	struct http_request	*req = conn->req;
	http_parser		*p = &conn->parser;

	req->method = xstrdup(http_method_str(p->method));
	req->minor = p->http_minor;
	/* The Host received is checked before a target's replaces it. */
	if (p->http_major != 1 || !http_conn_host_valid(req) ||
	    http_conn_target(conn, req) == -1) {
		http_conn_fail(conn, 400);
		return;
	}
	free(conn->url);
	conn->url = NULL;
	conn->urllen = 0;
	/* RFC 9112 6.1: a transfer coding we do not decode (gzip). */
	if (http_headers_has_other_token(req->headers, "Transfer-Encoding",
	    "chunked")) {
		http_conn_fail(conn, 501);
		return;
	}
	if (http_te_faulty(req->headers, req->minor)) {
		http_conn_fail(conn, 400);
		return;
	}
	if (http_conn_expect_unmet(req)) {
		http_conn_fail(conn, 417);
		return;
	}
	/* RFC 9110 7.8: an HTTP/1.0 request's Upgrade is ignored. */
	if (req->minor == 0)
		http_headers_remove(req->headers, "Upgrade");
	req->head = p->method == HTTP_HEAD;
	req->keepalive = http_should_keep_alive(p) && !p->upgrade;
	conn->expect = req->minor >= 1 && http_conn_body_expected(p) &&
	    http_headers_has_token(req->headers, "Expect", "100-continue");

	if (srv->head_handler != NULL) {
		http_conn_enter(conn);
		srv->head_handler(req, srv->arg);
		if (http_conn_leave(conn) == -1 || conn->req != req)
			return;	/* replied or hijacked */
	}
	http_conn_buffer_body(conn);
}

/* Streamed body: hand what arrived to the owner. */
static void
http_conn_deliver(struct http_conn *conn, int done)
{
	struct http_request	*req = conn->req;

	if (evbuffer_get_length(req->body) == 0 && !done)
		return;
	http_conn_enter(conn);
	req->body_cb(req, req->body, done, req->body_arg);
	http_conn_leave(conn);
}

static void
http_conn_message(struct http_conn *conn)
{
	struct http_server	*srv = conn->srv;
	struct http_request	*req = conn->req;

	switch (conn->state) {
	case HTTP_CONN_DISCARD:
		http_conn_idle(conn, srv->limits.idle_timeout_ms);
		return;
	case HTTP_CONN_STREAM:
		conn->state = HTTP_CONN_WAIT;
		evtimer_del(conn->timer);
		http_conn_deliver(conn, 1);
		return;
	case HTTP_CONN_BODY:
		conn->state = HTTP_CONN_WAIT;
		evtimer_del(conn->timer);
		req->owned = 1;
		http_conn_enter(conn);
		srv->handler(req, srv->arg);
		http_conn_leave(conn);
		return;
	default:
		fatalx("%s: message complete in state %d", __func__,
		    conn->state);
	}
}

/*
 * http-parser knows a fixed list of methods. A request line starting with
 * another token (PROPFIND, get, BREW) is a method we do not implement, a
 * 501 (RFC 9110 15.6.2); anything else there is a malformed request.
 */
static int
http_conn_method_unknown(enum http_errno err, const char *p, size_t n)
{
	const char	*sp;
	size_t		 len;

	if (err != HPE_INVALID_METHOD)
		return 0;
	while (n > 0 && (*p == '\r' || *p == '\n')) {
		p++;
		n--;
	}
	len = (sp = memchr(p, ' ', n)) != NULL ? (size_t)(sp - p) : n;
	return len > 0 && http_token_chars(p, len);
}

/* One step of the parser over the first block of input. */
static void
http_conn_execute(struct http_conn *conn)
{
	struct evbuffer		*in = stream_input(conn->stream);
	struct evbuffer_iovec	 v;
	size_t			 n;
	enum http_errno		 err;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return;
	conn->chunked.scan = conn->state != HTTP_CONN_HEAD &&
	    (conn->parser.flags & F_CHUNKED) ? v.iov_base : NULL;
	n = http_parser_execute(&conn->parser, &http_conn_settings,
	    v.iov_base, v.iov_len);
	err = HTTP_PARSER_ERRNO(&conn->parser);
	if (err == HPE_PAUSED) {
		http_parser_pause(&conn->parser, 0);
		err = HPE_OK;
	}
	if (err == HPE_OK && http_parse_checked(&conn->chunked, v.iov_base, n,
	    conn->head_done) == -1)
		err = HPE_STRICT;
	/* With the LF the parser paused on, if the head ended. */
	if (err == HPE_OK && conn->state == HTTP_CONN_HEAD &&
	    http_head_crlf(v.iov_base, n + conn->head_done,
	    &conn->head_cr) == -1)
		err = HPE_STRICT;
	if (conn->error == 0 && http_conn_method_unknown(err, v.iov_base,
	    v.iov_len))
		conn->error = 501;
	evbuffer_drain(in, n);
	if (err != HPE_OK) {
		if (conn->error == 0 && err == HPE_HEADER_OVERFLOW)
			conn->error = 431;
		http_conn_fail(conn, conn->error != 0 ? conn->error : 400);
		return;
	}
	if (conn->state == HTTP_CONN_HEAD &&
	    conn->parser.nread > conn->srv->limits.max_header_size) {
		http_conn_fail(conn, 431);
		return;
	}
	if (conn->head_done) {
		conn->head_done = 0;
		http_conn_head(conn);
	} else if (conn->msg_done) {
		conn->msg_done = 0;
		http_conn_message(conn);
	} else if (conn->state == HTTP_CONN_STREAM) {
		http_conn_arm(conn, conn->srv->limits.read_timeout_ms);
		http_conn_deliver(conn, 0);
	}
}

/*
 * Parse as long as the state wants input and there is some. A client that
 * pipelines requests and does not read the replies would have us queue
 * them without bound: over HTTP_OUTPUT_HIGH, the next request waits for
 * the output to be sent (the write callback), its bytes in the input,
 * where read_max bounds them.
 */
void
http_conn_parse(struct http_conn *conn)
{
	struct evbuffer	*in = stream_input(conn->stream);

	http_conn_enter(conn);
	while (!conn->dead && conn->stream != NULL &&
	    evbuffer_get_length(in) > 0) {
		switch (conn->state) {
		case HTTP_CONN_IDLE:
			if (evbuffer_get_length(stream_output(conn->stream)) >
			    HTTP_OUTPUT_HIGH)
				goto out;
			conn->state = HTTP_CONN_HEAD;
			conn->head_cr = 0;
			http_conn_arm(conn, conn->srv->limits.read_timeout_ms);
			break;
		case HTTP_CONN_STREAM:
			if (conn->paused)
				goto out;
			break;
		case HTTP_CONN_WAIT:
			goto out;
		case HTTP_CONN_LINGER:
			evbuffer_drain(in, SIZE_MAX);
			goto out;
		default:
			break;
		}
		http_conn_execute(conn);
	}
out:
	http_conn_leave(conn);
}
