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

char *
apireq_encode(const struct apireq_in *in, size_t *len, const char **cause)
{
	json_t	*o, *body = NULL;
	char	*s = NULL;
	int	 form = apireq_is_form(in->content_type);

	/* The target's raw query bytes too, as the pairs of "get". */
	o = json_pack("{s:s, s:s, s:{}, s:{}, s:{}, s:o}", "method", in->method,
	    "path", in->path, "header", "get", "post", "url",
	    utf8_json_string(in->url, strlen(in->url)));
	if (o == NULL) {
		*cause = "request line is not UTF-8";
		return NULL;
	}
	if (!form && (body = json_stringn(in->body_len ? in->body : "",
	    in->body_len)) == NULL)
		*cause = "body is not UTF-8 text (use the rpc or proxy handler)";
	else if (in->query != NULL && apireq_form(json_object_get(o, "get"),
	    in->query, strlen(in->query)) == -1)
		*cause = "badly encoded query string";
	else if (form && apireq_form(json_object_get(o, "post"), in->body,
	    in->body_len) == -1)
		*cause = "badly encoded form body";
	else {
		apireq_headers(json_object_get(o, "header"), in->headers);
		json_object_set_new(o, "body", form ? json_string("") : body);
		body = NULL;
		s = apireq_dump(o, len);
	}
	json_decref(body);
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
