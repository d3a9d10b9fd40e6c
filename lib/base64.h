/* Base64 (RFC 4648 §4, with padding): websocket keys and broker bodies. */
#ifndef MICRO_BASE64_H
#define MICRO_BASE64_H

#include <stddef.h>

/* Bytes base64_encode writes for len input bytes, without the NUL. */
#define BASE64_LEN(len)	(((len) + 2) / 3 * 4)

/* Encode len bytes into out (BASE64_LEN(len) + 1 bytes, NUL-terminated). */
void	 base64_encode(const void *, size_t, char *);
/*
 * Decode a padded string of len characters into out (len / 4 * 3 bytes
 * at most); returns the decoded length or -1 if it is not valid base64.
 */
long	 base64_decode(const char *, size_t, void *);

#endif
