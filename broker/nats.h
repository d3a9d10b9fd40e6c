/*
 * The NATS backend of the broker (doc/broker.md "Backends"): one NATS
 * connection per process, driven by the process's event loop through
 * cnats' libevent adapter. Topics are subjects, queue groups NATS queue
 * groups. Messages reach the callbacks on the loop thread, in order per
 * subscription, never after bnats_unsubscribe().
 */
#ifndef MICRO_BROKER_NATS_H
#define MICRO_BROKER_NATS_H

#include <stddef.h>

struct event_base;
struct bnats_sub;

/* data is the NATS payload as received (the envelope, normally). */
typedef void	(*bnats_deliver_cb)(void *, const void *, size_t);

/*
 * Master, before forking: cnats calls into the workers' event loops from
 * its threads, so libevent's locks must be on before they create them.
 */
void		 bnats_prepare(void);

/*
 * Connect to address ("nats://host:port[,nats://...]", "" for the
 * local default). An unreachable server is not an error: cnats keeps
 * trying, and publishes fail with BROKER_DOWN meanwhile. A connection
 * cnats closes for good (a server's -ERR, an authorization error twice)
 * makes the worker restart: it sends itself SIGTERM. One closed before it
 * ever connected (the first handshake failed) is replaced, after a pause.
 */
int		 bnats_open(struct event_base *, const char *, const char **);
void		 bnats_close(void);

/*
 * 0, -1 (refused, *cause) or BROKER_DOWN (not connected, or the server
 * not reading what was sent before: *cause).
 */
int		 bnats_publish(const char *, const void *, size_t, const char **);

/* queue may be NULL. Survives reconnects (cnats resubscribes). */
struct bnats_sub *bnats_subscribe(const char *, const char *,
		    bnats_deliver_cb, void *, const char **);
void		 bnats_unsubscribe(struct bnats_sub *);

#endif
