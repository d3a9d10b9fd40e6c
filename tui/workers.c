/* The workers panel: one row per worker slot the master supervises. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tui/format.h"
#include "tui/panel.h"
#include "util.h"

enum {
	WORKERS_SORT_ROLE,
	WORKERS_SORT_CPU,
	WORKERS_SORT_RSS,
	WORKERS_SORT_REQS,
	WORKERS_SORT_RESTARTS,
};

static const char *const workers_sorts[] = {
	"role", "cpu", "rss", "req/s", "restarts"
};

static const struct table_col workers_cols[] = {
	{ "ROLE", 0, 0 },
	{ "ID", 3, 1 },
	{ "PID", 7, 1 },
	{ "STATE", 9, 0 },
	{ "RESTART", 7, 1 },
	{ "CPU%", 5, 1 },
	{ "RSS", 6, 1 },
	{ "REQ/S", 6, 1 },
	{ "ERR/S", 6, 1 },
	{ "CONNS", 5, 1 },
	{ "UPTIME", 6, 1 },
};

static size_t
workers_count(const struct model *m)
{
	return m->nworkers;
}

static void
workers_int(char *cell, int64_t v)
{
	if (v < 0)
		snprintf(cell, PANEL_CELL_LEN, "-");
	else
		snprintf(cell, PANEL_CELL_LEN, "%lld", (long long)v);
}

static void
workers_cells(const struct model *m, size_t i, char cells[][PANEL_CELL_LEN])
{
	const struct model_worker	*w = &m->workers[i];
	int64_t				 up = -1;

	snprintf(cells[0], PANEL_CELL_LEN, "%s", w->role[0] ? w->role : "-");
	workers_int(cells[1], w->id);
	workers_int(cells[2], w->pid > 0 ? w->pid : -1);
	snprintf(cells[3], PANEL_CELL_LEN, "%s", w->state[0] ? w->state : "-");
	workers_int(cells[4], w->restarts);
	fmt_percent(w->cpu_pct, cells[5], PANEL_CELL_LEN);
	fmt_size(w->pid > 0 ? w->rss : -1, cells[6], PANEL_CELL_LEN);
	fmt_rate(w->req_rate, cells[7], PANEL_CELL_LEN);
	fmt_rate(w->err_rate, cells[8], PANEL_CELL_LEN);
	workers_int(cells[9], w->connections);
	/* "started" is wall time on this host, like ours. */
	if (w->pid > 0 && w->started > 0)
		up = (int64_t)(util_wall_ms() / 1000) - w->started;
	fmt_duration(up, cells[10], PANEL_CELL_LEN);
}

static void
workers_text(const struct model *m, size_t i, char *buf, size_t len)
{
	const struct model_worker	*w = &m->workers[i];

	snprintf(buf, len, "%s/%lld %lld %s", w->role, (long long)w->id,
	    (long long)w->pid, w->state);
}

/*
 * The pid too: a restarted or reloaded worker drains beside its
 * successor of the same role and index, and the selection must stay on
 * the process chosen, which K restarts.
 */
static void
workers_ident(const struct model *m, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%lld %lld", m->workers[i].role,
	    (long long)m->workers[i].id, (long long)m->workers[i].pid);
}

static int
workers_cmp(const struct model *m, int sort, size_t a, size_t b)
{
	const struct model_worker	*x = &m->workers[a], *y = &m->workers[b];
	int				 c = 0;

	switch (sort) {
	case WORKERS_SORT_CPU:
		c = panel_cmp_desc(x->cpu_pct, y->cpu_pct);
		break;
	case WORKERS_SORT_RSS:
		c = panel_cmp_desc(x->rss, y->rss);
		break;
	case WORKERS_SORT_REQS:
		c = panel_cmp_desc(x->req_rate, y->req_rate);
		break;
	case WORKERS_SORT_RESTARTS:
		c = panel_cmp_desc(x->restarts, y->restarts);
		break;
	}
	if (c == 0 && (c = strcmp(x->role, y->role)) == 0 &&
	    (c = (x->id > y->id) - (x->id < y->id)) == 0)
		c = (x->pid > y->pid) - (x->pid < y->pid);
	return c;
}

static enum panel_tone
workers_tone(const struct model *m, size_t i)
{
	const char	*state = m->workers[i].state;

	if (strcmp(state, "running") == 0)
		return PANEL_TONE_GOOD;
	if (strcmp(state, "crashloop") == 0 || strcmp(state, "backoff") == 0 ||
	    strcmp(state, "stopped") == 0)
		return PANEL_TONE_BAD;
	return PANEL_TONE_WARN;
}

const struct panel_type workers_panel = {
	"Workers", workers_cols, nitems(workers_cols),
	workers_sorts, nitems(workers_sorts),
	workers_count, workers_cells, workers_text, workers_ident,
	workers_cmp, workers_tone,
};
