/*
 * Body formats between the RPC client and the nodes. jansson does the
 * JSON, lib/mpjson.c the msgpack <-> JSON mapping (its refusals are ours:
 * a msgpack body with bin or ext objects cannot be handed to a JSON
 * caller).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <msgpack.h>

#include "ctlproto.h"
#include "http.h"
#include "jscan.h"
#include "log.h"
#include "mpjson.h"
#include "rpc/codec.h"
#include "util.h"

static const struct {
	const char	*name;
	enum rpc_ctype	 type;
} rpc_ctypes[] = {
	{ "application/json", RPC_CT_JSON },
	{ "application/msgpack", RPC_CT_MSGPACK },
	{ "application/x-msgpack", RPC_CT_MSGPACK },
};

enum rpc_ctype
rpc_ctype(const char *ct)
{
	size_t	 i, len;

	if (ct == NULL || *ct == '\0')
		return RPC_CT_JSON;
	len = strcspn(ct, ",; \t");
	for (i = 0; i < nitems(rpc_ctypes); i++) {
		if (strlen(rpc_ctypes[i].name) == len &&
		    strncasecmp(ct, rpc_ctypes[i].name, len) == 0)
			return rpc_ctypes[i].type;
	}
	return RPC_CT_OTHER;
}

const char *
rpc_ctype_text(enum rpc_ctype t)
{
	return t == RPC_CT_MSGPACK ? RPC_CT_MSGPACK_TEXT : RPC_CT_JSON_TEXT;
}

void
rpc_error_set(struct rpc_error *e, const char *id, int code,
    const char *fmt, ...)
{
	va_list	 ap;

	snprintf(e->id, sizeof(e->id), "%s", id);
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
	va_end(ap);
}

void
rpc_error_json(const struct rpc_error *e, struct evbuffer *out)
{
	char	*s = http_error_json(e->id, e->code, e->detail);

	evbuffer_add(out, s, strlen(s));
	free(s);
}

static int
rpc_error_code_ok(json_int_t code)
{
	return code >= 400 && code <= 599;
}

void
rpc_error_parse(const char *text, size_t len, const char *fallback_id,
    int fallback_code, struct rpc_error *e)
{
	json_t		*o, *id, *code, *detail;

	if (!rpc_error_code_ok(fallback_code))
		fallback_code = 500;
	/* A detail holding a NUL keeps the error; the detail stops there. */
	o = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
	id = json_object_get(o, "id");
	code = json_object_get(o, "code");
	detail = json_object_get(o, "detail");
	if (json_is_string(detail)) {
		rpc_error_set(e, json_is_string(id) ? json_string_value(id) :
		    fallback_id, fallback_code, "%s", json_string_value(detail));
		if (json_is_integer(code) &&
		    rpc_error_code_ok(json_integer_value(code)))
			e->code = json_integer_value(code);
	} else if (len == 0)
		rpc_error_set(e, fallback_id, fallback_code, "%s",
		    http_status_text(fallback_code));
	else
		rpc_error_set(e, fallback_id, fallback_code, "%.*s",
		    (int)(len < sizeof(e->detail) ? len : sizeof(e->detail)),
		    text);
	json_decref(o);
}

json_t *
rpc_json_load(const char *text, size_t len, size_t flags)
{
	json_t	*v;

	flags |= JSON_ALLOW_NUL;
	if ((v = json_loadb(text, len, flags, NULL)) == NULL)
		v = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, NULL);
	return v;
}

int
rpc_json_cstring(const json_t *v)
{
	return json_is_string(v) &&
	    strlen(json_string_value(v)) == json_string_length(v);
}

/*
 * The request goes into params as the caller wrote it: a tree would
 * rewrite its doubles (0.1 as 0.10000000000000001) and refuse integers
 * beyond int64 (a Go uint64). jansson vouches that it is one JSON value.
 */
int
rpc_jsonrpc_encode(struct evbuffer *out, const char *method,
    const char *req, size_t len, uint64_t id, const char **cause)
{
	json_t		*v;
	char		*m;

	if ((v = rpc_json_load(req, len, JSON_DECODE_ANY)) == NULL) {
		*cause = "request is not JSON";
		return -1;
	}
	json_decref(v);
	if ((v = json_string(method)) == NULL) {
		*cause = "method is not UTF-8";
		return -1;
	}
	if ((m = json_dumps(v, JSON_ENCODE_ANY)) == NULL)
		fatalx("%s: out of memory", __func__);
	json_decref(v);
	evbuffer_add_printf(out, "{\"method\":%s,\"params\":[", m);
	evbuffer_add(out, req, len);
	evbuffer_add_printf(out, "],\"id\":%llu}", (unsigned long long)id);
	free(m);
	return 0;
}

static void
rpc_dump(const json_t *v, struct evbuffer *out)
{
	char	*s;

	if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		fatalx("%s: out of memory", __func__);
	evbuffer_add(out, s, strlen(s));
	free(s);
}

/* Where the result lies in a reply, as long as the tree agrees. */
struct rpc_jsonrpc_reply {
	const char	*result;
	size_t		 result_len;
};

static int
rpc_jsonrpc_member(const struct jscan_member *m, void *arg)
{
	struct rpc_jsonrpc_reply	*r = arg;

	/* A key given twice: the tree keeps the last; let it decide. */
	if (m->key_len == 6 && memcmp(m->key, "result", 6) == 0) {
		if (r->result != NULL)
			return -1;
		r->result = m->value;
		r->result_len = m->value_len;
	}
	return 0;
}

/* The result as the service wrote it (see rpc_jsonrpc_encode). */
static void
rpc_jsonrpc_result(const char *text, size_t len, const json_t *result,
    struct evbuffer *out)
{
	struct rpc_jsonrpc_reply	 r = { NULL, 0 };

	if (jscan_object_valid(text, len, rpc_jsonrpc_member, &r) == 0 &&
	    r.result != NULL)
		evbuffer_add(out, r.result, r.result_len);
	else
		rpc_dump(result, out);
}

int
rpc_jsonrpc_decode(const char *text, size_t len, struct evbuffer *out,
    struct rpc_error *e)
{
	json_t	*o, *err, *result;
	int	 rc = -1;

	if ((o = rpc_json_load(text, len, 0)) == NULL || !json_is_object(o)) {
		rpc_error_set(e, "go.micro.client", 502,
		    "bad JSON-RPC reply from the service");
		json_decref(o);
		return -1;
	}
	err = json_object_get(o, "error");
	result = json_object_get(o, "result");
	if (err != NULL && !json_is_null(err)) {
		if (json_is_string(err))
			rpc_error_parse(json_string_value(err),
			    strlen(json_string_value(err)), "go.micro.client",
			    500, e);
		else
			rpc_error_set(e, "go.micro.client", 500,
			    "service returned a non-string error");
	} else if (result == NULL)
		rpc_error_set(e, "go.micro.client", 502,
		    "JSON-RPC reply has no result");
	else {
		rpc_jsonrpc_result(text, len, result, out);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

static int
rpc_json_to_msgpack(const char *text, size_t len, struct evbuffer *out,
    const char **cause)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	int		 rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if ((rc = mpjson_pack_text(&pk, text, len, cause)) == 0)
		evbuffer_add(out, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static int
rpc_evbuffer_write(const char *data, size_t len, void *arg)
{
	if (evbuffer_add(arg, data, len) == -1)
		fatalx("%s: out of memory", __func__);
	return 0;
}

static int
rpc_msgpack_to_json(const char *data, size_t len, struct evbuffer *out,
    const char **cause)
{
	msgpack_unpacked	 unp;
	struct evbuffer		*json;
	size_t			 off = 0;
	int			 rc = -1;

	if ((json = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	msgpack_unpacked_init(&unp);
	if (!ctl_msgpack_check(data, len) ||
	    msgpack_unpack_next(&unp, data, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != len)
		*cause = "body is not one msgpack object";
	else if ((rc = mpjson_dump(&unp.data, rpc_evbuffer_write, json,
	    cause)) == 0)
		evbuffer_add_buffer(out, json);
	msgpack_unpacked_destroy(&unp);
	evbuffer_free(json);
	return rc;
}

int
rpc_transcode(struct evbuffer *in, enum rpc_ctype from, struct evbuffer *out,
    enum rpc_ctype to, const char **cause)
{
	size_t		 len = evbuffer_get_length(in);
	const char	*data;
	int		 rc;

	if (from == to || from == RPC_CT_OTHER || to == RPC_CT_OTHER)
		return evbuffer_add_buffer(out, in);
	data = (const char *)evbuffer_pullup(in, -1);
	if (from == RPC_CT_JSON)
		rc = rpc_json_to_msgpack(data, len, out, cause);
	else
		rc = rpc_msgpack_to_json(data, len, out, cause);
	if (rc == 0)
		evbuffer_drain(in, len);
	return rc;
}
