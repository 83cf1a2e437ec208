/* api_attest.c — the provider's CA certificates and the hosts' attestation
 * certificates (docs/api/ca.md, docs/api/hosts-attestation-key.md):
 *
 *   GET  /v1/ca[?format=der]                  no auth: the root
 *   GET  /v1/ca/hosts[?format=der]            no auth: the hosts intermediate
 *   GET  /v1/ca/certificates/{serial}         no auth: a host leaf's status
 *   POST /v1/hosts/{id}/attestation-key       that host's token: certify its key
 *
 * The worker holds no CA key: the monitor checks the proof of possession
 * and issues the leaf (monitor.h ISSUE_HOST_CERT); the worker records the
 * serial and revokes the host's certificates for another key. */
#include <event2/buffer.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "control/api_attest.h"
#include "control/monitor.h"
#include "control/store_cert.h"
#include "control/validate.h"

cl_err ctl_pem_to_der(const char *pem, uint8_t **der, size_t *n)
{
	BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char *p = NULL;
	int len = x ? i2d_X509(x, &p) : -1;
	cl_err err = len > 0 ? CL_OK : cl_errorf(CL_EINTERNAL, "the CA certificate is not available");
	*der = len > 0 ? malloc((size_t)len) : NULL;
	if (err == CL_OK && !*der)
		err = CL_ENOMEM;
	if (err == CL_OK) {
		memcpy(*der, p, (size_t)len);
		*n = (size_t)len;
	}
	OPENSSL_free(p);
	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	return err;
}

static void reply_bytes(ctl_req *r, const char *type, const void *p, size_t n)
{
	struct evbuffer *out = evbuffer_new();
	if (!out || evbuffer_add(out, p, n) != 0) {
		if (out)
			evbuffer_free(out);
		ctl_reply_err(r->srv, r->req, CL_ENOMEM);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", type);
	ctl_count_status(r->srv, 200);
	evhttp_send_reply(r->req, 200, "OK", out);
	evbuffer_free(out);
}

/* GET /v1/ca and /v1/ca/hosts: PEM (default) or ?format=der. */
static void get_cert(ctl_req *r, const char *pem)
{
	const char *fmt = evhttp_find_header(&r->query, "format");
	uint8_t *der = NULL;
	size_t n = 0;
	if (!pem) {
		ctl_reply_error(r->srv, r->req, CL_EUNAVAIL, "the CA certificate is not available yet");
		return;
	}
	if (!fmt || strcmp(fmt, "pem") == 0) {
		reply_bytes(r, "application/x-pem-file", pem, strlen(pem));
		return;
	}
	if (strcmp(fmt, "der") != 0) {
		ctl_reply_error(r->srv, r->req, CL_EINVAL, "format must be pem or der");
		return;
	}
	cl_err err = ctl_pem_to_der(pem, &der, &n);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	reply_bytes(r, "application/pkix-cert", der, n);
	free(der);
}

/* A serial as the API writes it: lower-case hex, no leading zeros. Takes
 * upper case too and leading zeros; false for anything else. */
static bool canon_serial(const char *in, char out[CTL_SERIAL_HEX_MAX + 1])
{
	size_t n = strlen(in), i = 0, k = 0;
	if (n == 0 || n > 2 * CTL_SERIAL_HEX_MAX)
		return false;
	while (i + 1 < n && in[i] == '0')
		i++;
	for (; i < n; i++) {
		char c = in[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || k == CTL_SERIAL_HEX_MAX)
			return false;
		out[k++] = c;
	}
	out[k] = '\0';
	return true;
}

json_t *ctl_cert_status_json(const ctl_cert_row *c, int64_t now_s)
{
	const char *status = c->revoked_at ? "revoked" : c->not_after <= now_s ? "expired" : "valid";
	json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "serial", c->serial, "host", c->host_id, "status", status,
			      "not_after", (json_int_t)c->not_after);
	if (o && c->revoked_at &&
	    (json_object_set_new(o, "reason", json_string(c->reason)) != 0 ||
	     json_object_set_new(o, "revoked_at", json_integer(c->revoked_at)) != 0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void get_status(ctl_req *r, const char *serial_in)
{
	char serial[CTL_SERIAL_HEX_MAX + 1];
	ctl_cert_row c;
	if (!canon_serial(serial_in, serial)) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "unknown certificate serial");
		return;
	}
	cl_err err = ctl_store_cert_get(r->srv->store, serial, &c);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *o = ctl_cert_status_json(&c, (int64_t)(cl_now_wall_ms() / 1000));
	ctl_reply_json(r->srv, r->req, o ? 200 : 500, o);
}

void ctl_api_ca(ctl_req *r)
{
	if (r->nseg == 2)
		get_cert(r, r->srv->root_pem);
	else if (r->nseg == 3 && strcmp(r->seg[2], "hosts") == 0)
		get_cert(r, r->srv->hosts_pem);
	else if (r->nseg == 4 && strcmp(r->seg[2], "certificates") == 0)
		get_status(r, r->seg[3]);
	else
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
}

/* base64 DER of the first certificate in pem, as a new JSON string. */
static json_t *der_b64(const char *pem)
{
	uint8_t *der = NULL;
	size_t n = 0;
	char *b = NULL;
	json_t *s = NULL;
	if (ctl_pem_to_der(pem, &der, &n) == CL_OK && cl_base64_encode(der, n, &b) == CL_OK)
		s = json_string(b);
	free(der);
	free(b);
	return s;
}

void ctl_attest_key_handle(ctl_req *r, const char *host_id)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL, *ans = NULL;
	uint8_t point[CTL_ATT_POINT_LEN], proof[CTL_ATT_PROOF_LEN], kh[32];
	ctl_host_cert *cert = NULL;
	ctl_cert_row row = {0};
	ctl_host h = {0};
	char *leaf = NULL;
	int replaced = 0;
	bool in_tx = false;
	cl_err err;
	if (r->who.kind != CTL_WHO_HOST || strcmp(r->who.host_id, host_id) != 0) {
		cl_warn("denied reason=forbidden action=attestation-key token=%s", r->who.token_id);
		ctl_reply_error(srv, r->req, CL_EPERM, "only the host's own token may certify its attestation key");
		return;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_attest_key(body, point, proof));
	CL_GUARD_OUT(err, ctl_attest_point_check(point));
	CL_GUARD_OUT(err, ctl_store_host_get(srv->store, host_id, &h));
	if (strcmp(h.state, "ready") != 0) { /* a lost host syncs (ready again) first */
		err = cl_errorf(CL_ECONFLICT, "the host is %s: it must sync before asking for a certificate", h.state);
		goto out;
	}
	if (!(cert = malloc(sizeof(*cert)))) {
		err = CL_ENOMEM;
		goto out;
	}
	err = ctl_mon_issue_host_cert(srv->mon, host_id, point, proof, cert);
	if (err == CL_ECRYPTO || err == CL_EINVAL) {
		/* the monitor refused (and logged why); say what to fix */
		cl_warn("denied reason=bad-attestation-proof host=%s", host_id);
		err = cl_errorf(CL_ECRYPTO, "the proof does not verify: it must be the key's ECDSA P-384 signature over "
				"SHA-384(\"%s\" 0 host_id 0 public_key)", CTL_ATT_POP_LABEL);
		goto out;
	}
	if (err != CL_OK)
		goto out;
	CL_GUARD_OUT(err, cl_sha256(point, sizeof(point), kh));
	snprintf(row.serial, sizeof(row.serial), "%s", cert->serial);
	snprintf(row.host_id, sizeof(row.host_id), "%s", host_id);
	cl_hex_encode(kh, sizeof(kh), row.key_sha256);
	row.issued_at = (int64_t)cl_now_wall_ms();
	row.not_after = cert->not_after;
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	in_tx = true;
	/* a new key replaces the others; the same key again keeps its older
	 * certificates valid until they end */
	CL_GUARD_OUT(err, ctl_store_cert_revoke_host(srv->store, host_id, "replaced", row.issued_at / 1000,
						     row.key_sha256, &replaced));
	CL_GUARD_OUT(err, ctl_store_cert_insert(srv->store, &row));
	CL_GUARD_OUT(err, ctl_store_commit(srv->store));
	in_tx = false;
	cl_info("host attestation certificate recorded host=%s serial=%s replaced=%d", host_id, row.serial, replaced);
	if (cl_base64_encode(cert->der, cert->der_len, &leaf) != CL_OK ||
	    !(ans = json_pack("{s:s,s:[o,o],s:s,s:I}", "certificate", leaf, "cabundle", der_b64(srv->root_pem),
			      der_b64(srv->hosts_pem), "serial", row.serial, "not_after", (json_int_t)row.not_after))) {
		err = CL_ENOMEM;
		goto out;
	}
	ctl_reply_json(srv, r->req, 200, ans);
out:
	if (in_tx)
		ctl_store_rollback(srv->store);
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	ctl_host_clear(&h);
	free(cert);
	free(leaf);
	json_decref(body);
}

json_t *ctl_attest_sync_serial(ctl_server *srv, const char *host_id)
{
	char serial[CTL_SERIAL_HEX_MAX + 1];
	if (ctl_store_cert_newest(srv->store, host_id, (int64_t)(cl_now_wall_ms() / 1000), serial) != CL_OK) {
		cl_error_clear();
		return json_null();
	}
	return json_string(serial);
}
