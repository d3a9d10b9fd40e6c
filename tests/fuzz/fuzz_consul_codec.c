/*
 * What the Consul registry plugin reads (plugins/consul-codec.c): the
 * input is an answer of /v1/catalog/services or /v1/health/service/greeter
 * (tags in go-micro's zlib encoding), a tag of its own, an X-Consul-Index
 * header, or a Service JSON to register. What decodes must round-trip:
 * the Services a health answer gives carry the name asked for, and a tag
 * encoded again decodes to the same text.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "plugins/consul-codec.h"
#include "util.h"

#define FUZZ_CONSUL_NAME	"greeter"

static void
fuzz_consul_tag(const char *s)
{
	static const char	 kinds[] = "vet";
	char			*text, *tag, *again;
	size_t			 i;

	for (i = 0; i < sizeof(kinds) - 1; i++) {
		if ((text = consul_tag_decode(s, kinds[i])) == NULL)
			continue;
		if (strlen(text) > CONSUL_TAG_MAX)
			fatalx("consul: tag decodes past CONSUL_TAG_MAX");
		tag = consul_tag_encode(kinds[i], text);
		if ((again = consul_tag_decode(tag, kinds[i])) == NULL ||
		    strcmp(again, text) != 0)
			fatalx("consul: tag does not round-trip: %s", tag);
		free(again);
		free(tag);
		free(text);
	}
}

static void
fuzz_consul_health(const uint8_t *data, size_t size)
{
	json_t		*out, *svc;
	const char	*name;
	char		*cause;
	size_t		 skipped, i;

	if ((out = consul_parse_health((const char *)data, size,
	    FUZZ_CONSUL_NAME, &skipped, &cause)) == NULL) {
		free(cause);
		return;
	}
	json_array_foreach(out, i, svc) {
		name = json_string_value(json_object_get(svc, "name"));
		if (name == NULL || strcmp(name, FUZZ_CONSUL_NAME) != 0 ||
		    !json_is_string(json_object_get(svc, "version")) ||
		    !json_is_array(json_object_get(svc, "nodes")))
			fatalx("consul: health gave a malformed Service");
	}
	json_decref(out);
}

static void
fuzz_consul_body(const char *id, char *body, void *arg)
{
	json_t	*j;

	if ((j = json_loads(body, 0, NULL)) == NULL)
		fatalx("consul: register body for %s is not JSON", id);
	json_decref(j);
	free(body);
}

static void
fuzz_consul_id(const char *id, void *arg)
{
	if (id == NULL)
		fatalx("consul: NULL node id");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	*names;
	char	*s, *cause;

	if ((names = consul_parse_catalog((const char *)data, size,
	    &cause)) == NULL)
		free(cause);
	json_decref(names);
	fuzz_consul_health(data, size);

	/* As text: a tag, a header, a Service JSON. */
	s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_consul_tag(s);
	(void)consul_index_next(0, s);
	(void)consul_index_next(1000, s);
	if (consul_register_each(s, 10000, fuzz_consul_body, NULL,
	    &cause) == -1)
		free(cause);
	if (consul_ids_each(s, fuzz_consul_id, NULL, &cause) == -1)
		free(cause);
	free(s);
	return 0;
}
