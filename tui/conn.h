/*
 * A non-blocking control-socket connection for micro-top's poll(2) loop:
 * requests are queued and written when the socket takes them, frames are
 * read as they come and handed to the callback of the request they answer
 * (or of the stream whose events they are). The UI never waits on microd.
 */
#ifndef MICRO_TUI_CONN_H
#define MICRO_TUI_CONN_H

#include <stddef.h>

#include "ctlproto.h"

#define CONN_PENDING_MAX	16

struct conn;

/* A reply, or an event of a stream; msg is freed after the call. */
typedef void	(*conn_cb)(const struct ctl_msg *, void *);

struct conn	*conn_open(const char *, const char **);
void		 conn_free(struct conn *);
int		 conn_fd(const struct conn *);
/* POLLIN, plus POLLOUT while requests wait to be written. */
short		 conn_events(const struct conn *);

/* Begin a request with nfields pairs to pack into f->pk. */
void		 conn_begin(struct conn *, struct ctl_frame *, const char *,
		    size_t);
/* Queue it (the frame is freed); -1 if too many are unanswered. */
int		 conn_send(struct conn *, struct ctl_frame *, conn_cb, void *);
/* Do what poll(2) said the socket is ready for; -1: closed, see cause. */
int		 conn_io(struct conn *, short, const char **);

#endif
