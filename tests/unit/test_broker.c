/*
 * broker/ring.c and broker/broker.c in one process: rings attached twice
 * stand for two processes. Round trip, an empty body, laps without torn
 * reads, wakeups, queue group targets, then the core's fan-out, queue
 * exclusivity and spread, a refusing member, and one leaving from its own
 * callback.
 */
#include "config.h"

#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "base64.h"
#include "broker/broker.h"
#include "broker/ring.h"
#include "microd/conf.h"

static void
test_ring_roundtrip(void **state)
{
	struct bring	*a, *b;
	struct bring_msg m;
	const char	*cause;

	assert_non_null(a = bring_attach(&cause));
	assert_non_null(b = bring_attach(&cause));
	assert_int_not_equal(bring_self(a), bring_self(b));
	assert_int_equal(bring_next(b, &m), 0);
	assert_int_equal(bring_publish(a, "orders", "text/plain", "hello", 5,
	    &cause), 0);
	assert_int_equal(bring_next(b, &m), 1);
	assert_int_equal(m.topic_len, 6);
	assert_memory_equal(m.topic, "orders", 6);
	assert_memory_equal(m.ctype, "text/plain", 10);
	assert_int_equal(m.body_len, 5);
	assert_memory_equal(m.body, "hello", 5);
	assert_int_equal(m.ntargets, 0);
	assert_int_equal(bring_next(b, &m), 0);
	/* The writer reads its own ring too. */
	assert_int_equal(bring_next(a, &m), 1);
	bring_detach(a);
	bring_detach(b);
}

/*
 * An empty body may come as NULL (an empty evbuffer's pullup: an empty
 * POST, an empty fragmented message): undefined for memcpy, which the
 * sanitizers make fatal.
 */
static void
test_ring_empty_body(void **state)
{
	struct bring	*a;
	struct bring_msg m;
	const char	*cause;

	assert_non_null(a = bring_attach(&cause));
	assert_int_equal(bring_publish(a, "t", "text/plain", NULL, 0, &cause),
	    0);
	assert_int_equal(bring_next(a, &m), 1);
	assert_int_equal(m.body_len, 0);
	assert_memory_equal(m.ctype, "text/plain", 10);
	bring_detach(a);
}

/* A reader far behind loses messages, each counted, never a torn one. */
static void
test_ring_lap(void **state)
{
	struct bring	*a, *b;
	struct bring_msg m;
	uint64_t	 before[BRING_NCOUNTERS], after[BRING_NCOUNTERS];
	static char	 body[64 * 1024];
	const char	*cause;
	unsigned	 i, seen = 0, last = 0, seq;

	assert_non_null(a = bring_attach(&cause));
	assert_non_null(b = bring_attach(&cause));
	bring_stats(before);
	for (i = 1; i <= 200; i++) {
		memset(body, (int)(i & 0xff), sizeof(body));
		memcpy(body, &i, sizeof(i));
		assert_int_equal(bring_publish(a, "big", "x/y", body,
		    sizeof(body), &cause), 0);
	}
	while (bring_next(b, &m)) {
		memcpy(&seq, m.body, sizeof(seq));
		assert_true(seq > last);
		assert_int_equal(((const uint8_t *)m.body)[sizeof(body) - 1],
		    seq & 0xff);
		last = seq;
		seen++;
	}
	assert_int_equal(last, 200);
	assert_true(seen < 200);
	bring_stats(after);
	/* Every message skipped, not one per lap. */
	assert_int_equal(after[BRING_LOST] - before[BRING_LOST], 200 - seen);
	/* Caught up: nothing more is lost. */
	assert_int_equal(bring_publish(a, "big", "x/y", "z", 1, &cause), 0);
	assert_int_equal(bring_next(b, &m), 1);
	bring_stats(before);
	assert_int_equal(before[BRING_LOST], after[BRING_LOST]);
	bring_detach(a);
	bring_detach(b);
}

static void
test_ring_wake(void **state)
{
	struct bring	*a, *b;
	struct bring_msg m;
	const char	*cause;
	char		 c;

	assert_non_null(a = bring_attach(&cause));
	assert_non_null(b = bring_attach(&cause));
	assert_int_equal(bring_sleep(b), 0);
	assert_int_equal(recv(bring_wake_fd(b), &c, 1, MSG_DONTWAIT), -1);
	bring_publish(a, "t", "x/y", "1", 1, &cause);
	assert_int_equal(recv(bring_wake_fd(b), &c, 1, MSG_DONTWAIT), 1);
	/* One wake per sleep: no second byte until b sleeps again. */
	bring_publish(a, "t", "x/y", "2", 1, &cause);
	assert_int_equal(recv(bring_wake_fd(b), &c, 1, MSG_DONTWAIT), -1);
	/* Going to sleep with unread messages says "read on". */
	assert_int_equal(bring_sleep(b), 1);
	while (bring_next(b, &m))
		;
	assert_int_equal(bring_sleep(b), 0);
	/* The byte of that sleep's wake-up is what bring_drain() takes. */
	bring_publish(a, "t", "x/y", "3", 1, &cause);
	bring_drain(b);
	assert_int_equal(recv(bring_wake_fd(b), &c, 1, MSG_DONTWAIT), -1);
	bring_detach(a);
	bring_detach(b);
}

static void
test_ring_group_targets(void **state)
{
	struct bring		*a, *b;
	struct bring_group	*ga, *gb;
	struct bring_msg	 m;
	uint64_t		 q = bring_group_hash("jobs", "workers");
	const char		*cause;
	int			 i, on_a = 0, on_b = 0, r;

	assert_non_null(a = bring_attach(&cause));
	assert_non_null(b = bring_attach(&cause));
	assert_non_null(ga = bring_group_join(a, "jobs", "workers", &cause));
	assert_non_null(gb = bring_group_join(b, "jobs", "workers", &cause));
	assert_ptr_equal(ga, gb);
	for (i = 0; i < 10; i++)
		bring_publish(a, "jobs", "x/y", "j", 1, &cause);
	while (bring_next(b, &m)) {
		assert_int_equal(m.ntargets, 1);
		r = bring_msg_target(&m, q);
		assert_true(r == (int)bring_self(a) || r == (int)bring_self(b));
		if (r == (int)bring_self(a))
			on_a++;
		else
			on_b++;
		assert_int_equal(bring_msg_target(&m, q + 1), -1);
	}
	assert_int_equal(on_a, 5);
	assert_int_equal(on_b, 5);
	/* A group without members gets no copy. */
	bring_group_count(a, ga, -1);
	bring_group_count(b, gb, -1);
	bring_publish(a, "jobs", "x/y", "j", 1, &cause);
	assert_int_equal(bring_next(b, &m), 1);
	assert_int_equal(m.ntargets, 0);
	bring_detach(a);
	bring_detach(b);
}

/* Core tests: subscribers are counters of what they were handed. */
struct fake_sub {
	int			 got;
	int			 calls;
	int			 refuse;
	int			 leave;		/* unsubscribes, as if cut */
	struct broker_sub	*self;
	char			 last[512];
};

static int
fake_deliver(const void *env, size_t len, void *arg)
{
	struct fake_sub	*f = arg;

	f->calls++;
	if (f->leave)
		broker_unsubscribe(f->self);
	if (f->refuse || f->leave)
		return -1;
	f->got++;
	snprintf(f->last, sizeof(f->last), "%.*s", (int)len,
	    (const char *)env);
	return 0;
}

static struct config	 conf;
static struct event_base *base;

static int
core_setup(void **state)
{
	const char	*cause;

	base = event_base_new();
	assert_int_equal(broker_init(base, &conf, &cause), 0);
	return 0;
}

static int
core_teardown(void **state)
{
	broker_shutdown();
	event_base_free(base);
	return 0;
}

/* The envelope's header name, a string. */
static const char *
envelope_header(json_t *env, const char *name)
{
	return json_string_value(json_object_get(json_object_get(env,
	    "Header"), name));
}

static void
test_core_envelope(void **state)
{
	struct fake_sub		 f = { 0 };
	struct broker_sub	*s;
	json_t			*env;
	const char		*cause, *b64;
	char			 raw[16];

	assert_non_null(s = broker_subscribe("news", NULL, fake_deliver, &f,
	    &cause));
	assert_int_equal(broker_publish("news", "application/json",
	    "{\"a\":1}", 7, &cause), 0);
	assert_int_equal(broker_publish("other", "text/plain", "x", 1,
	    &cause), 0);
	broker_run();
	assert_int_equal(f.got, 1);
	assert_non_null(env = json_loads(f.last, 0, NULL));
	assert_string_equal(envelope_header(env, "Content-Type"),
	    "application/json");
	assert_string_equal(envelope_header(env, "Micro-Topic"), "news");
	b64 = json_string_value(json_object_get(env, "Body"));
	assert_int_equal(base64_decode(b64, strlen(b64), raw), 7);
	assert_memory_equal(raw, "{\"a\":1}", 7);
	json_decref(env);

	/* A quoted parameter, escaped: the envelope is still JSON. */
	assert_int_equal(broker_publish("news", "text/plain; x=\"a\\\\b\"",
	    "x", 1, &cause), 0);
	broker_run();
	assert_int_equal(f.got, 2);
	assert_non_null(env = json_loads(f.last, 0, NULL));
	assert_string_equal(envelope_header(env, "Content-Type"),
	    "text/plain; x=\"a\\\\b\"");
	json_decref(env);
	broker_unsubscribe(s);
}

static void
test_core_fanout_and_queue(void **state)
{
	struct fake_sub		 plain[3] = { 0 }, member[3] = { 0 };
	struct broker_sub	*s[6];
	const char		*cause;
	int			 i;

	for (i = 0; i < 3; i++) {
		s[i] = broker_subscribe("t", NULL, fake_deliver, &plain[i],
		    &cause);
		s[3 + i] = broker_subscribe("t", "g", fake_deliver, &member[i],
		    &cause);
		assert_non_null(s[i]);
		assert_non_null(s[3 + i]);
	}
	for (i = 0; i < 30; i++)
		assert_int_equal(broker_publish("t", "text/plain", "m", 1,
		    &cause), 0);
	broker_run();
	for (i = 0; i < 3; i++) {
		assert_int_equal(plain[i].got, 30);
		assert_int_equal(member[i].got, 10);
	}
	/* A member that refuses passes its turn to the next one. */
	member[0].refuse = 1;
	for (i = 0; i < 6; i++)
		broker_publish("t", "text/plain", "m", 1, &cause);
	broker_run();
	assert_int_equal(member[0].got, 10);
	assert_int_equal(member[1].got + member[2].got, 26);
	for (i = 0; i < 6; i++)
		broker_unsubscribe(s[i]);
}

/* The counter name of broker_stats_json, summed over every process. */
static json_int_t
core_stat(const char *name)
{
	char		*text = broker_stats_json();
	json_t		*j = json_loads(text, 0, NULL);
	json_int_t	 v;

	assert_non_null(j);
	v = json_integer_value(json_object_get(j, name));
	json_decref(j);
	free(text);
	return v;
}

/*
 * A queue group's messages are spread per member, whatever process holds
 * them: here 3 members in this process, 1 in another (ring b), so 30 of 40.
 */
static void
test_core_spread_per_member(void **state)
{
	struct fake_sub		 member[3] = { 0 };
	struct broker_sub	*s[3];
	struct bring		*b;
	struct bring_group	*g;
	const char		*cause;
	int			 i;

	for (i = 0; i < 3; i++)
		assert_non_null(s[i] = broker_subscribe("jobs", "w",
		    fake_deliver, &member[i], &cause));
	assert_non_null(b = bring_attach(&cause));
	assert_non_null(g = bring_group_join(b, "jobs", "w", &cause));
	for (i = 0; i < 40; i++)
		assert_int_equal(bring_publish(b, "jobs", "text/plain", "m", 1,
		    &cause), 0);
	broker_run();
	for (i = 0; i < 3; i++)
		assert_int_equal(member[i].got, 10);
	bring_group_count(b, g, -1);
	bring_detach(b);
	for (i = 0; i < 3; i++)
		broker_unsubscribe(s[i]);
}

/* Copies for a group that left after the publisher chose us: unrouted. */
static void
test_core_unrouted_counted(void **state)
{
	struct fake_sub		 member = { 0 };
	struct broker_sub	*s;
	const char		*cause;
	json_int_t		 before = core_stat("unrouted");
	int			 i;

	assert_non_null(s = broker_subscribe("gone", "w", fake_deliver,
	    &member, &cause));
	for (i = 0; i < 5; i++)
		assert_int_equal(broker_publish("gone", "text/plain", "m", 1,
		    &cause), 0);
	broker_unsubscribe(s);
	broker_run();
	assert_int_equal(member.got, 0);
	assert_int_equal(core_stat("unrouted") - before, 5);
}

/*
 * A subscriber cut from inside its deliver callback (too slow) gets
 * nothing more, the others get everything, and its queue group stops
 * counting it at once, exactly once.
 */
static void
test_core_unsubscribe_while_delivering(void **state)
{
	struct fake_sub		 plain[2] = { 0 }, member[2] = { 0 };
	struct bring		*b;
	struct bring_msg	 m;
	const char		*cause;
	int			 i;

	for (i = 0; i < 2; i++) {
		assert_non_null(plain[i].self = broker_subscribe("cut", NULL,
		    fake_deliver, &plain[i], &cause));
		assert_non_null(member[i].self = broker_subscribe("cut", "g",
		    fake_deliver, &member[i], &cause));
	}
	plain[0].leave = member[0].leave = 1;
	for (i = 0; i < 3; i++)
		assert_int_equal(broker_publish("cut", "text/plain", "m", 1,
		    &cause), 0);
	broker_run();
	assert_int_equal(plain[0].calls, 1);
	assert_int_equal(member[0].calls, 1);
	assert_int_equal(plain[1].got, 3);
	assert_int_equal(member[1].got, 3);
	broker_unsubscribe(plain[1].self);
	broker_unsubscribe(member[1].self);
	/* No member left anywhere: another process routes no copy here. */
	assert_non_null(b = bring_attach(&cause));
	assert_int_equal(bring_publish(b, "cut", "x/y", "m", 1, &cause), 0);
	assert_int_equal(bring_next(b, &m), 1);
	assert_int_equal(m.ntargets, 0);
	bring_detach(b);
}

static void
test_core_limits(void **state)
{
	const char	*cause;
	static char	 big[4097];

	assert_int_equal(broker_publish("t", "text/plain", big, sizeof(big),
	    &cause), -1);
	assert_true(broker_name_valid("go.micro.topic:a/b-c_d"));
	assert_false(broker_name_valid(""));
	assert_false(broker_name_valid("a b"));
	assert_false(broker_name_valid("a\"b"));
	assert_true(broker_ctype_valid("application/json; charset=utf-8"));
	assert_true(broker_ctype_valid("text/plain; charset=\"utf-8\""));
	assert_false(broker_ctype_valid("a\nb"));
	assert_false(broker_ctype_valid("caf\xc3\xa9"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_roundtrip),
		cmocka_unit_test(test_ring_empty_body),
		cmocka_unit_test(test_ring_lap),
		cmocka_unit_test(test_ring_wake),
		cmocka_unit_test(test_ring_group_targets),
		cmocka_unit_test_setup_teardown(test_core_envelope,
		    core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(test_core_fanout_and_queue,
		    core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(test_core_spread_per_member,
		    core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(test_core_unrouted_counted,
		    core_setup, core_teardown),
		cmocka_unit_test_setup_teardown(
		    test_core_unsubscribe_while_delivering, core_setup,
		    core_teardown),
		cmocka_unit_test_setup_teardown(test_core_limits,
		    core_setup, core_teardown),
	};
	const char	*cause;

	snprintf(conf.broker_backend, sizeof(conf.broker_backend), "builtin");
	conf.broker_max_message = 4096;
	conf.broker_queue_size = 16;
	if (bring_create(conf.broker_max_message, &cause) == -1) {
		fprintf(stderr, "bring_create: %s\n", cause);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
