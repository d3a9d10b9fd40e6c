/*
 * The dashboard's files (web/assets/), compiled into the binary by
 * web/gen-assets.sh: nothing is fetched from outside, and a running
 * daemon never serves files that changed on disk under it.
 */
#ifndef MICRO_WEB_ASSETS_H
#define MICRO_WEB_ASSETS_H

#include <stddef.h>

struct web_asset {
	const char		*name;	/* file name, e.g. "app.js" */
	const unsigned char	*data;	/* NUL-terminated */
	size_t			 len;	/* without the NUL */
};

/* The generated table, ended by a NULL name. */
extern const struct web_asset web_assets[];

const struct web_asset	*web_asset_find(const char *);

#endif
