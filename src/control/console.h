/* console.h — the web console's static files (console/), embedded into
 * cloister-control at build time and served at /console/ (console.c,
 * docs/api/console.md). */
#ifndef CL_CONTROL_CONSOLE_H
#define CL_CONTROL_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "control/control.h"

/* The Content-Security-Policy every console file is served with: nothing
 * inline, nothing from another origin, no framing, no form posts. */
#define CTL_CONSOLE_CSP                                                                                    \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " \
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/* Finds the embedded file served as /console/<name> ("" is index.html).
 * Only the exact names of the files in console/ match: any other string
 * ("..", "a/b", "%2e%2e", an unknown name) is not found, so no path can
 * reach outside the embedded set. Returns true and sets *data (static
 * storage, never freed), *len and *type (a static Content-Type string);
 * false if there is no such file. */
bool ctl_console_find(const char *name, const uint8_t **data, size_t *len, const char **type);

/* Serves GET /console and GET /console/<name> (the route table admits only
 * GET). /console redirects to /console/; an unknown name is 404. No
 * authentication: the files are public, the API calls they make carry the
 * token the user types. */
void ctl_api_console(ctl_req *r);

#endif
