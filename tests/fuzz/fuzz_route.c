/*
 * The gateway's and proxies' reading of a request path (rpc/route.c):
 * "namespace\npath", or a path alone under go.micro.api.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "rpc/route.h"
#include "util.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*text = xstrndup((const char *)data, size), *path;
	const char	*ns = "go.micro.api", *cause;
	char		 name[ROUTE_NAME_MAX];
	struct route	 r;

	if ((path = strchr(text, '\n')) != NULL) {
		*path++ = '\0';
		ns = text;
	} else
		path = text;
	route_from_path(ns, path, &r, &cause);
	route_proxy_service(ns, path, name, sizeof(name), &cause);
	route_has_dot_segment(path);
	route_valid_proxy_name(path, strlen(path));
	free(text);
	return 0;
}
