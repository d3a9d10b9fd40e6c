/*
 * What the etcd registry plugin reads from the v3 JSON gateway
 * (plugins/etcd-proto.c): the input is a range answer, a lease, auth or
 * error answer, a value under the prefix, a base64 field, and a watch
 * stream cut into slices, each line a watch message. What parses must
 * hold together: an event's lengths match its bytes, a usable key has no
 * NUL, base64 decodes to what encodes back.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "plugins/etcd-proto.h"
#include "util.h"

#define FUZZ_ETCD_PREFIX	"/micro/registry/"

static void
fuzz_etcd_event(const struct etcd_event *ev)
{
	char	*name, *id;

	if (ev->key == NULL || ev->value == NULL || ev->key[ev->keylen] !=
	    '\0' || ev->value[ev->valuelen] != '\0')
		fatalx("etcd: event bytes not NUL-terminated");
	if (ev->type == ETCD_UNUSABLE)
		return;
	if (ev->keylen == 0 || strlen(ev->key) != ev->keylen)
		fatalx("etcd: usable key with a NUL or empty");
	if (etcd_key_split(ev->key, FUZZ_ETCD_PREFIX, &name, &id) == 0) {
		(void)etcd_value_is_node(ev->value, ev->valuelen, name, id);
		free(name);
		free(id);
	}
}

static void
fuzz_etcd_batch(int rv, struct etcd_batch *b, char *cause)
{
	size_t	 i;

	if (rv == -1) {
		if (cause == NULL || b->nev != 0 || b->ev != NULL ||
		    b->error != NULL)
			fatalx("etcd: a failed parse left a batch or no cause");
		free(cause);
		return;
	}
	if (memchr(b->cluster, '\0', sizeof(b->cluster)) == NULL)
		fatalx("etcd: cluster id not NUL-terminated");
	for (i = 0; i < b->nev; i++)
		fuzz_etcd_event(&b->ev[i]);
	etcd_batch_clear(b);
}

static int
fuzz_etcd_line(const char *line, size_t len, void *arg)
{
	struct etcd_batch	 b;
	char			*cause = NULL;
	size_t			*lines = arg;
	int			 rv;

	if (len == 0 || memchr(line, '\n', len) != NULL)
		fatalx("etcd: empty line or a newline within");
	(*lines)++;
	rv = etcd_parse_watch(line, len, &b, &cause);
	fuzz_etcd_batch(rv, &b, cause);
	return 0;
}

/* The stream in slices whose sizes the bytes pick. */
static void
fuzz_etcd_stream(const uint8_t *data, size_t size)
{
	struct etcd_lines	 l = { NULL, 0, 0 };
	const char		*cause;
	size_t			 off = 0, n, lines = 0;

	while (off < size) {
		n = 1 + data[off] % 64;
		if (n > size - off)
			n = size - off;
		if (etcd_lines_feed(&l, (const char *)data + off, n,
		    fuzz_etcd_line, &lines, &cause) == -1)
			fatalx("etcd: stream refused: %s", cause);
		off += n;
	}
	if (lines > size)
		fatalx("etcd: more lines than bytes");
	etcd_lines_clear(&l);
}

static void
fuzz_etcd_b64(const char *s)
{
	char	*bytes, *text, *again;
	size_t	 len, len2;

	if ((bytes = etcd_b64_decode(s, &len)) == NULL)
		return;
	if (bytes[len] != '\0' || len > strlen(s))
		fatalx("etcd: base64 decoded past its bounds");
	text = etcd_b64_encode(bytes, len);
	if ((again = etcd_b64_decode(text, &len2)) == NULL || len2 != len ||
	    memcmp(again, bytes, len) != 0)
		fatalx("etcd: base64 does not round-trip: %s", text);
	free(again);
	free(text);
	free(bytes);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*p = (const char *)data;
	struct etcd_batch	 b;
	int64_t			 id, ttl;
	char			*cause = NULL, *s;
	int			 rv;

	rv = etcd_parse_range(p, size, &b, &cause);
	fuzz_etcd_batch(rv, &b, cause);
	cause = NULL;
	rv = etcd_parse_watch(p, size, &b, &cause);
	fuzz_etcd_batch(rv, &b, cause);
	if (etcd_parse_lease(p, size, &id, &ttl, &cause) == -1)
		free(cause);
	if ((s = etcd_parse_auth(p, size, &cause)) == NULL)
		free(cause);
	free(s);
	free(etcd_parse_error(p, size));
	(void)etcd_value_is_node(p, size, "greeter", "greeter-1");
	fuzz_etcd_stream(data, size);

	s = xmalloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_etcd_b64(s);
	free(s);
	return 0;
}
