# plugins: the etcd and Consul registry backends and the NATS broker
# backend, shared objects loaded by lib/plugin.c (for registry/backend.c
# and broker/backend.c) from $(pkglibdir) (doc/plugins.md). They are
# built as programs linked with -shared so no libtool is needed; their
# code is compiled position-independent with only the ABI symbol exported.
# Machine code: "exec" in the directory's name has `make install-exec`,
# not install-data, install them.

pluginexecdir = $(pkglibdir)
pluginexec_PROGRAMS = plugins/registry-etcd.so

PLUGIN_CFLAGS = $(AM_CFLAGS) -fPIC -fvisibility=hidden
PLUGIN_SHARED = -shared $(PLUGIN_DEFS)
PLUGIN_LIBS = $(LIBEVENT_LIBS) $(JANSSON_LIBS) $(LIBCURL_LIBS)

# What every plugin shares, compiled -fPIC (libmicro.a is not).
noinst_LIBRARIES += plugins/libplugin.a
plugins_libplugin_a_CFLAGS = $(PLUGIN_CFLAGS)
plugins_libplugin_a_SOURCES = lib/log.c lib/util.c lib/utf8.c lib/svc.c \
	plugins/curlev.c plugins/curlev.h

ETCD_PROTO_SOURCES = plugins/etcd-proto.c plugins/etcd-proto.h

plugins_registry_etcd_so_SOURCES = plugins/registry-etcd.c plugins/etcd.h \
	plugins/etcd-local.c plugins/etcd-client.c plugins/etcd-client.h \
	$(ETCD_PROTO_SOURCES)
plugins_registry_etcd_so_CFLAGS = $(PLUGIN_CFLAGS)
plugins_registry_etcd_so_LDFLAGS = $(PLUGIN_SHARED)
plugins_registry_etcd_so_LDADD = plugins/libplugin.a $(PLUGIN_LIBS)

EXTRA_DIST += doc/plugins.md

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_etcd_stream
TESTS += tests/unit/test_etcd_stream
tests_unit_test_etcd_stream_SOURCES = tests/unit/test_etcd_stream.c \
	$(ETCD_PROTO_SOURCES)
tests_unit_test_etcd_stream_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_etcd_stream_LDADD = $(UNIT_LIBS)
endif

CONSUL_CODEC_SOURCES = plugins/consul-codec.c plugins/consul-codec.h

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_consul_codec
TESTS += tests/unit/test_consul_codec
tests_unit_test_consul_codec_SOURCES = tests/unit/test_consul_codec.c \
	$(CONSUL_CODEC_SOURCES)
tests_unit_test_consul_codec_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_consul_codec_LDADD = $(UNIT_LIBS)
endif

pluginexec_PROGRAMS += plugins/registry-consul.so
plugins_registry_consul_so_SOURCES = plugins/registry-consul.c \
	plugins/consul.h plugins/consul-watch.c plugins/consul-local.c \
	$(CONSUL_CODEC_SOURCES)
plugins_registry_consul_so_CFLAGS = $(PLUGIN_CFLAGS)
plugins_registry_consul_so_LDFLAGS = $(PLUGIN_SHARED)
plugins_registry_consul_so_LDADD = plugins/libplugin.a $(PLUGIN_LIBS) \
	$(ZLIB_LIBS)

# Only this plugin links libnats (and libevent_pthreads): microd does not.
pluginexec_PROGRAMS += plugins/broker-nats.so
plugins_broker_nats_so_SOURCES = plugins/broker-nats.c
plugins_broker_nats_so_CFLAGS = $(PLUGIN_CFLAGS) $(LIBNATS_CFLAGS)
plugins_broker_nats_so_LDFLAGS = $(PLUGIN_SHARED)
plugins_broker_nats_so_LDADD = plugins/libplugin.a $(LIBEVENT_LIBS) \
	$(JANSSON_LIBS) $(LIBNATS_LIBS)

# Stand-in plugins for the loader's tests (tests/unit/test_plugin.c and
# tests/integration/test_broker_nats.py, through MICROD_PLUGIN_DIR): one
# of each, a broker backend speaking another ABI under the NATS
# plugin's name, the same for the etcd one, and a file without the symbol.
STUB_SOURCES = tests/unit/plugin_stub.c
STUB_ABI_NEXT = -DSTUB_ABI_BUMP=1
check_PROGRAMS += tests/unit/plugins-ok/broker-stub.so \
	tests/unit/plugins-ok/broker-nosym.so \
	tests/unit/plugins-abi/broker-nats.so \
	tests/unit/plugins-abi/registry-etcd.so
tests_unit_plugins_ok_broker_stub_so_SOURCES = $(STUB_SOURCES)
tests_unit_plugins_ok_broker_stub_so_CFLAGS = $(PLUGIN_CFLAGS)
tests_unit_plugins_ok_broker_stub_so_LDFLAGS = $(PLUGIN_SHARED)
tests_unit_plugins_ok_broker_nosym_so_SOURCES = $(STUB_SOURCES)
tests_unit_plugins_ok_broker_nosym_so_CFLAGS = $(PLUGIN_CFLAGS) \
	-DSTUB_NOSYM=1
tests_unit_plugins_ok_broker_nosym_so_LDFLAGS = $(PLUGIN_SHARED)
tests_unit_plugins_abi_broker_nats_so_SOURCES = $(STUB_SOURCES)
tests_unit_plugins_abi_broker_nats_so_CFLAGS = $(PLUGIN_CFLAGS) \
	$(STUB_ABI_NEXT)
tests_unit_plugins_abi_broker_nats_so_LDFLAGS = $(PLUGIN_SHARED)
tests_unit_plugins_abi_registry_etcd_so_SOURCES = $(STUB_SOURCES)
tests_unit_plugins_abi_registry_etcd_so_CFLAGS = $(PLUGIN_CFLAGS) \
	$(STUB_ABI_NEXT) -DSTUB_REGISTRY=1
tests_unit_plugins_abi_registry_etcd_so_LDFLAGS = $(PLUGIN_SHARED)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_plugin
TESTS += tests/unit/test_plugin
tests_unit_test_plugin_CFLAGS = $(UNIT_CFLAGS) \
	-DSTUB_DIR='"$(abs_builddir)/tests/unit"'
tests_unit_test_plugin_LDADD = $(UNIT_LIBS)
endif
