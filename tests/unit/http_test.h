/*
 * Helpers for the HTTP layer's tests: one thread, one event base; a raw
 * client socket is pumped together with the loop so nothing blocks.
 */
#ifndef HTTP_TEST_H
#define HTTP_TEST_H

#include <stddef.h>

struct event_base;

/* A listening TCP socket on 127.0.0.1, port 0; *port gets the real one. */
int	 ht_listen(int *);
/* A connected non-blocking socket to 127.0.0.1:port. */
int	 ht_connect(int);
void	 ht_send(int, const char *);
void	 ht_sendn(int, const void *, size_t);
/*
 * Run the loop and read fd until buf holds needle (or n bytes if needle is
 * NULL), EOF, or ms pass. Returns the bytes held; *eof set on EOF.
 */
size_t	 ht_read(struct event_base *, int, char *, size_t, const char *,
	    int, int *);
/*
 * Run the loop for ms, one turn at least, or until *flag becomes non-zero
 * (flag may be NULL).
 */
void	 ht_pump(struct event_base *, int, const volatile int *);
/* Number of complete "HTTP/1.x NNN" status lines in s. */
int	 ht_count(const char *, const char *);

#endif
