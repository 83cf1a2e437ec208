/* metrics.c — GET /metrics in the Prometheus text exposition format.
 *
 * Counts of hosts, enclaves and jobs and the request mix describe the fleet:
 * only an admin or a metrics token may read them, unless the operator runs
 * cloister-control --metrics-open (a scrape port reachable only by the
 * scraper, for example). */
#include <event2/buffer.h>
#include <string.h>

#include "common/log.h"
#include "control/conn.h"
#include "control/control.h"

typedef struct gauge_ctx {
	struct evbuffer *out;
	const char *metric;
	const char *const *known; /* states always shown (0 if absent) */
	int64_t counts[8];
} gauge_ctx;

static void on_count(void *arg, const char *value, int64_t count)
{
	gauge_ctx *g = arg;
	for (size_t i = 0; g->known[i]; i++)
		if (strcmp(g->known[i], value) == 0) {
			g->counts[i] = count;
			return;
		}
}

static void gauge(ctl_server *srv, struct evbuffer *out, const char *table, const char *metric, const char *help,
		  const char *const *known)
{
	gauge_ctx g = {.out = out, .metric = metric, .known = known};
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s gauge\n", metric, help, metric);
	if (ctl_store_count_by(srv->store, table, "state", on_count, &g) != CL_OK)
		return;
	for (size_t i = 0; known[i]; i++)
		evbuffer_add_printf(out, "%s{state=\"%s\"} %lld\n", metric, known[i], (long long)g.counts[i]);
}

/* True if r may read the metrics; otherwise it has been answered 401/403. */
static bool allowed(ctl_req *r)
{
	if (r->srv->metrics_open)
		return true;
	cl_err e = ctl_auth(r);
	if (e != CL_OK) {
		cl_warn("denied reason=%s path=/metrics detail=\"%s\"", e == CL_EAUTH ? "unauthenticated" : "forbidden",
			cl_error_detail());
		ctl_reply_err(r->srv, r->req, e);
		return false;
	}
	if (r->who.kind != CTL_WHO_ADMIN && r->who.kind != CTL_WHO_METRICS) {
		cl_warn("denied reason=forbidden action=metrics token=%s", r->who.token_id);
		ctl_reply_error(r->srv, r->req, CL_EPERM, "only an admin or metrics token may read /metrics");
		return false;
	}
	return true;
}

void ctl_api_metrics(ctl_req *r)
{
	static const char *const enclave_states[] = {"pending", "running", "stopped", "failed",
						     "destroying", "lost", "suspended", NULL};
	static const char *const host_states[] = {"ready", "lost", "removed", NULL};
	static const char *const job_states[] = {"pending", "running", "succeeded", "failed", NULL};
	ctl_server *srv = r->srv;
	if (!allowed(r))
		return;
	struct evbuffer *out = evbuffer_new();
	if (!out) {
		ctl_reply_error(srv, r->req, CL_ENOMEM, "out of memory");
		return;
	}
	evbuffer_add_printf(out, "# HELP cloister_http_requests_total API requests answered, by status.\n"
				 "# TYPE cloister_http_requests_total counter\n");
	for (int s = 100; s < CTL_NSTATUS; s++)
		if (srv->requests[s])
			evbuffer_add_printf(out, "cloister_http_requests_total{status=\"%d\"} %llu\n", s,
					    (unsigned long long)srv->requests[s]);
	gauge(srv, out, "enclaves", "cloister_enclaves", "Enclaves by state.", enclave_states);
	gauge(srv, out, "hosts", "cloister_hosts", "Hosts by state.", host_states);
	gauge(srv, out, "jobs", "cloister_jobs", "Jobs by state.", job_states);
	evbuffer_add_printf(out,
			    "# HELP cloister_sync_waiters Host sync requests being held.\n"
			    "# TYPE cloister_sync_waiters gauge\ncloister_sync_waiters %u\n"
			    "# HELP cloister_ops_inflight Channel ops waiting for a host.\n"
			    "# TYPE cloister_ops_inflight gauge\ncloister_ops_inflight %u\n"
			    "# HELP cloister_job_waiters Job waits (GET /v1/jobs/{id}?wait=) being held.\n"
			    "# TYPE cloister_job_waiters gauge\ncloister_job_waiters %u\n",
			    srv->sync_waiters, ctl_ops_count(srv), srv->job_waiters);
	ctl_conn_metrics(srv, out);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	ctl_count_status(srv, 200);
	evhttp_send_reply(r->req, 200, "OK", out);
	evbuffer_free(out);
}
