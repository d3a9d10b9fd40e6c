/*
 * SHA-1 (FIPS 180-4), only for the websocket handshake (RFC 6455 §4.2.2):
 * not a security primitive here, and small enough not to pull in a crypto
 * library for one hash.
 */
#ifndef MICRO_SHA1_H
#define MICRO_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_LEN	20

struct sha1 {
	uint32_t	 h[5];
	uint64_t	 len;		/* bytes hashed so far */
	uint8_t		 block[64];
	size_t		 used;		/* bytes in block */
};

void	 sha1_init(struct sha1 *);
void	 sha1_update(struct sha1 *, const void *, size_t);
void	 sha1_final(struct sha1 *, uint8_t [SHA1_DIGEST_LEN]);

#endif
