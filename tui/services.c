/* The services panel: one row per service name, its versions merged. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tui/format.h"
#include "tui/panel.h"
#include "util.h"

enum {
	SERVICES_SORT_NAME,
	SERVICES_SORT_NODES,
	SERVICES_SORT_REQS,
	SERVICES_SORT_P99,
};

static const char *const services_sorts[] = {
	"name", "nodes", "req/s", "p99"
};

static const struct table_col services_cols[] = {
	{ "SERVICE", 0, 0 },
	{ "VERSIONS", 16, 0 },
	{ "NODES", 7, 1 },
	{ "REQ/S", 7, 1 },
	{ "P99", 7, 1 },
};

static size_t
services_count(const struct model *m)
{
	return m->nservices;
}

static void
services_cells(const struct model *m, size_t i,
    char cells[][PANEL_CELL_LEN])
{
	const struct model_service	*s = &m->services[i];

	snprintf(cells[0], PANEL_CELL_LEN, "%s", s->name);
	snprintf(cells[1], PANEL_CELL_LEN, "%s", s->versions);
	if (s->healthy >= 0)
		snprintf(cells[2], PANEL_CELL_LEN, "%lld/%lld",
		    (long long)s->healthy, (long long)s->nodes);
	else
		snprintf(cells[2], PANEL_CELL_LEN, "-/%lld",
		    (long long)s->nodes);
	fmt_rate(s->req_rate, cells[3], PANEL_CELL_LEN);
	fmt_latency(s->p99_ms, cells[4], PANEL_CELL_LEN);
}

static void
services_text(const struct model *m, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s", m->services[i].name);
}

static int
services_cmp(const struct model *m, int sort, size_t a, size_t b)
{
	const struct model_service	*x = &m->services[a];
	const struct model_service	*y = &m->services[b];
	int				 c = 0;

	switch (sort) {
	case SERVICES_SORT_NODES:
		c = panel_cmp_desc(x->nodes, y->nodes);
		break;
	case SERVICES_SORT_REQS:
		c = panel_cmp_desc(x->req_rate, y->req_rate);
		break;
	case SERVICES_SORT_P99:
		c = panel_cmp_desc(x->p99_ms, y->p99_ms);
		break;
	}
	return c != 0 ? c : strcmp(x->name, y->name);
}

static enum panel_tone
services_tone(const struct model *m, size_t i)
{
	const struct model_service	*s = &m->services[i];

	if (s->nodes == 0 || s->healthy == 0)
		return PANEL_TONE_BAD;
	if (s->healthy >= 0 && s->healthy < s->nodes)
		return PANEL_TONE_WARN;
	return PANEL_TONE_NONE;
}

const struct panel_type services_panel = {
	"Services", services_cols, nitems(services_cols),
	services_sorts, nitems(services_sorts),
	services_count, services_cells, services_text, services_text,
	services_cmp, services_tone,
};
