#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <msgpack.h>

#include "ctlproto.h"
#include "log.h"
#include "util.h"

/*
 * msgpack-c's C unpacker trusts the element counts it reads and allocates
 * count * sizeof(msgpack_object) before it has seen the elements, so a
 * 5-byte header could ask for gigabytes. Every element takes at least one
 * byte, which bounds an honest count by the bytes left: ctl_scan() checks
 * that (and the nesting depth) before the unpacker sees the payload.
 */
#define CTL_DEPTH_MAX	32	/* msgpack-c's own stack limit */

static int	ctl_scan(const unsigned char *, size_t, size_t *, int);

static int
ctl_scan_be(const unsigned char *p, size_t len, size_t *off, size_t n,
    uint64_t *v)
{
	size_t	i;

	if (len - *off < n)
		return -1;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = *v << 8 | p[*off + i];
	*off += n;
	return 0;
}

/* Skip a str/bin/ext body of n bytes (plus the ext type byte). */
static int
ctl_scan_skip(size_t len, size_t *off, uint64_t n)
{
	if (len - *off < n)
		return -1;
	*off += n;
	return 0;
}

static int
ctl_scan_items(const unsigned char *p, size_t len, size_t *off, uint64_t n,
    int depth)
{
	if (depth >= CTL_DEPTH_MAX || n > len - *off)
		return -1;
	while (n-- > 0)
		if (ctl_scan(p, len, off, depth + 1) == -1)
			return -1;
	return 0;
}

/* The size of the length field for each variable-length type byte. */
static int
ctl_scan_sized(const unsigned char *p, size_t len, size_t *off,
    unsigned char t, int depth)
{
	uint64_t	 n;
	size_t		 w;

	switch (t) {
	case 0xc4: case 0xd9: case 0xc7:
		w = 1;
		break;
	case 0xc5: case 0xda: case 0xc8: case 0xdc: case 0xde:
		w = 2;
		break;
	default:	/* 0xc6 0xdb 0xc9 0xdd 0xdf */
		w = 4;
		break;
	}
	if (ctl_scan_be(p, len, off, w, &n) == -1)
		return -1;
	if (t == 0xdc || t == 0xdd)
		return ctl_scan_items(p, len, off, n, depth);
	if (t == 0xde || t == 0xdf)
		return ctl_scan_items(p, len, off, n * 2, depth);
	if (t >= 0xc7 && t <= 0xc9)
		n++;			/* ext type byte */
	return ctl_scan_skip(len, off, n);
}

/* Walk one object starting at *off, without allocating anything. */
static int
ctl_scan(const unsigned char *p, size_t len, size_t *off, int depth)
{
	/* Payload bytes after the type byte of 0xc0..0xdf, 0xff = sized. */
	static const unsigned char fixed[32] = {
		0, 0xff, 0, 0, 0xfe, 0xfe, 0xfe, 0xfe,	/* c0 .. c7 */
		0xfe, 0xfe, 4, 8, 1, 2, 4, 8,		/* c8 .. cf */
		1, 2, 4, 8, 2, 3, 5, 9,			/* d0 .. d7 */
		17, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, 0xfe, /* d8 .. df */
	};
	unsigned char	 t;

	if (*off >= len)
		return -1;
	t = p[(*off)++];
	if (t <= 0x7f || t >= 0xe0)
		return 0;
	if (t <= 0x8f)
		return ctl_scan_items(p, len, off, (uint64_t)(t & 0x0f) * 2,
		    depth);
	if (t <= 0x9f)
		return ctl_scan_items(p, len, off, t & 0x0f, depth);
	if (t <= 0xbf)
		return ctl_scan_skip(len, off, t & 0x1f);
	if (fixed[t - 0xc0] == 0xff)
		return -1;		/* 0xc1 is never used */
	if (fixed[t - 0xc0] == 0xfe)
		return ctl_scan_sized(p, len, off, t, depth);
	return ctl_scan_skip(len, off, fixed[t - 0xc0]);
}

static int
ctl_get_u32(const msgpack_object *map, const char *key, uint32_t *v)
{
	const msgpack_object	*o;

	o = ctl_map_get(map, key);
	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->via.u64 > UINT32_MAX)
		return -1;
	*v = (uint32_t)o->via.u64;
	return 0;
}

/*
 * Copy the str value of key into the tail of msg->strings, NUL-terminated.
 * Returns 0 if absent, 1 if copied, -1 if present but not a string.
 */
static int
ctl_get_str(struct ctl_msg *msg, const char *key, const char **dst,
    size_t *used)
{
	const msgpack_object	*o;
	char			*s;

	if ((o = ctl_map_get(msg->root, key)) == NULL)
		return 0;
	if (o->type != MSGPACK_OBJECT_STR ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return -1;
	s = msg->strings + *used;
	memcpy(s, o->via.str.ptr, o->via.str.size);
	s[o->via.str.size] = '\0';
	*used += o->via.str.size + 1;
	*dst = s;
	return 1;
}

static int
ctl_decode_reply(struct ctl_msg *msg, size_t *used, const char **cause)
{
	const msgpack_object	*ok;

	ok = ctl_map_get(msg->root, "ok");
	if (ok->type != MSGPACK_OBJECT_BOOLEAN) {
		*cause = "\"ok\" is not a boolean";
		return -1;
	}
	msg->is_reply = 1;
	msg->ok = ok->via.boolean;
	msg->data = ctl_map_get(msg->root, "data");
	if (msg->ok)
		return 1;
	if (ctl_get_str(msg, "error", &msg->error, used) != 1) {
		*cause = "failed reply without an \"error\" string";
		return -1;
	}
	if (ctl_get_str(msg, "code", &msg->code, used) == -1) {
		*cause = "\"code\" is not a string";
		return -1;
	}
	return 1;
}

static int
ctl_decode_kind(struct ctl_msg *msg, size_t *used, const char **cause)
{
	int	 has_cmd, has_event, has_ok;

	has_cmd = ctl_get_str(msg, "cmd", &msg->cmd, used);
	has_event = ctl_get_str(msg, "event", &msg->event, used);
	has_ok = ctl_map_get(msg->root, "ok") != NULL;
	if (has_cmd == -1 || has_event == -1) {
		*cause = "\"cmd\" or \"event\" is not a string";
		return -1;
	}
	if (has_cmd + has_event + has_ok != 1) {
		*cause = "frame is not exactly one of request, reply, event";
		return -1;
	}
	if (has_ok)
		return ctl_decode_reply(msg, used, cause);
	if (has_event) {
		msg->data = ctl_map_get(msg->root, "data");
		return 1;
	}
	msg->args = ctl_map_get(msg->root, "args");
	if (msg->args != NULL && msg->args->type == MSGPACK_OBJECT_NIL)
		msg->args = NULL;
	if (msg->args != NULL && msg->args->type != MSGPACK_OBJECT_MAP) {
		*cause = "\"args\" is not a map";
		return -1;
	}
	return 1;
}

int
ctl_msgpack_check(const void *data, size_t len)
{
	size_t	 off = 0;

	return ctl_scan(data, len, &off, 0) == 0 && off == len;
}

/*
 * Decode the payload already copied to the front of msg->strings (len
 * bytes); the rest of that buffer receives the NUL-terminated strings.
 */
static int
ctl_decode(struct ctl_msg *msg, size_t len, const char **cause)
{
	msgpack_object	*root;
	size_t		 off = 0, used = len;

	if (!ctl_msgpack_check(msg->strings, len)) {
		*cause = "payload is not exactly one well-formed msgpack object";
		return -1;
	}
	if (msgpack_unpack_next(&msg->unp, msg->strings, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != len) {
		*cause = "payload does not decode";
		return -1;
	}
	if (msg->unp.data.type != MSGPACK_OBJECT_MAP) {
		*cause = "payload is not a map";
		return -1;
	}
	/*
	 * Keep every pointer in msg off msg itself (the map's pairs are in
	 * the zone already), so a ctl_msg can be moved by value.
	 */
	if ((root = msgpack_zone_malloc(msg->unp.zone, sizeof(*root))) == NULL)
		fatalx("msgpack_zone_malloc");
	*root = msg->unp.data;
	msg->root = root;
	if (ctl_get_u32(msg->root, "v", &msg->version) == -1 ||
	    ctl_get_u32(msg->root, "id", &msg->id) == -1) {
		*cause = "frame without a valid \"v\" and \"id\"";
		return -1;
	}
	if (msg->version != CTL_PROTO_VERSION) {
		*cause = "unsupported protocol version";
		return CTL_FRAME_OTHER_VERSION;
	}
	return ctl_decode_kind(msg, &used, cause);
}

/*
 * Room for the payload and for NUL-terminated copies of cmd, event, error
 * and code, which are no longer than the payload together.
 */
static void
ctl_msg_alloc(struct ctl_msg *msg, size_t len)
{
	memset(msg, 0, sizeof(*msg));
	msgpack_unpacked_init(&msg->unp);
	msg->strings = xmalloc(2 * len + 4);
}

static int
ctl_frame_length(const unsigned char *hdr, uint32_t *len, const char **cause)
{
	uint32_t	 n;

	memcpy(&n, hdr, sizeof(n));
	n = ntohl(n);
	if (n == 0 || n > CTL_FRAME_MAX) {
		*cause = n == 0 ? "empty frame" : "frame too large";
		return -1;
	}
	*len = n;
	return 0;
}

/* A frame that failed keeps its version and id alone. */
static int
ctl_frame_finish(struct ctl_msg *msg, int rv)
{
	uint32_t	 version = msg->version, id = msg->id;

	if (rv < 0) {
		ctl_msg_free(msg);
		memset(msg, 0, sizeof(*msg));
		msg->version = version;
		msg->id = id;
	}
	return rv;
}

int
ctl_frame_pull(struct evbuffer *buf, struct ctl_msg *msg, const char **cause)
{
	unsigned char	 hdr[4];
	uint32_t	 len;

	memset(msg, 0, sizeof(*msg));
	if (evbuffer_copyout(buf, hdr, sizeof(hdr)) < (ev_ssize_t)sizeof(hdr))
		return 0;
	if (ctl_frame_length(hdr, &len, cause) == -1)
		return -1;
	if (evbuffer_get_length(buf) < sizeof(hdr) + (size_t)len)
		return 0;
	ctl_msg_alloc(msg, len);
	evbuffer_drain(buf, sizeof(hdr));
	evbuffer_remove(buf, msg->strings, len);
	return ctl_frame_finish(msg, ctl_decode(msg, len, cause));
}

int
ctl_frame_parse(const void *data, size_t size, struct ctl_msg *msg,
    size_t *used, const char **cause)
{
	uint32_t	 len;

	memset(msg, 0, sizeof(*msg));
	*used = 0;
	if (size < 4)
		return 0;
	if (ctl_frame_length(data, &len, cause) == -1)
		return -1;
	if (size - 4 < len)
		return 0;
	ctl_msg_alloc(msg, len);
	memcpy(msg->strings, (const char *)data + 4, len);
	*used = 4 + (size_t)len;
	return ctl_frame_finish(msg, ctl_decode(msg, len, cause));
}

void
ctl_msg_free(struct ctl_msg *msg)
{
	if (msg->strings == NULL)
		return;
	msgpack_unpacked_destroy(&msg->unp);
	free(msg->strings);
	msg->strings = NULL;
}

static void
ctl_frame_begin(struct ctl_frame *f, uint32_t id, size_t nfields)
{
	static const char	 room[4];

	msgpack_sbuffer_init(&f->sb);
	msgpack_sbuffer_write(&f->sb, room, sizeof(room));
	msgpack_packer_init(&f->pk, &f->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&f->pk, nfields + 2);
	ctl_pack_kv_uint(&f->pk, "v", CTL_PROTO_VERSION);
	ctl_pack_kv_uint(&f->pk, "id", id);
}

void
ctl_frame_request(struct ctl_frame *f, uint32_t id, const char *cmd,
    size_t nfields)
{
	ctl_frame_begin(f, id, nfields + 1);
	ctl_pack_kv_str(&f->pk, "cmd", cmd);
}

void
ctl_frame_reply(struct ctl_frame *f, uint32_t id, size_t nfields)
{
	ctl_frame_begin(f, id, nfields + 1);
	ctl_pack_kv_bool(&f->pk, "ok", 1);
}

int
ctl_reply_code(const struct ctl_msg *msg, const char *code)
{
	return msg->is_reply && !msg->ok && msg->code != NULL &&
	    strcmp(msg->code, code) == 0;
}

void
ctl_frame_error(struct ctl_frame *f, uint32_t id, const char *error)
{
	ctl_frame_error_code(f, id, NULL, error);
}

/* code: NULL, or CTL_CODE_*. */
void
ctl_frame_error_code(struct ctl_frame *f, uint32_t id, const char *code,
    const char *error)
{
	ctl_frame_begin(f, id, code != NULL ? 3 : 2);
	ctl_pack_kv_bool(&f->pk, "ok", 0);
	ctl_pack_kv_str(&f->pk, "error", error);
	if (code != NULL)
		ctl_pack_kv_str(&f->pk, "code", code);
}

void
ctl_frame_event(struct ctl_frame *f, uint32_t id, const char *event,
    size_t nfields)
{
	ctl_frame_begin(f, id, nfields + 1);
	ctl_pack_kv_str(&f->pk, "event", event);
}

void
ctl_frame_end(struct ctl_frame *f, const void **data, size_t *len)
{
	uint32_t	 n;

	n = htonl((uint32_t)(f->sb.size - 4));
	memcpy(f->sb.data, &n, sizeof(n));
	*data = f->sb.data;
	*len = f->sb.size;
}

void
ctl_frame_free(struct ctl_frame *f)
{
	msgpack_sbuffer_destroy(&f->sb);
}

void
ctl_pack_str(msgpack_packer *pk, const char *s)
{
	size_t	len = strlen(s);

	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void
ctl_pack_kv_str(msgpack_packer *pk, const char *key, const char *value)
{
	ctl_pack_str(pk, key);
	if (value == NULL)
		msgpack_pack_nil(pk);
	else
		ctl_pack_str(pk, value);
}

void
ctl_pack_kv_int(msgpack_packer *pk, const char *key, int64_t value)
{
	ctl_pack_str(pk, key);
	msgpack_pack_int64(pk, value);
}

void
ctl_pack_kv_uint(msgpack_packer *pk, const char *key, uint64_t value)
{
	ctl_pack_str(pk, key);
	msgpack_pack_uint64(pk, value);
}

void
ctl_pack_kv_bool(msgpack_packer *pk, const char *key, int value)
{
	ctl_pack_str(pk, key);
	if (value)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

const msgpack_object *
ctl_map_get(const msgpack_object *map, const char *key)
{
	const msgpack_object_kv	*kv;
	size_t			 len = strlen(key);
	uint32_t		 i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR &&
		    kv->key.via.str.size == len &&
		    memcmp(kv->key.via.str.ptr, key, len) == 0)
			return &kv->val;
	}
	return NULL;
}

/* One holding a NUL would be read as its head: "api\0x" as "api". */
int
ctl_obj_str(const msgpack_object *o, char *buf, size_t size)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_STR ||
	    o->via.str.size >= size ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return -1;
	memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 0;
}

int
ctl_obj_int(const msgpack_object *o, int64_t *v)
{
	if (o == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return 0;
	}
	return -1;
}
