#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tui/panel.h"
#include "util.h"

void
panel_init(struct panel *p, const struct panel_type *type)
{
	memset(p, 0, sizeof(*p));
	p->type = type;
}

void
panel_free(struct panel *p)
{
	free(p->rows);
	p->rows = NULL;
	p->nrows = 0;
}

/*
 * As microd's web filter matches (web/pages.c, app.js): trimmed of
 * blanks, and only ASCII letters fold, whatever the locale, so a UTF-8
 * name is matched by its bytes as typed.
 */
static int
panel_matches(const struct panel *p, const struct model *m, size_t i)
{
	char		 text[PANEL_IDENT_LEN], filter[sizeof(p->filter)];
	const char	*word;

	memcpy(filter, p->filter, sizeof(filter));
	if (*(word = util_trim(filter)) == '\0')
		return 1;
	p->type->text(m, i, text, sizeof(text));
	return util_ascii_contains(text, word);
}

struct panel_sorting {
	const struct panel	*p;
	const struct model	*m;
};

static int
panel_cmp(const void *a, const void *b, void *arg)
{
	const struct panel_sorting	*s = arg;

	return s->p->type->cmp(s->m, s->p->sort, *(const size_t *)a,
	    *(const size_t *)b);
}

static void
panel_reselect(struct panel *p, const struct model *m)
{
	char	 ident[PANEL_IDENT_LEN];
	size_t	 i;

	for (i = 0; i < p->nrows; i++) {
		p->type->ident(m, p->rows[i], ident, sizeof(ident));
		if (strcmp(ident, p->ident) == 0) {
			p->sel = i;
			return;
		}
	}
	if (p->sel >= p->nrows)
		p->sel = p->nrows > 0 ? p->nrows - 1 : 0;
	if (p->nrows > 0)
		p->type->ident(m, p->rows[p->sel], p->ident, sizeof(p->ident));
}

void
panel_update(struct panel *p, const struct model *m)
{
	struct panel_sorting	 s = { p, m };
	size_t			 i, n = p->type->count(m);

	p->rows = xrealloc(p->rows, (n ? n : 1) * sizeof(*p->rows));
	p->nrows = 0;
	for (i = 0; i < n; i++) {
		if (panel_matches(p, m, i))
			p->rows[p->nrows++] = i;
	}
	qsort_r(p->rows, p->nrows, sizeof(*p->rows), panel_cmp, &s);
	panel_reselect(p, m);
}

void
panel_move(struct panel *p, const struct model *m, long delta)
{
	long	 sel = (long)p->sel + delta;

	if (p->nrows == 0)
		return;
	if (sel < 0)
		sel = 0;
	if (sel >= (long)p->nrows)
		sel = (long)p->nrows - 1;
	p->sel = (size_t)sel;
	p->type->ident(m, p->rows[p->sel], p->ident, sizeof(p->ident));
}

void
panel_scroll(struct panel *p, size_t height)
{
	if (height == 0)
		return;
	p->height = height;
	if (p->sel < p->first)
		p->first = p->sel;
	if (p->sel >= p->first + height)
		p->first = p->sel - height + 1;
	if (p->first + height > p->nrows)
		p->first = p->nrows > height ? p->nrows - height : 0;
}

int
panel_cmp_desc(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	return (a < b) - (a > b);
}

long
panel_selected(const struct panel *p)
{
	return p->nrows > 0 ? (long)p->rows[p->sel] : -1;
}

void
panel_line(const struct panel *p, const struct model *m, size_t row,
    int width, char *out, size_t len)
{
	char		 cells[PANEL_COLS_MAX][PANEL_CELL_LEN];
	const char	*ptrs[PANEL_COLS_MAX];
	size_t		 i;

	memset(cells, 0, sizeof(cells));
	p->type->cells(m, p->rows[row], cells);
	for (i = 0; i < p->type->ncols; i++)
		ptrs[i] = cells[i];
	table_line(p->type->cols, p->type->ncols, ptrs, width, out, len);
}

void
panel_heading(const struct panel *p, int width, char *out, size_t len)
{
	table_heading(p->type->cols, p->type->ncols, width, out, len);
}
