/*
 * Per-service request statistics (shm/svcstats.h). Layout and ordering:
 * doc/shm-layout.md, "Service statistics".
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/anon.h"
#include "shm/svcstats.h"
#include "util.h"

#define SVCSTATS_MAGIC		"MICROSVC"
#define SVCSTATS_CAP		64	/* entries per table, power of two */
/* Names a table takes before counting into "other": probes stay short. */
#define SVCSTATS_NAMES		(SVCSTATS_CAP * 3 / 4)
/* A long name keeps its head and gets "~" and 8 hex digits of its hash. */
#define SVCSTATS_SUFFIX_LEN	9

struct svcstats_hdr {
	char		 magic[8];
	uint32_t	 version;
	uint32_t	 nslots;
	uint32_t	 table_size;
	uint32_t	 entries;
	uint32_t	 name_max;
	uint32_t	 buckets;
	uint64_t	 tables_off;	/* after names[nslots], 64-aligned */
	uint64_t	 reserved[3];
};

/*
 * key is the name's hash with bit 0 set, 0 while free. The writer fills
 * the name, then publishes it with a release store of key; a name is
 * never written again once published.
 */
struct svcstats_entry {
	uint64_t	 key;
	uint64_t	 errors;
	uint64_t	 sum_us;
	uint64_t	 buckets[SVCSTATS_BUCKETS];
	char		 name[SVCSTATS_NAME_MAX];
};

/* "other" carries no name: readers call it SVCSTATS_OTHER. */
struct svcstats_table {
	struct svcstats_entry other;
	struct svcstats_entry v[SVCSTATS_CAP];
};

_Static_assert(sizeof(struct svcstats_hdr) == 64, "svcstats header");
_Static_assert(sizeof(struct svcstats_entry) == 256, "svcstats entry");
_Static_assert(sizeof(struct svcstats_table) % 64 == 0, "svcstats table");

const uint64_t svcstats_bounds_us[SVCSTATS_BOUNDS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000,
};

/*
 * names[slot] counts the entries claimed in that slot's table. It sits
 * apart from the tables so that a reader skips a table nobody wrote
 * without touching (and so paging in) any of it.
 */
static struct {
	unsigned		 nslots;	/* the header's is writable */
	uint64_t		*names;
	struct svcstats_table	*tables;
	struct svcstats_table	*own;	/* the one this process writes */
	uint64_t		*own_names;
} svcstats;

int
svcstats_create(unsigned nslots, const char **cause)
{
	struct svcstats_hdr	*hdr;
	size_t			 size, tables_off;

	tables_off = SHM_ANON_ROUND(sizeof(*hdr) +
	    (size_t)nslots * sizeof(uint64_t));
	size = tables_off + (size_t)nslots * sizeof(struct svcstats_table);
	/* The figures die with the master. */
	if ((hdr = shm_anon_create(nslots, size, cause)) == NULL)
		return -1;
	memcpy(hdr->magic, SVCSTATS_MAGIC, sizeof(hdr->magic));
	hdr->version = SVCSTATS_VERSION;
	hdr->nslots = nslots;
	hdr->table_size = sizeof(struct svcstats_table);
	hdr->entries = SVCSTATS_CAP;
	hdr->name_max = SVCSTATS_NAME_MAX;
	hdr->buckets = SVCSTATS_BUCKETS;
	hdr->tables_off = tables_off;
	svcstats.nslots = nslots;
	svcstats.names = (uint64_t *)(hdr + 1);
	svcstats.tables = (struct svcstats_table *)((char *)hdr + tables_off);
	return 0;
}

void
svcstats_bind(unsigned slot)
{
	if (slot >= svcstats.nslots) {
		svcstats.own = NULL;
		return;
	}
	svcstats.own = &svcstats.tables[slot];
	svcstats.own_names = &svcstats.names[slot];
}

uint64_t
svcstats_clock_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * A name too long for an entry: its head, cut on a UTF-8 character
 * boundary (label values must stay valid UTF-8), "~" and the low 32 bits
 * of the whole name's hash, so two long names sharing a head stay apart.
 */
static size_t
svcstats_shorten(const char *name, size_t len, char *out)
{
	size_t	 cut = SVCSTATS_NAME_MAX - 1 - SVCSTATS_SUFFIX_LEN;

	while (cut > 0 && ((unsigned char)name[cut] & 0xc0) == 0x80)
		cut--;
	return (size_t)snprintf(out, SVCSTATS_NAME_MAX, "%.*s~%08x", (int)cut,
	    name, (unsigned)(util_fnv1a(UTIL_FNV_BASIS, name, len) & 0xffffffff));
}

/* The only writer: a plain increment, published for readers. */
static void
svcstats_add(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v,
	    __ATOMIC_RELAXED);
}

/*
 * The count goes up before the key is published: a writer killed between
 * the two leaves it one high, which costs a reader a look at a free
 * entry, never a published entry unseen.
 */
static struct svcstats_entry *
svcstats_claim(struct svcstats_table *t, struct svcstats_entry *e,
    uint64_t key, const char *name, size_t len)
{
	uint64_t	*names = svcstats.own_names;

	if (*names >= SVCSTATS_NAMES)
		return &t->other;
	memcpy(e->name, name, len + 1);
	__atomic_store_n(names, *names + 1, __ATOMIC_RELEASE);
	__atomic_store_n(&e->key, key, __ATOMIC_RELEASE);
	return e;
}

static struct svcstats_entry *
svcstats_lookup(struct svcstats_table *t, const char *name, size_t len)
{
	struct svcstats_entry	*e;
	uint64_t		 h = util_fnv1a(UTIL_FNV_BASIS, name, len), key = h | 1;
	size_t			 i, n;

	/* Bounded, though SVCSTATS_NAMES leaves a free entry: cheap. */
	for (n = 0, i = h >> 32; n < SVCSTATS_CAP; n++, i++) {
		e = &t->v[i & (SVCSTATS_CAP - 1)];
		if (e->key == 0)
			return svcstats_claim(t, e, key, name, len);
		if (e->key == key && strcmp(e->name, name) == 0)
			return e;
	}
	return &t->other;
}

static size_t
svcstats_bucket(uint64_t us)
{
	size_t	 i;

	for (i = 0; i < SVCSTATS_BOUNDS; i++)
		if (us <= svcstats_bounds_us[i])
			break;
	return i;
}

void
svcstats_record(const char *service, uint64_t latency_us, int failed)
{
	struct svcstats_entry	*e;
	char			 name[SVCSTATS_NAME_MAX];
	size_t			 len;

	if (svcstats.own == NULL)
		return;
	if ((len = strlen(service)) >= SVCSTATS_NAME_MAX) {
		len = svcstats_shorten(service, len, name);
		service = name;
	}
	e = svcstats_lookup(svcstats.own, service, len);
	svcstats_add(&e->buckets[svcstats_bucket(latency_us)], 1);
	svcstats_add(&e->sum_us, latency_us);
	if (failed)
		svcstats_add(&e->errors, 1);
}

/* Append a copy of a published entry that has requests. */
static void
svcstats_copy(const struct svcstats_entry *e, const char *name,
    struct svcstats_service **v, size_t *n, size_t *cap)
{
	struct svcstats_service	*s;
	size_t			 i;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	s = &(*v)[*n];
	s->requests = 0;
	for (i = 0; i < SVCSTATS_BUCKETS; i++) {
		s->buckets[i] = __atomic_load_n(&e->buckets[i],
		    __ATOMIC_RELAXED);
		s->requests += s->buckets[i];
	}
	if (s->requests == 0)
		return;
	s->errors = __atomic_load_n(&e->errors, __ATOMIC_RELAXED);
	s->sum_us = __atomic_load_n(&e->sum_us, __ATOMIC_RELAXED);
	snprintf(s->name, sizeof(s->name), "%.*s", (int)sizeof(s->name) - 1,
	    name);
	(*n)++;
}

static int
svcstats_cmp(const void *a, const void *b)
{
	return strcmp(((const struct svcstats_service *)a)->name,
	    ((const struct svcstats_service *)b)->name);
}

/* Sorted rows of one name become one; returns the number left. */
static size_t
svcstats_fold(struct svcstats_service *v, size_t n)
{
	size_t	 i, out = 0, b;

	for (i = 0; i < n; i++) {
		if (out > 0 && strcmp(v[out - 1].name, v[i].name) == 0) {
			v[out - 1].requests += v[i].requests;
			v[out - 1].errors += v[i].errors;
			v[out - 1].sum_us += v[i].sum_us;
			for (b = 0; b < SVCSTATS_BUCKETS; b++)
				v[out - 1].buckets[b] += v[i].buckets[b];
		} else if (out++ != i)
			v[out - 1] = v[i];
	}
	return out;
}

struct svcstats_service *
svcstats_collect(size_t *n)
{
	struct svcstats_service	*v = NULL;
	struct svcstats_table	*t;
	size_t			 cap = 0, i;
	unsigned		 slot;

	*n = 0;
	for (slot = 0; slot < svcstats.nslots; slot++) {
		if (__atomic_load_n(&svcstats.names[slot],
		    __ATOMIC_ACQUIRE) == 0)
			continue;
		t = &svcstats.tables[slot];
		svcstats_copy(&t->other, SVCSTATS_OTHER, &v, n, &cap);
		for (i = 0; i < SVCSTATS_CAP; i++)
			if (__atomic_load_n(&t->v[i].key, __ATOMIC_ACQUIRE))
				svcstats_copy(&t->v[i], t->v[i].name, &v, n,
				    &cap);
	}
	if (*n == 0) {
		free(v);
		return NULL;
	}
	qsort(v, *n, sizeof(*v), svcstats_cmp);
	*n = svcstats_fold(v, *n);
	return v;
}

double
svcstats_quantile_ms(const struct svcstats_service *s, double q)
{
	double	 rank = q * (double)s->requests, below = 0, lower = 0, upper;
	size_t	 i;

	if (s->requests == 0)
		return NAN;
	for (i = 0; i < SVCSTATS_BOUNDS; i++) {
		upper = (double)svcstats_bounds_us[i] / 1000;
		if (s->buckets[i] > 0 && below + (double)s->buckets[i] >= rank)
			return lower + (upper - lower) * (rank - below) /
			    (double)s->buckets[i];
		below += (double)s->buckets[i];
		lower = upper;
	}
	return lower;	/* in +Inf: the highest finite bound */
}
