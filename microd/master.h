/*
 * The master process: it owns the configuration, the listening sockets, the
 * shm segment, the process table and the control socket. It does no network
 * I/O to backends; it forks, supervises, relays and answers.
 */
#ifndef MICRO_MASTER_H
#define MICRO_MASTER_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdint.h>

#include <msgpack.h>

#include "microd/backoff.h"
#include "microd/conf.h"

struct bufferevent;
struct ctl_frame;
struct ctl_msg;
struct event;
struct event_base;
struct shm;

/* The master's own slot and two generations of every worker. */
#define MASTER_SLOTS	(1 + 2 * ROLE_COUNT * CONFIG_WORKERS_MAX)

enum proc_state {
	PROC_STARTING,		/* forked, not serving yet */
	PROC_RUNNING,		/* said "ready" */
	PROC_DRAINING,		/* told to stop, finishing its requests */
	PROC_BACKOFF,		/* exited, waiting to be respawned */
	PROC_WAITING,		/* registry: for its predecessor to exit;
				   others, at start: for the registry's load */
	PROC_STOPPED,		/* exited for good (status 2, or stopping) */
};

struct proc {
	TAILQ_ENTRY(proc)	 entry;
	enum role_id		 role;
	unsigned		 id;		/* index within the role */
	unsigned		 generation;
	pid_t			 pid;		/* 0 when not running */
	enum proc_state		 state;
	unsigned		 slot;		/* shm slot while running */
	unsigned		 restarts;
	uint64_t		 started_wall_ms;
	uint64_t		 started_ms;	/* monotonic */
	struct backoff		 backoff;
	int			 restart_asked;	/* exit is expected: no backoff */
	int			 retired;	/* a restart replaced it */
	struct bufferevent	*chan;		/* socketpair to the worker */
	struct event		*respawn;	/* backoff timer */
	struct event		*kill_timer;	/* drain deadline */
	struct config		*conf;		/* registry: what it runs with */
};
TAILQ_HEAD(proc_list, proc);

struct listener {
	int			 fd;		/* -1: none */
	char			 spec[CONFIG_STR_MAX];	/* as configured */
	char			 addr[64];	/* real address, port 0 resolved */
};

struct master {
	struct event_base	*base;
	struct config		*conf;
	const char		*conf_path;
	int			 conf_explicit;
	int			 debug;		/* -d: debug whatever log_level says */
	unsigned		 generation;
	unsigned		 serving;	/* last generation all ready */
	struct listener		 listeners[ROLE_COUNT];
	struct shm		*shm;
	unsigned		 shm_reader_slot;	/* the master's own */
	int			 state_fd;	/* state_dir lock (statelock.c) */
	struct proc_list	 procs;
	char			 reload_error[1024];
	uint64_t		 started_wall_ms;
	uint64_t		 started_ms;
	int			 stopping;
	int			 handing_over;	/* until the new registry is ready */
	int			 ready_sent;	/* READY=1 sent for this generation */
	struct event		*stop_timer;
};

extern struct master	*master;

/* listen.c */
int	 listen_open(struct listener *, const char *spec, const char **);
void	 listen_close(struct listener *);

/* tell.c */
int	 master_tell(const struct config *, const char *);

/* statelock.c */
int	 state_lock(const char *, char *, size_t);

/* proc.c */
void	 proc_start_generation(void);
void	 proc_drain_older(unsigned, unsigned);
void	 proc_stop_all(void);
void	 proc_free_all(void);
void	 proc_reap(void);
int	 proc_restart(enum role_id, int id, const char **);
void	 proc_ready(struct proc *);
int	 proc_all_running(void);
unsigned proc_fatal_count(void);
int	 proc_none_left(void);
struct proc *proc_registry(void);
const char *proc_state_name(const struct proc *);

/* chan.c: the master's side of the worker channels */
void	 chan_open(struct proc *, int);
void	 chan_close(struct proc *);
void	 chan_send_sidecar_app(const struct config *);
/* The registry worker is to stop, handing its registrations over. */
void	 chan_send_handover(struct proc *);

/* relay.c: requests forwarded to the registry worker */
typedef void (*relay_answered_cb)(void *);
/* answered (may be NULL) runs after the asker got its reply, or an error. */
int	 relay_to_registry(struct bufferevent *, const struct ctl_msg *,
	    relay_answered_cb, void *, const char **);
/* The master's own request, args {"json": ...}: applied says if it was. */
typedef void (*relay_applied_cb)(void *, int);
int	 relay_request(const char *, const char *, relay_applied_cb, void *,
	    const char **);
void	 relay_reply(const struct ctl_msg *);
void	 relay_forget(struct bufferevent *);
void	 relay_fail_all(const char *);
void	 relay_send(struct bufferevent *, struct ctl_frame *);
void	 relay_send_error(struct bufferevent *, uint32_t, const char *,
	    const char *);

/* status.c: what status, workers and the stats stream report */
void	 status_pack(msgpack_packer *);
void	 status_pack_workers(msgpack_packer *);

/* control.c */
int	 control_open(const char *, const char **);
void	 control_close(void);

/* watchdog.c: kills a worker whose event loop hangs */
void	 watchdog_start(void);
void	 watchdog_stop(void);

/* main.c */
int	 master_reload(char *, size_t);
void	 master_stop(void);
void	 master_check_ready(void);

#endif
