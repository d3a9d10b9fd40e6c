#!/bin/sh
# Install, build, and run microd on the embedded default (local sqlite
# registry, built-in broker) with the greeter example, in the background:
#
#   scripts/quickstart.sh          start (waits until the greeter answers)
#   scripts/quickstart.sh stop     stop everything it started
#
# State, socket, config and logs live in ./run/. Ports: api 8080,
# sidecar 8081, web 8082, broker 8083 on 127.0.0.1.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
run=$top/run
build=$top/_build

stop() {
	for p in greeter-api greeter-srv microd; do
		[ -f "$run/$p.pid" ] || continue
		kill "$(cat "$run/$p.pid")" 2>/dev/null || true
		rm -f "$run/$p.pid"
	done
}

# A failure after something started stops it again (the EXIT trap); the
# logs stay in $run/.
fail() {
	echo "quickstart: $1 (logs in $run/); the end of $2.log:" >&2
	tail -n 20 "$run/$2.log" >&2 || true
	exit 1
}

if [ "${1:-}" = stop ]; then
	stop
	echo "stopped"
	exit 0
fi

# curl polls the greeter below and is what the README asks it with.
MICROD_DEPS=quickstart "$top/scripts/build.sh"
make -C "$build" -j"$(nproc)" examples/greeter/greeter-srv \
	examples/greeter/greeter-api >/dev/null
stop
mkdir -p "$run"
trap stop EXIT
trap 'exit 130' INT TERM
cat > "$run/microd.conf" <<CONF
[microd]
socket = $run/microd.sock
state_dir = $run/state
CONF

# Each program runs in its own session so that closing this shell leaves
# them running; "stop" ends them.
setsid "$build/microd/microd" -c "$run/microd.conf" >"$run/microd.log" 2>&1 &
echo $! > "$run/microd.pid"
i=0
until "$build/cli/microctl" -s "$run/microd.sock" status >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "microd did not start" microd
	sleep 0.1
done
for p in greeter-srv greeter-api; do
	setsid "$build/examples/greeter/$p" >"$run/$p.log" 2>&1 &
	echo $! > "$run/$p.pid"
done
i=0
until curl -sf 'http://127.0.0.1:8080/greeter/say/hello?name=John' \
    >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 100 ] || fail "the greeter does not answer" greeter-api
	sleep 0.1
done
trap - EXIT INT TERM
cat <<MSG
microd is running with the greeter example (logs in $run/):

    curl 'http://127.0.0.1:8080/greeter/say/hello?name=John'
    $build/cli/microctl -s $run/microd.sock services
    dashboard: http://127.0.0.1:8082/

Stop it with: scripts/quickstart.sh stop
MSG
