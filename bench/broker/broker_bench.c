/*
 * Broker load generator (bench/RESULTS.md, "Broker"): one publisher and
 * N subscribers on one topic against microd's broker (websockets),
 * redis-server (RESP pub/sub) or nats-server (NATS protocol).
 *
 * One client for all three, so none gets a better client than the
 * others: every subscriber is a process of its own, as subscribers are in
 * a deployment, and the publisher is this process; each runs one poll()
 * loop on non-blocking sockets with TCP_NODELAY and a small hand-written
 * framer per protocol (a table of three entries). No client library:
 * hiredis and cnats would give two of the servers a different (threaded,
 * or differently buffered) client. (Until 2026-11-24 one thread ran the
 * publisher and every subscriber; at 1 -> 10 that thread was the busiest
 * process and the limit for every peer, so it measured the client.)
 *
 * The publisher keeps at most `window` messages in flight (published but
 * not yet received by every subscriber), or paces at `rate` messages/s:
 * a broker that drops slow subscribers (microd, redis) is measured at the
 * rate it sustains, not at the rate it gives up. Subscribers report how
 * far they have read in shared memory; a publisher that waits for one of
 * them says so there and sleeps on an eventfd, which that subscriber
 * writes when it moves on (no syscall per message). Paced, the publisher
 * sleeps until each message is due. A message a subscriber has not
 * received when the run ends counts as lost. Each 128-byte
 * payload carries its sequence number and send time; latency is receive
 * time minus send time, per delivery.
 *
 *	broker_bench micro|redis|nats HOST:PORT SUBS MESSAGES SECONDS WINDOW RATE
 *
 * prints: proto subs messages msgs/s deliveries/s p50_us p99_us lost
 * client_us_per_delivery (the CPU time of the publisher and all the
 * subscribers while measuring: the clients are a peer's load too)
 */
#include "config.h"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
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
#define BB_WAIT_NS	100000000ULL	/* longest sleep in a poll */

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

/* What a subscriber process tells the publisher, one cache line each. */
struct bb_sub {
	uint64_t	 next __attribute__((aligned(64)));	/* atomic */
	int		 ready;		/* atomic: subscribed */
	uint64_t	 lost;		/* the rest: once, at its end */
	uint64_t	 nlat;
	uint64_t	 t_end;
	uint64_t	 cpu_us;
};

/* Shared by the publisher and the subscriber processes (one mapping). */
struct bb_shared {
	/* 1 + the position the publisher waits past, 0 when it does not. */
	uint64_t	 waiting __attribute__((aligned(64)));	/* atomic */
	uint64_t	 sent;		/* atomic: messages published */
	int		 stop;		/* atomic */
	struct bb_sub	 subs[BB_MAXSUBS];
};

/* This process's state: the publisher's, or one subscriber's. */
static struct {
	const struct bb_proto	*proto;
	struct bb_shared	*sh;
	int			 wake;		/* eventfd: publisher waits */
	int			 nsubs;
	uint64_t		*lat;		/* shared: nsubs x total */
	size_t			 nlat, latcap;
	uint64_t		 lost;
	uint64_t		 warm;		/* first measured sequence */
	uint64_t		 total;		/* messages, warm-up included */
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
	if (bb.nlat < bb.latcap)
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

/*
 * Send what is queued; wait at most ns for input on c (or a wake-up).
 * Returns poll's count: 0 when the time ran out.
 */
static int
bb_poll(struct bb_conn *c, int wake, uint64_t ns)
{
	struct pollfd	 pfd[2];
	struct timespec	 ts;
	uint64_t	 v;
	nfds_t		 n = 1;
	int		 ready;

	bb_flush(c);
	pfd[0].fd = c->fd;
	pfd[0].events = POLLIN | (c->outlen ? POLLOUT : 0);
	if (wake != -1) {
		pfd[n].fd = wake;
		pfd[n++].events = POLLIN;
	}
	ts.tv_sec = (time_t)(ns / 1000000000ULL);
	ts.tv_nsec = (long)(ns % 1000000000ULL);
	if ((ready = ppoll(pfd, n, &ts, NULL)) == -1)
		bb_die("poll");
	if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))
		bb_read(c);
	if (n == 2 && pfd[1].revents & POLLIN && read(wake, &v, sizeof(v)) == -1 &&
	    errno != EAGAIN)
		bb_die("eventfd");
	return ready;
}

/*
 * A subscriber tells how far it has read. It wakes the publisher only if
 * the publisher waits for it: for the position it had read to.
 */
static void
bb_progress(struct bb_sub *me, uint64_t prev, uint64_t next)
{
	uint64_t	 one = 1, w;

	if (next == prev)
		return;
	__atomic_store_n(&me->next, next, __ATOMIC_SEQ_CST);
	w = __atomic_load_n(&bb.sh->waiting, __ATOMIC_SEQ_CST);
	if (w != 0 && prev < w && __atomic_compare_exchange_n(&bb.sh->waiting,
	    &w, 0, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) &&
	    write(bb.wake, &one, sizeof(one)) == -1)
		bb_die("eventfd");
}

/* One subscriber process: reads until the last message or told to stop. */
static void __attribute__((noreturn))
bb_subscriber(int i, const char *host, int port)
{
	struct bb_sub	*me = &bb.sh->subs[i];
	struct bb_conn	 c;
	uint64_t	 cpu0 = 0, prev, sent;
	int		 measuring = 0;

	memset(&c, 0, sizeof(c));
	bb.lat += (size_t)i * bb.latcap;
	bb_connect(&c, host, port, 0);
	while (c.next < bb.total && !__atomic_load_n(&bb.sh->stop,
	    __ATOMIC_ACQUIRE)) {
		prev = c.next;
		bb_poll(&c, -1, BB_WAIT_NS);
		if (c.ready)
			__atomic_store_n(&me->ready, 1, __ATOMIC_RELEASE);
		if (!measuring && c.next > bb.warm) {
			cpu0 = bb_cpu_us();
			measuring = 1;
		}
		bb_progress(me, prev, c.next);
	}
	/* Published and never received: lost too. */
	sent = __atomic_load_n(&bb.sh->sent, __ATOMIC_ACQUIRE);
	me->lost = bb.lost + (sent > c.next ? sent - c.next : 0);
	me->nlat = bb.nlat;
	me->t_end = bb.t_end;
	me->cpu_us = measuring ? bb_cpu_us() - cpu0 : 0;
	_exit(0);
}

/* Subscribers die with the publisher, even one that dies before prctl. */
static void
bb_spawn(int i, const char *host, int port)
{
	pid_t	 parent = getpid(), pid;

	if ((pid = fork()) == -1)
		bb_die("fork");
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
		    getppid() != parent)
			_exit(1);
		bb_subscriber(i, host, port);
	}
}

/* A subscriber that failed ends the run at once (it is not reaped). */
static void
bb_check_subscribers(void)
{
	siginfo_t	 si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
	    si.si_pid != 0 && (si.si_code != CLD_EXITED || si.si_status != 0)) {
		fprintf(stderr, "broker_bench: subscriber %d failed\n",
		    (int)si.si_pid);
		exit(1);
	}
}

static uint64_t
bb_slowest(void)
{
	uint64_t	 m = UINT64_MAX, next;
	int		 i;

	for (i = 0; i < bb.nsubs; i++) {
		next = __atomic_load_n(&bb.sh->subs[i].next, __ATOMIC_SEQ_CST);
		if (next < m)
			m = next;
	}
	return m;
}

static int
bb_all_ready(const struct bb_conn *pub)
{
	int	 i;

	for (i = 0; i < bb.nsubs; i++)
		if (!__atomic_load_n(&bb.sh->subs[i].ready, __ATOMIC_ACQUIRE))
			return 0;
	return pub->ready;
}

/* The publisher cannot go on until the slowest subscriber moves. */
static void
bb_wait_subscribers(struct bb_conn *pub, uint64_t slowest)
{
	bb_flush(pub);
	__atomic_store_n(&bb.sh->waiting, slowest + 1, __ATOMIC_SEQ_CST);
	if (bb_slowest() == slowest && bb_poll(pub, bb.wake, BB_WAIT_NS) == 0)
		bb_check_subscribers();
	__atomic_store_n(&bb.sh->waiting, 0, __ATOMIC_SEQ_CST);
}

static void *
bb_shared_map(size_t size)
{
	void	*p;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (p == MAP_FAILED)
		bb_die("mmap");
	return p;
}

/* Wait for every subscriber; their results are final once they exited. */
static int
bb_reap(void)
{
	int	 i, status, rc = 0;

	__atomic_store_n(&bb.sh->stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < bb.nsubs; i++) {
		if (wait(&status) == -1)
			bb_die("wait");
		rc |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	return rc;
}

static int
bb_cmp(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Gather the subscribers' latencies and counts; prints the result line. */
static int
bb_report(uint64_t t0, uint64_t pub_cpu_us)
{
	struct bb_sub	*s;
	uint64_t	 cpu = pub_cpu_us, t_end = 0;
	size_t		 n = 0;
	double		 secs;
	int		 i;

	bb.lost = 0;
	for (i = 0; i < bb.nsubs; i++) {
		s = &bb.sh->subs[i];
		memmove(bb.lat + n, bb.lat + (size_t)i * bb.latcap,
		    s->nlat * sizeof(*bb.lat));
		n += s->nlat;
		bb.lost += s->lost;
		cpu += s->cpu_us;
		if (s->t_end > t_end)
			t_end = s->t_end;
	}
	if (n == 0 || t_end <= t0) {
		fprintf(stderr, "broker_bench: nothing measured\n");
		return 1;
	}
	qsort(bb.lat, n, sizeof(*bb.lat), bb_cmp);
	secs = (double)(t_end - t0) / 1e9;
	printf("%s %d %zu %.0f %.0f %.1f %.1f %" PRIu64 " %.3f\n",
	    bb.proto->name, bb.nsubs, n / (size_t)bb.nsubs,
	    (double)n / bb.nsubs / secs, (double)n / secs,
	    (double)bb.lat[n / 2] / 1e3, (double)bb.lat[n * 99 / 100] / 1e3,
	    bb.lost, (double)cpu / (double)n);
	return 0;
}

int
main(int argc, char **argv)
{
	struct bb_conn	 pub;
	char		 host[64], payload[BB_PAYLOAD], *colon;
	uint64_t	 window, rate, seq = 0, t0 = 0, deadline, now, slowest, due;
	uint64_t	 cpu0 = 0, cpu;
	size_t		 i;
	int		 port;

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
	port = atoi(colon + 1);
	micro_b64_init();
	bb.warm = BB_WARMUP;
	bb.total = BB_WARMUP + strtoull(argv[4], NULL, 10);
	window = strtoull(argv[6], NULL, 10);
	rate = strtoull(argv[7], NULL, 10);
	/* Paced sends wake when due, not up to 50 us later. */
	if (prctl(PR_SET_TIMERSLACK, 1UL) == -1 ||
	    (bb.wake = eventfd(0, EFD_NONBLOCK)) == -1)
		bb_die("eventfd");
	bb.sh = bb_shared_map(sizeof(*bb.sh));
	bb.latcap = bb.total;
	bb.lat = bb_shared_map((size_t)bb.nsubs * bb.latcap * sizeof(*bb.lat));
	for (i = 0; i < (size_t)bb.nsubs; i++)
		bb_spawn((int)i, host, port);
	memset(&pub, 0, sizeof(pub));
	bb_connect(&pub, host, port, 1);
	deadline = bb_now() + 10000000000ULL;
	while (!bb_all_ready(&pub))
		if (bb_now() > deadline) {
			errno = ETIMEDOUT;
			bb_die("subscribing");
		} else {
			bb_check_subscribers();
			bb_poll(&pub, -1, BB_WAIT_NS / 10);
		}
	deadline = bb_now() + strtoull(argv[5], NULL, 10) * 1000000000ULL;
	while ((slowest = bb_slowest()) < bb.total &&
	    (now = bb_now()) < deadline) {
		while (seq < bb.total && seq - slowest < window &&
		    (rate == 0 || now >= t0 + (seq - bb.warm) * 1000000000ULL /
		    rate || seq < bb.warm)) {
			if (seq == bb.warm) {
				t0 = now = bb_now();
				cpu0 = bb_cpu_us();
			}
			bb_payload(payload, seq++);
			bb.proto->frame(&pub, payload);
		}
		__atomic_store_n(&bb.sh->sent, seq, __ATOMIC_RELEASE);
		if (seq == bb.total || seq - slowest >= window)
			bb_wait_subscribers(&pub, slowest);
		else {
			/* Paced: sleep until the next message is due, exactly. */
			due = t0 + (seq - bb.warm) * 1000000000ULL / rate;
			now = bb_now();
			bb_poll(&pub, -1, due > now ? due - now : 0);
		}
	}
	cpu = bb_cpu_us() - cpu0;
	if (bb_reap() != 0) {
		fprintf(stderr, "broker_bench: a subscriber failed\n");
		return 1;
	}
	return bb_report(t0, cpu);
}
