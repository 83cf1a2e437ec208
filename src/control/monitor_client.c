/* monitor_client.c — the worker's side of the monitor channel (monitor.h):
 * typed calls, and the TLS context whose private key is a remote key that
 * asks the monitor to sign each handshake. */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/remote_key.h"
#include "control/monitor.h"
#include "control/tls.h"

void ctl_mon_client_init(ctl_mon_client *c, int fd)
{
	memset(c, 0, sizeof(*c));
	cl_ipc_client_init(&c->ipc, fd, CTL_MON_MSG_MAX - CL_IPC_HDR, CTL_MON_TIMEOUT_MS);
}

/* One call; a transport failure (timeout, closed, broken answer) marks the
 * channel broken: the worker then fails every later call (fail closed) and
 * its loop stops (worker.c). A refusal leaves the channel usable. */
static cl_err call(ctl_mon_client *c, uint16_t type, const cl_buf *req, cl_buf *ans)
{
	CL_ENSURE(!c->broken && c->ipc.fd >= 0, CL_EUNAVAIL, "the monitor is unavailable");
	cl_err err = cl_ipc_call(&c->ipc, type, req, ans);
	if (err == CL_ETIMEOUT || err == CL_EUNAVAIL || err == CL_EPROTO || err == CL_ESYS) {
		c->broken = true;
		cl_error("monitor channel failed: %s (%s): failing closed", cl_err_name(err), cl_error_detail());
		if (c->on_broken)
			c->on_broken(c->on_broken_arg);
	}
	return err;
}

cl_err ctl_mon_sign(ctl_mon_client *c, const uint8_t *digest, size_t len, uint8_t sig[96])
{
	cl_buf req, ans;
	const uint8_t *p = NULL;
	size_t n = 0;
	cl_err err;
	cl_buf_init(&req, 4 + 64);
	cl_buf_init(&ans, 4 + 96);
	CL_GUARD_OUT(err, cl_ipc_put_bytes(&req, digest, len));
	CL_GUARD_OUT(err, call(c, CTL_MON_SIGN_HANDSHAKE, &req, &ans));
	CL_GUARD_OUT(err, cl_ipc_get_bytes(&ans, 96, &p, &n));
	if (n != 96 || cl_ipc_get_end(&ans) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "monitor: malformed signature answer");
		goto out;
	}
	memcpy(sig, p, 96);
out:
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

static cl_err dup_pem(const uint8_t *p, size_t n, char **out)
{
	CL_ENSURE(n > 0 && !memchr(p, 0, n), CL_EPROTO, "monitor: malformed PEM in answer");
	*out = malloc(n + 1);
	CL_ENSURE(*out != NULL, CL_ENOMEM, "out of memory");
	memcpy(*out, p, n);
	(*out)[n] = '\0';
	return CL_OK;
}

cl_err ctl_mon_get_certs(ctl_mon_client *c, char **chain, char **ca, char **hosts)
{
	cl_buf req, ans;
	const uint8_t *p = NULL, *q = NULL, *h = NULL;
	size_t n = 0, m = 0, k = 0;
	cl_err err;
	*chain = *ca = *hosts = NULL;
	cl_buf_init(&req, 0);
	cl_buf_init(&ans, CTL_MON_MSG_MAX);
	CL_GUARD_OUT(err, call(c, CTL_MON_GET_CERTS, &req, &ans));
	if (cl_ipc_get_bytes(&ans, CTL_MON_MSG_MAX, &p, &n) != CL_OK ||
	    cl_ipc_get_bytes(&ans, CTL_MON_MSG_MAX, &q, &m) != CL_OK ||
	    cl_ipc_get_bytes(&ans, CTL_MON_MSG_MAX, &h, &k) != CL_OK || cl_ipc_get_end(&ans) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "monitor: malformed certificates answer");
		goto out;
	}
	CL_GUARD_OUT(err, dup_pem(p, n, chain));
	CL_GUARD_OUT(err, dup_pem(q, m, ca));
	CL_GUARD_OUT(err, dup_pem(h, k, hosts));
out:
	if (err != CL_OK) {
		free(*chain);
		free(*ca);
		*chain = *ca = NULL;
	}
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

cl_err ctl_mon_issue_host_cert(ctl_mon_client *c, const char *host_id, const uint8_t point[CTL_ATT_POINT_LEN],
			       const uint8_t proof[CTL_ATT_PROOF_LEN], ctl_host_cert *out)
{
	cl_buf req, ans;
	const uint8_t *p = NULL;
	size_t n = 0;
	uint64_t not_after = 0;
	cl_err err;
	memset(out, 0, sizeof(*out));
	CL_ENSURE(strlen(host_id) <= CTL_HOST_ID_MAX, CL_EINVAL, "host id too long");
	cl_buf_init(&req, 2 + CTL_HOST_ID_MAX + 4 + CTL_ATT_POINT_LEN + 4 + CTL_ATT_PROOF_LEN);
	cl_buf_init(&ans, 4 + CTL_HOST_CERT_DER_MAX + 2 + CTL_SERIAL_HEX_MAX + 8);
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, host_id));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(&req, point, CTL_ATT_POINT_LEN));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(&req, proof, CTL_ATT_PROOF_LEN));
	CL_GUARD_OUT(err, call(c, CTL_MON_ISSUE_HOST_CERT, &req, &ans));
	if (cl_ipc_get_bytes(&ans, sizeof(out->der), &p, &n) != CL_OK || n == 0 ||
	    cl_ipc_get_str(&ans, out->serial, sizeof(out->serial)) != CL_OK || !out->serial[0] ||
	    cl_buf_get_be64(&ans, &not_after) != CL_OK || not_after > INT64_MAX || cl_ipc_get_end(&ans) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "monitor: malformed certificate answer");
		goto out;
	}
	memcpy(out->der, p, n);
	out->der_len = n;
	out->not_after = (int64_t)not_after;
out:
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

cl_err ctl_mon_issue_tls_cert(ctl_mon_client *c, const char *host_id, const char *enclave_id, uint32_t gen,
			      const char *names, const uint8_t point[CTL_TLS_POINT_LEN],
			      const uint8_t proof[CTL_TLS_PROOF_LEN], char **chain_pem,
			      char serial_hex[CTL_SERIAL_HEX_MAX + 1], int64_t *not_after)
{
	cl_buf req, ans;
	char serial[CTL_SERIAL_HEX_MAX + 1];
	size_t n = 0;
	const uint8_t *p = NULL;
	uint64_t na = 0;
	cl_err err;
	*chain_pem = NULL;
	CL_ENSURE(strlen(host_id) <= CTL_HOST_ID_MAX && strlen(enclave_id) <= CTL_TLS_ENCLAVE_ID_MAX &&
			  strlen(names) <= CTL_TLS_NAMES_MAX,
		  CL_EINVAL, "host id, enclave id or names too long");
	cl_buf_init(&req, 2 + CTL_HOST_ID_MAX + 2 + CTL_TLS_ENCLAVE_ID_MAX + 4 + 2 + CTL_TLS_NAMES_MAX + 4 +
				  CTL_TLS_POINT_LEN + 4 + CTL_TLS_PROOF_LEN);
	cl_buf_init(&ans, CTL_MON_MSG_MAX);
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, host_id));
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, enclave_id));
	CL_GUARD_OUT(err, cl_buf_put_be32(&req, gen));
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, names));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(&req, point, CTL_TLS_POINT_LEN));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(&req, proof, CTL_TLS_PROOF_LEN));
	CL_GUARD_OUT(err, call(c, CTL_MON_ISSUE_TLS_CERT, &req, &ans));
	if (cl_ipc_get_bytes(&ans, CTL_MON_MSG_MAX, &p, &n) != CL_OK || n == 0 ||
	    cl_ipc_get_str(&ans, serial, sizeof(serial)) != CL_OK || !serial[0] || cl_buf_get_be64(&ans, &na) != CL_OK ||
	    na > INT64_MAX || cl_ipc_get_end(&ans) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "monitor: malformed TLS certificate answer");
		goto out;
	}
	CL_GUARD_OUT(err, dup_pem(p, n, chain_pem));
	memcpy(serial_hex, serial, sizeof(serial));
	*not_after = (int64_t)na;
out:
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

cl_err ctl_mon_hash_secret(ctl_mon_client *c, const char *secret, char *out, size_t outlen)
{
	cl_buf req, ans;
	cl_err err;
	CL_ENSURE(strlen(secret) <= CTL_MON_SECRET_MAX, CL_EINVAL, "secret too long");
	cl_buf_init(&req, 2 + CTL_MON_SECRET_MAX);
	cl_buf_init(&ans, 2 + CTL_MON_HASH_MAX);
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, secret));
	CL_GUARD_OUT(err, call(c, CTL_MON_HASH_SECRET, &req, &ans));
	if (cl_ipc_get_str(&ans, out, outlen) != CL_OK || cl_ipc_get_end(&ans) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "monitor: malformed hash answer");
		goto out;
	}
out:
	cl_buf_free(&req); /* wipes the secret */
	cl_buf_free(&ans);
	return err;
}

cl_err ctl_mon_verify_secret(ctl_mon_client *c, const char *secret, const char *stored)
{
	cl_buf req, ans;
	uint8_t match = 0;
	cl_err err;
	/* Longer than anything we hash: it cannot match (and is not sent). */
	if (strlen(secret) > CTL_MON_SECRET_MAX || strlen(stored) > CTL_MON_HASH_MAX || !secret[0])
		return CL_EAUTH;
	cl_buf_init(&req, 4 + CTL_MON_SECRET_MAX + CTL_MON_HASH_MAX);
	cl_buf_init(&ans, 1);
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, secret));
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, stored));
	CL_GUARD_OUT(err, call(c, CTL_MON_VERIFY_SECRET, &req, &ans));
	if (cl_buf_get_u8(&ans, &match) != CL_OK || cl_ipc_get_end(&ans) != CL_OK || match > 1) {
		err = cl_errorf(CL_EPROTO, "monitor: malformed verify answer");
		goto out;
	}
	err = match ? CL_OK : CL_EAUTH;
out:
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

/* SEAL or UNSEAL: aad and in (n bytes) out, an answer of exactly want bytes
 * into out (reset on failure). Both buffers are wiped when freed: one of
 * them holds the plaintext. */
static cl_err seal_call(ctl_mon_client *c, uint16_t type, const char *aad, const uint8_t *in, size_t n,
			size_t want, cl_buf *out)
{
	cl_buf req, ans;
	const uint8_t *p = NULL;
	size_t len = 0;
	cl_err err;
	cl_buf_reset(out);
	CL_ENSURE(aad[0] && strlen(aad) <= CTL_MON_SEAL_AAD_MAX, CL_EINVAL, "a seal's aad is 1..%d characters",
		  CTL_MON_SEAL_AAD_MAX);
	cl_buf_init(&req, 2 + CTL_MON_SEAL_AAD_MAX + 4 + CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD);
	cl_buf_init(&ans, 4 + CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD);
	CL_GUARD_OUT(err, cl_ipc_put_str(&req, aad));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(&req, in, n));
	CL_GUARD_OUT(err, call(c, type, &req, &ans));
	if (cl_ipc_get_bytes(&ans, CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD, &p, &len) != CL_OK || len != want ||
	    cl_ipc_get_end(&ans) != CL_OK) {
		err = cl_errorf(CL_EPROTO, "monitor: malformed %s answer", type == CTL_MON_SEAL ? "seal" : "unseal");
		goto out;
	}
	CL_GUARD_OUT(err, cl_buf_put(out, p, len));
out:
	if (err != CL_OK)
		cl_buf_reset(out);
	cl_buf_free(&req);
	cl_buf_free(&ans);
	return err;
}

cl_err ctl_mon_seal(ctl_mon_client *c, const char *aad, const uint8_t *pt, size_t n, cl_buf *out)
{
	cl_buf_reset(out);
	CL_ENSURE(n >= 1 && n <= CTL_MON_SEAL_MAX, CL_EINVAL, "a sealed value is 1..%d bytes", CTL_MON_SEAL_MAX);
	return seal_call(c, CTL_MON_SEAL, aad, pt, n, n + CTL_SEAL_OVERHEAD, out);
}

cl_err ctl_mon_unseal(ctl_mon_client *c, const char *aad, const uint8_t *blob, size_t n, cl_buf *out)
{
	cl_buf_reset(out);
	CL_ENSURE(n > CTL_SEAL_OVERHEAD && n <= CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD, CL_ECRYPTO,
		  "a sealed blob of %zu bytes is not %d..%d bytes long", n, CTL_SEAL_OVERHEAD + 1,
		  CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD);
	return seal_call(c, CTL_MON_UNSEAL, aad, blob, n, n - CTL_SEAL_OVERHEAD, out);
}

/* ---------------------------------------------------------------- TLS */

static cl_err remote_sign(void *ctx, const uint8_t *digest, size_t len, uint8_t sig[CL_RK_SIG_LEN])
{
	return ctl_mon_sign(ctx, digest, len, sig);
}

cl_err ctl_mon_tls_ctx(ctl_mon_client *c, SSL_CTX **out, uint8_t chain_digest[32], char **ca_out,
		       char **hosts_out)
{
	char *chain = NULL, *ca = NULL, *hosts = NULL;
	BIO *bio = NULL;
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	SSL_CTX *ctx = NULL;
	uint8_t point[CL_RK_POINT_LEN];
	size_t plen = 0;
	cl_err err;
	*out = NULL;
	CL_GUARD_OUT(err, ctl_mon_get_certs(c, &chain, &ca, &hosts));
	CL_GUARD_OUT(err, cl_sha256(chain, strlen(chain), chain_digest));
	/* The leaf's public point makes the remote key: nothing private here. */
	if (!(bio = BIO_new_mem_buf(chain, -1)) || !(leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL)) ||
	    EVP_PKEY_get_octet_string_param(X509_get0_pubkey(leaf), "encoded-pub-key", point, sizeof(point),
					    &plen) != 1 ||
	    plen != sizeof(point)) {
		err = cl_errorf(CL_EINTERNAL, "the monitor's server certificate is not P-384");
		goto out;
	}
	CL_GUARD_OUT(err, cl_remote_key_new(point, remote_sign, c, &key));
	CL_GUARD_OUT(err, ctl_tls_ctx_new(chain, key, &ctx));
	*out = ctx;
	if (ca_out) {
		*ca_out = ca;
		ca = NULL;
	}
	if (hosts_out) {
		*hosts_out = hosts;
		hosts = NULL;
	}
out:
	ERR_clear_error();
	EVP_PKEY_free(key); /* the context holds its own reference */
	X509_free(leaf);
	BIO_free(bio);
	free(chain);
	free(ca);
	free(hosts);
	return err;
}
