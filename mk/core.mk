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
	microd/ctllogs.c \
	microd/ctlsub.c \
	microd/status.c \
	microd/statelock.c \
	microd/tell.c \
	microd/watchdog.c \
	microd/notify.c microd/notify.h \
	workers/worker.c workers/worker.h \
	workers/worker-http.c workers/worker-http.h \
	workers/roles.c \
	workers/sidecar.c \
	workers/sidecar-registry.c workers/sidecar-registry.h \
	workers/web.c \
	workers/broker.c workers/broker.h

libmicro_a_SOURCES += shm/services-json.c shm/services-json.h \
	lib/procstat.c lib/procstat.h lib/plugin.c lib/plugin.h

# microd.conf is installed only when absent, so `make install` never
# overwrites an edited one; `make uninstall` removes it only while it is
# still the shipped file (README.md, microd(8)). The socket and state_dir
# it shows commented out, the defaults, are those of --runstatedir and
# --localstatedir (etc/microd.conf shows configure's own).
microdconfdir = $(sysconfdir)/microd
EXTRA_DIST += etc/microd.conf
CLEANFILES += etc/microd.conf.inst

install-data-local: install-microd-conf
uninstall-local: uninstall-microd-conf

etc/microd.conf.inst: $(srcdir)/etc/microd.conf Makefile
	$(AM_V_GEN)$(MKDIR_P) etc && \
	sed -e 's|= /run/microd/|= $(runstatedir)/microd/|' \
	    -e 's|= /var/lib/microd|= $(localstatedir)/lib/microd|' \
	    $(srcdir)/etc/microd.conf > $@.tmp && \
	mv $@.tmp $@

install-microd-conf: etc/microd.conf.inst
	@$(NORMAL_INSTALL)
	$(MKDIR_P) '$(DESTDIR)$(microdconfdir)'
	@f='$(DESTDIR)$(microdconfdir)/microd.conf'; \
	if test -f "$$f"; then \
		echo " keeping $$f (the shipped one is etc/microd.conf)"; \
	else \
		echo " $(INSTALL_DATA) etc/microd.conf.inst '$$f'"; \
		$(INSTALL_DATA) etc/microd.conf.inst "$$f" || exit 1; \
	fi

uninstall-microd-conf: etc/microd.conf.inst
	@$(NORMAL_UNINSTALL)
	@f='$(DESTDIR)$(microdconfdir)/microd.conf'; \
	if test -f "$$f" && cmp -s "$$f" etc/microd.conf.inst; then \
		echo " rm -f '$$f'"; rm -f "$$f"; \
	elif test -f "$$f"; then \
		echo " keeping $$f: it was edited"; \
	fi

.PHONY: install-microd-conf uninstall-microd-conf

# The unit and microd(8) name the installed paths. They depend on
# Makefile, which config.status rewrites, so configuring another
# --prefix regenerates them.
if SYSTEMD_UNIT
systemdunitdir = $(systemdsystemunitdir)
systemdunit_DATA = contrib/systemd/microd.service
endif
man_MANS += man/microd.8
CLEANFILES += contrib/systemd/microd.service man/microd.8
EXTRA_DIST += man/microd.8.in

microd_edit = sed -e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@localstatedir[@]|$(localstatedir)|g' \
	-e 's|@runstatedir[@]|$(runstatedir)|g'

contrib/systemd/microd.service: $(srcdir)/contrib/systemd/microd.service.in \
    Makefile
	$(AM_V_GEN)$(MKDIR_P) contrib/systemd && \
	$(microd_edit) $(srcdir)/contrib/systemd/microd.service.in > $@.tmp && \
	mv $@.tmp $@

man/microd.8: $(srcdir)/man/microd.8.in Makefile
	$(AM_V_GEN)$(MKDIR_P) man && \
	$(microd_edit) $(srcdir)/man/microd.8.in > $@.tmp && \
	mv $@.tmp $@

dist_man_MANS += man/microd.conf.5

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_conf tests/unit/test_backoff \
	tests/unit/test_log
TESTS += tests/unit/test_conf tests/unit/test_backoff tests/unit/test_log

tests_unit_test_conf_SOURCES = tests/unit/test_conf.c microd/conf.c
tests_unit_test_conf_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_conf_LDADD = $(UNIT_LIBS)

tests_unit_test_backoff_SOURCES = tests/unit/test_backoff.c microd/backoff.c
tests_unit_test_backoff_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_backoff_LDADD = $(UNIT_LIBS)

tests_unit_test_log_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_log_LDADD = $(UNIT_LIBS)
endif
