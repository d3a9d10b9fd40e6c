# http: the HTTP/1.1 layer, server and client (see doc/http.md)
libmicro_a_SOURCES += lib/http.h lib/http-int.h lib/http-headers.c \
	lib/http-query.c lib/http-server.c lib/http-conn.c lib/http-parse.c \
	lib/http-request.c lib/http-response.c lib/http-client.c \
	lib/http-creq.c lib/http-creq-parse.c \
	lib/stream.h lib/stream.c lib/utf8.c lib/utf8.h \
	lib/accept-pause.c lib/accept-pause.h

if HAVE_CMOCKA
check_PROGRAMS += tests/unit/test_http_server tests/unit/test_http_client \
	tests/unit/test_stream tests/unit/test_utf8
TESTS += tests/unit/test_http_server tests/unit/test_http_client \
	tests/unit/test_stream tests/unit/test_utf8
tests_unit_test_http_server_SOURCES = tests/unit/test_http_server.c \
	tests/unit/http_test.c tests/unit/http_test.h
tests_unit_test_http_server_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_http_server_LDADD = $(UNIT_LIBS)
tests_unit_test_http_client_SOURCES = tests/unit/test_http_client.c \
	tests/unit/http_test.c tests/unit/http_test.h
tests_unit_test_http_client_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_http_client_LDADD = $(UNIT_LIBS)
tests_unit_test_stream_SOURCES = tests/unit/test_stream.c \
	tests/unit/http_test.c tests/unit/http_test.h
tests_unit_test_stream_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_stream_LDADD = $(UNIT_LIBS)
tests_unit_test_utf8_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_utf8_LDADD = $(UNIT_LIBS)
endif
