/*
 * msgpack <-> JSON (jansson) conversion, used by microctl --json and by the
 * HTTP roles that speak JSON to clients and msgpack to the master.
 *
 * Both directions refuse what has no faithful form on the other side (bin
 * and ext objects, non-string map keys, integers above INT64_MAX, NaN and
 * infinities, invalid UTF-8) and nesting deeper than MPJSON_DEPTH_MAX, with
 * a static message in *cause.
 */
#ifndef MICRO_MPJSON_H
#define MICRO_MPJSON_H

#include <jansson.h>
#include <msgpack.h>

#define MPJSON_DEPTH_MAX	32	/* what msgpack-c's unpacker accepts */

/* A new reference, or NULL with *cause set. */
json_t	*mpjson_from_msgpack(const msgpack_object *, const char **);
/*
 * Pack the JSON value. On error (-1) the packer has already received part
 * of the value: the caller must discard what it was building.
 */
int	 mpjson_pack(msgpack_packer *, const json_t *, const char **);

#endif
