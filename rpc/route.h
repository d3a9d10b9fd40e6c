/*
 * go-micro's HTTP path -> service/method mapping (micro's api "pathToReceiver"
 * with go-micro v1's camel-casing), and the proxy's service name rule.
 * Pure string code: names are checked here so that nothing a client sends
 * can reach a service call or a registry lookup unvalidated.
 */
#ifndef MICRO_RPC_ROUTE_H
#define MICRO_RPC_ROUTE_H

#include <stddef.h>

#define ROUTE_NAME_MAX		256	/* service or method, NUL included */
#define ROUTE_SEGMENT_MAX	64	/* path segments considered */

struct route {
	char	 service[ROUTE_NAME_MAX];
	char	 method[ROUTE_NAME_MAX];
};

/*
 * Map path (no query) under namespace ns:
 *   /greeter/say/hello -> ns.greeter  Say.Hello
 *   /greeter/hello     -> ns.greeter  Greeter.Hello
 *   /foo/bar/baz/cat   -> ns.foo.bar  Baz.Cat
 *   /v1/foo/bar        -> ns.v1.foo   Foo.Bar
 *   say-hi             -> SayHi
 * Segments must be non-empty [a-zA-Z0-9-] (one trailing '/' is allowed).
 * Returns -1 and a static *cause for anything else.
 */
int	 route_from_path(const char *ns, const char *path, struct route *,
	    const char **cause);

/*
 * The proxy's target: /NAME/... -> ns.NAME, /vN/NAME/... -> ns.vN.NAME,
 * NAME matching ^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$. Returns -1 and *cause.
 */
int	 route_proxy_service(const char *ns, const char *path, char *, size_t,
	    const char **cause);

/*
 * 1 if the path holds a "." or ".." segment, dots or separators written
 * plainly or percent-encoded, parameters (";...") aside; a backslash
 * separates too (nodes on Windows split on it). Browsers resolve dot segments before they send, so such a
 * path was crafted to reach above /NAME/ on a node: the proxies refuse it.
 */
int	 route_has_dot_segment(const char *);

/* 1 if the name matches ^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$. */
int	 route_valid_proxy_name(const char *, size_t);

#endif
