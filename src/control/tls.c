/* tls.c — OpenSSL bufferevents under evhttp (evhttp_set_bevcb). */
#include "control/tls.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <limits.h>
#include <openssl/err.h>
#include <stdio.h>

cl_err ctl_tls_ctx_new(const char *dir, SSL_CTX **out)
{
	char cert[PATH_MAX], key[PATH_MAX];
	snprintf(cert, sizeof(cert), "%s/server.pem", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return cl_errorf(CL_ECRYPTO, "SSL_CTX_new failed");
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		ERR_clear_error();
		return cl_errorf(CL_ECRYPTO, "cannot load server certificate/key from %s", dir);
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	*out = ctx;
	return CL_OK;
}

static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);
	if (!ssl)
		return NULL;
	struct bufferevent *bev =
		bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	/* Clients (curl, libcurl) often close without close_notify. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void ctl_tls_install(struct evhttp *http, SSL_CTX *ctx)
{
	evhttp_set_bevcb(http, make_bev, ctx);
}
