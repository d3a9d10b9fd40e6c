#!/bin/sh
# Install what the build needs, then build microd out of tree in _build/.
# Usage: scripts/build.sh [configure options...]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" "${MICROD_DEPS:-build}"
cd "$top"
if [ ! -x configure ] || [ -n "$(find configure.ac -newer configure)" ]; then
	./autogen.sh
fi
mkdir -p _build
cd _build
if [ ! -f Makefile ] || [ "$#" -gt 0 ]; then
	../configure "$@"
fi
make -j"$(nproc)"
