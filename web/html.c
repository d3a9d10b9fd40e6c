/*
 * HTML escaping and the page layout. The layout is a file,
 * web/assets/layout.html, with three markers: {{title}} and {{nav}} are
 * replaced, {{main}} is where a page's own content goes.
 */
#include "config.h"

#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "log.h"
#include "util.h"
#include "web/assets.h"
#include "web/html.h"

#define HTML_MAIN	"{{main}}"

/* The navigation, in order; page names match html_page_begin()'s. */
static const struct {
	const char	*page;
	const char	*href;
	const char	*label;
} html_nav[] = {
	{ "services", "/registry", "Services" },
	{ "call", "/call", "Call" },
	{ "workers", "/workers", "Workers" },
	{ "apps", "/apps", "Web apps" },
	{ "metrics", "/metrics", "Metrics" },
};

static void
html_textn(struct evbuffer *out, const char *s, size_t len)
{
	const char	*run = s, *end = s + len, *rep;

	for (; s < end; s++) {
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		evbuffer_add(out, run, s - run);
		evbuffer_add(out, rep, strlen(rep));
		run = s + 1;
	}
	evbuffer_add(out, run, end - run);
}

void
html_text(struct evbuffer *out, const char *s)
{
	html_textn(out, s, strlen(s));
}

void
html_url(struct evbuffer *out, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
			evbuffer_add(out, p, 1);
		else
			evbuffer_add_printf(out, "%%%02X", *p);
	}
}

static void
html_nav_write(struct evbuffer *out, const char *page)
{
	size_t	 i;

	for (i = 0; i < nitems(html_nav); i++)
		evbuffer_add_printf(out, "<li><a href=\"%s\"%s>%s</a></li>",
		    html_nav[i].href, strcmp(html_nav[i].page, page) == 0 ?
		    " aria-current=\"page\"" : "", html_nav[i].label);
}

static const struct web_asset *
html_layout(void)
{
	const struct web_asset	*a;

	if ((a = web_asset_find("layout.html")) == NULL ||
	    strstr((const char *)a->data, HTML_MAIN) == NULL)
		fatalx("web: layout.html has no %s marker", HTML_MAIN);
	return a;
}

void
html_page_begin(struct evbuffer *out, const char *page, const char *title)
{
	const char	*s = (const char *)html_layout()->data;
	const char	*end = strstr(s, HTML_MAIN), *m;

	while ((m = strstr(s, "{{")) != NULL && m < end) {
		evbuffer_add(out, s, m - s);
		if (strncmp(m, "{{title}}", 9) == 0) {
			html_text(out, title);
			s = m + 9;
		} else if (strncmp(m, "{{nav}}", 7) == 0) {
			html_nav_write(out, page);
			s = m + 7;
		} else {
			evbuffer_add(out, "{{", 2);
			s = m + 2;
		}
	}
	evbuffer_add(out, s, end - s);
}

void
html_page_end(struct evbuffer *out)
{
	const char	*s = (const char *)html_layout()->data;

	s = strstr(s, HTML_MAIN) + strlen(HTML_MAIN);
	evbuffer_add(out, s, strlen(s));
}

/*
 * The policy forbids inline script and style and any other origin: even
 * markup that escaped escaping could run nothing.
 */
void
html_reply(struct http_request *req, int status, struct evbuffer *page)
{
	struct http_headers	*h = http_reply_headers(req);

	http_headers_set(h, "Content-Security-Policy", "default-src 'self'; "
	    "img-src 'self' data:; object-src 'none'; base-uri 'none'; "
	    "frame-ancestors 'none'; form-action 'self'");
	http_headers_set(h, "X-Content-Type-Options", "nosniff");
	http_headers_set(h, "Referrer-Policy", "same-origin");
	http_headers_set(h, "Cache-Control", "no-store");
	http_reply_buffer(req, status, "text/html; charset=utf-8", page);
}
