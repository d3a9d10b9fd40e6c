#!/bin/sh
# Registry lookup + node selection: lock-free shm against a process-shared
# pthread_rwlock, same data, same run. Builds an optimized (not --enable-debug)
# tree out of the source directory, then runs the benchmark.
#   BUILD=dir          build directory (default /tmp/build-bench-registry)
#   BENCH_SECONDS=n    seconds per mode (default 4)
#   BENCH_ROUNDS=n     alternating slices per mode (default 8)
#   BENCH_READERS=n    reader processes (default 2)
#   BENCH_CHURN=n      writer updates per second (default 10000)
#   BENCH_KEYS=k       uniform (default) or zipf: which services are looked up
set -eu

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-/tmp/build-bench-registry}

mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$src/configure" --quiet
make -j2 bench/registry/shm_bench >/dev/null
echo "machine: $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exec ./bench/registry/shm_bench
