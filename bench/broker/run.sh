#!/bin/sh
# Broker benchmark (bench/RESULTS.md, "Broker"): 128-byte messages on one
# topic, 1 publisher -> 1 subscriber and 1 -> 10, against
#   micro  microd's broker (one broker worker, websockets, builtin backend),
#   redis  redis-server pub/sub,
#   nats   nats-server,
# all on loopback, with the same client (broker_bench.c: a process per
# subscriber and one publisher, raw protocols), in alternating rounds. Two loads per case:
#   sat    the publisher keeps BENCH_WINDOW messages in flight: msgs/s
#          is the sustained rate, p99 includes the window's queueing;
#   paced  BENCH_RATE msgs/s: p99 delivery latency below saturation.
# Prints one table, medians over rounds, with the ratios micro/redis, and
# each server's and the clients' CPU time (utime + stime) per delivery.
#
# Needs an optimized build (BENCH_BUILDDIR, default /tmp/build-bench-broker:
# configure without --enable-debug, make microd/microd
# bench/broker/broker_bench), redis-server and nats-server.
#
# BENCH_ROUNDS (3), BENCH_MESSAGES per run (200000), BENCH_SECONDS cap per
# run (10), BENCH_WINDOW (256), BENCH_RATE (20000).
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${BENCH_BUILDDIR:-/tmp/build-bench-broker}
ROUNDS=${BENCH_ROUNDS:-3}
MSGS=${BENCH_MESSAGES:-200000}
SECS=${BENCH_SECONDS:-10}
WINDOW=${BENCH_WINDOW:-256}
RATE=${BENCH_RATE:-20000}
BENCH=$B/bench/broker/broker_bench
DIR=$(mktemp -d /tmp/bench-broker.XXXXXX)
PIDS=""

. "$(dirname "$0")/../lib.sh"

for f in "$B/microd/microd" "$BENCH"; do
	[ -x "$f" ] || { echo "missing $f (see the header of $0)" >&2; exit 1; }
done
for p in redis-server nats-server; do
	command -v $p >/dev/null || { echo "missing $p" >&2; exit 1; }
done



MICRO=$(freeport); REDIS=$(freeport); NATS=$(freeport)
cat > "$DIR/microd.conf" <<CONF
[microd]
socket = $DIR/microd.sock
state_dir = $DIR/state
log_level = warn
[api]
workers = 0
[web]
workers = 0
[sidecar]
workers = 0
[broker]
listen = 127.0.0.1:$MICRO
workers = 1
CONF
"$B/microd/microd" -c "$DIR/microd.conf" 2>"$DIR/microd.log" &
MASTER=$!
PIDS="$PIDS $!"
redis-server --bind 127.0.0.1 --port "$REDIS" --save '' --appendonly no \
    >"$DIR/redis.log" 2>&1 &
REDIS_PID=$!
PIDS="$PIDS $!"
nats-server -a 127.0.0.1 -p "$NATS" >"$DIR/nats.log" 2>&1 &
NATS_PID=$!
PIDS="$PIDS $!"
for p in $MICRO $REDIS $NATS; do wait_port "$p"; done
BROKER_PID=$(pgrep -x microd-broker -P "$MASTER")

# The server process of a peer.
server_pid() {
	case $1 in
	micro)	echo "$BROKER_PID" ;;
	redis)	echo "$REDIS_PID" ;;
	nats)	echo "$NATS_PID" ;;
	esac
}
# measure LOAD NAME PORT SUBS COUNT RATE: one client run, appends its line
# and the server's CPU time per delivery in microseconds.
measure() {
	pid=$(server_pid "$2")
	c0=$(cpu "$pid")
	out=$(timeout $((SECS + 20)) "$BENCH" "$2" "127.0.0.1:$3" "$4" "$5" \
	    "$SECS" "$WINDOW" "$6")
	c1=$(cpu "$pid")
	echo "$1 $out" | awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
	    '{ print $0, t * 1e6 / hz / ($4 * $3) }' >> "$DIR/samples"
}

echo "load before: $(uptime)"
for r in $(seq "$ROUNDS"); do
	for subs in 1 10; do
		for target in micro:$MICRO redis:$REDIS nats:$NATS; do
			name=${target%%:*}
			port=${target#*:}
			measure sat "$name" "$port" $subs "$MSGS" 0
			measure paced "$name" "$port" $subs $((RATE * 3)) \
			    "$RATE"
		done
	done
	echo "round $r/$ROUNDS done" >&2
done
echo "load after:  $(uptime)"

# samples: load proto subs messages msgs/s deliveries/s p50_us p99_us lost
# client_cpu_us_per_delivery server_cpu_us_per_delivery
awk -v window="$WINDOW" -v rate="$RATE" '
function median(key,   n, i, j, t, a) {
	n = split(vals[key], a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return a[int((n + 1) / 2)]
}
{
	k = $1 " " $2 " " $3
	vals[k " mps"] = vals[k " mps"] " " $5
	vals[k " p99"] = vals[k " p99"] " " $8
	vals[k " cli"] = vals[k " cli"] " " $10
	vals[k " cpu"] = vals[k " cpu"] " " $11
	lost[k] += $9
}
END {
	printf "%-6s %-5s %-5s %12s %10s %6s %10s %10s\n", "load", "subs", \
	    "peer", "msgs/s", "p99_us", "lost", "cpu_us/d", "cli_us/d"
	split("sat paced", loads, " ")
	split("1 10", subs, " ")
	split("micro redis nats", peers, " ")
	for (l = 1; l <= 2; l++) for (s = 1; s <= 2; s++) {
		for (p = 1; p <= 3; p++) {
			k = loads[l] " " peers[p] " " subs[s]
			m[p] = median(k " mps"); q[p] = median(k " p99")
			c[p] = median(k " cpu"); u[p] = median(k " cli")
			printf "%-6s %-5s %-5s %12.0f %10.1f %6d %10.3f %10.3f\n", \
			    loads[l], subs[s], peers[p], m[p], q[p], lost[k], c[p], \
			    u[p]
		}
		printf "%-6s %-5s %-5s %12.2f %10.2f %6s %10.2f %10.2f\n", \
		    loads[l], subs[s], "m/r", m[1] / m[2], q[1] / q[2], "", \
		    c[1] / c[2], u[1] / u[2]
	}
	printf "(sat: window %d in flight; paced: %d msgs/s; medians over rounds)\n", \
	    window, rate
}' "$DIR/samples"
