/*
 * msgpack <-> JSON (jansson) conversion, used by microctl --json and by the
 * HTTP roles that speak JSON to clients and msgpack to the master.
 *
 * Both directions refuse what has no faithful form on the other side (bin
 * and ext objects, non-string map keys, NaN and infinities, invalid UTF-8)
 * and nesting deeper than MPJSON_DEPTH_MAX, with a static message in
 * *cause. A jansson tree cannot hold an integer above INT64_MAX:
 * mpjson_from_msgpack refuses one, the text functions keep it exact.
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
/*
 * The same for a JSON text, where every integer in [INT64_MIN, UINT64_MAX]
 * is packed exactly (a uint64 above INT64_MAX) and any other number as the
 * nearest double; one beyond the range of a double is refused.
 */
int	 mpjson_pack_text(msgpack_packer *, const char *, size_t,
	    const char **);
/*
 * Write the msgpack object as compact JSON text through cb, which must not
 * fail. On error (-1) part of it has been written already.
 */
int	 mpjson_dump(const msgpack_object *, json_dump_callback_t, void *,
	    const char **);

#endif
