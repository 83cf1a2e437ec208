/* routes.h — the table of every route the control plane serves (routes.c).
 * Adding an endpoint means adding its line there and its page in docs/api/. */
#ifndef CL_CONTROL_ROUTES_H
#define CL_CONTROL_ROUTES_H

#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

enum ctl_body_kind {
	CTL_BODY_NONE,  /* no body expected (a body is refused with 400) */
	CTL_BODY_JSON,  /* a JSON object (application/json; a missing type is taken as JSON) */
	CTL_BODY_BYTES, /* raw bytes: application/octet-stream (upload parts) */
	CTL_BODY_JSON_OR_BYTES, /* a JSON object, or a small object's raw bytes (images, bundles) */
};

typedef struct ctl_route {
	enum evhttp_cmd_type method;
	const char *path; /* "/v1/enclaves/ * /send" without the spaces: "*" = one segment */
	enum ctl_body_kind body;
} ctl_route;

/* The whole table (static storage); *n its length. */
const ctl_route *ctl_routes(size_t *n);
/* Finds the route for method on the path's n segments (seg[0] = "v1"...).
 * CL_OK with *out set; CL_ENOTFOUND if no route has this path;
 * CL_EMETHOD if the path exists for other methods. allow (allowlen bytes,
 * may be 0) receives the path's methods, "GET, POST", for an Allow header. */
CL_MUST_CHECK cl_err ctl_route_find(const char *const *seg, size_t n, enum evhttp_cmd_type method,
				    const ctl_route **out, char *allow, size_t allowlen);
/* Checks a request body's declared Content-Type against the route: CL_EMEDIA
 * for a type the route does not take (a missing type counts as JSON). An
 * empty body, and a body sent to a route that takes none (ignored), pass. */
CL_MUST_CHECK cl_err ctl_route_check_body(const ctl_route *rt, const char *content_type, size_t body_len);

#endif
