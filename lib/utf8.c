#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "utf8.h"
#include "util.h"

#define UTF8_REPLACEMENT	"\xef\xbf\xbd"	/* U+FFFD */

/*
 * RFC 3629: the shortest form only, no surrogates, nothing past U+10FFFF.
 * The second byte's range depends on the first; later ones are 80..BF.
 */
size_t
utf8_sequence(const unsigned char *s, size_t n)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		lo = s[0] == 0xe0 ? 0xa0 : 0x80;
		hi = s[0] == 0xed ? 0x9f : 0xbf;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		lo = s[0] == 0xf0 ? 0x90 : 0x80;
		hi = s[0] == 0xf4 ? 0x8f : 0xbf;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

char *
utf8_repair(const char *s, size_t len, size_t *outlen)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			*out = xmalloc(len * 3 + 1);
	size_t			 i = 0, o = 0, n;

	while (i < len) {
		if ((n = utf8_sequence(p + i, len - i)) == 0) {
			memcpy(out + o, UTF8_REPLACEMENT, 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

json_t *
utf8_json_string(const char *s, size_t len)
{
	json_t	*j;
	char	*fixed;
	size_t	 n;

	if ((j = json_stringn(s, len)) != NULL)
		return j;
	fixed = utf8_repair(s, len, &n);
	j = json_stringn(fixed, n);
	free(fixed);
	if (j == NULL)
		fatalx("%s: out of memory", __func__);
	return j;
}
