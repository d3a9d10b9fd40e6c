/*
 * What the keys do, per view, through tables; and the two prompts of the
 * bottom line (the filter being typed, a yes/no question).
 */
#include "config.h"

#include <curses.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/top.h"
#include "utf8.h"
#include "util.h"

#define KEYS_ESC	27

struct keys_binding {
	int	 key;
	void	(*fn)(struct top *);
};

static struct panel *
keys_panel(struct top *t)
{
	return &t->panels[t->focus];
}

static void
keys_quit(struct top *t)
{
	t->quit = 1;
}

static void
keys_move(struct top *t, long delta)
{
	if (t->view == TOP_VIEW_DETAIL) {
		if (delta < 0 && t->detail_first < (size_t)-delta)
			t->detail_first = 0;
		else
			t->detail_first += delta;
		return;
	}
	panel_move(keys_panel(t), &t->model, delta);
}

static void
keys_up(struct top *t)
{
	keys_move(t, -1);
}

static void
keys_down(struct top *t)
{
	keys_move(t, 1);
}

/* As many rows as the focused list showed when last drawn. */
static long
keys_page(struct top *t)
{
	size_t	 n;

	n = t->view == TOP_VIEW_DETAIL ? t->detail_height :
	    keys_panel(t)->height;
	return n > 1 ? (long)n : 1;
}

static void
keys_page_up(struct top *t)
{
	keys_move(t, -keys_page(t));
}

static void
keys_page_down(struct top *t)
{
	keys_move(t, keys_page(t));
}

static void
keys_home(struct top *t)
{
	keys_move(t, -(long)(1L << 30));
}

static void
keys_end(struct top *t)
{
	keys_move(t, 1L << 30);
}

static void
keys_tab(struct top *t)
{
	t->focus = (t->focus + 1) % TOP_NPANELS;
}

static void
keys_sort(struct top *t)
{
	struct panel	*p = keys_panel(t);

	p->sort = (p->sort + 1) % (int)p->type->nsorts;
	panel_update(p, &t->model);
}

static void
keys_filter(struct top *t)
{
	t->prompt = TOP_PROMPT_FILTER;
	t->ntyped = 0;
	snprintf(t->input, sizeof(t->input), "%s", keys_panel(t)->filter);
}

/* The row selected in panel focus, or -1 with a hint shown. */
static long
keys_selected(struct top *t, enum top_panel focus, const char *what)
{
	long	 i;

	if (t->focus != focus) {
		snprintf(t->message, sizeof(t->message),
		    "select a %s first (Tab to the %ss panel)", what, what);
		return -1;
	}
	/* Empty, or every row filtered out. */
	if ((i = panel_selected(keys_panel(t))) == -1)
		snprintf(t->message, sizeof(t->message), "no %s shown", what);
	return i;
}

static void
keys_detail(struct top *t)
{
	long	 i;

	if ((i = keys_selected(t, TOP_SERVICES, "service")) == -1)
		return;
	free(t->detail_name);
	t->detail_name = xstrdup(t->model.services[i].name);
	json_decref(t->detail);
	t->detail = NULL;
	t->detail_first = 0;
	t->view = TOP_VIEW_DETAIL;
	attach_request_detail(t);
}

static void
keys_back(struct top *t)
{
	t->view = TOP_VIEW_MAIN;
	t->message[0] = '\0';
}

static void
keys_help(struct top *t)
{
	t->view = TOP_VIEW_HELP;
}

/* Whether a request can go to microd now; if not, the bottom line says so. */
static int
keys_attached(struct top *t)
{
	if (attach_up(t))
		return 1;
	snprintf(t->message, sizeof(t->message), "not attached to microd");
	return 0;
}

static void
keys_ask(struct top *t, top_action fn, const char *question)
{
	if (!keys_attached(t))
		return;
	snprintf(t->question, sizeof(t->question), "%s", question);
	t->confirmed = fn;
	t->prompt = TOP_PROMPT_CONFIRM;
}

static void
keys_reload(struct top *t)
{
	keys_ask(t, attach_reload, "Reload microd's configuration?");
}

/*
 * The worker asked about is the one restarted: the selection may have
 * moved to another by the time the answer comes.
 */
static void
keys_restart(struct top *t)
{
	const struct model_worker	*w;
	char				 q[TOP_MESSAGE_LEN];
	long				 i;

	if ((i = keys_selected(t, TOP_WORKERS, "worker")) == -1)
		return;
	w = &t->model.workers[i];
	t->restart = *w;
	snprintf(q, sizeof(q), "Restart worker %s/%lld (pid %lld)?", w->role,
	    (long long)w->id, (long long)w->pid);
	keys_ask(t, attach_restart, q);
}

static const struct keys_binding keys_main[] = {
	{ 'q', keys_quit },
	{ KEY_UP, keys_up },
	{ 'k', keys_up },
	{ KEY_DOWN, keys_down },
	{ 'j', keys_down },
	{ KEY_PPAGE, keys_page_up },
	{ KEY_NPAGE, keys_page_down },
	{ KEY_HOME, keys_home },
	{ 'g', keys_home },
	{ KEY_END, keys_end },
	{ 'G', keys_end },
	{ '\t', keys_tab },
	{ 's', keys_sort },
	{ '/', keys_filter },
	{ '\r', keys_detail },
	{ '\n', keys_detail },
	{ KEY_ENTER, keys_detail },
	{ 'r', keys_reload },
	{ 'K', keys_restart },
	{ '?', keys_help },
	{ KEYS_ESC, keys_back },
};

static const struct keys_binding keys_detail_view[] = {
	{ 'q', keys_quit },
	{ KEY_UP, keys_up },
	{ 'k', keys_up },
	{ KEY_DOWN, keys_down },
	{ 'j', keys_down },
	{ KEY_PPAGE, keys_page_up },
	{ KEY_NPAGE, keys_page_down },
	{ KEY_HOME, keys_home },
	{ 'g', keys_home },
	{ KEY_END, keys_end },
	{ 'G', keys_end },
	{ KEYS_ESC, keys_back },
	{ KEY_LEFT, keys_back },
	/* Backspace as terminfo says, or as DEL or ^H if it says other. */
	{ KEY_BACKSPACE, keys_back },
	{ 127, keys_back },
	{ '\b', keys_back },
	{ 'h', keys_back },
	{ '?', keys_help },
};

/*
 * A terminal sends a UTF-8 character a byte per key: it joins the input
 * once it is whole and valid, and only whole.
 */
static void
keys_filter_byte(struct top *t, unsigned char c)
{
	size_t	 len = strlen(t->input), n;

	/* Anything but a continuation byte begins a new character. */
	if (c < 0x80 || c > 0xbf || t->ntyped == sizeof(t->typed))
		t->ntyped = 0;
	t->typed[t->ntyped++] = c;
	if ((n = utf8_sequence(t->typed, t->ntyped)) != t->ntyped)
		return;
	t->ntyped = 0;
	if ((n > 1 || isprint(t->typed[0])) && len + n < sizeof(t->input)) {
		memcpy(t->input + len, t->typed, n);
		t->input[len + n] = '\0';
	}
}

/* Backspace takes the last character, however many bytes it has. */
static void
keys_filter_erase(struct top *t)
{
	const unsigned char	*in = (const unsigned char *)t->input;
	size_t			 len = strlen(t->input), at = 0, last = 0, n;

	t->ntyped = 0;
	while (at < len) {
		last = at;
		n = utf8_sequence(in + at, len - at);
		at += n > 0 ? n : 1;
	}
	t->input[last] = '\0';
}

static void
keys_prompt_filter(struct top *t, int key)
{
	struct panel	*p = keys_panel(t);

	if (key == KEYS_ESC) {
		t->input[0] = '\0';
		t->prompt = TOP_PROMPT_NONE;
	} else if (key == '\r' || key == '\n' || key == KEY_ENTER)
		t->prompt = TOP_PROMPT_NONE;
	else if (key == KEY_BACKSPACE || key == 127 || key == '\b')
		keys_filter_erase(t);
	else if (key >= 0 && key < 256)
		keys_filter_byte(t, (unsigned char)key);
	/* Filter as the operator types. */
	snprintf(p->filter, sizeof(p->filter), "%s", t->input);
	panel_update(p, &t->model);
}

static void
keys_prompt_confirm(struct top *t, int key)
{
	t->prompt = TOP_PROMPT_NONE;
	/* microd may have gone away while the question was up. */
	if (key == 'y' || key == 'Y') {
		if (keys_attached(t))
			t->confirmed(t);
	} else
		snprintf(t->message, sizeof(t->message), "cancelled");
}

static void
keys_table(struct top *t, const struct keys_binding *table, size_t n,
    int key)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (table[i].key == key) {
			table[i].fn(t);
			return;
		}
	}
}

void
keys_handle(struct top *t, int key)
{
	t->dirty = 1;
	if (key == KEY_RESIZE)
		return;
	if (t->prompt == TOP_PROMPT_FILTER)
		keys_prompt_filter(t, key);
	else if (t->prompt == TOP_PROMPT_CONFIRM)
		keys_prompt_confirm(t, key);
	else if (t->view == TOP_VIEW_HELP)
		key == 'q' ? keys_quit(t) : keys_back(t);
	else if (t->view == TOP_VIEW_DETAIL)
		keys_table(t, keys_detail_view, nitems(keys_detail_view), key);
	else {
		t->message[0] = '\0';
		keys_table(t, keys_main, nitems(keys_main), key);
	}
}
