/*
 * The broker's side of a backend plugin: loading it (lib/plugin.c, the
 * registry's loader) and the host it is opened with. The plugin's own
 * threads may log and ask for a restart, so both hooks are thread-safe:
 * a log line is one write, a restart a signal to ourselves, handled like
 * a stop from the master (drain, exit, respawned).
 */
#include "config.h"

#include <signal.h>
#include <unistd.h>

#include "broker/backend.h"
#include "log.h"
#include "plugin.h"
#include "util.h"

static void
backend_log(void *arg, int level, const char *msg)
{
	log_at(level, "broker: %s", msg);
}

static void
backend_restart(void *arg)
{
	kill(getpid(), SIGTERM);
}

/* One backend per process, open until it exits. */
static struct broker_host backend_host = {
	.abi = BROKER_BACKEND_ABI,
	.log = backend_log,
	.restart = backend_restart,
};

const struct broker_backend *
broker_backend_load(const char *name, char **cause)
{
	const struct broker_backend	*be;
	const char			*why;

	if ((be = plugin_load("broker", name, BROKER_BACKEND_SYMBOL,
	    BROKER_BACKEND_ABI, sizeof(*be), cause)) == NULL)
		return NULL;
	if (be->open == NULL || be->publish == NULL || be->subscribe == NULL ||
	    be->unsubscribe == NULL) {
		xasprintf(cause, "broker backend %s lacks a required call",
		    name);
		return NULL;
	}
	if (be->prepare != NULL && be->prepare(&why) == -1) {
		xasprintf(cause, "broker backend %s: %s", name, why);
		return NULL;
	}
	return be;
}

void *
broker_backend_open(const struct broker_backend *be, struct event_base *base,
    const char *address, const char **cause)
{
	backend_host.base = base;
	backend_host.address = address;
	return be->open(&backend_host, cause);
}
