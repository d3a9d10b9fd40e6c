#include "config.h"

#include <math.h>
#include <stdio.h>

#include "tui/format.h"

static const char *
fmt_unknown(char *buf, size_t len)
{
	snprintf(buf, len, "-");
	return buf;
}

/*
 * Scale v by step until it fits below step, then print with one decimal
 * while it is small enough to be worth it. Rounding is checked before the
 * choice so 999.96 becomes "1.0k", not "1000".
 */
static const char *
fmt_scaled(double v, double step, const char *units, const char *first,
    char *buf, size_t len)
{
	const char	*u = units;

	if (v < step - 0.05) {
		if (v < 100 - 0.05 && v != floor(v))
			snprintf(buf, len, "%.1f%s", v, first);
		else
			snprintf(buf, len, "%.0f%s", v, first);
		return buf;
	}
	for (v /= step; v >= step - 0.5 && u[1] != '\0'; u++)
		v /= step;
	if (v < 10 - 0.05)
		snprintf(buf, len, "%.1f%c", v, *u);
	else
		snprintf(buf, len, "%.0f%c", v, *u);
	return buf;
}

const char *
fmt_rate(double v, char *buf, size_t len)
{
	if (isnan(v) || v < 0)
		return fmt_unknown(buf, len);
	return fmt_scaled(v, 1000, "kMGT", "", buf, len);
}

const char *
fmt_size(int64_t v, char *buf, size_t len)
{
	if (v < 0)
		return fmt_unknown(buf, len);
	if (v < 1024) {
		snprintf(buf, len, "%dB", (int)v);
		return buf;
	}
	return fmt_scaled((double)v, 1024, "KMGTP", "B", buf, len);
}

const char *
fmt_duration(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		return fmt_unknown(buf, len);
	if (s < 60)
		snprintf(buf, len, "%ds", (int)s);
	else if (s < 3600)
		snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%dh%02dm", (int)(s / 3600),
		    (int)(s % 3600 / 60));
	else if (s < 100 * 86400)
		snprintf(buf, len, "%dd%02dh", (int)(s / 86400),
		    (int)(s % 86400 / 3600));
	else
		snprintf(buf, len, "%lldd", (long long)(s / 86400));
	return buf;
}

const char *
fmt_latency(double ms, char *buf, size_t len)
{
	if (isnan(ms) || ms < 0)
		return fmt_unknown(buf, len);
	if (ms == 0)
		snprintf(buf, len, "0ms");
	else if (ms < 1 - 0.0005)
		snprintf(buf, len, "%.0fus", ms * 1000);
	else if (ms < 100 - 0.05)
		snprintf(buf, len, "%.1fms", ms);
	else if (ms < 1000 - 0.5)
		snprintf(buf, len, "%.0fms", ms);
	else if (ms < 10000 - 5)
		snprintf(buf, len, "%.2fs", ms / 1000);
	else
		snprintf(buf, len, "%.0fs", ms / 1000);
	return buf;
}

const char *
fmt_percent(double v, char *buf, size_t len)
{
	if (isnan(v) || v < 0)
		return fmt_unknown(buf, len);
	if (v < 100 - 0.05)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.0f", v);
	return buf;
}
