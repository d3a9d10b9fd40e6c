/*
 * A stand-in plugin for the loader's tests, built several ways
 * (mk/plugins.mk): a broker backend by default, a registry backend with
 * STUB_REGISTRY, claiming the next ABI with STUB_ABI_BUMP, exporting no
 * symbol at all with STUB_NOSYM. Nothing of it is meant to run: the
 * loader must refuse the wrong ones before calling anything.
 */
#include "config.h"

#include <stddef.h>

#include "broker/backend.h"
#include "registry/backend.h"

#ifndef STUB_ABI_BUMP
#define STUB_ABI_BUMP	0
#endif

#if defined(STUB_REGISTRY)
static void *
stub_registry_open(const struct registry_host *host, const char **cause)
{
	*cause = "a stub";
	return NULL;
}

__attribute__((visibility("default")))
const struct registry_backend microd_registry_backend = {
	.abi = REGISTRY_BACKEND_ABI + STUB_ABI_BUMP,
	.name = "stub",
	.open = stub_registry_open,
};
#elif !defined(STUB_NOSYM)
static void *
stub_open(const struct broker_host *host, const char **cause)
{
	*cause = "a stub";
	return NULL;
}

static int
stub_publish(void *state, const char *topic, const void *data, size_t len,
    const char **cause)
{
	*cause = "a stub";
	return -1;
}

static struct broker_backend_sub *
stub_subscribe(void *state, const char *topic, const char *queue,
    broker_backend_deliver_cb cb, void *arg, const char **cause)
{
	*cause = "a stub";
	return NULL;
}

static void
stub_unsubscribe(void *state, struct broker_backend_sub *sub)
{
}

__attribute__((visibility("default")))
const struct broker_backend microd_broker_backend = {
	.abi = BROKER_BACKEND_ABI + STUB_ABI_BUMP,
	.name = "stub",
	.open = stub_open,
	.publish = stub_publish,
	.subscribe = stub_subscribe,
	.unsubscribe = stub_unsubscribe,
};
#else
/* Something to export, under another name. */
__attribute__((visibility("default")))
const int microd_stub_nothing = 0;
#endif
