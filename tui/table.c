#include "config.h"

#include <stdio.h>
#include <string.h>

#include "termtext.h"
#include "tui/table.h"

#define TABLE_CELL_LEN	1024

static int
table_flex_width(const struct table_col *cols, size_t ncols, int width)
{
	size_t	 i;
	int	 used = 0;

	for (i = 0; i < ncols; i++)
		used += cols[i].width + (i > 0);
	return width - used > TABLE_FLEX_MIN ? width - used : TABLE_FLEX_MIN;
}

/*
 * One cell, cut to w columns and padded to them, counted in display
 * columns: a UTF-8 name takes as many as it shows, not its bytes.
 */
static int
table_cell(const struct table_col *col, int w, int first, const char *text,
    char *out, size_t len)
{
	char	 cell[TABLE_CELL_LEN];
	int	 used;

	used = termtext_fit(text, w, cell, sizeof(cell));
	return snprintf(out, len, "%s%*s%s%*s", first ? "" : " ",
	    col->right ? w - used : 0, "", cell, col->right ? 0 : w - used, "");
}

void
table_line(const struct table_col *cols, size_t ncols,
    const char *const *cells, int width, char *out, size_t len)
{
	size_t	 i, at = 0;
	int	 w, flex, n;

	flex = table_flex_width(cols, ncols, width);
	out[0] = '\0';
	for (i = 0; i < ncols && at + 1 < len; i++) {
		w = cols[i].width != 0 ? cols[i].width : flex;
		/* Cells longer than their column are cut, never shifted. */
		n = table_cell(&cols[i], w, i == 0, cells[i], out + at,
		    len - at);
		if (n < 0)
			break;
		at += (size_t)n < len - at ? (size_t)n : len - at - 1;
	}
	/* A cut multibyte character at the end of out becomes a '?'. */
	termtext_fit(out, width, out, len);
	/* Trailing blanks would only make batch output ragged. */
	for (at = strlen(out); at > 0 && out[at - 1] == ' '; at--)
		out[at - 1] = '\0';
}

void
table_heading(const struct table_col *cols, size_t ncols, int width,
    char *out, size_t len)
{
	const char	*names[32];
	size_t		 i;

	for (i = 0; i < ncols && i < 32; i++)
		names[i] = cols[i].name;
	table_line(cols, i, names, width, out, len);
}
