#include "config.h"

#include <event2/buffer.h>

#include "shm/registry.h"
#include "shm/services-json.h"

struct services_json {
	struct evbuffer	*out;
	int		 first;
};

static int
services_json_add(const struct shm_service *svc, void *arg)
{
	struct services_json	*sj = arg;
	const char		*s = svc->json;
	size_t			 len = svc->json_len;

	/* A record is "[v1,v2...]": splice its elements in. */
	if (len <= 2 || s[0] != '[' || s[len - 1] != ']')
		return 0;
	if (!sj->first)
		evbuffer_add(sj->out, ",", 1);
	sj->first = 0;
	evbuffer_add(sj->out, s + 1, len - 2);
	return 0;
}

void
shm_services_json(struct shm *shm, unsigned slot, struct evbuffer *out)
{
	struct services_json	 sj = { out, 1 };

	evbuffer_add(out, "[", 1);
	shm_read_begin(shm, slot);
	shm_foreach(shm, services_json_add, &sj);
	shm_read_end(shm);
	evbuffer_add(out, "]", 1);
}

int
shm_service_json(struct shm *shm, unsigned slot, const char *name,
    size_t len, struct evbuffer *out)
{
	struct shm_service	 svc;
	int			 rc;

	shm_read_begin(shm, slot);
	if ((rc = shm_lookup(shm, name, len, &svc)) == 0)
		evbuffer_add(out, svc.json, svc.json_len);
	shm_read_end(shm);
	return rc;
}
