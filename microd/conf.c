/*
 * Configuration. One table names every key: its section, type and where it
 * lands in struct config. The same table serves the INI file, the MICRO_*
 * environment overrides and `microd -t`.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "broker/backend.h"
#include "broker/ring.h"
#include "http.h"
#include "microd/conf.h"
#include "registry/backend.h"
#include "svc.h"
#include "util.h"

/* Every duration: 30 days, far from overflowing a deadline. */
#define CONFIG_DURATION_MAX	(720ULL * 3600 * 1000)
#define CONFIG_SHM_MIN		(1ULL << 20)
#define CONFIG_CHECK_MIN_MS	100
#define CONFIG_SHM_MAX		(1ULL << 32)
/*
 * http-parser's bounds: its build refuses a head over 80 KiB, and
 * http_parser_parse_url keeps offsets and lengths in 16 bits (a longer
 * target loses its query or takes it from inside the path).
 */
#define CONFIG_HEADER_MAX	(64ULL << 10)
#define CONFIG_BODY_MAX		(1ULL << 30)
#define CONFIG_CONNECTIONS_MAX	(1ULL << 20)
#define CONFIG_MESSAGE_MAX	(1ULL << 30)
#define CONFIG_QUEUE_MAX	(1ULL << 30)
#define CONFIG_SOCKET_PATH_MAX	sizeof(((struct sockaddr_un *)0)->sun_path)
#define CONFIG_ERRORS_TAIL	48	/* "... and N more errors" */
#define CONFIG_FILE_MAX		(1 << 20)
#define CONFIG_FILE_MAX_TEXT	"1 MiB"

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
	uint64_t	 min;		/* numbers; durations in ms */
	uint64_t	 max;
};

#define C(f)	offsetof(struct config, f)
#define L(f)	offsetof(struct config_listen, f)

/* A key without a range, and the ranges of durations. */
#define NONE		0, 0
#define ANY_TIME	0, CONFIG_DURATION_MAX
#define SOME_TIME	1, CONFIG_DURATION_MAX

static const struct config_key config_keys[] = {
	{ "microd", "socket", CT_STR, C(socket), NULL, NONE },
	{ "microd", "state_dir", CT_STR, C(state_dir), NULL, NONE },
	{ "microd", "user", CT_STR, C(user), NULL, NONE },
	{ "microd", "log_level", CT_LOGLEVEL, C(log_level), NULL, NONE },
	{ "microd", "shm_size", CT_SIZE, C(shm_size), NULL, CONFIG_SHM_MIN,
	    CONFIG_SHM_MAX },
	{ "microd", "shutdown_timeout", CT_DURATION, C(shutdown_timeout_ms),
	    NULL, ANY_TIME },

	{ "registry", "backend", CT_STR, C(registry_backend),
	    "local|etcd|consul", NONE },
	{ "registry", "address", CT_STR, C(registry_address), NULL, NONE },
	{ "registry", "prefix", CT_STR, C(registry_prefix), NULL, NONE },
	{ "registry", "ttl", CT_DURATION, C(registry_ttl_ms), NULL, ANY_TIME },
	{ "registry", "username", CT_STR, C(registry_username), NULL, NONE },
	{ "registry", "password", CT_STR, C(registry_password), NULL, NONE },
	{ "registry", "token", CT_STR, C(registry_token), NULL, NONE },
	{ "registry", "tls_ca", CT_STR, C(registry_tls_ca), NULL, NONE },
	{ "registry", "tls_cert", CT_STR, C(registry_tls_cert), NULL, NONE },
	{ "registry", "tls_key", CT_STR, C(registry_tls_key), NULL, NONE },

	/* The HTTP layer would read 0 as its own default: refused here. */
	{ NULL, "listen", CT_ADDR, L(listen), NULL, NONE },
	{ NULL, "workers", CT_UINT, L(workers), NULL, 0, CONFIG_WORKERS_MAX },
	{ NULL, "read_timeout", CT_DURATION, L(read_timeout_ms), NULL,
	    SOME_TIME },
	{ NULL, "idle_timeout", CT_DURATION, L(idle_timeout_ms), NULL,
	    SOME_TIME },
	{ NULL, "max_header_size", CT_SIZE, L(max_header_size), NULL, 1,
	    CONFIG_HEADER_MAX },
	{ NULL, "max_body_size", CT_SIZE, L(max_body_size), NULL, 1,
	    CONFIG_BODY_MAX },
	{ NULL, "max_connections", CT_UINT, L(max_connections), NULL, 1,
	    CONFIG_CONNECTIONS_MAX },
	{ NULL, "namespace", CT_STR, L(namespace), NULL, NONE },

	{ "api", "handler", CT_STR, C(api_handler), "api|rpc|proxy", NONE },
	{ "api", "rpc", CT_BOOL, C(api_rpc), NULL, NONE },
	{ "api", "cors", CT_STR, C(api_cors), NULL, NONE },
	{ "api", "selector", CT_STR, C(api_selector),
	    "random|roundrobin|leastconn", NONE },
	{ "api", "request_timeout", CT_DURATION, C(api_request_timeout_ms),
	    NULL, SOME_TIME },
	{ "api", "connect_timeout", CT_DURATION, C(api_connect_timeout_ms),
	    NULL, SOME_TIME },

	{ "sidecar", "app_name", CT_STR, C(sidecar_app_name), NULL, NONE },
	{ "sidecar", "app_address", CT_STR, C(sidecar_app_address), NULL,
	    NONE },
	{ "sidecar", "healthcheck_url", CT_STR, C(sidecar_healthcheck_url),
	    NULL, NONE },
	/* Each check may (de)register through the master: not a flood. */
	{ "sidecar", "healthcheck_interval", CT_DURATION,
	    C(sidecar_healthcheck_interval_ms), NULL, CONFIG_CHECK_MIN_MS,
	    CONFIG_DURATION_MAX },

	{ "broker", "backend", CT_STR, C(broker_backend), "builtin|nats",
	    NONE },
	{ "broker", "address", CT_STR, C(broker_address), NULL, NONE },
	{ "broker", "max_message", CT_SIZE, C(broker_max_message), NULL, 1,
	    CONFIG_MESSAGE_MAX },
	{ "broker", "queue_size", CT_SIZE, C(broker_queue_size), NULL, 1,
	    CONFIG_QUEUE_MAX },
};

/*
 * Micro's own spellings, kept for people coming from micro. None may be a
 * MICRO_<SECTION>_<KEY> name too: one variable would set two keys. So
 * MICRO_BROKER_ADDRESS is [broker] address, as in go-micro.
 */
static const struct {
	const char	*env;
	const char	*section;
	const char	*key;
} config_env_aliases[] = {
	{ "MICRO_REGISTRY", "registry", "backend" },
	{ "MICRO_API_ADDRESS", "api", "listen" },
	{ "MICRO_WEB_ADDRESS", "web", "listen" },
	{ "MICRO_SIDECAR_ADDRESS", "sidecar", "listen" },
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
	int		 unsaid;	/* errors errbuf had no room for */
	size_t		 left;		/* bytes the file may still take */
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

static void
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

/*
 * One line per error, "file:line: message", as many whole lines as errbuf
 * takes; CONFIG_ERRORS_TAIL bytes stay free for the line that says how
 * many more there were (config_load): never a line cut short.
 */
static void
config_error(struct config_parse *p, int line, const char *fmt, ...)
{
	size_t	 used = strlen(p->errbuf);
	char	*msg, where[16] = "";
	va_list	 ap;
	int	 n;

	p->errors++;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	n = snprintf(NULL, 0, "%s%s: %s\n", p->file, where, msg);
	if (used + n + CONFIG_ERRORS_TAIL < p->errlen)
		snprintf(p->errbuf + used, p->errlen - used, "%s%s: %s\n",
		    p->file, where, msg);
	else
		p->unsaid++;
	free(msg);
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

/* A bound as it would be written in the file: 720h, 1M, 32. */
static void
config_format_bound(enum config_type type, uint64_t v, char *buf,
    size_t len)
{
	static const struct util_unit durations[] = {
		{ "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
	};
	static const struct util_unit sizes[] = {
		{ "G", 1ULL << 30 }, { "M", 1ULL << 20 }, { "K", 1ULL << 10 },
		{ "", 1 },
	};
	const struct util_unit	*u = type == CT_DURATION ? durations : sizes;
	size_t			 i = 0;

	if (type == CT_UINT) {
		snprintf(buf, len, "%llu", (unsigned long long)v);
		return;
	}
	while (v % u[i].mult != 0)	/* the last unit is 1 */
		i++;
	snprintf(buf, len, "%llu%s", (unsigned long long)(v / u[i].mult),
	    u[i].suffix);
}

/* The number from value, inside the key's range; -1 with why filled. */
static int
config_number(const struct config_key *k, const char *value, uint64_t *v,
    char *why, size_t len)
{
	char	 bound[32];
	int	 parsed;

	if (k->type == CT_DURATION)
		parsed = util_parse_duration_ms(value, v);
	else
		parsed = util_parse_size(value, v);
	if (parsed == -1 || (k->type == CT_UINT &&
	    !isdigit((unsigned char)value[strlen(value) - 1]))) {
		snprintf(why, len, "%s", k->type == CT_DURATION ?
		    "not a duration (e.g. 500ms, 30s, 5m)" : "not a number");
		return -1;
	}
	if (*v < k->min) {
		config_format_bound(k->type, k->min, bound, sizeof(bound));
		snprintf(why, len, "value too small (at least %s)", bound);
		return -1;
	}
	if (*v > k->max) {
		config_format_bound(k->type, k->max, bound, sizeof(bound));
		snprintf(why, len, "value too large (at most %s)", bound);
		return -1;
	}
	return 0;
}

static int
config_store_number(const struct config_key *k, void *dst, const char *value,
    char *why, size_t len)
{
	uint64_t	 v;

	if (config_number(k, value, &v, why, len) == -1)
		return -1;
	if (k->type == CT_UINT)
		*(unsigned *)dst = (unsigned)v;
	else if (k->type == CT_SIZE)
		*(size_t *)dst = (size_t)v;
	else
		*(uint64_t *)dst = v;
	return 0;
}

/* Store value into the field at dst; return an error text or NULL. */
static const char *
config_store(const struct config_key *k, void *dst, const char *value,
    char *why, size_t len)
{
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
	case CT_DURATION:
		return config_store_number(k, dst, value, why, len) == -1 ?
		    why : NULL;
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
	char			 why[128];
	void			*base;

	if ((k = config_find(p->conf, section, name, &base)) == NULL) {
		config_error(p, line, "unknown key '%s' in [%s]", name,
		    section);
		return -1;
	}
	if ((err = config_store(k, (char *)base + k->offset, value, why,
	    sizeof(why))) != NULL) {
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

	if (*line != '[' || (end = strchr(line, ']')) == NULL)
		return;
	snprintf(name, sizeof(name), "%.*s", (int)(end - line - 1), line + 1);
	if (strcmp(name, "microd") != 0 && config_role_lookup(name, &role) == -1)
		config_error(p, p->line, "unknown section [%s]", name);
}

enum config_line {
	CONFIG_LINE_OK,
	CONFIG_LINE_EOF,
	CONFIG_LINE_LONG,
	CONFIG_LINE_NUL,
	CONFIG_LINE_TOO_MUCH,	/* past the *left bytes of the file */
};

/*
 * One line without its newline into buf, NUL-terminated, as much as fits;
 * *left bounds what the whole file may take: a device that never ends
 * (/dev/zero) is no file to read on and on.
 */
static enum config_line
config_read_line(FILE *f, size_t *left, char *buf, size_t size)
{
	enum config_line	 rv = CONFIG_LINE_OK;
	size_t			 len = 0;
	int			 ch;

	while ((ch = getc(f)) != EOF) {
		if ((*left)-- == 0)
			return CONFIG_LINE_TOO_MUCH;
		if (ch == '\n')
			break;
		if (ch == '\0')
			rv = CONFIG_LINE_NUL;
		else if (len + 1 < size)
			buf[len++] = ch;
		else if (rv == CONFIG_LINE_OK)
			rv = CONFIG_LINE_LONG;
	}
	buf[len] = '\0';
	if (ch == EOF && len == 0 && rv == CONFIG_LINE_OK)
		return CONFIG_LINE_EOF;
	return rv;
}

/*
 * Debian's inih hands handlers no line number; it reads one line per call
 * of this reader, so counting here gives the line of the key at hand.
 * inih would misread a line longer than its buffer (the rest coming as a
 * second line) or one holding a NUL byte (the rest unseen): such a line is
 * an error and reaches inih empty. Leading blanks go, so an indented key is
 * a key and not inih's continuation of the value before, and so does a
 * UTF-8 BOM, which inih skips but config_check_section would not.
 */
static char *
config_ini_reader(char *buf, int size, void *arg)
{
	struct config_parse	*p = arg;
	size_t			 skip;

	p->line++;
	switch (config_read_line(p->f, &p->left, buf, size)) {
	case CONFIG_LINE_EOF:
		/* fopen(3) opens a directory: only reading it fails. */
		if (ferror(p->f))
			config_error(p, 0, "%s", strerror(errno));
		return NULL;
	case CONFIG_LINE_TOO_MUCH:
		config_error(p, 0, "larger than " CONFIG_FILE_MAX_TEXT ": not "
		    "a configuration file");
		return NULL;
	case CONFIG_LINE_LONG:
		config_error(p, p->line, "line longer than %d bytes", size - 1);
		buf[0] = '\0';
		return buf;
	case CONFIG_LINE_NUL:
		config_error(p, p->line, "NUL byte in line");
		buf[0] = '\0';
		return buf;
	case CONFIG_LINE_OK:
		break;
	}
	skip = p->line == 1 && strncmp(buf, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	skip += strspn(buf + skip, " \t");
	memmove(buf, buf + skip, strlen(buf + skip) + 1);
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
	p->left = CONFIG_FILE_MAX;
	snprintf(p->conf->path, sizeof(p->conf->path), "%s", path);
	p->f = f;
	rc = ini_parse_stream(config_ini_reader, p, config_ini_handler, p);
	fclose(f);
	if (rc > 0)	/* inih gives the first such line only */
		config_error(p, rc, "syntax error (want [section] or "
		    "key = value)");
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

/*
 * The app the sidecar health-checks and registers, if any. Its URL is a
 * value like any other: bad is an error even before app_name is set.
 */
static void
config_validate_sidecar_app(struct config_parse *p, const struct config *c)
{
	char		 addr[CONFIG_STR_MAX], *json, *why;
	const char	*target, *cause;

	if (c->sidecar_healthcheck_url[0] != '\0' &&
	    http_url_split(c->sidecar_healthcheck_url, addr, sizeof(addr),
	    &target, &cause) == -1)
		config_error(p, 0, "[sidecar] healthcheck_url %s: %s (it must be "
		    "http://HOST:PORT/PATH, HOST numeric or localhost)",
		    c->sidecar_healthcheck_url, cause);
	if (c->sidecar_app_name[0] == '\0')
		return;
	if ((json = svc_app_json(c->sidecar_app_name, c->sidecar_app_address,
	    &why)) == NULL) {
		config_error(p, 0, "[sidecar] app_name, app_address: %s", why);
		free(why);
	}
	free(json);
}

/*
 * An IPv6 wildcard and an IPv4 address on one port: microd leaves
 * IPV6_V6ONLY at Linux's default (off), so [::] takes every IPv4 address
 * too.
 */
static int
config_addr_clash_mixed(const struct sockaddr_in6 *v6,
    const struct sockaddr_in *v4)
{
	return v6->sin6_port != 0 && v6->sin6_port == v4->sin_port &&
	    IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
}

/* Whether a and b, both parsed by util_parse_addr, could not both bind. */
static int
config_addr_clash(const struct sockaddr_storage *a,
    const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4 = (const void *)a;
	const struct sockaddr_in	*b4 = (const void *)b;
	const struct sockaddr_in6	*a6 = (const void *)a;
	const struct sockaddr_in6	*b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return a->ss_family == AF_INET6 ?
		    config_addr_clash_mixed(a6, b4) :
		    config_addr_clash_mixed(b6, a4);
	if (a->ss_family == AF_INET)
		return a4->sin_port != 0 && a4->sin_port == b4->sin_port &&
		    (a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		    a4->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    b4->sin_addr.s_addr == htonl(INADDR_ANY));
	return a6->sin6_port != 0 && a6->sin6_port == b6->sin6_port &&
	    (IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ||
	    IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr));
}

/* A v4-mapped IPv6 address binds its IPv4 address: compare it as one. */
static void
config_addr_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in	 s4;

	if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6->sin6_port;
	memcpy(&s4.sin_addr, &s6->sin6_addr.s6_addr[12], sizeof(s4.sin_addr));
	memcpy(ss, &s4, sizeof(s4));
}

/* Two running roles on one port would only fail when microd binds. */
static void
config_validate_listeners(struct config_parse *p, const struct config *c)
{
	struct sockaddr_storage	 ss[ROLE_COUNT];
	socklen_t		 len;
	const char		*cause;
	int			 r, o, bound[ROLE_COUNT] = { 0 };

	for (r = ROLE_API; r < ROLE_COUNT; r++) {
		bound[r] = c->roles[r].workers > 0 &&
		    util_parse_addr(c->roles[r].listen, &ss[r], &len,
		    &cause) == 0;
		if (bound[r])
			config_addr_unmap(&ss[r]);
		for (o = ROLE_API; bound[r] && o < r; o++) {
			if (bound[o] && config_addr_clash(&ss[o], &ss[r]))
				config_error(p, 0, "[%s] listen %s and [%s] "
				    "listen %s share a port",
				    config_role_names[o], c->roles[o].listen,
				    config_role_names[r], c->roles[r].listen);
		}
	}
}

/*
 * The master looks the user up only once it has bound its sockets: an
 * unknown one must fail -t and a reload, not a start halfway through.
 */
static void
config_validate_user(struct config_parse *p, const struct config *c)
{
	if (c->user[0] != '\0' && getpwnam(c->user) == NULL)
		config_error(p, 0, "[microd] user %s: unknown user", c->user);
}

/* The backends' address lists: plugins read them only when they start. */
static void
config_validate_addresses(struct config_parse *p, const struct config *c)
{
	size_t	 n = util_list_count(c->registry_address), most;

	most = strcmp(c->registry_backend, "consul") == 0 ? 1 :
	    REGISTRY_ADDRESSES_MAX;
	if (strcmp(c->registry_backend, "local") != 0 && n == 0)
		config_error(p, 0, "[registry] backend %s needs address",
		    c->registry_backend);
	else if (strcmp(c->registry_backend, "local") != 0 && n > most)
		config_error(p, 0, "[registry] address: %zu addresses, backend "
		    "%s takes at most %zu", n, c->registry_backend, most);
	if ((n = util_list_count(c->broker_address)) > BROKER_ADDRESSES_MAX)
		config_error(p, 0, "[broker] address: %zu addresses, at most "
		    "%d", n, BROKER_ADDRESSES_MAX);
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
	config_validate_listeners(p, c);
	/* POST /pub buffers the body: a message must fit. */
	if (c->broker_max_message > c->roles[ROLE_BROKER].max_body_size)
		config_error(p, 0, "[broker] max_message (%zu bytes) is larger "
		    "than [broker] max_body_size (%zu): a POST /pub of it would "
		    "be refused", c->broker_max_message,
		    c->roles[ROLE_BROKER].max_body_size);
	if (c->socket[0] == '\0')
		config_error(p, 0, "[microd] socket must be set");
	if (strlen(c->socket) >= CONFIG_SOCKET_PATH_MAX)
		config_error(p, 0, "[microd] socket: path longer than %zu "
		    "bytes", CONFIG_SOCKET_PATH_MAX - 1);
	if (c->state_dir[0] == '\0')
		config_error(p, 0, "[microd] state_dir must be set");
	config_validate_user(p, c);
	config_validate_addresses(p, c);
	config_validate_sidecar_app(p, c);
}

int
config_load(struct config *c, const char *path, int explicit, char *errbuf,
    size_t errlen)
{
	struct config_parse	 p = { .conf = c, .file = path, .errbuf = errbuf,
	    .errlen = errlen };
	size_t			 used;

	config_defaults(c);
	errbuf[0] = '\0';
	if (path != NULL)
		config_load_file(&p, path, explicit);
	config_load_env(&p);
	config_validate(&p);
	if (p.unsaid > 0) {
		used = strlen(errbuf);
		snprintf(errbuf + used, errlen - used, "... and %d more "
		    "error%s\n", p.unsaid, p.unsaid == 1 ? "" : "s");
	}
	return p.errors > 0 ? -1 : 0;
}
