/*
 * Loading a plugin: the shared object <kind>-<name>.so from PKGLIBDIR, or
 * from $MICROD_PLUGIN_DIR when set (tests, uninstalled builds). Every
 * plugin ABI (registry/backend.h, broker/backend.h) exports one const
 * struct whose first member is its uint32_t ABI version: the loader reads
 * it before anything of the plugin runs, and refuses another version, or
 * a symbol the linker sized differently from the struct microd knows.
 * A plugin is never unloaded: its code may sit in pending libevent
 * callbacks (and, for NATS, in threads) until the process exits.
 */
#ifndef MICRO_PLUGIN_H
#define MICRO_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

/*
 * The struct symbol of plugin kind-name.so, built for abi, of size bytes.
 * NULL with an allocated *cause when name is not a plain word
 * ([a-z0-9-]), the file does not load, lacks symbol, speaks another ABI
 * or exports a symbol of another size.
 */
const void	*plugin_load(const char *, const char *, const char *, uint32_t,
		    size_t, char **);

#endif
