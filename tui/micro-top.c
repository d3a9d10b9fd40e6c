/*
 * micro-top: watch a microd host, htop-style. It attaches to the control
 * socket and draws what the stats stream pushes every second; it never
 * maps or writes anything of microd's itself.
 */
#include "config.h"

#include <curses.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlclient.h"
#include "log.h"
#include "tui/screen.h"
#include "tui/top.h"
#include "util.h"

volatile sig_atomic_t	top_signalled;

/* -h asks for it (stdout, 0); a bad command line gets it (stderr, 2). */
static void __attribute__((noreturn))
top_usage(FILE *f, int status)
{
	fprintf(f, "usage: micro-top [-bhV] [-s socket]\n");
	exit(status);
}

static void
top_on_signal(int sig)
{
	top_signalled = sig;
}

/*
 * Only a flag: the loop sees poll(2) interrupted, leaves, and endwin()
 * runs on the way out. SA_RESTART is left off so poll does return.
 */
static void
top_signals(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = top_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

static void
top_keys(struct top *t)
{
	int	 key;

	while (!t->quit && (key = getch()) != ERR) {
		/*
		 * Esc with more behind it is Alt+key, or a sequence ncurses
		 * does not know: nothing is bound to either, and its keys
		 * alone must not run (Alt-q quit).
		 */
		if (key == 27 && getch() != ERR) {
			while (getch() != ERR)
				;
			continue;
		}
		keys_handle(t, key);
	}
}

static int
top_run(struct top *t)
{
	int	 in;

	screen_init();
	draw_screen(t);
	while (!t->quit && !top_signalled) {
		in = attach_poll(t, STDIN_FILENO);
		if (in == -1)
			break;
		/* After any wake-up: ncurses turns SIGWINCH into KEY_RESIZE. */
		top_keys(t);
		if (t->dirty && !t->quit)
			draw_screen(t);
	}
	screen_end();
	return 0;
}

int
main(int argc, char *argv[])
{
	struct top	 t;
	const char	*socket = ctlclient_default_path();
	int		 ch, batch = 0, rv;

	log_init("micro-top", LOG_LEVEL_WARN);
	if (util_hold_stdio() == -1)
		fatal("/dev/null");
	while ((ch = getopt(argc, argv, "bhs:V")) != -1) {
		switch (ch) {
		case 'b':
			batch = 1;
			break;
		case 's':
			/* "" would name a Linux abstract socket anyone may bind. */
			if (*optarg == '\0') {
				fprintf(stderr, "micro-top: the socket path is "
				    "empty\n");
				return 2;
			}
			socket = optarg;
			break;
		case 'h':
			top_usage(stdout, 0);
		case 'V':
			printf("micro-top %s\n", PACKAGE_VERSION);
			return 0;
		default:
			top_usage(stderr, 2);
		}
	}
	if (optind != argc)
		top_usage(stderr, 2);
	if (batch)
		util_stdout_keep();
	/*
	 * Keys are read from stdin: at end of file or from a pipe it would
	 * be readable forever and never give a key.
	 */
	if (!batch && !isatty(STDIN_FILENO)) {
		fprintf(stderr, "micro-top: standard input is not a terminal "
		    "(-b prints a snapshot without one)\n");
		return 1;
	}
	/* Names are UTF-8: ncursesw and the column widths need the locale. */
	setlocale(LC_CTYPE, "");
	top_signals();
	/* fatal() exits: the terminal must come back even then. */
	atexit(screen_end);
	memset(&t, 0, sizeof(t));
	attach_init(&t, socket);
	rv = batch ? batch_run(&t) : top_run(&t);
	attach_free(&t);
	return rv;
}
