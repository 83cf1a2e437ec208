/* dataplane_guest.c — one guest of the data plane: its SSL_CTX (the chain,
 * the remote key, protocol and suite limits, resumption), its ticket keys and
 * its listeners (docs/tls.md "The session table").
 *
 * A guest set again (rotation) gets a new SSL_CTX; connections made under the
 * old one keep it (an SSL holds a reference to its SSL_CTX, which holds the
 * remote key and its signer), so none is dropped. */
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "tls/dataplane_internal.h"

#define TICKET_LIFETIME_S 7200
#define SESSION_CACHE 20000

static const char tls12_suites[] =
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
static const char tls13_suites[] = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

static int signer_index = -1;

static void signer_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	if (ptr)
		explicit_bzero(ptr, sizeof(dp_signer));
	free(ptr);
}

dp_guest *dp_guest_find(dp *d, const char *id)
{
	for (dp_guest *g = d->guests; g; g = g->next)
		if (strcmp(g->id, id) == 0)
			return g;
	return NULL;
}

/* ---------------------------------------------------------------- ticket keys */

static dp_ticket_key *tkeys(dp_guest *g)
{
	return g->tk_mem.ptr;
}

static cl_err ticket_key_new(dp_ticket_key *k)
{
	CL_ENSURE(RAND_bytes(k->name, sizeof(k->name)) == 1 && RAND_priv_bytes(k->aes, sizeof(k->aes)) == 1 &&
			  RAND_priv_bytes(k->hmac, sizeof(k->hmac)) == 1,
		  CL_EINTERNAL, "data plane: no randomness for ticket keys");
	k->made_ns = cl_now_mono_ns();
	return CL_OK;
}

/* Rotates: the current key becomes the previous (still decrypts), a new one
 * encrypts. */
static cl_err ticket_rotate(dp_guest *g)
{
	dp_ticket_key *k = tkeys(g);
	k[1] = k[0];
	return ticket_key_new(&k[0]);
}

static int ticket_cb(SSL *s, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
		     int enc)
{
	dp_guest *g = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
	dp_ticket_key *k;
	int which = 0;
	if (!g || !g->tk_mem.ptr)
		return -1;
	k = tkeys(g);
	if (enc) {
		memcpy(name, k[0].name, 16);
		if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
			return -1;
	} else {
		if (k[0].made_ns && memcmp(name, k[0].name, 16) == 0)
			which = 0;
		else if (k[1].made_ns && memcmp(name, k[1].name, 16) == 0)
			which = 1;
		else
			return 0; /* unknown key: a full handshake */
	}
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k[which].hmac, sizeof(k[which].hmac)),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!EVP_CipherInit_ex(cctx, EVP_aes_256_cbc(), NULL, k[which].aes, iv, enc) ||
	    !EVP_MAC_CTX_set_params(hctx, params))
		return -1;
	return which == 1 ? 2 : 1; /* 2: decrypted with the old key, issue a new ticket */
}

/* ---------------------------------------------------------------- SSL_CTX */

static cl_err load_chain(SSL_CTX *ctx, const char *pem, size_t len, X509 **leaf_out)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *leaf = NULL, *x = NULL;
	cl_err err = CL_OK;
	*leaf_out = NULL;
	if (!bio || !(leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		err = cl_errorf(CL_ECRYPTO, "data plane: the chain has no certificate");
		goto out;
	}
	if (SSL_CTX_use_certificate(ctx, leaf) != 1) {
		err = cl_errorf(CL_ECRYPTO, "data plane: the leaf certificate is refused");
		goto out;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			err = cl_errorf(CL_ECRYPTO, "data plane: a chain certificate is refused");
			goto out;
		}
	}
	*leaf_out = leaf;
	leaf = NULL;
out:
	X509_free(leaf);
	BIO_free(bio);
	ERR_clear_error();
	return err;
}

static cl_err ctx_new(dp *d, const cl_dp_guest *cfg, SSL_CTX **out)
{
	SSL_CTX *ctx = NULL;
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	dp_signer *s = NULL;
	char sid[CL_DP_ID_MAX + 16];
	cl_err err = CL_OK;
	*out = NULL;
	if (signer_index < 0)
		signer_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, signer_free);
	if (signer_index < 0 || !(ctx = SSL_CTX_new(TLS_server_method())) || !(s = calloc(1, sizeof(*s)))) {
		err = cl_errorf(CL_ENOMEM, "data plane: out of memory");
		goto out;
	}
	s->d = d;
	snprintf(s->slot, sizeof(s->slot), "tls/%s:%u", cfg->id, cfg->gen);
	if (SSL_CTX_set_ex_data(ctx, signer_index, s) != 1) {
		err = cl_errorf(CL_ENOMEM, "data plane: out of memory");
		goto out;
	}
	dp_signer *signer = s;
	s = NULL; /* freed with ctx */
	snprintf(sid, sizeof(sid), "%s:%u", cfg->id, cfg->gen);
	uint64_t mode = SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
	if (d->async)
		mode |= SSL_MODE_ASYNC;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, tls12_suites) != 1 || SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1 ||
	    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid, (unsigned)strlen(sid)) != 1 ||
	    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb) != 1) {
		err = cl_errorf(CL_EINTERNAL, "data plane: cannot configure TLS");
		goto out;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
				     SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, mode);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_sess_set_cache_size(ctx, SESSION_CACHE);
	SSL_CTX_set_timeout(ctx, TICKET_LIFETIME_S);
	CL_GUARD_OUT(err, load_chain(ctx, cfg->chain_pem, cfg->chain_len, &leaf));
	CL_GUARD_OUT(err, dp_key_new(leaf, signer, &key));
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		err = cl_errorf(CL_ECRYPTO, "data plane: the remote key does not match the leaf");
		goto out;
	}
	*out = ctx;
	ctx = NULL;
out:
	free(s);
	EVP_PKEY_free(key);
	X509_free(leaf);
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return err;
}

/* ---------------------------------------------------------------- listeners */

static void on_listen(evutil_socket_t fd, short what, void *arg)
{
	dp_listener *l = arg;
	dp_conn_accept(l->g, l->fd);
}

static void listeners_close(dp_guest *g)
{
	for (size_t i = 0; i < g->nls; i++) {
		event_free(g->ls[i].ev);
		close(g->ls[i].fd);
	}
	g->nls = 0;
}

/* Installs fds (taken only on success) as g's listeners. */
static cl_err listeners_set(dp *d, dp_guest *g, int *fds, size_t n)
{
	struct event *ev[CL_DP_LISTENERS_MAX] = {0};
	cl_err err = CL_OK;
	for (size_t i = 0; i < n; i++) {
		int acc = 0;
		socklen_t al = sizeof(acc);
		int fl = fcntl(fds[i], F_GETFL);
		if (getsockopt(fds[i], SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) != 0 || !acc || fl < 0 ||
		    fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) != 0) {
			err = cl_errorf(CL_EINVAL, "data plane: descriptor %zu is not a listening socket", i);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!(ev[i] = event_new(d->base, fds[i], EV_READ | EV_PERSIST, on_listen, &g->ls[i]))) {
			err = cl_errorf(CL_ENOMEM, "data plane: out of memory");
			goto out;
		}
	listeners_close(g);
	for (size_t i = 0; i < n; i++) {
		g->ls[i] = (dp_listener){.fd = fds[i], .ev = ev[i], .g = g};
		ev[i] = NULL;
		event_add(g->ls[i].ev, NULL);
	}
	g->nls = n;
out:
	for (size_t i = 0; i < n; i++)
		if (ev[i])
			event_free(ev[i]);
	return err;
}

/* ---------------------------------------------------------------- guests */

cl_err dp_guest_apply(dp *d, const cl_dp_guest *cfg, int *fds, size_t nfds)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	SSL_CTX *ctx = NULL;
	dp_guest *g = dp_guest_find(d, cfg->id), *fresh = NULL;
	dp_ticket_key nk;
	cl_err err;
	memset(&nk, 0, sizeof(nk));
	CL_GUARD_OUT(err, dp_parse_addr(cfg->backend, &ss, &sl));
	CL_GUARD_OUT(err, ctx_new(d, cfg, &ctx));
	CL_GUARD_OUT(err, ticket_key_new(&nk));
	if (!g) {
		if (!(fresh = calloc(1, sizeof(*fresh)))) {
			err = cl_errorf(CL_ENOMEM, "data plane: out of memory");
			goto out;
		}
		CL_GUARD_OUT(err, cl_secmem_alloc(2 * sizeof(dp_ticket_key), CL_SECMEM_NO_SECRETMEM, &fresh->tk_mem));
		g = fresh;
		g->d = d;
		snprintf(g->id, sizeof(g->id), "%s", cfg->id);
	}
	if (nfds || fresh)
		CL_GUARD_OUT(err, listeners_set(d, g, fds, nfds));
	/* From here nothing fails. A new generation gets new ticket keys: a
	 * session made under the old credential does not resume under the new. */
	if (fresh || cfg->gen != g->gen) {
		explicit_bzero(g->tk_mem.ptr, 2 * sizeof(dp_ticket_key));
		tkeys(g)[0] = nk;
	}
	SSL_CTX_set_app_data(ctx, g);
	SSL_CTX_free(g->ctx);
	g->ctx = ctx;
	ctx = NULL;
	g->gen = cfg->gen;
	g->backend = ss;
	g->backend_len = sl;
	snprintf(g->header, sizeof(g->header), "%s", cfg->header);
	g->mode = cfg->mode;
	g->insecure = cfg->insecure;
	if (fresh) {
		g->next = d->guests;
		d->guests = g;
		fresh = NULL;
	}
	cl_info("tls: guest=%s generation %u installed (%zu listeners)", g->id, g->gen, g->nls);
out:
	if (fresh) {
		listeners_close(fresh); /* none installed: nothing taken */
		cl_secmem_free(&fresh->tk_mem);
		free(fresh);
	}
	explicit_bzero(&nk, sizeof(nk));
	SSL_CTX_free(ctx);
	return err;
}

void dp_guest_drop(dp *d, dp_guest *g)
{
	while (g->conns)
		dp_conn_close(g->conns, -1, NULL);
	listeners_close(g);
	for (dp_guest **p = &d->guests; *p; p = &(*p)->next)
		if (*p == g) {
			*p = g->next;
			break;
		}
	SSL_CTX_free(g->ctx);
	cl_secmem_free(&g->tk_mem);
	explicit_bzero(g, sizeof(*g));
	free(g);
}

void dp_guests_tick(dp *d)
{
	uint64_t now = cl_now_mono_ns(), every = (uint64_t)d->o.ticket_rotate_s * 1000000000u;
	for (dp_guest *g = d->guests; g; g = g->next)
		if (now - tkeys(g)[0].made_ns >= every && ticket_rotate(g) != CL_OK)
			cl_warn("tls: guest=%s ticket key rotation failed: %s", g->id, cl_error_detail());
}
