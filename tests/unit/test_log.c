/*
 * lib/log.c: what reaches stderr is what reaches the sink (the log ring):
 * bytes that are not UTF-8 repaired as utf8_repair does, a long line cut
 * on a character boundary and marked; and two call sites that share a
 * format keep rate limits of their own.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "utf8.h"

#define CUT_MARK	"\xe2\x80\xa6"		/* U+2026 */
#define EMOJI		"\xf0\x9f\x98\x80"	/* U+1F600, 4 bytes */

static FILE	*err;		/* stderr, as a file read back */
static long	 err_read;	/* of it, so far */
static char	 sunk[4096];	/* the sink's last message */
static size_t	 sunk_len;

static void
sink(enum log_level level, const char *msg, size_t len)
{
	assert_true(len < sizeof(sunk));
	memcpy(sunk, msg, len);
	sunk_len = len;
}

/* What stderr got since the last call, NUL-terminated in buf. */
static size_t
err_since(char *buf, size_t size)
{
	size_t	 n;

	assert_int_equal(fseek(err, err_read, SEEK_SET), 0);
	n = fread(buf, 1, size - 1, err);
	buf[n] = '\0';
	err_read += n;
	return n;
}

/* The message of the one line stderr got: after "microd[pid]: api/0: ". */
static const char *
err_message(char *buf, size_t size, size_t *len)
{
	char	 prefix[64];
	size_t	 n = err_since(buf, size);
	int	 p;

	p = snprintf(prefix, sizeof(prefix), "microd[%d]: api/0: ",
	    (int)getpid());
	assert_true(n > (size_t)p && memcmp(buf, prefix, p) == 0);
	assert_int_equal(buf[n - 1], '\n');
	assert_ptr_equal(memchr(buf, '\n', n), buf + n - 1);
	*len = n - 1 - p;
	return buf + p;
}

static int
utf8_valid(const char *s, size_t len)
{
	size_t	 i, n;

	for (i = 0; i < len; i += n)
		if ((n = utf8_sequence((const unsigned char *)s + i,
		    len - i)) == 0)
			return 0;
	return 1;
}

static void
test_invalid_utf8_repaired_alike(void **state)
{
	static const char	 raw[] = "service bad\xff\xfename gone";
	char			 buf[8192], *want;
	const char		*got;
	size_t			 len, want_len;

	log_warnx("service %s gone", "bad\xff\xfename");
	got = err_message(buf, sizeof(buf), &len);
	want = utf8_repair(raw, sizeof(raw) - 1, &want_len);
	assert_int_equal(len, want_len);
	assert_memory_equal(got, want, len);
	assert_int_equal(sunk_len, len);
	assert_memory_equal(sunk, got, len);
	free(want);
}

/*
 * 4-byte characters after 0 to 3 bytes of padding: whatever the prefix,
 * the old cut fell inside one for three of the four.
 */
static void
test_long_line_cut_on_boundary(void **state)
{
	char		 msg[3000], buf[8192];
	const char	*got;
	size_t		 len, pad, i;

	for (pad = 0; pad < 4; pad++) {
		memset(msg, 'x', pad);
		for (i = pad; i + 4 < sizeof(msg); i += 4)
			memcpy(msg + i, EMOJI, 4);
		msg[i] = '\0';
		log_warnx("long %s", msg);
		got = err_message(buf, sizeof(buf), &len);
		assert_true(len > 2000 && len < 2048);
		assert_true(utf8_valid(got, len));
		assert_memory_equal(got + len - 3, CUT_MARK, 3);
		assert_memory_equal(got, "long ", 5);
		assert_memory_equal(got + 5, msg, len - 5 - 3);
		assert_int_equal(sunk_len, len);
		assert_memory_equal(sunk, got, len);
	}
}

/*
 * Cut, then scrubbed: a C1 control (two bytes) is written as one '?', and
 * a line of them scrubbed first shrank to fit, its cut unmarked.
 */
static void
test_long_line_of_controls_marked_cut(void **state)
{
	char		 msg[2100], buf[8192];
	const char	*got;
	size_t		 len, i;

	for (i = 0; i + 2 < sizeof(msg); i += 2)
		memcpy(msg + i, "\xc2\x85", 2);
	msg[i] = '\0';
	log_warnx("peer said %s END", msg);
	got = err_message(buf, sizeof(buf), &len);
	assert_true(len > 1000 && len < 2048);
	assert_memory_equal(got + len - 3, CUT_MARK, 3);
	assert_null(memmem(got, len, "END", 3));
	assert_int_equal(sunk_len, len);
	assert_memory_equal(sunk, got, len);
}

/* A line that fits is whole, and not marked. */
static void
test_fitting_line_whole(void **state)
{
	char		 buf[8192];
	const char	*got;
	size_t		 len;

	log_warnx("short %s", EMOJI "\xc2\x85" "end");
	got = err_message(buf, sizeof(buf), &len);
	assert_int_equal(len, strlen("short " EMOJI "?end"));
	assert_memory_equal(got, "short " EMOJI "?end", len);
}

/*
 * One site floods its budget (20 lines, then one a second); another
 * site with the same format still logs. Both used to be known by the
 * format alone, "%s", and shared one budget.
 */
static void
test_sites_sharing_a_format(void **state)
{
	char	 buf[65536];
	int	 i;

	for (i = 0; i < 40; i++)
		log_warnx("%s", "flood");
	err_since(buf, sizeof(buf));
	log_warnx("%s", "another site");
	err_since(buf, sizeof(buf));
	assert_non_null(strstr(buf, "another site"));
}

/* A host's log callback, as the registry worker's for its backend. */
static void
host_log(void *core, int level, const char *msg)
{
	log_at(level, "etcd backend: %s", msg);
}

static void __attribute__((format(printf, 2, 3)))
plugin_log(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vhost(host_log, NULL, level, fmt, ap);
	va_end(ap);
}

/*
 * A plugin's message reaches the host whole: the plugins' own 1024-byte
 * buffers cut this one inside its "é", which stderr then showed as
 * U+FFFD, and lost what followed.
 */
static void
test_plugin_message_whole(void **state)
{
	char		 msg[1300], buf[8192];
	const char	*got;
	size_t		 len;

	memset(msg, 'x', 1022);
	memcpy(msg + 1022, "\xc3\xa9", 2);
	memset(msg + 1024, 'y', sizeof(msg) - 1025);
	msg[sizeof(msg) - 1] = '\0';
	plugin_log(LOG_LEVEL_WARN, "%s", msg);
	got = err_message(buf, sizeof(buf), &len);
	assert_int_equal(len, strlen("etcd backend: ") + strlen(msg));
	assert_memory_equal(got, "etcd backend: ", 14);
	assert_memory_equal(got + 14, msg, strlen(msg));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_utf8_repaired_alike),
		cmocka_unit_test(test_long_line_cut_on_boundary),
		cmocka_unit_test(test_long_line_of_controls_marked_cut),
		cmocka_unit_test(test_fitting_line_whole),
		cmocka_unit_test(test_sites_sharing_a_format),
		cmocka_unit_test(test_plugin_message_whole),
	};

	/* Lines go to a file read back; cmocka's messages still show. */
	if ((err = tmpfile()) == NULL || (stderr = fdopen(dup(STDERR_FILENO),
	    "w")) == NULL || dup2(fileno(err), STDERR_FILENO) == -1)
		return 1;
	log_init("microd", LOG_LEVEL_DEBUG);
	log_procname("api/0");
	log_set_sink(sink);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
