# Shared by the bench/*/run.sh scripts (sourced): a private temp dir,
# processes stopped on exit, free loopback ports, readiness polls.
# Set DIR (mktemp -d) and PIDS="" before sourcing.

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {	# PORT: poll until it accepts, 10 s at most
	for _ in $(seq 100); do
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" \
		    2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}

wait_http() {	# URL: poll until it answers (any status), 10 s at most
	for _ in $(seq 100); do
		curl -s -o /dev/null "$1" && return 0
		sleep 0.1
	done
	echo "no answer from $1" >&2
	exit 1
}

cpu() {	# PID: clock ticks (user + system) the process has used so far
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}
