/* routes.c — every route the control plane serves, in one table.
 *
 * The dispatcher (http.c) checks a request against this table before it
 * authenticates or calls a handler: an unknown path is 404, a known path
 * with a method it does not serve is 405 with an Allow header, and a body
 * of the wrong media type is 415. The handlers in api_*.c still parse their
 * own path segments; this table is what the API promises (docs/api/), and
 * a route missing here is unreachable.
 */
#include "control/routes.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Patterns: segments separated by '/', "*" matches exactly one segment. */
static const ctl_route routes[] = {
	{EVHTTP_REQ_GET, "/healthz", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/metrics", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/console", CTL_BODY_NONE},   /* the web console (console.c): redirect to /console/ */
	{EVHTTP_REQ_GET, "/console/*", CTL_BODY_NONE}, /* its static files; no auth */
	{EVHTTP_REQ_GET, "/v1/tenants", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/tenants", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/tokens", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/tokens", CTL_BODY_NONE},
	{EVHTTP_REQ_DELETE, "/v1/tokens/*", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/hosts", CTL_BODY_NONE},
	{EVHTTP_REQ_DELETE, "/v1/hosts/*", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/hosts/register", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/hosts/join-tokens", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/hosts/*/sync", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/hosts/*/ops/*", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/hosts/*/ops/*/data", CTL_BODY_NONE},
	{EVHTTP_REQ_PUT, "/v1/hosts/*/ops/*/data", CTL_BODY_BYTES},
	{EVHTTP_REQ_POST, "/v1/hosts/*/ops/*/state-key", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/hosts/*/attestation-key", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/hosts/*/power-cycle", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/hosts/*/clear-quarantine", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/hosts/*/fw", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/hosts/*/fw/audit", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/hosts/*/fw/push", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/hosts/*/fw/trust", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/hosts/*/fw/window", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/hosts/*/fw/ops/*", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/hosts/*/fw/ops/*/data", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/events", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/fw/trust", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/fw/trust", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/fw/releases", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/fw/releases", CTL_BODY_JSON_OR_BYTES},
	{EVHTTP_REQ_GET, "/v1/fw/releases/*", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/fw/releases/*/bundle", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/fw/releases/*/signatures", CTL_BODY_JSON_OR_BYTES},
	{EVHTTP_REQ_POST, "/v1/fw/releases/*/approve", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/fw/channel", CTL_BODY_NONE},
	{EVHTTP_REQ_PUT, "/v1/fw/channel", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/uploads", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/uploads/*", CTL_BODY_NONE},
	{EVHTTP_REQ_DELETE, "/v1/uploads/*", CTL_BODY_NONE},
	{EVHTTP_REQ_PUT, "/v1/uploads/*/parts/*", CTL_BODY_BYTES},
	{EVHTTP_REQ_GET, "/v1/images", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/images", CTL_BODY_JSON_OR_BYTES},
	{EVHTTP_REQ_GET, "/v1/images/quota", CTL_BODY_NONE},
	{EVHTTP_REQ_PUT, "/v1/images/quota", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/images/*", CTL_BODY_NONE},
	{EVHTTP_REQ_DELETE, "/v1/images/*", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/enclaves", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/enclaves", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/enclaves/*", CTL_BODY_NONE},
	{EVHTTP_REQ_DELETE, "/v1/enclaves/*", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/start", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/stop", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/resize", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/send", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/recv", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/enclaves/*/logs", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/attestation", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/measure", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/provision", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/suspend", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/restore", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/enclaves/*/tls", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/tls", CTL_BODY_JSON},
	{EVHTTP_REQ_DELETE, "/v1/enclaves/*/tls", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/enclaves/*/tls/rotate", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/ca", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/ca/hosts", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/ca/certificates/*", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/jobs/*", CTL_BODY_NONE},
	{EVHTTP_REQ_GET, "/v1/secrets", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/secrets", CTL_BODY_JSON},
	{EVHTTP_REQ_DELETE, "/v1/secrets/*", CTL_BODY_NONE},
	{EVHTTP_REQ_PUT, "/v1/secrets/*/policy", CTL_BODY_JSON},
	{EVHTTP_REQ_GET, "/v1/secrets/*/events", CTL_BODY_NONE},
	{EVHTTP_REQ_POST, "/v1/secrets/*/challenge", CTL_BODY_JSON},
	{EVHTTP_REQ_POST, "/v1/secrets/*/release", CTL_BODY_JSON},
};

const ctl_route *ctl_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}

/* True if pattern (a route's path) matches the n segments seg[]. */
static bool pattern_matches(const char *pattern, const char *const *seg, size_t n)
{
	const char *p = pattern;
	for (size_t i = 0; i < n; i++) {
		if (*p != '/')
			return false;
		p++;
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (!(len == 1 && p[0] == '*') && (strlen(seg[i]) != len || memcmp(seg[i], p, len) != 0))
			return false;
		p += len;
	}
	return *p == '\0';
}

static const char *method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	default:
		return "";
	}
}

cl_err ctl_route_find(const char *const *seg, size_t n, enum evhttp_cmd_type method, const ctl_route **out,
		      char *allow, size_t allowlen)
{
	bool known = false;
	*out = NULL;
	if (allowlen)
		allow[0] = '\0';
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!pattern_matches(routes[i].path, seg, n))
			continue;
		known = true;
		if (routes[i].method == method && !*out)
			*out = &routes[i];
		const char *name = method_name(routes[i].method);
		if (allowlen && !strstr(allow, name)) {
			size_t used = strlen(allow);
			snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", name);
		}
	}
	if (*out)
		return CL_OK;
	if (!known)
		return cl_errorf(CL_ENOTFOUND, "no such endpoint");
	return cl_errorf(CL_EMETHOD, "%s is not allowed here; allowed: %s", method_name(method)[0] ? method_name(method) : "this method",
			 allow);
}

/* True if the media type (parameters after ';' ignored) is `want`. */
static bool media_is(const char *content_type, const char *want)
{
	size_t n = strcspn(content_type, "; \t");
	return n == strlen(want) && strncasecmp(content_type, want, n) == 0;
}

cl_err ctl_route_check_body(const ctl_route *rt, const char *content_type, size_t body_len)
{
	if (body_len == 0 || rt->body == CTL_BODY_NONE)
		return CL_OK; /* a GET or DELETE body has no meaning in HTTP: ignored */
	/* A missing Content-Type is taken as JSON: the body is then parsed as
	 * JSON and refused (400) if it is not. */
	const char *ct = content_type ? content_type : "application/json";
	bool json = media_is(ct, "application/json"), bytes = media_is(ct, "application/octet-stream");
	switch (rt->body) {
	case CTL_BODY_JSON:
		if (json)
			return CL_OK;
		return cl_errorf(CL_EMEDIA, "this endpoint takes application/json, not %.60s", ct);
	case CTL_BODY_BYTES:
		if (bytes)
			return CL_OK;
		return cl_errorf(CL_EMEDIA, "this endpoint takes application/octet-stream, not %.60s", ct);
	case CTL_BODY_JSON_OR_BYTES:
		if (json || bytes)
			return CL_OK;
		return cl_errorf(CL_EMEDIA, "this endpoint takes application/json or application/octet-stream, not %.60s",
				 ct);
	default:
		return CL_OK;
	}
}
