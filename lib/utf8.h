/*
 * Text that must be UTF-8 (JSON strings) from bytes that may not be: a
 * header value, a query parameter, a node's error detail. Invalid bytes
 * become U+FFFD, one per byte, as Go's encoding/json writes them, so a
 * go-micro service sees what micro would have sent it.
 */
#ifndef MICRO_UTF8_H
#define MICRO_UTF8_H

#include <stddef.h>

#include <jansson.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if none. */
size_t	 utf8_sequence(const unsigned char *s, size_t n);
/* s made valid, allocated and NUL-terminated; *outlen its length. */
char	*utf8_repair(const char *s, size_t len, size_t *outlen);
/* A JSON string of the len bytes at s, repaired if need be: never NULL. */
json_t	*utf8_json_string(const char *s, size_t len);

#endif
