/*
 * api.Request / api.Response JSON (rpc/apireq.h), as micro's api handler
 * builds and reads them (MM16 api/handler/api requestToProto).
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "http.h"
#include "log.h"
#include "rpc/apireq.h"
#include "rpc/codec.h"
#include "utf8.h"
#include "util.h"

#define APIREQ_FORM_TYPE	"application/x-www-form-urlencoded"

/* An RFC 7230 token: what a header name may be. */
static int
apireq_token(const char *s)
{
	const char	*p;

	for (p = s; *p != '\0'; p++)
		if (!isascii((unsigned char)*p) ||
		    !(isalnum((unsigned char)*p) || strchr("!#$%&'*+-.^_`|~",
		    *p) != NULL))
			return 0;
	return p != s;
}

void
apireq_canonical_key(char *k)
{
	char	*p;
	int	 upper = 1;

	/* Go leaves keys with non-token bytes alone; so do we. */
	if (!apireq_token(k))
		return;
	for (p = k; *p != '\0'; p++) {
		*p = upper ? toupper((unsigned char)*p) :
		    tolower((unsigned char)*p);
		upper = *p == '-';
	}
}

/*
 * Add value to map[key] = {"key":key,"values":[...]}. Bytes that are not
 * UTF-8 (a Latin-1 cookie, ?a=%FF) become U+FFFD, as micro (Go) sends
 * them: one odd header is no reason to refuse the call.
 */
static void
apireq_pair_add(json_t *map, const char *key, const char *value)
{
	json_t		*k = utf8_json_string(key, strlen(key)), *pair;
	const char	*name = json_string_value(k);

	if ((pair = json_object_get(map, name)) == NULL) {
		pair = json_pack("{s:O, s:[]}", "key", k, "values");
		if (pair == NULL || json_object_set_new(map, name, pair) == -1)
			fatalx("%s: out of memory", __func__);
	}
	if (json_array_append_new(json_object_get(pair, "values"),
	    utf8_json_string(value, strlen(value))) == -1)
		fatalx("%s: out of memory", __func__);
	json_decref(k);
}

/* key=value&... into map; -1 on bad encoding. */
static int
apireq_form(json_t *map, const char *s, size_t len)
{
	const char	*end = s + len, *amp, *eq;
	char		*k, *v;
	int		 rc = 0;

	for (; s < end && rc == 0; s = amp + 1) {
		if ((amp = memchr(s, '&', end - s)) == NULL)
			amp = end;
		if (amp == s)
			continue;
		if ((eq = memchr(s, '=', amp - s)) == NULL)
			eq = amp;
		k = http_query_decode(s, eq - s);
		v = http_query_decode(eq + (eq < amp), amp - eq - (eq < amp));
		if (k == NULL || v == NULL)
			rc = -1;
		else if (*k != '\0')
			apireq_pair_add(map, k, v);
		free(k);
		free(v);
	}
	return rc;
}

static void
apireq_headers(json_t *map, const struct http_headers *h)
{
	const char	*name, *value;
	char		*key;
	size_t		 i;

	for (i = 0; http_headers_at(h, i, &name, &value); i++) {
		key = xstrdup(name);
		apireq_canonical_key(key);
		apireq_pair_add(map, key, value);
		free(key);
	}
}

static int
apireq_is_form(const char *ct)
{
	size_t	 n = strlen(APIREQ_FORM_TYPE);

	return ct != NULL && strncasecmp(ct, APIREQ_FORM_TYPE, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static char *
apireq_dump(json_t *o, size_t *len)
{
	char	*s;

	if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("%s: out of memory", __func__);
	*len = strlen(s);
	return s;
}

static int
apireq_count(const char *buf, size_t size, void *arg)
{
	size_t	*n = arg;

	*n += size;
	return 0;
}

/* A text being written at the size measured for it: never past it. */
struct apireq_buf {
	char	*p;
	size_t	 left;
};

static int
apireq_copy(const char *buf, size_t size, void *arg)
{
	struct apireq_buf	*b = arg;

	if (size > b->left)
		return -1;
	memcpy(b->p, buf, size);
	b->p += size;
	b->left -= size;
	return 0;
}

/* The size of o's JSON text, known without building it. */
static size_t
apireq_dump_len(json_t *o)
{
	size_t	 n = 0;

	if (json_dump_callback(o, apireq_count, &n, JSON_COMPACT) == -1)
		fatalx("%s: out of memory", __func__);
	return n;
}

/* Pieces of a query or form, as Go's net/url counts them. */
static size_t
apireq_params(const char *s, size_t len)
{
	const char	*end = s + len;
	size_t		 n = 1;

	for (; n <= APIREQ_MAX_PARAMS && s < end; s++, n++)
		if ((s = memchr(s, '&', end - s)) == NULL)
			break;
	return n;
}

/*
 * c inside a JSON string, as json_dumps writes it, into e (6 bytes); the
 * length. A control byte takes six (\u0001): a body of them grows sixfold.
 */
static size_t
apireq_escape(unsigned char c, char *e)
{
	static const char	 from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
	static const char	 hex[] = "0123456789ABCDEF";
	const char		*p;

	if (c >= 0x20 && c != '"' && c != '\\') {
		e[0] = c;
		return 1;
	}
	if (c != '\0' && (p = strchr(from, c)) != NULL) {
		e[0] = '\\';
		e[1] = to[p - from];
		return 2;
	}
	memcpy(e, "\\u00", 4);
	e[4] = hex[c >> 4];
	e[5] = hex[c & 0xf];
	return 6;
}

/*
 * The size of the len bytes at s as a JSON string's inside; -1 if they are
 * not UTF-8 (a body is refused, not repaired: it may be binary).
 */
static int
apireq_escaped_len(const char *s, size_t len, size_t *out)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			 e[6];
	size_t			 i, n;

	*out = 0;
	for (i = 0; i < len; i += n) {
		if ((n = utf8_sequence(p + i, len - i)) == 0)
			return -1;
		*out += n > 1 ? n : apireq_escape(p[i], e);
	}
	return 0;
}

/*
 * The body's part of the api.Request, *part bytes of its text: a form's
 * "post", filled, or "body", escaped (written by apireq_write). Refused
 * over in->max_len, before the text is built; *part is then set too.
 */
static int
apireq_body(json_t *o, const struct apireq_in *in, int form, size_t *part,
    const char **cause)
{
	json_t	*post = json_object_get(o, "post");
	size_t	 n = 0;

	if (form && apireq_params(in->body, in->body_len) > APIREQ_MAX_PARAMS)
		*cause = "form body has too many parameters";
	else if (form && apireq_form(post, in->body, in->body_len) == -1)
		*cause = "badly encoded form body";
	else if (!form && apireq_escaped_len(in->body, in->body_len, &n) == -1)
		*cause = "body is not UTF-8 text (use the rpc or proxy handler)";
	else {
		*part = form ? apireq_dump_len(post) : n;
		if (in->max_len == 0 || *part <= in->max_len)
			return 0;
		*cause = form ? "form body too large once written as "
		    "an api.Request" : "body too large once escaped as JSON "
		    "(a control byte takes 6 bytes; use the rpc or proxy "
		    "handler)";
	}
	return -1;
}

/*
 * The text, written once at its size: o without its closing brace, then
 * "body" (part bytes) escaped straight from the request's, so neither a
 * copy of the body nor a growing buffer is made.
 */
static char *
apireq_write(json_t *o, const char *body, size_t body_len, size_t part,
    size_t *len)
{
	static const char	 key[] = ",\"body\":\"", end[] = "\"}";
	struct apireq_buf	 b;
	char			*s;
	size_t			 i;

	*len = apireq_dump_len(o) - 1 + strlen(key) + part + strlen(end);
	b.p = s = xmalloc(*len + 1);
	b.left = *len;
	if (json_dump_callback(o, apireq_copy, &b, JSON_COMPACT) == -1)
		fatalx("%s: out of memory, or longer than measured", __func__);
	memcpy(b.p - 1, key, strlen(key));
	b.p += strlen(key) - 1;
	for (i = 0; i < body_len; i++)
		b.p += apireq_escape((unsigned char)body[i], b.p);
	memcpy(b.p, end, sizeof(end));
	return s;
}

char *
apireq_encode(const struct apireq_in *in, size_t *len, const char **cause)
{
	json_t	*o;
	char	*s = NULL;
	size_t	 part = 0;
	int	 form = apireq_is_form(in->content_type);

	*len = 0;
	/* The target's raw query bytes too, as the pairs of "get". */
	o = json_pack("{s:s, s:s, s:{}, s:{}, s:{}, s:o}", "method", in->method,
	    "path", in->path, "header", "get", "post", "url",
	    utf8_json_string(in->url, strlen(in->url)));
	if (o == NULL) {
		*cause = "request line is not UTF-8";
		return NULL;
	}
	if (apireq_body(o, in, form, &part, cause) == -1)
		*len = part;
	else if (in->query != NULL && apireq_params(in->query,
	    strlen(in->query)) > APIREQ_MAX_PARAMS)
		*cause = "query string has too many parameters";
	else if (in->query != NULL && apireq_form(json_object_get(o, "get"),
	    in->query, strlen(in->query)) == -1)
		*cause = "badly encoded query string";
	else {
		apireq_headers(json_object_get(o, "header"), in->headers);
		s = form ? apireq_write(o, "", 0, 0, len) :
		    apireq_write(o, in->body, in->body_len, part, len);
	}
	json_decref(o);
	return s;
}

char *
apireq_query_object(const char *query, size_t *len, const char **cause)
{
	json_t		*pairs = json_object(), *o = json_object(), *pair, *values;
	const char	*k;
	char		*s = NULL;

	if (pairs == NULL || o == NULL)
		fatalx("%s: out of memory", __func__);
	if (apireq_form(pairs, query, strlen(query)) == -1)
		*cause = "badly encoded query string";
	else {
		json_object_foreach(pairs, k, pair) {
			values = json_object_get(pair, "values");
			json_object_set(o, k, json_array_size(values) == 1 ?
			    json_array_get(values, 0) : values);
		}
		s = apireq_dump(o, len);
	}
	json_decref(pairs);
	json_decref(o);
	return s;
}

int
apireq_response_parse(const char *text, size_t len, struct apireq_rsp *rsp,
    const char **cause)
{
	json_t		*code, *body, *header;
	json_int_t	 status = 200;

	memset(rsp, 0, sizeof(*rsp));
	/* A body may hold a NUL: Go writes it "\u0000", as apireq_encode. */
	if ((rsp->root = json_loadb(text, len, JSON_ALLOW_NUL, NULL)) == NULL ||
	    !json_is_object(rsp->root)) {
		*cause = "API service reply is not an api.Response";
		goto bad;
	}
	code = json_object_get(rsp->root, "statusCode");
	body = json_object_get(rsp->root, "body");
	header = json_object_get(rsp->root, "header");
	if (json_is_integer(code) && json_integer_value(code) != 0)
		status = json_integer_value(code);
	/* A final status: a 1xx would leave the client waiting for one. */
	if ((code != NULL && !json_is_integer(code) && !json_is_null(code)) ||
	    status < 200 || status > 599) {
		*cause = "API service reply has a bad statusCode";
		goto bad;
	}
	if ((body != NULL && !json_is_string(body) && !json_is_null(body)) ||
	    (header != NULL && !json_is_object(header) &&
	    !json_is_null(header))) {
		*cause = "API service reply has a bad header or body";
		goto bad;
	}
	rsp->status = status;
	if (json_is_string(body)) {
		rsp->body = json_string_value(body);
		rsp->body_len = json_string_length(body);
	} else
		rsp->body = "";
	return 0;
bad:
	apireq_response_free(rsp);
	return -1;
}

static void
apireq_pair_each(const char *k, json_t *pair,
    void (*cb)(const char *, const char *, void *), void *arg)
{
	json_t		*key, *values, *v;
	size_t		 i;

	key = json_object_get(pair, "key");
	if (json_is_string(key) && json_string_length(key) > 0) {
		if (!rpc_json_cstring(key))
			return;
		k = json_string_value(key);
	}
	/* A service must not be able to split the reply's head. */
	if (!apireq_token(k))
		return;
	values = json_object_get(pair, "values");
	json_array_foreach(values, i, v) {
		if (rpc_json_cstring(v) &&
		    strpbrk(json_string_value(v), "\r\n") == NULL)
			cb(k, json_string_value(v), arg);
	}
}

void
apireq_response_headers(const struct apireq_rsp *rsp,
    void (*cb)(const char *, const char *, void *), void *arg)
{
	json_t		*header, *pair;
	const char	*k;

	header = json_object_get(rsp->root, "header");
	json_object_foreach(header, k, pair)
		apireq_pair_each(k, pair, cb, arg);
}

void
apireq_response_free(struct apireq_rsp *rsp)
{
	json_decref(rsp->root);
	rsp->root = NULL;
}
