/*
 * The etcd v3 JSON gateway's wire format (doc/plugins.md): request bodies
 * built and responses parsed, pure functions with no I/O, so hostile input
 * is tested on its own (tests/unit/test_etcd_stream.c). Keys and values
 * travel base64-encoded, 64-bit integers as JSON strings, and a watch
 * answers with a stream of JSON objects each followed by a newline.
 */
#ifndef MICRO_PLUGINS_ETCD_PROTO_H
#define MICRO_PLUGINS_ETCD_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ETCD_LINE_MAX	(8 * 1024 * 1024)	/* one watch message */
/* Keys per range request at first: a page of typical values stays far
   below the HTTP body limit (curlev.c), however many services there are. */
#define ETCD_RANGE_PAGE	500

enum etcd_event_type {
	ETCD_PUT,
	ETCD_DELETE,
	ETCD_UNUSABLE,	/* empty key, or a NUL byte: skipped, not fatal */
};

struct etcd_event {
	enum etcd_event_type	 type;
	char			*key;		/* decoded, NUL-terminated */
	size_t			 keylen;	/* NULs included */
	char			*value;		/* decoded, NUL-terminated */
	size_t			 valuelen;
	int64_t			 mod_revision;
	int64_t			 lease;		/* 0: none */
};

/* A range response or one watch message. */
#define ETCD_CLUSTER_MAX	24	/* a uint64 in decimal, and NUL */

struct etcd_batch {
	int64_t			 revision;	/* header.revision, 0 if none */
	char			 cluster[ETCD_CLUSTER_MAX]; /* "" if none */
	int			 created;
	int			 more;		/* a range: keys past this page */
	int			 canceled;
	int64_t			 compact_revision;
	char			*error;		/* error or cancel reason */
	struct etcd_event	*ev;
	size_t			 nev;
};

/* Bytes of a stream not yet ending in a newline. */
struct etcd_lines {
	char	*buf;
	size_t	 len;
	size_t	 size;
};

char	*etcd_b64_encode(const char *, size_t);
/* Returns NULL on bad base64; the result is NUL-terminated. */
char	*etcd_b64_decode(const char *, size_t *);

/* Request bodies, allocated. */
/*
 * One page of the keys under prefix: from the first, or after the key
 * given, at revision (0: the current one).
 */
char	*etcd_req_range(const char *, const char *, size_t, int64_t,
	    int64_t);
char	*etcd_req_watch(const char *, int64_t);
/* A linearizable read of no data: is the member there, with a leader? */
char	*etcd_req_probe(const char *);
char	*etcd_req_put(const char *, const char *, int64_t);
char	*etcd_req_delete(const char *);
char	*etcd_req_grant(int64_t);
char	*etcd_req_lease(int64_t);
char	*etcd_req_auth(const char *, const char *);

/*
 * Split the stream into lines: cb gets each complete line (without the
 * newline). Returns -1 with a static *cause when a line exceeds
 * ETCD_LINE_MAX, or whatever -1 cb returned.
 */
int	 etcd_lines_feed(struct etcd_lines *, const char *, size_t,
	    int (*)(const char *, size_t, void *), void *, const char **);
void	 etcd_lines_clear(struct etcd_lines *);

/* Returns -1 with an allocated *cause; the batch is then empty. */
int	 etcd_parse_range(const char *, size_t, struct etcd_batch *, char **);
int	 etcd_parse_watch(const char *, size_t, struct etcd_batch *, char **);
void	 etcd_batch_clear(struct etcd_batch *);
/* Lease grant and keepalive: ID and TTL (0 once the lease is gone). */
int	 etcd_parse_lease(const char *, size_t, int64_t *, int64_t *, char **);
/* Returns the token, allocated, or NULL with *cause. */
char	*etcd_parse_auth(const char *, size_t, char **);
/* The message of an error answer, allocated; never NULL. */
char	*etcd_parse_error(const char *, size_t);

/*
 * The service name and node id of a key under prefix (which ends in '/'),
 * allocated. Returns -1 for a key of another shape.
 */
int	 etcd_key_split(const char *, const char *, char **, char **);
/*
 * Whether a value is what its key names: a Service object of that name
 * holding one node, of that id (what go-micro and microd write).
 */
int	 etcd_value_is_node(const char *, size_t, const char *, const char *);
/*
 * A node object in go-plugins' 2016 form, in place: "address" the host
 * alone and "port" an integer (the /micro-registry/ layout).
 */
void	 etcd_node_2016(json_t *);

#endif
