/*
 * microd configuration: an INI file (inih) with MICRO_* environment
 * overrides and defaults that run without any file. Parsing is table driven
 * (conf.c); every key, its section and its type live in one table.
 */
#ifndef MICRO_CONF_H
#define MICRO_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

enum role_id {
	ROLE_REGISTRY,
	ROLE_API,
	ROLE_WEB,
	ROLE_SIDECAR,
	ROLE_BROKER,
	ROLE_COUNT
};

#define CONFIG_STR_MAX		256
#define CONFIG_WORKERS_MAX	32

/* What every listening role has. */
struct config_listen {
	char		 listen[CONFIG_STR_MAX];	/* host:port, port 0 ok */
	unsigned	 workers;
	uint64_t	 read_timeout_ms;	/* whole request head+body */
	uint64_t	 idle_timeout_ms;	/* keep-alive between requests */
	size_t		 max_header_size;
	size_t		 max_body_size;
	unsigned	 max_connections;	/* per worker */
	char		 namespace[CONFIG_STR_MAX];
};

struct config {
	char		 path[CONFIG_STR_MAX];	/* "" when defaults only */

	/* [microd] */
	char		 socket[CONFIG_STR_MAX];
	char		 state_dir[CONFIG_STR_MAX];
	char		 user[CONFIG_STR_MAX];
	enum log_level	 log_level;
	size_t		 shm_size;
	uint64_t	 shutdown_timeout_ms;	/* graceful stop, then SIGKILL */

	/*
	 * [registry]: a reload that changes one restarts the registry worker
	 * (proc_registry_conf_changed names each: so must a new key).
	 */
	char		 registry_backend[CONFIG_STR_MAX];	/* local|etcd|consul */
	char		 registry_address[CONFIG_STR_MAX];
	char		 registry_prefix[CONFIG_STR_MAX];
	uint64_t	 registry_ttl_ms;	/* default registration TTL */
	char		 registry_username[CONFIG_STR_MAX];
	char		 registry_password[CONFIG_STR_MAX];
	char		 registry_token[CONFIG_STR_MAX];
	char		 registry_tls_ca[CONFIG_STR_MAX];
	char		 registry_tls_cert[CONFIG_STR_MAX];
	char		 registry_tls_key[CONFIG_STR_MAX];

	/* one per role; roles[ROLE_REGISTRY].workers is always 1 */
	struct config_listen roles[ROLE_COUNT];

	/* [api] */
	char		 api_handler[CONFIG_STR_MAX];	/* api|rpc|proxy */
	int		 api_rpc;			/* POST /rpc on/off */
	char		 api_cors[CONFIG_STR_MAX];	/* "" = off */
	char		 api_selector[CONFIG_STR_MAX];	/* random|roundrobin|leastconn */
	uint64_t	 api_request_timeout_ms;
	uint64_t	 api_connect_timeout_ms;

	/* [sidecar] */
	char		 sidecar_app_name[CONFIG_STR_MAX];
	char		 sidecar_app_address[CONFIG_STR_MAX];
	char		 sidecar_healthcheck_url[CONFIG_STR_MAX];
	uint64_t	 sidecar_healthcheck_interval_ms;

	/* [broker] */
	char		 broker_backend[CONFIG_STR_MAX];	/* builtin|nats */
	char		 broker_address[CONFIG_STR_MAX];
	size_t		 broker_max_message;
	size_t		 broker_queue_size;	/* per subscriber */
};

/*
 * Load defaults, then the file (if path is not NULL), then the environment.
 * A file that does not exist is an error only when explicit is set.
 * Returns -1 with every error appended to errbuf as "file:line: message\n".
 */
int	 config_load(struct config *, const char *path, int explicit,
	    char *errbuf, size_t errlen);
const char *config_role_name(enum role_id);
int	 config_role_lookup(const char *, enum role_id *);

#endif
