/*
 * What travels between the RPC client and a service node (DESIGN.md §3,
 * doc/rpc.md): the go-micro error JSON, the JSON-RPC envelope legacy
 * (2016) nodes speak, and JSON <-> msgpack transcoding for callers and
 * nodes that do not speak the same body format.
 */
#ifndef MICRO_RPC_CODEC_H
#define MICRO_RPC_CODEC_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define RPC_CT_JSON_TEXT	"application/json"
#define RPC_CT_MSGPACK_TEXT	"application/msgpack"

#define RPC_ERROR_ID_MAX	128
#define RPC_ERROR_DETAIL_MAX	1024

enum rpc_ctype {
	RPC_CT_JSON,
	RPC_CT_MSGPACK,
	RPC_CT_OTHER,
};

/* A go-micro error: {"id","code","detail","status"}. */
struct rpc_error {
	char	 id[RPC_ERROR_ID_MAX];
	int	 code;
	char	 detail[RPC_ERROR_DETAIL_MAX];
};

/*
 * The body format a Content-Type names (parameters ignored): NULL or
 * application/json -> JSON; application/msgpack or x-msgpack -> msgpack.
 */
enum rpc_ctype	 rpc_ctype(const char *);
const char	*rpc_ctype_text(enum rpc_ctype);

void	 rpc_error_set(struct rpc_error *, const char *id, int code,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Append the error JSON, status from the code ("Unknown" if odd). */
void	 rpc_error_json(const struct rpc_error *, struct evbuffer *);
/*
 * Read an error a node sent (body of a non-2xx reply, or a Micro-Error
 * header); a detail holding a NUL is cut there. Text that is not the
 * error JSON becomes the detail (no text: the status text), with code
 * fallback_code and id fallback_id. A code outside 400..599 becomes 500,
 * so a broken node cannot make the gateway answer 200 or 1xx.
 */
void	 rpc_error_parse(const char *, size_t, const char *fallback_id,
	    int fallback_code, struct rpc_error *);

/*
 * JSON-RPC (legacy nodes): {"method":M,"params":[REQ],"id":N}. req must be
 * JSON text (-1 and *cause if not).
 */
/*
 * A caller's or a node's JSON text as a tree (NULL if it is not JSON). An
 * integer beyond int64 (a Go uint64) is read as a double rather than
 * refused; where the value itself travels, it is copied from the text. A
 * string may hold "\u0000" (Go writes a NUL byte so): its C string stops
 * there, json_string_length does not.
 */
struct json_t	*rpc_json_load(const char *, size_t, size_t flags);
/* 1 if v is a string without a NUL: one with would be cut short. */
int	 rpc_json_cstring(const struct json_t *);
int	 rpc_jsonrpc_encode(struct evbuffer *, const char *method,
	    const char *req, size_t len, uint64_t id, const char **cause);
/*
 * {"id":N,"result":RSP,"error":null|"text"}: on success append RSP as the
 * node wrote it and return 0; otherwise fill err (500 with the server's
 * text, or 502 for a reply that is not an envelope) and return -1.
 */
int	 rpc_jsonrpc_decode(const char *, size_t, struct evbuffer *,
	    struct rpc_error *);

/*
 * Move the bytes of in (drained) to out as format to, from format from.
 * Equal formats, and bodies of any other type, move as they are. Returns -1 and *cause (static) when the
 * body does not parse or has no form in the other format.
 */
int	 rpc_transcode(struct evbuffer *in, enum rpc_ctype from,
	    struct evbuffer *out, enum rpc_ctype to, const char **cause);

#endif
