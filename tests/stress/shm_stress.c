/*
 * Stress the shm registry across processes: one writer churning (add,
 * update, delete, sync state) on a small segment so the arena laps and the
 * cleaner reuses memory all the time, and three readers checking every
 * record they read: the record checksum and a content checksum the writer
 * embeds in the JSON (so a torn or reused record cannot pass). Each of
 * STRESS_NAMES positions holds one name at a time and a delete moves it
 * to its next name, so tombstones pile up and the index is rebuilt under
 * the readers again and again. Phases:
 *
 *   steady        readers and writer run undisturbed
 *   reader-kill   a reader is SIGKILLed every 100 ms (the parent plays the
 *                 master: reap, clear the slot, fork a new reader)
 *   writer-kill   the writer is SIGKILLed every 300-700 ms and restarted
 *
 * Each phase lasts SHM_STRESS_SECONDS (default 10). Exit 0 only with zero
 * bad reads, a writer that never waited out a reader, and progress in
 * every phase.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "shm/registry.h"
#include "shm/shm.h"
#include "util.h"

#define STRESS_SIZE		(1024 * 1024)
#define STRESS_NAMES		200
#define STRESS_READERS		3
#define STRESS_MAX_NODES	6
#define STRESS_GENS		16	/* names a position takes in turn */
/*
 * Reads a phase may see outlast the writer's bound (500 ms): a reader
 * descheduled that long, which an overloaded machine does, makes the
 * writer refuse the puts that need its memory until it leaves. Puts
 * refused for any other reason fail the phase, and so do more stalls.
 */
#define STRESS_STALLS_MAX	2

enum stress_role { STRESS_WRITER, STRESS_READER };

struct stress_proc {
	pid_t		 pid;
	int		 slot;
};

static volatile sig_atomic_t stress_stop;
static struct shm *stress_shm;

static void
stress_on_term(int sig)
{
	stress_stop = 1;
}

static uint64_t
stress_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
stress_name(char *buf, size_t len, unsigned i)
{
	snprintf(buf, len, "go.micro.srv.stress-%u", i);
}

/* Independent of shm's own checksum: FNV-1a over what the JSON claims. */
static uint32_t
stress_sum(const char *name, uint64_t seq, unsigned nnodes)
{
	char		 buf[128];
	uint32_t	 h = 2166136261U;
	int		 n, i;

	n = snprintf(buf, sizeof(buf), "%s/%" PRIu64 "/%u", name, seq, nnodes);
	for (i = 0; i < n; i++)
		h = (h ^ (unsigned char)buf[i]) * 16777619U;
	return h;
}

static void
stress_node_fields(char *id, char *addr, size_t len, const char *name,
    uint64_t seq, unsigned i)
{
	snprintf(id, len, "%s-%" PRIu64 "-%u", name, seq, i);
	snprintf(addr, len, "10.%u.%u.%u:%u", (unsigned)(seq % 200), i,
	    (unsigned)(seq % 7), 8000 + (unsigned)(seq % 1000));
}

static int
stress_put(struct shm_writer *w, const char *name, uint64_t seq,
    unsigned nnodes, size_t pad)
{
	struct shm_node_in	 nodes[STRESS_MAX_NODES];
	char			 ids[STRESS_MAX_NODES][96];
	char			 addrs[STRESS_MAX_NODES][96];
	char			 json[4096];
	const char		*cause;
	unsigned		 i;
	int			 n;

	for (i = 0; i < nnodes; i++) {
		stress_node_fields(ids[i], addrs[i], sizeof(ids[i]), name, seq, i);
		nodes[i].id = ids[i];
		nodes[i].address = addrs[i];
		nodes[i].version = "1.0.0";
		nodes[i].flags = SHM_NODE_MUCP;
	}
	n = snprintf(json, sizeof(json),
	    "[{\"name\":\"%s\",\"seq\":%" PRIu64 ",\"n\":%u,\"sum\":%u,"
	    "\"pad\":\"%*s\"}]", name, seq, nnodes,
	    stress_sum(name, seq, nnodes), (int)pad, "");
	if (shm_writer_put(w, name, strlen(name), nodes, nnodes, json,
	    (size_t)n, &cause) == -1) {
		fprintf(stderr, "writer: put %s: %s\n", name, cause);
		return -1;
	}
	return 0;
}

/* A restarted writer learns each position's name from the segment. */
static int
stress_gen_cb(const struct shm_service *sv, void *arg)
{
	unsigned	*gens = arg, k;

	if (sscanf(sv->name, "go.micro.srv.stress-%u", &k) == 1)
		gens[k % STRESS_NAMES] = k / STRESS_NAMES;
	return 0;
}

static void
stress_writer(unsigned slot)
{
	struct micro_counters	*c = shm_slot_counters(stress_shm, slot);
	struct shm_writer	*w;
	struct shm_sync		 sync;
	const char		*cause;
	char			 name[64];
	uint64_t		 rs = (uint64_t)getpid() * 2654435761U | 1, seq, r;
	unsigned		 gens[STRESS_NAMES] = { 0 }, pos;

	if ((w = shm_writer_open(stress_shm, &cause)) == NULL) {
		fprintf(stderr, "writer: open: %s\n", cause);
		_exit(1);
	}
	shm_read_begin(stress_shm, slot);
	shm_foreach(stress_shm, stress_gen_cb, gens);
	shm_read_end(stress_shm);
	memset(&sync, 0, sizeof(sync));
	strcpy(sync.backend, "stress");
	seq = util_wall_ms() * 1000;
	while (!stress_stop) {
		r = stress_rand(&rs);
		pos = (unsigned)(r % STRESS_NAMES);
		stress_name(name, sizeof(name), pos + STRESS_NAMES * gens[pos]);
		/* Not r % 10, which pos decides: no delete ever hit. */
		if ((r >> 48) % 10 < 7) {
			if (stress_put(w, name, ++seq, (unsigned)(r >> 8) %
			    (STRESS_MAX_NODES + 1), (r >> 16) % 1500) == -1)
				COUNTER_ADD(c, errors, 1);
		} else if ((r >> 48) % 10 < 9) {
			shm_writer_delete(w, name, strlen(name));
			gens[pos] = (gens[pos] + 1) % STRESS_GENS;
		} else {
			sync.revision = seq;
			if (shm_writer_set_sync(w, &sync, &cause) == -1)
				COUNTER_ADD(c, errors, 1);
		}
		COUNTER_ADD(c, requests, 1);
		if ((r >> 40) % 256 == 0)
			shm_writer_heartbeat(w);
	}
	shm_writer_close(w);
	_exit(0);
}

static int
stress_check_node(const struct shm_service *sv, uint64_t seq, unsigned i)
{
	struct shm_node	 n;
	char		 id[96], addr[96];

	shm_service_node(sv, i, &n);
	stress_node_fields(id, addr, sizeof(id), sv->name, seq, i);
	return strcmp(n.id, id) == 0 && strcmp(n.address, addr) == 0 &&
	    strcmp(n.version, "1.0.0") == 0 && n.flags == SHM_NODE_MUCP;
}

/* 0 if the service is whole and consistent, else why not. */
static const char *
stress_check(const struct shm_service *sv, const char *name)
{
	char		 want[256];
	uint64_t	 seq;
	unsigned	 nnodes, sum, i;

	if (shm_service_check(sv) != 0)
		return "record checksum";
	if (name != NULL && strcmp(sv->name, name) != 0)
		return "wrong name";
	if (strlen(sv->json) != sv->json_len ||
	    sscanf(sv->json, "[{\"name\":\"%*[^\"]\",\"seq\":%" SCNu64
	    ",\"n\":%u,\"sum\":%u", &seq, &nnodes, &sum) != 3)
		return "JSON shape";
	snprintf(want, sizeof(want), "[{\"name\":\"%s\",", sv->name);
	if (strncmp(sv->json, want, strlen(want)) != 0)
		return "JSON name";
	if (sum != stress_sum(sv->name, seq, nnodes) || nnodes != sv->nnodes)
		return "content checksum";
	for (i = 0; i < nnodes; i++) {
		if (!stress_check_node(sv, seq, i))
			return "node fields";
	}
	return NULL;
}

static int
stress_check_cb(const struct shm_service *sv, void *arg)
{
	const char	**why = arg;

	*why = stress_check(sv, NULL);
	return *why != NULL;
}

static void
stress_bad(struct micro_counters *c, const char *what, const char *why)
{
	if (COUNTER_ADD(c, errors, 1) < 5)
		fprintf(stderr, "reader %ld: %s: %s\n", (long)getpid(), what, why);
}

static void
stress_reader(unsigned slot)
{
	struct micro_counters	*c = shm_slot_counters(stress_shm, slot);
	struct shm_service	 sv;
	const char		*why;
	char			 name[64];
	uint64_t		 rs = (uint64_t)getpid() * 0x9e3779b97f4a7c15ULL | 1;
	uint64_t		 r, n = 0;

	while (!stress_stop) {
		r = stress_rand(&rs);
		stress_name(name, sizeof(name), (unsigned)(r % (STRESS_NAMES *
		    STRESS_GENS)));
		shm_read_begin(stress_shm, slot);
		if (++n % 512 == 0) {
			why = NULL;
			shm_foreach(stress_shm, stress_check_cb, &why);
			if (why != NULL)
				stress_bad(c, "foreach", why);
		} else if (shm_lookup(stress_shm, name, strlen(name), &sv) == 0) {
			if ((why = stress_check(&sv, name)) != NULL)
				stress_bad(c, name, why);
			else if (sv.nnodes > 0 &&
			    shm_select_random(&sv, "1.0.0", &rs) < 0)
				stress_bad(c, name, "no node selected");
		}
		shm_read_end(stress_shm);
		COUNTER_ADD(c, requests, 1);
	}
	_exit(0);
}

static void
stress_spawn(struct stress_proc *p, enum stress_role role)
{
	struct shm_slot_info	 info = { .role = role };
	const char		*cause;

	if ((p->slot = shm_slot_claim(stress_shm, &info, &cause)) == -1) {
		fprintf(stderr, "slot: %s\n", cause);
		exit(1);
	}
	if ((p->pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (role == STRESS_WRITER)
			stress_writer((unsigned)p->slot);
		stress_reader((unsigned)p->slot);
	}
	shm_slot_set_pid(stress_shm, (unsigned)p->slot, p->pid);
}

struct stress_totals {
	uint64_t	 reads;
	uint64_t	 bad;
	uint64_t	 writes;
	uint64_t	 write_errors;
	int		 writer_failed;
};

/* Reap one process (already signalled), account for it, free its slot. */
static void
stress_reap(struct stress_proc *p, enum stress_role role,
    struct stress_totals *t)
{
	struct micro_counters	*c = shm_slot_counters(stress_shm, p->slot);
	int			 status;

	if (waitpid(p->pid, &status, 0) == -1) {
		perror("waitpid");
		exit(1);
	}
	if (role == STRESS_WRITER) {
		t->writes += COUNTER_GET(c, requests);
		t->write_errors += COUNTER_GET(c, errors);
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			t->writer_failed = 1;
	} else {
		t->reads += COUNTER_GET(c, requests);
		t->bad += COUNTER_GET(c, errors);
	}
	shm_slot_clear(stress_shm, (unsigned)p->slot);
}

static void
stress_sleep_ms(unsigned ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
stress_restart(struct stress_proc *p, enum stress_role role,
    struct stress_totals *t)
{
	kill(p->pid, SIGKILL);
	stress_reap(p, role, t);
	stress_spawn(p, role);
}

static int
stress_phase(const char *label, unsigned seconds, int kill_readers,
    int kill_writer)
{
	struct stress_proc	 writer, readers[STRESS_READERS];
	struct stress_totals	 t = { 0 };
	struct shm_stats	 before, after;
	uint64_t		 end, rs = 0x2545f4914f6cdd1dULL, next_writer_kill;
	uint64_t		 stalls;
	int			 i, ok;

	shm_stats(stress_shm, &before);
	stress_spawn(&writer, STRESS_WRITER);
	for (i = 0; i < STRESS_READERS; i++)
		stress_spawn(&readers[i], STRESS_READER);
	end = util_now_ms() + seconds * 1000ULL;
	next_writer_kill = util_now_ms() + 300 + stress_rand(&rs) % 400;
	while (util_now_ms() < end) {
		stress_sleep_ms(100);
		if (kill_readers)
			stress_restart(&readers[stress_rand(&rs) %
			    STRESS_READERS], STRESS_READER, &t);
		if (kill_writer && util_now_ms() >= next_writer_kill) {
			stress_restart(&writer, STRESS_WRITER, &t);
			next_writer_kill = util_now_ms() + 300 +
			    stress_rand(&rs) % 400;
		}
	}
	kill(writer.pid, SIGTERM);
	stress_reap(&writer, STRESS_WRITER, &t);
	for (i = 0; i < STRESS_READERS; i++) {
		kill(readers[i].pid, SIGTERM);
		stress_reap(&readers[i], STRESS_READER, &t);
	}
	shm_stats(stress_shm, &after);
	/* A writer killed between the two counts leaves write_errors short. */
	stalls = after.stalls - before.stalls;
	ok = t.bad == 0 &&
	    t.write_errors <= after.wait_errors - before.wait_errors &&
	    stalls <= STRESS_STALLS_MAX && !t.writer_failed &&
	    t.reads > 1000 && t.writes > 1000 &&
	    after.full_errors == before.full_errors &&
	    after.resets == before.resets;
	printf("%-12s %s: %" PRIu64 " reads, %" PRIu64 " bad, %" PRIu64
	    " writes, %" PRIu64 " write errors (%" PRIu64 " reader stalls),"
	    " writer starts %" PRIu64 ", moved %" PRIu64 ", index rebuilds %"
	    PRIu64 ", services %" PRIu64 "\n", label, ok ? "ok" : "FAILED",
	    t.reads, t.bad, t.writes, t.write_errors, stalls,
	    after.writer_starts - before.writer_starts,
	    after.moved - before.moved, after.rebuilds - before.rebuilds,
	    after.services);
	return ok ? 0 : -1;
}

struct stress_count {
	uint64_t	 n;
	const char	*why;
};

static int
stress_final_cb(const struct shm_service *sv, void *arg)
{
	struct stress_count	*c = arg;

	c->n++;
	c->why = stress_check(sv, NULL);
	return c->why != NULL;
}

/* After the last writer: every record whole, the counters agree. */
static int
stress_final(unsigned slot)
{
	struct stress_count	 c = { 0, NULL };
	struct shm_stats	 st;

	shm_read_begin(stress_shm, slot);
	shm_foreach(stress_shm, stress_final_cb, &c);
	shm_read_end(stress_shm);
	shm_stats(stress_shm, &st);
	if (c.why != NULL || c.n != st.services || st.moved == 0) {
		printf("final        FAILED: %s, %" PRIu64 " services seen, %"
		    PRIu64 " counted, %" PRIu64 " moved\n",
		    c.why != NULL ? c.why : "ok", c.n, st.services, st.moved);
		return -1;
	}
	printf("final        ok: %" PRIu64 " services, arena %" PRIu64
	    " bytes, %" PRIu64 " live\n", c.n, st.arena_size, st.bytes_live);
	return 0;
}

int
main(void)
{
	struct shm_slot_info	 self = { .pid = getpid() };
	struct sigaction	 sa;
	const char		*cause, *env;
	unsigned		 seconds = 10;
	int			 slot, rc = 0;

	if ((env = getenv("SHM_STRESS_SECONDS")) != NULL)
		seconds = (unsigned)strtoul(env, NULL, 10);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stress_on_term;
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((stress_shm = shm_create(STRESS_SIZE, 16, 4 * STRESS_NAMES,
	    &cause)) == NULL) {
		fprintf(stderr, "shm_create: %s\n", cause);
		return 1;
	}
	slot = shm_slot_claim(stress_shm, &self, &cause);
	rc |= stress_phase("steady", seconds, 0, 0);
	rc |= stress_phase("reader-kill", seconds, 1, 0);
	rc |= stress_phase("writer-kill", seconds, 0, 1);
	rc |= stress_final((unsigned)slot);
	shm_destroy(stress_shm);
	return rc == 0 ? 0 : 1;
}
