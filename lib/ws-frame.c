/*
 * RFC 6455 §5.2 frame headers (see ws-frame.h).
 *
 *   byte 0: FIN | RSV1-3 | opcode      byte 1: MASK | length (7 bits)
 *   length 126: 16-bit length follows; 127: 64-bit length (top bit 0)
 *   then the 4-byte masking key if MASK, then the payload
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "ws-frame.h"

#define WS_FIN		0x80
#define WS_RSV		0x70
#define WS_MASK		0x80

static int
ws_frame_opcode_known(int op)
{
	return op == WS_OP_CONT || op == WS_OP_TEXT || op == WS_OP_BINARY ||
	    op == WS_OP_CLOSE || op == WS_OP_PING || op == WS_OP_PONG;
}

/* The extended length at p (n bytes); -1 if not the shortest form. */
static int
ws_frame_length(const uint8_t *p, size_t n, uint64_t *len)
{
	size_t	 i;

	*len = 0;
	for (i = 0; i < n; i++)
		*len = *len << 8 | p[i];
	if (n == 2)
		return *len > WS_CONTROL_MAX ? 0 : -1;
	return *len > UINT16_MAX && *len >> 63 == 0 ? 0 : -1;
}

/* Frame rules that need only the first two bytes. */
static int
ws_frame_check(const uint8_t *p, int masked, const char **cause)
{
	int	 op = p[0] & 0x0f;

	if (p[0] & WS_RSV)
		*cause = "reserved bits set";
	else if (!ws_frame_opcode_known(op))
		*cause = "unknown opcode";
	else if (WS_OP_IS_CONTROL(op) && !(p[0] & WS_FIN))
		*cause = "fragmented control frame";
	else if (WS_OP_IS_CONTROL(op) && (p[1] & 0x7f) > WS_CONTROL_MAX)
		*cause = "control frame longer than 125 bytes";
	else if (!(p[1] & WS_MASK) != !masked)
		*cause = masked ? "client frame not masked" :
		    "server frame masked";
	else
		return 0;
	return -1;
}

int
ws_frame_parse(const uint8_t *p, size_t avail, int masked,
    struct ws_frame *f, const char **cause)
{
	size_t	 ext, hlen;

	if (avail < 2)
		return 0;
	if (ws_frame_check(p, masked, cause) == -1)
		return -1;
	ext = (p[1] & 0x7f) == 126 ? 2 : (p[1] & 0x7f) == 127 ? 8 : 0;
	hlen = 2 + ext + (masked ? 4 : 0);
	if (avail < hlen)
		return 0;
	f->fin = (p[0] & WS_FIN) != 0;
	f->opcode = p[0] & 0x0f;
	f->masked = masked;
	f->hlen = hlen;
	f->len = p[1] & 0x7f;
	if (ext != 0 && ws_frame_length(p + 2, ext, &f->len) == -1) {
		*cause = "frame length not in its shortest form";
		return -1;
	}
	if (masked)
		memcpy(f->mask, p + 2 + ext, 4);
	return (int)hlen;
}

void
ws_frame_unmask(uint8_t *p, size_t len, const uint8_t *mask)
{
	uint64_t	 m8, v;
	size_t		 i = 0;

	/* Eight bytes at a time: the key repeats every four. */
	memcpy(&m8, mask, 4);
	memcpy((uint8_t *)&m8 + 4, mask, 4);
	for (; i + 8 <= len; i += 8) {
		memcpy(&v, p + i, 8);
		v ^= m8;
		memcpy(p + i, &v, 8);
	}
	for (; i < len; i++)
		p[i] ^= mask[i & 3];
}

size_t
ws_frame_header(uint8_t *out, int opcode, uint64_t len, const uint8_t *mask)
{
	size_t	 n = 2, ext = 0, i;

	out[0] = WS_FIN | (uint8_t)opcode;
	if (len <= WS_CONTROL_MAX)
		out[1] = (uint8_t)len;
	else if (len <= UINT16_MAX) {
		out[1] = 126;
		ext = 2;
	} else {
		out[1] = 127;
		ext = 8;
	}
	for (i = 0; i < ext; i++)
		out[n++] = (uint8_t)(len >> (8 * (ext - 1 - i)));
	if (mask != NULL) {
		out[1] |= WS_MASK;
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

/* RFC 6455 §7.4: codes a peer may send (1004-1006, 1015 only locally). */
static int
ws_frame_code_valid(uint16_t code)
{
	if (code >= 3000 && code <= 4999)
		return 1;
	return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 &&
	    code != 1006;
}

int
ws_frame_close_code(const uint8_t *p, size_t len, uint16_t *code,
    const char **cause)
{
	if (len == 0) {
		*code = 1005;
		return 0;
	}
	if (len == 1) {
		*cause = "close frame of one byte";
		return -1;
	}
	*code = (uint16_t)(p[0] << 8 | p[1]);
	if (!ws_frame_code_valid(*code)) {
		*cause = "invalid close code";
		return -1;
	}
	return 0;
}
