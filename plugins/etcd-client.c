/*
 * The etcd cluster as a list of gateway endpoints. Any member answers for
 * the whole cluster, so a failed request moves us to the next endpoint;
 * every request carries the auth token in "Authorization" (etcd wants
 * the bare token, no "Bearer").
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plugins/etcd-client.h"
#include "plugins/etcd-proto.h"
#include "registry/backend.h"
#include "util.h"

#define ETCD_ENDPOINTS_MAX	REGISTRY_ADDRESSES_MAX
#define ETCD_DEFAULT_ADDRESS	"127.0.0.1:2379"
#define ETCD_REVOKE_TIMEOUT_MS	1000L
#define ETCD_CONNECT_MS		2000L
/*
 * The total time of a request that is not a watch: a member answers from
 * memory in milliseconds, or in a second or two under a large page of
 * keys; one silent for longer has stalled (or hides behind a network that
 * drops packets) and the next endpoint is tried.
 */
#define ETCD_REQUEST_MS		5000L

struct etcd_client {
	struct curlev		*cev;
	const struct registry_backend_conf *conf;
	char			*endpoints[ETCD_ENDPOINTS_MAX];
	size_t			 nendpoints;
	size_t			 current;
	char			*token;
	int			 auth_off;	/* etcd said auth is not enabled */
};

static int
etcd_client_endpoints(struct etcd_client *c, const char *list,
    const char **cause)
{
	const char	*scheme;
	char		*copy, *p, *ep;

	scheme = c->conf->tls_ca[0] != '\0' || c->conf->tls_cert[0] != '\0' ?
	    "https://" : "http://";
	copy = p = xstrdup(*list == '\0' ? ETCD_DEFAULT_ADDRESS : list);
	while ((ep = util_list_next(&p)) != NULL) {
		if (c->nendpoints == ETCD_ENDPOINTS_MAX) {
			*cause = "too many etcd endpoints";
			free(copy);
			return -1;
		}
		xasprintf(&c->endpoints[c->nendpoints++], "%s%s",
		    strstr(ep, "://") != NULL ? "" : scheme, ep);
	}
	free(copy);
	if (c->nendpoints == 0) {
		*cause = "no etcd endpoint in address";
		return -1;
	}
	return 0;
}

struct etcd_client *
etcd_client_new(struct event_base *base,
    const struct registry_backend_conf *conf, const char **cause)
{
	struct etcd_client	*c;

	c = xcalloc(1, sizeof(*c));
	c->conf = conf;
	if (etcd_client_endpoints(c, conf->address, cause) == -1 ||
	    (c->cev = curlev_new(base, cause)) == NULL) {
		etcd_client_free(c);
		return NULL;
	}
	if (conf->token[0] != '\0')
		c->token = xstrdup(conf->token);
	return c;
}

void
etcd_client_free(struct etcd_client *c)
{
	size_t	 i;

	curlev_free(c->cev);
	for (i = 0; i < c->nendpoints; i++)
		free(c->endpoints[i]);
	free(c->token);
	free(c);
}

static void
etcd_client_setup(struct etcd_client *c, CURL *easy,
    struct curl_slist **headers)
{
	char	*line;

	if (c->conf->tls_ca[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_CAINFO, c->conf->tls_ca);
	if (c->conf->tls_cert[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_SSLCERT, c->conf->tls_cert);
	if (c->conf->tls_key[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_SSLKEY, c->conf->tls_key);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, ETCD_CONNECT_MS);
	if (c->token != NULL) {
		xasprintf(&line, "Authorization: %s", c->token);
		*headers = curl_slist_append(*headers, line);
		free(line);
	}
}

static struct curlev_xfer *
etcd_client_start(struct etcd_client *c, const char *path, char *body,
    long timeout_ms, curlev_data_cb data, curlev_done_cb done, void *arg,
    const char **cause)
{
	struct curlev_xfer	*x;
	char			*url;

	xasprintf(&url, "%s%s", c->endpoints[c->current], path);
	x = curlev_xfer_new(c->cev, "POST", url, body, done, arg);
	free(url);
	free(body);
	x->data = data;
	etcd_client_setup(c, x->easy, &x->headers);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	if (curlev_start(x, cause) == -1)
		return NULL;
	return x;
}

struct curlev_xfer *
etcd_client_post(struct etcd_client *c, const char *path, char *body,
    curlev_done_cb done, void *arg, const char **cause)
{
	return etcd_client_start(c, path, body, ETCD_REQUEST_MS, NULL, done,
	    arg, cause);
}

struct curlev_xfer *
etcd_client_stream(struct etcd_client *c, const char *path, char *body,
    curlev_data_cb data, curlev_done_cb done, void *arg, const char **cause)
{
	return etcd_client_start(c, path, body, 0, data, done, arg, cause);
}

void
etcd_client_failover(struct etcd_client *c)
{
	c->current = (c->current + 1) % c->nendpoints;
}

const char *
etcd_client_endpoint(const struct etcd_client *c)
{
	return c->endpoints[c->current];
}

int
etcd_client_need_auth(const struct etcd_client *c)
{
	return c->token == NULL && !c->auth_off && c->conf->username[0] != '\0';
}

/*
 * A cluster whose auth is not enabled yet refuses to authenticate; etcd's
 * own clients then go on without a token, so that credentials can be set
 * before "etcdctl auth enable". A token dropped later turns auth back on.
 */
void
etcd_client_auth_not_enabled(struct etcd_client *c)
{
	c->auth_off = 1;
}

char *
etcd_client_auth_request(const struct etcd_client *c)
{
	return etcd_req_auth(c->conf->username, c->conf->password);
}

void
etcd_client_set_token(struct etcd_client *c, char *token)
{
	free(c->token);
	c->token = token;
	c->auth_off = 0;
}

size_t
etcd_client_revoke_now(struct etcd_client *c, const int64_t *ids, size_t n)
{
	struct curlev_xfer	**xs;
	char			*url, *body;
	size_t			 i, ok;

	xs = xcalloc(n, sizeof(*xs));
	xasprintf(&url, "%s/v3/lease/revoke", c->endpoints[c->current]);
	for (i = 0; i < n; i++) {
		body = etcd_req_lease(ids[i]);
		xs[i] = curlev_xfer_new(c->cev, "POST", url, body, NULL, NULL);
		free(body);
		etcd_client_setup(c, xs[i]->easy, &xs[i]->headers);
	}
	free(url);
	ok = curlev_run_all_now(xs, n, ETCD_REVOKE_TIMEOUT_MS);
	free(xs);
	return ok;
}
