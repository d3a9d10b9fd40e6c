/*
 * micro-top -b: attach, wait for two stats samples (rates need both) and
 * the services list, print one plain-text snapshot, and exit.
 */
#include "config.h"

#include <sys/ioctl.h>

#include <stdio.h>
#include <unistd.h>

#include "tui/top.h"
#include "util.h"

/* Two samples of a large registry (15 000 services: 6 MB each) take time. */
#define BATCH_TIMEOUT_MS	15000
#define BATCH_WIDTH		120	/* when stdout is not a terminal */

static int
batch_width(void)
{
	struct winsize	 ws;

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ,
	    &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return BATCH_WIDTH;
}

static void
batch_panel(struct top *t, enum top_panel which, int width)
{
	struct panel	*p = &t->panels[which];
	char		 line[1024];
	size_t		 i;

	panel_heading(p, width, line, sizeof(line));
	printf("\n%s\n", line);
	for (i = 0; i < p->nrows; i++) {
		panel_line(p, &t->model, i, width, line, sizeof(line));
		printf("%s\n", line);
	}
}

static void
batch_print(struct top *t)
{
	char	 line[1024];
	int	 i, width = batch_width();

	for (i = 0; i < draw_header_lines(t); i++) {
		draw_header(t, i, line, sizeof(line), width);
		printf("%s\n", line);
	}
	batch_panel(t, TOP_WORKERS, width);
	batch_panel(t, TOP_SERVICES, width);
}

/* A snapshot that did not reach its reader is a failure, said so. */
static int
batch_flush(void)
{
	const char	*why;

	if ((why = util_stdout_lost()) == NULL)
		return 0;
	fprintf(stderr, "micro-top: cannot write output: %s\n", why);
	return 1;
}

static int
batch_ready(const struct top *t)
{
	return t->model.samples >= 2 && t->model.service_samples >= 2;
}

int
batch_run(struct top *t)
{
	uint64_t	 deadline = util_now_ms() + BATCH_TIMEOUT_MS;

	while (attach_up(t) && !batch_ready(t) && !top_signalled &&
	    util_now_ms() < deadline)
		attach_poll(t, -1);
	/* Interrupted is interrupted, even with a snapshot ready to print. */
	if (top_signalled) {
		fprintf(stderr, "micro-top: interrupted\n");
		return 1;
	}
	if (!batch_ready(t)) {
		fprintf(stderr, "micro-top: %s\n", t->down[0] ? t->down :
		    "microd did not answer in time");
		return 1;
	}
	batch_print(t);
	return batch_flush();
}
