/*
 * The sidecar's app health check ([sidecar] app_name, app_address,
 * healthcheck_url, healthcheck_interval): GET the URL every interval; while
 * it answers 200 the app is registered (and re-registered each time, with a
 * TTL of three intervals, so a dead sidecar lets it expire); on anything
 * else, or no status line within the interval, it is deregistered, from
 * the first check on (a worker before this one may have registered it).
 * Only the status counts: the body is not read. Only the first sidecar
 * worker checks, so the app is registered once however many workers run.
 * A reload that changes or removes the app retires it in the older
 * generations' workers: no longer checked, deregistered at once. One that
 * keeps it hands it over: they stop checking and leave the node to the
 * new generation, which checks it with its own URL and interval.
 */
#ifndef MICRO_SIDECAR_HEALTH_H
#define MICRO_SIDECAR_HEALTH_H

struct ctl_msg;
struct worker;

/* 0 when the check is off (no app_name) or started; -1 on bad config. */
int	 sidecar_health_init(struct worker *);
void	 sidecar_health_shutdown(struct worker *);
/*
 * The master's "app" {"name","address"}, sent on a reload: the app the new
 * configuration checks (an empty name: none). Another one than this
 * worker's retires its app; the same one is handed over.
 */
void	 sidecar_health_app(struct worker *, const struct ctl_msg *);
/* A retired app's deregistration is not done yet: hold the drain. */
int	 sidecar_health_busy(struct worker *);

#endif
