# fuzz: one harness per parser of untrusted input (tests/fuzz/README.md).
# `make check` runs each against its seed corpus and a bounded number of
# deterministic mutations (tests/fuzz/driver.c); `make fuzz` builds real
# libFuzzer binaries with clang in fuzz-build/.

FUZZ_TARGETS = apireq broker_ring codec conf consul_codec ctlproto \
	etcd_proto http_client http_server jscan mpjson route svc ws
FUZZ_COMMON = tests/fuzz/fuzz.h tests/fuzz/fuzz-loop.c
FUZZ_DRIVER = tests/fuzz/driver.c $(FUZZ_COMMON)

FUZZ_TESTS = tests/fuzz/fuzz_apireq tests/fuzz/fuzz_broker_ring \
	tests/fuzz/fuzz_codec tests/fuzz/fuzz_conf \
	tests/fuzz/fuzz_consul_codec tests/fuzz/fuzz_ctlproto \
	tests/fuzz/fuzz_etcd_proto \
	tests/fuzz/fuzz_http_client tests/fuzz/fuzz_http_server \
	tests/fuzz/fuzz_jscan tests/fuzz/fuzz_mpjson tests/fuzz/fuzz_route \
	tests/fuzz/fuzz_svc tests/fuzz/fuzz_ws
check_PROGRAMS += $(FUZZ_TESTS)
TESTS += $(FUZZ_TESTS)
EXTRA_DIST += tests/fuzz/README.md tests/fuzz/corpus

tests_fuzz_fuzz_apireq_SOURCES = tests/fuzz/fuzz_apireq.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_apireq_LDADD = $(MICRO_LIBS)
# ring.c is compiled into the harness (for the segment's layout); the
# plugins' parsers are linked from their sources, as the plugins are.
tests_fuzz_fuzz_broker_ring_SOURCES = tests/fuzz/fuzz_broker_ring.c \
	$(FUZZ_DRIVER)
tests_fuzz_fuzz_broker_ring_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_codec_SOURCES = tests/fuzz/fuzz_codec.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_codec_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_conf_SOURCES = tests/fuzz/fuzz_conf.c microd/conf.c \
	$(FUZZ_DRIVER)
tests_fuzz_fuzz_conf_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_consul_codec_SOURCES = tests/fuzz/fuzz_consul_codec.c \
	$(CONSUL_CODEC_SOURCES) $(FUZZ_DRIVER)
tests_fuzz_fuzz_consul_codec_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_ctlproto_SOURCES = tests/fuzz/fuzz_ctlproto.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_ctlproto_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_etcd_proto_SOURCES = tests/fuzz/fuzz_etcd_proto.c \
	$(ETCD_PROTO_SOURCES) $(FUZZ_DRIVER)
tests_fuzz_fuzz_etcd_proto_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_http_client_SOURCES = tests/fuzz/fuzz_http_client.c \
	$(FUZZ_DRIVER)
tests_fuzz_fuzz_http_client_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_http_server_SOURCES = tests/fuzz/fuzz_http_server.c \
	$(FUZZ_DRIVER)
tests_fuzz_fuzz_http_server_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_jscan_SOURCES = tests/fuzz/fuzz_jscan.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_jscan_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_mpjson_SOURCES = tests/fuzz/fuzz_mpjson.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_mpjson_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_route_SOURCES = tests/fuzz/fuzz_route.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_route_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_svc_SOURCES = tests/fuzz/fuzz_svc.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_svc_LDADD = $(MICRO_LIBS)
tests_fuzz_fuzz_ws_SOURCES = tests/fuzz/fuzz_ws.c $(FUZZ_DRIVER)
tests_fuzz_fuzz_ws_LDADD = $(MICRO_LIBS)

# --enable-fuzzing (CC=clang): `make` also links the same harnesses as
# libFuzzer binaries, tests/fuzz/libfuzzer_NAME, the whole tree being
# instrumented for coverage so that libFuzzer sees the library code it
# steers. `make fuzz` does that in fuzz-build/ from any build directory.
if FUZZING
all-local: fuzz-libfuzzer
endif

fuzz:
	$(MKDIR_P) fuzz-build
	cd fuzz-build && { test -f Makefile || \
		$(abs_top_srcdir)/configure --quiet CC=clang \
		--enable-fuzzing; } && $(MAKE)

fuzz-libfuzzer: libmicro.a microd/conf.o tests/fuzz/fuzz-loop.o
	@for t in $(FUZZ_TARGETS); do \
		echo "  FUZZ     tests/fuzz/libfuzzer_$$t"; \
		case $$t in \
		conf) extra=microd/conf.o;; \
		consul_codec) extra=$(srcdir)/plugins/consul-codec.c;; \
		etcd_proto) extra=$(srcdir)/plugins/etcd-proto.c;; \
		*) extra=;; \
		esac; \
		$(COMPILE) $(LDFLAGS) -fsanitize=fuzzer \
			-o tests/fuzz/libfuzzer_$$t \
			$(srcdir)/tests/fuzz/fuzz_$$t.c tests/fuzz/fuzz-loop.o \
			$$extra $(MICRO_LIBS) $(LIBS) || exit 1; \
	done

.PHONY: fuzz fuzz-libfuzzer
