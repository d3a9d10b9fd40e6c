# core: the master, the worker framework and the roles table.

microd_microd_SOURCES += \
	microd/main.c microd/master.h \
	microd/conf.c microd/conf.h \
	microd/backoff.c microd/backoff.h \
	microd/listen.c \
	microd/proc.c \
	microd/chan.c \
	microd/relay.c \
	microd/control.c microd/control.h \
	microd/ctlcmd.c \
	microd/status.c \
	microd/notify.c microd/notify.h \
	workers/worker.c workers/worker.h \
	workers/worker-http.c workers/worker-http.h \
	workers/roles.c \
	workers/sidecar.c \
	workers/sidecar-registry.c workers/sidecar-registry.h \
	workers/web.c \
	workers/broker.c workers/broker.h

libmicro_a_SOURCES += shm/services-json.c shm/services-json.h \
	lib/procstat.c lib/procstat.h

microdconfdir = $(sysconfdir)/microd
dist_microdconf_DATA = etc/microd.conf
systemdunitdir = $(systemdsystemunitdir)
systemdunit_DATA = contrib/systemd/microd.service
CLEANFILES += contrib/systemd/microd.service

contrib/systemd/microd.service: $(srcdir)/contrib/systemd/microd.service.in
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && \
	sed -e 's|@sbindir[@]|$(sbindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(srcdir)/contrib/systemd/microd.service.in > $@
dist_man_MANS += man/microd.8 man/microd.conf.5

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_conf tests/unit/test_backoff
TESTS += tests/unit/test_conf tests/unit/test_backoff

tests_unit_test_conf_SOURCES = tests/unit/test_conf.c microd/conf.c
tests_unit_test_conf_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_conf_LDADD = $(UNIT_LIBS)

tests_unit_test_backoff_SOURCES = tests/unit/test_backoff.c microd/backoff.c
tests_unit_test_backoff_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_backoff_LDADD = $(UNIT_LIBS)
endif
