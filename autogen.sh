#!/bin/sh
# Regenerate configure and Makefile.in. Serialised with flock so parallel
# out-of-tree builds never run automake over each other.
set -e
cd "$(dirname "$0")"
mkdir -p m4
exec flock /tmp/microd-autogen.lock autoreconf -fi
