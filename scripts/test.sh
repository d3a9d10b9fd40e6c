#!/bin/bash
# Install everything, build, run the unit tests (make check) and the
# integration tests (pytest, Debian's python3), and print one closing line.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
MICROD_DEPS=test scripts/build.sh --enable-debug || exit 1
cd _build

make -j2 check >check.out 2>&1
check_rc=$?
grep -E '^(PASS|FAIL|ERROR|XPASS)' check.out
unit_pass=$(grep -cE '^PASS' check.out)
unit_fail=$(grep -cE '^(FAIL|ERROR|XPASS)' check.out)
# A test program that does not build runs nothing and prints no FAIL.
if [ "$check_rc" -ne 0 ] && [ "$unit_fail" -eq 0 ]; then
	tail -n 30 check.out
	echo "make check failed (exit $check_rc) with no test failing: see above"
	unit_fail=1
fi
if [ "$unit_fail" -gt 0 ]; then
	for log in $(grep -lE '^:test-result: (FAIL|ERROR)' $(find . -name '*.trs') 2>/dev/null); do
		cat "${log%.trs}.log"
	done
fi

export MICROD_BUILDDIR=$PWD MICROD_SRCDIR=$top
/usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml=pytest.xml \
	"$top/tests/integration" "$@"
rc=$?
read -r it_pass it_fail < <(/usr/bin/python3 - <<'PY'
import xml.etree.ElementTree as ET
try:
    r = ET.parse("pytest.xml").getroot()
    s = r if r.tag == "testsuite" else r.find("testsuite")
    t, f, e, k = (int(s.get(x, 0)) for x in ("tests", "failures", "errors", "skipped"))
    print(t - f - e - k, f + e)
except Exception:
    print(0, 1)
PY
)
# pytest exits 5 when it collected nothing: that is a failure here.
[ "$rc" -eq 0 ] || [ "$it_fail" -gt 0 ] || it_fail=1
echo "total: $((unit_pass + it_pass)) passed, $((unit_fail + it_fail)) failed"
[ "$unit_fail" -eq 0 ] && [ "$rc" -eq 0 ]
