/*
 * The POST /rpc fast path (lib/jscan.c) against jansson: what the scanner
 * vouches for, jansson must read as an object, every member value on its
 * own too, with no member the scanner did not report. On what jansson
 * reads as an object, jscan_object_valid hands out only values that are
 * JSON by themselves.
 */
#include "config.h"

#include <jansson.h>

#include "fuzz.h"
#include "jscan.h"
#include "log.h"

static int
fuzz_jscan_member(const struct jscan_member *m, void *arg)
{
	json_t	*v;

	if ((v = json_loadb(m->value, m->value_len, JSON_DECODE_ANY,
	    NULL)) == NULL)
		fatalx("jscan: vouched for a value jansson refuses");
	json_decref(v);
	(*(size_t *)arg)++;
	return 0;
}

static int
fuzz_jscan_valid_member(const struct jscan_member *m, void *arg)
{
	json_t	*v;

	if ((v = json_loadb(m->value, m->value_len, JSON_DECODE_ANY |
	    JSON_DECODE_INT_AS_REAL, NULL)) == NULL)
		fatalx("jscan: handed out a value that is not JSON");
	json_decref(v);
	return 0;
}

static void
fuzz_jscan_valid(const char *text, size_t size)
{
	json_t	*o;

	o = json_loadb(text, size, JSON_DECODE_INT_AS_REAL, NULL);
	if (o != NULL && json_is_object(o))
		jscan_object_valid(text, size, fuzz_jscan_valid_member, NULL);
	json_decref(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	*o;
	size_t	 n = 0;

	fuzz_jscan_valid((const char *)data, size);
	if (jscan_object((const char *)data, size, fuzz_jscan_member, &n) == -1)
		return 0;
	o = json_loadb((const char *)data, size, 0, NULL);
	if (o == NULL || !json_is_object(o) || json_object_size(o) > n)
		fatalx("jscan: vouched for what jansson reads otherwise");
	json_decref(o);
	return 0;
}
