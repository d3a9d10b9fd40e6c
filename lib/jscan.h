/*
 * A JSON scanner for the hot path of POST /rpc: it checks a text is one
 * plain JSON object and hands over each top-level member as it lies in the
 * text, with no tree built and nothing allocated.
 *
 * It only vouches for the plain case. Anything else makes it give up (-1):
 * invalid JSON, and also valid JSON it leaves to a full parser (jansson):
 * \u escapes, bytes above 0x7f, exponents, numbers over 15 digits, escapes
 * in keys, nesting deeper than JSCAN_DEPTH_MAX. So a caller that falls back
 * to jansson on -1 gets exactly jansson's verdict on every input, and
 * jansson's values wherever the scan succeeds (tests/unit/test_jscan.c
 * checks this against jansson on mutated inputs).
 */
#ifndef MICRO_JSCAN_H
#define MICRO_JSCAN_H

#include <stddef.h>

#define JSCAN_DEPTH_MAX	32

struct jscan_member {
	const char	*key;		/* between its quotes, no escapes */
	size_t		 key_len;
	const char	*value;		/* the value's JSON text */
	size_t		 value_len;
	int		 escaped;	/* a string value with \ escapes */
};

/* cb returns 0 to go on, -1 to stop the scan (which then returns -1). */
typedef int	(*jscan_member_cb)(const struct jscan_member *, void *);

int	 jscan_object(const char *text, size_t len, jscan_member_cb cb,
	    void *arg);
/*
 * The same for a text a full parser has already accepted (jansson): any
 * object, with escapes (keys excepted), bytes above 0x7f, exponents and
 * numbers of any length, each member's value as it lies in the text. For
 * what a tree would change in passing: a double's digits, an integer
 * beyond int64.
 */
int	 jscan_object_valid(const char *text, size_t len, jscan_member_cb cb,
	    void *arg);

#endif
