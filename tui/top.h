/*
 * micro-top's state, shared by its parts: the attachment to microd
 * (attach.c), the model (model.c), the two panels, the detail view, what
 * the keys do (keys.c) and how it is drawn (draw.c, screen.c).
 */
#ifndef MICRO_TUI_TOP_H
#define MICRO_TUI_TOP_H

#include <signal.h>
#include <stdint.h>

#include <jansson.h>

#include "tui/model.h"
#include "tui/panel.h"

#define TOP_RETRY_MS	1000	/* reconnect attempts while microd is away */
#define TOP_SILENT_MS	5000	/* no stats for this long: microd is stuck */
#define TOP_MESSAGE_LEN	256

struct conn;
struct top;

enum top_panel {
	TOP_WORKERS,
	TOP_SERVICES,
	TOP_NPANELS,
};

enum top_view {
	TOP_VIEW_MAIN,
	TOP_VIEW_DETAIL,
	TOP_VIEW_HELP,
};

/* What the bottom line is reading from the keyboard, if anything. */
enum top_prompt {
	TOP_PROMPT_NONE,
	TOP_PROMPT_FILTER,
	TOP_PROMPT_CONFIRM,
};

typedef void	(*top_action)(struct top *);

struct top {
	const char	*socket;
	struct model	 model;

	/* attach.c: the stats stream and a second connection for requests. */
	struct conn	*stream;
	struct conn	*req;
	char		 down[TOP_MESSAGE_LEN];	/* why not attached */
	char		 failure[TOP_MESSAGE_LEN];	/* seen in a callback */
	uint64_t	 retry_ms;		/* next connect attempt */
	uint64_t	 event_ms;		/* last stats event */
	int		 services_pending;
	int		 detail_pending;

	struct panel	 panels[TOP_NPANELS];
	enum top_panel	 focus;
	enum top_view	 view;

	char		*detail_name;		/* whole */
	json_t		*detail;		/* array of Service objects */
	size_t		 detail_first;		/* scroll */
	size_t		 detail_height;		/* lines on screen: a page */

	enum top_prompt	 prompt;
	char		 input[PANEL_FILTER_LEN];	/* whole UTF-8 */
	unsigned char	 typed[4];		/* a character's bytes so far */
	size_t		 ntyped;
	char		 question[TOP_MESSAGE_LEN];
	top_action	 confirmed;
	struct model_worker	 restart;	/* what K asked about */
	char		 message[TOP_MESSAGE_LEN];	/* last action's result */

	int		 quit;
	int		 dirty;
};

/* micro-top.c: the signal that asks micro-top to leave, or 0. */
extern volatile sig_atomic_t	top_signalled;

/* attach.c */
void		 attach_init(struct top *, const char *);
void		 attach_free(struct top *);
/*
 * Wait (at most until the next reconnect or liveness check) for microd
 * and, if fd is not -1, for input on fd: 1 if fd is readable, -1 if it
 * hung up, else 0.
 */
int		 attach_poll(struct top *, int);
int		 attach_up(const struct top *);
void		 attach_request_detail(struct top *);
void		 attach_reload(struct top *);
/* Restart t->restart, unless that process is no longer its worker. */
void		 attach_restart(struct top *);

/* keys.c */
void		 keys_handle(struct top *, int);

/* draw.c */
void		 draw_screen(struct top *);
void		 draw_header(const struct top *, int, char *, size_t, int);
int		 draw_header_lines(const struct top *);

/* detail.c */
size_t		 detail_count(const struct top *);
void		 detail_line(const struct top *, size_t, int, char *, size_t);

/* batch.c */
int		 batch_run(struct top *);

#endif
