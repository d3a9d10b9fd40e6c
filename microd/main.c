/*
 * microd: the master process. It reads the configuration, opens the
 * listeners, the shm segment and the control socket, then forks the
 * workers and supervises them (doc/architecture.md).
 */
#include "config.h"

#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker/backend.h"
#include "broker/broker.h"
#include "log.h"
#include "microd/master.h"
#include "microd/notify.h"
#include "registry/backend.h"
#include "shm/logring.h"
#include "shm/nodehealth.h"
#include "shm/shm.h"
#include "shm/svcstats.h"
#include "util.h"

struct master	*master;

#define MICROD_USAGE	"usage: microd [-dhtv] [-c file] [-s reload]\n"

/* SIGQUIT stops gracefully, as SIGTERM does: ^\ (or nginx's habit) must
 * not kill the master with its workers' requests in flight. */
static const int master_sigs[] = {
	SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT
};
#define MASTER_NSIGS	nitems(master_sigs)
/* Segment bytes per service the index is sized for: 32 768 in 64M. */
#define MASTER_SHM_PER_SERVICE	2048

/* -h asked for it: stdout, success. Anything else is a usage error. */
static __attribute__((noreturn)) void
usage(int asked)
{
	fputs(MICROD_USAGE, asked ? stdout : stderr);
	exit(asked ? 0 : 2);
}

static void
master_print_errors(const char *errs)
{
	const char	*line = errs, *nl;

	while (*line != '\0') {
		nl = strchr(line, '\n');
		log_warnx("%.*s", (int)(nl ? nl - line : (long)strlen(line)),
		    line);
		line = nl ? nl + 1 : line + strlen(line);
	}
}

/* mkdir -p with mode for the last component. */
static int
master_mkdirs(const char *path, mode_t mode)
{
	char	 buf[CONFIG_STR_MAX], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

static void
master_socket_dir(const char *sock)
{
	char	 dir[CONFIG_STR_MAX];
	char	*slash;

	snprintf(dir, sizeof(dir), "%s", sock);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return;
	*slash = '\0';
	if (master_mkdirs(dir, 0755) == -1)
		fatal("mkdir %s", dir);
}

/*
 * The registry's sqlite files may have been created by root (a first run
 * without [microd] user, or systemd's StateDirectory= chowning the tree
 * back); the dropped registry worker could not open them. Only a regular
 * file with a single link is handed over, opened without following a
 * symlink, so nothing outside the state dir can be given away; anything
 * else is left alone for the worker to report.
 */
static void
master_chown_state_file(const char *dir, const char *name, uid_t uid,
    gid_t gid)
{
	char		 path[CONFIG_STR_MAX + 32];
	struct stat	 st;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1) {
		if (errno != ENOENT)
			log_warn("open %s", path);
		return;
	}
	if (fstat(fd, &st) == -1)
		fatal("fstat %s", path);
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
		log_warnx("%s: not a plain file, not handing it over", path);
	else if ((st.st_uid != uid || st.st_gid != gid) &&
	    fchown(fd, uid, gid) == -1)
		fatal("chown %s", path);
	close(fd);
}

/* Workers drop to [microd] user; what they write must be theirs. */
static void
master_prepare_user(const struct config *conf)
{
	static const char *const files[] = {
		"registry.db", "registry.db-wal", "registry.db-shm"
	};
	struct passwd	*pw;
	size_t		 i;

	if (geteuid() != 0 || conf->user[0] == '\0')
		return;
	if ((pw = getpwnam(conf->user)) == NULL)
		fatalx("unknown user %s", conf->user);
	/*
	 * Files first: under systemd the master has no CAP_DAC_OVERRIDE and
	 * could not search a 0750 directory it no longer owns.
	 */
	for (i = 0; i < nitems(files); i++)
		master_chown_state_file(conf->state_dir, files[i], pw->pw_uid,
		    pw->pw_gid);
	if (chown(conf->state_dir, pw->pw_uid, pw->pw_gid) == -1)
		fatal("chown %s", conf->state_dir);
	if (chown(conf->socket, 0, pw->pw_gid) == -1)
		fatal("chown %s", conf->socket);
}

/* spec's address as util_format_addr() writes it, or "" if none. */
static void
master_canonical_addr(const char *spec, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	const char		*cause;

	buf[0] = '\0';
	if (util_parse_addr(spec, &ss, &sslen, &cause) == 0)
		util_format_addr((struct sockaddr *)&ss, buf, len);
}

/*
 * Whether spec names the socket l already is, however it is spelled: as
 * configured, or as bound (a port 0 pinned to the port it got). Binding
 * that address again would fail with EADDRINUSE.
 */
static int
master_listener_is(const struct listener *l, const char *spec)
{
	char	 want[64], had[64];

	if (l->fd == -1)
		return 0;
	master_canonical_addr(spec, want, sizeof(want));
	master_canonical_addr(l->spec, had, sizeof(had));
	return strcmp(want, had) == 0 || strcmp(want, l->addr) == 0;
}

/* The socket the master has bound to spec's address, whichever role's. */
static const struct listener *
master_listener_at(const char *spec)
{
	char	 want[64];
	int	 r;

	master_canonical_addr(spec, want, sizeof(want));
	for (r = 0; r < ROLE_COUNT; r++) {
		if (master->listeners[r].fd != -1 &&
		    strcmp(want, master->listeners[r].addr) == 0)
			return &master->listeners[r];
	}
	return NULL;
}

/*
 * The port spec names, in network order (0 if it names none), and in
 * *any whether its host is the wildcard (0.0.0.0, [::]).
 */
static in_port_t
master_port_of(const char *spec, int *any)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	socklen_t		 sslen;
	const char		*cause;

	*any = 0;
	if (util_parse_addr(spec, &ss, &sslen, &cause) == -1)
		return 0;
	if (ss.ss_family == AF_INET6) {
		*any = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
		return sin6->sin6_port;
	}
	*any = sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return sin->sin_port;
}

/*
 * The role whose socket has spec's port at an address that overlaps
 * spec's (one of the two the wildcard), or -1.
 */
static int
master_listener_on_port(const char *spec)
{
	int		 any, ours_any, r;
	in_port_t	 port = master_port_of(spec, &any);

	for (r = 0; r < ROLE_COUNT && port != 0; r++) {
		if (master->listeners[r].fd != -1 &&
		    master_port_of(master->listeners[r].addr, &ours_any) ==
		    port && (any || ours_any))
			return r;
	}
	return -1;
}

/*
 * Binding spec failed. Our own socket on its port (127.0.0.1:8080 held
 * while 0.0.0.0:8080 is asked) cannot be handed over without closing
 * the port: say so, rather than leave "in use" to puzzle over.
 */
static void
master_listen_failed(int role, const char *spec, const char *cause,
    int error, char *err, size_t errlen)
{
	int	 held = error == EADDRINUSE ? master_listener_on_port(spec) : -1;

	if (held == -1)
		snprintf(err, errlen, "[%s] listen %s: %s",
		    config_role_name(role), spec, cause);
	else
		snprintf(err, errlen, "[%s] listen %s: its port is held by "
		    "[%s] listen %s; another address on that port needs a "
		    "restart", config_role_name(role), spec,
		    config_role_name(held), master->listeners[held].addr);
}

static int
master_listener_in(const struct listener *set, int fd)
{
	int	 r;

	for (r = 0; r < ROLE_COUNT; r++) {
		if (set[r].fd != -1 && set[r].fd == fd)
			return 1;
	}
	return 0;
}

/* A socket goes to one role: the first that claims it. */
static void
master_reuse_listener(struct listener *out, int role,
    const struct listener *had)
{
	if (had != NULL && !master_listener_in(out, had->fd))
		out[role] = *had;
}

static int
master_wants_listener(const struct config *conf, int role)
{
	return role != ROLE_REGISTRY && conf->roles[role].workers > 0;
}

/* Close the sockets of set that the master does not have already. */
static void
master_close_listeners(struct listener *set)
{
	int	 r;

	for (r = 0; r < ROLE_COUNT; r++) {
		if (!master_listener_in(master->listeners, set[r].fd))
			listen_close(&set[r]);
	}
}

/*
 * First every role that names the address a socket of the master is
 * bound to takes that socket, whichever role had it: two roles that trade
 * addresses could bind neither while the other's socket is open. Then a
 * role keeps its own socket if it is configured as before (a port 0 keeps
 * its port), unless another role took it; the others bind.
 */
static int
master_open_listeners(const struct config *conf, struct listener *out,
    char *err, size_t errlen)
{
	const char	*spec, *cause;
	int		 r;

	for (r = 0; r < ROLE_COUNT; r++)
		out[r].fd = -1;
	for (r = 0; r < ROLE_COUNT; r++) {
		if (master_wants_listener(conf, r))
			master_reuse_listener(out, r,
			    master_listener_at(conf->roles[r].listen));
	}
	for (r = 0; r < ROLE_COUNT; r++) {
		spec = conf->roles[r].listen;
		if (!master_wants_listener(conf, r) || out[r].fd != -1)
			continue;
		if (master_listener_is(&master->listeners[r], spec))
			master_reuse_listener(out, r, &master->listeners[r]);
		if (out[r].fd == -1 &&
		    listen_open(&out[r], spec, &cause) == -1) {
			master_listen_failed(r, spec, cause, errno, err,
			    errlen);
			master_close_listeners(out);
			return -1;
		}
	}
	for (r = 0; r < ROLE_COUNT; r++) {
		if (out[r].fd != -1 && out[r].fd != master->listeners[r].fd)
			log_info("%s listening on %s", config_role_name(r),
			    out[r].addr);
	}
	return 0;
}

/*
 * Swap in the new listener set, closing the master's copy of the sockets
 * no role has now (workers still draining keep theirs).
 */
static void
master_use_listeners(struct listener *next)
{
	int	 r;

	for (r = 0; r < ROLE_COUNT; r++) {
		if (!master_listener_in(next, master->listeners[r].fd))
			listen_close(&master->listeners[r]);
	}
	for (r = 0; r < ROLE_COUNT; r++)
		master->listeners[r] = next[r];
}

static const char *
master_fixed_changed(const struct config *a, const struct config *b)
{
	if (strcmp(a->socket, b->socket) != 0)
		return "[microd] socket";
	if (strcmp(a->state_dir, b->state_dir) != 0)
		return "[microd] state_dir";
	if (strcmp(a->user, b->user) != 0)
		return "[microd] user";
	if (a->shm_size != b->shm_size)
		return "[microd] shm_size";
	if (a->broker_max_message != b->broker_max_message)
		return "[broker] max_message";
	/* Its plugin is loaded before the fork (broker_backend_preload). */
	if (strcmp(a->broker_backend, b->broker_backend) != 0)
		return "[broker] backend";
	return NULL;
}

/* -d wins over the file's log_level, at start and on every reload. */
static void
master_set_log_level(const struct config *conf)
{
	log_setlevel(master->debug ? LOG_LEVEL_DEBUG : conf->log_level);
}

/*
 * err's lines (one per error) as one line, "a; b": reload_error is one
 * line in status and on microctl's stderr, where a newline shows as '?'.
 * Whole errors only: those past len are one "...".
 */
static void
master_one_line(const char *err, char *out, size_t len)
{
	const char	*sep = "";
	size_t		 at = 0, n;
	int		 w;

	out[0] = '\0';
	for (; *err != '\0'; err += n + (err[n] == '\n')) {
		if ((n = strcspn(err, "\n")) == 0)
			continue;
		w = snprintf(out + at, len - at, "%s%.*s", sep, (int)n, err);
		/* Room for "; ..." after it, unless it is the last. */
		if (w < 0 || at + w + (err[n + strspn(err + n, "\n")] != '\0' ?
		    sizeof("; ...") : 1) > len) {
			snprintf(out + at, len - at, "%s...", sep);
			return;
		}
		at += w;
		sep = "; ";
	}
}

static int
master_reload_fail(struct config *next, const char *err, char *out,
    size_t outlen)
{
	free(next);
	master_one_line(err, master->reload_error,
	    sizeof(master->reload_error));
	snprintf(out, outlen, "%s", master->reload_error);
	master_print_errors(err);
	log_warnx("reload refused, keeping generation %u", master->generation);
	/* sd_notify(3) reads a datagram line by line: the first error only. */
	notify_send("STATUS=reload refused: %.*s",
	    (int)strcspn(err + strspn(err, "\n"), "\n"),
	    err + strspn(err, "\n"));
	return -1;
}

/*
 * Validate the new configuration completely (file, listeners) before
 * touching a single worker; on any error the running generation stays.
 */
int
master_reload(char *err, size_t errlen)
{
	struct config	*next = xcalloc(1, sizeof(*next)), *old;
	struct listener	 ls[ROLE_COUNT];
	char		 errs[4096];
	const char	*fixed;

	if (master->stopping)
		return master_reload_fail(next, "microd is stopping", err,
		    errlen);
	log_info("reloading %s", master->conf_path);
	if (config_load(next, master->conf_path, master->conf_explicit, errs,
	    sizeof(errs)) == -1)
		return master_reload_fail(next, errs, err, errlen);
	if ((fixed = master_fixed_changed(master->conf, next)) != NULL) {
		snprintf(errs, sizeof(errs), "%s cannot change on reload: "
		    "restart microd", fixed);
		return master_reload_fail(next, errs, err, errlen);
	}
	if (master_open_listeners(next, ls, errs, sizeof(errs)) == -1)
		return master_reload_fail(next, errs, err, errlen);
	notify_send("RELOADING=1");
	master_use_listeners(ls);
	master->reload_error[0] = '\0';
	old = master->conf;
	master->conf = next;
	master_set_log_level(next);
	master->generation++;
	master->ready_sent = 0;
	chan_send_sidecar_app(old);
	broker_backend_preload(next);
	proc_start_generation();
	/*
	 * A generation that never got all its workers ready is superseded
	 * now (after the start, which carries an unchanged registry worker
	 * over): only the one serving stays until the new one is ready, so
	 * reloads in a row cannot pile generations up, each holding shm
	 * slots and broker rings.
	 */
	proc_drain_older(master->generation, master->serving);
	free(old);
	master_check_ready();
	return 0;
}

void
master_check_ready(void)
{
	unsigned	 fatal;

	if (master->stopping) {
		if (proc_none_left())
			event_base_loopbreak(master->base);
		return;
	}
	if (master->ready_sent || !proc_all_running())
		return;
	master->ready_sent = 1;
	master->serving = master->generation;
	proc_drain_older(master->generation, master->generation);
	/* Serving all the same, but not whole: systemctl status says so. */
	if ((fatal = proc_fatal_count()) > 0) {
		log_warnx("generation %u serving without %u worker%s stopped "
		    "after a fatal error (microctl workers)",
		    master->generation, fatal, fatal == 1 ? "" : "s");
		notify_send("READY=1\nSTATUS=generation %u serving, %u "
		    "worker%s stopped after a fatal error",
		    master->generation, fatal, fatal == 1 ? "" : "s");
		return;
	}
	log_info("generation %u serving", master->generation);
	notify_send("READY=1\nSTATUS=generation %u serving",
	    master->generation);
}

static void
master_stop_timeout_cb(evutil_socket_t fd, short ev, void *arg)
{
	log_warnx("workers did not exit in time, giving up on them");
	event_base_loopbreak(master->base);
}

void
master_stop(void)
{
	uint64_t	 ms = master->conf->shutdown_timeout_ms + 2000;
	struct timeval	 tv = util_timeval(ms);

	if (master->stopping)
		return;
	master->stopping = 1;
	log_info("stopping");
	notify_send("STOPPING=1");
	proc_stop_all();
	master->stop_timer = evtimer_new(master->base, master_stop_timeout_cb,
	    NULL);
	evtimer_add(master->stop_timer, &tv);
	master_check_ready();
}

static void
master_signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	char	 err[1024];

	switch (sig) {
	case SIGCHLD:
		proc_reap();
		break;
	case SIGHUP:
		master_reload(err, sizeof(err));
		break;
	default:
		master_stop();
		break;
	}
}

/*
 * Until libevent handles them, these wait blocked: a SIGHUP or SIGTERM
 * while microd reads its configuration or binds its sockets would
 * otherwise kill it with the default action, leaving the control socket.
 */
static void
master_hold_signals(int how)
{
	sigset_t	 set;
	size_t		 i;

	sigemptyset(&set);
	for (i = 0; i < MASTER_NSIGS; i++)
		sigaddset(&set, master_sigs[i]);
	sigprocmask(how, &set, NULL);
}

static void
master_signals(struct event *evs[MASTER_NSIGS])
{
	size_t		 i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < MASTER_NSIGS; i++) {
		evs[i] = evsignal_new(master->base, master_sigs[i],
		    master_signal_cb, NULL);
		evsignal_add(evs[i], NULL);
	}
	master_hold_signals(SIG_UNBLOCK);
}

static void
master_open_shm(void)
{
	struct shm_slot_info	 self;
	const char		*cause;
	int			 slot;
	size_t			 max_services;

	max_services = master->conf->shm_size / MASTER_SHM_PER_SERVICE;
	master->shm = shm_create(master->conf->shm_size, MASTER_SLOTS,
	    max_services, &cause);
	if (master->shm == NULL)
		fatalx("shared memory: %s", cause);
	if (svcstats_create(MASTER_SLOTS, &cause) == -1)
		fatalx("service statistics: %s", cause);
	if (nodehealth_create(MASTER_SLOTS, &cause) == -1)
		fatalx("node health: %s", cause);
	if (logring_create(MASTER_SLOTS, &cause) == -1)
		fatalx("log rings: %s", cause);
	memset(&self, 0, sizeof(self));
	self.pid = getpid();
	self.role = ROLE_COUNT;		/* the master itself */
	self.state = SHM_SLOT_READY;
	self.started_ms = util_wall_ms();
	if ((slot = shm_slot_claim(master->shm, &self, &cause)) == -1)
		fatalx("shared memory: %s", cause);
	master->shm_reader_slot = slot;
	/* Workers inherit the sink and bind their own slot's ring. */
	logring_bind(slot, ROLE_COUNT, 0);
	log_set_sink(logring_write);
}

static void
master_setup(void)
{
	struct listener	 ls[ROLE_COUNT];
	const char	*cause;
	char		 err[1024];
	int		 r;

	for (r = 0; r < ROLE_COUNT; r++)
		master->listeners[r].fd = -1;
	if (master_mkdirs(master->conf->state_dir, 0750) == -1)
		fatal("mkdir %s", master->conf->state_dir);
	if ((master->state_fd = state_lock(master->conf->state_dir, err,
	    sizeof(err))) == -1)
		fatalx("%s", err);
	master_socket_dir(master->conf->socket);
	master_open_shm();
	if (broker_shm_create(master->conf, &cause) == -1)
		fatalx("broker shared memory: %s", cause);
	if (master_open_listeners(master->conf, ls, err, sizeof(err)) == -1)
		fatalx("%s", err);
	master_use_listeners(ls);
	if (control_open(master->conf->socket, &cause) == -1)
		fatalx("control socket %s: %s", master->conf->socket, cause);
	master_prepare_user(master->conf);
}

static void
master_teardown(struct event *evs[MASTER_NSIGS])
{
	size_t	 i;
	int	 r;

	control_close();
	watchdog_stop();
	for (i = 0; i < MASTER_NSIGS; i++)
		event_free(evs[i]);
	for (r = 0; r < ROLE_COUNT; r++)
		listen_close(&master->listeners[r]);
	proc_free_all();
	if (master->stop_timer != NULL)
		event_free(master->stop_timer);
	notify_shutdown();
	shm_destroy(master->shm);
	event_base_free(master->base);
	free(master->conf);
}

static int
master_check_config(struct config *conf, const char *path, int explicit)
{
	char	 errs[4096];

	if (config_load(conf, path, explicit, errs, sizeof(errs)) == -1) {
		fputs(errs, stderr);
		return -1;
	}
	return 0;
}

/*
 * -t: the backends' plugins load as the workers will load them. A
 * missing or incompatible one leaves a worker that exits at its start;
 * systemd's ExecStartPre= (microd -t) then fails the start instead.
 * Only here, in a process that exits: the master loads no more than it
 * must before it forks.
 */
static int
master_check_plugins(const struct config *conf)
{
	char	*cause = NULL;

	if (registry_backend_find(conf->registry_backend, &cause) != NULL &&
	    (strcmp(conf->broker_backend, "builtin") == 0 ||
	    broker_backend_load(conf->broker_backend, &cause) != NULL))
		return 0;
	fprintf(stderr, "%s: %s\n", conf->path[0] ? conf->path : "defaults",
	    cause);
	free(cause);
	return -1;
}

int
main(int argc, char *argv[])
{
	static struct master	 m;
	struct event		*sigs[MASTER_NSIGS];
	const char		*path = SYSCONFDIR "/microd/microd.conf";
	const char		*tell = NULL;	/* -s */
	int			 ch, test = 0, debug = 0, explicit = 0;

	/*
	 * Started with 0-2 closed, the first descriptors opened (libevent's
	 * signal pipe, a listener) would take their numbers: log lines
	 * would go into them.
	 */
	if (util_hold_stdio() == -1)
		fatal("/dev/null");
	/*
	 * Ignored, not fatal, from the start: a log rotation hook copied
	 * from nginx sends SIGUSR1, and microd has no log file to reopen.
	 */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	log_init("microd", LOG_LEVEL_INFO);
	while ((ch = getopt(argc, argv, "c:dhs:tv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			explicit = 1;
			break;
		case 'd':
			debug = 1;
			break;
		case 'h':
			usage(1);
		case 's':
			if (strcmp(optarg, "reload") != 0)
				usage(0);
			tell = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'v':
			printf("microd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(0);
		}
	}
	if (optind != argc || (tell != NULL && test))
		usage(0);
	if (!test && tell == NULL)
		master_hold_signals(SIG_BLOCK);

	master = &m;
	m.debug = debug;
	TAILQ_INIT(&m.procs);
	m.conf = xcalloc(1, sizeof(*m.conf));
	m.conf_path = path;
	m.conf_explicit = explicit;
	if (master_check_config(m.conf, path, explicit) == -1)
		return 1;
	/* As -t: a reload to a backend whose plugin cannot load fails. */
	if (tell != NULL)
		return master_check_plugins(m.conf) == -1 ? 1 :
		    master_tell(m.conf, tell);
	if (test) {
		if (master_check_plugins(m.conf) == -1)
			return 1;
		fprintf(stderr, "configuration OK\n");
		return 0;
	}
	master_set_log_level(m.conf);

	if ((m.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	m.started_ms = util_now_ms();
	m.started_wall_ms = util_wall_ms();
	master_setup();
	watchdog_start();
	notify_init(m.base);
	master_signals(sigs);
	m.generation = 1;
	log_info("microd %s starting (config %s)", PACKAGE_VERSION,
	    m.conf->path[0] ? m.conf->path : "defaults");
	proc_start_generation();
	event_base_dispatch(m.base);
	log_info("stopped");
	master_teardown(sigs);
	return 0;
}
