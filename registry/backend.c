/*
 * Finding a registry backend: the built-in ones, else a plugin. A plugin
 * is loaded once and never unloaded (its code may sit in pending libevent
 * callbacks until the process exits); one built for another ABI is refused
 * before any of its functions runs.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/backend.h"
#include "svc.h"
#include "util.h"

static const struct registry_backend *const backend_builtin[] = {
	&registry_backend_local,
};

static const struct registry_backend *
backend_plugin(const char *name, char **cause)
{
	const struct registry_backend	*be;
	const char			*dir = getenv("MICROD_PLUGIN_DIR");
	char				 path[1024];
	void				*dl;

	/* MICROD_PLUGIN_DIR: tests and uninstalled builds load from there. */
	snprintf(path, sizeof(path), "%s/registry-%s.so",
	    dir != NULL && *dir != '\0' ? dir : PKGLIBDIR, name);
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		xasprintf(cause, "registry backend %s: %s", name, dlerror());
		return NULL;
	}
	if ((be = dlsym(dl, REGISTRY_BACKEND_SYMBOL)) == NULL) {
		xasprintf(cause, "%s has no %s", path, REGISTRY_BACKEND_SYMBOL);
		dlclose(dl);
		return NULL;
	}
	if (be->abi != REGISTRY_BACKEND_ABI || be->open == NULL) {
		xasprintf(cause, "%s is not binary compatible (ABI %u, microd "
		    "speaks %u)", path, be->abi, REGISTRY_BACKEND_ABI);
		dlclose(dl);
		return NULL;
	}
	return be;
}

const struct registry_backend *
registry_backend_find(const char *name, char **cause)
{
	size_t	 i;

	for (i = 0; i < nitems(backend_builtin); i++) {
		if (strcmp(backend_builtin[i]->name, name) == 0)
			return backend_builtin[i];
	}
	/* The name becomes a path: refuse anything but a plain word. */
	if (*name == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789-") != strlen(name)) {
		xasprintf(cause, "registry backend \"%s\" is not a valid name",
		    name);
		return NULL;
	}
	return backend_plugin(name, cause);
}
