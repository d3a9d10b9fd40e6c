/*
 * The api handler's exchange with API services (rpc/apireq.c): the
 * input as an api.Response a service returns, and as the query and body
 * of a request to encode. Headers a service sets must not be able to
 * split the reply's head.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"
#include "http-int.h"
#include "log.h"
#include "rpc/apireq.h"
#include "util.h"

static void
fuzz_apireq_header(const char *name, const char *value, void *arg)
{
	if (!http_token_chars(name, strlen(name)) ||
	    strpbrk(value, "\r\n") != NULL)
		fatalx("apireq: header that splits the head");
}

static void
fuzz_apireq_encode(const char *query, const uint8_t *body, size_t size,
    const char *ctype)
{
	struct apireq_in	 in;
	struct http_headers	*h = http_headers_new();
	const char		*cause;
	size_t			 len;

	http_headers_add(h, "content-type", ctype);
	memset(&in, 0, sizeof(in));
	in.method = "POST";
	in.path = "/greeter/hello";
	in.url = "/greeter/hello?a=1";
	in.query = query;
	in.headers = h;
	in.content_type = ctype;
	in.body = (const char *)body;
	in.body_len = size;
	free(apireq_encode(&in, &len, &cause));
	http_headers_free(h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct apireq_rsp	 rsp;
	const char		*cause;
	char			*text = xstrndup((const char *)data, size);
	size_t			 len;

	if (apireq_response_parse((const char *)data, size, &rsp,
	    &cause) == 0) {
		apireq_response_headers(&rsp, fuzz_apireq_header, NULL);
		apireq_response_free(&rsp);
	}
	free(apireq_query_object(text, &len, &cause));
	fuzz_apireq_encode(text, data, size,
	    "application/x-www-form-urlencoded");
	fuzz_apireq_encode(text, data, size, "text/plain");
	free(text);
	return 0;
}
