/* micro-top's number formats and column layout (tui/format.c, table.c). */
#include "config.h"

#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tui/format.h"
#include "termtext.h"
#include "tui/table.h"

#define CHECK(fn, v, want) do {					\
	char	 buf_[FMT_LEN];					\
	assert_string_equal(fn((v), buf_, sizeof(buf_)), (want));	\
} while (0)

static void
test_rate(void **state)
{
	CHECK(fmt_rate, 0, "0");
	CHECK(fmt_rate, 12.34, "12.3");
	CHECK(fmt_rate, 12, "12");
	CHECK(fmt_rate, 999, "999");
	CHECK(fmt_rate, 999.96, "1.0k");
	CHECK(fmt_rate, 1234, "1.2k");
	CHECK(fmt_rate, 45000, "45k");
	CHECK(fmt_rate, 3.4e6, "3.4M");
	CHECK(fmt_rate, 1e9, "1.0G");
	CHECK(fmt_rate, NAN, "-");
	CHECK(fmt_rate, -1, "-");
}

static void
test_size(void **state)
{
	CHECK(fmt_size, 0, "0B");
	CHECK(fmt_size, 512, "512B");
	CHECK(fmt_size, 1023, "1023B");
	CHECK(fmt_size, 1536, "1.5K");
	CHECK(fmt_size, 12 * 1024 * 1024, "12M");
	CHECK(fmt_size, (int64_t)1288490189, "1.2G");
	CHECK(fmt_size, (int64_t)3 << 40, "3.0T");
	CHECK(fmt_size, -1, "-");
}

static void
test_duration(void **state)
{
	CHECK(fmt_duration, 0, "0s");
	CHECK(fmt_duration, 42, "42s");
	CHECK(fmt_duration, 5 * 60 + 7, "5m07s");
	CHECK(fmt_duration, 3 * 3600 + 2 * 60 + 59, "3h02m");
	CHECK(fmt_duration, 2 * 86400 + 3 * 3600, "2d03h");
	CHECK(fmt_duration, 412 * 86400, "412d");
	CHECK(fmt_duration, -5, "-");
}

static void
test_latency(void **state)
{
	CHECK(fmt_latency, 0, "0ms");
	CHECK(fmt_latency, 0.85, "850us");
	CHECK(fmt_latency, 12.5, "12.5ms");
	CHECK(fmt_latency, 340, "340ms");
	CHECK(fmt_latency, 1200, "1.20s");
	CHECK(fmt_latency, 75000, "75s");
	CHECK(fmt_latency, NAN, "-");
}

static void
test_percent(void **state)
{
	CHECK(fmt_percent, 0, "0.0");
	CHECK(fmt_percent, 12.34, "12.3");
	CHECK(fmt_percent, 99.99, "100");
	CHECK(fmt_percent, 812.4, "812");
	CHECK(fmt_percent, NAN, "-");
}

static const struct table_col test_cols[] = {
	{ "NAME", 0, 0 },
	{ "N", 4, 1 },
	{ "STATE", 7, 0 },
};

static void
test_table_layout(void **state)
{
	const char	*cells[] = { "api", "12", "running" };
	const char	*longer[] = { "a-very-long-service-name", "123456",
			    "crashloop" };
	char		 out[128];

	/* Flexible column takes 30 - 4 - 7 - 2 separators = 17. */
	table_line(test_cols, 3, cells, 30, out, sizeof(out));
	assert_string_equal(out, "api                 12 running");
	table_heading(test_cols, 3, 30, out, sizeof(out));
	assert_string_equal(out, "NAME                 N STATE");
	/* Cells are cut to their column, the line to the width. */
	table_line(test_cols, 3, longer, 30, out, sizeof(out));
	assert_string_equal(out, "a-very-long-servi 1234 crashlo");
	/* Too narrow: the flexible column keeps its minimum, the rest is cut. */
	table_line(test_cols, 3, cells, 14, out, sizeof(out));
	assert_string_equal(out, "api        12");
	/* A tiny buffer is never overrun. */
	table_line(test_cols, 3, cells, 30, out, 6);
	assert_string_equal(out, "api");
}

/* Registry data as the terminal may show it (lib/termtext.c). */
static void
test_termtext_fit(void **state)
{
	char	 out[64];

	assert_int_equal(termtext_fit("a\x1b]0;T\x07\nX\x7f", -1, out,
	    sizeof(out)), 10);
	assert_string_equal(out, "a?]0;T??X?");
	assert_int_equal(termtext_fit("abcdef", 4, out, sizeof(out)), 4);
	assert_string_equal(out, "abcd");
	/* In place, as table_line and microctl's cmd_error use it. */
	snprintf(out, sizeof(out), "x\ry");
	termtext_fit(out, -1, out, sizeof(out));
	assert_string_equal(out, "x?y");
	assert_int_equal(termtext_fit("abcdef", -1, out, 4), 3);
	assert_string_equal(out, "abc");
}

static void
test_table_utf8(void **state)
{
	const char	*cells[] = { "caf\xc3\xa9", "1", "running" };
	char		 out[128];

	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		skip();
	/* Two bytes, one column: padded by what shows. */
	table_line(test_cols, 3, cells, 30, out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9                 1 running");
	assert_int_equal(termtext_fit("caf\xc3\xa9", 4, out, sizeof(out)), 4);
	/* A cut or broken sequence and a C1 control (CSI) are not shown. */
	assert_int_equal(termtext_fit("a\xc3", -1, out, sizeof(out)), 2);
	assert_string_equal(out, "a?");
	termtext_fit("a\xc2\x9b" "2J", -1, out, sizeof(out));
	assert_string_equal(out, "a?2J");
	/* Nor a right-to-left override or isolate, which reorder the line. */
	assert_int_equal(termtext_fit("a\xe2\x80\xae" "cba\xe2\x81\xa7",
	    -1, out, sizeof(out)), 6);
	assert_string_equal(out, "a?cba?");
	/* A wide character that does not fit is left out whole. */
	assert_int_equal(termtext_fit("a\xe6\x97\xa5", 2, out, sizeof(out)), 1);
	assert_string_equal(out, "a");
	setlocale(LC_CTYPE, "C");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_latency),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_table_layout),
		cmocka_unit_test(test_termtext_fit),
		cmocka_unit_test(test_table_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
