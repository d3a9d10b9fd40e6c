/*
 * Writing HTML safely: every string that did not come from this program
 * (service names, metadata, versions...) goes through html_text() or
 * html_url(), never straight into the page.
 */
#ifndef MICRO_WEB_HTML_H
#define MICRO_WEB_HTML_H

#include <stddef.h>

struct evbuffer;
struct http_request;

/* Escape & < > " ' : safe in element text and quoted attributes. */
void	 html_text(struct evbuffer *, const char *);
/* Percent-encode everything but unreserved characters (RFC 3986). */
void	 html_url(struct evbuffer *, const char *);
/*
 * The page layout (web/assets/layout.html) around a page's main content:
 * page names the navigation entry marked current, title is escaped.
 */
void	 html_page_begin(struct evbuffer *, const char *page,
	    const char *title);
void	 html_page_end(struct evbuffer *);
/* A text/html reply with the security headers every page carries. */
void	 html_reply(struct http_request *, int, struct evbuffer *);

#endif
