/*
 * A blocking control-protocol client for microctl and micro-top: one
 * connection to the master, requests answered in order, and the events of
 * a stream. Every wait is bounded (CTLCLIENT_TIMEOUT_MS unless
 * ctlclient_set_timeout() says otherwise), so a daemon that never answers
 * is reported as an error instead of hanging the caller.
 *
 * Causes are one line fit to print after "microctl: ". Those naming the
 * socket path live in a static buffer, valid until the next call.
 */
#ifndef MICRO_CTLCLIENT_H
#define MICRO_CTLCLIENT_H

#include <stdint.h>

#include "ctlproto.h"

#define CTLCLIENT_TIMEOUT_MS	10000
#define CTLCLIENT_DEFAULT_SOCKET	RUNSTATEDIR "/microd/microd.sock"

struct ctlclient;

/* $MICROD_SOCKET if set, else CTLCLIENT_DEFAULT_SOCKET. */
const char	*ctlclient_default_path(void);

struct ctlclient *ctlclient_connect(const char *, const char **);
/*
 * Just the connected socket (blocking), with the same one-line causes, for
 * callers that run their own non-blocking loop (micro-top); connect(2)
 * waits at most timeout ms for a master that does not accept.
 */
int	 ctlclient_open_fd(const char *, unsigned, const char **);
void		 ctlclient_free(struct ctlclient *);
/*
 * How long a send or a wait for the next frame may take; a stream reader
 * such as micro-top wants to notice a silent daemon sooner.
 */
void		 ctlclient_set_timeout(struct ctlclient *, unsigned int ms);

/* Begin a request frame with nfields extra pairs (e.g. "args"); the id. */
uint32_t	 ctlclient_begin(struct ctlclient *, struct ctl_frame *,
		    const char *cmd, size_t nfields);
/* Send the finished request; frees the frame. */
int		 ctlclient_send(struct ctlclient *, struct ctl_frame *,
		    const char **);
/*
 * Read the next frame (a reply or a stream event) into msg. A reply with
 * ok=false is returned as -1 with *cause pointing to its error text, valid
 * until ctl_msg_free(msg). The caller frees msg after any return.
 */
int		 ctlclient_recv(struct ctlclient *, struct ctl_msg *,
		    const char **);
/*
 * Send the request and wait for its reply: 0 with the reply in msg, -1
 * with *cause as for ctlclient_recv(). The frame is freed.
 */
int		 ctlclient_call(struct ctlclient *, struct ctl_frame *,
		    struct ctl_msg *, const char **);

#endif
