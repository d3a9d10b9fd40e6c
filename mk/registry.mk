# registry: the Service model (shared), the registry worker and its core,
# sqlite store and backends (doc/registry.md).

libmicro_a_SOURCES += lib/svc.c lib/svc.h

REGISTRY_CORE_SOURCES = \
	registry/core.c registry/core.h \
	registry/store.c registry/store.h registry/store-file.c \
	registry/store-file.h \
	registry/backend.c registry/backend.h \
	registry/backend-local.c

microd_microd_SOURCES += workers/registry.c \
	$(REGISTRY_CORE_SOURCES)

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_svc tests/unit/test_store \
	tests/unit/test_registry_core
TESTS += tests/unit/test_svc tests/unit/test_store \
	tests/unit/test_registry_core

tests_unit_test_svc_SOURCES = tests/unit/test_svc.c
tests_unit_test_svc_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_svc_LDADD = $(UNIT_LIBS)

tests_unit_test_store_SOURCES = tests/unit/test_store.c \
	tests/unit/testdir.c tests/unit/testdir.h \
	registry/store.c registry/store.h registry/store-file.c \
	registry/store-file.h
tests_unit_test_store_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_store_LDADD = $(UNIT_LIBS)

tests_unit_test_registry_core_SOURCES = tests/unit/test_registry_core.c \
	tests/unit/testdir.c tests/unit/testdir.h \
	$(REGISTRY_CORE_SOURCES)
tests_unit_test_registry_core_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_registry_core_LDADD = $(UNIT_LIBS)
endif
