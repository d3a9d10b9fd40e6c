/*
 * The plugin loader (lib/plugin.c) and the broker's use of it
 * (broker/backend.c), against the stand-ins built from plugin_stub.c: a
 * good one loads; another ABI, a missing symbol, a missing file, a file
 * cut short and a name that is no plain word are refused with their
 * reason, before anything of the plugin runs.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/backend.h"
#include "plugin.h"
#include "registry/backend.h"

static void
stub_dir(const char *sub)
{
	char	 dir[1024];

	snprintf(dir, sizeof(dir), "%s/%s", STUB_DIR, sub);
	assert_int_equal(setenv("MICROD_PLUGIN_DIR", dir, 1), 0);
}

/* cause, then freed; fails unless it holds want. */
static void
assert_cause(char *cause, const char *want)
{
	assert_non_null(cause);
	if (strstr(cause, want) == NULL)
		fail_msg("\"%s\" not in \"%s\"", want, cause);
	free(cause);
}

static void
test_loads_matching_abi(void **state)
{
	const struct broker_backend	*be;
	char				*cause = NULL;

	stub_dir("plugins-ok");
	be = plugin_load("broker", "stub", BROKER_BACKEND_SYMBOL,
	    BROKER_BACKEND_ABI, sizeof(struct broker_backend), &cause);
	assert_non_null(be);
	assert_null(cause);
	assert_int_equal(be->abi, BROKER_BACKEND_ABI);
	assert_string_equal(be->name, "stub");
	/* Loaded once: the same object again. */
	assert_ptr_equal(broker_backend_load("stub", &cause), be);
}

static void
test_refuses_other_abi(void **state)
{
	char	 want[64];
	char	*cause = NULL;

	stub_dir("plugins-abi");
	assert_null(broker_backend_load("nats", &cause));
	snprintf(want, sizeof(want), "(ABI %u, microd speaks %u)",
	    BROKER_BACKEND_ABI + 1, BROKER_BACKEND_ABI);
	assert_cause(cause, "broker-nats.so is not binary compatible");
	cause = NULL;
	assert_null(broker_backend_load("nats", &cause));
	assert_cause(cause, want);

	/* The registry's backends go through the same check. */
	cause = NULL;
	assert_null(plugin_load("registry", "etcd", REGISTRY_BACKEND_SYMBOL,
	    REGISTRY_BACKEND_ABI, sizeof(struct registry_backend), &cause));
	assert_cause(cause, "registry-etcd.so is not binary compatible");
}

static void
test_refuses_missing_symbol(void **state)
{
	char	*cause = NULL;

	stub_dir("plugins-ok");
	assert_null(broker_backend_load("nosym", &cause));
	assert_cause(cause, "broker-nosym.so has no microd_broker_backend");
}

static void
test_refuses_missing_file(void **state)
{
	char	*cause = NULL;

	stub_dir("plugins-ok");
	assert_null(broker_backend_load("nats", &cause));
	assert_cause(cause, "broker backend nats: ");
	cause = NULL;
	assert_null(broker_backend_load("nats", &cause));
	assert_cause(cause, "plugins-ok/broker-nats.so");
}

/* The good stand-in, cut to its first len bytes in a private directory. */
static void
cut_copy(const char *dir, off_t len)
{
	char		 from[1024], to[1024], buf[4096];
	int		 in, out;
	ssize_t		 n;

	snprintf(from, sizeof(from), "%s/plugins-ok/broker-stub.so",
	    STUB_DIR);
	snprintf(to, sizeof(to), "%s/broker-cut.so", dir);
	assert_true((in = open(from, O_RDONLY)) != -1);
	assert_true((out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644)) !=
	    -1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, n), n);
	assert_int_equal(ftruncate(out, len), 0);
	close(in);
	close(out);
}

/* dlopen would fault on the missing pages (SIGBUS), not fail. */
static void
test_refuses_file_cut_short(void **state)
{
	char	 dir[] = "/tmp/test_plugin.XXXXXX", path[1024];
	char	*cause = NULL;

	assert_non_null(mkdtemp(dir));
	cut_copy(dir, 2048);
	assert_int_equal(setenv("MICROD_PLUGIN_DIR", dir, 1), 0);
	assert_null(plugin_load("broker", "cut", BROKER_BACKEND_SYMBOL,
	    BROKER_BACKEND_ABI, sizeof(struct broker_backend), &cause));
	assert_cause(cause, "broker-cut.so is cut short");
	snprintf(path, sizeof(path), "%s/broker-cut.so", dir);
	unlink(path);
	rmdir(dir);
}

static void
test_refuses_bad_names(void **state)
{
	const char	*bad[] = { "", "../x", "a/b", "NATS", "a.so", "a b" };
	char		*cause;
	size_t		 i;

	stub_dir("plugins-ok");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cause = NULL;
		assert_null(plugin_load("broker", bad[i],
		    BROKER_BACKEND_SYMBOL, BROKER_BACKEND_ABI,
		    sizeof(struct broker_backend), &cause));
		assert_cause(cause, "is not a valid name");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loads_matching_abi),
		cmocka_unit_test(test_refuses_other_abi),
		cmocka_unit_test(test_refuses_missing_symbol),
		cmocka_unit_test(test_refuses_missing_file),
		cmocka_unit_test(test_refuses_file_cut_short),
		cmocka_unit_test(test_refuses_bad_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
