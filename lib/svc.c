/*
 * Service JSON in, canonical Service JSON out, and the go-micro registry
 * rules (register merges nodes into a version, deregister removes them, an
 * empty version and an empty service disappear). See doc/registry.md for
 * the validation rules.
 */
#include "config.h"

#include <arpa/inet.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "svc.h"
#include "util.h"

#define SVC_VALUE_DEPTH	16	/* nesting of endpoint request/response */

static void *
svc_fail(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void *
svc_fail(char **cause, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(cause, fmt, ap) == -1)
		*cause = xstrdup("out of memory");
	va_end(ap);
	return NULL;
}

/*
 * A control character at s: C0, DEL or C1 (U+0080..U+009F, in UTF-8 0xc2
 * then 0x80..0x9f; a terminal may take U+009B for an escape sequence).
 */
static int
svc_is_control(const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;

	return u[0] < 0x20 || u[0] == 0x7f ||
	    (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f);
}

/*
 * "." and ".." become dot segments in the Consul agent's URLs (libcurl
 * removes them, so such a node is never deregistered) and in go-micro's
 * path.Join'ed etcd keys.
 */
static int
svc_is_dot_segment(const char *s)
{
	return strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

int
svc_valid_name(const char *s)
{
	size_t	 n;

	/*
	 * go-micro itself restricts nothing, so neither do we beyond what
	 * the stores need: no '/' or '\\' (etcd key separators), no control
	 * characters. Markup is fine: every output escapes.
	 */
	for (n = 0; s[n] != '\0'; n++) {
		if (svc_is_control(s + n) || s[n] == '/' || s[n] == '\\')
			return 0;
	}
	return n > 0 && n <= SVC_NAME_MAX && !svc_is_dot_segment(s);
}

/*
 * Node ids become etcd key parts and Consul service ids: no '/', no
 * blanks, no dot segment.
 */
static int
svc_valid_id(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++) {
		if (svc_is_control(s + n) || s[n] == ' ' || s[n] == '/')
			return 0;
	}
	return n > 0 && n <= SVC_NAME_MAX && !svc_is_dot_segment(s);
}

static int
svc_valid_version(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++) {
		if (svc_is_control(s + n))
			return 0;
	}
	return n <= SVC_NAME_MAX;
}

/* "addr]" (the part after '['): an IPv6 address, then the bracket. */
static int
svc_valid_ipv6(const char *h, size_t len)
{
	struct in6_addr	 a;
	char		 buf[INET6_ADDRSTRLEN];

	if (len < 3 || len > sizeof(buf) || h[len - 1] != ']')
		return 0;
	memcpy(buf, h, len - 1);
	buf[len - 1] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

static int
svc_valid_host(const char *h, size_t len)
{
	size_t	 i;

	if (len == 0)
		return 0;
	if (h[0] == '[')
		return svc_valid_ipv6(h + 1, len - 1);
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)h[i]) &&
		    strchr(".-_", h[i]) == NULL)
			return 0;
	}
	return 1;
}

/* "host:port" with a port in 1..65535; hosts may be names. */
static int
svc_valid_address(const char *addr)
{
	const char	*colon, *p;
	unsigned long	 port = 0;

	if (strlen(addr) > SVC_NAME_MAX || (colon = strrchr(addr, ':')) == NULL)
		return 0;
	if (!svc_valid_host(addr, colon - addr))
		return 0;
	for (p = colon + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p) || port > 65535)
			return 0;
		port = port * 10 + (*p - '0');
	}
	return p - colon > 1 && port > 0 && port <= 65535;
}

/* A string member: absent or null is "" unless required. */
static int
svc_string(const json_t *obj, const char *key, const char **out)
{
	const json_t	*v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v)) {
		*out = "";
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	*out = json_string_value(v);
	return 0;
}

/* go-micro's map[string]string; null and absent are {}. */
static json_t *
svc_string_map(const json_t *v, const char *where, char **cause)
{
	const char	*key;
	json_t		*val;

	if (v == NULL || json_is_null(v))
		return json_object();
	if (!json_is_object(v))
		return svc_fail(cause, "%s metadata is not an object", where);
	json_object_foreach((json_t *)v, key, val) {
		if (!json_is_string(val))
			return svc_fail(cause,
			    "%s metadata \"%s\" is not a string", where, key);
	}
	return json_deep_copy(v);
}

/* Absent, null or a string: what go-micro can unmarshal into a string. */
static int
svc_optional_string(const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);

	return v == NULL || json_is_null(v) || json_is_string(v);
}

/* Levels of arrays and objects in v (a scalar has none), up to limit + 1. */
static int
svc_json_depth(const json_t *v, int limit)
{
	const char	*key;
	json_t		*elem;
	size_t		 i;
	int		 d, max = 0;

	if (!json_is_object(v) && !json_is_array(v))
		return 0;
	if (limit <= 0)
		return 1;
	if (json_is_array(v)) {
		json_array_foreach((json_t *)v, i, elem) {
			if ((d = svc_json_depth(elem, limit - 1)) > max)
				max = d;
		}
	} else {
		json_object_foreach((json_t *)v, key, elem) {
			if ((d = svc_json_depth(elem, limit - 1)) > max)
				max = d;
		}
	}
	return max + 1;
}

/*
 * Members other than name, type and values are kept, but they count
 * towards the depth like values do: unbounded, they would make the
 * canonical output too deep for any JSON parser to read back.
 */
static int
svc_value_members_fit(const json_t *v, int depth)
{
	const char	*key;
	json_t		*member;

	json_object_foreach((json_t *)v, key, member) {
		if (strcmp(key, "values") != 0 && depth +
		    svc_json_depth(member, SVC_VALUE_DEPTH) >= SVC_VALUE_DEPTH)
			return 0;
	}
	return 1;
}

/*
 * An endpoint's request or response (go-micro registry.Value: name, type,
 * values). Kept as given, with every null "values" turned into [], so
 * that parsing canonical output gives it back unchanged.
 */
static json_t *
svc_value(const json_t *v, int depth, const char *where, char **cause)
{
	json_t		*out, *values, *elem, *sub;
	size_t		 i;

	if (v == NULL || json_is_null(v))
		return json_object();
	if (!json_is_object(v))
		return svc_fail(cause, "%s is not an object", where);
	/* depth 0 is the request or response itself: the first level. */
	if (depth >= SVC_VALUE_DEPTH || !svc_value_members_fit(v, depth))
		return svc_fail(cause, "%s is nested too deep", where);
	if (!svc_optional_string(v, "name") || !svc_optional_string(v, "type"))
		return svc_fail(cause, "%s name or type is not a string",
		    where);
	out = json_deep_copy(v);
	if ((values = json_object_get(v, "values")) == NULL)
		return out;
	if (json_is_null(values)) {
		json_object_set_new(out, "values", json_array());
		return out;
	}
	if (!json_is_array(values)) {
		json_decref(out);
		return svc_fail(cause, "%s values is not an array", where);
	}
	json_object_set_new(out, "values", json_array());
	json_array_foreach(values, i, elem) {
		if ((sub = svc_value(elem, depth + 1, where, cause)) == NULL) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(json_object_get(out, "values"), sub);
	}
	return out;
}

static json_t *
svc_endpoint(const json_t *v, size_t idx, char **cause)
{
	json_t		*req = NULL, *rsp = NULL, *md = NULL;
	const char	*name;
	char		 where[64];

	snprintf(where, sizeof(where), "endpoint %zu", idx);
	if (!json_is_object(v))
		return svc_fail(cause, "%s is not an object", where);
	if (svc_string(v, "name", &name) == -1 || *name == '\0')
		return svc_fail(cause, "%s has no name", where);
	if ((req = svc_value(json_object_get(v, "request"), 0,
	    "endpoint request", cause)) == NULL ||
	    (rsp = svc_value(json_object_get(v, "response"), 0,
	    "endpoint response", cause)) == NULL ||
	    (md = svc_string_map(json_object_get(v, "metadata"), where,
	    cause)) == NULL) {
		json_decref(req);
		json_decref(rsp);
		return NULL;
	}
	return json_pack("{s:s, s:o, s:o, s:o}", "name", name, "request", req,
	    "response", rsp, "metadata", md);
}

static json_t *
svc_endpoints(const json_t *v, char **cause)
{
	json_t	*out, *elem, *ep;
	size_t	 i;

	if (v == NULL || json_is_null(v))
		return json_array();
	if (!json_is_array(v))
		return svc_fail(cause, "endpoints is not an array");
	out = json_array();
	json_array_foreach(v, i, elem) {
		if ((ep = svc_endpoint(elem, i, cause)) == NULL) {
			json_decref(out);
			return NULL;
		}
		json_array_append_new(out, ep);
	}
	return out;
}

/* The 2016 form: "address" is the host alone and "port" an integer. */
static char *
svc_node_address(const json_t *v, size_t idx, int flags, char **cause)
{
	const json_t	*port = json_object_get(v, "port");
	const char	*addr;
	json_int_t	 p;
	char		*out;

	if (svc_string(v, "address", &addr) == -1)
		return svc_fail(cause, "node %zu address is not a string", idx);
	if (port == NULL || json_is_null(port) ||
	    (json_is_integer(port) && json_integer_value(port) == 0)) {
		if (*addr == '\0' && (flags & SVC_IDS_ONLY))
			return xstrdup("");
		out = xstrdup(addr);
	}
	else if (!json_is_integer(port) ||
	    (p = json_integer_value(port)) < 1 || p > 65535)
		return svc_fail(cause, "node %zu port is not in 1..65535", idx);
	else if (strchr(addr, ':') != NULL && addr[0] != '[')
		xasprintf(&out, "[%s]:%lld", addr, (long long)p);
	else
		xasprintf(&out, "%s:%lld", addr, (long long)p);
	if (!svc_valid_address(out)) {
		svc_fail(cause, "node %zu address \"%s\" is not host:port",
		    idx, out);
		free(out);
		return NULL;
	}
	return out;
}

/* Node v's id and its address (allocated), or NULL and why. */
static char *
svc_node_check(const json_t *v, size_t idx, int flags, const char **id,
    char **cause)
{
	if (!json_is_object(v))
		return svc_fail(cause, "node %zu is not an object", idx);
	if (svc_string(v, "id", id) == -1 || **id == '\0')
		return svc_fail(cause, "node %zu has no id", idx);
	if (!svc_valid_id(*id))
		return svc_fail(cause, "node %zu id has a blank, a control "
		    "character, '/', is too long or is \".\" or \"..\"", idx);
	return svc_node_address(v, idx, flags, cause);
}

char *
svc_node_refusal(const json_t *v, size_t idx)
{
	const char	*id;
	char		*addr, *cause = NULL;

	if ((addr = svc_node_check(v, idx, 0, &id, &cause)) == NULL)
		return cause;
	free(addr);
	return NULL;
}

static int
svc_node_parse(struct svc *s, const json_t *v, size_t idx, int flags,
    char **cause)
{
	const char	*id;
	char		*addr, where[32];
	json_t		*md;

	if ((addr = svc_node_check(v, idx, flags, &id, cause)) == NULL)
		return -1;
	if (svc_find_node(s, id) != NULL) {
		svc_fail(cause, "node id \"%s\" appears twice", id);
		free(addr);
		return -1;
	}
	snprintf(where, sizeof(where), "node %zu", idx);
	if ((md = svc_string_map(json_object_get(v, "metadata"), where,
	    cause)) == NULL) {
		free(addr);
		return -1;
	}
	svc_add_node(s, id, addr, md, 0, 0);
	free(addr);
	return 0;
}

static int
svc_nodes_parse(struct svc *s, const json_t *v, int flags, char **cause)
{
	const json_t	*elem;
	size_t		 i;

	if (v != NULL && !json_is_null(v) && !json_is_array(v)) {
		svc_fail(cause, "nodes is not an array");
		return -1;
	}
	if ((flags & SVC_NEED_NODES) && json_array_size(v) == 0) {
		svc_fail(cause, "service has no nodes");
		return -1;
	}
	if (json_array_size(v) > SVC_NODES_MAX) {
		svc_fail(cause, "service has more than %d nodes",
		    SVC_NODES_MAX);
		return -1;
	}
	json_array_foreach(v, i, elem) {
		if (svc_node_parse(s, elem, i, flags, cause) == -1)
			return -1;
	}
	return 0;
}

static struct svc *
svc_head_parse(const json_t *root, char **cause)
{
	const char	*name, *version;
	json_t		*md, *eps;

	if (!json_is_object(root))
		return svc_fail(cause, "service JSON is not an object");
	if (svc_string(root, "name", &name) == -1 || *name == '\0')
		return svc_fail(cause, "service has no name");
	if (!svc_valid_name(name))
		return svc_fail(cause, "service name must be 1..%d bytes "
		    "without '/', '\\' or control characters, and not \".\" "
		    "or \"..\"", SVC_NAME_MAX);
	if (svc_string(root, "version", &version) == -1 ||
	    !svc_valid_version(version))
		return svc_fail(cause, "service version must be a string of "
		    "at most %d bytes without control characters",
		    SVC_NAME_MAX);
	if ((md = svc_string_map(json_object_get(root, "metadata"), "service",
	    cause)) == NULL)
		return NULL;
	if ((eps = svc_endpoints(json_object_get(root, "endpoints"),
	    cause)) == NULL) {
		json_decref(md);
		return NULL;
	}
	return svc_new(name, version, md, eps);
}

struct svc *
svc_from_json(const json_t *root, int flags, char **cause)
{
	struct svc	*s;

	if ((s = svc_head_parse(root, cause)) == NULL)
		return NULL;
	if (svc_nodes_parse(s, json_object_get(root, "nodes"), flags,
	    cause) == -1) {
		svc_free(s);
		return NULL;
	}
	return s;
}

struct svc *
svc_parse(const char *text, size_t len, int flags, char **cause)
{
	json_error_t	 jerr;
	json_t		*root;
	struct svc	*s;

	if (len > SVC_JSON_MAX)
		return svc_fail(cause, "service JSON is larger than %d bytes",
		    SVC_JSON_MAX);
	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL)
		return svc_fail(cause, "service JSON is invalid: %s "
		    "(line %d column %d)", jerr.text, jerr.line, jerr.column);
	s = svc_from_json(root, flags, cause);
	json_decref(root);
	return s;
}

char *
svc_app_json(const char *name, const char *address, char **cause)
{
	json_t		*o;
	struct svc	*s;
	char		*id, *text;

	xasprintf(&id, "%s-%s", name, address);
	o = json_pack("{s:s, s:[{s:s, s:s, s:{}}]}", "name", name, "nodes",
	    "id", id, "address", address, "metadata");
	free(id);
	if (o == NULL) {	/* not UTF-8 */
		svc_fail(cause, "app_name or app_address is not UTF-8 text");
		return NULL;
	}
	if ((text = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("%s: out of memory", __func__);
	json_decref(o);
	if ((s = svc_parse(text, strlen(text), SVC_NEED_NODES, cause)) ==
	    NULL) {
		free(text);
		return NULL;
	}
	svc_free(s);
	return text;
}

struct svc *
svc_new(const char *name, const char *version, json_t *metadata,
    json_t *endpoints)
{
	struct svc	*s;

	s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(name);
	s->version = xstrdup(version);
	s->metadata = metadata;
	s->endpoints = endpoints;
	return s;
}

/* Takes the metadata reference. */
void
svc_add_node(struct svc *s, const char *id, const char *address,
    json_t *metadata, uint64_t expires, uint64_t relist)
{
	struct svc_node	*n;

	s->nodes = xrealloc(s->nodes, (s->nnodes + 1) * sizeof(*s->nodes));
	n = &s->nodes[s->nnodes++];
	n->id = xstrdup(id);
	n->address = xstrdup(address);
	n->metadata = metadata;
	n->expires = expires;
	n->relist = relist;
}

static void
svc_node_clear(struct svc_node *n)
{
	free(n->id);
	free(n->address);
	json_decref(n->metadata);
}

static struct svc *
svc_dup(const struct svc *s)
{
	struct svc	*d;
	size_t		 i;

	d = svc_new(s->name, s->version, json_deep_copy(s->metadata),
	    json_deep_copy(s->endpoints));
	for (i = 0; i < s->nnodes; i++)
		svc_add_node(d, s->nodes[i].id, s->nodes[i].address,
		    json_deep_copy(s->nodes[i].metadata), s->nodes[i].expires,
		    s->nodes[i].relist);
	return d;
}

void
svc_free(struct svc *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	for (i = 0; i < s->nnodes; i++)
		svc_node_clear(&s->nodes[i]);
	free(s->nodes);
	free(s->name);
	free(s->version);
	json_decref(s->metadata);
	json_decref(s->endpoints);
	free(s);
}

static json_t *
svc_to_json(const struct svc *s)
{
	json_t	*nodes;
	size_t	 i;

	nodes = json_array();
	for (i = 0; i < s->nnodes; i++)
		json_array_append_new(nodes, json_pack("{s:s, s:s, s:O}",
		    "id", s->nodes[i].id, "address", s->nodes[i].address,
		    "metadata", s->nodes[i].metadata));
	return json_pack("{s:s, s:s, s:O, s:O, s:o}", "name", s->name,
	    "version", s->version, "metadata", s->metadata,
	    "endpoints", s->endpoints, "nodes", nodes);
}

static char *
svc_text(json_t *v)
{
	char	*text;

	if ((text = json_dumps(v, JSON_COMPACT)) == NULL)
		fatalx("json_dumps: out of memory");
	json_decref(v);
	return text;
}

char *
svc_dump(const struct svc *s)
{
	return svc_text(svc_to_json(s));
}

struct svc_node *
svc_find_node(const struct svc *s, const char *id)
{
	size_t	 i;

	for (i = 0; i < s->nnodes; i++) {
		if (strcmp(s->nodes[i].id, id) == 0)
			return &s->nodes[i];
	}
	return NULL;
}

struct svc *
svc_set_find(const struct svc_set *set, const char *version)
{
	size_t	 i;

	for (i = 0; i < set->n; i++) {
		if (strcmp(set->v[i]->version, version) == 0)
			return set->v[i];
	}
	return NULL;
}

static size_t
svc_new_nodes(const struct svc *cur, const struct svc *in)
{
	size_t	 i, n = 0;

	for (i = 0; i < in->nnodes; i++)
		n += svc_find_node(cur, in->nodes[i].id) == NULL;
	return n;
}

int
svc_set_merge(struct svc_set *set, const struct svc *in, char **cause)
{
	struct svc	*cur;
	struct svc_node	*n;
	size_t		 i;

	if ((cur = svc_set_find(set, in->version)) == NULL) {
		if (in->nnodes == 0)
			return 0;	/* a version exists only with nodes */
		set->v = xrealloc(set->v, (set->n + 1) * sizeof(*set->v));
		set->v[set->n++] = svc_dup(in);
		return 0;
	}
	if (cur->nnodes + svc_new_nodes(cur, in) > SVC_NODES_MAX) {
		svc_fail(cause, "service %s version \"%s\" would have more "
		    "than %d nodes", in->name, in->version, SVC_NODES_MAX);
		return -1;
	}
	json_decref(cur->metadata);
	json_decref(cur->endpoints);
	cur->metadata = json_deep_copy(in->metadata);
	cur->endpoints = json_deep_copy(in->endpoints);
	for (i = 0; i < in->nnodes; i++) {
		if ((n = svc_find_node(cur, in->nodes[i].id)) == NULL) {
			svc_add_node(cur, in->nodes[i].id, in->nodes[i].address,
			    json_deep_copy(in->nodes[i].metadata),
			    in->nodes[i].expires, in->nodes[i].relist);
			continue;
		}
		free(n->address);
		json_decref(n->metadata);
		n->address = xstrdup(in->nodes[i].address);
		n->metadata = json_deep_copy(in->nodes[i].metadata);
		n->expires = in->nodes[i].expires;
		n->relist = in->nodes[i].relist;
	}
	return 0;
}

static int
svc_drop_listed(const struct svc *s, const struct svc_node *n, void *arg)
{
	const struct svc	*in = arg;

	return strcmp(s->version, in->version) == 0 &&
	    (in->nnodes == 0 || svc_find_node(in, n->id) != NULL);
}

size_t
svc_set_remove(struct svc_set *set, const struct svc *in)
{
	return svc_set_prune(set, svc_drop_listed, (void *)in);
}

/* Compact the nodes of one version in place; returns how many went. */
static size_t
svc_prune_nodes(struct svc *s, svc_node_pred drop, void *arg)
{
	size_t	 i, kept = 0, n = s->nnodes;

	for (i = 0; i < n; i++) {
		if (drop(s, &s->nodes[i], arg))
			svc_node_clear(&s->nodes[i]);
		else
			s->nodes[kept++] = s->nodes[i];
	}
	s->nnodes = kept;
	return n - kept;
}

size_t
svc_set_prune(struct svc_set *set, svc_node_pred drop, void *arg)
{
	size_t	 i, kept = 0, removed = 0;

	for (i = 0; i < set->n; i++) {
		removed += svc_prune_nodes(set->v[i], drop, arg);
		if (set->v[i]->nnodes == 0)
			svc_free(set->v[i]);
		else
			set->v[kept++] = set->v[i];
	}
	set->n = kept;
	return removed;
}

size_t
svc_set_nodes(const struct svc_set *set)
{
	size_t	 i, n = 0;

	for (i = 0; i < set->n; i++)
		n += set->v[i]->nnodes;
	return n;
}

void
svc_set_copy(struct svc_set *dst, const struct svc_set *src)
{
	size_t	 i;

	dst->n = src->n;
	dst->v = xcalloc(src->n, sizeof(*dst->v));
	for (i = 0; i < src->n; i++)
		dst->v[i] = svc_dup(src->v[i]);
}

void
svc_set_clear(struct svc_set *set)
{
	size_t	 i;

	for (i = 0; i < set->n; i++)
		svc_free(set->v[i]);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

static json_t *
svc_set_to_json(const struct svc_set *set)
{
	json_t	*a;
	size_t	 i;

	a = json_array();
	for (i = 0; i < set->n; i++)
		json_array_append_new(a, svc_to_json(set->v[i]));
	return a;
}

char *
svc_set_dump(const struct svc_set *set)
{
	return svc_text(svc_set_to_json(set));
}
