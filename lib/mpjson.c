#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "mpjson.h"
#include "util.h"

/* The number tokens of a JSON text jansson has accepted, in order. */
struct mpjson_numbers {
	const char	*p;
	const char	*end;
};

/* Where mpjson_dump writes. */
struct mpjson_out {
	json_dump_callback_t	 cb;
	void			*data;
};

/* What a text may hold: any value, and strings holding \u0000. */
#define MPJSON_DECODE	(JSON_DECODE_ANY | JSON_ALLOW_NUL)

static json_t	*mpjson_value(const msgpack_object *, int, const char **);
static int	 mpjson_pack_value(msgpack_packer *, const json_t *, int,
		    struct mpjson_numbers *, const char **);
static int	 mpjson_dump_value(const msgpack_object *, int,
		    struct mpjson_out *, const char **);

static json_t *
mpjson_array(const msgpack_object *o, int depth, const char **cause)
{
	json_t		*a, *v;
	uint32_t	 i;

	a = json_array();
	for (i = 0; i < o->via.array.size; i++) {
		if ((v = mpjson_value(&o->via.array.ptr[i], depth, cause)) ==
		    NULL) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, v);
	}
	return a;
}

/* An object key is a C string: a key holding a NUL is none. */
static int
mpjson_key_ok(const msgpack_object *key, const char **cause)
{
	const msgpack_object_str	*k = &key->via.str;

	/* As for values, ptr is NULL for "": not for memchr or strndup. */
	if (key->type != MSGPACK_OBJECT_STR ||
	    (k->size > 0 && memchr(k->ptr, '\0', k->size) != NULL)) {
		*cause = "map key is not a string";
		return 0;
	}
	return 1;
}

static int
mpjson_object_set(json_t *obj, const msgpack_object_kv *kv, int depth,
    const char **cause)
{
	const msgpack_object_str	*k = &kv->key.via.str;
	json_t				*v;
	char				*key;

	if (!mpjson_key_ok(&kv->key, cause))
		return -1;
	if ((v = mpjson_value(&kv->val, depth, cause)) == NULL)
		return -1;
	key = k->size > 0 ? xstrndup(k->ptr, k->size) : xstrdup("");
	if (json_object_set_new(obj, key, v) == -1) {
		free(key);
		*cause = "map key is not valid UTF-8";
		return -1;
	}
	free(key);
	return 0;
}

static json_t *
mpjson_object(const msgpack_object *o, int depth, const char **cause)
{
	json_t		*obj;
	uint32_t	 i;

	obj = json_object();
	for (i = 0; i < o->via.map.size; i++) {
		if (mpjson_object_set(obj, &o->via.map.ptr[i], depth,
		    cause) == -1) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static json_t *
mpjson_scalar(const msgpack_object *o, const char **cause)
{
	json_t	*v = NULL;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 <= INT64_MAX)
			return json_integer((json_int_t)o->via.u64);
		*cause = "integer too large for JSON";
		return NULL;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer((json_int_t)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if ((v = json_real(o->via.f64)) == NULL)
			*cause = "float is not finite";
		return v;
	case MSGPACK_OBJECT_STR:
		/* msgpack-c leaves ptr NULL for "", which jansson refuses. */
		if (o->via.str.size == 0)
			return json_string("");
		if ((v = json_stringn(o->via.str.ptr, o->via.str.size)) ==
		    NULL)
			*cause = "string is not valid UTF-8";
		return v;
	default:
		*cause = "binary or extension object has no JSON form";
		return NULL;
	}
}

static json_t *
mpjson_value(const msgpack_object *o, int depth, const char **cause)
{
	if (o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP)
		return mpjson_scalar(o, cause);
	if (depth >= MPJSON_DEPTH_MAX) {
		*cause = "nested too deeply";
		return NULL;
	}
	if (o->type == MSGPACK_OBJECT_ARRAY)
		return mpjson_array(o, depth + 1, cause);
	return mpjson_object(o, depth + 1, cause);
}

json_t *
mpjson_from_msgpack(const msgpack_object *o, const char **cause)
{
	return mpjson_value(o, 0, cause);
}

static void
mpjson_write(struct mpjson_out *out, const char *s)
{
	out->cb(s, strlen(s), out->data);
}

/* As jansson writes it; an integer beyond int64 too, which it cannot hold. */
static int
mpjson_dump_scalar(const msgpack_object *o, struct mpjson_out *out,
    const char **cause)
{
	char	 digits[32];
	json_t	*v;

	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 > INT64_MAX) {
		snprintf(digits, sizeof(digits), "%" PRIu64, o->via.u64);
		mpjson_write(out, digits);
		return 0;
	}
	if ((v = mpjson_scalar(o, cause)) == NULL)
		return -1;
	json_dump_callback(v, out->cb, out->data, JSON_ENCODE_ANY);
	json_decref(v);
	return 0;
}

static int
mpjson_dump_array(const msgpack_object *o, int depth, struct mpjson_out *out,
    const char **cause)
{
	uint32_t	 i;

	mpjson_write(out, "[");
	for (i = 0; i < o->via.array.size; i++) {
		if (i > 0)
			mpjson_write(out, ",");
		if (mpjson_dump_value(&o->via.array.ptr[i], depth, out,
		    cause) == -1)
			return -1;
	}
	mpjson_write(out, "]");
	return 0;
}

static int
mpjson_dump_member(const msgpack_object_kv *kv, int depth,
    struct mpjson_out *out, const char **cause)
{
	json_t	*key;

	if (!mpjson_key_ok(&kv->key, cause))
		return -1;
	if ((key = mpjson_scalar(&kv->key, cause)) == NULL) {
		*cause = "map key is not valid UTF-8";
		return -1;
	}
	json_dump_callback(key, out->cb, out->data, JSON_ENCODE_ANY);
	json_decref(key);
	mpjson_write(out, ":");
	return mpjson_dump_value(&kv->val, depth, out, cause);
}

/*
 * A key given twice is written twice: JSON readers keep the last, as the
 * tree of mpjson_from_msgpack does.
 */
static int
mpjson_dump_map(const msgpack_object *o, int depth, struct mpjson_out *out,
    const char **cause)
{
	uint32_t	 i;

	mpjson_write(out, "{");
	for (i = 0; i < o->via.map.size; i++) {
		if (i > 0)
			mpjson_write(out, ",");
		if (mpjson_dump_member(&o->via.map.ptr[i], depth, out,
		    cause) == -1)
			return -1;
	}
	mpjson_write(out, "}");
	return 0;
}

static int
mpjson_dump_value(const msgpack_object *o, int depth, struct mpjson_out *out,
    const char **cause)
{
	if (o->type != MSGPACK_OBJECT_ARRAY && o->type != MSGPACK_OBJECT_MAP)
		return mpjson_dump_scalar(o, out, cause);
	if (depth >= MPJSON_DEPTH_MAX) {
		*cause = "nested too deeply";
		return -1;
	}
	if (o->type == MSGPACK_OBJECT_ARRAY)
		return mpjson_dump_array(o, depth + 1, out, cause);
	return mpjson_dump_map(o, depth + 1, out, cause);
}

int
mpjson_dump(const msgpack_object *o, json_dump_callback_t cb, void *data,
    const char **cause)
{
	struct mpjson_out	 out = { cb, data };

	return mpjson_dump_value(o, 0, &out, cause);
}

static void
mpjson_pack_string(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

/* Skip a string, from its opening quote. */
static void
mpjson_skip_string(struct mpjson_numbers *n)
{
	for (n->p++; n->p < n->end && *n->p != '"'; n->p++) {
		if (*n->p == '\\')
			n->p++;
	}
	n->p++;
}

static int
mpjson_number_char(int c)
{
	return isdigit(c) || c == '-' || c == '+' || c == '.' || c == 'e' ||
	    c == 'E';
}

/* The next number token of the text, as a C string to free. */
static char *
mpjson_number_next(struct mpjson_numbers *n)
{
	const char	*start;

	while (n->p < n->end && *n->p != '-' &&
	    !isdigit((unsigned char)*n->p)) {
		if (*n->p == '"')
			mpjson_skip_string(n);
		else
			n->p++;
	}
	for (start = n->p; n->p < n->end &&
	    mpjson_number_char((unsigned char)*n->p); n->p++)
		;
	return xstrndup(start, n->p - start);
}

/* An integer within int64 or uint64 as such; 0 if num is none. */
static int
mpjson_pack_integer(msgpack_packer *pk, const char *num)
{
	long long		 i;
	unsigned long long	 u;

	if (strpbrk(num, ".eE") != NULL)
		return 0;
	errno = 0;
	if (*num == '-') {
		i = strtoll(num, NULL, 10);
		if (errno == 0)
			msgpack_pack_int64(pk, i);
	} else {
		u = strtoull(num, NULL, 10);
		if (errno == 0)
			msgpack_pack_uint64(pk, u);
	}
	return errno == 0;
}

/*
 * A number as its digits say: beyond int64 and uint64 the nearest double,
 * as Go's encoding/json reads any number into an interface{}.
 */
static void
mpjson_pack_number(msgpack_packer *pk, const char *num)
{
	if (!mpjson_pack_integer(pk, num))
		msgpack_pack_double(pk, strtod(num, NULL));
}

static int
mpjson_pack_array(msgpack_packer *pk, const json_t *a, int depth,
    struct mpjson_numbers *nums, const char **cause)
{
	size_t	i;

	msgpack_pack_array(pk, json_array_size(a));
	for (i = 0; i < json_array_size(a); i++)
		if (mpjson_pack_value(pk, json_array_get(a, i), depth, nums,
		    cause) == -1)
			return -1;
	return 0;
}

static int
mpjson_pack_object(msgpack_packer *pk, const json_t *obj, int depth,
    struct mpjson_numbers *nums, const char **cause)
{
	const char	*key;
	json_t		*v;

	msgpack_pack_map(pk, json_object_size(obj));
	/* jansson's iteration macro wants a non-const object. */
	json_object_foreach((json_t *)obj, key, v) {
		mpjson_pack_string(pk, key, strlen(key));
		if (mpjson_pack_value(pk, v, depth, nums, cause) == -1)
			return -1;
	}
	return 0;
}

/* Returns 0 if v was a scalar and has been packed, 1 otherwise. */
static int
mpjson_pack_scalar(msgpack_packer *pk, const json_t *v,
    struct mpjson_numbers *nums)
{
	char	*num;

	switch (json_typeof(v)) {
	case JSON_NULL:
		msgpack_pack_nil(pk);
		break;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		break;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, json_integer_value(v));
		break;
	case JSON_REAL:
		if (nums == NULL) {
			msgpack_pack_double(pk, json_real_value(v));
			break;
		}
		num = mpjson_number_next(nums);
		mpjson_pack_number(pk, num);
		free(num);
		break;
	case JSON_STRING:
		mpjson_pack_string(pk, json_string_value(v),
		    json_string_length(v));
		break;
	default:
		return 1;
	}
	return 0;
}

static int
mpjson_pack_value(msgpack_packer *pk, const json_t *v, int depth,
    struct mpjson_numbers *nums, const char **cause)
{
	if (mpjson_pack_scalar(pk, v, nums) == 0)
		return 0;
	if (depth >= MPJSON_DEPTH_MAX) {
		*cause = "nested too deeply";
		return -1;
	}
	if (json_is_array(v))
		return mpjson_pack_array(pk, v, depth + 1, nums, cause);
	return mpjson_pack_object(pk, v, depth + 1, nums, cause);
}

int
mpjson_pack(msgpack_packer *pk, const json_t *v, const char **cause)
{
	return mpjson_pack_value(pk, v, 0, NULL, cause);
}

static const char *
mpjson_load_cause(const json_error_t *err)
{
	switch (json_error_code(err)) {
	case json_error_duplicate_key:
		return "a key given twice beside an integer beyond int64";
	case json_error_numeric_overflow:
		return "a number beyond the range of a double";
	default:
		return "body is not JSON";
	}
}

/*
 * jansson refused an integer beyond int64. Read with every number as a
 * double, the tree has the text's shape, and its numbers come in the
 * text's order unless a key given twice dropped one: each is packed from
 * its own digits.
 */
static int
mpjson_pack_wide(msgpack_packer *pk, const char *text, size_t len,
    const char **cause)
{
	struct mpjson_numbers	 nums = { text, text + len };
	json_error_t		 err;
	json_t			*v;
	int			 rc;

	if ((v = json_loadb(text, len, MPJSON_DECODE |
	    JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES, &err)) == NULL) {
		*cause = mpjson_load_cause(&err);
		return -1;
	}
	rc = mpjson_pack_value(pk, v, 0, &nums, cause);
	json_decref(v);
	return rc;
}

int
mpjson_pack_text(msgpack_packer *pk, const char *text, size_t len,
    const char **cause)
{
	json_error_t	 err;
	json_t		*v;
	int		 rc;

	if ((v = json_loadb(text, len, MPJSON_DECODE, &err)) != NULL) {
		rc = mpjson_pack_value(pk, v, 0, NULL, cause);
		json_decref(v);
		return rc;
	}
	if (json_error_code(&err) == json_error_numeric_overflow)
		return mpjson_pack_wide(pk, text, len, cause);
	*cause = mpjson_load_cause(&err);
	return -1;
}
