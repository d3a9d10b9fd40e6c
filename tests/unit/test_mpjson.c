#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mpjson.h"

/* Pack JSON text to msgpack, unpack it, and convert back to JSON. */
static json_t *
roundtrip(const char *text, msgpack_sbuffer *sb, msgpack_unpacked *unp)
{
	msgpack_packer	 pk;
	json_t		*in, *out;
	const char	*cause = NULL;
	size_t		 off = 0;

	in = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(in);
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	assert_int_equal(mpjson_pack(&pk, in, &cause), 0);
	msgpack_unpacked_init(unp);
	assert_int_equal(msgpack_unpack_next(unp, sb->data, sb->size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, sb->size);
	out = mpjson_from_msgpack(&unp->data, &cause);
	assert_non_null(out);
	assert_true(json_equal(in, out));
	json_decref(in);
	return out;
}

static void
test_roundtrip_values(void **state)
{
	static const char *const texts[] = {
		"null", "true", "false", "0", "-1", "9223372036854775807",
		"-9223372036854775808", "1.5", "\"\"", "\"h\\u00e9llo\"",
		"[]", "{}", "[1,[2,[3]],{\"a\":null}]",
		"{\"name\":\"go.micro.srv.greeter\",\"version\":\"1.0.0\","
		"\"metadata\":{},\"nodes\":[{\"id\":\"n1\",\"address\":"
		"\"127.0.0.1:9091\",\"metadata\":{\"protocol\":\"mucp\"}}]}",
	};
	msgpack_sbuffer	 sb;
	msgpack_unpacked unp;
	json_t		*out;
	size_t		 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		out = roundtrip(texts[i], &sb, &unp);
		json_decref(out);
		msgpack_unpacked_destroy(&unp);
		msgpack_sbuffer_destroy(&sb);
	}
}

/* The msgpack side keeps types: an integer stays an integer. */
/* msgpack-c gives "" a NULL pointer: as a key too (UBSan). */
static void
test_empty_key(void **state)
{
	msgpack_sbuffer	 sb;
	msgpack_unpacked unp;
	json_t		*out;

	out = roundtrip("{\"\":\"\",\"a\":{\"\":[]}}", &sb, &unp);
	assert_non_null(json_object_get(out, ""));
	json_decref(out);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}

static void
test_types(void **state)
{
	msgpack_sbuffer	 sb;
	msgpack_unpacked unp;
	json_t		*out;

	out = roundtrip("{\"n\":-5,\"f\":2.25,\"s\":\"x\"}", &sb, &unp);
	assert_int_equal(unp.data.type, MSGPACK_OBJECT_MAP);
	assert_int_equal(unp.data.via.map.ptr[0].val.type,
	    MSGPACK_OBJECT_NEGATIVE_INTEGER);
	assert_int_equal(unp.data.via.map.ptr[1].val.type,
	    MSGPACK_OBJECT_FLOAT64);
	assert_true(json_is_integer(json_object_get(out, "n")));
	assert_true(json_is_real(json_object_get(out, "f")));
	json_decref(out);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}

/* Build a msgpack object with one packing step and expect a refusal. */
static void
expect_refused(void (*build)(msgpack_packer *), const char *want)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	msgpack_unpacked unp;
	const char	*cause = NULL;
	size_t		 off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	build(&pk);
	msgpack_unpacked_init(&unp);
	assert_int_equal(msgpack_unpack_next(&unp, sb.data, sb.size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_null(mpjson_from_msgpack(&unp.data, &cause));
	assert_string_equal(cause, want);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}

static void
build_bin(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_bin(pk, 2);
	msgpack_pack_bin_body(pk, "ab", 2);
}

static void
build_int_key(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	msgpack_pack_int(pk, 1);
	msgpack_pack_nil(pk);
}

static void
build_huge_uint(msgpack_packer *pk)
{
	msgpack_pack_uint64(pk, UINT64_MAX);
}

static void
build_bad_utf8(msgpack_packer *pk)
{
	msgpack_pack_str(pk, 2);
	msgpack_pack_str_body(pk, "\xc3\x28", 2);
}

static void
build_nan(msgpack_packer *pk)
{
	msgpack_pack_double(pk, __builtin_nan(""));
}

static void
test_refusals(void **state)
{
	expect_refused(build_bin,
	    "binary or extension object has no JSON form");
	expect_refused(build_int_key, "map key is not a string");
	expect_refused(build_huge_uint, "integer too large for JSON");
	expect_refused(build_bad_utf8, "string is not valid UTF-8");
	expect_refused(build_nan, "float is not finite");
}

/*
 * msgpack-c's unpacker stops at 32 levels itself, so deeper objects are
 * built by hand: n arrays, each holding the next, around a nil.
 */
static json_t *
convert_nested(int n, const char **cause)
{
	msgpack_object	 o[MPJSON_DEPTH_MAX + 2];
	int		 i;

	assert_true(n < (int)(sizeof(o) / sizeof(o[0])));
	memset(o, 0, sizeof(o));
	for (i = 0; i < n; i++) {
		o[i].type = MSGPACK_OBJECT_ARRAY;
		o[i].via.array.size = 1;
		o[i].via.array.ptr = &o[i + 1];
	}
	o[n].type = MSGPACK_OBJECT_NIL;
	return mpjson_from_msgpack(&o[0], cause);
}

static void
test_depth_limit_msgpack(void **state)
{
	const char	*cause = NULL;
	json_t		*v;

	v = convert_nested(MPJSON_DEPTH_MAX, &cause);
	assert_non_null(v);
	json_decref(v);
	assert_null(convert_nested(MPJSON_DEPTH_MAX + 1, &cause));
	assert_string_equal(cause, "nested too deeply");
}

/* n objects, each holding the next under "k", around a null. */
static int
pack_nested(int n, const char **cause)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	json_t		*v, *inner;
	int		 i, rv;

	v = json_null();
	for (i = 0; i < n; i++) {
		inner = v;
		v = json_object();
		json_object_set_new(v, "k", inner);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	rv = mpjson_pack(&pk, v, cause);
	msgpack_sbuffer_destroy(&sb);
	json_decref(v);
	return rv;
}

static void
test_depth_limit_json(void **state)
{
	const char	*cause = NULL;

	assert_int_equal(pack_nested(MPJSON_DEPTH_MAX, &cause), 0);
	assert_int_equal(pack_nested(MPJSON_DEPTH_MAX + 1, &cause), -1);
	assert_string_equal(cause, "nested too deeply");
}

/* What mpjson_dump wrote. */
struct text {
	char	 buf[512];
	size_t	 len;
};

static int
text_append(const char *data, size_t len, void *arg)
{
	struct text	*t = arg;

	assert_true(t->len + len < sizeof(t->buf));
	memcpy(t->buf + t->len, data, len);
	t->len += len;
	t->buf[t->len] = '\0';
	return 0;
}

/* Text through msgpack and back: out gets the JSON text of unp. */
static void
text_roundtrip(const char *text, msgpack_sbuffer *sb, msgpack_unpacked *unp,
    struct text *out)
{
	msgpack_packer	 pk;
	const char	*cause = NULL;
	size_t		 off = 0;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	assert_int_equal(mpjson_pack_text(&pk, text, strlen(text), &cause), 0);
	msgpack_unpacked_init(unp);
	assert_int_equal(msgpack_unpack_next(unp, sb->data, sb->size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	assert_int_equal(off, sb->size);
	out->len = 0;
	assert_int_equal(mpjson_dump(&unp->data, text_append, out, &cause), 0);
}

static void
expect_text_refused(const char *text, const char *want)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	const char	*cause = NULL;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	assert_int_equal(mpjson_pack_text(&pk, text, strlen(text), &cause), -1);
	assert_string_equal(cause, want);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * An integer above INT64_MAX (a Go uint64) was refused both ways: each
 * integer of int64 and uint64 crosses exactly, in place among the other
 * values (the tree read with every number a double gives the shape, the
 * text the digits, in its order); beyond, the nearest double.
 */
static void
test_wide_integers(void **state)
{
	static const char text[] = "{\"z\":18446744073709551615,\"a\":"
	    "-9223372036854775808,\"m\":[9223372036854775808,\"-1\",1.5,"
	    "{\"k\":[-1,9223372036854775807]},true]}";
	msgpack_sbuffer	 sb;
	msgpack_unpacked unp;
	msgpack_object	*v;
	struct text	 out;

	text_roundtrip(text, &sb, &unp, &out);
	assert_string_equal(out.buf, text);
	assert_int_equal(unp.data.via.map.ptr[0].val.via.u64, UINT64_MAX);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);

	text_roundtrip("[-9223372036854775809,100000000000000000000,-0,0.5]",
	    &sb, &unp, &out);
	assert_string_equal(out.buf, "[-9.2233720368547758e18,1e20,0,0.5]");
	v = unp.data.via.array.ptr;
	assert_int_equal(v[0].type, MSGPACK_OBJECT_FLOAT64);
	assert_int_equal(v[1].type, MSGPACK_OBJECT_FLOAT64);
	assert_int_equal(v[2].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);

	expect_text_refused("[1e400]", "a number beyond the range of a double");
	expect_text_refused("[18446744073709551616,{\"k\":1,\"k\":2}]",
	    "a key given twice beside an integer beyond int64");
	expect_text_refused("[18446744073709551616,bad]", "body is not JSON");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_values),
		cmocka_unit_test(test_empty_key),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_depth_limit_msgpack),
		cmocka_unit_test(test_depth_limit_json),
		cmocka_unit_test(test_wide_integers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
