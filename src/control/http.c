/* http.c — request dispatch and reply helpers on libevent evhttp. */
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "control/api_attest.h"
#include "control/api_secrets.h"
#include "control/conn.h"
#include "control/console.h"
#include "control/control.h"
#include "control/fw.h"
#include "control/routes.h"
#include "control/upload.h"
#include "control/validate.h"

int ctl_err_status(cl_err e)
{
	switch (e) {
	case CL_EINVAL:
	case CL_EPROTO:
	case CL_ECRYPTO: /* a signature or digest the caller sent did not check out */
		return 400;
	case CL_EAUTH:
		return 401;
	case CL_EPERM:
		return 403;
	case CL_ENOTFOUND:
		return 404;
	case CL_ECONFLICT:
		return 409;
	case CL_ETOOBIG:
		return 413;
	case CL_EMETHOD:
		return 405;
	case CL_EMEDIA:
		return 415;
	case CL_ELIMIT:
		return 429;
	case CL_EHEADERS:
		return 431;
	case CL_ENOTIMPL:
		return 501;
	case CL_ENOSPACE:
		return 507;
	case CL_EUNAVAIL:
		return 503;
	case CL_ETIMEOUT:
		return 504;
	default:
		return 500;
	}
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 507:
		return "Insufficient Storage";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return status >= 500 ? "Internal Server Error" : "Error";
	}
}

void ctl_count_status(ctl_server *srv, int status)
{
	if (status > 0 && status < CTL_NSTATUS)
		srv->requests[status]++;
}

void ctl_reply_json(ctl_server *srv, struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (!out || !s) {
		free(s);
		if (out)
			evbuffer_free(out);
		ctl_count_status(srv, 500);
		evhttp_send_reply(req, 500, "Internal Server Error", NULL);
		return;
	}
	evbuffer_add(out, s, strlen(s));
	evbuffer_add(out, "\n", 1);
	free(s);
	ctl_count_status(srv, status);
	evhttp_send_reply(req, status, reason(status), out);
	evbuffer_free(out);
}

void ctl_reply_error(ctl_server *srv, struct evhttp_request *req, cl_err e, const char *msg)
{
	int status = ctl_err_status(e);
	json_t *body = json_pack("{s:{s:s,s:s}}", "error", "code", cl_err_name(e), "message",
				 msg && msg[0] ? msg : cl_err_str(e));
	ctl_reply_json(srv, req, status, body);
}

void ctl_reply_err(ctl_server *srv, struct evhttp_request *req, cl_err e)
{
	ctl_reply_error(srv, req, e, cl_error_detail());
}

const char *ctl_req_header(ctl_req *r, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

cl_err ctl_req_json(ctl_req *r, json_t **out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	CL_ENSURE(len <= CTL_JSON_MAX, CL_ETOOBIG, "JSON body exceeds %u bytes", CTL_JSON_MAX);
	const unsigned char *p = len ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
	CL_ENSURE(p, CL_ENOMEM, "out of memory");
	return ctl_json_body(p, len, out);
}

cl_err ctl_req_page(ctl_req *r, ctl_page *pg)
{
	const char *ls = evhttp_find_header(&r->query, "limit");
	const char *after = evhttp_find_header(&r->query, "after");
	pg->limit = CTL_PAGE_DEFAULT;
	pg->after = "";
	if (ls) {
		char *end = NULL;
		errno = 0;
		long v = strtol(ls, &end, 10);
		CL_ENSURE(*ls && !*end && errno == 0 && v >= 1 && v <= CTL_PAGE_MAX, CL_EINVAL, "limit must be 1..%d",
			  CTL_PAGE_MAX);
		pg->limit = (int)v;
	}
	if (after) {
		CL_ENSURE(ctl_valid_id(after), CL_EINVAL, "after must be an id from a previous page's next");
		pg->after = after;
	}
	return CL_OK;
}

json_t *ctl_page_json(json_t *items, const char *next_id)
{
	if (!items)
		return NULL;
	return json_pack("{s:o,s:o}", "items", items, "next", next_id ? json_string(next_id) : json_null());
}

json_t *ctl_json_time(int64_t ms)
{
	char s[32];
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (ms <= 0 || !gmtime_r(&t, &tm))
		return json_null();
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(s);
}

static void healthz(ctl_req *r)
{
	ctl_reply_json(r->srv, r->req, 200, json_pack("{s:s}", "status", "ok"));
}

/* Splits the path into segments in r->pathbuf. Returns false if malformed. */
static bool split_path(ctl_req *r, const char *path)
{
	size_t n = strlen(path);
	if (n == 0 || n > 512 || path[0] != '/')
		return false;
	r->pathbuf = strdup(path + 1);
	if (!r->pathbuf)
		return false;
	char *save = NULL;
	for (char *s = strtok_r(r->pathbuf, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
		if (r->nseg == CTL_MAX_SEGS)
			return false;
		r->seg[r->nseg++] = s;
	}
	return true;
}

static void dispatch(struct evhttp_request *req, void *arg)
{
	ctl_server *srv = arg;
	ctl_req r = {.srv = srv, .req = req, .method = evhttp_request_get_command(req)};
	r.query.tqh_first = NULL;
	r.query.tqh_last = &r.query.tqh_first;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	cl_error_clear();
	/* Marks the connection as serving (no timeout, never evicted). A request
	 * that did not arrive through an admitted TLS connection (possible only
	 * if tracking it failed) is not served. */
	if (!ctl_conn_on_request(srv->conns, req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		ctl_reply_error(srv, req, CL_EUNAVAIL, "connection not admitted");
		goto out;
	}
	if (!path || !split_path(&r, path) || (query && evhttp_parse_query_str(query, &r.query) != 0)) {
		ctl_reply_error(srv, req, CL_ENOTFOUND, "no such endpoint");
		goto out;
	}
	/* The route table decides 404 / 405 / 415 before anything else runs. */
	const ctl_route *route = NULL;
	char allow[64];
	cl_err rerr = ctl_route_find(r.seg, r.nseg, r.method, &route, allow, sizeof(allow));
	if (rerr == CL_OK)
		rerr = ctl_route_check_body(route, ctl_req_header(&r, "Content-Type"),
					    evbuffer_get_length(evhttp_request_get_input_buffer(req)));
	if (rerr != CL_OK) {
		if (rerr == CL_EMETHOD)
			evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
		/* libevent reads a body only with POST, PUT and PATCH: after a
		 * refused HEAD, OPTIONS or made-up method, a body sent anyway would
		 * be read as the next request. Close instead. */
		if (r.method != EVHTTP_REQ_GET && r.method != EVHTTP_REQ_POST && r.method != EVHTTP_REQ_PUT &&
		    r.method != EVHTTP_REQ_DELETE)
			evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		ctl_reply_err(srv, req, rerr);
		goto out;
	}
	if (r.nseg == 1 && strcmp(r.seg[0], "healthz") == 0 && r.method == EVHTTP_REQ_GET) {
		healthz(&r);
		goto out;
	}
	if (r.nseg >= 1 && strcmp(r.seg[0], "console") == 0) { /* static files: no token */
		ctl_api_console(&r);
		goto out;
	}
	if (r.nseg == 1 && strcmp(r.seg[0], "metrics") == 0 && r.method == EVHTTP_REQ_GET) {
		ctl_api_metrics(&r);
		goto out;
	}
	if (r.nseg < 2 || strcmp(r.seg[0], "v1") != 0) {
		ctl_reply_error(srv, req, CL_ENOTFOUND, "no such endpoint");
		goto out;
	}
	const char *coll = r.seg[1];
	/* Unauthenticated /v1 calls: a host joining with its join token, and
	 * the public CA certificates and certificate status (GET /v1/ca...). */
	bool is_register = strcmp(coll, "hosts") == 0 && r.nseg == 3 && strcmp(r.seg[2], "register") == 0;
	if (strcmp(coll, "ca") == 0) {
		ctl_api_ca(&r);
		goto out;
	}
	if (ctl_secrets_public(&r)) { /* the document is the credential */
		ctl_api_secrets(&r);
		goto out;
	}
	if (!is_register) {
		cl_err e = ctl_auth(&r);
		if (e == CL_EPERM) { /* a valid token used outside its scope (engineer) */
			cl_warn_rl("denied reason=forbidden action=out-of-scope token=%s path=%.80s", r.who.token_id,
				   path);
			ctl_reply_error(srv, req, CL_EPERM, cl_error_detail());
			goto out;
		}
		if (e != CL_OK) { /* ctl_auth's details are safe to send: "token expired", ... */
			cl_warn_rl("denied reason=unauthenticated detail=\"%s\" token=%s path=%.80s", cl_error_detail(),
				r.who.token_id[0] ? r.who.token_id : "-", path);
			ctl_reply_error(srv, req, CL_EAUTH, cl_error_detail());
			goto out;
		}
	}
	if (strcmp(coll, "tenants") == 0)
		ctl_api_tenants(&r);
	else if (strcmp(coll, "tokens") == 0)
		ctl_api_tokens(&r);
	else if (strcmp(coll, "hosts") == 0)
		ctl_api_hosts(&r);
	else if (strcmp(coll, "images") == 0)
		ctl_api_images(&r);
	else if (strcmp(coll, "enclaves") == 0)
		ctl_api_enclaves(&r);
	else if (strcmp(coll, "jobs") == 0)
		ctl_api_jobs(&r);
	else if (strcmp(coll, "events") == 0)
		ctl_api_events(&r);
	else if (strcmp(coll, "fw") == 0)
		ctl_api_fw(&r);
	else if (strcmp(coll, "uploads") == 0)
		ctl_api_uploads(&r);
	else if (strcmp(coll, "secrets") == 0)
		ctl_api_secrets(&r);
	else
		ctl_reply_error(srv, req, CL_ENOTFOUND, "no such endpoint");
out:
	evhttp_clear_headers(&r.query);
	free(r.pathbuf);
}

void ctl_http_install(ctl_server *srv)
{
	evhttp_set_gencb(srv->http, dispatch, srv);
}
