#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "termtext.h"

#define TERMTEXT_UNPRINTABLE	'?'

/*
 * The bidirectional controls that reorder what follows them (embeddings,
 * overrides, isolates and the marks): a name holding U+202E would show
 * the columns after it reversed. Zero-width, so wcwidth lets them pass.
 */
static int
termtext_bidi(wchar_t wc)
{
	return wc == 0x061c || wc == 0x200e || wc == 0x200f ||
	    (wc >= 0x202a && wc <= 0x202e) || (wc >= 0x2066 && wc <= 0x2069);
}

/*
 * The display width of the character at s (of at most left bytes) and its
 * length in *n; -1 if it must not reach the terminal as it is. In a
 * single-byte locale a byte above 0x7f passes (the terminal may still
 * know it); in a multibyte one a broken sequence does not.
 */
static int
termtext_char(const char *s, size_t left, size_t *n, mbstate_t *ps)
{
	wchar_t	 wc;

	*n = mbrtowc(&wc, s, left, ps);
	if (*n == (size_t)-1 || *n == (size_t)-2 || *n == 0) {
		memset(ps, 0, sizeof(*ps));
		*n = 1;
		return MB_CUR_MAX == 1 && (unsigned char)*s > 0x7f ? 1 : -1;
	}
	return termtext_bidi(wc) ? -1 : wcwidth(wc);
}

/*
 * Copy in to out, at most maxcols display columns of it (-1: all), with
 * every control character (below 0x20, 0x7f, the C1 controls and the
 * bidirectional controls of a UTF-8 locale) and every broken multibyte
 * sequence shown as one '?': no byte of registry data can move the
 * cursor, reorder a line or talk to the terminal. A
 * '?' stands in for at least one byte, so out may be in. Returns the
 * columns used.
 */
int
termtext_fit(const char *in, int maxcols, char *out, size_t len)
{
	mbstate_t	 ps;
	size_t		 left = strlen(in), at = 0, n;
	int		 cols = 0, w;

	memset(&ps, 0, sizeof(ps));
	while (left > 0) {
		w = termtext_char(in, left, &n, &ps);
		if ((maxcols >= 0 && cols + (w < 0 ? 1 : w) > maxcols) ||
		    at + (w < 0 ? 1 : n) >= len)
			break;
		if (w < 0)
			out[at++] = TERMTEXT_UNPRINTABLE;
		else
			memmove(out + at, in, n);
		at += w < 0 ? 0 : n;
		cols += w < 0 ? 1 : w;
		in += n;
		left -= n;
	}
	if (len > 0)
		out[at] = '\0';
	return cols;
}
