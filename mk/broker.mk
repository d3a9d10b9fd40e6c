# broker: websockets (lib/ws.c), the shared-memory broker (broker/), the
# loading of its backend plugin (broker-nats.so: mk/plugins.mk), its role,
# microctl publish/subscribe. See doc/broker.md.

libmicro_a_SOURCES += lib/sha1.c lib/sha1.h lib/base64.c lib/base64.h \
	lib/ws.c lib/ws.h lib/ws-frame.c lib/ws-frame.h \
	lib/ws-handshake.c lib/ws-int.h lib/ws-out.c lib/ws-out.h \
	broker/ring.c broker/ring.h broker/broker.c broker/broker.h \
	broker/session.c broker/backend.c broker/backend.h

cli_microctl_SOURCES += cli/cmd-broker.c cli/cmd-broker.h \
	cli/cmd-publish.c cli/cmd-subscribe.c

# Built by `make bench-programs`, run by bench/broker/run.sh (not a test).
EXTRA_PROGRAMS += bench/broker/broker_bench
bench_targets += bench/broker/broker_bench

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_ws tests/unit/test_ws_limits \
	tests/unit/test_broker
TESTS += tests/unit/test_ws tests/unit/test_ws_limits tests/unit/test_broker
tests_unit_test_ws_SOURCES = tests/unit/test_ws.c \
	tests/unit/http_test.c tests/unit/http_test.h
tests_unit_test_ws_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ws_LDADD = $(UNIT_LIBS)
tests_unit_test_ws_limits_SOURCES = tests/unit/test_ws_limits.c \
	tests/unit/http_test.c tests/unit/http_test.h
tests_unit_test_ws_limits_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ws_limits_LDADD = $(UNIT_LIBS)
tests_unit_test_broker_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_broker_LDADD = $(UNIT_LIBS)
endif

# ring.c against stray bytes: compiled into the test (ring.c's layout).
if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_ring
TESTS += tests/unit/test_ring
tests_unit_test_ring_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ring_LDADD = $(UNIT_LIBS)
endif
