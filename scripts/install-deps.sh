#!/bin/sh
# Install every Debian 12 package microd needs to build, run and test.
# Usage: scripts/install-deps.sh [build|quickstart|test|bench]
#   build: compile; quickstart: build + what scripts/quickstart.sh and the
#   README's first command use (curl); test (default): build + the test
#   suite's peers; bench: test + the benchmarks' peers (nginx, wrk, redis).
set -eu

BUILD_PKGS="build-essential autoconf automake libtool pkgconf \
libevent-dev libmsgpack-dev libcurl4-openssl-dev libsqlite3-dev \
libncurses-dev libjansson-dev libinih-dev zlib1g-dev \
libhttp-parser-dev libsystemd-dev libcmocka-dev libnats-dev"

QUICKSTART_PKGS="curl"

TEST_PKGS="python3 python3-pytest python3-websockets curl tmux \
etcd-server etcd-client systemd chromium nats-server strace iproute2"

BENCH_PKGS="wrk nginx-light redis-server"

what=${1:-test}
case $what in
build)	pkgs=$BUILD_PKGS ;;
quickstart) pkgs="$BUILD_PKGS $QUICKSTART_PKGS" ;;
test)	pkgs="$BUILD_PKGS $TEST_PKGS" ;;
bench)	pkgs="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS" ;;
*)	echo "usage: $0 [build|quickstart|test|bench]" >&2; exit 2 ;;
esac

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
