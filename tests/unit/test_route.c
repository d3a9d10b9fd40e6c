#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/route.h"

static void
map_ok(const char *path, const char *service, const char *method)
{
	struct route	 r;
	const char	*cause = NULL;

	if (route_from_path("go.micro.api", path, &r, &cause) == -1)
		fail_msg("%s: %s", path, cause);
	assert_string_equal(r.service, service);
	assert_string_equal(r.method, method);
}

static void
map_bad(const char *path)
{
	struct route	 r;
	const char	*cause = NULL;

	if (route_from_path("go.micro.api", path, &r, &cause) != -1)
		fail_msg("%s mapped to %s %s", path, r.service, r.method);
	assert_non_null(cause);
}

static void
test_route_go_micro_table(void **state)
{
	map_ok("/greeter/say/hello", "go.micro.api.greeter", "Say.Hello");
	map_ok("/greeter/hello", "go.micro.api.greeter", "Greeter.Hello");
	map_ok("/foo/bar/baz/cat", "go.micro.api.foo.bar", "Baz.Cat");
	map_ok("/v1/foo/bar", "go.micro.api.v1.foo", "Foo.Bar");
	map_ok("/greeter", "go.micro.api.greeter", "Greeter");
}

static void
test_route_camel(void **state)
{
	map_ok("/greeter/say-hi", "go.micro.api.greeter", "Greeter.SayHi");
	map_ok("/my-svc/say-hi/x-y-z", "go.micro.api.my-svc", "SayHi.XYZ");
	map_ok("/greeter/say/hello/", "go.micro.api.greeter", "Say.Hello");
	/* Only /vN with exactly three segments is a version. */
	map_ok("/v1/foo/bar/baz", "go.micro.api.v1.foo", "Bar.Baz");
	map_ok("/vx/foo/bar", "go.micro.api.vx", "Foo.Bar");
}

static void
test_route_rejects(void **state)
{
	char	 longpath[2048];

	map_bad("/");
	map_bad("");
	map_bad("/greeter//hello");
	map_bad("/../etc/passwd");
	map_bad("/greeter/..");
	map_bad("/greeter/./hello");
	map_bad("/greeter/%2e%2e");
	map_bad("/greeter/say_hello");
	map_bad("/greeter/say hello");
	map_bad("/gr\xc3\xa9\x65ter/hello");
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	map_bad(longpath);
}

static void
proxy_ok(const char *path, const char *want)
{
	char		 out[ROUTE_NAME_MAX];
	const char	*cause = NULL;

	if (route_proxy_service("go.micro.api", path, out, sizeof(out),
	    &cause) == -1)
		fail_msg("%s: %s", path, cause);
	assert_string_equal(out, want);
}

static void
proxy_bad(const char *path)
{
	char		 out[ROUTE_NAME_MAX];
	const char	*cause = NULL;

	assert_int_equal(route_proxy_service("go.micro.api", path, out,
	    sizeof(out), &cause), -1);
	assert_non_null(cause);
}

static void
test_route_proxy(void **state)
{
	proxy_ok("/greeter", "go.micro.api.greeter");
	proxy_ok("/greeter/any/path.html", "go.micro.api.greeter");
	proxy_ok("/v1/greeter/x", "go.micro.api.v1.greeter");
	proxy_ok("/v1", "go.micro.api.v1");
	proxy_ok("/a-b-c/", "go.micro.api.a-b-c");
	proxy_bad("/");
	proxy_bad("/-a");
	proxy_bad("/a-");
	proxy_bad("/a--b");
	proxy_bad("/a.b/c");
	proxy_bad("/../x");
	proxy_bad("/v1//x");
	assert_int_equal(route_valid_proxy_name("abc", 3), 1);
	assert_int_equal(route_valid_proxy_name("a_c", 3), 0);
}

static void
test_route_dot_segments(void **state)
{
	static const char *dotted[] = {
		"/a/..", "/a/../b", "/a/./b", "/..", "/a/%2e%2e/b", "/a/%2E./b",
		"/a%2f..%2fb", "/a/..\\b", "/a\\.\\b", "/a/..;/b",
		"/a/%2e%2e;x=1/b", "/a/.%3b",
	};
	static const char *plain[] = {
		"/", "/a/b", "/a/.../b", "/a/.well-known", "/a/a..b", "/a%2fb",
		"/a/%2", "/a/%zz", "/a/x;../b", "/a/;../b",
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(dotted) / sizeof(*dotted); i++)
		assert_true(route_has_dot_segment(dotted[i]));
	for (i = 0; i < sizeof(plain) / sizeof(*plain); i++)
		assert_false(route_has_dot_segment(plain[i]));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_go_micro_table),
		cmocka_unit_test(test_route_camel),
		cmocka_unit_test(test_route_rejects),
		cmocka_unit_test(test_route_proxy),
		cmocka_unit_test(test_route_dot_segments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
