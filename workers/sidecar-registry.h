/* The sidecar's registry API: GET, POST and DELETE /registry. */
#ifndef MICRO_SIDECAR_REGISTRY_H
#define MICRO_SIDECAR_REGISTRY_H

struct http_request;
struct worker;

void	 sidecar_registry_get(struct worker *, struct http_request *);
void	 sidecar_registry_post(struct worker *, struct http_request *);
void	 sidecar_registry_delete(struct worker *, struct http_request *);

#endif
