/*
 * Registry lookup + node selection, 10 000 services x 5 nodes, while a
 * writer process churns updates: the lock-free shm path against the same
 * operation on the same data behind a process-shared pthread_rwlock in
 * shared memory (reader- and writer-preferring), in one run. The writer
 * formats each update before taking the write lock. See bench/RESULTS.md.
 *
 * Timing: each operation is timed with CLOCK_MONOTONIC_RAW (vDSO, no
 * syscall) and the median cost of an empty back-to-back clock pair is
 * subtracted; the mean is also measured over untimed batches of 1024
 * operations, which needs no correction. No rdtsc. The two modes run in
 * alternating slices (BENCH_ROUNDS of each), so on a shared machine both
 * see the same background load; samples are pooled per mode.
 *
 * Environment: BENCH_SECONDS per mode (default 4), BENCH_ROUNDS (default
 * 8), BENCH_READERS (default 2, one per core here), BENCH_CHURN writer
 * updates/s (default 10000), BENCH_KEYS which services are looked up:
 * uniform (default, the cache's worst case) or zipf (s = 0.99, as YCSB).
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/registry.h"
#include "shm/shm.h"
#include "util.h"

#define BENCH_SERVICES		10000
#define BENCH_NODES		5
#define BENCH_SIZE		(64 * 1024 * 1024)
#define BENCH_READERS_MAX	8
#define BENCH_SAMPLES		(2 * 1024 * 1024)	/* per mode */
#define BENCH_CHUNK		1024	/* samples a reader reserves at once */
#define BENCH_BATCH		1024
#define BENCH_KEYS		(1 << 18)	/* lookup sequence, repeated */
#define BENCH_ZIPF_S		0.99		/* YCSB's skew */

/*
 * glibc's default rwlock prefers readers: with a reader per core it
 * starves the writer, so the benchmark also runs one that prefers the
 * writer, which keeps the churn asked for.
 */
enum bench_mode { BENCH_EPOCH, BENCH_RWLOCK_R, BENCH_RWLOCK_W, BENCH_MODES };

static const char *bench_mode_names[BENCH_MODES] = {
	"shm (epoch)", "rwlock (r)", "rwlock (w)"
};

/* Pooled over every reader and round of one mode. */
struct bench_pool {
	uint64_t	 nsamples;	/* reserved, may pass BENCH_SAMPLES */
	uint64_t	 batch_ns;	/* untimed batches */
	uint64_t	 batches;
	uint64_t	 ops;
	uint64_t	 misses;	/* lookups that found nothing: must be 0 */
	uint64_t	 updates;	/* by the writer while this mode ran */
	uint64_t	 elapsed_ns;
	uint32_t	 samples[BENCH_SAMPLES];	/* per-op ns */
};

/* In a shared anonymous mapping, next to (not inside) the shm segment. */
struct bench_shared {
	pthread_rwlock_t	 lock[BENCH_MODES];	/* the rwlock modes' */
	int			 mode;		/* enum bench_mode, -1 stop */
	int			 acked;		/* the mode the writer is in */
	int			 ready;
	uint64_t		 updates;	/* by the writer, all modes */
	uint64_t		 overhead;	/* clock pair, ns */
	struct bench_pool	 pool[BENCH_MODES];
};

static struct shm		*bench_shm;
static struct bench_shared	*bench_sh;
static char			 bench_names[BENCH_SERVICES][48];
static size_t			 bench_lens[BENCH_SERVICES];
static uint32_t			 bench_keys[BENCH_KEYS];	/* service indexes */

/* The lock a mode reads and writes under; NULL for the shm registry. */
static pthread_rwlock_t *
bench_lock(enum bench_mode mode)
{
	return mode == BENCH_EPOCH ? NULL : &bench_sh->lock[mode];
}

static uint64_t
bench_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t
bench_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One update, formatted before any lock is taken. */
struct bench_update {
	unsigned		 i;
	struct shm_node_in	 nodes[BENCH_NODES];
	char			 ids[BENCH_NODES][96], addrs[BENCH_NODES][32];
	char			 json[2048];
	size_t			 json_len;
};

static void
bench_prepare(struct bench_update *u, unsigned i, uint64_t seq)
{
	unsigned	 k;

	u->i = i;
	for (k = 0; k < BENCH_NODES; k++) {
		snprintf(u->ids[k], sizeof(u->ids[k]), "%s-%08" PRIx64 "-%u",
		    bench_names[i], seq, k);
		snprintf(u->addrs[k], sizeof(u->addrs[k]), "10.%u.%u.%u:%u",
		    i >> 8, i & 255, k, 9000 + (unsigned)(seq % 1000));
		u->nodes[k].id = u->ids[k];
		u->nodes[k].address = u->addrs[k];
		u->nodes[k].version = "1.0.0";
		u->nodes[k].flags = SHM_NODE_MUCP;
	}
	u->json_len = (size_t)snprintf(u->json, sizeof(u->json),
	    "[{\"name\":\"%s\",\"version\":"
	    "\"1.0.0\",\"metadata\":{},\"endpoints\":[{\"name\":\"Say.Hello\","
	    "\"request\":{\"name\":\"Request\",\"type\":\"Request\",\"values\":"
	    "[{\"name\":\"name\",\"type\":\"string\",\"values\":null}]},"
	    "\"response\":{\"name\":\"Response\",\"type\":\"Response\","
	    "\"values\":[{\"name\":\"msg\",\"type\":\"string\",\"values\":"
	    "null}]},\"metadata\":{}}],\"nodes\":[]}]", bench_names[i]);
}

static int
bench_put(struct shm_writer *w, const struct bench_update *u)
{
	const char	*cause;

	if (shm_writer_put(w, bench_names[u->i], bench_lens[u->i], u->nodes,
	    BENCH_NODES, u->json, u->json_len, &cause) == -1) {
		fprintf(stderr, "put: %s\n", cause);
		return -1;
	}
	return 0;
}

static void
bench_writer(unsigned churn)
{
	struct shm_writer	*w;
	struct bench_update	 u;
	pthread_rwlock_t	*lock;
	const char		*cause;
	uint64_t		 rs = 88172645463325252ULL, seq = 0, next;
	int			 mode;
	unsigned		 i;

	if ((w = shm_writer_open(bench_shm, &cause)) == NULL) {
		fprintf(stderr, "writer: %s\n", cause);
		_exit(1);
	}
	for (i = 0; i < BENCH_SERVICES; i++) {
		bench_prepare(&u, i, ++seq);
		if (bench_put(w, &u) == -1)
			_exit(1);
	}
	__atomic_store_n(&bench_sh->ready, 1, __ATOMIC_RELEASE);
	next = bench_ns();
	while ((mode = __atomic_load_n(&bench_sh->mode, __ATOMIC_ACQUIRE)) >= 0) {
		__atomic_store_n(&bench_sh->acked, mode, __ATOMIC_RELEASE);
		bench_prepare(&u, (unsigned)(bench_rand(&rs) % BENCH_SERVICES),
		    ++seq);
		if ((lock = bench_lock(mode)) != NULL)
			pthread_rwlock_wrlock(lock);
		if (bench_put(w, &u) == -1)
			_exit(1);
		if (lock != NULL)
			pthread_rwlock_unlock(lock);
		__atomic_fetch_add(&bench_sh->updates, 1, __ATOMIC_RELAXED);
		/* Keep the rate; do not catch up on time lost to a lock. */
		next += 1000000000ULL / churn;
		if (bench_ns() > next + 10000000ULL)
			next = bench_ns();
		while (bench_ns() < next)
			usleep(100);
	}
	_exit(0);
}

/*
 * A name to look up, copied out of bench_names before it is timed: the
 * daemon has the name in the request it just parsed, while a random entry
 * of the benchmark's own 10 000 names would add a cache miss to every
 * lookup, in every mode.
 */
struct bench_key {
	char	 name[sizeof(bench_names[0])];
	size_t	 len;
};

static void
bench_key_stage(struct bench_key *key, unsigned i)
{
	memcpy(key->name, bench_names[i], sizeof(key->name));
	key->len = bench_lens[i];
}

/* The operation measured: find the service, pick a node, copy its address. */
static inline int
bench_op(enum bench_mode mode, unsigned slot, const struct bench_key *key,
    uint64_t *rs, char *addr)
{
	struct shm_service	 sv;
	struct shm_node		 node;
	pthread_rwlock_t	*lock = bench_lock(mode);
	ssize_t			 k;
	int			 found = 0;

	if (lock == NULL)
		shm_read_begin(bench_shm, slot);
	else
		pthread_rwlock_rdlock(lock);
	if (shm_lookup(bench_shm, key->name, key->len, &sv) == 0 &&
	    (k = shm_select_random(&sv, NULL, rs)) >= 0) {
		shm_service_node(&sv, (size_t)k, &node);
		/* As rpc/client.c copies nodes out: no padding (strncpy). */
		memcpy(addr, node.address, strlen(node.address) + 1);
		found = 1;
	}
	if (lock == NULL)
		shm_read_end(bench_shm);
	else
		pthread_rwlock_unlock(lock);
	return found;
}

static int
bench_cmp(const void *a, const void *b)
{
	uint32_t	 x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Median cost of an empty clock pair, subtracted from every sample. */
static uint64_t
bench_clock_overhead(void)
{
	uint32_t	 s[100000];
	uint64_t	 t0;
	size_t		 i;

	for (i = 0; i < nitems(s); i++) {
		t0 = bench_ns();
		s[i] = (uint32_t)(bench_ns() - t0);
	}
	qsort(s, nitems(s), sizeof(*s), bench_cmp);
	return s[nitems(s) / 2];
}

/* Add a slice's samples to the mode's pool (dropped once it is full). */
static void
bench_pool_add(struct bench_pool *p, const uint32_t *s, uint64_t n)
{
	uint64_t	 at;

	at = __atomic_fetch_add(&p->nsamples, n, __ATOMIC_RELAXED);
	if (at < BENCH_SAMPLES)
		memcpy(&p->samples[at], s, (at + n > BENCH_SAMPLES ?
		    BENCH_SAMPLES - at : n) * sizeof(*s));
}

/* One slice: timed operations for half of it, untimed batches after. */
static void
bench_reader(enum bench_mode mode, unsigned slot, uint64_t slice_ns)
{
	struct bench_pool	*p = &bench_sh->pool[mode];
	uint32_t		*s = malloc(BENCH_SAMPLES * sizeof(*s));
	struct bench_key	 key, *batch = malloc(BENCH_BATCH * sizeof(*batch));
	uint64_t		 rs = (uint64_t)getpid() * 2654435761U | 1;
	uint64_t		 t0, t1, end, n = 0, misses = 0, bns = 0, nb = 0;
	uint32_t		 j = (uint32_t)bench_rand(&rs);
	uint64_t		 overhead = bench_sh->overhead;
	char			 addr[SHM_FIELD_MAX + 1] = "";
	unsigned		 k;

	if (s == NULL || batch == NULL) {
		perror("malloc");
		_exit(1);
	}
	memset(s, 0, BENCH_SAMPLES * sizeof(*s));	/* no page faults later */
	end = bench_ns() + slice_ns / 2;
	while (bench_ns() < end && n < BENCH_SAMPLES) {
		bench_key_stage(&key, bench_keys[j++ % BENCH_KEYS]);
		t0 = bench_ns();
		misses += !bench_op(mode, slot, &key, &rs, addr);
		t1 = bench_ns();
		s[n++] = (uint32_t)(t1 - t0 > overhead ? t1 - t0 - overhead : 0);
	}
	end += slice_ns / 2;
	while (bench_ns() < end) {
		for (k = 0; k < BENCH_BATCH; k++)
			bench_key_stage(&batch[k], bench_keys[j++ % BENCH_KEYS]);
		t0 = bench_ns();
		for (k = 0; k < BENCH_BATCH; k++)
			misses += !bench_op(mode, slot, &batch[k], &rs, addr);
		bns += bench_ns() - t0;
		nb++;
	}
	bench_pool_add(p, s, n);
	__atomic_fetch_add(&p->batch_ns, bns, __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->batches, nb, __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->ops, n + nb * BENCH_BATCH, __ATOMIC_RELAXED);
	__atomic_fetch_add(&p->misses, misses, __ATOMIC_RELAXED);
	free(batch);
	free(s);
}

/* Rank r (from 0) of a Zipf distribution, by binary search of its CDF. */
static unsigned
bench_zipf_rank(const double *cdf, double u)
{
	unsigned	 lo = 0, hi = BENCH_SERVICES - 1, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The services looked up, in order: uniform, or Zipf-skewed as gateway
 * traffic is (a few services take most calls), with ranks given to
 * services in random order so the hot ones are not neighbours in memory.
 */
static void
bench_keys_fill(int zipf)
{
	static double	 cdf[BENCH_SERVICES];
	static uint32_t	 rank_to_service[BENCH_SERVICES];
	uint64_t	 rs = 0x2545f4914f6cdd1dULL;
	double		 sum = 0, u;
	unsigned	 i, k, t;

	for (i = 0; i < BENCH_SERVICES; i++) {
		sum += 1.0 / pow(i + 1, BENCH_ZIPF_S);
		cdf[i] = sum;
		rank_to_service[i] = i;
	}
	for (i = BENCH_SERVICES - 1; i > 0; i--) {
		k = (unsigned)(bench_rand(&rs) % (i + 1));
		t = rank_to_service[i];
		rank_to_service[i] = rank_to_service[k];
		rank_to_service[k] = t;
	}
	for (i = 0; i < BENCH_KEYS; i++) {
		if (!zipf) {
			bench_keys[i] = (uint32_t)(bench_rand(&rs) %
			    BENCH_SERVICES);
			continue;
		}
		u = (double)(bench_rand(&rs) >> 11) / 9007199254740992.0 * sum;
		bench_keys[i] = rank_to_service[bench_zipf_rank(cdf, u)];
	}
}

static void
bench_init(void)
{
	pthread_rwlockattr_t	 attr;
	const char		*cause;
	unsigned		 i;

	if ((bench_shm = shm_create(BENCH_SIZE, 16, 2 * BENCH_SERVICES,
	    &cause)) == NULL) {
		fprintf(stderr, "shm_create: %s\n", cause);
		exit(1);
	}
	bench_sh = mmap(NULL, sizeof(*bench_sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (bench_sh == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_rwlock_init(&bench_sh->lock[BENCH_RWLOCK_R], &attr);
	pthread_rwlockattr_setkind_np(&attr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&bench_sh->lock[BENCH_RWLOCK_W], &attr);
	for (i = 0; i < BENCH_SERVICES; i++) {
		bench_lens[i] = (size_t)snprintf(bench_names[i],
		    sizeof(bench_names[i]), "go.micro.srv.bench-%05u", i);
	}
}

static pid_t
bench_fork(void)
{
	pid_t	 pid;

	if ((pid = fork()) == -1) {
		perror("fork");
		exit(1);
	}
	if (pid == 0)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

static int
bench_run_mode(enum bench_mode mode, unsigned readers, uint64_t slice_ns)
{
	struct shm_slot_info	 info = { 0 };
	struct bench_pool	*p = &bench_sh->pool[mode];
	const char		*cause;
	pid_t			 pids[BENCH_READERS_MAX];
	int			 slots[BENCH_READERS_MAX], status, rc = 0;
	uint64_t		 t0, u0;
	unsigned		 r;

	/* Readers of a mode start once no put of the other mode is running. */
	__atomic_store_n(&bench_sh->mode, mode, __ATOMIC_RELEASE);
	while (__atomic_load_n(&bench_sh->acked, __ATOMIC_ACQUIRE) != (int)mode)
		usleep(1000);
	t0 = bench_ns();
	u0 = __atomic_load_n(&bench_sh->updates, __ATOMIC_RELAXED);
	for (r = 0; r < readers; r++) {
		slots[r] = shm_slot_claim(bench_shm, &info, &cause);
		if ((pids[r] = bench_fork()) == 0) {
			bench_reader(mode, (unsigned)slots[r], slice_ns);
			_exit(0);
		}
		shm_slot_set_pid(bench_shm, (unsigned)slots[r], pids[r]);
	}
	for (r = 0; r < readers; r++) {
		waitpid(pids[r], &status, 0);
		rc |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		shm_slot_clear(bench_shm, (unsigned)slots[r]);
	}
	p->updates += __atomic_load_n(&bench_sh->updates, __ATOMIC_RELAXED) - u0;
	p->elapsed_ns += bench_ns() - t0;
	return rc;
}

struct bench_figures {
	double		 median;
	double		 p99;
	double		 mean;
};

static void
bench_figures(struct bench_pool *p, struct bench_figures *f)
{
	uint64_t	 n = p->nsamples < BENCH_SAMPLES ? p->nsamples : BENCH_SAMPLES;

	qsort(p->samples, n, sizeof(*p->samples), bench_cmp);
	f->median = p->samples[n / 2];
	f->p99 = p->samples[n * 99 / 100];
	f->mean = (double)p->batch_ns / (double)(p->batches * BENCH_BATCH);
}

static void
bench_report(const char *keys, unsigned readers, unsigned rounds)
{
	struct bench_figures	 f[BENCH_MODES];
	struct bench_pool	*p;
	unsigned		 m;

	printf("registry lookup + random node select, %d services x %d nodes,"
	    " %s keys, %u reader processes, writer churning, %u alternating"
	    " rounds, clock pair %" PRIu64 " ns subtracted\n", BENCH_SERVICES,
	    BENCH_NODES, keys, readers, rounds, bench_sh->overhead);
	printf("%-12s %10s %10s %10s %12s %10s\n", "mode", "median ns",
	    "p99 ns", "mean ns", "lookups", "updates/s");
	for (m = 0; m < BENCH_MODES; m++) {
		p = &bench_sh->pool[m];
		bench_figures(p, &f[m]);
		printf("%-12s %10.0f %10.0f %10.1f %12" PRIu64 " %10.0f%s\n",
		    bench_mode_names[m], f[m].median, f[m].p99, f[m].mean,
		    p->ops, (double)p->updates * 1e9 / (double)p->elapsed_ns,
		    p->misses != 0 ? "  (MISSES!)" : "");
	}
	for (m = BENCH_RWLOCK_R; m < BENCH_MODES; m++) {
		printf("%s / shm: median %.1fx, p99 %.1fx, mean %.1fx\n",
		    bench_mode_names[m], f[m].median / f[BENCH_EPOCH].median,
		    f[m].p99 / f[BENCH_EPOCH].p99, f[m].mean /
		    f[BENCH_EPOCH].mean);
	}
}

static unsigned
bench_env(const char *name, unsigned def, unsigned max)
{
	const char	*v = getenv(name);
	unsigned long	 n;

	if (v == NULL)
		return def;
	n = strtoul(v, NULL, 10);
	return n == 0 || n > max ? def : (unsigned)n;
}

int
main(void)
{
	const char	*keys;
	unsigned	 seconds, rounds, readers, churn, m, i;
	uint64_t	 slice_ns;
	pid_t		 writer;
	int		 status, rc = 0;

	seconds = bench_env("BENCH_SECONDS", 4, 3600);
	rounds = bench_env("BENCH_ROUNDS", 8, 1000);
	readers = bench_env("BENCH_READERS", 2, BENCH_READERS_MAX);
	churn = bench_env("BENCH_CHURN", 10000, 1000000);
	keys = getenv("BENCH_KEYS") != NULL ? getenv("BENCH_KEYS") : "uniform";
	if (strcmp(keys, "uniform") != 0 && strcmp(keys, "zipf") != 0) {
		fprintf(stderr, "BENCH_KEYS: uniform or zipf, not %s\n", keys);
		return 2;
	}
	slice_ns = seconds * 1000000000ULL / rounds;
	bench_init();
	bench_keys_fill(strcmp(keys, "zipf") == 0);
	bench_sh->overhead = bench_clock_overhead();
	if ((writer = bench_fork()) == 0)
		bench_writer(churn);
	while (!__atomic_load_n(&bench_sh->ready, __ATOMIC_ACQUIRE))
		usleep(10000);
	for (i = 0; i < rounds; i++) {
		for (m = 0; m < BENCH_MODES; m++)
			rc |= bench_run_mode(m, readers, slice_ns);
	}
	__atomic_store_n(&bench_sh->mode, -1, __ATOMIC_RELEASE);
	waitpid(writer, &status, 0);
	bench_report(keys, readers, rounds);
	return rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}
