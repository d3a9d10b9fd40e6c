/*
 * Configuration. One table names every key: its section, type and where it
 * lands in struct config. The same table serves the INI file, the MICRO_*
 * environment overrides and `microd -t`.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "broker/ring.h"
#include "http.h"
#include "microd/conf.h"
#include "svc.h"
#include "util.h"

/* Every duration: 30 days, far from overflowing a deadline. */
#define CONFIG_DURATION_MAX	(720ULL * 3600 * 1000)

enum config_type {
	CT_STR,
	CT_UINT,
	CT_SIZE,
	CT_DURATION,
	CT_BOOL,
	CT_LOGLEVEL,
	CT_ADDR,
};

struct config_key {
	const char	*section;	/* NULL: every listening role */
	const char	*name;
	enum config_type type;
	size_t		 offset;	/* into struct config or config_listen */
	const char	*choices;	/* CT_STR: "a|b|c", or NULL */
	uint64_t	 max;		/* CT_UINT/CT_SIZE upper bound, 0 = none */
};

#define C(f)	offsetof(struct config, f)
#define L(f)	offsetof(struct config_listen, f)

static const struct config_key config_keys[] = {
	{ "microd", "socket", CT_STR, C(socket), NULL, 0 },
	{ "microd", "state_dir", CT_STR, C(state_dir), NULL, 0 },
	{ "microd", "user", CT_STR, C(user), NULL, 0 },
	{ "microd", "log_level", CT_LOGLEVEL, C(log_level), NULL, 0 },
	{ "microd", "shm_size", CT_SIZE, C(shm_size), NULL, 1ULL << 32 },
	{ "microd", "shutdown_timeout", CT_DURATION, C(shutdown_timeout_ms),
	    NULL, 0 },

	{ "registry", "backend", CT_STR, C(registry_backend),
	    "local|etcd|consul", 0 },
	{ "registry", "address", CT_STR, C(registry_address), NULL, 0 },
	{ "registry", "prefix", CT_STR, C(registry_prefix), NULL, 0 },
	{ "registry", "ttl", CT_DURATION, C(registry_ttl_ms), NULL, 0 },
	{ "registry", "username", CT_STR, C(registry_username), NULL, 0 },
	{ "registry", "password", CT_STR, C(registry_password), NULL, 0 },
	{ "registry", "token", CT_STR, C(registry_token), NULL, 0 },
	{ "registry", "tls_ca", CT_STR, C(registry_tls_ca), NULL, 0 },
	{ "registry", "tls_cert", CT_STR, C(registry_tls_cert), NULL, 0 },
	{ "registry", "tls_key", CT_STR, C(registry_tls_key), NULL, 0 },

	{ NULL, "listen", CT_ADDR, L(listen), NULL, 0 },
	{ NULL, "workers", CT_UINT, L(workers), NULL, CONFIG_WORKERS_MAX },
	{ NULL, "read_timeout", CT_DURATION, L(read_timeout_ms), NULL, 0 },
	{ NULL, "idle_timeout", CT_DURATION, L(idle_timeout_ms), NULL, 0 },
	{ NULL, "max_header_size", CT_SIZE, L(max_header_size), NULL,
	    1U << 20 },
	{ NULL, "max_body_size", CT_SIZE, L(max_body_size), NULL, 1ULL << 30 },
	{ NULL, "max_connections", CT_UINT, L(max_connections), NULL,
	    1U << 20 },
	{ NULL, "namespace", CT_STR, L(namespace), NULL, 0 },

	{ "api", "handler", CT_STR, C(api_handler), "api|rpc|proxy", 0 },
	{ "api", "rpc", CT_BOOL, C(api_rpc), NULL, 0 },
	{ "api", "cors", CT_STR, C(api_cors), NULL, 0 },
	{ "api", "selector", CT_STR, C(api_selector),
	    "random|roundrobin|leastconn", 0 },
	{ "api", "request_timeout", CT_DURATION, C(api_request_timeout_ms),
	    NULL, 0 },
	{ "api", "connect_timeout", CT_DURATION, C(api_connect_timeout_ms),
	    NULL, 0 },

	{ "sidecar", "app_name", CT_STR, C(sidecar_app_name), NULL, 0 },
	{ "sidecar", "app_address", CT_STR, C(sidecar_app_address), NULL, 0 },
	{ "sidecar", "healthcheck_url", CT_STR, C(sidecar_healthcheck_url),
	    NULL, 0 },
	{ "sidecar", "healthcheck_interval", CT_DURATION,
	    C(sidecar_healthcheck_interval_ms), NULL, 0 },

	{ "broker", "backend", CT_STR, C(broker_backend), "builtin|nats", 0 },
	{ "broker", "address", CT_STR, C(broker_address), NULL, 0 },
	{ "broker", "max_message", CT_SIZE, C(broker_max_message), NULL,
	    1ULL << 30 },
	{ "broker", "queue_size", CT_SIZE, C(broker_queue_size), NULL,
	    1ULL << 30 },
};

/* Micro's own spellings, kept for people coming from micro. */
static const struct {
	const char	*env;
	const char	*section;
	const char	*key;
} config_env_aliases[] = {
	{ "MICRO_REGISTRY", "registry", "backend" },
	{ "MICRO_API_ADDRESS", "api", "listen" },
	{ "MICRO_WEB_ADDRESS", "web", "listen" },
	{ "MICRO_SIDECAR_ADDRESS", "sidecar", "listen" },
	{ "MICRO_BROKER_ADDRESS", "broker", "listen" },
	{ "MICRO_API_HANDLER", "api", "handler" },
	{ "MICRO_API_NAMESPACE", "api", "namespace" },
};

static const char *config_role_names[ROLE_COUNT] = {
	[ROLE_REGISTRY] = "registry",
	[ROLE_API] = "api",
	[ROLE_WEB] = "web",
	[ROLE_SIDECAR] = "sidecar",
	[ROLE_BROKER] = "broker",
};

struct config_parse {
	struct config	*conf;
	const char	*file;
	char		*errbuf;
	size_t		 errlen;
	int		 errors;
	FILE		*f;
	int		 line;		/* of the line inih last read */
};

const char *
config_role_name(enum role_id id)
{
	return config_role_names[id];
}

int
config_role_lookup(const char *name, enum role_id *id)
{
	int	 i;

	for (i = 0; i < ROLE_COUNT; i++) {
		if (strcmp(name, config_role_names[i]) == 0) {
			*id = i;
			return 0;
		}
	}
	return -1;
}

static void
config_listen_defaults(struct config_listen *l, const char *listen,
    unsigned workers, const char *namespace)
{
	snprintf(l->listen, sizeof(l->listen), "%s", listen);
	snprintf(l->namespace, sizeof(l->namespace), "%s", namespace);
	l->workers = workers;
	l->read_timeout_ms = 30000;
	l->idle_timeout_ms = 60000;
	l->max_header_size = 32 * 1024;
	l->max_body_size = 4 * 1024 * 1024;
	l->max_connections = 4096;
}

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->socket, sizeof(c->socket), "%s/microd/microd.sock",
	    RUNSTATEDIR);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s/lib/microd",
	    LOCALSTATEDIR);
	c->log_level = LOG_LEVEL_INFO;
	c->shm_size = 64 * 1024 * 1024;
	c->shutdown_timeout_ms = 10000;

	snprintf(c->registry_backend, sizeof(c->registry_backend), "local");
	snprintf(c->registry_prefix, sizeof(c->registry_prefix),
	    "/micro/registry/");
	c->registry_ttl_ms = 90000;

	config_listen_defaults(&c->roles[ROLE_REGISTRY], "", 1, "");
	config_listen_defaults(&c->roles[ROLE_API], "127.0.0.1:8080", 1,
	    "go.micro.api");
	config_listen_defaults(&c->roles[ROLE_WEB], "127.0.0.1:8082", 1,
	    "go.micro.web");
	config_listen_defaults(&c->roles[ROLE_SIDECAR], "127.0.0.1:8081", 1,
	    "go.micro.srv");
	config_listen_defaults(&c->roles[ROLE_BROKER], "127.0.0.1:8083", 1,
	    "go.micro.broker");

	snprintf(c->api_handler, sizeof(c->api_handler), "api");
	c->api_rpc = 1;
	snprintf(c->api_selector, sizeof(c->api_selector), "random");
	c->api_request_timeout_ms = 5000;
	c->api_connect_timeout_ms = 1000;

	c->sidecar_healthcheck_interval_ms = 30000;

	snprintf(c->broker_backend, sizeof(c->broker_backend), "builtin");
	c->broker_max_message = 1024 * 1024;
	c->broker_queue_size = 1024;
}

static void
config_error(struct config_parse *p, int line, const char *fmt, ...)
{
	size_t	 used = strlen(p->errbuf);
	va_list	 ap;
	int	 n;

	p->errors++;
	if (used + 1 >= p->errlen)
		return;
	if (line > 0)
		n = snprintf(p->errbuf + used, p->errlen - used, "%s:%d: ",
		    p->file, line);
	else
		n = snprintf(p->errbuf + used, p->errlen - used, "%s: ",
		    p->file);
	if (n < 0 || (size_t)n >= p->errlen - used)
		return;
	used += n;
	va_start(ap, fmt);
	n = vsnprintf(p->errbuf + used, p->errlen - used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= p->errlen - used - 1)
		return;
	used += n;
	p->errbuf[used++] = '\n';
	p->errbuf[used] = '\0';
}

static int
config_choice_ok(const char *choices, const char *value)
{
	size_t	 n = strlen(value);
	const char *p = choices;

	while (p != NULL && *p != '\0') {
		const char *bar = strchr(p, '|');
		size_t	 len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, value, n) == 0)
			return 1;
		p = bar ? bar + 1 : NULL;
	}
	return 0;
}

static int
config_parse_bool(const char *s, int *out)
{
	static const char *yes[] = { "on", "yes", "true", "1" };
	static const char *no[] = { "off", "no", "false", "0" };
	size_t	 i;

	for (i = 0; i < nitems(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* Store value into the field at dst; return an error text or NULL. */
static const char *
config_store(const struct config_key *k, void *dst, const char *value)
{
	uint64_t	 v;
	const char	*cause;
	struct sockaddr_storage ss;
	socklen_t	 sslen;

	switch (k->type) {
	case CT_STR:
		if (strlen(value) >= CONFIG_STR_MAX)
			return "value too long";
		if (k->choices != NULL && !config_choice_ok(k->choices, value))
			return k->choices;
		snprintf(dst, CONFIG_STR_MAX, "%s", value);
		return NULL;
	case CT_ADDR:
		if (strlen(value) >= CONFIG_STR_MAX)
			return "value too long";
		if (util_parse_addr(value, &ss, &sslen, &cause) == -1)
			return cause;
		snprintf(dst, CONFIG_STR_MAX, "%s", value);
		return NULL;
	case CT_UINT:
	case CT_SIZE:
		if (util_parse_size(value, &v) == -1 ||
		    (k->type == CT_UINT && !isdigit((unsigned char)
		    value[strlen(value) - 1])))
			return "not a number";
		if (k->max != 0 && v > k->max)
			return "value too large";
		if (k->type == CT_UINT)
			*(unsigned *)dst = (unsigned)v;
		else
			*(size_t *)dst = (size_t)v;
		return NULL;
	case CT_DURATION:
		if (util_parse_duration_ms(value, &v) == -1)
			return "not a duration (e.g. 500ms, 30s, 5m)";
		if (v > CONFIG_DURATION_MAX)
			return "value too large (at most 720h)";
		*(uint64_t *)dst = v;
		return NULL;
	case CT_BOOL:
		if (config_parse_bool(value, dst) == -1)
			return "not a boolean (on|off)";
		return NULL;
	case CT_LOGLEVEL:
		if (log_parse_level(value, dst) == -1)
			return "error|warn|info|debug";
		return NULL;
	}
	return "unknown type";
}

/* Find the key; *base is set to where its offset applies. */
static const struct config_key *
config_find(struct config *c, const char *section, const char *name,
    void **base)
{
	enum role_id	 role;
	size_t		 i;
	int		 listening;

	listening = config_role_lookup(section, &role) == 0 &&
	    role != ROLE_REGISTRY;
	for (i = 0; i < nitems(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		if (strcmp(k->name, name) != 0)
			continue;
		if (k->section == NULL && listening) {
			*base = &c->roles[role];
			return k;
		}
		if (k->section != NULL && strcmp(k->section, section) == 0) {
			*base = c;
			return k;
		}
	}
	return NULL;
}

static int
config_set(struct config_parse *p, int line, const char *section,
    const char *name, const char *value)
{
	const struct config_key	*k;
	const char		*err;
	void			*base;

	if ((k = config_find(p->conf, section, name, &base)) == NULL) {
		config_error(p, line, "unknown key '%s' in [%s]", name,
		    section);
		return -1;
	}
	if ((err = config_store(k, (char *)base + k->offset, value)) != NULL) {
		config_error(p, line, "[%s] %s = %s: %s", section, name, value,
		    err);
		return -1;
	}
	return 0;
}

/*
 * inih calls handlers only for keys, so a section header is checked here,
 * as the line goes by: an unknown section is an error even when empty.
 */
static void
config_check_section(struct config_parse *p, const char *line)
{
	enum role_id	 role;
	const char	*end;
	char		 name[64];

	line += strspn(line, " \t");
	if (*line != '[' || (end = strchr(line, ']')) == NULL)
		return;
	snprintf(name, sizeof(name), "%.*s", (int)(end - line - 1), line + 1);
	if (strcmp(name, "microd") != 0 && config_role_lookup(name, &role) == -1)
		config_error(p, p->line, "unknown section [%s]", name);
}

/*
 * Debian's inih hands handlers no line number; it reads one line per call
 * of this reader, so counting here gives the line of the key at hand. A
 * line longer than its buffer would reach inih as two lines (the rest of
 * a comment read as a key): it is an error, and skipped whole.
 */
static char *
config_ini_reader(char *buf, int size, void *arg)
{
	struct config_parse	*p = arg;
	int			 ch;

	p->line++;
	if (fgets(buf, size, p->f) == NULL)
		return NULL;
	if (strchr(buf, '\n') == NULL && (ch = getc(p->f)) != EOF &&
	    ch != '\n') {
		config_error(p, p->line, "line longer than %d bytes", size - 1);
		while ((ch = getc(p->f)) != EOF && ch != '\n')
			;
		buf[0] = '\0';
		return buf;
	}
	config_check_section(p, buf);
	return buf;
}

static int
config_ini_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct config_parse	*p = arg;
	int			 line = p->line;

	if (*section == '\0') {
		config_error(p, line, "key '%s' outside any section", name);
		return 1;
	}
	config_set(p, line, section, name, value);
	return 1;	/* keep going: report every error at once */
}

static void
config_load_file(struct config_parse *p, const char *path, int explicit)
{
	FILE	*f;
	int	 rc;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno != ENOENT || explicit)
			config_error(p, 0, "%s", strerror(errno));
		return;
	}
	snprintf(p->conf->path, sizeof(p->conf->path), "%s", path);
	p->f = f;
	rc = ini_parse_stream(config_ini_reader, p, config_ini_handler, p);
	fclose(f);
	if (rc > 0 && p->errors == 0)
		config_error(p, rc, "syntax error");
	else if (rc < 0)
		config_error(p, 0, "cannot parse");
}

/* MICRO_<SECTION>_<KEY>=value for every key, plus micro's aliases. */
static void
config_load_env_key(struct config_parse *p, const char *section,
    const char *key)
{
	char		 env[96];
	const char	*value;
	size_t		 i;

	snprintf(env, sizeof(env), "MICRO_%s_%s", section, key);
	for (i = 0; env[i] != '\0'; i++)
		env[i] = toupper((unsigned char)env[i]);
	if ((value = getenv(env)) != NULL) {
		p->file = env;
		config_set(p, 0, section, key, value);
	}
}

static void
config_load_env(struct config_parse *p)
{
	const char	*value;
	size_t		 i;
	int		 r;

	for (i = 0; i < nitems(config_keys); i++) {
		const struct config_key *k = &config_keys[i];

		if (k->section != NULL) {
			config_load_env_key(p, k->section, k->name);
			continue;
		}
		for (r = ROLE_API; r < ROLE_COUNT; r++)
			config_load_env_key(p, config_role_names[r], k->name);
	}
	for (i = 0; i < nitems(config_env_aliases); i++) {
		if ((value = getenv(config_env_aliases[i].env)) == NULL)
			continue;
		p->file = config_env_aliases[i].env;
		config_set(p, 0, config_env_aliases[i].section,
		    config_env_aliases[i].key, value);
	}
}

/* The app the sidecar health-checks and registers, if any. */
static void
config_validate_sidecar_app(struct config_parse *p, const struct config *c)
{
	char		 addr[CONFIG_STR_MAX], *json, *why;
	const char	*target, *cause;

	if (c->sidecar_app_name[0] == '\0')
		return;
	if (c->sidecar_healthcheck_interval_ms == 0)
		config_error(p, 0, "[sidecar] healthcheck_interval must not be 0");
	if (c->sidecar_healthcheck_url[0] != '\0' &&
	    http_url_split(c->sidecar_healthcheck_url, addr, sizeof(addr),
	    &target, &cause) == -1)
		config_error(p, 0, "[sidecar] healthcheck_url %s: %s (it must be "
		    "http://HOST:PORT/PATH, HOST numeric or localhost)",
		    c->sidecar_healthcheck_url, cause);
	if ((json = svc_app_json(c->sidecar_app_name, c->sidecar_app_address,
	    &why)) == NULL) {
		config_error(p, 0, "[sidecar] app_name, app_address: %s", why);
		free(why);
	}
	free(json);
}

/* Cross-key rules that no single key can check. */
static void
config_validate(struct config_parse *p)
{
	struct config	*c = p->conf;
	int		 r;

	p->file = c->path[0] ? c->path : "config";
	if (c->roles[ROLE_REGISTRY].workers != 1)
		config_error(p, 0, "[registry] always runs exactly one worker");
	/* A reload runs both generations, each with a ring per process. */
	if (c->roles[ROLE_SIDECAR].workers + c->roles[ROLE_BROKER].workers >
	    BRING_MAX_RINGS / 2)
		config_error(p, 0, "[sidecar] and [broker] workers: at most %d "
		    "together", BRING_MAX_RINGS / 2);
	for (r = ROLE_API; r < ROLE_COUNT; r++) {
		if (c->roles[r].workers > 0 && c->roles[r].listen[0] == '\0')
			config_error(p, 0, "[%s] needs listen", config_role_names[r]);
	}
	if (c->socket[0] == '\0')
		config_error(p, 0, "[microd] socket must be set");
	if (c->state_dir[0] == '\0')
		config_error(p, 0, "[microd] state_dir must be set");
	if (c->shm_size < 1024 * 1024)
		config_error(p, 0, "[microd] shm_size must be at least 1M");
	if (strcmp(c->registry_backend, "local") != 0 &&
	    c->registry_address[0] == '\0')
		config_error(p, 0, "[registry] backend %s needs address",
		    c->registry_backend);
	config_validate_sidecar_app(p, c);
}

int
config_load(struct config *c, const char *path, int explicit, char *errbuf,
    size_t errlen)
{
	struct config_parse	 p = { c, path, errbuf, errlen, 0, NULL, 0 };

	config_defaults(c);
	errbuf[0] = '\0';
	if (path != NULL)
		config_load_file(&p, path, explicit);
	config_load_env(&p);
	config_validate(&p);
	return p.errors > 0 ? -1 : 0;
}
