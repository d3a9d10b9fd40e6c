# tui: micro-top, the ncurses dashboard (issue 6; man/micro-top.1).

bin_PROGRAMS += tui/micro-top
tui_micro_top_SOURCES = tui/micro-top.c tui/top.h \
	tui/attach.c tui/conn.c tui/conn.h \
	tui/model.c tui/model.h \
	tui/panel.c tui/panel.h tui/workers.c tui/services.c \
	tui/detail.c tui/draw.c tui/keys.c tui/batch.c \
	tui/screen.c tui/screen.h \
	tui/format.c tui/format.h tui/table.c tui/table.h
tui_micro_top_CFLAGS = $(AM_CFLAGS) $(NCURSES_CFLAGS)
tui_micro_top_LDADD = $(MICRO_LIBS) $(NCURSES_LIBS)

dist_man_MANS += man/micro-top.1

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_format
TESTS += tests/unit/test_format
tests_unit_test_format_SOURCES = tests/unit/test_format.c tui/format.c \
	tui/table.c
tests_unit_test_format_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_format_LDADD = $(UNIT_LIBS)
endif
