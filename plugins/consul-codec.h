/*
 * go-micro's Consul registry encoding and Consul's HTTP API answers, pure
 * functions (tests/unit/test_consul_codec.c). A go-micro node is one
 * Consul service: ID = node id, Name = service name, Address and Port
 * from the node address, and tags carrying what Consul has no field for:
 * "v-" hex(zlib(version)), "e-" hex(zlib(json(endpoint))) per endpoint,
 * "t-" hex(zlib(json(node metadata))), no Consul "Meta".
 */
#ifndef MICRO_PLUGINS_CONSUL_CODEC_H
#define MICRO_PLUGINS_CONSUL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CONSUL_TAG_MAX	(64 * 1024)	/* decoded bytes of one tag */

/* "<c>-" hex(zlib(text)), allocated. */
char	*consul_tag_encode(char, const char *);
/*
 * The text of a "<c>-" tag, or of an old plain "<c>=" one (go-micro still
 * reads those), allocated; NULL if not one or corrupt.
 */
char	*consul_tag_decode(const char *, char);

/*
 * The /v1/agent/service/register body for each node of a Service JSON:
 * cb gets the node id and the body (allocated). TTL check "service:<id>".
 * Returns -1 with an allocated *cause for a bad Service.
 */
int	 consul_register_each(const char *, uint64_t,
	    void (*)(const char *, char *, void *), void *, char **);
/* The node ids of a Service JSON (for deregistration). */
int	 consul_ids_each(const char *, void (*)(const char *, void *), void *,
	    char **);

/* /v1/catalog/services: the service names, a JSON array (new ref). */
json_t	*consul_parse_catalog(const char *, size_t, char **);
/*
 * /v1/health/service/<name>: the go-micro Services it describes, one per
 * version (a JSON array, new ref). Entries with a critical check, or of
 * another name (Consul matches it ignoring case), are dropped. A tag that
 * does not decode is skipped, not its node, and counted in *skipped; "t"
 * tags are merged, "Meta" read only without one. Nodes are as Consul
 * lists them: consul_health_vet tells those the core would refuse.
 */
json_t	*consul_parse_health(const char *, size_t, const char *, size_t *,
	    char **);
/*
 * Leave out of consul_parse_health's services every node the registry
 * core would refuse (no port, an address that is not host:port, an ID it
 * does not take or listed twice for a version), and versions left with
 * none: the core takes a version whole or not at all, and one such entry
 * must not cost the others theirs. refused (an object) gets node ID:
 * reason for each.
 */
void	 consul_health_vet(json_t *, json_t *);

/*
 * The index for the next blocking query after an answer carrying got
 * (X-Consul-Index, 0 if absent or unparsable): Consul's rules, reset to 0
 * when it goes backwards, and never 0 in the loop itself.
 */
uint64_t consul_index_next(uint64_t, const char *);

#endif
