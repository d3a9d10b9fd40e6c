/* Control-socket connections and the command table that serves them. */
#ifndef MICRO_CONTROL_H
#define MICRO_CONTROL_H

#include <sys/queue.h>

#include <stdint.h>

struct bufferevent;
struct ctl_frame;
struct ctl_msg;
struct ctllogs;
struct ctlsub;

enum control_stream {
	CONTROL_STREAM_NONE,
	CONTROL_STREAM_STATS,
	CONTROL_STREAM_LOGS,
	CONTROL_STREAM_SUB,
};

struct control_conn {
	TAILQ_ENTRY(control_conn) entry;
	struct bufferevent	*bev;
	enum control_stream	 stream;	/* the one open, if any */
	uint32_t		 stream_id;
	struct ctllogs		*logs;		/* a logs stream's readers */
	struct ctlsub		*sub;		/* a subscribe stream's */
	unsigned		 relays;	/* requests at the registry */
	uint64_t		 waiting;	/* for a request, since (ms) */
	int			 requested;	/* a whole request came */
	int			 closing;
	int			 paused;	/* not read for now */
};

void	 control_send(struct control_conn *, struct ctl_frame *);
void	 control_error(struct control_conn *, uint32_t, const char *);
void	 control_stream_start(struct control_conn *, uint32_t);
/* 1 if c's unread replies, or everyone's, leave no room for more. */
int	 control_output_full(struct control_conn *);
void	 control_relay(struct control_conn *, const struct ctl_msg *);

/* ctlcmd.c */
void	 ctlcmd_dispatch(struct control_conn *, const struct ctl_msg *);
void	 ctlcmd_push_stats(struct control_conn *);

/* ctllogs.c: the logs stream */
void	 ctllogs_start(struct control_conn *, const struct ctl_msg *);
void	 ctllogs_stop(struct control_conn *);

/* ctlsub.c: the subscribe stream */
void	 ctlsub_start(struct control_conn *, const struct ctl_msg *);
/* Some of c's output went: room to say what was lost? */
void	 ctlsub_writable(struct control_conn *);
void	 ctlsub_stop(struct control_conn *);

#endif
