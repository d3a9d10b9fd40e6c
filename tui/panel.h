/*
 * A scrollable, filterable, sortable list over the model (the workers and
 * the services panels). A panel_type says how to read its rows; panel.c
 * keeps the selection on the same item while the rows move underneath.
 */
#ifndef MICRO_TUI_PANEL_H
#define MICRO_TUI_PANEL_H

#include <stddef.h>

#include "tui/model.h"
#include "tui/table.h"

#define PANEL_COLS_MAX	12
#define PANEL_CELL_LEN	256
#define PANEL_FILTER_LEN	64
/* Holds a service name as long as microd's registry takes (SHM_NAME_MAX). */
#define PANEL_IDENT_LEN	1040

enum panel_tone {
	PANEL_TONE_NONE,
	PANEL_TONE_GOOD,
	PANEL_TONE_WARN,
	PANEL_TONE_BAD,
};

struct panel_type {
	const char		*title;
	const struct table_col	*cols;
	size_t			 ncols;
	const char *const	*sorts;		/* names, the first is default */
	size_t			 nsorts;
	size_t			(*count)(const struct model *);
	void			(*cells)(const struct model *, size_t,
				    char [][PANEL_CELL_LEN]);
	/* Text the filter is matched against, and a stable identity. */
	void			(*text)(const struct model *, size_t, char *,
				    size_t);
	void			(*ident)(const struct model *, size_t, char *,
				    size_t);
	int			(*cmp)(const struct model *, int, size_t,
				    size_t);
	enum panel_tone		(*tone)(const struct model *, size_t);
};

struct panel {
	const struct panel_type	*type;
	size_t			*rows;		/* model indexes, shown order */
	size_t			 nrows;
	size_t			 sel;		/* into rows */
	size_t			 first;		/* first row on screen */
	size_t			 height;	/* rows on screen: a page */
	int			 sort;
	char			 filter[PANEL_FILTER_LEN];
	char			 ident[PANEL_IDENT_LEN];	/* of sel */
};

void	 panel_init(struct panel *, const struct panel_type *);
void	 panel_free(struct panel *);
/* Rebuild the rows after the model or the filter or the sort changed. */
void	 panel_update(struct panel *, const struct model *);
void	 panel_move(struct panel *, const struct model *, long);
/* Keep sel within height rows from first. */
void	 panel_scroll(struct panel *, size_t);
/* Model index of the selection; -1 if the panel is empty. */
long	 panel_selected(const struct panel *);
/* For panel_type.cmp: the largest first, unknown (NaN) last. */
int	 panel_cmp_desc(double, double);
void	 panel_line(const struct panel *, const struct model *, size_t, int,
	    char *, size_t);
void	 panel_heading(const struct panel *, int, char *, size_t);

extern const struct panel_type workers_panel;
extern const struct panel_type services_panel;

#endif
