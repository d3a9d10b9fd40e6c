#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "ctlproto.h"

/* A finished frame copied out, so the ctl_frame can be freed at once. */
struct wire {
	unsigned char	*p;
	size_t		 len;
};

static struct wire
wire_take(struct ctl_frame *f)
{
	struct wire	 w;
	const void	*data;

	ctl_frame_end(f, &data, &w.len);
	w.p = malloc(w.len);
	memcpy(w.p, data, w.len);
	ctl_frame_free(f);
	return w;
}

/* Frame a raw payload, as a hostile or buggy peer would. */
static struct wire
wire_raw(const void *payload, uint32_t len, uint32_t claimed)
{
	struct wire	 w;

	w.len = 4 + (size_t)len;
	w.p = malloc(w.len);
	w.p[0] = claimed >> 24;
	w.p[1] = claimed >> 16;
	w.p[2] = claimed >> 8;
	w.p[3] = claimed;
	memcpy(w.p + 4, payload, len);
	return w;
}

/* Pack a map with the given pairs (values: uint, or str when s != NULL). */
static struct wire
wire_map(size_t n, const char *const *keys, const uint64_t *u,
    const char *const *s)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	struct wire	 w;
	size_t		 i;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n);
	for (i = 0; i < n; i++) {
		if (s[i] != NULL)
			ctl_pack_kv_str(&pk, keys[i], s[i]);
		else
			ctl_pack_kv_uint(&pk, keys[i], u[i]);
	}
	w = wire_raw(sb.data, sb.size, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return w;
}

static int
wire_parse(struct wire *w, struct ctl_msg *msg, size_t *used,
    const char **cause)
{
	*cause = NULL;
	return ctl_frame_parse(w->p, w->len, msg, used, cause);
}

static struct wire
make_request(void)
{
	struct ctl_frame	 f;

	ctl_frame_request(&f, 42, "restart", 1);
	ctl_pack_str(&f.pk, "args");
	msgpack_pack_map(&f.pk, 2);
	ctl_pack_kv_str(&f.pk, "role", "api");
	ctl_pack_kv_int(&f.pk, "id", -3);
	return wire_take(&f);
}

static void
test_request_roundtrip(void **state)
{
	struct wire	 w = make_request();
	struct ctl_msg	 msg;
	const char	*cause;
	char		 role[8];
	int64_t		 id;
	size_t		 used;

	assert_int_equal(wire_parse(&w, &msg, &used, &cause), 1);
	assert_int_equal(used, w.len);
	assert_int_equal(msg.version, CTL_PROTO_VERSION);
	assert_int_equal(msg.id, 42);
	assert_string_equal(msg.cmd, "restart");
	assert_false(msg.is_reply);
	assert_null(msg.event);
	assert_non_null(msg.args);
	assert_int_equal(ctl_obj_str(ctl_map_get(msg.args, "role"), role,
	    sizeof(role)), 0);
	assert_string_equal(role, "api");
	assert_int_equal(ctl_obj_str(ctl_map_get(msg.args, "role"), role, 3),
	    -1);
	assert_int_equal(ctl_obj_int(ctl_map_get(msg.args, "id"), &id), 0);
	assert_int_equal(id, -3);
	assert_null(ctl_map_get(msg.args, "missing"));
	assert_int_equal(ctl_obj_int(ctl_map_get(msg.args, "role"), &id), -1);
	ctl_msg_free(&msg);
	free(w.p);
}

/* A string holding a NUL is no name: "api\0x" must not read as "api". */
static void
test_obj_str_refuses_nul(void **state)
{
	msgpack_object	 o;
	char		 buf[8];

	o.type = MSGPACK_OBJECT_STR;
	o.via.str.ptr = "api\0x";
	o.via.str.size = 5;
	assert_int_equal(ctl_obj_str(&o, buf, sizeof(buf)), -1);
	o.via.str.size = 3;
	assert_int_equal(ctl_obj_str(&o, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "api");
}

static void
test_reply_roundtrip(void **state)
{
	struct ctl_frame	 f;
	struct ctl_msg		 parsed, msg;
	struct wire		 w;
	const char		*cause;
	int64_t			 gen;
	size_t			 used;

	ctl_frame_reply(&f, 7, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_uint(&f.pk, "generation", 3);
	w = wire_take(&f);
	assert_int_equal(wire_parse(&w, &parsed, &used, &cause), 1);
	/* A decoded message may be moved (queued) by value. */
	memcpy(&msg, &parsed, sizeof(msg));
	memset(&parsed, 0xa5, sizeof(parsed));
	assert_int_equal(msg.root->type, MSGPACK_OBJECT_MAP);
	assert_true(msg.is_reply);
	assert_true(msg.ok);
	assert_int_equal(msg.id, 7);
	assert_null(msg.cmd);
	assert_null(msg.error);
	assert_int_equal(ctl_obj_int(ctl_map_get(msg.data, "generation"),
	    &gen), 0);
	assert_int_equal(gen, 3);
	ctl_msg_free(&msg);
	free(w.p);
}

static void
test_error_roundtrip(void **state)
{
	struct ctl_frame	 f;
	struct ctl_msg		 msg;
	struct wire		 w;
	const char		*cause;
	size_t			 used;

	ctl_frame_error(&f, 9, "service not found");
	w = wire_take(&f);
	assert_int_equal(wire_parse(&w, &msg, &used, &cause), 1);
	assert_true(msg.is_reply);
	assert_false(msg.ok);
	assert_int_equal(msg.id, 9);
	assert_string_equal(msg.error, "service not found");
	assert_null(msg.data);
	assert_null(msg.code);
	assert_false(ctl_reply_code(&msg, CTL_CODE_UNAVAILABLE));
	ctl_msg_free(&msg);
	free(w.p);
}

static void
test_error_code_roundtrip(void **state)
{
	struct ctl_frame	 f;
	struct ctl_msg		 msg;
	struct wire		 w;
	const char		*cause;
	size_t			 used;

	ctl_frame_error_code(&f, 4, CTL_CODE_UNAVAILABLE,
	    "registry worker is not running");
	w = wire_take(&f);
	assert_int_equal(wire_parse(&w, &msg, &used, &cause), 1);
	assert_false(msg.ok);
	assert_string_equal(msg.error, "registry worker is not running");
	assert_string_equal(msg.code, "unavailable");
	assert_true(ctl_reply_code(&msg, CTL_CODE_UNAVAILABLE));
	assert_false(ctl_reply_code(&msg, CTL_CODE_INVALID));
	ctl_msg_free(&msg);
	free(w.p);
}

static void
test_event_roundtrip(void **state)
{
	struct ctl_frame	 f;
	struct ctl_msg		 msg;
	struct wire		 w;
	const char		*cause;
	size_t			 used;

	ctl_frame_event(&f, 5, "stats", 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_array(&f.pk, 0);
	w = wire_take(&f);
	assert_int_equal(wire_parse(&w, &msg, &used, &cause), 1);
	assert_string_equal(msg.event, "stats");
	assert_false(msg.is_reply);
	assert_null(msg.cmd);
	assert_int_equal(msg.id, 5);
	assert_int_equal(msg.data->type, MSGPACK_OBJECT_ARRAY);
	ctl_msg_free(&msg);
	free(w.p);
}

/* Every strict prefix of a good frame needs more bytes, never more. */
static void
test_truncated(void **state)
{
	struct wire	 w = make_request();
	struct ctl_msg	 msg;
	const char	*cause;
	unsigned char	*cut;
	size_t		 i, used;

	for (i = 0; i < w.len; i++) {
		/* An exact-size heap copy lets ASan catch any overread. */
		cut = malloc(i == 0 ? 1 : i);
		memcpy(cut, w.p, i);
		assert_int_equal(ctl_frame_parse(cut, i, &msg, &used, &cause),
		    0);
		assert_int_equal(used, 0);
		ctl_msg_free(&msg);
		free(cut);
	}
	free(w.p);
}

static void
test_truncated_evbuffer(void **state)
{
	struct wire	 w = make_request();
	struct evbuffer	*buf;
	struct ctl_msg	 msg;
	const char	*cause;
	size_t		 i;

	buf = evbuffer_new();
	for (i = 0; i < w.len; i++) {
		assert_int_equal(ctl_frame_pull(buf, &msg, &cause), 0);
		assert_int_equal(evbuffer_get_length(buf), i);
		evbuffer_add(buf, w.p + i, 1);
	}
	assert_int_equal(ctl_frame_pull(buf, &msg, &cause), 1);
	assert_string_equal(msg.cmd, "restart");
	assert_int_equal(evbuffer_get_length(buf), 0);
	ctl_msg_free(&msg);
	evbuffer_free(buf);
	free(w.p);
}

static void
expect_malformed(struct wire w)
{
	struct ctl_msg	 msg;
	const char	*cause;
	size_t		 used;

	assert_int_equal(wire_parse(&w, &msg, &used, &cause), -1);
	assert_non_null(cause);
	ctl_msg_free(&msg);
	free(w.p);
}

static void
test_bad_lengths(void **state)
{
	static const unsigned char	 map[] = { 0x80 };
	struct ctl_msg			 msg;
	struct wire			 w;
	const char			*cause;
	size_t				 used;

	expect_malformed(wire_raw(map, 0, 0));
	/* Refused on the header alone: no waiting for 4 MiB to arrive. */
	w = wire_raw(map, 1, CTL_FRAME_MAX + 1);
	assert_int_equal(wire_parse(&w, &msg, &used, &cause), -1);
	assert_string_equal(cause, "frame too large");
	free(w.p);
}

static void
test_bad_payloads(void **state)
{
	static const unsigned char	 array[] = { 0x91, 0x01 };
	static const unsigned char	 trailing[] = { 0x80, 0xc0 };
	static const unsigned char	 garbage[] = { 0xc1, 0xff, 0x00, 0x13 };
	/* A map claiming 2^32-1 pairs in a 5-byte frame. */
	static const unsigned char	 huge[] = { 0xdf, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char	 shortstr[] = { 0x81, 0xa1, 'v', 0xa5, 'x' };
	static const char *const	 vonly[] = { "v" };
	static const char *const	 noid[] = { "v", "cmd" };
	static const char *const	 badcmd[] = { "v", "id", "cmd" };
	static const char *const	 badok[] = { "v", "id", "ok" };
	static const char *const	 noerr[] = { "v", "id" };
	static const uint64_t		 u[] = { 1, 1, 5 };
	static const char *const	 none[] = { NULL, NULL, NULL };
	static const char *const	 strs[] = { NULL, "status", NULL };
	struct ctl_msg			 msg;
	struct wire			 w;
	const char			*cause;
	size_t				 used;

	expect_malformed(wire_raw(array, sizeof(array), sizeof(array)));
	expect_malformed(wire_raw(trailing, sizeof(trailing),
	    sizeof(trailing)));
	expect_malformed(wire_raw(garbage, sizeof(garbage), sizeof(garbage)));
	/* Refused by the pre-scan, before msgpack-c could allocate for it. */
	w = wire_raw(huge, sizeof(huge), sizeof(huge));
	assert_int_equal(wire_parse(&w, &msg, &used, &cause), -1);
	assert_string_equal(cause,
	    "payload is not exactly one well-formed msgpack object");
	free(w.p);
	expect_malformed(wire_raw(shortstr, sizeof(shortstr),
	    sizeof(shortstr)));
	expect_malformed(wire_map(1, vonly, u, none));
	expect_malformed(wire_map(2, noid, u, strs));
	expect_malformed(wire_map(3, badcmd, u, none));	/* cmd is a number */
	expect_malformed(wire_map(3, badok, u, none));	/* ok is a number */
	expect_malformed(wire_map(2, noerr, u, none));	/* no kind at all */
}

static void
test_failed_reply_needs_error(void **state)
{
	struct ctl_frame	 f;

	ctl_frame_reply(&f, 1, 0);
	/* Turn ok=true into ok=false: the last byte is msgpack true. */
	f.sb.data[f.sb.size - 1] = (char)0xc2;
	expect_malformed(wire_take(&f));
}

static void
test_error_code_must_be_string(void **state)
{
	struct ctl_frame	 f;

	ctl_frame_reply(&f, 1, 2);
	f.sb.data[f.sb.size - 1] = (char)0xc2;	/* ok=false, as above */
	ctl_pack_kv_str(&f.pk, "error", "nope");
	ctl_pack_str(&f.pk, "code");
	msgpack_pack_int(&f.pk, 7);
	expect_malformed(wire_take(&f));
}

/* A request whose frame holds n nested containers in all. */
static struct wire
make_nested(int n)
{
	struct ctl_frame	 f;
	int			 i;

	ctl_frame_request(&f, 1, "x", 1);
	ctl_pack_str(&f.pk, "args");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_str(&f.pk, "a");
	for (i = 2; i < n; i++)
		msgpack_pack_array(&f.pk, 1);
	msgpack_pack_nil(&f.pk);
	return wire_take(&f);
}

static void
test_deep_nesting(void **state)
{
	struct wire	 w = make_nested(32);
	struct ctl_msg	 msg;
	const char	*cause;
	size_t		 used;

	assert_int_equal(wire_parse(&w, &msg, &used, &cause), 1);
	ctl_msg_free(&msg);
	free(w.p);
	expect_malformed(make_nested(33));
	expect_malformed(make_nested(200));
}

static void
test_wrong_version(void **state)
{
	static const char *const	 keys[] = { "v", "id", "cmd" };
	static const uint64_t		 u[] = { 2, 77, 0 };
	static const char *const	 s[] = { NULL, NULL, "status" };
	struct wire			 w = wire_map(3, keys, u, s);
	struct ctl_msg			 msg;
	const char			*cause;
	size_t				 used;

	assert_int_equal(wire_parse(&w, &msg, &used, &cause),
	    CTL_FRAME_OTHER_VERSION);
	assert_int_equal(msg.version, 2);
	assert_int_equal(msg.id, 77);
	assert_int_equal(used, w.len);
	assert_null(msg.strings);	/* nothing left to free */
	free(w.p);
}

static void
test_back_to_back(void **state)
{
	struct ctl_frame	 f;
	struct wire		 a = make_request(), b;
	struct evbuffer		*buf;
	struct ctl_msg		 msg;
	const char		*cause;
	unsigned char		*flat;
	size_t			 used;

	ctl_frame_error(&f, 3, "nope");
	b = wire_take(&f);
	flat = malloc(a.len + b.len);
	memcpy(flat, a.p, a.len);
	memcpy(flat + a.len, b.p, b.len);

	assert_int_equal(ctl_frame_parse(flat, a.len + b.len, &msg, &used,
	    &cause), 1);
	assert_int_equal(used, a.len);
	assert_string_equal(msg.cmd, "restart");
	ctl_msg_free(&msg);
	assert_int_equal(ctl_frame_parse(flat + used, b.len, &msg, &used,
	    &cause), 1);
	assert_string_equal(msg.error, "nope");
	ctl_msg_free(&msg);

	buf = evbuffer_new();
	evbuffer_add(buf, flat, a.len + b.len);
	assert_int_equal(ctl_frame_pull(buf, &msg, &cause), 1);
	assert_int_equal(msg.id, 42);
	ctl_msg_free(&msg);
	assert_int_equal(ctl_frame_pull(buf, &msg, &cause), 1);
	assert_int_equal(msg.id, 3);
	ctl_msg_free(&msg);
	assert_int_equal(ctl_frame_pull(buf, &msg, &cause), 0);
	evbuffer_free(buf);
	free(flat);
	free(a.p);
	free(b.p);
}

static void
test_split_chains(void **state)
{
	struct wire	 w = make_request();
	struct evbuffer	*buf, *part;
	struct ctl_msg	 msg;
	const char	*cause;
	size_t		 cut;

	/* Separate chains: the header itself split, and the payload. */
	for (cut = 1; cut < w.len; cut++) {
		buf = evbuffer_new();
		part = evbuffer_new();
		evbuffer_add(buf, w.p, cut);
		evbuffer_add(part, w.p + cut, w.len - cut);
		evbuffer_add_buffer(buf, part);
		assert_int_equal(ctl_frame_pull(buf, &msg, &cause), 1);
		assert_string_equal(msg.cmd, "restart");
		assert_int_equal(msg.id, 42);
		ctl_msg_free(&msg);
		evbuffer_free(part);
		evbuffer_free(buf);
	}
	free(w.p);
}

static void
test_pull_rejects(void **state)
{
	static const unsigned char	 zero[4] = { 0, 0, 0, 0 };
	struct evbuffer			*buf;
	struct ctl_msg			 msg;
	const char			*cause = NULL;

	buf = evbuffer_new();
	evbuffer_add(buf, zero, sizeof(zero));
	assert_int_equal(ctl_frame_pull(buf, &msg, &cause), -1);
	assert_string_equal(cause, "empty frame");
	ctl_msg_free(&msg);
	evbuffer_free(buf);
}

/* Random bytes must be refused or accepted, never crash or overread. */
static void
test_garbage_fuzz(void **state)
{
	unsigned char	*p;
	struct ctl_msg	 msg;
	const char	*cause;
	size_t		 len, i, used;
	int		 round, rv;

	srandom(1);
	for (round = 0; round < 20000; round++) {
		len = 4 + (size_t)(random() % 60);
		p = malloc(len);
		for (i = 0; i < len; i++)
			p[i] = (unsigned char)random();
		p[0] = p[1] = p[2] = 0;
		p[3] = (unsigned char)(len - 4);
		/* Often start like a map, so the decoder gets further. */
		if (round % 2 == 0 && len > 4)
			p[4] = 0x80 | (p[4] & 0x0f);
		rv = ctl_frame_parse(p, len, &msg, &used, &cause);
		assert_true(rv >= -2 && rv <= 1);
		ctl_msg_free(&msg);
		free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_roundtrip),
		cmocka_unit_test(test_obj_str_refuses_nul),
		cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_error_roundtrip),
		cmocka_unit_test(test_error_code_roundtrip),
		cmocka_unit_test(test_event_roundtrip),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_truncated_evbuffer),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_bad_payloads),
		cmocka_unit_test(test_failed_reply_needs_error),
		cmocka_unit_test(test_error_code_must_be_string),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_wrong_version),
		cmocka_unit_test(test_back_to_back),
		cmocka_unit_test(test_split_chains),
		cmocka_unit_test(test_pull_rejects),
		cmocka_unit_test(test_garbage_fuzz),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
