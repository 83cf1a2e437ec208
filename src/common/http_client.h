/* http_client.h — a small HTTPS client on libcurl for the CLI and the host agent.
 *
 * One client keeps one connection alive between requests. Not thread-safe:
 * use one client per thread. TLS is verified against ca_file (required for https).
 */
#ifndef CL_HTTP_CLIENT_H
#define CL_HTTP_CLIENT_H

#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct cl_http_client cl_http_client;

/* Creates a client for base_url (e.g. "https://127.0.0.1:7443"). ca_file may be
 * NULL only for plain http. token, if not NULL, is sent as "Authorization: Bearer".
 * All strings are copied; *out is owned by the caller (cl_http_client_free). */
CL_MUST_CHECK cl_err cl_http_client_new(const char *base_url, const char *ca_file, const char *token,
					cl_http_client **out);
/* Frees the client and wipes its copy of the token. NULL is fine. */
void cl_http_client_free(cl_http_client *c);
/* Sets the whole-request timeout in milliseconds (default 30000; 0 = none). */
void cl_http_client_set_timeout(cl_http_client *c, long ms);

/* Performs `method path`. headers: NULL or a NULL-terminated list of "Name: value"
 * lines added to this request. body may be NULL. The response body is appended
 * to resp (cleared first, bounded by resp->max) and the HTTP status stored in
 * *status. Fails only on transport errors (CL_EIO, CL_ETIMEOUT, CL_ETOOBIG);
 * HTTP error statuses are returned as CL_OK with *status set. */
CL_MUST_CHECK cl_err cl_http_request(cl_http_client *c, const char *method, const char *path,
				     const char *const *headers, const void *body, size_t body_len,
				     const char *content_type, long *status, cl_buf *resp);

#endif
