/*
 * go-micro's Consul encoding (go-micro registry/consul/encoding.go) and
 * the shapes of Consul's answers, as documented in its HTTP API pages.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "log.h"
#include "plugins/consul-codec.h"
#include "svc.h"
#include "util.h"

/*
 * go-micro's getDeregisterTTL: the agent removes a node whose check stays
 * critical for its TTL and this splay, and Consul takes no less than a
 * minute (hence at least 1m5s).
 */
#define CONSUL_DEREGISTER_SPLAY_MS	5000
#define CONSUL_DEREGISTER_MIN_MS	60000

/* What one entry's go-micro tags say. */
struct consul_tags {
	char		*version;	/* the first "v" tag's */
	json_t		*endpoints;
	json_t		*meta;		/* NULL: no "t" tag */
	char		 format[3];	/* per kind of consul_tag_kinds */
	size_t		 skipped;	/* tags that did not decode */
};

/* The kinds of go-micro tag: version, endpoint, node metadata. */
static const char	consul_tag_kinds[] = "vet";

char *
consul_tag_encode(char c, const char *text)
{
	static const char	 hex[] = "0123456789abcdef";
	uLongf			 zlen = compressBound(strlen(text));
	unsigned char		*z = xmalloc(zlen);
	char			*tag;
	uLongf			 i;

	if (compress(z, &zlen, (const Bytef *)text, strlen(text)) != Z_OK)
		fatalx("zlib compress");
	tag = xmalloc(2 + zlen * 2 + 1);
	tag[0] = c;
	tag[1] = '-';
	for (i = 0; i < zlen; i++) {
		tag[2 + i * 2] = hex[z[i] >> 4];
		tag[3 + i * 2] = hex[z[i] & 15];
	}
	tag[2 + zlen * 2] = '\0';
	free(z);
	return tag;
}

char *
consul_tag_decode(const char *tag, char c)
{
	unsigned char	*z;
	char		*out;
	size_t		 len, i;
	uLongf		 outlen = CONSUL_TAG_MAX;
	int		 hi, lo;

	if (tag[0] == c && tag[1] == '=')
		return xstrdup(tag + 2);	/* the old plain form */
	if (tag[0] != c || tag[1] != '-' || (len = strlen(tag + 2)) % 2 != 0)
		return NULL;
	z = xmalloc(len / 2 + 1);
	for (i = 0; i < len / 2; i++) {
		if ((hi = util_hexval(tag[2 + i * 2])) == -1 ||
		    (lo = util_hexval(tag[3 + i * 2])) == -1) {
			free(z);
			return NULL;
		}
		z[i] = (unsigned char)(hi << 4 | lo);
	}
	out = xmalloc(CONSUL_TAG_MAX + 1);
	if (uncompress((Bytef *)out, &outlen, z, len / 2) != Z_OK ||
	    memchr(out, '\0', outlen) != NULL) {
		free(z);
		free(out);
		return NULL;
	}
	free(z);
	out[outlen] = '\0';
	return out;
}

static char *
consul_tag_json(char c, const json_t *j)
{
	char	*text, *tag;

	if ((text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatalx("json_dumps");
	tag = consul_tag_encode(c, text);
	free(text);
	return tag;
}

/* Takes the tag over. */
static void
consul_tag_add(json_t *tags, char *tag)
{
	json_array_append_new(tags, json_string(tag));
	free(tag);
}

static json_t *
consul_tags(const json_t *svc, const json_t *node)
{
	const json_t	*ep, *meta = json_object_get(node, "metadata");
	const char	*version;
	json_t		*tags = json_array(), *empty = json_object();
	size_t		 i;

	consul_tag_add(tags, consul_tag_json('t', json_is_object(meta) ?
	    meta : empty));
	json_array_foreach(json_object_get(svc, "endpoints"), i, ep)
		consul_tag_add(tags, consul_tag_json('e', ep));
	version = json_string_value(json_object_get(svc, "version"));
	consul_tag_add(tags, consul_tag_encode('v', version != NULL ?
	    version : ""));
	json_decref(empty);
	return tags;
}

/* "host:port" into Address and Port; "[v6]:port" too. */
static int
consul_split_address(const char *addr, char **host, int *port)
{
	const char	*colon = strrchr(addr, ':');
	char		*end;
	long		 p;
	size_t		 hlen;

	if (colon == NULL)
		return -1;
	p = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || p < 0 || p > 65535)
		return -1;
	hlen = colon - addr;
	if (hlen >= 2 && addr[0] == '[' && addr[hlen - 1] == ']')
		*host = xstrndup(addr + 1, hlen - 2);
	else
		*host = xstrndup(addr, hlen);
	*port = (int)p;
	return 0;
}

static uint64_t
consul_deregister_ms(uint64_t ttl_ms)
{
	if (ttl_ms < CONSUL_DEREGISTER_MIN_MS)
		ttl_ms = CONSUL_DEREGISTER_MIN_MS;
	return ttl_ms + CONSUL_DEREGISTER_SPLAY_MS;
}

/*
 * No "Meta": node metadata travels in the "t" tag, as go-micro sends it,
 * and Consul refuses many keys metadata may hold ("app.kubernetes.io/x",
 * more than 64 pairs, long values, a "consul-" prefix).
 */
static char *
consul_register_body(const json_t *svc, const json_t *node, uint64_t ttl_ms,
    char **cause)
{
	const char	*id, *addr;
	json_t		*body;
	char		*host, *text, ttl[32], deregister[32];
	int		 port;

	id = json_string_value(json_object_get(node, "id"));
	addr = json_string_value(json_object_get(node, "address"));
	if (id == NULL || addr == NULL ||
	    consul_split_address(addr, &host, &port) == -1) {
		xasprintf(cause, "node without an id or a host:port address");
		return NULL;
	}
	snprintf(ttl, sizeof(ttl), "%" PRIu64 "ms", ttl_ms);
	snprintf(deregister, sizeof(deregister), "%" PRIu64 "ms",
	    consul_deregister_ms(ttl_ms));
	body = json_pack("{s:s,s:s,s:o,s:s,s:i,s:{s:s,s:s,s:s}}",
	    "ID", id, "Name", json_string_value(json_object_get(svc, "name")),
	    "Tags", consul_tags(svc, node), "Address", host, "Port", port,
	    "Check", "CheckID", "", "TTL", ttl,
	    "DeregisterCriticalServiceAfter", deregister);
	free(host);
	if (body == NULL)
		fatalx("json_pack");
	xasprintf(&text, "service:%s", id);
	json_object_set_new(json_object_get(body, "Check"), "CheckID",
	    json_string(text));
	free(text);
	if ((text = json_dumps(body, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	json_decref(body);
	return text;
}

static json_t *
consul_service(const char *json, char **cause)
{
	json_t	*svc;

	svc = json_loads(json, 0, NULL);
	if (!json_is_object(svc) ||
	    !json_is_string(json_object_get(svc, "name")) ||
	    !json_is_array(json_object_get(svc, "nodes"))) {
		xasprintf(cause, "not a Service JSON with nodes");
		json_decref(svc);
		return NULL;
	}
	return svc;
}

int
consul_register_each(const char *json, uint64_t ttl_ms,
    void (*cb)(const char *, char *, void *), void *arg, char **cause)
{
	const json_t	*node;
	json_t		*svc;
	char		*body;
	size_t		 i;

	if ((svc = consul_service(json, cause)) == NULL)
		return -1;
	json_array_foreach(json_object_get(svc, "nodes"), i, node) {
		if ((body = consul_register_body(svc, node, ttl_ms,
		    cause)) == NULL) {
			json_decref(svc);
			return -1;
		}
		cb(json_string_value(json_object_get(node, "id")), body, arg);
	}
	json_decref(svc);
	return 0;
}

int
consul_ids_each(const char *json, void (*cb)(const char *, void *),
    void *arg, char **cause)
{
	const json_t	*node, *id;
	json_t		*svc;
	size_t		 i;

	if ((svc = consul_service(json, cause)) == NULL)
		return -1;
	json_array_foreach(json_object_get(svc, "nodes"), i, node) {
		if (json_is_string(id = json_object_get(node, "id")))
			cb(json_string_value(id), arg);
	}
	json_decref(svc);
	return 0;
}

static json_t *
consul_load(const char *s, size_t len, int (*is)(const json_t *),
    char **cause)
{
	json_error_t	 err;
	json_t		*j;

	if ((j = json_loadb(s, len, 0, &err)) == NULL) {
		xasprintf(cause, "bad JSON: %s", err.text);
		return NULL;
	}
	if (!is(j)) {
		xasprintf(cause, "unexpected JSON shape");
		json_decref(j);
		return NULL;
	}
	return j;
}

static int
consul_is_object(const json_t *j)
{
	return json_is_object(j);
}

static int
consul_is_array(const json_t *j)
{
	return json_is_array(j);
}

json_t *
consul_parse_catalog(const char *s, size_t len, char **cause)
{
	const char	*name;
	json_t		*j, *names, *tags;

	if ((j = consul_load(s, len, consul_is_object, cause)) == NULL)
		return NULL;
	names = json_array();
	json_object_foreach(j, name, tags) {
		if (json_is_array(tags) || json_is_null(tags))
			json_array_append_new(names, json_string(name));
	}
	json_decref(j);
	return names;
}

static int
consul_critical(const json_t *checks)
{
	const json_t	*c;
	const char	*status;
	size_t		 i;

	json_array_foreach(checks, i, c) {
		status = json_string_value(json_object_get(c, "Status"));
		if (status != NULL && strcmp(status, "critical") == 0)
			return 1;
	}
	return 0;
}

static int
consul_is_string_map(const json_t *j)
{
	const char	*k;
	json_t		*v;

	if (!json_is_object(j))
		return 0;
	json_object_foreach((json_t *)j, k, v) {
		if (!json_is_string(v))
			return 0;
	}
	return 1;
}

/* The decoded JSON of an "e" or a "t" tag's text into t. */
static int
consul_tags_add_json(struct consul_tags *t, char kind, const char *text)
{
	json_t	*j = json_loads(text, 0, NULL);
	int	 rv = -1;

	if (kind == 'e' && json_is_object(j)) {
		json_array_append(t->endpoints, j);
		rv = 0;
	} else if (kind == 't' && consul_is_string_map(j)) {
		/* one tag per key (go-micro's encodeMetadata): merge */
		if (t->meta == NULL)
			t->meta = json_object();
		json_object_update(t->meta, j);
		rv = 0;
	}
	json_decref(j);
	return rv;
}

/*
 * One tag, as go-micro's decoders read it: "<kind>-" hex(zlib) or the
 * older "<kind>=" plain, only the first format seen for a kind (go-micro
 * once wrote both), and a tag that does not decode skipped, never the
 * node: anyone may tag a service ("e-commerce").
 */
static void
consul_tags_add(struct consul_tags *t, const char *tag)
{
	const char	*kind;
	char		*fmt, *text;

	if (tag[0] == '\0' || (kind = strchr(consul_tag_kinds, tag[0])) ==
	    NULL || (tag[1] != '-' && tag[1] != '='))
		return;		/* not go-micro's */
	fmt = &t->format[kind - consul_tag_kinds];
	if (*fmt != '\0' && *fmt != tag[1])
		return;
	if ((text = consul_tag_decode(tag, tag[0])) == NULL) {
		t->skipped++;
		return;
	}
	if (tag[0] == 'v') {
		*fmt = tag[1];
		if (t->version == NULL)
			t->version = text;
		else
			free(text);
		return;
	}
	if (consul_tags_add_json(t, tag[0], text) == 0)
		*fmt = tag[1];
	else
		t->skipped++;
	free(text);
}

static void
consul_tags_decode(struct consul_tags *t, const json_t *tags)
{
	const json_t	*tag;
	size_t		 i;

	memset(t, 0, sizeof(*t));
	t->endpoints = json_array();
	json_array_foreach(tags, i, tag) {
		if (json_is_string(tag))
			consul_tags_add(t, json_string_value(tag));
	}
}

static void
consul_tags_free(struct consul_tags *t)
{
	free(t->version);
	json_decref(t->endpoints);
	json_decref(t->meta);
}

/* The Service of version in out, created on first sight. */
static json_t *
consul_version(json_t *out, const char *name, const char *version,
    json_t *endpoints)
{
	json_t	*svc;
	size_t	 i;

	json_array_foreach(out, i, svc) {
		if (strcmp(json_string_value(json_object_get(svc, "version")),
		    version) == 0)
			return svc;
	}
	svc = json_pack("{s:s,s:s,s:{},s:O,s:[]}", "name", name, "version",
	    version, "metadata", "endpoints", endpoints, "nodes");
	json_array_append_new(out, svc);
	return svc;
}

/* Service.Address, else the agent's Node.Address. */
static const char *
consul_entry_address(const json_t *entry)
{
	const char	*addr;

	addr = json_string_value(json_object_get(json_object_get(entry,
	    "Service"), "Address"));
	if (addr == NULL || *addr == '\0')
		addr = json_string_value(json_object_get(json_object_get(entry,
		    "Node"), "Address"));
	return addr;
}

static void
consul_health_entry(json_t *out, const char *name, const json_t *entry,
    size_t *skipped)
{
	const json_t		*sv = json_object_get(entry, "Service");
	const char		*id, *service;
	const char		*addr = consul_entry_address(entry);
	struct consul_tags	 t;
	json_t			*svc, *node;
	char			*hostport;
	json_int_t		 port;

	id = json_string_value(json_object_get(sv, "ID"));
	port = json_integer_value(json_object_get(sv, "Port"));
	service = json_string_value(json_object_get(sv, "Service"));
	/* Consul looks names up ignoring case: "Greeter" is another service */
	if (id == NULL || addr == NULL ||
	    (service != NULL && strcmp(service, name) != 0) ||
	    consul_critical(json_object_get(entry, "Checks")))
		return;
	consul_tags_decode(&t, json_object_get(sv, "Tags"));
	*skipped += t.skipped;
	/* not go-micro's: Consul's own Meta, if any */
	if (t.meta == NULL && json_is_object(json_object_get(sv, "Meta")))
		t.meta = json_deep_copy(json_object_get(sv, "Meta"));
	if (t.meta == NULL)
		t.meta = json_object();
	xasprintf(&hostport, strchr(addr, ':') != NULL ? "[%s]:%lld" :
	    "%s:%lld", addr, (long long)port);
	node = json_pack("{s:s,s:s,s:O}", "id", id, "address", hostport,
	    "metadata", t.meta);
	free(hostport);
	svc = consul_version(out, name, t.version != NULL ? t.version : "",
	    t.endpoints);
	json_array_append_new(json_object_get(svc, "nodes"), node);
	consul_tags_free(&t);
}

json_t *
consul_parse_health(const char *s, size_t len, const char *name,
    size_t *skipped, char **cause)
{
	const json_t	*entry;
	json_t		*j, *out;
	size_t		 i;

	*skipped = 0;
	if ((j = consul_load(s, len, consul_is_array, cause)) == NULL)
		return NULL;
	out = json_array();
	json_array_foreach(j, i, entry) {
		if (json_is_object(entry))
			consul_health_entry(out, name, entry, skipped);
	}
	json_decref(j);
	return out;
}

/* Why the core would refuse node, allocated; NULL if it would not. */
static char *
consul_node_refused(const json_t *node, size_t idx, const json_t *seen)
{
	const char	*id = json_string_value(json_object_get(node, "id"));
	char		*why;

	if ((why = svc_node_refusal(node, idx)) == NULL &&
	    json_object_get(seen, id) != NULL)
		why = xstrdup("its ID is listed twice for the version");
	return why;
}

/* The nodes of svc the core takes; the others, with why, into refused. */
static void
consul_version_vet(json_t *svc, json_t *refused)
{
	const json_t	*node;
	json_t		*kept = json_array(), *seen = json_object();
	const char	*id;
	char		*why;
	size_t		 i;

	json_array_foreach(json_object_get(svc, "nodes"), i, node) {
		id = json_string_value(json_object_get(node, "id"));
		if ((why = consul_node_refused(node, i, seen)) != NULL) {
			json_object_set_new(refused, id != NULL ? id : "",
			    json_string(why));
			free(why);
			continue;
		}
		json_object_set_new(seen, id, json_true());
		json_array_append(kept, (json_t *)node);
	}
	json_decref(seen);
	json_object_set_new(svc, "nodes", kept);
}

void
consul_health_vet(json_t *services, json_t *refused)
{
	json_t	*svc;
	size_t	 i = 0;

	while ((svc = json_array_get(services, i)) != NULL) {
		consul_version_vet(svc, refused);
		if (json_array_size(json_object_get(svc, "nodes")) == 0)
			json_array_remove(services, i);
		else
			i++;
	}
}

uint64_t
consul_index_next(uint64_t prev, const char *header)
{
	uint64_t	 got;
	char		*end;

	if (header == NULL || *header < '0' || *header > '9')
		return 0;
	got = strtoull(header, &end, 10);
	if (*end != '\0' && *end != '\r' && *end != ' ')
		return 0;
	if (got < prev)
		return 0;	/* the index went backwards: start over */
	return got == 0 ? 1 : got;
}
