#!/bin/sh
# Every benchmark, one after the other, each against its peer in the same
# run (bench/RESULTS.md says what each measures and keeps the figures).
# Installs the peers (nginx, wrk, redis, nats-server) first. Run it on a
# quiet machine: the figures are ratios, but two shared cores skew them.
#   bench/run.sh [registry|gateway|broker|sync|process ...]   (default: all)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" bench
"$top/scripts/build.sh" >/dev/null
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for b in ${*:-registry gateway broker sync process}; do
	echo "== $b"
	case $b in
	process|sync) /usr/bin/python3 "$top/bench/$b/run.py" "$top/_build" ;;
	*) sh "$top/bench/$b/run.sh" ;;
	esac
done
