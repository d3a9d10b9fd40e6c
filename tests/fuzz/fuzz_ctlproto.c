/*
 * Control protocol frames (lib/ctlproto.c), as the control socket and the
 * master's channels take them from a peer: frame after frame off a flat
 * buffer and off an evbuffer, then what microd and microctl read of a
 * decoded one.
 */
#include "config.h"

#include <stdlib.h>

#include <event2/buffer.h>

#include "ctlproto.h"
#include "fuzz.h"
#include "log.h"
#include "mpjson.h"

static void
fuzz_ctl_read(const struct ctl_msg *msg)
{
	const msgpack_object	*o = msg->args != NULL ? msg->args : msg->data;
	const char		*cause;
	char			 s[64];
	int64_t			 v;
	json_t			*j;
	uint32_t		 i;

	ctl_reply_code(msg, CTL_CODE_INVALID);
	for (i = 0; o != NULL && o->type == MSGPACK_OBJECT_MAP &&
	    i < o->via.map.size; i++) {
		ctl_obj_str(&o->via.map.ptr[i].val, s, sizeof(s));
		ctl_obj_int(&o->via.map.ptr[i].val, &v);
	}
	ctl_map_get(o, "name");
	if ((j = mpjson_from_msgpack(msg->root, &cause)) != NULL)
		free(json_dumps(j, JSON_COMPACT));
	json_decref(j);
}

/* 1 if another frame may follow this one. */
static int
fuzz_ctl_done(struct ctl_msg *msg, int rv)
{
	if (rv == 1) {
		fuzz_ctl_read(msg);
		ctl_msg_free(msg);
	}
	return rv == 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_msg	 msg;
	struct evbuffer	*buf;
	const char	*cause;
	size_t		 off = 0, used;

	while (fuzz_ctl_done(&msg, ctl_frame_parse(data + off, size - off,
	    &msg, &used, &cause)))
		off += used;
	if ((buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add(buf, data, size);
	while (fuzz_ctl_done(&msg, ctl_frame_pull(buf, &msg, &cause)))
		continue;
	evbuffer_free(buf);
	return 0;
}
