/* tls.h — TLS for the control plane's evhttp server. */
#ifndef CL_CONTROL_TLS_H
#define CL_CONTROL_TLS_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/err.h"

/* Creates a server context (TLS 1.2+) from chain_pem (the server certificate,
 * then its issuers) and key (a remote key in cloister-control: the monitor
 * signs; the context takes its own reference). A client that speaks plain HTTP to it gets a short plain-text HTTP answer
 * (400, JSON error body) saying that this port speaks HTTPS, instead of a
 * TLS alert or silence. The caller owns *out (SSL_CTX_free). */
CL_MUST_CHECK cl_err ctl_tls_ctx_new(const char *chain_pem, EVP_PKEY *key, SSL_CTX **out);
/* A server-side TLS bufferevent on ctx with no socket yet (evhttp sets it),
 * closing its socket and SSL when freed; *ssl receives its SSL object
 * (owned by the bufferevent). NULL on allocation failure. */
struct bufferevent *ctl_tls_bev_new(struct event_base *base, SSL_CTX *ctx, SSL **ssl);

#endif
