/* tls.h — TLS for the control plane's evhttp server. */
#ifndef CL_CONTROL_TLS_H
#define CL_CONTROL_TLS_H

#include <event2/http.h>
#include <openssl/ssl.h>

#include "common/err.h"

/* Creates a server context (TLS 1.2+) from DIR/server.pem and DIR/server.key. */
CL_MUST_CHECK cl_err ctl_tls_ctx_new(const char *data_dir, SSL_CTX **out);
/* Makes every connection accepted by http a TLS bufferevent on ctx. */
void ctl_tls_install(struct evhttp *http, SSL_CTX *ctx);

#endif
