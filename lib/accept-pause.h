/*
 * Out of descriptors (or kernel memory), a listening socket stays
 * readable and every accept fails at once: accepting again would spin and
 * flood the log. A listener's error callback hands the failure here; on
 * such an error accepting pauses for a while, as nginx does, then resumes
 * if the owner still wants it (siblings sharing the socket take the load).
 */
#ifndef MICRO_ACCEPT_PAUSE_H
#define MICRO_ACCEPT_PAUSE_H

struct event;
struct event_base;
struct evconnlistener;

struct accept_pause {
	struct evconnlistener	*listener;
	struct event		*timer;
	const char		*who;		/* log prefix */
	int			 paused;
	/* NULL, or whether to listen again once the pause is over. */
	int			(*may_resume)(void *);
	void			*arg;
};

void	 accept_pause_init(struct accept_pause *, struct event_base *,
	    struct evconnlistener *, const char *, int (*)(void *), void *);
/* From the listener's error callback, errno-style error in the socket. */
void	 accept_pause_error(struct accept_pause *);
void	 accept_pause_clear(struct accept_pause *);

#endif
