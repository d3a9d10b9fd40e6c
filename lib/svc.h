/*
 * The go-micro registry.Service model (DESIGN.md §3, doc/registry.md):
 * parsing and validating Service JSON, writing it back in the canonical
 * null-free form, and go-micro's registry semantics over the versions of
 * one service name. Pure code (no I/O, no clocks): the registry worker,
 * the api, sidecar and web roles share it.
 */
#ifndef MICRO_SVC_H
#define MICRO_SVC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SVC_JSON_MAX	(64 * 1024)	/* bytes of one Service JSON */
#define SVC_NODES_MAX	1024		/* nodes of one service version */
#define SVC_NAME_MAX	255		/* name, version and node id */

/* svc_parse() flags. */
#define SVC_NEED_NODES	0x1	/* a registration: at least one node */
#define SVC_IDS_ONLY	0x2	/* a deregistration: node addresses optional */

struct svc_node {
	char		*id;
	char		*address;	/* "host:port" */
	json_t		*metadata;	/* object of strings */

	/* Kept by the registry core; not part of the JSON form. */
	uint64_t	 expires;	/* util_now_ms() deadline, 0: never */
	/* 0: registered here; else the backend relist it was last seen in */
	uint64_t	 relist;
};

/* One version of one service. */
struct svc {
	char		*name;
	char		*version;	/* "" when the JSON has none */
	json_t		*metadata;	/* object of strings */
	json_t		*endpoints;	/* array of canonical endpoints */
	struct svc_node	*nodes;
	size_t		 nnodes;
};

/* Every version of one service name. */
struct svc_set {
	struct svc	**v;
	size_t		  n;
};

/*
 * Parse and validate Service JSON text; null maps and arrays become empty
 * ones and the 2016 {"address":"host","port":N} node form becomes
 * "host:port". Returns NULL and an allocated one-line *cause on bad input.
 */
struct svc	*svc_parse(const char *, size_t, int, char **);
struct svc	*svc_from_json(const json_t *, int, char **);
/* Build a version from parts already in canonical form (the store). */
struct svc	*svc_new(const char *, const char *, json_t *, json_t *);
void		 svc_add_node(struct svc *, const char *, const char *,
		    json_t *, uint64_t, uint64_t);
void		 svc_free(struct svc *);
/* Compact JSON text, allocated. */
char		*svc_dump(const struct svc *);
struct svc_node	*svc_find_node(const struct svc *, const char *);
int		 svc_valid_name(const char *);
/*
 * Why a version parsed would refuse node v (go-micro Node JSON), the
 * idx-th of its nodes, allocated; NULL if it would take it. A plugin
 * leaves such a node out alone rather than lose the version with it.
 */
char		*svc_node_refusal(const json_t *, size_t);
/*
 * The Service JSON of one app node (id "name-address"), as the sidecar
 * registers a [sidecar] app: allocated, or NULL and *cause if name or
 * address would be refused.
 */
char		*svc_app_json(const char *, const char *, char **);

/*
 * Register: the version of in replaces its metadata and endpoints, each of
 * its nodes is added or replaced (expires and relist included). Returns -1
 * with *cause if the version would exceed SVC_NODES_MAX; set is unchanged.
 */
int		 svc_set_merge(struct svc_set *, const struct svc *, char **);
/*
 * Deregister: remove the listed nodes of in's version (every node when in
 * lists none). A version left without nodes disappears. Returns the
 * number of nodes removed.
 */
size_t		 svc_set_remove(struct svc_set *, const struct svc *);
/* Remove every node for which drop() is true; empty versions go too. */
typedef int (*svc_node_pred)(const struct svc *, const struct svc_node *,
	    void *);
size_t		 svc_set_prune(struct svc_set *, svc_node_pred, void *);
struct svc	*svc_set_find(const struct svc_set *, const char *);
size_t		 svc_set_nodes(const struct svc_set *);
void		 svc_set_copy(struct svc_set *, const struct svc_set *);
void		 svc_set_clear(struct svc_set *);
/* The JSON array of every version, as GET /registry?service= answers. */
char		*svc_set_dump(const struct svc_set *);

#endif
