/*
 * The terminal, through ncurses: set up, put lines in a style, restore.
 * Colour is used when the terminal has it; every style also reads without.
 */
#ifndef MICRO_TUI_SCREEN_H
#define MICRO_TUI_SCREEN_H

enum screen_style {
	SCREEN_NORMAL,
	SCREEN_TITLE,		/* a panel's title bar */
	SCREEN_HEADING,		/* column names */
	SCREEN_SELECTED,
	SCREEN_GOOD,
	SCREEN_WARN,
	SCREEN_BAD,
	SCREEN_NSTYLES,
};

void	 screen_init(void);
/* Restore the terminal; safe to call again, or when never set up. */
void	 screen_end(void);
int	 screen_rows(void);
int	 screen_cols(void);
void	 screen_clear(void);
/* Draw text on row y, cut at the width; bars fill the whole row. */
void	 screen_put(int, enum screen_style, const char *);
void	 screen_refresh(int, int);

#endif
