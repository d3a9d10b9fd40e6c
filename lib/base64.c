/* Base64, RFC 4648 §4. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "base64.h"

static const char base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * The two characters of every 12-bit value: a 3-byte group is two lookups
 * and two 2-byte stores (the broker encodes every message body).
 */
static char	 base64_pairs[4096][2];

__attribute__((constructor)) static void
base64_init(void)
{
	size_t	 i;

	for (i = 0; i < 4096; i++) {
		base64_pairs[i][0] = base64_alphabet[i >> 6];
		base64_pairs[i][1] = base64_alphabet[i & 63];
	}
}

void
base64_encode(const void *data, size_t len, char *out)
{
	const uint8_t	*p = data;
	uint32_t	 v;
	size_t		 i;

	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		memcpy(out, base64_pairs[v >> 12], 2);
		memcpy(out + 2, base64_pairs[v & 0xfff], 2);
		out += 4;
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		*out++ = base64_alphabet[v >> 18];
		*out++ = base64_alphabet[(v >> 12) & 63];
		*out++ = i + 1 < len ? base64_alphabet[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static int
base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long
base64_decode(const char *s, size_t len, void *out)
{
	uint8_t		*o = out;
	uint32_t	 v;
	size_t		 i, j, pad = 0;
	int		 d;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && s[len - 1] == '=')
		pad = len > 1 && s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (j = 0; j < 4; j++) {
			if (i + j >= len - pad && s[i + j] == '=')
				d = 0;
			else if ((d = base64_value(s[i + j])) == -1)
				return -1;
			v = v << 6 | (uint32_t)d;
		}
		*o++ = (uint8_t)(v >> 16);
		*o++ = (uint8_t)(v >> 8);
		*o++ = (uint8_t)v;
	}
	return (long)(o - (uint8_t *)out) - (long)pad;
}
