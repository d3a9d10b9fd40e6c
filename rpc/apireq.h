/*
 * go-micro's api.Request and api.Response (api.proto) in their JSON form,
 * as micro's "api" handler exchanges them with API services:
 *
 *   Request  {"method","path","header":{K:{"key":K,"values":[..]}},
 *             "get":{..},"post":{..},"body":"..","url":".."}
 *   Response {"statusCode":N,"header":{K:{"key":K,"values":[..]}},
 *             "body":".."}			statusCode 0 means 200
 *
 * Header names are written in Go's canonical form (Content-Type), since
 * services written against net/http look them up that way.
 */
#ifndef MICRO_RPC_APIREQ_H
#define MICRO_RPC_APIREQ_H

#include <stddef.h>

#include <jansson.h>

/* Go's net/url refuses a query or form of more (CVE-2025-61726). */
#define APIREQ_MAX_PARAMS	10000

struct http_headers;

struct apireq_in {
	const char			*method;
	const char			*path;
	const char			*query;		/* NULL: none */
	const char			*url;		/* the request target */
	const struct http_headers	*headers;
	const char			*content_type;	/* NULL: none */
	const char			*body;
	size_t				 body_len;
	size_t				 max_len;	/* body part; 0: any */
};

/*
 * The api.Request JSON text (allocated, *len bytes). A form body
 * (application/x-www-form-urlencoded) fills "post"; any other body goes
 * into "body" and must be UTF-8 text. Returns NULL, a static *cause and
 * *len 0 on a badly encoded query or form, one of more than
 * APIREQ_MAX_PARAMS parameters, or a body that is not text. A body whose
 * part of the text ("body" escaped, or "post") would pass max_len is
 * refused before the text is built: NULL, *cause, and *len that part's
 * size, over max_len.
 */
char	*apireq_encode(const struct apireq_in *, size_t *len,
	    const char **cause);

/*
 * A query string as a JSON object, for the "rpc" handler's GET requests:
 * a=1&b=x&b=y -> {"a":"1","b":["x","y"]}. NULL and *cause if badly encoded.
 */
char	*apireq_query_object(const char *, size_t *len, const char **cause);

struct apireq_rsp {
	json_t		*root;
	int		 status;
	const char	*body;		/* inside root */
	size_t		 body_len;
};

/* Parse an api.Response; -1 and a static *cause if it is not one. */
int	 apireq_response_parse(const char *, size_t, struct apireq_rsp *,
	    const char **cause);
/* Every (name, value) of the response header, in order. */
void	 apireq_response_headers(const struct apireq_rsp *,
	    void (*)(const char *, const char *, void *), void *);
void	 apireq_response_free(struct apireq_rsp *);

/* Go's textproto.CanonicalMIMEHeaderKey, in place: "x-foo-bar" -> "X-Foo-Bar". */
void	 apireq_canonical_key(char *);

#endif
