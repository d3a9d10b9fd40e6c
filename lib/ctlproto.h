/*
 * The control protocol codec (doc/control-protocol.md). The same frames
 * carry microctl/micro-top requests on the control socket and the internal
 * messages between the master and its workers on their socketpairs.
 *
 * A frame is a 4-byte big-endian payload length followed by a msgpack map
 * that always holds "v" (protocol version) and "id" (request id, echoed in
 * the reply). Requests add "cmd" and optionally "args"; replies add "ok" and
 * either "data" or "error"; pushed events add "event" and "data".
 */
#ifndef MICRO_CTLPROTO_H
#define MICRO_CTLPROTO_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define CTL_PROTO_VERSION	1
/*
 * Payload bytes of a frame: room for the registry of a large host (the
 * services answer is ~400 bytes a service). Requests on the control
 * socket are held to far less (microd/control.c).
 */
#define CTL_FRAME_MAX		(64U * 1024 * 1024)
/* An error reply's "code": the same request may succeed a moment later, */
#define CTL_CODE_UNAVAILABLE	"unavailable"
/* or it never will: the request itself is at fault. */
#define CTL_CODE_INVALID	"invalid"

struct evbuffer;

/* A decoded frame. Every pointer stays valid until ctl_msg_free(). */
struct ctl_msg {
	msgpack_unpacked	 unp;
	const msgpack_object	*root;		/* the map */
	uint32_t		 version;
	uint32_t		 id;
	const char		*cmd;		/* request, NUL-terminated copy */
	const char		*event;		/* pushed event, or NULL */
	int			 is_reply;
	int			 ok;		/* reply: true/false */
	const char		*error;		/* reply with ok=false */
	const char		*code;		/* with error: CTL_CODE_* or NULL */
	const msgpack_object	*args;		/* request args or NULL */
	const msgpack_object	*data;		/* reply/event data or NULL */
	char			*strings;	/* owned copies of the above */
};

/*
 * Take one frame off the front of buf. Returns 1 and fills msg (free it
 * with ctl_msg_free), 0 if more bytes are needed, -1 on a malformed or
 * oversized frame, CTL_FRAME_OTHER_VERSION on a frame of another protocol
 * version, with only msg->version and msg->id filled so the peer can be
 * told. After either the connection must be closed; *cause is set to a
 * static message, and msg holds nothing to free.
 */
#define CTL_FRAME_OTHER_VERSION	(-2)
int	 ctl_frame_pull(struct evbuffer *, struct ctl_msg *, const char **);
/* The same over a flat buffer: *used is set to the bytes consumed. */
int	 ctl_frame_parse(const void *, size_t, struct ctl_msg *, size_t *,
	    const char **);
void	 ctl_msg_free(struct ctl_msg *);
/*
 * 1 if the len bytes are exactly one well-formed msgpack object, no
 * deeper than msgpack-c unpacks, whose element counts the bytes can
 * hold: only then may msgpack_unpack_next() have them, since it
 * allocates what the counts claim before it reads the elements.
 */
int	 ctl_msgpack_check(const void *, size_t);
/* A failed reply with that code (CTL_CODE_*). */
int	 ctl_reply_code(const struct ctl_msg *, const char *);

/* Building a frame: begin, pack nfields key/value pairs, end. */
struct ctl_frame {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
};
void	 ctl_frame_request(struct ctl_frame *, uint32_t id, const char *cmd,
	    size_t nfields);
void	 ctl_frame_reply(struct ctl_frame *, uint32_t id, size_t nfields);
void	 ctl_frame_error(struct ctl_frame *, uint32_t id, const char *error);
void	 ctl_frame_error_code(struct ctl_frame *, uint32_t id, const char *code,
	    const char *error);
void	 ctl_frame_event(struct ctl_frame *, uint32_t id, const char *event,
	    size_t nfields);
/* Patch the length prefix; data/len are then ready to write. */
void	 ctl_frame_end(struct ctl_frame *, const void **, size_t *);
void	 ctl_frame_free(struct ctl_frame *);

/* Packing and reading helpers. */
void	 ctl_pack_str(msgpack_packer *, const char *);
void	 ctl_pack_kv_str(msgpack_packer *, const char *, const char *);
void	 ctl_pack_kv_int(msgpack_packer *, const char *, int64_t);
void	 ctl_pack_kv_uint(msgpack_packer *, const char *, uint64_t);
void	 ctl_pack_kv_bool(msgpack_packer *, const char *, int);
const msgpack_object *ctl_map_get(const msgpack_object *, const char *);
/*
 * Copy a str object into buf (NUL-terminated); -1 if not a str, too long,
 * or holding a NUL.
 */
int	 ctl_obj_str(const msgpack_object *, char *, size_t);
int	 ctl_obj_int(const msgpack_object *, int64_t *);

#endif
