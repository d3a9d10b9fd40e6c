#include "config.h"

#include <ctype.h>
#include <curses.h>
#include <stdlib.h>

#include "tui/screen.h"
#include "termtext.h"
#include "tui/table.h"

#define SCREEN_LINE_LEN	4096

static int	screen_active;
static attr_t	screen_attrs[SCREEN_NSTYLES];

/* Pair numbers are the styles'; 0 is the terminal's own colours. */
static const struct {
	enum screen_style	 style;
	short			 fg, bg;
	attr_t			 attr;		/* with colour */
	attr_t			 mono;		/* without */
} screen_styles[] = {
	{ SCREEN_TITLE, COLOR_BLACK, COLOR_CYAN, A_BOLD, A_REVERSE },
	{ SCREEN_HEADING, COLOR_CYAN, -1, A_BOLD, A_BOLD },
	{ SCREEN_SELECTED, COLOR_BLACK, COLOR_WHITE, 0, A_REVERSE },
	{ SCREEN_GOOD, COLOR_GREEN, -1, 0, 0 },
	{ SCREEN_WARN, COLOR_YELLOW, -1, A_BOLD, A_BOLD },
	{ SCREEN_BAD, COLOR_RED, -1, A_BOLD, A_BOLD | A_UNDERLINE },
};

static void
screen_colours(void)
{
	size_t	 i;
	int	 colour;

	colour = has_colors() && start_color() == OK;
	if (colour && use_default_colors() == ERR)
		colour = 0;
	for (i = 0; i < sizeof(screen_styles) / sizeof(screen_styles[0]);
	    i++) {
		if (!colour) {
			screen_attrs[screen_styles[i].style] =
			    screen_styles[i].mono;
			continue;
		}
		init_pair(screen_styles[i].style, screen_styles[i].fg,
		    screen_styles[i].bg);
		screen_attrs[screen_styles[i].style] = screen_styles[i].attr |
		    COLOR_PAIR(screen_styles[i].style);
	}
}

void
screen_init(void)
{
	initscr();
	screen_active = 1;
	/* cbreak, not raw: ^C still sends SIGINT, which quits cleanly. */
	cbreak();
	noecho();
	nonl();
	curs_set(0);
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	screen_colours();
}

void
screen_end(void)
{
	if (!screen_active)
		return;
	screen_active = 0;
	curs_set(1);
	endwin();
}

int
screen_rows(void)
{
	return LINES;
}

int
screen_cols(void)
{
	return COLS;
}

void
screen_clear(void)
{
	erase();
}

/*
 * In a single-byte locale (LANG=C) termtext passes bytes above 0x7f as one
 * column each, but ncurses draws those the locale cannot print as "~C" or
 * "M-C": a UTF-8 or CJK name would push the columns after it out of line
 * and off the edge. A UTF-8 locale's text is printable already.
 */
static void
screen_printable(char *s)
{
	if (MB_CUR_MAX > 1)
		return;
	for (; *s != '\0'; s++) {
		if (!isprint((unsigned char)*s))
			*s = '?';
	}
}

/* Whatever the text holds, only printable characters reach the screen. */
void
screen_put(int y, enum screen_style style, const char *text)
{
	char	 line[SCREEN_LINE_LEN];
	int	 cy, cx;

	if (y < 0 || y >= LINES)
		return;
	termtext_fit(text, COLS, line, sizeof(line));
	screen_printable(line);
	attrset(screen_attrs[style]);
	mvaddstr(y, 0, line);
	getyx(stdscr, cy, cx);
	if (cy == y && (style == SCREEN_TITLE || style == SCREEN_SELECTED))
		hline(' ', COLS - cx);
	attrset(A_NORMAL);
}

void
screen_refresh(int cursor_y, int cursor_x)
{
	if (cursor_y >= 0) {
		curs_set(1);
		move(cursor_y, cursor_x);
	} else
		curs_set(0);
	refresh();
}
