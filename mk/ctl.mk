# ctl: control-protocol codec and client, msgpack<->JSON, terminal text,
# microctl.
# See doc/control-protocol.md.

libmicro_a_SOURCES += lib/ctlproto.c lib/ctlproto.h \
	lib/ctlclient.c lib/ctlclient.h lib/mpjson.c lib/mpjson.h \
	lib/termtext.c lib/termtext.h

cli_microctl_SOURCES += cli/microctl.c cli/cmd.h cli/cmd.c cli/output.c \
	cli/output.h cli/cmd-status.c cli/cmd-workers.c cli/cmd-reload.c \
	cli/cmd-stop.c cli/cmd-restart.c cli/cmd-version.c \
	cli/cmd-services.c cli/cmd-service.c cli/cmd-register.c \
	cli/cmd-deregister.c cli/cmd-registry.c cli/cmd-http.c \
	cli/cmd-http.h cli/cmd-call.c cli/cmd-health.c cli/cmd-logs.c

dist_man_MANS += man/microctl.1

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_ctlproto tests/unit/test_mpjson \
	tests/unit/test_ctlclient
TESTS += tests/unit/test_ctlproto tests/unit/test_mpjson \
	tests/unit/test_ctlclient
tests_unit_test_ctlproto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ctlproto_LDADD = $(UNIT_LIBS)
tests_unit_test_mpjson_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_mpjson_LDADD = $(UNIT_LIBS)
tests_unit_test_ctlclient_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_ctlclient_LDADD = $(UNIT_LIBS)
endif
