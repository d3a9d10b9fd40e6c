/*
 * msgpack <-> JSON (lib/mpjson.c), both ways, from bytes that are taken
 * once as msgpack (checked first, as every caller does) and once as JSON
 * text. What converts must come back the
 * same: JSON -> msgpack -> JSON is the identity on what mpjson accepts.
 */
#include "config.h"

#include <stdlib.h>

#include "ctlproto.h"
#include "fuzz.h"
#include "log.h"
#include "mpjson.h"

/* j through msgpack and back; abort if it differs. */
static void
fuzz_mpjson_round_trip(const json_t *j)
{
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 unp;
	const char		*cause;
	json_t			*back;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_unpacked_init(&unp);
	if (mpjson_pack(&pk, j, &cause) == 0) {
		if (msgpack_unpack_next(&unp, sb.data, sb.size, NULL) !=
		    MSGPACK_UNPACK_SUCCESS)
			fatalx("mpjson: packed msgpack does not unpack");
		if ((back = mpjson_from_msgpack(&unp.data, &cause)) == NULL)
			fatalx("mpjson: packed msgpack refused: %s", cause);
		if (!json_equal(j, back))
			fatalx("mpjson: the round trip changed the value");
		json_decref(back);
	}
	msgpack_unpacked_destroy(&unp);
	msgpack_sbuffer_destroy(&sb);
}

static void
fuzz_mpjson_from_msgpack(const uint8_t *data, size_t size)
{
	msgpack_unpacked	 unp;
	const char		*cause;
	json_t			*j;

	msgpack_unpacked_init(&unp);
	if (ctl_msgpack_check(data, size) &&
	    msgpack_unpack_next(&unp, (const char *)data, size, NULL) ==
	    MSGPACK_UNPACK_SUCCESS &&
	    (j = mpjson_from_msgpack(&unp.data, &cause)) != NULL) {
		fuzz_mpjson_round_trip(j);
		json_decref(j);
	}
	msgpack_unpacked_destroy(&unp);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t	*j;

	fuzz_mpjson_from_msgpack(data, size);
	if ((j = json_loadb((const char *)data, size, JSON_DECODE_ANY,
	    NULL)) != NULL) {
		fuzz_mpjson_round_trip(j);
		json_decref(j);
	}
	return 0;
}
