/* agent_ops_post.c — op results to the control plane with libcurl's multi
 * interface, driven by the ops engine's libevent loop (curl tells us which
 * sockets and timeout to watch; we tell it what became ready). Many posts
 * are in flight at once over a few keep-alive connections, so a slow or
 * unreachable control plane delays results, never the engine: a result that
 * cannot be delivered (transport error, timeout, 5xx) goes to the pending
 * list and rides the next sync's "results".
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/util.h"
#include "common/http_client.h"
#include "common/log.h"
#include "host/agent_ops_internal.h"

#define POST_ACTIVE_MAX 256 /* posts in progress; beyond, results wait for the next sync */
#define POST_CONNS_MAX 8L   /* connections to the control plane */
#define POST_TIMEOUT_MS 10000L

typedef struct sock_ev {
	struct sock_ev *next, *prev;
	struct event *ev;
} sock_ev;

typedef struct xfer {
	struct xfer *next, *prev;
	CURL *easy;
	json_t *result; /* kept for the pending list if delivery fails */
	char *body;     /* may hold enclave data: wiped */
} xfer;

struct ops_post {
	CURLM *multi;
	struct event *timer;
	struct curl_slist *headers; /* holds the host token: wiped on free */
	char *base, *ca;
	xfer *xfers;
	size_t active;
	sock_ev *socks;
};

static void xfer_free(ops_post *pp, xfer *x, bool to_pending, cl_agent_pool *p)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		pp->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	pp->active--;
	if (x->easy) {
		curl_multi_remove_handle(pp->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	if (to_pending && x->result)
		ops_pending_push(p, x->result);
	json_decref(x->result);
	if (x->body) {
		explicit_bzero(x->body, strlen(x->body));
		free(x->body);
	}
	free(x);
}

/* Finished transfers: delivered, refused for good, or kept for the next sync. */
static void reap(cl_agent_pool *p)
{
	ops_post *pp = p->post;
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(pp->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		xfer *x = NULL;
		long status = 0;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		const char *op = json_string_value(json_object_get(x->result, "op"));
		bool retry = false;
		if (m->data.result != CURLE_OK) {
			cl_warn("op result not delivered; will send it with the next sync op=%s err=\"%s\"", op,
				curl_easy_strerror(m->data.result));
			retry = true;
		} else if (status >= 500) {
			cl_warn("op result refused; will send it with the next sync op=%s status=%ld", op, status);
			retry = true;
		} else if (status >= 300) {
			/* unknown or already answered (timed out at the control plane): nothing to retry */
			cl_debug("op result rejected op=%s status=%ld", op, status);
		}
		xfer_free(pp, x, retry, p);
	}
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
	cl_agent_pool *p = arg;
	int running = 0;
	int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
	curl_multi_socket_action(p->post->multi, fd, action, &running);
	reap(p);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	cl_agent_pool *p = arg;
	int running = 0;
	curl_multi_socket_action(p->post->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	reap(p);
}

/* CURLMOPT_SOCKETFUNCTION: watch s for what curl waits for. */
static int sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	cl_agent_pool *p = userp;
	ops_post *pp = p->post;
	sock_ev *se = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (se) {
			if (se->prev)
				se->prev->next = se->next;
			else
				pp->socks = se->next;
			if (se->next)
				se->next->prev = se->prev;
			event_free(se->ev);
			free(se);
			curl_multi_assign(pp->multi, s, NULL);
		}
		return 0;
	}
	short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	if (se) {
		event_del(se->ev);
		if (event_assign(se->ev, p->base, s, kind, on_sock, p) != 0)
			return -1;
	} else {
		if (!(se = calloc(1, sizeof(*se))) || !(se->ev = event_new(p->base, s, kind, on_sock, p))) {
			free(se);
			return -1;
		}
		se->next = pp->socks;
		if (pp->socks)
			pp->socks->prev = se;
		pp->socks = se;
		curl_multi_assign(pp->multi, s, se);
	}
	return event_add(se->ev, NULL) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: when curl wants to be called without socket activity. */
static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	cl_agent_pool *p = userp;
	if (timeout_ms < 0) {
		evtimer_del(p->post->timer);
		return 0;
	}
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	return evtimer_add(p->post->timer, &tv) == 0 ? 0 : -1;
}

static size_t discard(char *ptr, size_t size, size_t n, void *arg)
{
	return size * n;
}

void ops_post_result(cl_agent_pool *p, json_t *result)
{
	ops_post *pp = p->post;
	const char *op = json_string_value(json_object_get(result, "op"));
	char url[2048];
	xfer *x = NULL;
	json_t *body = NULL;
	if (!op || pp->active >= POST_ACTIVE_MAX ||
	    snprintf(url, sizeof(url), "%s/v1/hosts/%s/ops/%s", pp->base, p->host_id, op) >= (int)sizeof(url))
		goto later;
	if (!(x = calloc(1, sizeof(*x))) || !(body = json_deep_copy(result)) || json_object_del(body, "op") != 0 ||
	    !(x->body = json_dumps(body, JSON_COMPACT)) || !(x->easy = curl_easy_init()))
		goto later;
	CURL *e = x->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(x->body));
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, pp->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, POST_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PRIVATE, x);
	if (pp->ca)
		curl_easy_setopt(e, CURLOPT_CAINFO, pp->ca);
	x->result = result;
	if (curl_multi_add_handle(pp->multi, e) != CURLM_OK) {
		x->result = NULL;
		goto later;
	}
	x->next = pp->xfers;
	if (pp->xfers)
		pp->xfers->prev = x;
	pp->xfers = x;
	pp->active++;
	json_decref(body);
	return;
later:
	if (x) {
		if (x->easy)
			curl_easy_cleanup(x->easy);
		if (x->body) {
			explicit_bzero(x->body, strlen(x->body));
			free(x->body);
		}
		free(x);
	}
	json_decref(body);
	ops_pending_push(p, result);
	json_decref(result);
}

cl_err ops_post_new(cl_agent_pool *p, const char *control, const char *ca, const char *token)
{
	cl_err err = CL_OK;
	char auth[512] = "";
	ops_post *pp = calloc(1, sizeof(*pp));
	CL_ENSURE(pp, CL_ENOMEM, "out of memory");
	p->post = pp;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(pp);
		p->post = NULL;
		return cl_errorf(CL_ESYS, "cannot initialise libcurl");
	}
	pp->base = strdup(control);
	pp->ca = ca ? strdup(ca) : NULL;
	pp->multi = curl_multi_init();
	pp->timer = evtimer_new(p->base, on_timer, p);
	if (!pp->base || (ca && !pp->ca) || !pp->multi || !pp->timer) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	const char *lines[] = {auth, "Content-Type: application/json", "Expect:"};
	if (token && snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token) >= (int)sizeof(auth)) {
		err = cl_errorf(CL_EINVAL, "host token too long");
		goto out;
	}
	for (size_t i = token ? 0 : 1; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct curl_slist *h = curl_slist_append(pp->headers, lines[i]);
		if (!h) {
			err = cl_errorf(CL_ENOMEM, "out of memory");
			goto out;
		}
		pp->headers = h;
	}
	curl_multi_setopt(pp->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(pp->multi, CURLMOPT_SOCKETDATA, p);
	curl_multi_setopt(pp->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(pp->multi, CURLMOPT_TIMERDATA, p);
	curl_multi_setopt(pp->multi, CURLMOPT_MAX_HOST_CONNECTIONS, POST_CONNS_MAX);
out:
	explicit_bzero(auth, sizeof(auth));
	if (err != CL_OK)
		ops_post_free(p);
	return err;
}

void ops_post_free(cl_agent_pool *p)
{
	ops_post *pp = p->post;
	if (!pp)
		return;
	while (pp->xfers) /* abandoned: their results wait for a sync that will not come */
		xfer_free(pp, pp->xfers, true, p);
	if (pp->multi)
		curl_multi_cleanup(pp->multi); /* may still call sock_cb with CURL_POLL_REMOVE */
	while (pp->socks) {
		sock_ev *se = pp->socks;
		pp->socks = se->next;
		event_free(se->ev);
		free(se);
	}
	if (pp->timer)
		event_free(pp->timer);
	for (struct curl_slist *h = pp->headers; h; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(pp->headers);
	free(pp->base);
	free(pp->ca);
	free(pp);
	p->post = NULL;
	curl_global_cleanup();
}

cl_err ops_job_conn_copy(const cl_agent_pool *p, ops_job_conn *c)
{
	*c = (ops_job_conn){0};
	CL_ENSURE(p->control, CL_EUNAVAIL, "no control plane");
	if (!(c->control = strdup(p->control)) || (p->ca && !(c->ca = strdup(p->ca))) ||
	    (p->token && !(c->token = strdup(p->token))) || !(c->dir = strdup(p->dir)) ||
	    !(c->host_id = strdup(p->host_id))) {
		ops_job_conn_free(c);
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	return CL_OK;
}

void ops_job_conn_free(ops_job_conn *c)
{
	if (c->token) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->control), free(c->ca), free(c->dir), free(c->host_id);
	*c = (ops_job_conn){0};
}

bool ops_job_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&t, &attr, fn, arg) == 0;
	pthread_attr_destroy(&attr);
	return ok;
}

cl_err ops_job_fetch(cl_http_client *http, const ops_job_conn *c, const char *op, const char *what, uint64_t size,
		     const char *sha384_hex, cl_buf *out, uint8_t sha[48])
{
	char path[256];
	uint8_t want[48];
	long status = 0;
	snprintf(path, sizeof(path), "/v1/hosts/%s/ops/%s/data", c->host_id, op);
	CL_GUARD(cl_http_request(http, "GET", path, NULL, NULL, 0, NULL, &status, out));
	CL_ENSURE(status == 200, CL_EUNAVAIL, "cannot fetch %s: the control plane answered %ld", what, status);
	CL_ENSURE(out->len == size, CL_ECRYPTO, "%s fetched is %zu bytes, not %llu", what, out->len,
		  (unsigned long long)size);
	CL_GUARD(cl_sha384(out->data, out->len, sha));
	CL_GUARD(cl_hex_decode(sha384_hex, want, sizeof(want)));
	CL_ENSURE(CRYPTO_memcmp(sha, want, sizeof(want)) == 0, CL_ECRYPTO, "%s fetched does not match the op's SHA-384",
		  what);
	return CL_OK;
}
