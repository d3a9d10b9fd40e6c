/*
 * shm: segment creation and attach, slots, the registry (put, replace,
 * delete, foreach, selection), index rebuilds, arena wrap-around, a full
 * segment, epochs holding back reuse, recovery after a killed writer, and
 * stray bytes under a running one.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "counters.h"
#include "log.h"
#include "shm/internal.h"
#include "shm/registry.h"
#include "shm/shm.h"

#define MB		(1024 * 1024)
#define READER		1	/* the slot this process reads with */

struct fixture {
	struct shm		*shm;
	struct shm_writer	*w;
};

static struct fixture *
fixture_new(size_t size, size_t max_services)
{
	struct fixture		*f = calloc(1, sizeof(*f));
	struct shm_slot_info	 info = { .pid = getpid() };
	const char		*cause = NULL;
	int			 i;

	f->shm = shm_create(size, 8, max_services, &cause);
	assert_non_null(f->shm);
	for (i = 0; i < 2; i++)
		assert_int_equal(shm_slot_claim(f->shm, &info, &cause), i);
	f->w = shm_writer_open(f->shm, &cause);
	assert_non_null(f->w);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	if (f->w != NULL)
		shm_writer_close(f->w);
	shm_destroy(f->shm);
	free(f);
}

/* Nodes named after the service and a sequence, so content is checkable. */
static int
put_service(struct shm_writer *w, const char *name, unsigned seq,
    size_t nnodes, size_t pad, const char **cause)
{
	struct shm_node_in	 nodes[8];
	char			 ids[8][64], addrs[8][32], *json;
	size_t			 i, len;
	int			 rc;

	assert_true(nnodes <= 8);
	for (i = 0; i < nnodes; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%s-%u-%zu", name, seq, i);
		snprintf(addrs[i], sizeof(addrs[i]), "10.0.%u.%zu:%u",
		    seq % 250, i, 9000 + seq % 1000);
		nodes[i].id = ids[i];
		nodes[i].address = addrs[i];
		nodes[i].version = i % 2 ? "2.0.0" : "1.0.0";
		nodes[i].flags = i % 2 ? 0 : SHM_NODE_MUCP;
	}
	json = malloc(pad + 64);
	snprintf(json, 64, "[{\"name\":\"%s\",\"seq\":%u}]", name, seq);
	len = strlen(json);
	memset(json + len, ' ', pad);
	json[len + pad] = '\0';
	rc = shm_writer_put(w, name, strlen(name), nodes, nnodes, json,
	    len + pad, cause);
	free(json);
	return rc;
}

/* Looks name up and checks it holds what put_service(seq) wrote. */
static int
check_service(struct shm *shm, const char *name, unsigned seq, size_t nnodes)
{
	struct shm_service	 sv;
	struct shm_node		 n;
	char			 want[64];
	int			 ok;

	shm_read_begin(shm, READER);
	if (shm_lookup(shm, name, strlen(name), &sv) == -1) {
		shm_read_end(shm);
		return -1;
	}
	ok = shm_service_check(&sv) == 0 && sv.nnodes == nnodes &&
	    strcmp(sv.name, name) == 0 && strlen(sv.json) == sv.json_len;
	snprintf(want, sizeof(want), "[{\"name\":\"%s\",\"seq\":%u}]", name, seq);
	ok = ok && strncmp(sv.json, want, strlen(want)) == 0;
	if (ok && nnodes > 0) {
		shm_service_node(&sv, nnodes - 1, &n);
		snprintf(want, sizeof(want), "%s-%u-%zu", name, seq, nnodes - 1);
		ok = strcmp(n.id, want) == 0 &&
		    strcmp(n.version, (nnodes - 1) % 2 ? "2.0.0" : "1.0.0") == 0;
	}
	shm_read_end(shm);
	return ok ? 0 : -2;
}

static void
test_create_bad_figures(void **state)
{
	const char	*cause = NULL;

	assert_null(shm_create(16 * 1024, 8, 16, &cause));
	assert_string_equal(cause, "segment too small for its slots, index and arena");
	assert_null(shm_create(MB, 0, 16, &cause));
	assert_string_equal(cause, "slot count out of range");
	assert_null(shm_create(MB, 8, 0, &cause));
	assert_string_equal(cause, "max services out of range");
}

static void
test_attach(void **state)
{
	struct fixture	*f = fixture_new(MB, 64);
	struct shm	*other;
	const char	*cause = NULL;
	int		 fd;

	assert_int_equal(put_service(f->w, "a", 1, 2, 0, &cause), 0);
	other = shm_attach(dup(shm_fd(f->shm)), &cause);
	assert_non_null(other);
	assert_int_equal(shm_size(other), MB);
	assert_int_equal(check_service(other, "a", 1, 2), 0);
	shm_destroy(other);

	fd = memfd_create("junk", 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	assert_null(shm_attach(fd, &cause));
	assert_string_equal(cause, "not a microd segment (bad magic)");
	close(fd);
	fixture_free(f);
}

/*
 * A header whose geometry is not what this binary lays out for the same
 * size, slots and max services would send readers outside the mapping:
 * refused, whichever field is off.
 */
static void
test_attach_bad_geometry(void **state)
{
	struct fixture	*f = fixture_new(MB, 64);
	struct shm_hdr	*h = f->shm->hdr, saved = *h;
	const char	*cause = NULL;
	uint64_t	*fields[] = { &h->arena_size, &h->arena_off,
			    &h->index_off[1], &h->index_cap, &h->max_record,
			    &h->slots_off };
	size_t		 i;

	for (i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
		*fields[i] = i % 2 ? MB : 0;
		assert_null(shm_attach(dup(shm_fd(f->shm)), &cause));
		assert_string_equal(cause, "segment header inconsistent");
		*h = saved;
	}
	h->nslots = 100000;
	assert_null(shm_attach(dup(shm_fd(f->shm)), &cause));
	assert_string_equal(cause, "segment header inconsistent");
	*h = saved;
	h->layout_version++;
	assert_null(shm_attach(dup(shm_fd(f->shm)), &cause));
	assert_string_equal(cause, "segment layout version not supported");
	*h = saved;
	fixture_free(f);
}

static void
test_slots(void **state)
{
	struct shm		*shm;
	struct shm_slot_info	 in = { .role = 2, .id = 3, .generation = 4,
				    .restarts = 5, .started_ms = 6 }, out;
	struct micro_counters	*c;
	const char		*cause = NULL;

	shm = shm_create(MB, 2, 16, &cause);
	assert_int_equal(shm_slot_claim(shm, &in, &cause), 0);
	assert_int_equal(shm_slot_claim(shm, &in, &cause), 1);
	assert_int_equal(shm_slot_claim(shm, &in, &cause), -1);
	assert_string_equal(cause, "no free shm slot");
	shm_slot_set_pid(shm, 1, 4242);
	shm_slot_set_state(shm, 1, SHM_SLOT_READY);
	shm_slot_info(shm, 1, &out);
	assert_int_equal(out.pid, 4242);
	assert_int_equal(out.role, 2);
	assert_int_equal(out.id, 3);
	assert_int_equal(out.restarts, 5);
	assert_int_equal(out.state, SHM_SLOT_READY);
	c = shm_slot_counters(shm, 1);
	COUNTER_ADD(c, requests, 7);
	shm_slot_clear(shm, 1);
	shm_slot_info(shm, 1, &out);
	assert_int_equal(out.pid, 0);
	assert_int_equal(out.state, SHM_SLOT_FREE);
	assert_int_equal(shm_slot_claim(shm, &in, &cause), 1);
	assert_int_equal(COUNTER_GET(shm_slot_counters(shm, 1), requests), 0);
	shm_destroy(shm);
}

static void
test_put_lookup_replace_delete(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_service	 sv;
	struct shm_stats	 st;
	const char		*cause = NULL;
	uint64_t		 gen, seq;

	gen = shm_generation(f->shm);
	assert_int_equal(put_service(f->w, "go.micro.srv.greeter", 1, 3, 0,
	    &cause), 0);
	assert_true(shm_generation(f->shm) > gen);
	assert_int_equal(check_service(f->shm, "go.micro.srv.greeter", 1, 3), 0);
	assert_int_equal(check_service(f->shm, "go.micro.srv.greete", 1, 3), -1);

	shm_read_begin(f->shm, READER);
	assert_int_equal(shm_lookup(f->shm, "go.micro.srv.greeter", 20, &sv), 0);
	seq = sv.seq;
	shm_read_end(f->shm);

	assert_int_equal(put_service(f->w, "go.micro.srv.greeter", 2, 5, 0,
	    &cause), 0);
	assert_int_equal(check_service(f->shm, "go.micro.srv.greeter", 2, 5), 0);
	shm_read_begin(f->shm, READER);
	assert_int_equal(shm_lookup(f->shm, "go.micro.srv.greeter", 20, &sv), 0);
	assert_true(sv.seq != seq);
	shm_read_end(f->shm);
	shm_stats(f->shm, &st);
	assert_int_equal(st.services, 1);
	assert_int_equal(st.nodes, 5);
	assert_int_equal(st.puts, 2);

	assert_int_equal(shm_writer_delete(f->w, "go.micro.srv.greeter", 20), 0);
	assert_int_equal(shm_writer_delete(f->w, "go.micro.srv.greeter", 20), -1);
	assert_int_equal(check_service(f->shm, "go.micro.srv.greeter", 2, 5), -1);
	shm_stats(f->shm, &st);
	assert_int_equal(st.services, 0);
	assert_int_equal(st.nodes, 0);
	assert_int_equal(st.deletes, 1);
	fixture_free(f);
}

static void
test_bad_input(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_node_in	 node = { "id", NULL, "1.0", 0 };
	const char		*cause = NULL;

	assert_int_equal(shm_writer_put(f->w, "", 0, NULL, 0, "[]", 2,
	    &cause), -1);
	assert_string_equal(cause, "bad service name");
	assert_int_equal(shm_writer_put(f->w, "a\0b", 3, NULL, 0, "[]", 2,
	    &cause), -1);
	assert_string_equal(cause, "bad service name");
	assert_int_equal(shm_writer_put(f->w, "a", 1, &node, 1, "[]", 2,
	    &cause), -1);
	assert_string_equal(cause, "node id, address or version missing or too long");
	assert_int_equal(shm_writer_put(f->w, "a", 1, NULL, 0, NULL, 2,
	    &cause), -1);
	assert_string_equal(cause, "bad service JSON");
	fixture_free(f);
}

struct count {
	size_t	 n;
	size_t	 stop;
};

static int
count_cb(const struct shm_service *sv, void *arg)
{
	struct count	*c = arg;

	assert_int_equal(shm_service_check(sv), 0);
	return ++c->n == c->stop;
}

static void
test_foreach(void **state)
{
	struct fixture	*f = fixture_new(4 * MB, 2048);
	const char	*cause = NULL;
	char		 name[32];
	struct count	 c = { 0, 0 };
	int		 i;

	for (i = 0; i < 1500; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(put_service(f->w, name, i, 1, 0, &cause), 0);
	}
	for (i = 0; i < 1500; i += 3) {
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(shm_writer_delete(f->w, name, strlen(name)), 0);
	}
	shm_read_begin(f->shm, READER);
	assert_int_equal(shm_foreach(f->shm, count_cb, &c), 0);
	assert_int_equal(c.n, 1000);
	c.n = 0;
	c.stop = 10;
	assert_int_equal(shm_foreach(f->shm, count_cb, &c), 1);
	assert_int_equal(c.n, 10);
	shm_read_end(f->shm);
	fixture_free(f);
}

static void
test_select_random(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_service	 sv;
	const char		*cause = NULL;
	uint64_t		 rs = 88172645463325252ULL;
	unsigned		 seen[5] = { 0 };
	ssize_t			 i;
	int			 k;

	assert_int_equal(put_service(f->w, "s", 1, 5, 0, &cause), 0);
	assert_int_equal(put_service(f->w, "empty", 1, 0, 0, &cause), 0);
	shm_read_begin(f->shm, READER);
	assert_int_equal(shm_lookup(f->shm, "s", 1, &sv), 0);
	for (k = 0; k < 1000; k++) {
		i = shm_select_random(&sv, NULL, &rs);
		assert_true(i >= 0 && i < 5);
		seen[i]++;
	}
	for (k = 0; k < 5; k++)
		assert_true(seen[k] > 100);
	for (k = 0; k < 100; k++) {
		i = shm_select_random(&sv, "2.0.0", &rs);
		assert_true(i == 1 || i == 3);
	}
	assert_int_equal(shm_select_random(&sv, "3.0.0", &rs), -1);
	assert_int_equal(shm_lookup(f->shm, "empty", 5, &sv), 0);
	assert_int_equal(shm_select_random(&sv, NULL, &rs), -1);
	shm_read_end(f->shm);
	fixture_free(f);
}

static void
test_sync_state(void **state)
{
	struct fixture	*f = fixture_new(MB, 64);
	struct shm_sync	 in, out;
	const char	*cause = NULL;

	shm_read_begin(f->shm, READER);
	shm_read_sync(f->shm, &out);
	shm_read_end(f->shm);
	assert_string_equal(out.backend, "");
	memset(&in, 0, sizeof(in));
	strcpy(in.backend, "etcd");
	in.revision = 42;
	strcpy(in.error, "connection refused");
	assert_int_equal(shm_writer_set_sync(f->w, &in, &cause), 0);
	in.connected = 1;
	in.revision = 43;
	in.error[0] = '\0';
	assert_int_equal(shm_writer_set_sync(f->w, &in, &cause), 0);
	shm_read_begin(f->shm, READER);
	shm_read_sync(f->shm, &out);
	shm_read_end(f->shm);
	assert_string_equal(out.backend, "etcd");
	assert_int_equal(out.connected, 1);
	assert_int_equal(out.revision, 43);
	assert_string_equal(out.error, "");
	fixture_free(f);
}

static void
test_index_rebuild(void **state)
{
	struct fixture		*f = fixture_new(MB, 8);
	struct shm_stats	 st;
	const char		*cause = NULL;
	char			 name[32];
	int			 i;

	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(put_service(f->w, name, i, 1, 0, &cause), 0);
		if (i >= 4) {
			snprintf(name, sizeof(name), "svc-%d", i - 4);
			assert_int_equal(shm_writer_delete(f->w, name,
			    strlen(name)), 0);
		}
	}
	shm_stats(f->shm, &st);
	assert_true(st.rebuilds > 10);
	assert_int_equal(st.services, 4);
	for (i = 196; i < 200; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(check_service(f->shm, name, i, 1), 0);
	}
	assert_int_equal(check_service(f->shm, "svc-195", 195, 1), -1);
	fixture_free(f);
}

/*
 * Many updates of a few names: head laps the arena several times, and the
 * services never updated are moved forward by the cleaner, intact.
 */
static void
test_wrap_around(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_stats	 st;
	const char		*cause = NULL;
	char			 name[32];
	unsigned		 seq;

	for (seq = 0; seq < 20; seq++) {
		snprintf(name, sizeof(name), "stable-%u", seq);
		assert_int_equal(put_service(f->w, name, seq, 2, 100, &cause), 0);
	}
	for (seq = 0; seq < 20000; seq++) {
		snprintf(name, sizeof(name), "svc-%u", seq % 37);
		assert_int_equal(put_service(f->w, name, seq, 1 + seq % 8,
		    seq % 700, &cause), 0);
	}
	shm_stats(f->shm, &st);
	assert_true(LOAD(&f->shm->hdr->head) > 5 * st.arena_size);
	assert_true(st.bytes_used <= st.arena_size);
	assert_true(st.moved >= 5 * 20);
	assert_int_equal(st.services, 20 + 37);
	assert_int_equal(st.full_errors, 0);
	for (seq = 20000 - 37; seq < 20000; seq++) {
		snprintf(name, sizeof(name), "svc-%u", seq % 37);
		assert_int_equal(check_service(f->shm, name, seq, 1 + seq % 8), 0);
	}
	for (seq = 0; seq < 20; seq++) {
		snprintf(name, sizeof(name), "stable-%u", seq);
		assert_int_equal(check_service(f->shm, name, seq, 2), 0);
	}
	fixture_free(f);
}

static void
test_full_segment(void **state)
{
	struct fixture		*f = fixture_new(MB, 2000);
	struct shm_stats	 st;
	const char		*cause = NULL;
	char			 name[32];
	int			 i, n;

	for (n = 0;; n++) {
		snprintf(name, sizeof(name), "svc-%d", n);
		if (put_service(f->w, name, n, 4, 1000, &cause) == -1)
			break;
		assert_true(n < 10000);
	}
	assert_string_equal(cause, "shm arena full");
	shm_stats(f->shm, &st);
	assert_int_equal(st.full_errors, 1);
	assert_int_equal(st.services, n);
	assert_true(st.bytes_live > st.arena_size / 2);
	/* Still full, still counted, nothing lost. */
	assert_int_equal(put_service(f->w, "more", 1, 1, 1000, &cause), -1);
	shm_stats(f->shm, &st);
	assert_int_equal(st.full_errors, 2);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(check_service(f->shm, name, i, 4), 0);
	}
	/* A put that does not grow the registry still goes through: a TTL
	 * refresh (the same size) and a node dropped (smaller). */
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(put_service(f->w, name, i, 4, 1000, &cause), 0);
	}
	assert_int_equal(put_service(f->w, "svc-1", 1, 3, 1000, &cause), 0);
	assert_int_equal(check_service(f->shm, "svc-1", 1, 3), 0);
	/* Growing one is refused like a new service. */
	assert_int_equal(put_service(f->w, "svc-3", 3, 4, 8000, &cause), -1);
	assert_string_equal(cause, "shm arena full");
	assert_int_equal(check_service(f->shm, "svc-3", 3, 4), 0);
	/* Deleting makes room again. */
	for (i = 0; i < n; i += 2) {
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(shm_writer_delete(f->w, name, strlen(name)), 0);
	}
	assert_int_equal(put_service(f->w, "more", 1, 1, 1000, &cause), 0);
	/* A record over the maximum is refused the same way. */
	assert_int_equal(put_service(f->w, "huge", 1, 1, MB / 16, &cause), -1);
	assert_string_equal(cause, "record larger than the shm maximum");
	fixture_free(f);
}

static void
test_max_services(void **state)
{
	struct fixture	*f = fixture_new(MB, 4);
	const char	*cause = NULL;
	char		 name[32];
	int		 i;

	for (i = 0; i < 4; i++) {
		snprintf(name, sizeof(name), "svc-%d", i);
		assert_int_equal(put_service(f->w, name, i, 1, 0, &cause), 0);
	}
	assert_int_equal(put_service(f->w, "svc-4", 4, 1, 0, &cause), -1);
	assert_string_equal(cause, "shm index full (max services)");
	/* Replacing an existing name is still fine. */
	assert_int_equal(put_service(f->w, "svc-0", 9, 1, 0, &cause), 0);
	fixture_free(f);
}

static struct shm_rec *
rec_of(struct shm *shm, const char *name, uint64_t **where)
{
	uint64_t	 b;

	b = shm_index_find(shm, LOAD(&shm->hdr->index_active),
	    shm_hash(name, strlen(name)), name, strlen(name), where);
	assert_true(b != 0);
	return shm_rec_at(shm, SHM_BUCKET_REF(b));
}

static int
lookup(struct shm *shm, const char *name)
{
	struct shm_service	 sv;
	int			 rc;

	shm_read_begin(shm, READER);
	rc = shm_lookup(shm, name, strlen(name), &sv);
	shm_read_end(shm);
	return rc;
}

/*
 * Stray bytes in the segment: a reader bounds every offset it takes from
 * shared memory by the record or the arena, and rejects what does not fit
 * rather than follow it.
 */
static void
test_corrupt_offsets(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_hdr		*h = f->shm->hdr;
	struct shm_service	 sv;
	struct shm_node		 n;
	struct shm_sync		 sync;
	struct shm_rec		*rec, *last;
	struct count		 c = { 0, 0 };
	const char		*cause = NULL;
	uint64_t		*where, saved;
	unsigned char		*end;

	assert_int_equal(put_service(f->w, "ok", 1, 2, 0, &cause), 0);
	assert_int_equal(put_service(f->w, "bad", 1, 2, 0, &cause), 0);
	rec = rec_of(f->shm, "bad", &where);

	/* JSON, then the name, said to run past the record. */
	rec->json_off = UINT32_MAX - 8;
	assert_int_equal(lookup(f->shm, "bad"), -1);
	rec->json_off = rec->size - 1;
	assert_int_equal(lookup(f->shm, "bad"), -1);
	rec->json_off = rec->size - 8;
	rec->json_len = 8;
	assert_int_equal(lookup(f->shm, "bad"), -1);
	shm_rec_service_fill(rec, rec->size, "bad", 3, NULL, 0, "[]", 2);
	rec->name_len = UINT32_MAX;
	assert_int_equal(lookup(f->shm, "bad"), -1);
	shm_rec_service_fill(rec, rec->size, "bad", 3, NULL, 0, "[]", 2);
	rec->nnodes = UINT16_MAX;
	assert_int_equal(lookup(f->shm, "bad"), -1);
	/* No NUL at the end: its strings could run out of it. */
	((char *)rec)[rec->size - 1] = 'x';
	assert_int_equal(lookup(f->shm, "bad"), -1);
	shm_read_begin(f->shm, READER);
	assert_int_equal(shm_foreach(f->shm, count_cb, &c), 0);
	shm_read_end(f->shm);
	assert_int_equal(c.n, 1);

	/* A node offset out of the record reads as an empty string. */
	assert_int_equal(put_service(f->w, "bad", 2, 2, 0, &cause), 0);
	rec = rec_of(f->shm, "bad", &where);
	((struct shm_rec_node *)shm_rec_nodes(rec))[1].id_off = UINT32_MAX;
	shm_read_begin(f->shm, READER);
	assert_int_equal(shm_lookup(f->shm, "bad", 3, &sv), 0);
	shm_service_node(&sv, 1, &n);
	assert_string_equal(n.id, "");
	shm_read_end(f->shm);

	/* A bucket sending the reader to the arena's last 64 bytes, where a
	 * record header says it is larger than what is left. */
	last = (struct shm_rec *)(f->shm->base + h->arena_off +
	    h->arena_size - SHM_REC_ALIGN);
	*last = *rec;
	last->size = 4096;
	saved = *where;
	*where = SHM_BUCKET(rec->hash, h->arena_size / SHM_REC_ALIGN);
	assert_int_equal(lookup(f->shm, "bad"), -1);
	*where = SHM_BUCKET(rec->hash, h->arena_size / SHM_REC_ALIGN + 1);
	assert_int_equal(lookup(f->shm, "bad"), -1);
	*where = saved;

	/* Only the low bit of index_active counts. */
	STORE(&h->index_active, LOAD(&h->index_active) + 2);
	assert_int_equal(lookup(f->shm, "ok"), 0);
	STORE(&h->index_active, LOAD(&h->index_active) - 2);

	/* sync_ref to a service record, or to the arena's end. */
	STORE(&h->sync_ref, SHM_BUCKET_REF(saved));
	shm_read_begin(f->shm, READER);
	shm_read_sync(f->shm, &sync);
	shm_read_end(f->shm);
	assert_string_equal(sync.backend, "");
	last->kind = SHM_REC_SYNC;
	end = (unsigned char *)last + SHM_REC_ALIGN;
	assert_true(end == f->shm->base + h->arena_off + h->arena_size);
	STORE(&h->sync_ref, h->arena_size / SHM_REC_ALIGN);
	shm_read_begin(f->shm, READER);
	shm_read_sync(f->shm, &sync);
	shm_read_end(f->shm);
	assert_string_equal(sync.backend, "");
	fixture_free(f);
}

static uint64_t
fuzz_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int
fuzz_read_cb(const struct shm_service *sv, void *arg)
{
	struct shm_node	 n;
	size_t		*len = arg, i;

	*len += strlen(sv->name) + strlen(sv->json);
	for (i = 0; i < sv->nnodes; i++) {
		shm_service_node(sv, i, &n);
		*len += strlen(n.id) + strlen(n.address) + strlen(n.version);
	}
	return 0;
}

/* Every read there is, every string followed to its end. */
static void
fuzz_read_all(struct shm *shm, uint64_t *rs)
{
	struct shm_service	 sv;
	struct shm_sync		 sync;
	char			 name[32];
	size_t			 len = 0;
	unsigned		 i;

	shm_read_begin(shm, READER);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "svc-%u", i);
		if (shm_lookup(shm, name, strlen(name), &sv) == 0) {
			fuzz_read_cb(&sv, &len);
			shm_select_random(&sv, "2.0.0", rs);
		}
	}
	shm_foreach(shm, fuzz_read_cb, &len);
	shm_read_sync(shm, &sync);
	shm_read_end(shm);
}

/* Random bytes over the index, the records or the reader-read header. */
static void
fuzz_corrupt(struct shm *shm, uint64_t *rs)
{
	struct shm_hdr	*h = shm->hdr;
	uint64_t	*ix = shm_index_at(shm, h->index_active), r, i;
	int		 k;

	for (k = 0; k < 4; k++) {
		r = fuzz_rand(rs);
		i = (r >> 8) % h->index_cap;
		switch (r % 4) {
		case 0:
			ix[i] = (ix[i] & ~0xffffffffULL) |
			    (r >> 32) % (h->arena_size / SHM_REC_ALIGN + 4);
			break;
		case 1:
			h->index_active = r >> 40;
			h->sync_ref = (r >> 8) % (h->arena_size /
			    SHM_REC_ALIGN + 4);
			break;
		default:
			shm->base[h->index_off[0] + (r >> 8) % (MB -
			    h->index_off[0])] = (unsigned char)(r >> 56);
			break;
		}
	}
}

/* The sync state and 40 services of all sizes, rewritten ten times. */
static struct fixture *
fuzz_fixture(void)
{
	struct fixture	*f = fixture_new(MB, 64);
	struct shm_sync	 sync = { .backend = "etcd" };
	const char	*cause = NULL;
	char		 name[32];
	unsigned	 i;

	assert_int_equal(shm_writer_set_sync(f->w, &sync, &cause), 0);
	for (i = 0; i < 400; i++) {
		snprintf(name, sizeof(name), "svc-%u", i % 40);
		assert_int_equal(put_service(f->w, name, i, i % 6, i * 7 % 900,
		    &cause), 0);
	}
	return f;
}

/* child(f, rs) in a child process killed after seconds: its wait status. */
static int
run_child(struct fixture *f, int (*child)(struct fixture *, uint64_t *),
    uint64_t *rs, unsigned seconds)
{
	pid_t	 pid;
	int	 status;

	if ((pid = fork()) == 0) {
		/* Die of a fault, not in cmocka's handler. */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		alarm(seconds);
		_exit(child(f, rs));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/*
 * child(f, &c) for each case c below n, each on a fresh fixture in a child
 * process given 10 s: each must exit with code.
 */
static void
run_cases(int (*child)(struct fixture *, uint64_t *), uint64_t n, int code)
{
	struct fixture	*f;
	uint64_t	 c;
	int		 status;

	for (c = 0; c < n; c++) {
		f = fuzz_fixture();
		status = run_child(f, child, &c, 10);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), code);
		fixture_free(f);
	}
}

/*
 * Runs child(f, rs) again and again, each time in a child process on a
 * copy of the same segment (restored after it), with rs advanced. A run
 * fails if the child faults, outlasts its alarm, or exits non-zero;
 * returns how many failed.
 */
static unsigned
fuzz_runs(struct fixture *f, unsigned runs, uint64_t rs, unsigned seconds,
    int (*child)(struct fixture *, uint64_t *))
{
	unsigned char	*healthy = malloc(MB);
	unsigned	 i, failed = 0;
	int		 status;

	memcpy(healthy, f->shm->base, MB);
	for (i = 0; i < runs; i++) {
		fuzz_rand(&rs);
		status = run_child(f, child, &rs, seconds);
		failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		memcpy(f->shm->base, healthy, MB);
	}
	free(healthy);
	return failed;
}

static int
fuzz_reader(struct fixture *f, uint64_t *rs)
{
	fuzz_corrupt(f->shm, rs);
	fuzz_read_all(f->shm, rs);
	return 0;
}

/*
 * Many runs of random corruption, each read in a child (a second at most)
 * from a copy of the same healthy segment: no read crashes or hangs.
 */
static void
test_corrupt_fuzz(void **state)
{
	struct fixture	*f = fuzz_fixture();

	assert_int_equal(fuzz_runs(f, 1000, 0x9e3779b97f4a7c15ULL, 1,
	    fuzz_reader), 0);
	fixture_free(f);
}

/* The writer is killed and a successor opens the segment. */
static void
writer_restart(struct fixture *f)
{
	const char	*cause = NULL;

	free(f->w);
	STORE(&f->shm->hdr->writer_pid, 0);
	f->w = shm_writer_open(f->shm, &cause);
	assert_non_null(f->w);
}

static void
populate(struct fixture *f)
{
	struct shm_sync	 sync = { .backend = "etcd" };
	const char	*cause = NULL;

	assert_int_equal(shm_writer_set_sync(f->w, &sync, &cause), 0);
	assert_int_equal(put_service(f->w, "a", 1, 2, 0, &cause), 0);
	assert_int_equal(put_service(f->w, "b", 1, 3, 100, &cause), 0);
	assert_int_equal(put_service(f->w, "a", 2, 2, 0, &cause), 0);
}

/* Emptied, and a registry that works again. */
static void
assert_reset(struct fixture *f)
{
	struct shm_stats	 st;
	const char		*cause = NULL;

	shm_stats(f->shm, &st);
	assert_int_equal(st.resets, 1);
	assert_int_equal(st.services, 0);
	assert_int_equal(st.nodes, 0);
	assert_int_equal(st.bytes_live, 0);
	assert_int_equal(lookup(f->shm, "a"), -1);
	assert_int_equal(lookup(f->shm, "b"), -1);
	assert_int_equal(put_service(f->w, "b", 7, 2, 0, &cause), 0);
	assert_int_equal(check_service(f->shm, "b", 7, 2), 0);
}

/*
 * What no killed writer leaves behind makes its successor empty the
 * registry (the registry worker reloads it) instead of refusing to start.
 */
static void
test_corrupt_segment_reset(void **state)
{
	struct fixture	*f;
	struct shm_hdr	*h;
	struct shm_rec	*rec;
	uint64_t	*where, *ix;
	struct shm_stats st;
	int		 c;

	for (c = 0; c < 6; c++) {
		f = fixture_new(MB, 64);
		h = f->shm->hdr;
		populate(f);
		rec = rec_of(f->shm, "b", &where);
		ix = shm_index_at(f->shm, LOAD(&h->index_active));
		switch (c) {
		case 0:		/* no corruption: kept */
			writer_restart(f);
			shm_stats(f->shm, &st);
			assert_int_equal(st.services, 2);
			assert_int_equal(st.resets, 0);
			assert_int_equal(check_service(f->shm, "a", 2, 2), 0);
			fixture_free(f);
			continue;
		case 1:
			rec->magic = 0;
			break;
		case 2:		/* a byte of the JSON */
			((char *)rec)[rec->json_off + 3] ^= 0x20;
			break;
		case 3:		/* a bucket that leads nowhere live */
			ix[(where - ix + 7) % h->index_cap] = SHM_BUCKET(1, 3);
			break;
		case 4:
			STORE(&h->sync_ref, SHM_BUCKET_REF(*where));
			break;
		case 5:
			STORE(&h->tail, LOAD(&h->head) - h->arena_size - 64);
			break;
		}
		writer_restart(f);
		assert_reset(f);
		fixture_free(f);
	}
}

/* A reader still in a read when the segment is emptied: wait, then fail. */
static void
test_corrupt_reset_waits_for_readers(void **state)
{
	struct fixture	*f = fixture_new(MB, 64);
	const char	*cause = NULL;

	populate(f);
	rec_of(f->shm, "b", NULL)->magic = 0;
	free(f->w);
	STORE(&f->shm->hdr->writer_pid, 0);
	shm_read_begin(f->shm, READER);
	assert_null(f->w = shm_writer_open(f->shm, &cause));
	assert_string_equal(cause, "a reader did not leave the registry in time");
	assert_int_equal(LOAD(&f->shm->hdr->writer_pid), 0);
	shm_read_end(f->shm);
	writer_restart(f);
	assert_reset(f);
	fixture_free(f);
}

/* fuzz_corrupt, and the writer's own header fields too. */
static void
fuzz_corrupt_writer(struct shm *shm, uint64_t *rs)
{
	struct shm_hdr	*h = shm->hdr;
	uint64_t	 r = fuzz_rand(rs);

	fuzz_corrupt(shm, rs);
	switch (r % 8) {
	case 0:
		h->head ^= r >> 48;
		break;
	case 1:
		h->tail ^= r >> 48;
		break;
	case 2:
		h->bytes_live = r >> 8;
		h->services = r >> 16;
		h->nodes = r >> 24;
		break;
	case 3:
		h->index_retired = r >> 8;
		break;
	}
}

/* Corrupt, restart the writer, churn, read back what it wrote last. */
static int
fuzz_writer(struct fixture *f, uint64_t *rs)
{
	const char	*cause = NULL;
	char		 name[32];
	unsigned	 j;
	int		 bad = 0;

	log_setlevel(LOG_LEVEL_ERR);	/* a reset a run */
	fuzz_corrupt_writer(f->shm, rs);
	writer_restart(f);
	for (j = 0; j < 200; j++) {
		snprintf(name, sizeof(name), "svc-%u", j % 40);
		bad |= put_service(f->w, name, j, j % 6, j * 5 % 900,
		    &cause) != 0;
	}
	for (j = 160; j < 200; j++) {
		snprintf(name, sizeof(name), "svc-%u", j % 40);
		bad |= check_service(f->shm, name, j, j % 6) != 0;
	}
	return bad;
}

/*
 * Random corruption, then a writer killed and restarted: the successor
 * opens (emptying what it cannot trust), churns, and every service it
 * wrote last reads back intact.
 */
static void
test_corrupt_fuzz_writer(void **state)
{
	struct fixture	*f = fuzz_fixture();

	assert_int_equal(fuzz_runs(f, 300, 0x2545f4914f6cdd1dULL, 5,
	    fuzz_writer), 0);
	fixture_free(f);
}

/* Puts that lap the arena three times; 0 if all succeed. */
static int
churn(struct fixture *f, unsigned from)
{
	const char	*cause = NULL;
	char		 name[32];
	unsigned	 seq;
	int		 bad = 0;

	for (seq = from; seq < from + 3000; seq++) {
		snprintf(name, sizeof(name), "svc-%u", seq % 40);
		bad |= put_service(f->w, name, seq, seq % 6, 900, &cause) != 0;
	}
	return bad;
}

/* What churn(f, from) wrote last reads back intact: 0 if so. */
static int
churned_intact(struct fixture *f, unsigned from)
{
	char		 name[32];
	unsigned	 seq;
	int		 bad = 0;

	for (seq = from + 3000 - 40; seq < from + 3000; seq++) {
		snprintf(name, sizeof(name), "svc-%u", seq % 40);
		bad |= check_service(f->shm, name, seq, seq % 6) != 0;
	}
	return bad;
}

/*
 * Scribble the header field that *c names, then set the sync state and
 * churn: the writer keeps its own copy, so every put succeeds, what it
 * wrote reads back, and the header shows the writer's values again.
 */
static int
scribbled_header(struct fixture *f, uint64_t *c)
{
	struct shm_hdr		*h = f->shm->hdr;
	struct shm_sync		 sync = { .backend = "consul" };
	struct shm_stats	 st;
	const char		*cause = NULL;
	int			 bad;

	sync.revision = 7;
	switch (*c) {
	case 0:		/* inside the record at tail */
		STORE(&h->tail, LOAD(&h->tail) + SHM_REC_ALIGN);
		break;
	case 1:		/* past the last record */
		STORE(&h->head, LOAD(&h->head) + SHM_REC_ALIGN);
		break;
	case 2:
		STORE(&h->bytes_live, h->arena_size);
		break;
	case 3:
		STORE(&h->services, h->max_services);
		break;
	case 4:		/* a service record's */
		STORE(&h->sync_ref, shm_arena_ref(f->shm,
		    rec_of(f->shm, "svc-3", NULL)));
		break;
	}
	bad = shm_writer_set_sync(f->w, &sync, &cause) != 0 ||
	    churn(f, 400);
	shm_read_begin(f->shm, READER);
	shm_read_sync(f->shm, &sync);
	shm_read_end(f->shm);
	bad |= sync.revision != 7 || churned_intact(f, 400);
	shm_stats(f->shm, &st);
	return bad || st.services != 40 || st.full_errors != 0 ||
	    st.bytes_used > st.arena_size || st.bytes_live > st.bytes_used;
}

static void
test_scribbled_writer_header(void **state)
{
	run_cases(scribbled_header, 5, 0);
}

/*
 * A reader holds svc-1 while the header's epoch is scribbled (*c: below
 * the reader's once it is in; far ahead, the last value, or 0, which is a
 * slot's "not reading", before it enters), and the writer replaces the
 * record and churns over its memory.
 * The writer stamps and advances its own epoch and holds back for a reader
 * at one it never published: the record stays intact while the read lasts
 * (the put that needs it fails after the bounded wait), and every put goes
 * through once it ends.
 */
static int
scribbled_epoch(struct fixture *f, uint64_t *c)
{
	static const uint64_t	 stray[] = { 1, 1000, UINT64_MAX, 0 };
	struct shm_hdr		*h = f->shm->hdr;
	struct shm_service	 sv;
	unsigned char		 held[4096];
	const char		*cause = NULL;
	unsigned		 seq;
	size_t			 size;
	int			 bad, rc = 0;

	log_setlevel(LOG_LEVEL_ERR);	/* the stall */
	/* The reader enters past the fixture's stamps (1): they are free. */
	shm_epoch_safe(f->w, LOAD(&h->epoch));
	shm_epoch_safe(f->w, LOAD(&h->epoch));
	if (*c != 0)
		STORE(&h->epoch, stray[*c]);
	shm_read_begin(f->shm, READER);
	if (shm_lookup(f->shm, "svc-1", 5, &sv) == -1 ||
	    (size = ((const struct shm_rec *)sv.rec)->size) > sizeof(held))
		return 3;
	memcpy(held, sv.rec, size);
	if (*c == 0)
		STORE(&h->epoch, stray[0]);
	for (seq = 400; seq < 10000 && rc == 0; seq++)
		rc = put_service(f->w, "svc-1", seq, 1, 900, &cause);
	/* All but the writer's own word, the stamp. */
	size -= offsetof(struct shm_rec, magic);
	bad = rc == 0 || strcmp(cause,
	    "a reader did not leave the registry in time") != 0 ||
	    memcmp(held + offsetof(struct shm_rec, magic),
	    &((const struct shm_rec *)sv.rec)->magic, size) != 0;
	shm_read_end(f->shm);
	return bad || churn(f, 400) || churned_intact(f, 400);
}

static void
test_scribbled_epoch(void **state)
{
	run_cases(scribbled_epoch, 4, 0);
}

/*
 * A writer opening on a header epoch that could wrap to 0 (every reader
 * would look outside a read) starts from the highest epoch a reader is in
 * instead, so what its walk retires is held back for that reader.
 */
static void
test_scribbled_epoch_at_open(void **state)
{
	struct fixture	*f = fixture_new(MB, 64);
	struct shm_hdr	*h = f->shm->hdr;

	populate(f);
	shm_epoch_safe(f->w, LOAD(&h->epoch));
	shm_read_begin(f->shm, READER);
	assert_int_equal(LOAD(&shm_slot_at(f->shm, READER)->epoch), 2);
	STORE(&h->epoch, UINT64_MAX);
	writer_restart(f);
	assert_int_equal(LOAD(&h->epoch), 2);
	shm_read_end(f->shm);
	fixture_free(f);
}

/*
 * Stray bytes in index_active send readers to the other index: the
 * writer's next change stores its own back.
 */
static void
test_scribbled_index_active(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_hdr		*h = f->shm->hdr;
	struct shm_service	 sv;
	const char		*cause = NULL;
	uint64_t		 active;

	populate(f);
	active = LOAD(&h->index_active);
	STORE(&h->index_active, !active);
	assert_int_equal(put_service(f->w, "c", 1, 1, 0, &cause), 0);
	assert_int_equal(LOAD(&h->index_active), active);
	shm_read_begin(f->shm, READER);
	assert_int_equal(shm_lookup(f->shm, "b", 1, &sv), 0);
	shm_read_end(f->shm);
	fixture_free(f);
}

/* New names in, old ones out, until the index is rebuilt; -1: a put failed. */
static int
rebuild_index(struct fixture *f, unsigned *seq, const char **cause)
{
	struct shm_stats	 st;
	uint64_t		 rebuilds;
	char			 name[32];

	shm_stats(f->shm, &st);
	rebuilds = st.rebuilds;
	while (st.rebuilds == rebuilds) {
		snprintf(name, sizeof(name), "svc-%u", *seq);
		if (put_service(f->w, name, *seq, 1, 0, cause) == -1)
			return -1;
		if (*seq >= 4) {
			snprintf(name, sizeof(name), "svc-%u", *seq - 4);
			assert_int_equal(shm_writer_delete(f->w, name,
			    strlen(name)), 0);
		}
		(*seq)++;
		shm_stats(f->shm, &st);
	}
	return 0;
}

/*
 * index_retired scribbled far ahead (the rebuild would wait for an epoch
 * that never comes), then to 0 while a reader may still probe the index
 * the writer left: the writer keeps its own stamp, rebuilds in the first
 * case and leaves that index alone in the second until the read ends.
 */
static void
test_scribbled_index_retired(void **state)
{
	struct fixture	*f = fixture_new(MB, 8);
	struct shm_hdr	*h = f->shm->hdr;
	uint64_t	*left, copy[16];
	const char	*cause = NULL;
	unsigned	 seq = 0;

	assert_int_equal(h->index_cap, 16);
	STORE(&h->index_retired, UINT64_MAX);
	assert_int_equal(rebuild_index(f, &seq, &cause), 0);
	assert_int_equal(rebuild_index(f, &seq, &cause), 0);

	/* The epoch passes the inactive index's stamp; the reader enters. */
	shm_epoch_safe(f->w, LOAD(&h->epoch));
	shm_read_begin(f->shm, READER);
	left = shm_index_at(f->shm, LOAD(&h->index_active));
	assert_int_equal(rebuild_index(f, &seq, &cause), 0);
	STORE(&h->index_retired, 0);
	memcpy(copy, left, sizeof(copy));
	assert_int_equal(rebuild_index(f, &seq, &cause), -1);
	assert_string_equal(cause, "a reader did not leave the old index in time");
	assert_memory_equal(copy, left, sizeof(copy));
	shm_read_end(f->shm);
	assert_int_equal(rebuild_index(f, &seq, &cause), 0);
	fixture_free(f);
}

/*
 * Stray sizes and node counts in the live records: replacing and deleting
 * them keeps the writer's counts right.
 */
static void
test_scribbled_record_sizes(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_sync		 sync = { .backend = "consul" };
	struct shm_stats	 st;
	struct shm_rec		*a;
	const char		*cause = NULL;
	uint64_t		 sync_size;

	populate(f);
	a = rec_of(f->shm, "a", NULL);
	a->size += 4 * SHM_REC_ALIGN;
	a->nnodes = 0;
	rec_of(f->shm, "b", NULL)->size += SHM_REC_ALIGN;
	shm_rec_ptr(f->shm, LOAD(&f->shm->hdr->sync_ref))->size = 0;
	assert_int_equal(put_service(f->w, "a", 3, 1, 0, &cause), 0);
	assert_int_equal(shm_writer_delete(f->w, "b", 1), 0);
	assert_int_equal(shm_writer_set_sync(f->w, &sync, &cause), 0);
	sync_size = shm_rec_at(f->shm, LOAD(&f->shm->hdr->sync_ref))->size;
	shm_stats(f->shm, &st);
	assert_int_equal(st.services, 1);
	assert_int_equal(st.nodes, 1);
	assert_int_equal(st.bytes_live, rec_of(f->shm, "a", NULL)->size +
	    sync_size);
	fixture_free(f);
}

/*
 * Corrupt the record the cleaner steps over next (*c: which one, how),
 * then churn: the writer exits (fatalx: 1) rather than loop or go on
 * over it (2); its successor's recovery empties and reloads the registry.
 */
static int
corrupt_cleaned(struct fixture *f, uint64_t *c)
{
	struct shm		*shm = f->shm;
	struct shm_writer	*w = f->w;
	struct shm_rec		*rec;
	uint64_t		 pos;
	unsigned		 seq = 400;
	const char		*cause = NULL;

	log_setlevel(LOG_LEVEL_ERR);
	if (*c >= 2) {
		/* A read holds records back: tail stops short of the cursor. */
		shm_read_begin(shm, READER);
		while (seq < 10000 &&
		    put_service(w, "svc-1", seq++, 1, 900, &cause) == 0)
			;
		shm_read_end(shm);
		if ((pos = LOAD(&shm->hdr->tail)) == w->clean)
			return 3;
	} else
		pos = w->clean;
	rec = (struct shm_rec *)(shm->base + shm->layout.arena_off +
	    pos % shm->layout.arena_size);
	switch (*c % 2) {
	case 0:
		rec->size = 0;
		break;
	case 1:
		rec->magic = 0;
		break;
	}
	churn(f, seq);
	return 2;
}

static void
test_corrupt_record_at_cleaner(void **state)
{
	run_cases(corrupt_cleaned, 4, 1);
}

/*
 * A reader holding a view pins its record: the writer cannot reuse it, so
 * puts that need the space fail (bounded wait) and the view stays intact.
 */
static void
test_reader_pins_record(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_service	 sv;
	struct shm_stats	 st;
	const char		*cause = NULL;
	unsigned		 seq;
	int			 rc = 0;

	assert_int_equal(put_service(f->w, "pinned", 0, 3, 500, &cause), 0);
	shm_read_begin(f->shm, READER);
	assert_int_equal(shm_lookup(f->shm, "pinned", 6, &sv), 0);
	for (seq = 1; seq < 5000 && rc == 0; seq++)
		rc = put_service(f->w, "pinned", seq, 3, 500, &cause);
	assert_int_equal(rc, -1);
	assert_string_equal(cause, "a reader did not leave the registry in time");
	assert_true(f->w->stall_fresh);
	/* The same read still holds: the next put fails without waiting. */
	assert_int_equal(put_service(f->w, "pinned", seq, 3, 500, &cause), -1);
	assert_false(f->w->stall_fresh);
	assert_int_equal(shm_service_check(&sv), 0);
	assert_int_equal(sv.seq, 1);
	shm_read_end(f->shm);
	shm_stats(f->shm, &st);
	assert_int_equal(st.wait_errors, 2);
	assert_int_equal(st.stalls, 1);		/* one read, two refusals */
	assert_int_equal(put_service(f->w, "pinned", seq, 3, 500, &cause), 0);
	fixture_free(f);
}

/* A reader that died in a read does not hold the writer up. */
static void
test_dead_reader(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_stats	 st;
	const char		*cause = NULL;
	unsigned		 seq;
	pid_t			 pid;
	int			 status;

	assert_int_equal(put_service(f->w, "x", 0, 3, 500, &cause), 0);
	if ((pid = fork()) == 0) {
		shm_slot_set_pid(f->shm, READER, getpid());
		shm_read_begin(f->shm, READER);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(LOAD(&shm_slot_at(f->shm, READER)->epoch) != 0);
	for (seq = 1; seq < 5000; seq++)
		assert_int_equal(put_service(f->w, "x", seq, 3, 500, &cause), 0);
	shm_stats(f->shm, &st);
	assert_int_equal(st.wait_errors, 0);
	shm_slot_clear(f->shm, READER);
	assert_int_equal(LOAD(&shm_slot_at(f->shm, READER)->epoch), 0);
	fixture_free(f);
}

static void
test_second_writer_refused(void **state)
{
	struct fixture	*f = fixture_new(MB, 64);
	const char	*cause = NULL;
	pid_t		 pid;
	int		 status;

	if ((pid = fork()) == 0) {
		_exit(shm_writer_open(f->shm, &cause) != NULL ||
		    strcmp(cause, "another shm writer is alive") != 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fixture_free(f);
}

/*
 * A dead writer's pid taken by a live process (pid 1 here) locks every
 * successor out until the master, having reaped the writer, releases it.
 */
static void
test_reaped_writer_released(void **state)
{
	struct fixture	*f = fixture_new(MB, 64);
	const char	*cause = NULL;

	shm_writer_close(f->w);
	f->w = NULL;
	STORE(&f->shm->hdr->writer_pid, 1);
	assert_null(shm_writer_open(f->shm, &cause));
	assert_string_equal(cause, "another shm writer is alive");
	shm_writer_reaped(f->shm, 2);	/* not the writer: nothing changes */
	assert_null(shm_writer_open(f->shm, &cause));
	shm_writer_reaped(f->shm, 1);
	assert_non_null(f->w = shm_writer_open(f->shm, &cause));
	fixture_free(f);
}

/*
 * A writer killed between committing a record and publishing it, and one
 * killed outright: the successor retires the orphan, recounts, continues.
 */
static void
test_writer_recovery(void **state)
{
	struct fixture		*f = fixture_new(MB, 64);
	struct shm_stats	 before, after;
	struct shm_rec		*orphan;
	const char		*cause = NULL;
	size_t			 size;
	pid_t			 pid;
	int			 status;

	assert_int_equal(put_service(f->w, "a", 1, 2, 0, &cause), 0);
	assert_int_equal(put_service(f->w, "b", 1, 3, 0, &cause), 0);
	shm_stats(f->shm, &before);
	size = shm_rec_service_size(1, NULL, 0, 2);
	orphan = shm_arena_alloc(f->w, size, 0, UINT64_MAX, &cause);
	shm_rec_service_fill(orphan, size, "c", 1, NULL, 0, "[]", 2);
	shm_rec_seal(orphan, 99);
	shm_arena_commit(f->w, size);
	free(f->w);
	STORE(&f->shm->hdr->writer_pid, 0);

	f->w = shm_writer_open(f->shm, &cause);
	assert_non_null(f->w);
	assert_true(orphan->retired != 0);
	shm_stats(f->shm, &after);
	assert_int_equal(after.services, 2);
	assert_int_equal(after.nodes, 5);
	assert_int_equal(after.bytes_live, before.bytes_live);
	assert_int_equal(after.writer_starts, before.writer_starts + 1);
	assert_int_equal(check_service(f->shm, "c", 1, 0), -1);
	shm_writer_close(f->w);

	if ((pid = fork()) == 0) {
		f->w = shm_writer_open(f->shm, &cause);
		_exit(f->w == NULL || put_service(f->w, "c", 1, 1, 0,
		    &cause) == -1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(WEXITSTATUS(status), 0);
	f->w = shm_writer_open(f->shm, &cause);
	assert_non_null(f->w);
	assert_int_equal(check_service(f->shm, "c", 1, 1), 0);
	assert_int_equal(put_service(f->w, "d", 1, 1, 0, &cause), 0);
	shm_stats(f->shm, &after);
	assert_int_equal(after.services, 4);
	fixture_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_bad_figures),
		cmocka_unit_test(test_attach),
		cmocka_unit_test(test_attach_bad_geometry),
		cmocka_unit_test(test_slots),
		cmocka_unit_test(test_put_lookup_replace_delete),
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_select_random),
		cmocka_unit_test(test_sync_state),
		cmocka_unit_test(test_index_rebuild),
		cmocka_unit_test(test_wrap_around),
		cmocka_unit_test(test_full_segment),
		cmocka_unit_test(test_reaped_writer_released),
		cmocka_unit_test(test_max_services),
		cmocka_unit_test(test_reader_pins_record),
		cmocka_unit_test(test_dead_reader),
		cmocka_unit_test(test_second_writer_refused),
		cmocka_unit_test(test_writer_recovery),
		cmocka_unit_test(test_corrupt_offsets),
		cmocka_unit_test(test_corrupt_fuzz),
		cmocka_unit_test(test_corrupt_segment_reset),
		cmocka_unit_test(test_corrupt_reset_waits_for_readers),
		cmocka_unit_test(test_corrupt_fuzz_writer),
		cmocka_unit_test(test_scribbled_writer_header),
		cmocka_unit_test(test_scribbled_epoch),
		cmocka_unit_test(test_scribbled_epoch_at_open),
		cmocka_unit_test(test_scribbled_index_retired),
		cmocka_unit_test(test_scribbled_index_active),
		cmocka_unit_test(test_scribbled_record_sizes),
		cmocka_unit_test(test_corrupt_record_at_cleaner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
