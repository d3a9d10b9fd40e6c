/* Configuration: defaults, good files, every kind of bad file, env. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "microd/conf.h"
#include "util.h"
#include "util.h"

static char	 errs[4096];

static const char *
write_conf(const char *text, size_t len)
{
	static char	 path[64];
	FILE		*f;
	int		 fd;

	snprintf(path, sizeof(path), "/tmp/test_conf.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd != -1);
	f = fdopen(fd, "w");
	fwrite(text, 1, len, f);
	fclose(f);
	return path;
}

/* A file of len bytes, NUL bytes included. */
static int
load_bytes(struct config *c, const char *text, size_t len)
{
	const char	*path = write_conf(text, len);
	int		 rc;

	rc = config_load(c, path, 1, errs, sizeof(errs));
	unlink(path);
	return rc;
}

static int
load(struct config *c, const char *text)
{
	return load_bytes(c, text, strlen(text));
}

static void
test_defaults_without_file(void **state)
{
	struct config	 c;

	assert_int_equal(config_load(&c, "/nonexistent/microd.conf", 0, errs,
	    sizeof(errs)), 0);
	assert_string_equal(c.roles[ROLE_API].listen, "127.0.0.1:8080");
	assert_string_equal(c.roles[ROLE_SIDECAR].namespace, "go.micro.srv");
	assert_int_equal(c.roles[ROLE_REGISTRY].workers, 1);
	assert_string_equal(c.registry_backend, "local");
	assert_string_equal(c.path, "");
}

static void
test_missing_explicit_file(void **state)
{
	struct config	 c;

	assert_int_equal(config_load(&c, "/nonexistent/microd.conf", 1, errs,
	    sizeof(errs)), -1);
	assert_non_null(strstr(errs, "No such file"));
}

static void
test_good_file(void **state)
{
	struct config	 c;

	assert_int_equal(load(&c,
	    "[microd]\nsocket = /tmp/x.sock\nlog_level = debug\n"
	    "[api]\nlisten = 127.0.0.1:0\nworkers = 3\nhandler = proxy\n"
	    "max_body_size = 2M\nread_timeout = 500ms\nrpc = off\n"
	    "[registry]\nttl = 2m\n[web]\nworkers = 0\n"), 0);
	assert_string_equal(c.socket, "/tmp/x.sock");
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c.roles[ROLE_API].workers, 3);
	assert_string_equal(c.api_handler, "proxy");
	assert_int_equal(c.roles[ROLE_API].max_body_size, 2 * 1024 * 1024);
	assert_int_equal(c.roles[ROLE_API].read_timeout_ms, 500);
	assert_int_equal(c.api_rpc, 0);
	assert_int_equal(c.registry_ttl_ms, 120000);
	assert_int_equal(c.roles[ROLE_WEB].workers, 0);
}

/* Address lists as the backends read them: items trimmed, empty skipped. */
static void
test_address_lists(void **state)
{
	struct config	 c;

	assert_int_equal(load(&c, "[registry]\nbackend = consul\n"
	    "address = 127.0.0.1:8500 ,\n"), 0);
	assert_int_equal(load(&c, "[registry]\nbackend = etcd\naddress = "
	    "a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,a:14,"
	    "a:15, a:16,,\n[broker]\naddress = nats://a:1, nats://a:2\n"), 0);
	assert_int_equal(util_list_count(" a , ,b,"), 2);
	assert_int_equal(util_list_count(""), 0);
}

static void
assert_bad(const char *text, const char *needle)
{
	struct config	 c;

	assert_int_equal(load(&c, text), -1);
	if (strstr(errs, needle) == NULL)
		fail_msg("expected '%s' in: %s", needle, errs);
}

#define SIDECAR_APP	"[sidecar]\napp_name = go.micro.srv.app\n" \
			"app_address = 127.0.0.1:9\n"

static void
test_bad_files(void **state)
{
	assert_bad("[api]\nnope = 1\n", ":2: unknown key 'nope' in [api]");
	assert_bad("[nosuch]\n", ":1: unknown section [nosuch]");
	assert_bad("[api]\nworkers = many\n", ":2: [api] workers = many");
	assert_bad("[api]\nworkers = 99\n", "too large");
	assert_bad("[api]\nlisten = nowhere\n", "missing :port");
	assert_bad("[api]\nlisten = 1.2.3.4:99999\n", "bad port");
	assert_bad("[api]\nhandler = magic\n", "api|rpc|proxy");
	assert_bad("[api]\nread_timeout = soon\n", "not a duration");
	assert_bad("[api]\nrpc = perhaps\n", "not a boolean");
	assert_bad("[microd]\nlog_level = loud\n", "error|warn|info|debug");
	assert_bad("[microd]\nshm_size = 10K\n", "at least 1M");
	assert_bad("[registry]\nworkers = 2\n", "unknown key 'workers'");
	assert_bad("[registry]\nbackend = etcd\n", "needs address");
	assert_bad("[registry]\nbackend = etcd\naddress = , \n",
	    "needs address");
	/* Plugins read these at their start: a crash loop, not an error. */
	assert_bad("[registry]\nbackend = consul\n"
	    "address = 127.0.0.1:1,127.0.0.1:2\n", "takes at most 1");
	assert_bad("[registry]\nbackend = etcd\naddress = "
	    "a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,a:14,"
	    "a:15,a:16,a:17\n", "17 addresses, backend etcd takes at most 16");
	assert_bad("[broker]\naddress = "
	    "a:1,a:2,a:3,a:4,a:5,a:6,a:7,a:8,a:9,a:10,a:11,a:12,a:13,a:14,"
	    "a:15,a:16,a:17\n", "17 addresses, at most 16");
	assert_bad("this is not ini\n", ":1:");
	assert_bad("orphan = 1\n", "outside any section");
	assert_bad("[microd]\nshutdown_timeout = 18446744073709551615ms\n",
	    "at most 720h");
	assert_bad("[sidecar]\nworkers = 8\n[broker]\nworkers = 9\n",
	    "at most 16 together");
	assert_bad("[broker]\nmax_message = 6M\n",
	    "larger than [broker] max_body_size");
	/* The check sends the path as written: it must be a request's. */
	assert_bad(SIDECAR_APP "healthcheck_url = http://127.0.0.1:9?up=1\n",
	    "/PATH[?QUERY]");
	assert_bad(SIDECAR_APP "healthcheck_url = http://127.0.0.1:9/h#top\n",
	    "no #");
	assert_bad(SIDECAR_APP "healthcheck_url = http://127.0.0.1:9/a b\n",
	    "visible ASCII");
	assert_bad(SIDECAR_APP "healthcheck_url = http://127.0.0.1:0/h\n",
	    "port 0");
	/* Every check may go to the registry worker: 1ms was a flood. */
	assert_bad("[sidecar]\nhealthcheck_interval = 1ms\n",
	    "at least 100ms");
	assert_bad("[sidecar]\nhealthcheck_interval = 0\n", "at least 100ms");
}

/* A line inih cannot take whole is an error, not two lines. */
static void
test_long_lines(void **state)
{
	struct config	 c;
	char		 text[1024], pad[300];

	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	snprintf(text, sizeof(text), "[api]\n# %s workers = 99\n"
	    "workers = 2\n", pad);
	assert_int_equal(load(&c, text), -1);
	if (strstr(errs, ":2: line longer than") == NULL ||
	    strstr(errs, "too large") != NULL)
		fail_msg("unexpected: %s", errs);
	/* The longest line taken, then the lines after it still count. */
	snprintf(text, sizeof(text), "[api]\n#%.198s\nworkers = 2\n", pad);
	assert_int_equal(load(&c, text), 0);
	assert_int_equal(c.roles[ROLE_API].workers, 2);
	snprintf(text, sizeof(text), "[api]\n#%.198s\nnope = 1\n", pad);
	assert_int_equal(load(&c, text), -1);
	assert_non_null(strstr(errs, ":3: unknown key 'nope'"));
}

/* Every number has a range, and the message gives the bound. */
static void
test_ranges(void **state)
{
	assert_bad("[api]\nworkers = 99\n", "too large (at most 32)");
	assert_bad("[api]\nmax_body_size = 2G\n", "too large (at most 1G)");
	assert_bad("[api]\nmax_header_size = 65K\n", "at most 64K");
	assert_bad("[broker]\nqueue_size = 99999999999999999999\n",
	    "not a number");
	assert_bad("[api]\nworkers = 0x10\n", "not a number");
	assert_bad("[api]\nmax_connections = 1e9\n", "not a number");
	assert_bad("[api]\nread_timeout = -1\n", "not a duration");
	assert_bad("[api]\nread_timeout = 99999999999h\n",
	    "too large (at most 720h)");
	assert_bad("[api]\nidle_timeout = 5s junk\n", "not a duration");
	assert_bad("[microd]\nshm_size = 10K\n", "too small (at least 1M)");
	assert_bad("[microd]\nshm_size = 5G\n", "too large (at most 4G)");
}

/* The HTTP layer and the broker read 0 as "default" or "none": refused. */
static void
test_zero_refused_where_meaningless(void **state)
{
	static const char *const keys[] = {
		"[api]\nmax_connections = 0\n", "[api]\nmax_header_size = 0\n",
		"[api]\nmax_body_size = 0\n", "[web]\nread_timeout = 0\n",
		"[web]\nidle_timeout = 0ms\n", "[api]\nrequest_timeout = 0\n",
		"[api]\nconnect_timeout = 0s\n", "[broker]\nmax_message = 0\n",
		"[broker]\nqueue_size = 0\n",
	};
	struct config	 c;
	size_t		 i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_bad(keys[i], ":2:");
	assert_bad("[api]\nread_timeout = 0\n", "too small (at least 1ms)");
	assert_int_equal(load(&c, "[api]\nworkers = 0\n[registry]\nttl = 0\n"
	    "[microd]\nshutdown_timeout = 0\n"), 0);
}

/* An indented key is a key, not inih's continuation of the one before. */
static void
test_indented_keys(void **state)
{
	struct config	 c;

	assert_int_equal(load(&c, "  [api]\ncors = http://a\n"
	    "    workers = 0\n\tmax_connections = 7\n"), 0);
	assert_string_equal(c.api_cors, "http://a");
	assert_int_equal(c.roles[ROLE_API].workers, 0);
	assert_int_equal(c.roles[ROLE_API].max_connections, 7);
	/* What was a continuation is now a line of its own, and wrong. */
	assert_bad("[api]\ncors = http://a,\n    http://b\n", ":3: unknown key");
}

/* A NUL byte is its line's error; the next line is read as ever. */
static void
test_nul_byte(void **state)
{
	static const char text[] = "[api]\nwork\0ers = 2\nworkers = 99\n";
	struct config	 c;

	assert_int_equal(load_bytes(&c, text, sizeof(text) - 1), -1);
	if (strstr(errs, ":2: NUL byte") == NULL ||
	    strstr(errs, ":3: [api] workers = 99") == NULL ||
	    strstr(errs, "longer") != NULL)
		fail_msg("unexpected: %s", errs);
}

/* A syntax error is reported with the other errors, not instead. */
static void
test_syntax_error_among_others(void **state)
{
	struct config	 c;

	assert_int_equal(load(&c, "[api]\nworkers = many\njunk here\n"), -1);
	assert_non_null(strstr(errs, ":2: [api] workers = many"));
	assert_non_null(strstr(errs, ":3: syntax error"));
	/* The last line needs no newline. */
	assert_int_equal(load(&c, "[api]\nworkers = 3"), 0);
	assert_int_equal(c.roles[ROLE_API].workers, 3);
}

/* What would only fail when microd binds is refused by the check. */
static void
test_unbindable(void **state)
{
	struct config	 c;
	char		 text[512], path[200];

	assert_bad("[api]\nlisten = 127.0.0.1:8500\n[web]\n"
	    "listen = 0.0.0.0:8500\n", "[api] listen 127.0.0.1:8500 and [web] "
	    "listen 0.0.0.0:8500 share a port");
	assert_bad("[sidecar]\nlisten = [::1]:8500\n[broker]\n"
	    "listen = [::]:8500\n", "share a port");
	/* [::] takes IPv4 too (IPV6_V6ONLY left off). */
	assert_bad("[api]\nlisten = 127.0.0.1:8500\n[web]\n"
	    "listen = [::]:8500\n", "share a port");
	assert_bad("[api]\nlisten = [::]:8500\n[web]\n"
	    "listen = 0.0.0.0:8500\n", "share a port");
	/* Port 0, another address, a role that does not run: all fine. */
	assert_int_equal(load(&c, "[api]\nlisten = 127.0.0.1:0\n[web]\n"
	    "listen = 127.0.0.1:0\n[sidecar]\nlisten = 127.0.0.2:8500\n"
	    "[broker]\nlisten = 127.0.0.1:8500\n[api]\nworkers = 0\n"
	    "listen = 127.0.0.1:8500\n"), 0);
	assert_int_equal(load(&c, "[api]\nlisten = [::1]:8500\n[web]\n"
	    "listen = 127.0.0.1:8500\n"), 0);
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	snprintf(text, sizeof(text), "[microd]\nsocket = /%.107s\n", path);
	assert_bad(text, "socket: path longer than 107 bytes");
	snprintf(text, sizeof(text), "[microd]\nsocket = /%.106s\n", path);
	assert_int_equal(load(&c, text), 0);
}

static void
test_all_errors_reported(void **state)
{
	struct config	 c;

	assert_int_equal(load(&c, "[api]\na = 1\nb = 2\n"), -1);
	assert_non_null(strstr(errs, ":2: unknown key 'a'"));
	assert_non_null(strstr(errs, ":3: unknown key 'b'"));
}

static void
test_env_overrides(void **state)
{
	struct config	 c;

	setenv("MICRO_API_LISTEN", "127.0.0.1:0", 1);
	setenv("MICRO_REGISTRY", "etcd", 1);
	setenv("MICRO_REGISTRY_ADDRESS", "127.0.0.1:2379", 1);
	assert_int_equal(load(&c, "[api]\nlisten = 127.0.0.1:9999\n"), 0);
	assert_string_equal(c.roles[ROLE_API].listen, "127.0.0.1:0");
	assert_string_equal(c.registry_backend, "etcd");
	assert_string_equal(c.registry_address, "127.0.0.1:2379");
	setenv("MICRO_API_WORKERS", "lots", 1);
	assert_int_equal(load(&c, "[api]\n"), -1);
	assert_non_null(strstr(errs, "MICRO_API_WORKERS"));
	unsetenv("MICRO_API_LISTEN");
	unsetenv("MICRO_REGISTRY");
	unsetenv("MICRO_REGISTRY_ADDRESS");
	unsetenv("MICRO_API_WORKERS");
}

/*
 * Durations as Go writes them (go-micro clients send "1m30s", "1.5s";
 * they used to be refused), or a bare number of seconds. Under a ms is
 * 1 ms, not 0, which means no TTL (a node that never expired).
 */
static void
test_durations(void **state)
{
	static const struct {
		const char	*text;
		int64_t		 ms;	/* -1: refused */
	} cases[] = {
		{ "30", 30000 }, { "0", 0 }, { "500ms", 500 }, { "5m", 300000 },
		{ "1m30s", 90000 }, { "1.5s", 1500 }, { "2h45m", 9900000 },
		{ "1.5h", 5400000 }, { ".5s", 500 }, { "5m0s", 300000 },
		{ "1500us", 1 }, { "1500\xc2\xb5s", 1 }, { "999999ns", 1 },
		{ "1ns", 1 }, { "0.0001s", 1 }, { "0s", 0 }, { "0h0m", 0 },
		{ "0.0015s", 1 }, { "1h1m1s1ms", 3661001 },
		{ "", -1 }, { "s", -1 }, { ".s", -1 }, { "1.5", -1 },
		{ "-1s", -1 }, { "+1s", -1 }, { "1x", -1 }, { "1s2", -1 },
		{ "5 s", -1 }, { "1e3s", -1 }, { "1s junk", -1 },
		{ "99999999999999999999", -1 },
		/* Past what ns can hold: as large as can be, for range checks. */
		{ "18446744073709551615ms", 18446744073709 },
		{ "5124096h", 18446744073709 }, { "5124095h1h", 18446744073709 },
	};
	uint64_t	 ms;
	size_t		 i;
	int		 rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ms = 12345;
		rc = util_parse_duration_ms(cases[i].text, &ms);
		if (cases[i].ms == -1 ? rc != -1 :
		    rc != 0 || ms != (uint64_t)cases[i].ms)
			fail_msg("\"%s\": rc %d, %llu ms", cases[i].text, rc,
			    (unsigned long long)ms);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_without_file),
		cmocka_unit_test(test_missing_explicit_file),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_address_lists),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_all_errors_reported),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_zero_refused_where_meaningless),
		cmocka_unit_test(test_indented_keys),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_syntax_error_among_others),
		cmocka_unit_test(test_unbindable),
		cmocka_unit_test(test_durations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
