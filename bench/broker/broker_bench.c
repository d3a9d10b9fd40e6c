/*
 * Broker load generator (bench/RESULTS.md, "Broker"): one publisher and
 * N subscribers on one topic against microd's broker (websockets),
 * redis-server (RESP pub/sub) or nats-server (NATS protocol).
 *
 * One client for all three, so none gets a better client than the
 * others: a single thread, one poll() loop, non-blocking sockets with
 * TCP_NODELAY, and a small hand-written framer per protocol (a table of
 * three entries). No client library: hiredis and cnats would give two of
 * the servers a different (threaded, or differently buffered) client.
 *
 * The publisher keeps at most `window` messages in flight (published but
 * not yet received by every subscriber), or paces at `rate` messages/s:
 * a broker that drops slow subscribers (microd, redis) is measured at the
 * rate it sustains, not at the rate it gives up. Each 128-byte payload
 * carries its sequence number and send time; latency is receive time
 * minus send time, per delivery.
 *
 *	broker_bench micro|redis|nats HOST:PORT SUBS MESSAGES SECONDS WINDOW RATE
 *
 * prints: proto subs messages msgs/s deliveries/s p50_us p99_us lost
 * client_us_per_delivery (this process's CPU time while measuring: the
 * client is a peer's load too, and at 1 -> 10 it is the busiest process)
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BB_PAYLOAD	128
#define BB_MAXSUBS	64
#define BB_WARMUP	2000
#define BB_TOPIC	"bench"

struct bb_conn {
	int		 fd;
	char		*in;
	size_t		 inlen, incap;
	char		*out;
	size_t		 outlen, outcap;
	int		 ready;		/* subscribed / connected */
	uint64_t	 next;		/* next sequence expected */
};

struct bb_proto {
	const char	*name;
	/* The first bytes a subscriber or the publisher sends. */
	void		(*hello)(struct bb_conn *, int);
	/* Consume one unit of input: >0 bytes used, 0 need more, -1 bad. */
	long		(*parse)(struct bb_conn *, const char *, size_t);
	void		(*frame)(struct bb_conn *, const char *);
};

static struct {
	const struct bb_proto	*proto;
	struct bb_conn		 pub;
	struct bb_conn		 subs[BB_MAXSUBS];
	int			 nsubs;
	uint64_t		*lat;
	size_t			 nlat, latcap;
	uint64_t		 lost;
	uint64_t		 warm;		/* first measured sequence */
	uint64_t		 t_end;
} bb;

static void __attribute__((noreturn))
bb_die(const char *what)
{
	fprintf(stderr, "broker_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* CPU time (user + system) of this process, in microseconds. */
static uint64_t
bb_cpu_us(void)
{
	struct rusage	 ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	    (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static uint64_t
bb_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
bb_out(struct bb_conn *c, const void *p, size_t len)
{
	if (c->outlen + len > c->outcap) {
		c->outcap = (c->outlen + len) * 2;
		if ((c->out = realloc(c->out, c->outcap)) == NULL)
			bb_die("realloc");
	}
	memcpy(c->out + c->outlen, p, len);
	c->outlen += len;
}

static void
bb_outf(struct bb_conn *c, const char *fmt, const char *a, const char *b)
{
	char	 buf[512];
	int	 n = snprintf(buf, sizeof(buf), fmt, a, b);

	bb_out(c, buf, (size_t)n);
}

/* Sequence and send time in hex, padded: text-safe for every protocol. */
static void
bb_payload(char *p, uint64_t seq)
{
	char	 head[40];

	snprintf(head, sizeof(head), "%016" PRIx64 "%016" PRIx64, seq,
	    bb_now());
	memset(p, 'x', BB_PAYLOAD);
	memcpy(p, head, 32);
}

static void
bb_received(struct bb_conn *c, const char *p)
{
	char		 h[17];
	uint64_t	 seq, ts, now = bb_now();

	memcpy(h, p, 16);
	h[16] = '\0';
	seq = strtoull(h, NULL, 16);
	memcpy(h, p + 16, 16);
	ts = strtoull(h, NULL, 16);
	if (seq != c->next)
		bb.lost += seq > c->next ? seq - c->next : 0;
	c->next = seq + 1;
	if (seq < bb.warm)
		return;
	if (bb.nlat == bb.latcap) {
		bb.latcap = bb.latcap ? bb.latcap * 2 : 1 << 20;
		if ((bb.lat = realloc(bb.lat, bb.latcap * 8)) == NULL)
			bb_die("realloc");
	}
	bb.lat[bb.nlat++] = now - ts;
	bb.t_end = now;
}

/* A line ending in \r\n at p, or NULL. */
static const char *
bb_eol(const char *p, size_t len)
{
	const char	*e = memchr(p, '\n', len);

	return e != NULL && e > p && e[-1] == '\r' ? e : NULL;
}

/* --- redis: RESP --- */

static void
redis_hello(struct bb_conn *c, int publisher)
{
	static const char	 redis_sub[] = "SUBSCRIBE " BB_TOPIC "\r\n";

	if (publisher)
		c->ready = 1;
	else
		bb_out(c, redis_sub, sizeof(redis_sub) - 1);
}

/* One reply: :N (publish count) or *3 [kind, topic, payload|:N]. */
static long
redis_parse(struct bb_conn *c, const char *p, size_t len)
{
	const char	*e, *q = p, *end = p + len, *last = NULL;
	long		 n, i, blen;

	if ((e = bb_eol(q, len)) == NULL)
		return 0;
	if (*q == ':')
		return e + 1 - p;
	if (*q != '*')
		return -1;
	n = strtol(q + 1, NULL, 10);
	q = e + 1;
	for (i = 0; i < n; i++) {
		if (q >= end || (e = bb_eol(q, (size_t)(end - q))) == NULL)
			return 0;
		if (*q == ':') {
			q = e + 1;
			c->ready = 1;		/* subscribe confirmation */
			continue;
		}
		blen = strtol(q + 1, NULL, 10);
		if (e + 1 + blen + 2 > end)
			return 0;
		last = e + 1;
		q = e + 1 + blen + 2;
	}
	if (last != NULL && memcmp(p + 4, "$7\r\nmessage", 11) == 0)
		bb_received(c, last);
	return q - p;
}

static void
redis_frame(struct bb_conn *c, const char *payload)
{
	static const char	 head[] = "*3\r\n$7\r\nPUBLISH\r\n$5\r\n"
				    BB_TOPIC "\r\n$128\r\n";

	bb_out(c, head, sizeof(head) - 1);
	bb_out(c, payload, BB_PAYLOAD);
	bb_out(c, "\r\n", 2);
}

/* --- nats --- */

static void
nats_hello(struct bb_conn *c, int publisher)
{
	bb_outf(c, "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n%s%s",
	    publisher ? "" : "SUB " BB_TOPIC " 1\r\n", "PING\r\n");
}

static long
nats_parse(struct bb_conn *c, const char *p, size_t len)
{
	const char	*e, *sp;
	long		 blen;

	if ((e = bb_eol(p, len)) == NULL)
		return 0;
	if (strncmp(p, "MSG ", 4) == 0) {
		sp = memrchr(p, ' ', (size_t)(e - p));
		blen = strtol(sp + 1, NULL, 10);
		if (e + 1 + blen + 2 > p + len)
			return 0;
		bb_received(c, e + 1);
		return e + 1 + blen + 2 - p;
	}
	if (strncmp(p, "PONG", 4) == 0)
		c->ready = 1;
	else if (strncmp(p, "PING", 4) == 0)
		bb_out(c, "PONG\r\n", 6);
	else if (strncmp(p, "-ERR", 4) == 0)
		return -1;
	return e + 1 - p;		/* INFO, +OK */
}

static void
nats_frame(struct bb_conn *c, const char *payload)
{
	static const char	 head[] = "PUB " BB_TOPIC " 128\r\n";

	bb_out(c, head, sizeof(head) - 1);
	bb_out(c, payload, BB_PAYLOAD);
	bb_out(c, "\r\n", 2);
}

/* --- microd: websockets, the go-micro envelope --- */

static void
micro_hello(struct bb_conn *c, int publisher)
{
	bb_outf(c, "GET /%s?topic=%s HTTP/1.1\r\nHost: bench\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", publisher ? "pub" : "sub",
	    BB_TOPIC);
}

/* Base64 digit values, -1 for anything else: a table, as real clients do. */
static signed char	 micro_b64[256];

static void
micro_b64_init(void)
{
	static const char	 a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	int			 i;

	memset(micro_b64, -1, sizeof(micro_b64));
	for (i = 0; i < 64; i++)
		micro_b64[(unsigned char)a[i]] = (signed char)i;
}

/*
 * The first 32 bytes of the Body: 44 base64 characters -> 33 bytes. The
 * Body is last: looked for where our payload's would start (as the redis
 * parser expects its reply's shape), then anywhere.
 */
static void
micro_envelope(struct bb_conn *c, const char *p, size_t len)
{
	static const char	 key[] = "\"Body\":\"";
	const size_t		 klen = sizeof(key) - 1;
	const size_t		 tail = klen + (BB_PAYLOAD + 2) / 3 * 4 + 2;
	const char		*b;
	char			 raw[33];
	unsigned		 v[4];
	int			 i, j;

	if (len >= tail && memcmp(p + len - tail, key, klen) == 0)
		b = p + len - tail;
	else
		b = memmem(p, len, key, klen);
	if (b == NULL || (size_t)(b - p) + sizeof(key) + 44 > len)
		return;
	b += sizeof(key) - 1;
	for (i = 0; i < 11; i++) {
		for (j = 0; j < 4; j++)
			v[j] = (unsigned)micro_b64[(unsigned char)b[i * 4 +
			    j]];
		raw[i * 3] = (char)(v[0] << 2 | v[1] >> 4);
		raw[i * 3 + 1] = (char)(v[1] << 4 | v[2] >> 2);
		raw[i * 3 + 2] = (char)(v[2] << 6 | v[3]);
	}
	bb_received(c, raw);
}

static long
micro_parse(struct bb_conn *c, const char *p, size_t len)
{
	const char	*e;
	size_t		 hlen = 2, plen;
	int		 op;

	if (!c->ready) {
		if ((e = memmem(p, len, "\r\n\r\n", 4)) == NULL)
			return 0;
		if (strncmp(p, "HTTP/1.1 101", 12) != 0)
			return -1;
		c->ready = 1;
		return e + 4 - p;
	}
	if (len < 2)
		return 0;
	op = p[0] & 0x0f;
	plen = (unsigned char)p[1] & 0x7f;
	if (plen == 126) {
		if (len < 4)
			return 0;
		plen = (size_t)(unsigned char)p[2] << 8 | (unsigned char)p[3];
		hlen = 4;
	} else if (plen == 127)
		return -1;		/* never: 128-byte bodies */
	if (len < hlen + plen)
		return 0;
	if (op == 0x1)
		micro_envelope(c, p + hlen, plen);
	else if (op == 0x8)
		return -1;
	return (long)(hlen + plen);
}

static void
micro_frame(struct bb_conn *c, const char *payload)
{
	/* Text, FIN, masked (client frames must be) with a zero key. */
	static const unsigned char head[] = { 0x81, 0x80 | 126, 0, BB_PAYLOAD,
					    0, 0, 0, 0 };

	bb_out(c, head, sizeof(head));
	bb_out(c, payload, BB_PAYLOAD);
}

static const struct bb_proto bb_protos[] = {
	{ "micro", micro_hello, micro_parse, micro_frame },
	{ "redis", redis_hello, redis_parse, redis_frame },
	{ "nats", nats_hello, nats_parse, nats_frame },
};

static void
bb_connect(struct bb_conn *c, const char *host, int port, int publisher)
{
	struct sockaddr_in	 sin;
	int			 one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sin.sin_addr);
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		bb_die("connect");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bb.proto->hello(c, publisher);
}

static void
bb_flush(struct bb_conn *c)
{
	ssize_t	 n;

	if (c->outlen == 0)
		return;
	if ((n = send(c->fd, c->out, c->outlen, MSG_DONTWAIT)) == -1) {
		if (errno == EAGAIN)
			return;
		bb_die("send");
	}
	memmove(c->out, c->out + n, c->outlen - (size_t)n);
	c->outlen -= (size_t)n;
}

static void
bb_read(struct bb_conn *c)
{
	ssize_t	 n;
	long	 used;
	size_t	 off = 0;

	if (c->incap - c->inlen < 65536) {
		c->incap = c->incap * 2 + 65536;
		if ((c->in = realloc(c->in, c->incap)) == NULL)
			bb_die("realloc");
	}
	if ((n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen,
	    MSG_DONTWAIT)) <= 0) {
		if (n == -1 && errno == EAGAIN)
			return;
		errno = n == 0 ? ECONNRESET : errno;
		bb_die("server closed");
	}
	c->inlen += (size_t)n;
	while ((used = bb.proto->parse(c, c->in + off, c->inlen - off)) > 0)
		off += (size_t)used;
	if (used == -1) {
		errno = EPROTO;
		bb_die("bad reply");
	}
	memmove(c->in, c->in + off, c->inlen - off);
	c->inlen -= off;
}

/* Read and write everything once; wait at most ms. */
static void
bb_poll(int ms)
{
	struct pollfd	 pfd[BB_MAXSUBS + 1];
	struct bb_conn	*c[BB_MAXSUBS + 1];
	int		 i, n = 0;

	c[n++] = &bb.pub;
	for (i = 0; i < bb.nsubs; i++)
		c[n++] = &bb.subs[i];
	for (i = 0; i < n; i++) {
		bb_flush(c[i]);
		pfd[i].fd = c[i]->fd;
		pfd[i].events = POLLIN | (c[i]->outlen ? POLLOUT : 0);
	}
	if (poll(pfd, (nfds_t)n, ms) == -1)
		bb_die("poll");
	for (i = 0; i < n; i++)
		if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
			bb_read(c[i]);
}

static uint64_t
bb_slowest(void)
{
	uint64_t	 m = UINT64_MAX;
	int		 i;

	for (i = 0; i < bb.nsubs; i++)
		if (bb.subs[i].next < m)
			m = bb.subs[i].next;
	return m;
}

static int
bb_all_ready(void)
{
	int	 i;

	for (i = 0; i < bb.nsubs; i++)
		if (!bb.subs[i].ready)
			return 0;
	return bb.pub.ready;
}

static int
bb_cmp(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	char		 host[64], payload[BB_PAYLOAD], *colon;
	uint64_t	 total, window, rate, seq = 0, t0 = 0, deadline, now;
	uint64_t	 cpu0 = 0, cpu;
	size_t		 i;
	double		 secs;

	if (argc != 8) {
		fprintf(stderr, "usage: broker_bench micro|redis|nats "
		    "HOST:PORT SUBS MESSAGES SECONDS WINDOW RATE\n");
		return 2;
	}
	for (i = 0; i < sizeof(bb_protos) / sizeof(bb_protos[0]); i++)
		if (strcmp(argv[1], bb_protos[i].name) == 0)
			bb.proto = &bb_protos[i];
	snprintf(host, sizeof(host), "%s", argv[2]);
	bb.nsubs = atoi(argv[3]);
	if (bb.proto == NULL || (colon = strchr(host, ':')) == NULL ||
	    bb.nsubs < 1 || bb.nsubs > BB_MAXSUBS) {
		fprintf(stderr, "broker_bench: bad arguments\n");
		return 2;
	}
	*colon = '\0';
	micro_b64_init();
	bb.warm = BB_WARMUP;
	total = BB_WARMUP + strtoull(argv[4], NULL, 10);
	window = strtoull(argv[6], NULL, 10);
	rate = strtoull(argv[7], NULL, 10);
	for (i = 0; i < (size_t)bb.nsubs; i++)
		bb_connect(&bb.subs[i], host, atoi(colon + 1), 0);
	bb_connect(&bb.pub, host, atoi(colon + 1), 1);
	deadline = bb_now() + 10000000000ULL;
	while (!bb_all_ready())
		if (bb_now() > deadline) {
			errno = ETIMEDOUT;
			bb_die("subscribing");
		} else
			bb_poll(100);
	deadline = bb_now() + strtoull(argv[5], NULL, 10) * 1000000000ULL;
	while (bb_slowest() < total && (now = bb_now()) < deadline) {
		while (seq < total && seq - bb_slowest() < window &&
		    (rate == 0 || now >= t0 + (seq - bb.warm) * 1000000000ULL /
		    rate || seq < bb.warm)) {
			if (seq == bb.warm) {
				t0 = now = bb_now();
				cpu0 = bb_cpu_us();
			}
			bb_payload(payload, seq++);
			bb.proto->frame(&bb.pub, payload);
		}
		bb_poll(rate ? 1 : 100);
	}
	cpu = bb_cpu_us() - cpu0;
	if (bb.nlat == 0) {
		fprintf(stderr, "broker_bench: nothing measured\n");
		return 1;
	}
	qsort(bb.lat, bb.nlat, sizeof(*bb.lat), bb_cmp);
	secs = (double)(bb.t_end - t0) / 1e9;
	printf("%s %d %zu %.0f %.0f %.1f %.1f %" PRIu64 " %.3f\n",
	    bb.proto->name, bb.nsubs, bb.nlat / (size_t)bb.nsubs,
	    (double)bb.nlat / bb.nsubs / secs, (double)bb.nlat / secs,
	    (double)bb.lat[bb.nlat / 2] / 1e3,
	    (double)bb.lat[bb.nlat * 99 / 100] / 1e3, bb.lost,
	    (double)cpu / (double)bb.nlat);
	return 0;
}
