#!/bin/sh
# Install what the build needs, then build microd out of tree in _build/.
# Usage: scripts/build.sh [configure options...]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" "${MICROD_DEPS:-build}"
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || ./autogen.sh
mkdir -p _build
cd _build
if [ ! -f Makefile ] || [ "$#" -gt 0 ]; then
	../configure "$@"
fi
make -j"$(nproc)"
