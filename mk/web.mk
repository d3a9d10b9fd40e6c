# web: the dashboard, /metrics, the live feed (doc/web.md). The files in
# web/assets/ are compiled into the binary through a generated C table.

WEB_ASSETS = web/assets/layout.html web/assets/app.css web/assets/app.js

microd_microd_SOURCES += \
	web/web.h \
	web/assets.c web/assets.h \
	web/html.c web/html.h \
	web/model.c web/model.h \
	web/pages.c \
	web/registry.c \
	web/service.c \
	web/call.c \
	web/metrics.c \
	web/live.c
nodist_microd_microd_SOURCES = web/assets-data.c
CLEANFILES += web/assets-data.c
EXTRA_DIST += web/gen-assets.sh $(WEB_ASSETS)

web/assets-data.c: $(srcdir)/web/gen-assets.sh $(srcdir)/web/assets/layout.html \
    $(srcdir)/web/assets/app.css $(srcdir)/web/assets/app.js
	$(AM_V_GEN)$(MKDIR_P) web && \
	$(SHELL) $(srcdir)/web/gen-assets.sh $(srcdir) $(WEB_ASSETS) > $@.tmp && \
	mv $@.tmp $@
