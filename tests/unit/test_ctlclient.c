/*
 * ctlclient against a fake microd: a forked child that accepts one
 * connection, reads one request and answers as the scenario says.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "ctlclient.h"

struct fake {
	char	 dir[64];
	char	 path[128];
	pid_t	 pid;
};

typedef void (*fake_scenario)(int, const struct ctl_msg *);

static void
fake_write(int fd, struct ctl_frame *f)
{
	const void	*data;
	size_t		 len;

	ctl_frame_end(f, &data, &len);
	if (write(fd, data, len) != (ssize_t)len)
		_exit(3);
	ctl_frame_free(f);
}

/* Read one request off fd, or exit: the child has nothing else to do. */
static void
fake_read(int fd, struct ctl_msg *msg)
{
	struct evbuffer	*in = evbuffer_new();
	const char	*cause;
	int		 rv;

	while ((rv = ctl_frame_pull(in, msg, &cause)) == 0)
		if (evbuffer_read(in, fd, 4096) <= 0)
			_exit(4);
	if (rv != 1)
		_exit(5);
	evbuffer_free(in);
}

static int
fake_listen(struct fake *fk)
{
	struct sockaddr_un	 sun;
	int			 fd;

	strcpy(fk->dir, "/tmp/test_ctlclient.XXXXXX");
	assert_non_null(mkdtemp(fk->dir));
	snprintf(fk->path, sizeof(fk->path), "%s/microd.sock", fk->dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, fk->path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_not_equal(fd, -1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void
fake_start(struct fake *fk, fake_scenario scenario)
{
	struct ctl_msg	 msg;
	int		 lfd, fd;

	lfd = fake_listen(fk);
	assert_int_equal(listen(lfd, 1), 0);
	if ((fk->pid = fork()) == 0) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			_exit(2);
		fake_read(fd, &msg);
		scenario(fd, &msg);
		_exit(0);
	}
	assert_true(fk->pid > 0);
	close(lfd);
}

static void
fake_stop(struct fake *fk)
{
	int	 status;

	if (fk->pid > 0) {
		kill(fk->pid, SIGKILL);
		waitpid(fk->pid, &status, 0);
	}
	unlink(fk->path);
	rmdir(fk->dir);
}

/* Reply with {"echo": cmd, "id": args.id}. */
static void
scenario_echo(int fd, const struct ctl_msg *req)
{
	struct ctl_frame	 f;
	int64_t			 n = 0;

	ctl_obj_int(ctl_map_get(req->args, "n"), &n);
	ctl_frame_reply(&f, req->id, 1);
	ctl_pack_str(&f.pk, "data");
	msgpack_pack_map(&f.pk, 2);
	ctl_pack_kv_str(&f.pk, "echo", req->cmd);
	ctl_pack_kv_int(&f.pk, "n", n);
	fake_write(fd, &f);
	pause();
}

/* A stale stream event first: the client must skip it. */
static void
scenario_event_then_reply(int fd, const struct ctl_msg *req)
{
	struct ctl_frame	 f;

	ctl_frame_event(&f, req->id - 1, "stats", 0);
	fake_write(fd, &f);
	scenario_echo(fd, req);
}

static void
scenario_error(int fd, const struct ctl_msg *req)
{
	struct ctl_frame	 f;

	ctl_frame_error(&f, req->id, "service not found");
	fake_write(fd, &f);
	pause();
}

static void
scenario_silent(int fd, const struct ctl_msg *req)
{
	pause();
}

static void
scenario_close(int fd, const struct ctl_msg *req)
{
	close(fd);
}

static void
scenario_stream(int fd, const struct ctl_msg *req)
{
	struct ctl_frame	 f;
	int			 i;

	for (i = 0; i < 3; i++) {
		ctl_frame_event(&f, req->id, "stats", 1);
		ctl_pack_kv_int(&f.pk, "seq", i);
		fake_write(fd, &f);
	}
	pause();
}

static int
call(struct fake *fk, const char *cmd, struct ctl_msg *reply,
    const char **cause)
{
	struct ctlclient	*c;
	struct ctl_frame	 f;
	int			 rv;

	c = ctlclient_connect(fk->path, cause);
	assert_non_null(c);
	ctlclient_set_timeout(c, 300);
	ctlclient_begin(c, &f, cmd, 1);
	ctl_pack_str(&f.pk, "args");
	msgpack_pack_map(&f.pk, 1);
	ctl_pack_kv_int(&f.pk, "n", 17);
	rv = ctlclient_call(c, &f, reply, cause);
	ctlclient_free(c);
	return rv;
}

static void
test_call(void **state)
{
	struct fake	 fk;
	struct ctl_msg	 reply;
	const char	*cause;
	char		 echo[16];
	int64_t		 n;

	fake_start(&fk, scenario_echo);
	assert_int_equal(call(&fk, "status", &reply, &cause), 0);
	assert_true(reply.ok);
	assert_int_equal(ctl_obj_str(ctl_map_get(reply.data, "echo"), echo,
	    sizeof(echo)), 0);
	assert_string_equal(echo, "status");
	assert_int_equal(ctl_obj_int(ctl_map_get(reply.data, "n"), &n), 0);
	assert_int_equal(n, 17);
	ctl_msg_free(&reply);
	fake_stop(&fk);
}

static void
test_call_skips_events(void **state)
{
	struct fake	 fk;
	struct ctl_msg	 reply;
	const char	*cause;

	fake_start(&fk, scenario_event_then_reply);
	assert_int_equal(call(&fk, "workers", &reply, &cause), 0);
	assert_true(reply.is_reply);
	assert_null(reply.event);
	ctl_msg_free(&reply);
	fake_stop(&fk);
}

static void
test_call_error(void **state)
{
	struct fake	 fk;
	struct ctl_msg	 reply;
	const char	*cause;

	fake_start(&fk, scenario_error);
	assert_int_equal(call(&fk, "service", &reply, &cause), -1);
	assert_string_equal(cause, "service not found");
	ctl_msg_free(&reply);
	fake_stop(&fk);
}

static void
test_timeout(void **state)
{
	struct fake	 fk;
	struct ctl_msg	 reply;
	const char	*cause;

	fake_start(&fk, scenario_silent);
	assert_int_equal(call(&fk, "status", &reply, &cause), -1);
	assert_string_equal(cause, "microd did not answer in time");
	ctl_msg_free(&reply);
	fake_stop(&fk);
}

static void
test_closed(void **state)
{
	struct fake	 fk;
	struct ctl_msg	 reply;
	const char	*cause;

	fake_start(&fk, scenario_close);
	assert_int_equal(call(&fk, "status", &reply, &cause), -1);
	assert_string_equal(cause, "microd closed the connection");
	ctl_msg_free(&reply);
	fake_stop(&fk);
}

static void
test_stream(void **state)
{
	struct ctlclient	*c;
	struct ctl_frame	 f;
	struct ctl_msg		 ev;
	struct fake		 fk;
	const char		*cause;
	int64_t			 seq, i;

	fake_start(&fk, scenario_stream);
	assert_non_null(c = ctlclient_connect(fk.path, &cause));
	ctlclient_set_timeout(c, 300);
	ctlclient_begin(c, &f, "stats", 0);
	assert_int_equal(ctlclient_send(c, &f, &cause), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ctlclient_recv(c, &ev, &cause), 0);
		assert_string_equal(ev.event, "stats");
		assert_int_equal(ctl_obj_int(ctl_map_get(ev.root, "seq"),
		    &seq), 0);
		assert_int_equal(seq, i);
		ctl_msg_free(&ev);
	}
	assert_int_equal(ctlclient_recv(c, &ev, &cause), -1);
	assert_string_equal(cause, "microd did not answer in time");
	ctl_msg_free(&ev);
	ctlclient_free(c);
	fake_stop(&fk);
}

static void
test_connect_errors(void **state)
{
	struct fake	 fk;
	const char	*cause;
	char		 want[256], longpath[200];
	int		 fd;

	assert_null(ctlclient_connect("/nonexistent/microd.sock", &cause));
	assert_string_equal(cause,
	    "microd is not running (no socket at /nonexistent/microd.sock)");

	/* Bound but not listening: what a crashed daemon leaves behind. */
	fd = fake_listen(&fk);
	assert_null(ctlclient_connect(fk.path, &cause));
	snprintf(want, sizeof(want), "microd is not running (stale socket %s)",
	    fk.path);
	assert_string_equal(cause, want);
	close(fd);
	fk.pid = 0;
	fake_stop(&fk);

	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_null(ctlclient_connect(longpath, &cause));
	assert_non_null(strstr(cause, "socket path too long"));

	/* Not the abstract socket "" names, which anyone may bind. */
	assert_null(ctlclient_connect("", &cause));
	assert_string_equal(cause, "the socket path is empty");
}

static void
test_default_path(void **state)
{
	setenv("MICROD_SOCKET", "/x/y.sock", 1);
	assert_string_equal(ctlclient_default_path(), "/x/y.sock");
	unsetenv("MICROD_SOCKET");
	assert_string_equal(ctlclient_default_path(),
	    CTLCLIENT_DEFAULT_SOCKET);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call),
		cmocka_unit_test(test_call_skips_events),
		cmocka_unit_test(test_call_error),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_closed),
		cmocka_unit_test(test_stream),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_default_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
