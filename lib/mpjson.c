#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "mpjson.h"
#include "util.h"

static json_t	*mpjson_value(const msgpack_object *, int, const char **);
static int	 mpjson_pack_value(msgpack_packer *, const json_t *, int,
		    const char **);

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

static int
mpjson_object_set(json_t *obj, const msgpack_object_kv *kv, int depth,
    const char **cause)
{
	const msgpack_object_str	*k = &kv->key.via.str;
	json_t				*v;
	char				*key;

	/* As for values, ptr is NULL for "": not for memchr or strndup. */
	if (kv->key.type != MSGPACK_OBJECT_STR ||
	    (k->size > 0 && memchr(k->ptr, '\0', k->size) != NULL)) {
		*cause = "map key is not a string";
		return -1;
	}
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
mpjson_pack_string(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

static int
mpjson_pack_array(msgpack_packer *pk, const json_t *a, int depth,
    const char **cause)
{
	size_t	i;

	msgpack_pack_array(pk, json_array_size(a));
	for (i = 0; i < json_array_size(a); i++)
		if (mpjson_pack_value(pk, json_array_get(a, i), depth,
		    cause) == -1)
			return -1;
	return 0;
}

static int
mpjson_pack_object(msgpack_packer *pk, const json_t *obj, int depth,
    const char **cause)
{
	const char	*key;
	json_t		*v;

	msgpack_pack_map(pk, json_object_size(obj));
	/* jansson's iteration macro wants a non-const object. */
	json_object_foreach((json_t *)obj, key, v) {
		mpjson_pack_string(pk, key, strlen(key));
		if (mpjson_pack_value(pk, v, depth, cause) == -1)
			return -1;
	}
	return 0;
}

/* Returns 0 if v was a scalar and has been packed, 1 otherwise. */
static int
mpjson_pack_scalar(msgpack_packer *pk, const json_t *v)
{
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
		msgpack_pack_double(pk, json_real_value(v));
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
    const char **cause)
{
	if (mpjson_pack_scalar(pk, v) == 0)
		return 0;
	if (depth >= MPJSON_DEPTH_MAX) {
		*cause = "nested too deeply";
		return -1;
	}
	if (json_is_array(v))
		return mpjson_pack_array(pk, v, depth + 1, cause);
	return mpjson_pack_object(pk, v, depth + 1, cause);
}

int
mpjson_pack(msgpack_packer *pk, const json_t *v, const char **cause)
{
	return mpjson_pack_value(pk, v, 0, cause);
}
