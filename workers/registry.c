/*
 * The registry role: exactly one process, the only writer of the shm
 * registry. It applies register/deregister requests relayed by the master
 * (doc/control-protocol.md) through the registry core (registry/core.h).
 * Everything registry-specific lives in registry/; this file only turns
 * the configuration into a core and control messages into core calls.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "ctlproto.h"
#include "log.h"
#include "registry/core.h"
#include "util.h"
#include "workers/worker.h"

/* Loads the database into shm before returning: lookups work at once. */
static int
registry_role_init(struct worker *w)
{
	const struct config		*conf = w->conf;
	struct registry_core_conf	 rcc;
	char				 path[CONFIG_STR_MAX + 16];
	char				*cause;

	snprintf(path, sizeof(path), "%s/registry.db", conf->state_dir);
	rcc.db_path = path;
	rcc.backend_conf = (struct registry_backend_conf){
		.address = conf->registry_address,
		.prefix = conf->registry_prefix,
		.username = conf->registry_username,
		.password = conf->registry_password,
		.token = conf->registry_token,
		.tls_ca = conf->registry_tls_ca,
		.tls_cert = conf->registry_tls_cert,
		.tls_key = conf->registry_tls_key,
		.ttl_ms = conf->registry_ttl_ms,
	};
	if ((rcc.backend = registry_backend_find(conf->registry_backend,
	    &cause)) == NULL) {
		log_warnx("%s", cause);
		free(cause);
		return -1;
	}
	/* The writer claim, the database: worth another try. */
	if ((w->role_data = registry_core_open(&rcc, w->base, w->shm,
	    w->slot_index, &cause)) == NULL) {
		log_warnx("%s", cause);
		free(cause);
		return WORKER_RETRY;
	}
	return 0;
}

static void
registry_role_shutdown(struct worker *w)
{
	registry_core_close(w->role_data);
	w->role_data = NULL;
}

/* The request's fault, or worth a retry later, or neither. */
static const char *
registry_reply_code(int rv)
{
	if (rv == REGISTRY_REFUSED)
		return CTL_CODE_INVALID;
	if (rv == REGISTRY_UNAVAILABLE)
		return CTL_CODE_UNAVAILABLE;
	return NULL;
}

static void
registry_reply(struct worker *w, const struct ctl_msg *msg, int rv,
    char *cause)
{
	struct ctl_frame	 f;

	if (cause != NULL) {
		ctl_frame_error_code(&f, msg->id, registry_reply_code(rv),
		    cause);
		free(cause);
	} else {
		ctl_frame_reply(&f, msg->id, 1);
		ctl_pack_str(&f.pk, "data");
		msgpack_pack_map(&f.pk, 0);
	}
	worker_send(w, &f);
}

/* args.json as a string, or a cause. */
static const msgpack_object *
registry_arg_json(const struct ctl_msg *msg, char **cause)
{
	const msgpack_object	*json = ctl_map_get(msg->args, "json");

	if (json == NULL || json->type != MSGPACK_OBJECT_STR) {
		xasprintf(cause, "%s needs a \"json\" string argument",
		    msg->cmd);
		return NULL;
	}
	return json;
}

static void
registry_cmd_register(struct worker *w, const struct ctl_msg *msg)
{
	const msgpack_object	*json, *ttl;
	uint64_t		 ttl_ms = REGISTRY_TTL_DEFAULT;
	int64_t			 v;
	char			*cause = NULL;
	int			 rv = REGISTRY_REFUSED;

	if ((json = registry_arg_json(msg, &cause)) == NULL)
		goto done;
	if ((ttl = ctl_map_get(msg->args, "ttl_ms")) != NULL &&
	    ttl->type != MSGPACK_OBJECT_NIL) {
		if (ctl_obj_int(ttl, &v) == -1 || v < 0) {
			xasprintf(&cause, "ttl_ms must be a number of "
			    "milliseconds, 0 for no expiry");
			goto done;
		}
		ttl_ms = (uint64_t)v;
	}
	rv = registry_core_register(w->role_data, json->via.str.ptr,
	    json->via.str.size, ttl_ms, &cause);
done:
	registry_reply(w, msg, rv, cause);
}

static void
registry_cmd_deregister(struct worker *w, const struct ctl_msg *msg)
{
	const msgpack_object	*json;
	char			*cause = NULL;
	int			 rv = REGISTRY_REFUSED;

	if ((json = registry_arg_json(msg, &cause)) != NULL)
		rv = registry_core_deregister(w->role_data, json->via.str.ptr,
		    json->via.str.size, &cause);
	registry_reply(w, msg, rv, cause);
}

/* From the master: a new registry worker for the same store follows. */
static void
registry_cmd_handover(struct worker *w, const struct ctl_msg *msg)
{
	registry_core_hand_over(w->role_data);
	worker_drain(w);
}

static const struct worker_cmd registry_role_cmds[] = {
	{ "register", registry_cmd_register },
	{ "deregister", registry_cmd_deregister },
	{ "handover", registry_cmd_handover },
	{ NULL, NULL },
};

const struct role role_registry = {
	.name = "registry",
	.id = ROLE_REGISTRY,
	.init = registry_role_init,
	.shutdown = registry_role_shutdown,
	.cmds = registry_role_cmds,
};
