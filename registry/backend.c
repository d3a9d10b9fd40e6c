/*
 * Finding a registry backend: the built-in ones, else a plugin loaded by
 * lib/plugin.c (once, never unloaded; one built for another ABI is
 * refused before any of its functions runs).
 */
#include "config.h"

#include <string.h>

#include "plugin.h"
#include "registry/backend.h"
#include "util.h"

static const struct registry_backend *const backend_builtin[] = {
	&registry_backend_local,
};

const struct registry_backend *
registry_backend_find(const char *name, char **cause)
{
	const struct registry_backend	*be;
	size_t				 i;

	for (i = 0; i < nitems(backend_builtin); i++) {
		if (strcmp(backend_builtin[i]->name, name) == 0)
			return backend_builtin[i];
	}
	if ((be = plugin_load("registry", name, REGISTRY_BACKEND_SYMBOL,
	    REGISTRY_BACKEND_ABI, sizeof(*be), cause)) == NULL)
		return NULL;
	if (be->open == NULL) {
		xasprintf(cause, "registry backend %s has no open", name);
		return NULL;
	}
	return be;
}
