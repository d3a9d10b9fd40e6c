/*
 * How any text from microd or the registry reaches a terminal, in
 * micro-top and in microctl's text output alike: control characters and
 * broken multibyte sequences shown as '?', cut and measured in display
 * columns of the current locale (LC_CTYPE).
 */
#ifndef MICRO_TERMTEXT_H
#define MICRO_TERMTEXT_H

#include <stddef.h>

/*
 * Copy in to out, at most maxcols display columns of it (-1: all), with
 * every control character (below 0x20, 0x7f, and the C1 controls of a
 * UTF-8 locale, and the bidirectional controls such as U+202E) and every
 * broken multibyte sequence shown as one '?': no byte of registry data can
 * move the cursor, reorder a line or talk to the terminal. A
 * '?' stands in for at least one byte, so out may be in. Returns the
 * columns used.
 */
int	 termtext_fit(const char *in, int maxcols, char *out, size_t len);

#endif
