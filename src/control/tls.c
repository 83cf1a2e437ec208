/* tls.c — OpenSSL bufferevents under evhttp (created by conn.c's
 * evhttp_set_bevcb callback), and the answer to plain HTTP on the TLS port. */
#include "control/tls.h"

#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"

/* OpenSSL recognises an HTTP request line where a ClientHello should be
 * (SSL_R_HTTP_REQUEST; a proxy's CONNECT is SSL_R_HTTPS_PROXY_REQUEST) and
 * fails the handshake without an alert. The info callback sees that failure
 * first: answer in clear text, as nginx does, then let the handshake error
 * close the connection as usual. */
#define PLAIN_BODY                                                                                 \
	"{\"error\":{\"code\":\"invalid\",\"message\":"                                                \
	"\"this is the Cloister control plane: it speaks HTTPS only\"}}\n"
_Static_assert(sizeof(PLAIN_BODY) - 1 == 98, "Content-Length below");

static void on_tls_info(const SSL *ssl, int where, int ret)
{
	static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
				     "Connection: close\r\nContent-Length: 98\r\n\r\n" PLAIN_BODY;
	if (!(where & SSL_CB_EXIT) || ret > 0)
		return;
	unsigned long e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) != ERR_LIB_SSL ||
	    (ERR_GET_REASON(e) != SSL_R_HTTP_REQUEST && ERR_GET_REASON(e) != SSL_R_HTTPS_PROXY_REQUEST))
		return;
	int fd = SSL_get_fd(ssl);
	char sink[4096];
	/* OpenSSL took the first 5 bytes ("GET /"); the rest of the request
	 * line must be there too, or this is not (or not only) plain HTTP. */
	ssize_t n = fd < 0 ? -1 : recv(fd, sink, sizeof(sink), MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0 || !memmem(sink, (size_t)n, " HTTP/1.", 8))
		return;
	/* Read what the client sent (one small request, already here), so the
	 * close after our answer is a FIN the client reads, not a reset. */
	for (int i = 0; i < 4 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
		;
	(void)send(fd, answer, sizeof(answer) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)shutdown(fd, SHUT_WR);
	cl_info_rl("plain HTTP on the HTTPS port: answered 400");
}

cl_err ctl_tls_ctx_new(const char *chain_pem, EVP_PKEY *key, SSL_CTX **out)
{
	BIO *bio = BIO_new_mem_buf(chain_pem, -1);
	X509 *x = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	cl_err err = CL_OK;
	*out = NULL;
	if (!ctx || !bio || !(x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) ||
	    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || SSL_CTX_use_certificate(ctx, x) != 1) {
		err = cl_errorf(CL_EINTERNAL, "cannot load the server certificate");
		goto out;
	}
	/* The rest of the chain: the CA certificate. */
	for (;;) {
		X509 *extra = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (!extra)
			break;
		if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
			X509_free(extra);
			err = cl_errorf(CL_EINTERNAL, "cannot load the certificate chain");
			goto out;
		}
	}
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		err = cl_errorf(CL_EINTERNAL, "the server key does not match its certificate");
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_info_callback(ctx, on_tls_info);
	*out = ctx;
	ctx = NULL;
out:
	ERR_clear_error();
	X509_free(x);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return err;
}

struct bufferevent *ctl_tls_bev_new(struct event_base *base, SSL_CTX *ctx, SSL **out)
{
	SSL *ssl = SSL_new(ctx);
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
	*out = ssl;
	return bev;
}
