#include "config.h"

#include <stdio.h>
#include <string.h>

#include "tui/table.h"

static int
table_flex_width(const struct table_col *cols, size_t ncols, int width)
{
	size_t	 i;
	int	 used = 0;

	for (i = 0; i < ncols; i++)
		used += cols[i].width + (i > 0);
	return width - used > TABLE_FLEX_MIN ? width - used : TABLE_FLEX_MIN;
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
		n = snprintf(out + at, len - at, cols[i].right ? "%s%*.*s" :
		    "%s%-*.*s", i > 0 ? " " : "", w, w, cells[i]);
		if (n < 0)
			break;
		at += (size_t)n < len - at ? (size_t)n : len - at - 1;
	}
	if (width >= 0 && strlen(out) > (size_t)width)
		out[width] = '\0';
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
