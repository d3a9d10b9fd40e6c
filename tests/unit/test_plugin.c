/*
 * The plugin loader (lib/plugin.c) and the broker's use of it
 * (broker/backend.c), against the stand-ins built from plugin_stub.c: a
 * good one loads; another ABI, a missing symbol, a missing file and a
 * name that is no plain word are refused with their reason, before
 * anything of the plugin runs.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	    BROKER_BACKEND_ABI, &cause);
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
	    REGISTRY_BACKEND_ABI, &cause));
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
		    BROKER_BACKEND_SYMBOL, BROKER_BACKEND_ABI, &cause));
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
		cmocka_unit_test(test_refuses_bad_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
