/*
 * The web role's pieces (workers/web.c puts them in its route table):
 * each handler takes the worker and a request it must answer.
 */
#ifndef MICRO_WEB_WEB_H
#define MICRO_WEB_WEB_H

/* The id in the role's error JSON. */
#define WEB_ID	"go.micro.web"

struct http_request;
struct json_t;
struct proxy;
struct rpc_client;
struct web_live;
struct worker;

/* The role's state (worker.role_data). */
struct web {
	struct web_live		*live;
	struct rpc_client	*rpc;
	struct proxy		*proxy;		/* web apps: /NAME/... */
};

/* web/pages.c: the server-rendered lists. */
void	 web_pages_services(struct worker *, struct http_request *);
void	 web_pages_workers(struct worker *, struct http_request *);
void	 web_pages_apps(struct worker *, struct http_request *);
/* web/registry.c: GET /registry[?service=NAME], HTML or JSON. */
void	 web_registry(struct worker *, struct http_request *);
/* web/service.c: one service's page (HTML). */
void	 web_service_page(struct worker *, struct http_request *,
	    const char *);
/* The service's versions (JSON array, decref it); NULL if unknown. */
struct json_t	*web_service_versions(struct worker *, const char *);
/* web/call.c: GET /call[?service=&endpoint=]. */
void	 web_call_page(struct worker *, struct http_request *);
/* web/metrics.c: GET /metrics. */
void	 web_metrics(struct worker *, struct http_request *);
/* web/assets.c: GET /assets/NAME. */
void	 web_assets_serve(struct worker *, struct http_request *);
/* web/live.c: GET /events, the server-sent-events feed. */
int	 web_live_init(struct worker *);
void	 web_live_free(struct web_live *);
void	 web_live_drain(struct web_live *);
void	 web_live_events(struct worker *, struct http_request *);

/* 404 as a page: a browser asked for something that is not there. */
void	 web_not_found(struct http_request *, const char *);

#endif
