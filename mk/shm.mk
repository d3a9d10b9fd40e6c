# shm: the shared-memory segment and the lock-free registry (doc/shm-layout.md)
libmicro_a_SOURCES += shm/shm.h shm/registry.h shm/layout.h shm/internal.h \
	shm/shm.c shm/slot.c shm/epoch.c shm/record.c shm/index.c \
	shm/arena.c shm/writer.c shm/reader.c \
	shm/svcstats.h shm/svcstats.c \
	shm/nodehealth.h shm/nodehealth.c \
	shm/logring.h shm/logring.c \
	shm/anon.h shm/anon.c

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_shm
TESTS += tests/unit/test_shm
tests_unit_test_shm_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_shm_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_svcstats
TESTS += tests/unit/test_svcstats
tests_unit_test_svcstats_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_svcstats_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_nodehealth
TESTS += tests/unit/test_nodehealth
tests_unit_test_nodehealth_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_nodehealth_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_logring
TESTS += tests/unit/test_logring
tests_unit_test_logring_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_logring_LDADD = $(UNIT_LIBS)
endif

# Cross-process stress: 3 phases of SHM_STRESS_SECONDS (default 10) each.
check_PROGRAMS += tests/stress/shm_stress
TESTS += tests/stress/shm_stress
tests_stress_shm_stress_LDADD = $(MICRO_LIBS)

# Built by `make bench-programs`, run by bench/registry/run.sh (not a test).
EXTRA_PROGRAMS += bench/registry/shm_bench
bench_targets += bench/registry/shm_bench
bench_registry_shm_bench_LDADD = $(MICRO_LIBS) -lpthread -lm
