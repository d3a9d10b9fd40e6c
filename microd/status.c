/*
 * What `status`, `workers` and the stats stream report. Counters come from
 * the shm slots, so the master never has to ask a worker.
 */
#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "counters.h"
#include "ctlproto.h"
#include "microd/master.h"
#include "procstat.h"
#include "shm/shm.h"
#include "util.h"

static void
status_pack_listeners(msgpack_packer *pk)
{
	int	 r, n = 0;

	for (r = 0; r < ROLE_COUNT; r++)
		n += master->listeners[r].fd != -1;
	msgpack_pack_map(pk, n);
	for (r = 0; r < ROLE_COUNT; r++) {
		if (master->listeners[r].fd != -1)
			ctl_pack_kv_str(pk, config_role_name(r),
			    master->listeners[r].addr);
	}
}

static void
status_pack_crashloop(msgpack_packer *pk)
{
	struct proc	*p;
	char		 name[64];
	int		 n = 0;

	TAILQ_FOREACH(p, &master->procs, entry)
		n += backoff_crashlooping(&p->backoff) && p->pid == 0;
	msgpack_pack_array(pk, n);
	TAILQ_FOREACH(p, &master->procs, entry) {
		if (!backoff_crashlooping(&p->backoff) || p->pid != 0)
			continue;
		snprintf(name, sizeof(name), "%s/%u", config_role_name(p->role),
		    p->id);
		ctl_pack_str(pk, name);
	}
}

static void
status_pack_registry(msgpack_packer *pk)
{
	struct shm_stats	 st;
	struct shm_sync		 sync;

	shm_stats(master->shm, &st);
	shm_read_begin(master->shm, master->shm_reader_slot);
	shm_read_sync(master->shm, &sync);
	shm_read_end(master->shm);
	msgpack_pack_map(pk, 13);
	ctl_pack_kv_str(pk, "backend", sync.backend[0] ? sync.backend :
	    master->conf->registry_backend);
	ctl_pack_kv_bool(pk, "connected", sync.connected);
	ctl_pack_kv_uint(pk, "revision", sync.revision);
	ctl_pack_kv_uint(pk, "lag_ms", sync.lag_ms);
	ctl_pack_str(pk, "last_error");
	if (sync.error[0] != '\0')
		ctl_pack_str(pk, sync.error);
	else
		msgpack_pack_nil(pk);
	ctl_pack_kv_uint(pk, "services", st.services);
	ctl_pack_kv_uint(pk, "nodes", st.nodes);
	ctl_pack_kv_uint(pk, "generation", st.generation);
	ctl_pack_kv_uint(pk, "full_errors", st.full_errors);
	/*
	 * full_errors counts since the start: whether they go on. Full
	 * once a change was refused and a record of the largest size would
	 * still be (a segment near full that refused nothing is not).
	 */
	ctl_pack_kv_bool(pk, "full", st.full_errors > 0 &&
	    shm_stats_full(&st));
	ctl_pack_kv_uint(pk, "wait_errors", st.wait_errors);
	ctl_pack_kv_uint(pk, "resets", st.resets);
	ctl_pack_kv_uint(pk, "bytes_used", st.bytes_used);
}

void
status_pack(msgpack_packer *pk)
{
	struct proc	*p;
	unsigned	 n = 0;

	TAILQ_FOREACH(p, &master->procs, entry)
		n += p->pid != 0;
	msgpack_pack_map(pk, 13);
	ctl_pack_kv_str(pk, "version", PACKAGE_VERSION);
	ctl_pack_kv_int(pk, "pid", getpid());
	ctl_pack_kv_uint(pk, "started", master->started_wall_ms / 1000);
	ctl_pack_kv_uint(pk, "uptime",
	    (util_now_ms() - master->started_ms) / 1000);
	ctl_pack_kv_uint(pk, "generation", master->generation);
	ctl_pack_kv_str(pk, "config", master->conf->path[0] ?
	    master->conf->path : "(defaults)");
	ctl_pack_kv_str(pk, "socket", master->conf->socket);
	ctl_pack_str(pk, "listeners");
	status_pack_listeners(pk);
	/* Off, the api maps /rpc as any path: clients go to the sidecar. */
	ctl_pack_kv_bool(pk, "api_rpc", master->conf->api_rpc);
	ctl_pack_kv_uint(pk, "workers", n);
	ctl_pack_str(pk, "reload_error");
	if (master->reload_error[0] != '\0')
		ctl_pack_str(pk, master->reload_error);
	else
		msgpack_pack_nil(pk);
	ctl_pack_str(pk, "crashloop");
	status_pack_crashloop(pk);
	ctl_pack_str(pk, "registry");
	status_pack_registry(pk);
}

static void
status_pack_worker(msgpack_packer *pk, const struct proc *p)
{
	struct micro_counters	*c = NULL;
	int64_t			 cpu_ms = 0, rss = 0;

	if (p->pid != 0) {
		c = shm_slot_counters(master->shm, p->slot);
		procstat_read(p->pid, &cpu_ms, &rss);
	}
	msgpack_pack_map(pk, 15);
	ctl_pack_kv_str(pk, "role", config_role_name(p->role));
	ctl_pack_kv_uint(pk, "id", p->id);
	ctl_pack_kv_int(pk, "pid", p->pid);
	ctl_pack_kv_str(pk, "state", proc_state_name(p));
	ctl_pack_kv_uint(pk, "generation", p->generation);
	ctl_pack_kv_uint(pk, "restarts", p->restarts);
	ctl_pack_kv_uint(pk, "started", p->started_wall_ms / 1000);
	ctl_pack_kv_uint(pk, "started_ms", p->started_wall_ms);
	ctl_pack_kv_uint(pk, "requests", c ? COUNTER_GET(c, requests) : 0);
	ctl_pack_kv_uint(pk, "errors", c ? COUNTER_GET(c, errors) : 0);
	ctl_pack_kv_uint(pk, "bytes_in", c ? COUNTER_GET(c, bytes_in) : 0);
	ctl_pack_kv_uint(pk, "bytes_out", c ? COUNTER_GET(c, bytes_out) : 0);
	ctl_pack_kv_uint(pk, "connections",
	    c ? COUNTER_GET(c, connections) : 0);
	ctl_pack_kv_int(pk, "cpu_ms", cpu_ms);
	ctl_pack_kv_int(pk, "rss", rss);
}

void
status_pack_workers(msgpack_packer *pk)
{
	struct proc	*p;
	unsigned	 n = 0;

	TAILQ_FOREACH(p, &master->procs, entry)
		n++;
	msgpack_pack_array(pk, n);
	TAILQ_FOREACH(p, &master->procs, entry)
		status_pack_worker(pk, p);
}
