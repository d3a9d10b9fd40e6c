/*
 * The screen's layout: header, the workers and services panels (or the
 * detail or help view), and the bottom line for prompts and results.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tui/format.h"
#include "tui/screen.h"
#include "termtext.h"
#include "tui/table.h"
#include "tui/top.h"
#include "util.h"

#define DRAW_LINE_LEN	1024
#define DRAW_MIN_COLS	20	/* narrower, nothing reads: only a hint */

/* Longest first: the first that fits is drawn. */
static const char *const draw_small[] = {
	"terminal too small",
	"too small",
	"small",
	"!",
};

static const char *const draw_help[] = {
	"micro-top: the microd dashboard",
	"",
	"  Up/Down, k/j    move in the focused panel (PgUp/PgDn, g/G: page, ends)",
	"  Tab             switch between the workers and services panels",
	"  s               change the sort order of the focused panel",
	"  /               filter the focused panel (Enter keeps, Esc clears)",
	"  Enter           detail of the selected service (Esc goes back)",
	"  r               reload microd's configuration (asks first)",
	"  K               restart the selected worker (asks first)",
	"  ?               this help; any key closes it",
	"  q               quit",
	"",
	"  \"-\" means microd does not report that value (yet).",
};

static const char *
draw_int(int64_t v, char *buf, size_t len)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%lld", (long long)v);
	return buf;
}

static const char *
draw_or_dash(const char *s)
{
	return s[0] != '\0' ? s : "-";
}

/* Whatever needs an operator's eye, most urgent first. */
static const char *
draw_alert(const struct top *t, char *buf, size_t len)
{
	const struct model_status	*st = &t->model.st;

	if (!attach_up(t))
		return NULL;
	if (st->reload_error[0] != '\0')
		snprintf(buf, len, "reload failed: %s", st->reload_error);
	else if (st->crashloop[0] != '\0')
		snprintf(buf, len, "crash loop: %s", st->crashloop);
	else if (st->last_error[0] != '\0')
		snprintf(buf, len, "registry: %s", st->last_error);
	else if (st->full)
		snprintf(buf, len, "registry full: %lld changes refused, the "
		    "shm segment is full ([microd] shm_size)",
		    (long long)st->full_errors);
	else
		return NULL;
	return buf;
}

int
draw_header_lines(const struct top *t)
{
	char	 buf[TOP_MESSAGE_LEN];

	return draw_alert(t, buf, sizeof(buf)) != NULL ? 3 : 2;
}

static void
draw_header_status(const struct top *t, char *out, size_t len)
{
	const struct model_status	*st = &t->model.st;
	char				 up[FMT_LEN], pid[FMT_LEN], gen[FMT_LEN];
	char				 workers[FMT_LEN];

	if (!attach_up(t)) {
		snprintf(out, len, "micro-top on %s: not attached to microd "
		    "(%s)", st->host, t->socket);
		return;
	}
	snprintf(out, len, "microd %s on %s  pid %s  up %s  generation %s  "
	    "workers %s", draw_or_dash(st->version), st->host,
	    draw_int(st->pid, pid, sizeof(pid)),
	    fmt_duration(st->uptime, up, sizeof(up)),
	    draw_int(st->generation, gen, sizeof(gen)),
	    draw_int(st->workers, workers, sizeof(workers)));
}

static void
draw_header_registry(const struct top *t, char *out, size_t len)
{
	const struct model_status	*st = &t->model.st;
	char				 rev[FMT_LEN], lag[FMT_LEN];
	char				 svcs[FMT_LEN], nodes[FMT_LEN];
	char				 reqs[FMT_LEN], errs[FMT_LEN];

	snprintf(out, len, "registry %s %s  rev %s  lag %s  services %s  "
	    "nodes %s  req/s %s  err/s %s", draw_or_dash(st->backend),
	    st->connected == 1 ? "connected" : st->connected == 0 ?
	    "DISCONNECTED" : "-",
	    draw_int(st->revision, rev, sizeof(rev)),
	    fmt_latency(st->lag_ms < 0 ? -1 : (double)st->lag_ms, lag,
	    sizeof(lag)),
	    draw_int(st->services, svcs, sizeof(svcs)),
	    draw_int(st->nodes, nodes, sizeof(nodes)),
	    fmt_rate(t->model.req_rate, reqs, sizeof(reqs)),
	    fmt_rate(t->model.err_rate, errs, sizeof(errs)));
}

void
draw_header(const struct top *t, int line, char *out, size_t len, int width)
{
	out[0] = '\0';
	if (line == 0)
		draw_header_status(t, out, len);
	else if (line == 1)
		draw_header_registry(t, out, len);
	else if (draw_alert(t, out, len) == NULL)
		out[0] = '\0';
	termtext_fit(out, width, out, len);
}

static enum screen_style
draw_tone(enum panel_tone tone)
{
	switch (tone) {
	case PANEL_TONE_GOOD:
		return SCREEN_GOOD;
	case PANEL_TONE_WARN:
		return SCREEN_WARN;
	case PANEL_TONE_BAD:
		return SCREEN_BAD;
	default:
		return SCREEN_NORMAL;
	}
}

/* Title bar, heading and as many rows as fit in height; the rows drawn. */
static void
draw_panel(struct top *t, enum top_panel which, int y, int height)
{
	struct panel	*p = &t->panels[which];
	char		 line[DRAW_LINE_LEN];
	size_t		 i, rows;
	int		 focused = t->focus == which;

	snprintf(line, sizeof(line), "%s %s (%zu)  sort: %s%s%s%s",
	    focused ? ">" : " ", p->type->title, p->nrows,
	    p->type->sorts[p->sort], p->filter[0] ? "  filter: " : "",
	    p->filter, which == TOP_SERVICES && !t->model.have_services ?
	    "  loading..." : "");
	screen_put(y, SCREEN_TITLE, line);
	if (height < 2)
		return;
	panel_heading(p, screen_cols(), line, sizeof(line));
	screen_put(y + 1, SCREEN_HEADING, line);
	rows = (size_t)(height - 2);
	panel_scroll(p, rows);
	for (i = 0; i < rows && p->first + i < p->nrows; i++) {
		panel_line(p, &t->model, p->first + i, screen_cols(), line,
		    sizeof(line));
		screen_put(y + 2 + (int)i,
		    focused && p->first + i == p->sel ? SCREEN_SELECTED :
		    draw_tone(p->type->tone(&t->model, p->rows[p->first + i])),
		    line);
	}
}

static void
draw_panels(struct top *t, int y, int height)
{
	int	 wh, want;

	/* Workers get what they need up to half; services the rest. */
	want = (int)t->panels[TOP_WORKERS].nrows + 2;
	wh = height / 2;
	if (want < wh)
		wh = want;
	if (wh < 3)
		wh = height < 3 ? height : 3;
	draw_panel(t, TOP_WORKERS, y, wh);
	if (height - wh - 1 >= 1)
		draw_panel(t, TOP_SERVICES, y + wh + 1, height - wh - 1);
}

static void
draw_detail(struct top *t, int y, int height)
{
	char	 line[DRAW_LINE_LEN];
	size_t	 n = detail_count(t), i;

	if (height < 2)
		return;
	t->detail_height = (size_t)(height - 1);
	if (t->detail_first + (size_t)(height - 1) > n)
		t->detail_first = n > (size_t)(height - 1) ?
		    n - (size_t)(height - 1) : 0;
	snprintf(line, sizeof(line), "  Service %s  (Esc: back, j/k: scroll)",
	    t->detail_name);
	screen_put(y, SCREEN_TITLE, line);
	for (i = 0; i < (size_t)(height - 1) && t->detail_first + i < n; i++) {
		detail_line(t, t->detail_first + i, screen_cols(), line,
		    sizeof(line));
		screen_put(y + 1 + (int)i, SCREEN_NORMAL, line);
	}
}

static void
draw_lines(int y, int height, const char *const *lines, size_t n,
    enum screen_style style)
{
	size_t	 i;

	for (i = 0; i < n && (int)i < height; i++)
		screen_put(y + (int)i, style, lines[i]);
}

static void
draw_down(const struct top *t, int y, int height)
{
	const char	*lines[3];

	lines[0] = "";
	lines[1] = t->down;
	lines[2] = "  retrying every second; q quits";
	screen_put(y, SCREEN_TITLE, "  microd");
	draw_lines(y + 1, height - 1, lines, 3, SCREEN_BAD);
}

/*
 * A yes/no question, cut on a narrow terminal so that its choice still
 * shows: who cannot see "[y/N]" does not know what a key will do.
 */
static int
draw_question(const struct top *t, int y)
{
	static const char	 choice[] = " [y/N] ";
	char			 line[DRAW_LINE_LEN];
	int			 room, cols;

	room = screen_cols() - (int)(sizeof(choice) - 1);
	/* Room left in line for the choice and its NUL. */
	cols = termtext_fit(t->question, room > 0 ? room : 0, line,
	    sizeof(line) - sizeof(choice));
	memcpy(line + strlen(line), choice, sizeof(choice));
	screen_put(y, SCREEN_WARN, line);
	return cols + (int)(sizeof(choice) - 1);
}

/* The bottom line; where the cursor goes if something is being typed. */
static int
draw_bottom(const struct top *t, int y)
{
	char	 line[DRAW_LINE_LEN];

	switch (t->prompt) {
	case TOP_PROMPT_FILTER:
		snprintf(line, sizeof(line), "filter %s: %s",
		    t->panels[t->focus].type->title, t->input);
		screen_put(y, SCREEN_NORMAL, line);
		/* After what was typed: in columns, not bytes. */
		return termtext_fit(line, -1, line, sizeof(line));
	case TOP_PROMPT_CONFIRM:
		return draw_question(t, y);
	default:
		if (t->message[0] != '\0')
			screen_put(y, SCREEN_WARN, t->message);
		else
			screen_put(y, SCREEN_NORMAL, "q quit  ? help  Tab panel"
			    "  / filter  s sort  Enter detail  r reload  "
			    "K restart");
		return -1;
	}
}

/*
 * Between the header and the bottom line. With no row for it, nothing is
 * drawn: a title put on the bottom line would show through a shorter
 * message there.
 */
static void
draw_body(struct top *t, int y, int height)
{
	if (height < 1)
		return;
	if (!attach_up(t))
		draw_down(t, y, height);
	else if (t->view == TOP_VIEW_HELP)
		draw_lines(y, height, draw_help, nitems(draw_help),
		    SCREEN_NORMAL);
	else if (t->view == TOP_VIEW_DETAIL)
		draw_detail(t, y, height);
	else
		draw_panels(t, y, height);
}

/*
 * On one row the hint leaves the last column alone: ncurses cannot draw
 * the bottom right corner of a terminal that wraps there (so on 1x1 no
 * hint shows at all).
 */
static void
draw_too_small(int rows, int cols)
{
	size_t	 i;
	int	 width = rows > 1 ? cols : cols - 1;

	for (i = 0; i < nitems(draw_small); i++) {
		if ((int)strlen(draw_small[i]) <= width) {
			screen_put(0, SCREEN_WARN, draw_small[i]);
			break;
		}
	}
	screen_refresh(-1, 0);
}

void
draw_screen(struct top *t)
{
	char	 line[DRAW_LINE_LEN];
	int	 i, y, rows = screen_rows(), cols = screen_cols(), x;

	screen_clear();
	t->dirty = 0;
	if (cols < DRAW_MIN_COLS) {
		draw_too_small(rows, cols);
		return;
	}
	/* On a very short terminal the bottom line is not the header's. */
	if ((y = draw_header_lines(t)) > rows - 1)
		y = rows - 1 > 0 ? rows - 1 : 0;
	for (i = 0; i < y; i++) {
		draw_header(t, i, line, sizeof(line), cols);
		screen_put(i, i == 2 ? SCREEN_BAD : SCREEN_NORMAL, line);
	}
	draw_body(t, y, rows - y - 1);
	x = draw_bottom(t, rows - 1);
	screen_refresh(x >= 0 && x < cols ? rows - 1 : -1, x);
}
