/*
 * Fixed-width renderings of the numbers micro-top shows: rates, sizes,
 * durations, latencies and percentages. Pure functions, so the columns
 * can be unit-tested; a value that is not known (NaN, negative) prints as
 * "-" so the dashboard reads the same before and after microd reports it.
 */
#ifndef MICRO_TUI_FORMAT_H
#define MICRO_TUI_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define FMT_LEN		24	/* any of the below, or an int64 */

/* Per second: "0", "12.3", "999", "1.2k", "45k", "3.4M", "1.0G". */
const char	*fmt_rate(double, char *, size_t);
/* Bytes: "512B", "1.5K", "12M", "1.2G", "3.0T" (powers of 1024). */
const char	*fmt_size(int64_t, char *, size_t);
/* Seconds: "42s", "5m07s", "3h02m", "2d03h", "412d". */
const char	*fmt_duration(int64_t, char *, size_t);
/* Milliseconds: "0ms", "850us", "12.5ms", "340ms", "1.20s", "75s". */
const char	*fmt_latency(double, char *, size_t);
/* "0.0" .. "99.9", then "100", "812" (a process may use several cores). */
const char	*fmt_percent(double, char *, size_t);

#endif
