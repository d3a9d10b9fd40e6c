#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "registry/store.h"
#include "svc.h"
#include "tests/unit/testdir.h"
#include "util.h"

#define NOW	1700000000000ULL

struct fixture {
	char	 dir[64];
	char	 path[128];
};

static int
setup(void **state)
{
	struct fixture	*f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/registry.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture	*f = *state;

	testdir_remove(f->dir);
	free(f);
	return 0;
}

static struct svc *
make_svc(const char *name, const char *version, uint64_t expires)
{
	struct svc	*s;
	char		*text, *cause = NULL;

	xasprintf(&text, "{\"name\":\"%s\",\"version\":\"%s\","
	    "\"metadata\":{\"k\":\"v\"},\"endpoints\":[{\"name\":\"Say.Hello\","
	    "\"request\":{\"name\":\"Req\",\"type\":\"Req\",\"values\":[]}}],"
	    "\"nodes\":[{\"id\":\"%s-1\",\"address\":\"127.0.0.1:1\","
	    "\"metadata\":{\"protocol\":\"mucp\"}},{\"id\":\"%s-2\","
	    "\"address\":\"127.0.0.1:2\"}]}", name, version, name, name);
	s = svc_parse(text, strlen(text), SVC_NEED_NODES, &cause);
	assert_non_null(s);
	free(text);
	s->nodes[0].expires = expires;
	s->nodes[1].relist = 1;
	return s;
}

static void
put(struct store *st, const char *name, struct svc *a, struct svc *b)
{
	struct svc_set	 set = { NULL, 0 };
	char		*cause = NULL;

	if (a != NULL)
		assert_int_equal(svc_set_merge(&set, a, &cause), 0);
	if (b != NULL)
		assert_int_equal(svc_set_merge(&set, b, &cause), 0);
	if (store_put(st, name, &set, 0, &cause) == -1)
		fail_msg("store_put: %s", cause);
	svc_set_clear(&set);
	svc_free(a);
	svc_free(b);
}

static struct store *
open_ok(struct fixture *f, uint64_t now, struct store_loaded *l)
{
	struct store	*st;
	char		*cause = NULL;

	if ((st = store_open(f->path, now, l, &cause)) == NULL)
		fail_msg("store_open: %s", cause);
	return st;
}

/*
 * Files kept beside the database whose name starts with prefix (their
 * -wal and -shm not counted); each one's path is given to check, if any.
 */
static int
count_kept(struct fixture *f, const char *prefix, void (*check)(const char *))
{
	struct dirent	*de;
	DIR		*d;
	size_t		 len = strlen(prefix);
	char		 path[512];
	int		 n = 0;

	assert_non_null(d = opendir(f->dir));
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, len) != 0 ||
		    strchr(de->d_name + len, '-') != NULL)
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", f->dir, de->d_name);
		if (check != NULL)
			check(path);
	}
	closedir(d);
	return n;
}

static int
count_aside(struct fixture *f)
{
	return count_kept(f, "registry.db.corrupt-", NULL);
}

static void
test_round_trip(void **state)
{
	struct fixture		*f = *state;
	struct store_loaded	 l;
	struct store		*st;
	struct svc		*want;
	char			*a, *b;

	st = open_ok(f, NOW, &l);
	assert_int_equal(l.n, 0);
	put(st, "alpha", make_svc("alpha", "1", 0), make_svc("alpha", "2",
	    NOW + 5000));
	put(st, "beta", make_svc("beta", "", 0), NULL);
	put(st, "gone", make_svc("gone", "1", 0), NULL);
	put(st, "gone", NULL, NULL);	/* deleting a name */
	store_close(st);

	st = open_ok(f, NOW, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.expired, 0);
	assert_string_equal(l.v[0]->name, "alpha");
	assert_string_equal(l.v[1]->version, "2");
	assert_string_equal(l.v[2]->name, "beta");
	assert_int_equal(l.v[1]->nodes[0].expires, NOW + 5000);
	assert_int_equal(l.v[1]->nodes[1].relist, 1);
	assert_int_equal(l.v[1]->nodes[0].relist, 0);

	/* What comes back is what went in, to the byte. */
	a = svc_dump(l.v[1]);
	want = make_svc("alpha", "2", 0);
	b = svc_dump(want);
	assert_string_equal(a, b);
	svc_free(want);
	free(a);
	free(b);
	store_loaded_free(&l);
	store_close(st);
	assert_int_equal(count_aside(f), 0);
}

static void
test_expired_dropped(void **state)
{
	struct fixture		*f = *state;
	struct store_loaded	 l;
	struct store		*st;
	struct svc		*s;

	st = open_ok(f, NOW, &l);
	/* Both nodes of version 1 expire; version 2 keeps its remote node. */
	s = make_svc("svc", "1", NOW + 10);
	s->nodes[1].expires = NOW + 20;
	put(st, "svc", s, make_svc("svc", "2", NOW + 30));
	store_close(st);

	st = open_ok(f, NOW + 30, &l);
	assert_int_equal(l.expired, 3);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0]->version, "2");
	assert_int_equal(l.v[0]->nnodes, 1);
	assert_string_equal(l.v[0]->nodes[0].id, "svc-2");
	store_loaded_free(&l);
	store_close(st);

	/* Dropped from the file too, not only from what was returned. */
	st = open_ok(f, NOW, &l);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0]->nnodes, 1);
	store_loaded_free(&l);
	store_close(st);
}

static void
write_file(const char *path, const char *data, size_t len)
{
	int	 fd;

	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void
test_garbage_moved_aside(void **state)
{
	struct fixture		*f = *state;
	struct store_loaded	 l;
	struct store		*st;

	write_file(f->path, "this is not a database, not at all.........",
	    44);
	st = open_ok(f, NOW, &l);
	assert_int_equal(l.n, 0);
	assert_int_equal(count_aside(f), 1);
	/* The rebuilt file works. */
	put(st, "after", make_svc("after", "1", 0), NULL);
	store_close(st);
	st = open_ok(f, NOW, &l);
	assert_int_equal(l.n, 1);
	store_loaded_free(&l);
	store_close(st);
	assert_int_equal(count_aside(f), 1);
}

/* Overwrite the middle of the file: pages sqlite must notice are bad. */
static void
test_damaged_pages(void **state)
{
	struct fixture		*f = *state;
	struct store_loaded	 l;
	struct store		*st;
	struct stat		 sb;
	char			 junk[4096], name[32];
	int			 fd, i;

	st = open_ok(f, NOW, &l);
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "svc%d", i);
		put(st, name, make_svc(name, "1", 0), NULL);
	}
	store_close(st);	/* checkpoints the WAL into the file */
	assert_int_equal(stat(f->path, &sb), 0);
	assert_true(sb.st_size > 3 * 4096);
	memset(junk, 0xa5, sizeof(junk));
	assert_true((fd = open(f->path, O_WRONLY)) >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096), sizeof(junk));
	close(fd);

	st = open_ok(f, NOW, &l);
	assert_int_equal(l.n, 0);
	assert_int_equal(count_aside(f), 1);
	store_close(st);
}

static void
test_bad_schema(void **state)
{
	struct fixture		*f = *state;
	struct store_loaded	 l;
	struct store		*st;
	sqlite3			*db;

	st = open_ok(f, NOW, &l);
	put(st, "ok", make_svc("ok", "1", 0), NULL);
	store_close(st);

	/* A schema from the future is not guessed at. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	st = open_ok(f, NOW, &l);
	assert_int_equal(l.n, 0);
	assert_int_equal(count_aside(f), 1);
	store_close(st);

	/* A table dropped from a file of our schema version. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE node", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
	usleep(2000);	/* a distinct name for each file moved aside */
	st = open_ok(f, NOW, &l);
	assert_int_equal(count_aside(f), 2);
	store_close(st);
}

/* A copy kept of the file still holds the rows that were left out. */
static void
check_copy_has_bad(const char *path)
{
	sqlite3		*db;
	sqlite3_stmt	*stmt;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM node "
	    "WHERE service = 'bad'", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 2);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

/*
 * Rows sqlite reads back but that do not validate: an address that is not
 * one, metadata that is not JSON (not taken for empty metadata), text that
 * is not UTF-8, a deadline that is not a number (not "never expires"), a
 * node id today's rules refuse.
 * Their version is left out and the rest loads; the file loses them once
 * a copy of it as it was is kept. A file written under looser rules (an
 * older build) used to be moved aside whole, every service with it.
 */
static void
test_bad_rows_left_out(void **state)
{
	static const char *const damage[] = {
		"UPDATE node SET address = 'nope' WHERE id = 'bad-1'",
		"UPDATE version SET metadata = '{broken' "
		    "WHERE service = 'bad'",
		"UPDATE node SET id = CAST(X'61FF62' AS TEXT) "
		    "WHERE id = 'bad-1'",
		"UPDATE node SET expires = 'soon' WHERE id = 'bad-1'",
		"UPDATE node SET remote = 'yes' WHERE id = 'bad-2'",
		/* Accepted by builds before node ids "." and ".." were not. */
		"UPDATE node SET id = '..' WHERE id = 'bad-1'",
	};
	struct fixture		*f = *state;
	struct store_loaded	 l;
	struct store		*st;
	sqlite3			*db;
	size_t			 i;

	for (i = 0; i < nitems(damage); i++) {
		st = open_ok(f, NOW, &l);
		put(st, "bad", make_svc("bad", "1", NOW + 5000), NULL);
		put(st, "keep", make_svc("keep", "1", NOW + 5000), NULL);
		store_loaded_free(&l);
		store_close(st);
		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, damage[i], NULL, NULL, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_changes(db), 1);
		sqlite3_close(db);
		usleep(2000);	/* a distinct name for each copy kept */
		st = open_ok(f, NOW, &l);
		assert_int_equal(l.n, 1);
		assert_string_equal(l.v[0]->name, "keep");
		store_loaded_free(&l);
		store_close(st);
		assert_int_equal(count_kept(f, "registry.db.rejected-",
		    check_copy_has_bad), (int)i + 1);

		/* Gone from the file: no second copy at the next start. */
		st = open_ok(f, NOW, &l);
		assert_int_equal(l.n, 1);
		store_loaded_free(&l);
		store_close(st);
		assert_int_equal(count_kept(f, "registry.db.rejected-", NULL),
		    (int)i + 1);
	}
	assert_int_equal(count_aside(f), 0);
}

/* Not the file's fault: fail with the reason, move nothing. */
static void
test_unopenable(void **state)
{
	struct fixture		*f = *state;
	struct store_loaded	 l;
	char			 path[256], *cause = NULL;

	snprintf(path, sizeof(path), "%s/missing/registry.db", f->dir);
	assert_null(store_open(path, NOW, &l, &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, path));
	assert_null(strchr(cause, '\n'));
	free(cause);
	assert_int_equal(count_aside(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expired_dropped, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_garbage_moved_aside, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_damaged_pages, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_schema, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_rows_left_out, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unopenable, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
