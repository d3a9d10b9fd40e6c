#!/bin/sh
# Gateway benchmark (bench/RESULTS.md, "Gateway"): wrk with keep-alive
# against the same mucp greeter backend
#   a) directly,
#   b) through microd's proxy handler (one api worker),
#   c) through nginx (one worker, upstream keep-alive),
#   d) as /rpc calls through microd,
# in alternating rounds, then req/s, p99 and the server's CPU time per
# request (the backend's for a, the proxy worker's for b, c, d) per target,
# and the ratios b/c and d/c (targets: b/c >= 1.0 with p99 <= 1.2x nginx's;
# d/c >= 0.8).
#
# Builds what it runs, optimized, in BENCH_BUILDDIR (default
# /tmp/build-bench-gw); needs wrk and nginx (scripts/install-deps.sh bench).
#
# BENCH_ROUNDS (5), BENCH_SECONDS per run (5), BENCH_CONNS (32).
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${BENCH_BUILDDIR:-/tmp/build-bench-gw}
ROUNDS=${BENCH_ROUNDS:-5}
SECS=${BENCH_SECONDS:-5}
CONNS=${BENCH_CONNS:-32}
NGINX=${NGINX:-/usr/sbin/nginx}
DIR=$(mktemp -d /tmp/bench-gateway.XXXXXX)
PIDS=""

mkdir -p "$B"
[ -f "$B/Makefile" ] || (cd "$B" && "$SRC/configure" >/dev/null)
make -C "$B" -j2 microd/microd examples/greeter/greeter-srv >/dev/null

. "$(dirname "$0")/../lib.sh"



API=$(freeport); SIDECAR=$(freeport); NGX=$(freeport)
cat > "$DIR/microd.conf" <<CONF
[microd]
socket = $DIR/microd.sock
state_dir = $DIR/state
log_level = warn
[api]
listen = 127.0.0.1:$API
workers = 1
handler = proxy
namespace = go.micro.srv
[sidecar]
listen = 127.0.0.1:$SIDECAR
[web]
workers = 0
[broker]
workers = 0
CONF
"$B/microd/microd" -c "$DIR/microd.conf" 2>"$DIR/microd.log" &
MASTER=$!
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$SIDECAR/healthz"

"$B/examples/greeter/greeter-srv" -s "127.0.0.1:$SIDECAR" >"$DIR/srv.out" 2>&1 &
SRV=$!
PIDS="$PIDS $!"
for _ in $(seq 100); do
	grep -q "listening on" "$DIR/srv.out" && break
	sleep 0.1
done
BACKEND=$(sed -n 's/^listening on //p' "$DIR/srv.out")
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$SIDECAR/registry?service=go.micro.srv.greeter" \
	    >/dev/null && break
	sleep 0.1
done

cat > "$DIR/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log;
events { worker_connections 4096; }
http {
	access_log off;
	upstream backend { server $BACKEND; keepalive 64; }
	server {
		listen 127.0.0.1:$NGX;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
CONF
"$NGINX" -c "$DIR/nginx.conf" -p "$DIR" &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$NGX/"

API_WORKER=$(pgrep -x microd-api -P "$MASTER")
NGX_WORKER=$(pgrep -f "nginx: worker" -P "$(cat "$DIR/nginx.pid")")

HELLO='{"name":"John"}'
RPC='{"service":"go.micro.srv.greeter","method":"Say.Hello","request":{"name":"John"}}'

# run NAME URL BODY ENDPOINT PID: one wrk run, appends "NAME req/s p99_ms
# cpu_us_per_request" (the CPU time PID, the server measured, used).
run() {
	c0=$(cpu "$5")
	out=$(WRK_BODY=$3 WRK_ENDPOINT=$4 wrk -t1 -c"$CONNS" -d"${SECS}s" \
	    --latency -s "$SRC/bench/gateway/post.lua" "$2")
	c1=$(cpu "$5")
	echo "$out" | grep -q "Non-2xx" && { echo "$1: errors" >&2; \
	    echo "$out" >&2; exit 1; }
	rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
	p99=$(echo "$out" | awk '$1 == "99%" { v = $2;
	    if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
	    else if (v ~ /ms$/) sub(/ms$/, "", v);
	    else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
	    print v }')
	n=$(echo "$out" | awk '/requests in/ { print $1 }')
	us=$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
	    'BEGIN { print t * 1e6 / hz / n }')
	echo "$1 $rps $p99 $us" >> "$DIR/samples"
}

for r in $(seq "$ROUNDS"); do
	run a "http://$BACKEND/" "$HELLO" Say.Hello "$SRV"
	run b "http://127.0.0.1:$API/greeter/say/hello" "$HELLO" Say.Hello \
	    "$API_WORKER"
	run c "http://127.0.0.1:$NGX/greeter/say/hello" "$HELLO" Say.Hello \
	    "$NGX_WORKER"
	run d "http://127.0.0.1:$API/rpc" "$RPC" "" "$API_WORKER"
	echo "round $r done" >&2
done

# Medians over the rounds, then the ratios against nginx.
awk '
function median(a, n,   i, j, t) {
	for (i = 1; i <= n; i++)
		for (j = i + 1; j <= n; j++)
			if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ n[$1]++; rps[$1, n[$1]] = $2; p99[$1, n[$1]] = $3; us[$1, n[$1]] = $4 }
END {
	split("a b c d", order, " ")
	names["a"] = "backend direct"; names["b"] = "microd proxy"
	names["c"] = "nginx proxy"; names["d"] = "microd /rpc"
	for (k = 1; k <= 4; k++) {
		t = order[k]
		for (i = 1; i <= n[t]; i++) {
			x[i] = rps[t, i]; y[i] = p99[t, i]; z[i] = us[t, i]
		}
		mr[t] = median(x, n[t]); mp[t] = median(y, n[t])
		mu[t] = median(z, n[t])
		printf "%-15s %10.0f req/s   p99 %7.2f ms   cpu %6.1f us/req\n",
		    names[t], mr[t], mp[t], mu[t]
	}
	printf "b/c req/s %.2f (target >= 1.0), p99 b/c %.2f (target <= 1.2)\n",
	    mr["b"] / mr["c"], mp["b"] / mp["c"]
	printf "d/c req/s %.2f (target >= 0.8)\n", mr["d"] / mr["c"]
	printf "server CPU per request, b/c %.2f, d/c %.2f (lower is cheaper)\n",
	    mu["b"] / mu["c"], mu["d"] / mu["c"]
}' "$DIR/samples"
