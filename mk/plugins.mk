# plugins: the etcd and Consul registry backends, shared objects loaded by
# registry/backend.c from $(pkglibdir) (doc/plugins.md). They are built as
# programs linked with -shared so no libtool is needed; their code is
# compiled position-independent with only the ABI symbol exported.

plugindir = $(pkglibdir)
plugin_PROGRAMS = plugins/registry-etcd.so

PLUGIN_CFLAGS = $(AM_CFLAGS) -fPIC -fvisibility=hidden
PLUGIN_SHARED = -shared -Wl,-z,defs -Wl,--no-undefined
PLUGIN_LIBS = $(LIBEVENT_LIBS) $(JANSSON_LIBS) $(LIBCURL_LIBS)

# What every plugin shares, compiled -fPIC (libmicro.a is not).
noinst_LIBRARIES += plugins/libplugin.a
plugins_libplugin_a_CFLAGS = $(PLUGIN_CFLAGS)
plugins_libplugin_a_SOURCES = lib/log.c lib/util.c \
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

plugin_PROGRAMS += plugins/registry-consul.so
plugins_registry_consul_so_SOURCES = plugins/registry-consul.c \
	plugins/consul.h plugins/consul-watch.c plugins/consul-local.c \
	$(CONSUL_CODEC_SOURCES)
plugins_registry_consul_so_CFLAGS = $(PLUGIN_CFLAGS)
plugins_registry_consul_so_LDFLAGS = $(PLUGIN_SHARED)
plugins_registry_consul_so_LDADD = plugins/libplugin.a $(PLUGIN_LIBS) \
	$(ZLIB_LIBS)
