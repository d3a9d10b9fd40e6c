/*
 * What every fuzz harness (tests/fuzz/fuzz_*.c) shares: the libFuzzer
 * entry points, which driver.c also calls when there is no libFuzzer, and
 * the event-loop helpers of the harnesses that feed a socket
 * (fuzz-loop.c). tests/fuzz/README.md says how to run them.
 */
#ifndef MICRO_FUZZ_H
#define MICRO_FUZZ_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ws_callbacks;
struct ws_limits;

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
/* Optional: run once before the first input. */
int	 LLVMFuzzerInitialize(int *, char ***);

/*
 * The harness's event base, created on first use. Logging goes quiet
 * (errors only) with it: a rejected input is no news.
 */
struct event_base *fuzz_base(void);
/*
 * A connected AF_UNIX stream pair, both ends non-blocking: fds[0] for the
 * code under test, fds[1] for the harness.
 */
void	 fuzz_socketpair(int *);
/*
 * Write data to fd in slices (their size derived from the bytes, so that
 * parsers see heads and frames cut anywhere), then shut fd down for
 * writing; run the loop after each slice and then until done(arg) or
 * FUZZ_TURNS_MAX turns, reading and dropping what comes back on fd.
 * Returns 0, or -1 if done never came: the code under test hangs on a
 * peer that has gone.
 */
int	 fuzz_feed(int, const uint8_t *, size_t, int (*)(void *), void *);

/*
 * A websocket that echoes every message, with small limits; give it an
 * int counter as its argument: its close decrements it.
 */
extern const struct ws_callbacks	fuzz_ws_echo;
extern const struct ws_limits		fuzz_ws_limits;

#endif
