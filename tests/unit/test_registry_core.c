#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>
#include <sqlite3.h>

#include "registry/core.h"
#include "shm/registry.h"
#include "shm/shm.h"
#include "svc.h"
#include "tests/unit/testdir.h"
#include "util.h"

#define GREETER								\
	"{\"name\":\"go.micro.srv.greeter\",\"version\":\"1.0.0\","	\
	"\"metadata\":null,\"endpoints\":[{\"name\":\"Say.Hello\"}],"	\
	"\"nodes\":[{\"id\":\"g1\",\"address\":\"127.0.0.1:9091\","	\
	"\"metadata\":{\"protocol\":\"mucp\"}},"			\
	"{\"id\":\"g2\",\"address\":\"127.0.0.1\",\"port\":9092}]}"

struct fixture {
	char			 dir[64];
	char			 db[128];
	struct shm		*shm;
	unsigned		 slot;
	struct event_base	*base;
	struct registry_core	*rc;
};

/* A backend that records what the core asks of it. */
static const struct registry_host *fake_host;
static char	*fake_put_json, *fake_del_json;
static uint64_t	 fake_put_ttl;

static void *
fake_open(const struct registry_host *host, const char **cause)
{
	fake_host = host;
	return (void *)host;
}

static void
fake_put(void *state, const char *json, uint64_t ttl_ms)
{
	free(fake_put_json);
	fake_put_json = xstrdup(json);
	fake_put_ttl = ttl_ms;
}

static void
fake_del(void *state, const char *json)
{
	free(fake_del_json);
	fake_del_json = xstrdup(json);
}

static const struct registry_backend fake_backend = {
	.abi = REGISTRY_BACKEND_ABI,
	.name = "fake",
	.open = fake_open,
	.put = fake_put,
	.del = fake_del,
};

static struct registry_core *
core_open_backend(struct fixture *f, const struct registry_backend *be,
    uint64_t ttl_ms)
{
	struct registry_core_conf	 conf;
	struct registry_core		*rc;
	char				*cause = NULL;

	memset(&conf, 0, sizeof(conf));
	conf.db_path = f->db;
	conf.backend = be;
	conf.backend_conf.ttl_ms = ttl_ms;
	if ((rc = registry_core_open(&conf, f->base, f->shm, f->slot,
	    &cause)) == NULL)
		fail_msg("registry_core_open: %s", cause);
	return rc;
}

static struct registry_core *
core_open(struct fixture *f, uint64_t ttl_ms)
{
	return core_open_backend(f, &registry_backend_local, ttl_ms);
}

static int
setup(void **state)
{
	struct fixture		*f = xcalloc(1, sizeof(*f));
	struct shm_slot_info	 info = { .pid = getpid() };
	const char		*cause;
	int			 slot;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_registry.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof(f->db), "%s/registry.db", f->dir);
	if ((f->shm = shm_create(4 << 20, 8, 256, &cause)) == NULL ||
	    (slot = shm_slot_claim(f->shm, &info, &cause)) == -1) {
		fprintf(stderr, "shm: %s\n", cause);
		return -1;
	}
	f->slot = slot;
	f->base = event_base_new();
	f->rc = core_open(f, 30000);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	registry_core_close(f->rc);
	event_base_free(f->base);
	shm_destroy(f->shm);
	testdir_remove(f->dir);
	free(f);
	return 0;
}

/* What shm holds for name: -1 if absent, else nodes; json copied out. */
static int
lookup(struct fixture *f, const char *name, char **json)
{
	struct shm_service	 svc;
	int			 n = -1;

	shm_read_begin(f->shm, f->slot);
	if (shm_lookup(f->shm, name, strlen(name), &svc) == 0) {
		n = (int)svc.nnodes;
		if (json != NULL)
			*json = xstrndup(svc.json, svc.json_len);
	}
	shm_read_end(f->shm);
	return n;
}

static void
reg(struct fixture *f, const char *json, uint64_t ttl_ms)
{
	char	*cause = NULL;

	if (registry_core_register(f->rc, json, strlen(json), ttl_ms,
	    &cause) != 0)
		fail_msg("register: %s", cause);
}

static void
dereg(struct fixture *f, const char *json)
{
	char	*cause = NULL;

	if (registry_core_deregister(f->rc, json, strlen(json), &cause) != 0)
		fail_msg("deregister: %s", cause);
}

/* Run the loop for ms so timers fire. */
static void
run_for(struct fixture *f, unsigned ms)
{
	struct timeval	 tv = util_timeval(ms);

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

static void
test_register_publishes(void **state)
{
	struct fixture		*f = *state;
	struct shm_service	 svc;
	struct shm_node		 node;
	struct shm_sync		 sync;
	json_t			*a;
	char			*json;

	reg(f, GREETER, REGISTRY_TTL_DEFAULT);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &json), 2);
	a = json_loads(json, 0, NULL);
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(a, 0), "nodes"), 1), "address")),
	    "127.0.0.1:9092");
	assert_null(strstr(json, "null"));
	json_decref(a);
	free(json);

	shm_read_begin(f->shm, f->slot);
	assert_int_equal(shm_lookup(f->shm, "go.micro.srv.greeter", 20, &svc),
	    0);
	shm_service_node(&svc, 0, &node);
	assert_string_equal(node.id, "g1");
	assert_string_equal(node.version, "1.0.0");
	assert_int_equal(node.flags & SHM_NODE_MUCP, SHM_NODE_MUCP);
	shm_service_node(&svc, 1, &node);
	assert_int_equal(node.flags & SHM_NODE_MUCP, 0);
	shm_read_sync(f->shm, &sync);
	shm_read_end(f->shm);
	assert_string_equal(sync.backend, "local");
	assert_int_equal(sync.connected, 1);
}

static void
test_bad_input_changes_nothing(void **state)
{
	static const char *const bad[] = {
		"", "not json", "[]", "{\"name\":\"x\"}",
		"{\"name\":\"go.micro.srv.greeter\",\"nodes\":[{\"id\":\"z\","
		    "\"address\":\"nope\"}]}",
	};
	struct fixture	*f = *state;
	char		*before, *after, *cause;
	size_t		 i;

	reg(f, GREETER, 0);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &before), 2);
	for (i = 0; i < nitems(bad); i++) {
		cause = NULL;
		assert_int_equal(registry_core_register(f->rc, bad[i],
		    strlen(bad[i]), 0, &cause), REGISTRY_REFUSED);
		assert_non_null(cause);
		assert_null(strchr(cause, '\n'));
		free(cause);
	}
	cause = NULL;
	assert_int_equal(registry_core_register(f->rc, GREETER,
	    strlen(GREETER), REGISTRY_TTL_MAX_MS + 1, &cause),
	    REGISTRY_REFUSED);
	free(cause);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &after), 2);
	assert_string_equal(before, after);
	assert_int_equal(lookup(f, "x", NULL), -1);
	free(before);
	free(after);
}

static void
test_deregister(void **state)
{
	struct fixture	*f = *state;

	reg(f, GREETER, 0);
	reg(f, "{\"name\":\"go.micro.srv.greeter\",\"version\":\"2\","
	    "\"nodes\":[{\"id\":\"g3\",\"address\":\"h:3\"}]}", 0);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 3);
	dereg(f, "{\"name\":\"go.micro.srv.greeter\",\"version\":\"1.0.0\","
	    "\"nodes\":[{\"id\":\"g1\"}]}");
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 2);
	dereg(f, "{\"name\":\"nobody\",\"nodes\":[{\"id\":\"x\"}]}");
	dereg(f, "{\"name\":\"go.micro.srv.greeter\",\"version\":\"2\","
	    "\"nodes\":[{\"id\":\"g3\"}]}");
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 1);
	dereg(f, "{\"name\":\"go.micro.srv.greeter\",\"version\":\"1.0.0\","
	    "\"nodes\":[{\"id\":\"g2\"}]}");
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), -1);
}

static void
test_ttl_expiry(void **state)
{
	struct fixture	*f = *state;

	reg(f, GREETER, 150);
	reg(f, "{\"name\":\"forever\",\"nodes\":[{\"id\":\"f\","
	    "\"address\":\"h:1\"}]}", 0);
	reg(f, "{\"name\":\"default\",\"nodes\":[{\"id\":\"d\","
	    "\"address\":\"h:1\"}]}", REGISTRY_TTL_DEFAULT);
	run_for(f, 50);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 2);
	/* A refresh moves the deadline of g1 only. */
	reg(f, "{\"name\":\"go.micro.srv.greeter\",\"version\":\"1.0.0\","
	    "\"nodes\":[{\"id\":\"g1\",\"address\":\"127.0.0.1:9091\"}]}", 400);
	run_for(f, 300);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 1);
	run_for(f, 400);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), -1);
	assert_int_equal(lookup(f, "forever", NULL), 1);
	assert_int_equal(lookup(f, "default", NULL), 1);	/* 30 s */
}

static void
test_restart_reloads(void **state)
{
	struct fixture		*f = *state;
	struct shm_slot_info	 info = { .pid = getpid() };
	char			*before, *after;
	const char		*cause;

	reg(f, GREETER, 0);
	reg(f, "{\"name\":\"short\",\"nodes\":[{\"id\":\"s\","
	    "\"address\":\"h:1\"}]}", 100);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &before), 2);
	registry_core_close(f->rc);

	/* A fresh segment, as after a full restart: sqlite refills it. */
	shm_destroy(f->shm);
	f->shm = shm_create(4 << 20, 8, 256, &cause);
	assert_non_null(f->shm);
	assert_int_equal(shm_slot_claim(f->shm, &info, &cause), (int)f->slot);
	usleep(150 * 1000);
	f->rc = core_open(f, 30000);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &after), 2);
	assert_string_equal(before, after);
	assert_int_equal(lookup(f, "short", NULL), -1);
	free(before);
	free(after);
}

static void
test_stale_shm_unpublished(void **state)
{
	struct fixture	*f = *state;

	reg(f, GREETER, 0);
	registry_core_close(f->rc);
	/* The database loses what shm still shows (a writer killed between
	 * the two, or a database moved aside): shm follows the database. */
	unlink(f->db);
	f->rc = core_open(f, 30000);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), -1);
	reg(f, GREETER, 0);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 2);
}

static void
host_update(const char *json)
{
	assert_int_equal(fake_host->update(fake_host->core, json,
	    strlen(json)), 0);
}

static void
test_backend(void **state)
{
	struct fixture		*f = *state;
	const struct registry_sync sync = { 0, 7, "connection refused" };
	struct shm_sync		 got;
	char			*json;

	registry_core_close(f->rc);
	f->rc = core_open_backend(f, &fake_backend, 30000);

	reg(f, GREETER, REGISTRY_TTL_DEFAULT);
	assert_non_null(strstr(fake_put_json, "\"g2\""));
	assert_int_equal(fake_put_ttl, 30000);

	/* The store echoes g1 with another address and knows r1. */
	host_update("{\"name\":\"go.micro.srv.greeter\",\"version\":"
	    "\"1.0.0\",\"nodes\":[{\"id\":\"g1\",\"address\":\"h:1\"},"
	    "{\"id\":\"r1\",\"address\":\"h:5\"}]}");
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 3);
	assert_int_equal(fake_host->update(fake_host->core, "{", 1), -1);

	/* A relist that no longer has r1 drops it, not the local nodes. */
	fake_host->relist_begin(fake_host->core);
	host_update("{\"name\":\"other\",\"nodes\":[{\"id\":\"r2\","
	    "\"address\":\"h:6\"}]}");
	fake_host->relist_end(fake_host->core);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &json), 2);
	assert_null(strstr(json, "\"r1\""));
	free(json);
	assert_int_equal(lookup(f, "other", NULL), 1);

	/* The store forgetting a local node changes nothing here. */
	fake_host->remove(fake_host->core, "go.micro.srv.greeter", "g1");
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 2);
	fake_host->remove(fake_host->core, "other", "r2");
	assert_int_equal(lookup(f, "other", NULL), -1);

	dereg(f, "{\"name\":\"go.micro.srv.greeter\",\"version\":\"1.0.0\","
	    "\"nodes\":[{\"id\":\"g2\"}]}");
	assert_non_null(strstr(fake_del_json, "\"g2\""));
	assert_null(strstr(fake_del_json, "\"g1\""));

	fake_host->sync(fake_host->core, &sync);
	shm_read_begin(f->shm, f->slot);
	shm_read_sync(f->shm, &got);
	shm_read_end(f->shm);
	assert_string_equal(got.backend, "fake");
	assert_int_equal(got.connected, 0);
	assert_int_equal(got.revision, 7);
	assert_string_equal(got.error, "connection refused");
	free(fake_put_json);
	free(fake_del_json);
	fake_put_json = fake_del_json = NULL;
}

/*
 * The store keys a node by service and id: a new value for r1 under
 * another version moves it; a local node of that id stays where it is,
 * and the store's copy of it is not taken.
 */
static void
test_backend_version_move(void **state)
{
	struct fixture	*f = *state;
	char		*json;

	registry_core_close(f->rc);
	f->rc = core_open_backend(f, &fake_backend, 30000);
	reg(f, GREETER, REGISTRY_TTL_DEFAULT);
	host_update("{\"name\":\"go.micro.srv.greeter\",\"version\":"
	    "\"1.0.0\",\"nodes\":[{\"id\":\"r1\",\"address\":\"h:5\"}]}");
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 3);
	host_update("{\"name\":\"go.micro.srv.greeter\",\"version\":"
	    "\"2.0.0\",\"nodes\":[{\"id\":\"r1\",\"address\":\"h:6\"},"
	    "{\"id\":\"g1\",\"address\":\"h:7\"}]}");
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &json), 3);
	assert_null(strstr(json, "h:5"));
	assert_null(strstr(json, "h:7"));
	assert_non_null(strstr(json, "h:6"));
	assert_non_null(strstr(json, "\"version\":\"1.0.0\""));
	assert_non_null(strstr(json, "127.0.0.1:9091"));	/* local g1 */
	free(json);
	free(fake_put_json);
	free(fake_del_json);
	fake_put_json = fake_del_json = NULL;
}

/*
 * Nodes a store taught the file (a former etcd or Consul backend) go when
 * microd comes back with the local backend: nothing would relist them
 * and they have no TTL. The nodes registered here stay.
 */
static void
test_local_sweeps_learned_nodes(void **state)
{
	struct fixture	*f = *state;

	registry_core_close(f->rc);
	f->rc = core_open_backend(f, &fake_backend, 30000);
	reg(f, GREETER, 0);
	host_update("{\"name\":\"learned\",\"nodes\":[{\"id\":\"r1\","
	    "\"address\":\"h:5\"}]}");
	assert_int_equal(lookup(f, "learned", NULL), 1);
	registry_core_close(f->rc);

	f->rc = core_open(f, 30000);
	assert_int_equal(lookup(f, "learned", NULL), -1);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL), 2);
	registry_core_close(f->rc);
	f->rc = core_open(f, 30000);	/* gone from the file too */
	assert_int_equal(lookup(f, "learned", NULL), -1);
	free(fake_put_json);
	fake_put_json = NULL;
}

/* The database refuses (locked): the request fails, nothing changes. */
static void
test_database_failure(void **state)
{
	struct fixture	*f = *state;
	sqlite3		*db;
	char		*before, *after, *cause = NULL;

	reg(f, GREETER, 0);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &before), 2);
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(registry_core_deregister(f->rc, GREETER,
	    strlen(GREETER), &cause), -1);
	assert_non_null(strstr(cause, "registry database"));
	free(cause);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &after), 2);
	assert_string_equal(before, after);
	free(after);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);

	/* Memory still matches the file: a restart sees the same. */
	registry_core_close(f->rc);
	f->rc = core_open(f, 30000);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", &after), 2);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* A version's nodes: SVC_NODES_MAX, the first one ids n<first>. */
static char *
full_version(int first)
{
	json_t	*root, *nodes;
	char	*json, id[32];
	int	 i;

	nodes = json_array();
	for (i = first; i < first + SVC_NODES_MAX; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		json_array_append_new(nodes, json_pack("{s:s, s:s}", "id", id,
		    "address", "10.0.0.1:1"));
	}
	root = json_pack("{s:s, s:s, s:o}", "name", "go.micro.srv.full",
	    "version", "1", "nodes", nodes);
	json = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return json;
}

/* Merging past SVC_NODES_MAX is the request's fault, and changes nothing. */
static void
test_merge_past_node_limit_refused(void **state)
{
	struct fixture	*f = *state;
	char		*json, *cause = NULL;

	json = full_version(0);
	reg(f, json, 0);
	free(json);
	json = full_version(1);
	assert_int_equal(registry_core_register(f->rc, json, strlen(json), 0,
	    &cause), REGISTRY_REFUSED);
	assert_non_null(strstr(cause, "more than"));
	free(cause);
	free(json);
	assert_int_equal(lookup(f, "go.micro.srv.full", NULL), SVC_NODES_MAX);
}

/*
 * shm could never hold the record (too many bytes for one): refused as
 * the request's fault before the database is written.
 */
static void
test_shm_record_past_maximum_refused(void **state)
{
	struct fixture	*f = *state;
	json_t		*root, *nodes;
	char		*json, *cause = NULL, id[32], version[16];
	int		 v, i;

	reg(f, GREETER, 0);
	for (v = 0; ; v++) {
		nodes = json_array();
		for (i = 0; i < SVC_NODES_MAX; i++) {
			/* an id in another version would move */
			snprintf(id, sizeof(id), "v%dn%d", v, i);
			json_array_append_new(nodes, json_pack("{s:s, s:s}",
			    "id", id, "address", "10.0.0.1:1"));
		}
		snprintf(version, sizeof(version), "v%d", v);
		root = json_pack("{s:s, s:s, s:o}", "name",
		    "go.micro.srv.greeter", "version", version, "nodes", nodes);
		json = json_dumps(root, JSON_COMPACT);
		json_decref(root);
		if (registry_core_register(f->rc, json, strlen(json), 0,
		    &cause) == REGISTRY_REFUSED) {
			free(json);
			break;
		}
		free(json);
		assert_true(v < 10);
	}
	assert_non_null(strstr(cause, "bytes one service name may take"));
	free(cause);
	registry_core_close(f->rc);
	f->rc = core_open(f, 30000);
	assert_int_equal(lookup(f, "go.micro.srv.greeter", NULL),
	    2 + v * SVC_NODES_MAX);
}

/* shm refuses (its index full of names): the database is undone. */
static void
test_shm_failure_undone(void **state)
{
	struct fixture	*f = *state;
	char		*cause = NULL, json[128];
	int		 i, rv;

	for (i = 0; ; i++) {
		snprintf(json, sizeof(json), "{\"name\":\"s%d\",\"nodes\":"
		    "[{\"id\":\"n\",\"address\":\"10.0.0.1:1\"}]}", i);
		if ((rv = registry_core_register(f->rc, json, strlen(json), 0,
		    &cause)) != 0)
			break;
		assert_true(i < 10000);
	}
	assert_int_equal(rv, -1);
	assert_non_null(strstr(cause, "not published"));
	free(cause);
	registry_core_close(f->rc);
	f->rc = core_open(f, 30000);
	assert_int_equal(lookup(f, "s0", NULL), 1);
	snprintf(json, sizeof(json), "s%d", i);
	assert_int_equal(lookup(f, json, NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_register_publishes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_changes_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_deregister, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ttl_expiry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_restart_reloads, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stale_shm_unpublished,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_version_move, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_local_sweeps_learned_nodes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_database_failure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_merge_past_node_limit_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shm_record_past_maximum_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shm_failure_undone, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
