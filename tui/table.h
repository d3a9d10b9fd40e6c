/*
 * Lay a row of cells out in columns for one screen width: fixed columns
 * keep their width, the one flexible column (width 0) takes what is left.
 * The same lines go to the curses screen and to `micro-top -b`.
 */
#ifndef MICRO_TUI_TABLE_H
#define MICRO_TUI_TABLE_H

#include <stddef.h>

struct table_col {
	const char	*name;
	int		 width;		/* 0: takes the rest of the line */
	int		 right;		/* right-aligned (numbers) */
};

#define TABLE_FLEX_MIN	8

/* Fill out (at most width characters, NUL-terminated). */
void	 table_line(const struct table_col *, size_t, const char *const *,
	    int, char *, size_t);
/* The heading line: the column names laid out the same way. */
void	 table_heading(const struct table_col *, size_t, int, char *, size_t);

#endif
