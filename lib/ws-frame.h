/*
 * RFC 6455 §5 frame headers, without I/O: lib/ws.c parses what arrives
 * in its input buffer in place and writes frames straight into its
 * output buffer with these. Strict: no extension is ever negotiated, so
 * reserved bits are errors, and lengths must use the shortest encoding.
 */
#ifndef MICRO_WS_FRAME_H
#define MICRO_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define WS_OP_CONT	0x0
#define WS_OP_TEXT	0x1
#define WS_OP_BINARY	0x2
#define WS_OP_CLOSE	0x8
#define WS_OP_PING	0x9
#define WS_OP_PONG	0xa
#define WS_OP_IS_CONTROL(op)	(((op) & 0x8) != 0)

#define WS_FRAME_HDR_MAX	14	/* 2 + 8 (length) + 4 (mask) */
#define WS_CONTROL_MAX		125	/* control frame payload */

struct ws_frame {
	int		 fin;
	int		 opcode;
	int		 masked;
	uint8_t		 mask[4];
	size_t		 hlen;		/* header bytes */
	uint64_t	 len;		/* payload bytes */
};

/*
 * The frame header at p (avail bytes). masked is 1 where frames must be
 * masked (a server reading a client), 0 where they must not. Returns the
 * header length with *f filled, 0 if more bytes are needed, or -1 with
 * *cause for a protocol violation (close with 1002).
 */
int		 ws_frame_parse(const uint8_t *, size_t, int,
		    struct ws_frame *, const char **);
/* XOR len bytes with the key, from the payload's first byte. */
void		 ws_frame_unmask(uint8_t *, size_t, const uint8_t *);
/*
 * A final frame's header into out (WS_FRAME_HDR_MAX bytes); mask NULL
 * for an unmasked frame. Returns its length.
 */
size_t		 ws_frame_header(uint8_t *, int, uint64_t, const uint8_t *);
/*
 * The status code of a close frame's (unmasked) payload: 1005 when
 * empty (RFC 6455 §7.1.5), or -1 and *cause if it may not be sent.
 */
int		 ws_frame_close_code(const uint8_t *, size_t, uint16_t *,
		    const char **);

#endif
