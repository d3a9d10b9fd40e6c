/*
 * etcd v3 JSON gateway messages (grpc-gateway's JSON mapping of the v3
 * protobufs): bytes fields are base64, int64 fields are strings, fields at
 * their default value are omitted (a PUT event has no "type").
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "plugins/etcd-proto.h"
#include "util.h"

static const char etcd_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
etcd_b64_encode(const char *in, size_t len)
{
	const unsigned char	*p = (const unsigned char *)in;
	char			*out, *o;
	uint32_t		 v;
	size_t			 i;

	o = out = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i < len; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = etcd_b64[v >> 18];
		*o++ = etcd_b64[(v >> 12) & 63];
		*o++ = i + 1 < len ? etcd_b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? etcd_b64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int
etcd_b64_value(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(etcd_b64, c)) == NULL)
		return -1;
	return p - etcd_b64;
}

char *
etcd_b64_decode(const char *in, size_t *outlen)
{
	size_t		 len = strlen(in), i, n = 0;
	char		*out;
	uint32_t	 v = 0;
	int		 c, bits = 0;

	while (len > 0 && in[len - 1] == '=')
		len--;
	if (strlen(in) % 4 != 0 || strlen(in) - len > 2)
		return NULL;
	out = xmalloc(len * 3 / 4 + 1);
	for (i = 0; i < len; i++) {
		if ((c = etcd_b64_value(in[i])) == -1) {
			free(out);
			return NULL;
		}
		v = (v << 6) | (uint32_t)c;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (char)((v >> bits) & 0xff);
		}
	}
	out[n] = '\0';
	if (outlen != NULL)
		*outlen = n;
	return out;
}

static json_t *
etcd_b64_json(const char *s, size_t len)
{
	char	*b64 = etcd_b64_encode(s, len);
	json_t	*j = json_string(b64);

	free(b64);
	return j;
}

static json_t *
etcd_int64_json(int64_t v)
{
	char	buf[32];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return json_string(buf);
}

static char *
etcd_dump(json_t *j)
{
	char	*s;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	json_decref(j);
	return s;
}

/*
 * The range of every key under prefix: range_end is the prefix with its
 * last byte incremented, dropping trailing 0xff bytes first ("\0", every
 * key, if nothing is left).
 */
static void
etcd_prefix_range(json_t *req, const char *prefix)
{
	size_t	 len = strlen(prefix);
	char	*end = xstrdup(prefix);

	while (len > 0 && (unsigned char)end[len - 1] == 0xff)
		len--;
	if (len == 0)
		json_object_set_new(req, "range_end", json_string("AA=="));
	else {
		end[len - 1]++;
		json_object_set_new(req, "range_end", etcd_b64_json(end, len));
	}
	json_object_set_new(req, "key", etcd_b64_json(prefix, strlen(prefix)));
	free(end);
}

char *
etcd_req_range(const char *prefix, const char *after, size_t afterlen,
    int64_t revision, int64_t limit)
{
	json_t	*req = json_object();

	etcd_prefix_range(req, prefix);
	/* The next page starts just past the last key: after + "\0". */
	if (after != NULL)
		json_object_set_new(req, "key", etcd_b64_json(after,
		    afterlen + 1));
	if (revision != 0)
		json_object_set_new(req, "revision", etcd_int64_json(revision));
	json_object_set_new(req, "limit", etcd_int64_json(limit));
	return etcd_dump(req);
}

char *
etcd_req_watch(const char *prefix, int64_t start)
{
	json_t	*cr = json_object();

	etcd_prefix_range(cr, prefix);
	json_object_set_new(cr, "start_revision", etcd_int64_json(start));
	json_object_set_new(cr, "progress_notify", json_true());
	return etcd_dump(json_pack("{s:o}", "create_request", cr));
}

char *
etcd_req_probe(const char *prefix)
{
	return etcd_dump(json_pack("{s:o,s:b}", "key",
	    etcd_b64_json(prefix, strlen(prefix)), "count_only", 1));
}

char *
etcd_req_put(const char *key, const char *value, int64_t lease)
{
	json_t	*req = json_object();

	json_object_set_new(req, "key", etcd_b64_json(key, strlen(key)));
	json_object_set_new(req, "value", etcd_b64_json(value, strlen(value)));
	if (lease != 0)
		json_object_set_new(req, "lease", etcd_int64_json(lease));
	return etcd_dump(req);
}

char *
etcd_req_delete(const char *key)
{
	return etcd_dump(json_pack("{s:o}", "key",
	    etcd_b64_json(key, strlen(key))));
}

char *
etcd_req_grant(int64_t ttl)
{
	return etcd_dump(json_pack("{s:o}", "TTL", etcd_int64_json(ttl)));
}

char *
etcd_req_lease(int64_t id)
{
	return etcd_dump(json_pack("{s:o}", "ID", etcd_int64_json(id)));
}

char *
etcd_req_auth(const char *name, const char *password)
{
	return etcd_dump(json_pack("{s:s,s:s}", "name", name,
	    "password", password));
}

static void
etcd_lines_add(struct etcd_lines *l, const char *p, size_t n)
{
	if (l->len + n + 1 > l->size) {
		l->size = (l->len + n + 1) * 2;
		l->buf = xrealloc(l->buf, l->size);
	}
	memcpy(l->buf + l->len, p, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

int
etcd_lines_feed(struct etcd_lines *l, const char *p, size_t len,
    int (*cb)(const char *, size_t, void *), void *arg, const char **cause)
{
	const char	*nl;
	size_t		 n;

	while ((nl = memchr(p, '\n', len)) != NULL) {
		n = nl - p;
		if (l->len + n > ETCD_LINE_MAX)
			goto toolong;
		if (l->len == 0) {
			if (n > 0 && cb(p, n, arg) == -1)
				return -1;
		} else {
			etcd_lines_add(l, p, n);
			if (cb(l->buf, l->len, arg) == -1)
				return -1;
			l->len = 0;
		}
		len -= n + 1;
		p = nl + 1;
	}
	if (l->len + len > ETCD_LINE_MAX)
		goto toolong;
	etcd_lines_add(l, p, len);
	return 0;
toolong:
	*cause = "watch message longer than the limit";
	l->len = 0;
	return -1;
}

void
etcd_lines_clear(struct etcd_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

/* An int64 field: a JSON string of digits (or, leniently, a number). */
static int
etcd_int64(const json_t *obj, const char *name, int64_t *v)
{
	const json_t	*j = json_object_get(obj, name);
	const char	*s;
	char		*end;

	*v = 0;
	if (j == NULL)
		return 0;
	if (json_is_integer(j)) {
		*v = json_integer_value(j);
		return 0;
	}
	if (!json_is_string(j) || *(s = json_string_value(j)) == '\0')
		return -1;
	*v = strtoll(s, &end, 10);
	return *end == '\0' ? 0 : -1;
}

/* A bytes field, decoded; "" when absent (the default value). */
static char *
etcd_bytes(const json_t *obj, const char *name, size_t *len)
{
	const json_t	*j = json_object_get(obj, name);
	char		*s;

	if (j == NULL) {
		if (len != NULL)
			*len = 0;
		return xstrdup("");
	}
	if (!json_is_string(j) ||
	    (s = etcd_b64_decode(json_string_value(j), len)) == NULL)
		return NULL;
	return s;
}

static int
etcd_parse_kv(const json_t *kv, enum etcd_event_type type,
    struct etcd_event *ev, char **cause)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = type;
	if (!json_is_object(kv) ||
	    (ev->key = etcd_bytes(kv, "key", &ev->keylen)) == NULL ||
	    (ev->value = etcd_bytes(kv, "value", &ev->valuelen)) == NULL ||
	    etcd_int64(kv, "mod_revision", &ev->mod_revision) == -1 ||
	    etcd_int64(kv, "lease", &ev->lease) == -1) {
		xasprintf(cause, "malformed key-value");
		return -1;
	}
	/*
	 * Anyone may write under the prefix: one such key must not stop the
	 * stream at its revision for ever. It is passed on to be skipped.
	 */
	if (ev->keylen == 0 || strlen(ev->key) != ev->keylen ||
	    strlen(ev->value) != ev->valuelen)
		ev->type = ETCD_UNUSABLE;
	return 0;
}

static int
etcd_parse_kvs(const json_t *arr, int events, struct etcd_batch *b,
    char **cause)
{
	const json_t		*e, *kv, *type;
	enum etcd_event_type	 t;
	size_t			 i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr)) {
		xasprintf(cause, "\"%s\" is not an array",
		    events ? "events" : "kvs");
		return -1;
	}
	b->ev = xcalloc(json_array_size(arr) + 1, sizeof(*b->ev));
	json_array_foreach(arr, i, e) {
		t = ETCD_PUT;
		kv = e;
		if (events) {
			kv = json_object_get(e, "kv");
			type = json_object_get(e, "type");
			if (json_is_string(type) && strcmp(
			    json_string_value(type), "DELETE") == 0)
				t = ETCD_DELETE;
			else if (type != NULL && (!json_is_string(type) ||
			    strcmp(json_string_value(type), "PUT") != 0)) {
				xasprintf(cause, "unknown event type");
				return -1;
			}
		}
		if (etcd_parse_kv(kv, t, &b->ev[b->nev], cause) == -1) {
			free(b->ev[b->nev].key);
			free(b->ev[b->nev].value);
			return -1;
		}
		b->nev++;
	}
	return 0;
}

static int
etcd_parse_header(const json_t *obj, struct etcd_batch *b, char **cause)
{
	const json_t	*h = json_object_get(obj, "header");

	const json_t	*id = json_object_get(h, "cluster_id");

	if (h != NULL && (!json_is_object(h) ||
	    etcd_int64(h, "revision", &b->revision) == -1)) {
		xasprintf(cause, "malformed header");
		return -1;
	}
	/* A uint64, as a string: kept as text, only ever compared. */
	if (json_is_string(id) && json_string_length(id) < sizeof(b->cluster))
		memcpy(b->cluster, json_string_value(id),
		    json_string_length(id) + 1);
	return 0;
}

static json_t *
etcd_load(const char *s, size_t len, char **cause)
{
	json_error_t	 err;
	json_t		*j;

	if ((j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		xasprintf(cause, "bad JSON: %s", err.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		xasprintf(cause, "not a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

static int
etcd_parse_done(json_t *j, struct etcd_batch *b, int rv)
{
	json_decref(j);
	if (rv == -1)
		etcd_batch_clear(b);
	return rv;
}

int
etcd_parse_range(const char *s, size_t len, struct etcd_batch *b,
    char **cause)
{
	json_t	*j;
	int	 rv;

	memset(b, 0, sizeof(*b));
	if ((j = etcd_load(s, len, cause)) == NULL)
		return -1;
	rv = etcd_parse_header(j, b, cause) == -1 ||
	    etcd_parse_kvs(json_object_get(j, "kvs"), 0, b, cause) == -1 ?
	    -1 : 0;
	b->more = json_is_true(json_object_get(j, "more"));
	return etcd_parse_done(j, b, rv);
}

static int
etcd_parse_result(const json_t *r, struct etcd_batch *b, char **cause)
{
	const json_t	*reason;

	if (!json_is_object(r)) {
		xasprintf(cause, "\"result\" is not an object");
		return -1;
	}
	b->created = json_is_true(json_object_get(r, "created"));
	b->canceled = json_is_true(json_object_get(r, "canceled"));
	if (etcd_parse_header(r, b, cause) == -1)
		return -1;
	if (etcd_int64(r, "compact_revision", &b->compact_revision) == -1) {
		xasprintf(cause, "malformed compact_revision");
		return -1;
	}
	reason = json_object_get(r, "cancel_reason");
	if (b->canceled)
		b->error = xstrdup(json_is_string(reason) ?
		    json_string_value(reason) : "watch canceled");
	return etcd_parse_kvs(json_object_get(r, "events"), 1, b, cause);
}

int
etcd_parse_watch(const char *s, size_t len, struct etcd_batch *b,
    char **cause)
{
	const json_t	*r;
	json_t		*j;
	int		 rv;

	memset(b, 0, sizeof(*b));
	if ((j = etcd_load(s, len, cause)) == NULL)
		return -1;
	if ((r = json_object_get(j, "result")) != NULL)
		rv = etcd_parse_result(r, b, cause);
	else if (json_object_get(j, "error") != NULL) {
		b->error = etcd_parse_error(s, len);
		rv = 0;
	} else {
		xasprintf(cause, "neither \"result\" nor \"error\"");
		rv = -1;
	}
	return etcd_parse_done(j, b, rv);
}

void
etcd_batch_clear(struct etcd_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->nev; i++) {
		free(b->ev[i].key);
		free(b->ev[i].value);
	}
	free(b->ev);
	free(b->error);
	memset(b, 0, sizeof(*b));
}

int
etcd_parse_lease(const char *s, size_t len, int64_t *id, int64_t *ttl,
    char **cause)
{
	const json_t	*r;
	json_t		*j;
	int		 rv = 0;

	if ((j = etcd_load(s, len, cause)) == NULL)
		return -1;
	/* keepalive wraps its answer in "result", grant does not */
	if ((r = json_object_get(j, "result")) == NULL)
		r = j;
	if (!json_is_object(r) || etcd_int64(r, "ID", id) == -1 ||
	    etcd_int64(r, "TTL", ttl) == -1) {
		xasprintf(cause, "malformed lease answer");
		rv = -1;
	}
	json_decref(j);
	return rv;
}

char *
etcd_parse_auth(const char *s, size_t len, char **cause)
{
	const json_t	*t;
	json_t		*j;
	char		*token = NULL;

	if ((j = etcd_load(s, len, cause)) == NULL)
		return NULL;
	t = json_object_get(j, "token");
	if (json_is_string(t) && *json_string_value(t) != '\0')
		token = xstrdup(json_string_value(t));
	else
		xasprintf(cause, "authentication answer without a token");
	json_decref(j);
	return token;
}

char *
etcd_parse_error(const char *s, size_t len)
{
	const json_t	*e, *m;
	json_t		*j;
	char		*cause, *msg;

	if ((j = etcd_load(s, len, &cause)) == NULL)
		return cause;
	if ((e = json_object_get(j, "error")) == NULL || !json_is_object(e))
		e = j;
	if ((m = json_object_get(e, "message")) == NULL)
		m = json_object_get(e, "error");
	msg = xstrdup(json_is_string(m) ? json_string_value(m) :
	    "unexplained error");
	json_decref(j);
	return msg;
}

int
etcd_value_is_node(const char *value, size_t len, const char *name,
    const char *id)
{
	json_t		*svc, *nodes;
	const char	*s, *n;
	int		 ok;

	if ((svc = json_loadb(value, len, 0, NULL)) == NULL)
		return 0;
	s = json_string_value(json_object_get(svc, "name"));
	nodes = json_object_get(svc, "nodes");
	n = json_string_value(json_object_get(json_array_get(nodes, 0), "id"));
	ok = s != NULL && strcmp(s, name) == 0 && json_array_size(nodes) == 1 &&
	    n != NULL && strcmp(n, id) == 0;
	json_decref(svc);
	return ok;
}

/*
 * Registrations reach the backend checked (lib/svc.c), so the address is
 * "host:port" or "[v6]:port"; go-micro 2016 joined "address" and "port"
 * back with a colon, without brackets.
 */
void
etcd_node_2016(json_t *node)
{
	const char	*addr, *colon;
	char		*host;
	size_t		 len;

	addr = json_string_value(json_object_get(node, "address"));
	if (addr == NULL || (colon = strrchr(addr, ':')) == NULL)
		return;
	len = colon - addr;
	if (addr[0] == '[' && len >= 2 && addr[len - 1] == ']')
		host = xstrndup(addr + 1, len - 2);
	else
		host = xstrndup(addr, len);
	json_object_set_new(node, "port", json_integer(atoi(colon + 1)));
	json_object_set_new(node, "address", json_string(host));
	free(host);
}

int
etcd_key_split(const char *key, const char *prefix, char **name, char **id)
{
	size_t		 plen = strlen(prefix);
	const char	*rest, *slash;

	if (strncmp(key, prefix, plen) != 0)
		return -1;
	rest = key + plen;
	if ((slash = strchr(rest, '/')) == NULL || slash == rest ||
	    slash[1] == '\0')
		return -1;
	*name = xstrndup(rest, slash - rest);
	*id = xstrdup(slash + 1);
	return 0;
}
