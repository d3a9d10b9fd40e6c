# rpc: the RPC client (shared by api, sidecar, web and microctl), the api
# role and the sidecar's RPC and app health check (doc/rpc.md).

libmicro_a_SOURCES += rpc/route.c rpc/route.h rpc/codec.c rpc/codec.h \
	rpc/apireq.c rpc/apireq.h rpc/select.c rpc/select.h \
	rpc/client.c rpc/client.h rpc/gateway.c rpc/gateway.h \
	rpc/cors.c rpc/cors.h rpc/proxy.c rpc/proxy.h lib/jscan.c lib/jscan.h

microd_microd_SOURCES += workers/api.c \
	workers/sidecar-rpc.c workers/sidecar-rpc.h \
	workers/sidecar-health.c workers/sidecar-health.h

EXTRA_DIST += doc/rpc.md

# The greeter example services (examples/greeter/README.md); built with the
# tests, which run them against a real microd.
check_PROGRAMS += examples/greeter/greeter-srv examples/greeter/greeter-api
examples_greeter_greeter_srv_SOURCES = examples/greeter/srv.c \
	examples/greeter/greeter.c examples/greeter/greeter.h
examples_greeter_greeter_srv_LDADD = $(MICRO_LIBS)
examples_greeter_greeter_api_SOURCES = examples/greeter/api.c \
	examples/greeter/greeter.c examples/greeter/greeter.h
examples_greeter_greeter_api_LDADD = $(MICRO_LIBS)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_route tests/unit/test_codec \
	tests/unit/test_apireq tests/unit/test_select tests/unit/test_jscan
TESTS += tests/unit/test_route tests/unit/test_codec \
	tests/unit/test_apireq tests/unit/test_select tests/unit/test_jscan

tests_unit_test_route_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_route_LDADD = $(UNIT_LIBS)
tests_unit_test_codec_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_codec_LDADD = $(UNIT_LIBS)
tests_unit_test_apireq_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_apireq_LDADD = $(UNIT_LIBS)
tests_unit_test_select_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_select_LDADD = $(UNIT_LIBS)
tests_unit_test_jscan_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_jscan_LDADD = $(UNIT_LIBS)
endif
