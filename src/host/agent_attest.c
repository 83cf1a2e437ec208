/* agent_attest.c — the host's attestation key and certificate: asking the
 * control plane for the certificate with a proof of possession, checking
 * and keeping it in DATA/attest/, retrying with a growing delay
 * (agent_attest.h). Nothing here holds a private key: the key holder signs. */
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent_attest.h"

#define POP_LABEL "cloister-attest-pop/1"
#define SETTLE_MS 10000u /* after a success: a sync answer built before it may still name the old serial */
#define ANSWER_MAX (64u * 1024)

struct cl_agent_att {
	pthread_mutex_t mu;
	char dir[PATH_MAX]; /* DATA/attest */
	cl_agent_att_keys keys;
	/* (mu) the certificate held */
	uint8_t *leaf;
	size_t leaf_len;
	uint8_t *bundle;
	size_t bundle_len, off[CL_AGENT_ATT_BUNDLE_MAX], len[CL_AGENT_ATT_BUNDLE_MAX], n;
	char serial[CL_AGENT_SERIAL_MAX];
	int64_t not_after;
	/* the sync thread's */
	bool key_checked; /* the held leaf was compared with the key holder's point */
	uint64_t retry_at_ns;
	uint32_t delay_ms;
	bool pending; /* a certificate is needed and not yet stored */
	bool unsupported; /* the control plane has no attestation-key route (404): wait until it says it has */
	char last_fail[256];
};

/* ---------------------------------------------------------------- certificates */

static X509 *der_parse(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = len ? d2i_X509(NULL, &p, (long)len) : NULL;
	if (x && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

/* Serial as lower-case hex without leading zeros. */
static cl_err cert_serial(X509 *x, char out[CL_AGENT_SERIAL_MAX])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	cl_err err = CL_OK;
	const char *h = hex;
	if (h && *h == '-')
		h = NULL; /* a negative serial is not one the control plane issues */
	while (h && h[0] == '0' && h[1])
		h++;
	if (!h || strlen(h) >= CL_AGENT_SERIAL_MAX) {
		err = cl_errorf(CL_EPROTO, "attestation certificate: unusable serial number");
	} else {
		size_t i = 0;
		for (; h[i]; i++)
			out[i] = (h[i] >= 'A' && h[i] <= 'F') ? (char)(h[i] - 'A' + 'a') : h[i];
		out[i] = '\0';
	}
	OPENSSL_free(hex);
	BN_free(bn);
	return err;
}

/* The leaf's public key must be the P-384 point (uncompressed). */
static bool cert_has_point(X509 *x, const uint8_t point[CL_AGENT_ATT_POINT_LEN])
{
	EVP_PKEY *pk = X509_get0_pubkey(x);
	uint8_t buf[CL_AGENT_ATT_POINT_LEN + 8];
	size_t n = 0;
	char group[32] = "";
	if (!pk || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) ||
	    strcmp(group, "secp384r1") != 0 ||
	    !EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &n))
		return false;
	return n == CL_AGENT_ATT_POINT_LEN && memcmp(buf, point, n) == 0;
}

typedef struct chain_in {
	const uint8_t *leaf;
	size_t leaf_len;
	const uint8_t *bundle; /* concatenated DER */
	size_t bundle_len;
} chain_in;

typedef struct chain_ok {
	size_t off[CL_AGENT_ATT_BUNDLE_MAX], len[CL_AGENT_ATT_BUNDLE_MAX], n;
	char serial[CL_AGENT_SERIAL_MAX];
	int64_t not_after;
} chain_ok;

/* Splits the bundle, checks the leaf was issued and signed by its last
 * certificate, and (point != NULL) that it certifies point. */
static cl_err chain_check(const chain_in *in, const uint8_t *point, chain_ok *ok)
{
	X509 *leaf = NULL, *issuer = NULL;
	cl_err err = CL_OK;
	memset(ok, 0, sizeof(*ok));
	CL_ENSURE(in->leaf_len <= CL_AGENT_ATT_CERT_MAX, CL_EPROTO, "attestation certificate: larger than %d bytes",
		  CL_AGENT_ATT_CERT_MAX);
	leaf = der_parse(in->leaf, in->leaf_len);
	CL_ENSURE(leaf, CL_EPROTO, "attestation certificate: not a DER certificate");
	for (size_t at = 0; at < in->bundle_len;) {
		const unsigned char *p = in->bundle + at;
		X509 *x = d2i_X509(NULL, &p, (long)(in->bundle_len - at));
		size_t used = x ? (size_t)(p - (in->bundle + at)) : 0;
		if (!x || ok->n == CL_AGENT_ATT_BUNDLE_MAX || used > CL_AGENT_ATT_CERT_MAX) {
			X509_free(x);
			err = cl_errorf(CL_EPROTO, "attestation cabundle: not 1..%d DER certificates", CL_AGENT_ATT_BUNDLE_MAX);
			goto out;
		}
		ok->off[ok->n] = at;
		ok->len[ok->n++] = used;
		at += used;
		X509_free(issuer);
		issuer = x; /* the last one issued the leaf */
	}
	if (!issuer) {
		err = cl_errorf(CL_EPROTO, "attestation cabundle: empty");
		goto out;
	}
	if (X509_check_issued(issuer, leaf) != X509_V_OK || X509_verify(leaf, X509_get0_pubkey(issuer)) != 1) {
		err = cl_errorf(CL_EPROTO, "attestation certificate: not issued by the cabundle's last certificate");
		goto out;
	}
	if (point && !cert_has_point(leaf, point)) {
		err = cl_errorf(CL_EPROTO, "attestation certificate: not for this host's attestation key");
		goto out;
	}
	struct tm tm;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) != 1) {
		err = cl_errorf(CL_EPROTO, "attestation certificate: unreadable notAfter");
		goto out;
	}
	ok->not_after = (int64_t)timegm(&tm);
	err = cert_serial(leaf, ok->serial);
out:
	X509_free(leaf);
	X509_free(issuer);
	return err;
}

static void held_clear_locked(cl_agent_att *a)
{
	free(a->leaf);
	free(a->bundle);
	a->leaf = a->bundle = NULL;
	a->leaf_len = a->bundle_len = a->n = 0;
	a->serial[0] = '\0';
	a->not_after = 0;
}

/* Takes leaf and bundle (malloc'd) as the certificate held. */
static void held_set(cl_agent_att *a, uint8_t *leaf, size_t leaf_len, uint8_t *bundle, size_t bundle_len,
		     const chain_ok *ok)
{
	pthread_mutex_lock(&a->mu);
	held_clear_locked(a);
	a->leaf = leaf;
	a->leaf_len = leaf_len;
	a->bundle = bundle;
	a->bundle_len = bundle_len;
	memcpy(a->off, ok->off, sizeof(a->off));
	memcpy(a->len, ok->len, sizeof(a->len));
	a->n = ok->n;
	memcpy(a->serial, ok->serial, sizeof(a->serial));
	a->not_after = ok->not_after;
	pthread_mutex_unlock(&a->mu);
}

static cl_err file_path(const cl_agent_att *a, const char *name, char *out, size_t n)
{
	CL_ENSURE(snprintf(out, n, "%s/%s", a->dir, name) < (int)n, CL_EINVAL, "data dir path too long");
	return CL_OK;
}

/* Loads DATA/attest/{cert,bundle}.der if both are there and agree. */
static cl_err load_held(cl_agent_att *a)
{
	char pc[PATH_MAX], pb[PATH_MAX];
	cl_buf c, b;
	chain_ok ok;
	cl_buf_init(&c, CL_AGENT_ATT_CERT_MAX);
	cl_buf_init(&b, CL_AGENT_ATT_CERT_MAX * CL_AGENT_ATT_BUNDLE_MAX);
	cl_err err = file_path(a, "cert.der", pc, sizeof(pc));
	if (err == CL_OK)
		err = file_path(a, "bundle.der", pb, sizeof(pb));
	if (err == CL_OK)
		err = cl_file_read(pc, c.max, &c);
	if (err == CL_OK)
		err = cl_file_read(pb, b.max, &b);
	if (err == CL_OK)
		err = chain_check(&(chain_in){c.data, c.len, b.data, b.len}, NULL, &ok);
	if (err == CL_OK) {
		uint8_t *leaf = malloc(c.len), *bundle = malloc(b.len);
		if (leaf && bundle) {
			memcpy(leaf, c.data, c.len);
			memcpy(bundle, b.data, b.len);
			held_set(a, leaf, c.len, bundle, b.len, &ok);
		} else {
			free(leaf);
			free(bundle);
			err = cl_errorf(CL_ENOMEM, "out of memory");
		}
	}
	cl_buf_free(&c);
	cl_buf_free(&b);
	return err;
}

cl_err cl_agent_att_new(const char *dir, const cl_agent_att_keys *keys, cl_agent_att **out)
{
	*out = NULL;
	cl_agent_att *a = calloc(1, sizeof(*a));
	CL_ENSURE(a, CL_ENOMEM, "out of memory");
	pthread_mutex_init(&a->mu, NULL);
	a->keys = *keys;
	a->delay_ms = CL_AGENT_ATT_RETRY_MIN_MS;
	if (snprintf(a->dir, sizeof(a->dir), "%s/attest", dir) >= (int)sizeof(a->dir)) {
		cl_agent_att_free(a);
		return cl_errorf(CL_EINVAL, "data dir path too long");
	}
	cl_err err = load_held(a);
	if (err == CL_OK)
		cl_info("attestation certificate loaded serial=%s", a->serial);
	else if (err != CL_ENOTFOUND)
		cl_warn("attestation certificate in %s not usable; asking for a new one err=\"%s\"", a->dir,
			cl_error_detail());
	*out = a;
	return CL_OK;
}

void cl_agent_att_free(cl_agent_att *a)
{
	if (!a)
		return;
	held_clear_locked(a);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

const cl_agent_att_keys *cl_agent_att_keys_of(cl_agent_att *a)
{
	return &a->keys;
}

void cl_agent_att_serial(cl_agent_att *a, char out[CL_AGENT_SERIAL_MAX])
{
	pthread_mutex_lock(&a->mu);
	memcpy(out, a->serial, CL_AGENT_SERIAL_MAX);
	pthread_mutex_unlock(&a->mu);
}

cl_err cl_agent_att_chain_get(cl_agent_att *a, cl_agent_att_chain *c)
{
	cl_err err = CL_OK;
	memset(c, 0, sizeof(*c));
	pthread_mutex_lock(&a->mu);
	if (!a->leaf) {
		err = cl_errorf(CL_ENOTFOUND, "this host has no attestation certificate yet");
	} else if (!(c->leaf = malloc(a->leaf_len)) || !(c->bundle = malloc(a->bundle_len))) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
	} else {
		memcpy(c->leaf, a->leaf, a->leaf_len);
		c->leaf_len = a->leaf_len;
		memcpy(c->bundle, a->bundle, a->bundle_len);
		memcpy(c->off, a->off, sizeof(c->off));
		memcpy(c->len, a->len, sizeof(c->len));
		c->n = a->n;
	}
	pthread_mutex_unlock(&a->mu);
	if (err != CL_OK)
		cl_agent_att_chain_free(c);
	return err;
}

void cl_agent_att_chain_free(cl_agent_att_chain *c)
{
	free(c->leaf);
	free(c->bundle);
	memset(c, 0, sizeof(*c));
}

/* ---------------------------------------------------------------- asking for one */

cl_err cl_agent_att_pop_digest(const char *host_id, const uint8_t point[CL_AGENT_ATT_POINT_LEN], uint8_t digest[48])
{
	cl_buf m;
	cl_buf_init(&m, 512);
	cl_err err = cl_buf_put(&m, POP_LABEL, strlen(POP_LABEL) + 1); /* with its NUL: the 0x00 separator */
	if (err == CL_OK)
		err = cl_buf_put(&m, host_id, strlen(host_id) + 1);
	if (err == CL_OK)
		err = cl_buf_put(&m, point, CL_AGENT_ATT_POINT_LEN);
	if (err == CL_OK)
		err = cl_sha384(m.data, m.len, digest);
	cl_buf_free(&m);
	return err;
}

/* Decodes one base64 certificate (at most CL_AGENT_ATT_CERT_MAX bytes) and appends it to out. */
static cl_err b64_cert(json_t *v, const char *what, cl_buf *out)
{
	const char *s = json_string_value(v);
	cl_buf one;
	CL_ENSURE(s && strlen(s) <= (CL_AGENT_ATT_CERT_MAX + 2) / 3 * 4, CL_EPROTO,
		  "attestation-key answer: %s is not base64 of at most %d bytes", what, CL_AGENT_ATT_CERT_MAX);
	cl_buf_init(&one, CL_AGENT_ATT_CERT_MAX);
	cl_err err = cl_base64_decode(s, &one);
	if (err != CL_OK)
		err = cl_errorf(CL_EPROTO, "attestation-key answer: %s is not base64", what);
	else
		err = cl_buf_put(out, one.data, one.len);
	cl_buf_free(&one);
	return err;
}

static cl_err store_files(cl_agent_att *a, const cl_buf *leaf, const cl_buf *bundle)
{
	char pc[PATH_MAX], pb[PATH_MAX];
	CL_GUARD(file_path(a, "cert.der", pc, sizeof(pc)));
	CL_GUARD(file_path(a, "bundle.der", pb, sizeof(pb)));
	CL_GUARD(cl_mkdir_p(a->dir, 0755));
	/* The bundle first: a kill between the two leaves the old leaf with the
	 * new bundle, which load_held accepts only if the old leaf was issued
	 * by the new bundle's last certificate (else a new one is asked for). */
	CL_GUARD(cl_file_write_atomic(pb, bundle->data, bundle->len, 0644));
	return cl_file_write_atomic(pc, leaf->data, leaf->len, 0644);
}

cl_err cl_agent_att_accept(cl_agent_att *a, const uint8_t point[CL_AGENT_ATT_POINT_LEN], const char *json,
			   size_t len)
{
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *cab = json_object_get(root, "cabundle");
	const char *serial = json_string_value(json_object_get(root, "serial"));
	cl_buf leaf, bundle;
	chain_ok ok;
	cl_err err = CL_OK;
	cl_buf_init(&leaf, CL_AGENT_ATT_CERT_MAX);
	cl_buf_init(&bundle, CL_AGENT_ATT_CERT_MAX * CL_AGENT_ATT_BUNDLE_MAX);
	if (!json_is_object(root) || !json_is_array(cab) || json_array_size(cab) < 1 ||
	    json_array_size(cab) > CL_AGENT_ATT_BUNDLE_MAX || !serial) {
		err = cl_errorf(CL_EPROTO, "attestation-key answer: expected certificate, cabundle (1..%d) and serial",
				CL_AGENT_ATT_BUNDLE_MAX);
		goto out;
	}
	CL_GUARD_OUT(err, b64_cert(json_object_get(root, "certificate"), "certificate", &leaf));
	for (size_t i = 0; i < json_array_size(cab); i++)
		CL_GUARD_OUT(err, b64_cert(json_array_get(cab, i), "cabundle", &bundle));
	CL_GUARD_OUT(err, chain_check(&(chain_in){leaf.data, leaf.len, bundle.data, bundle.len}, point, &ok));
	if (ok.n != json_array_size(cab)) {
		err = cl_errorf(CL_EPROTO, "attestation-key answer: a cabundle entry is not one certificate");
		goto out;
	}
	/* The serial the control plane will name in sync answers is the leaf's. */
	const char *s = serial;
	while (s[0] == '0' && s[1])
		s++;
	if (strcasecmp(s, ok.serial) != 0) {
		err = cl_errorf(CL_EPROTO, "attestation-key answer: serial %.40s is not the certificate's", serial);
		goto out;
	}
	CL_GUARD_OUT(err, store_files(a, &leaf, &bundle));
	uint8_t *l = malloc(leaf.len), *b = malloc(bundle.len);
	if (!l || !b) {
		free(l);
		free(b);
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(l, leaf.data, leaf.len);
	memcpy(b, bundle.data, bundle.len);
	held_set(a, l, leaf.len, b, bundle.len, &ok);
out:
	json_decref(root);
	cl_buf_free(&leaf);
	cl_buf_free(&bundle);
	return err;
}

/* The key's point: read, or made if the key holder has none yet. */
static cl_err key_point(cl_agent_att *a, uint8_t point[CL_AGENT_ATT_POINT_LEN])
{
	cl_err err = a->keys.get_public(a->keys.ctx, point);
	if (err != CL_ENOTFOUND)
		return err;
	err = a->keys.generate(a->keys.ctx, point);
	if (err == CL_OK)
		cl_info("attestation key generated in the key holder");
	if (err == CL_ECONFLICT) /* made meanwhile (or unreadable on disk: then get-public says so) */
		err = a->keys.get_public(a->keys.ctx, point);
	return err;
}

static cl_err provision(cl_agent_att *a, cl_http_client *http, const char *host_id)
{
	uint8_t point[CL_AGENT_ATT_POINT_LEN], digest[48], sig[CL_AGENT_ATT_SIG_LEN];
	char *pb = NULL, *sb = NULL, *text = NULL, path[256];
	json_t *body = NULL;
	cl_buf resp;
	long status = 0;
	cl_err err;
	cl_buf_init(&resp, ANSWER_MAX);
	CL_GUARD_OUT(err, key_point(a, point));
	CL_GUARD_OUT(err, cl_agent_att_pop_digest(host_id, point, digest));
	CL_GUARD_OUT(err, a->keys.sign(a->keys.ctx, digest, sig));
	CL_GUARD_OUT(err, cl_base64_encode(point, sizeof(point), &pb));
	CL_GUARD_OUT(err, cl_base64_encode(sig, sizeof(sig), &sb));
	body = json_pack("{s:s, s:s}", "public_key", pb, "proof", sb);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	if (snprintf(path, sizeof(path), "/v1/hosts/%s/attestation-key", host_id) >= (int)sizeof(path)) {
		err = cl_errorf(CL_EINVAL, "host id too long");
		goto out;
	}
	cl_http_client_set_timeout(http, CL_AGENT_ATT_HTTP_TIMEOUT_MS);
	CL_GUARD_OUT(err, cl_http_request(http, "POST", path, NULL, text, strlen(text), "application/json", &status,
					  &resp));
	if (status != 200) {
		char msg[200];
		cl_agent_error_message((const char *)resp.data, resp.len, msg, sizeof(msg));
		err = cl_errorf(status == 404 ? CL_ENOTFOUND : status >= 500 ? CL_EUNAVAIL : CL_EPROTO,
				"the control plane answered HTTP %ld: %s", status, msg);
		goto out;
	}
	err = cl_agent_att_accept(a, point, (const char *)resp.data, resp.len);
out:
	free(pb);
	free(sb);
	free(text);
	json_decref(body);
	cl_buf_free(&resp);
	return err;
}

/* Why a certificate is needed now, or NULL. */
static const char *need(cl_agent_att *a, const cl_agent_answer *ans)
{
	char serial[CL_AGENT_SERIAL_MAX];
	int64_t not_after;
	pthread_mutex_lock(&a->mu);
	memcpy(serial, a->serial, sizeof(serial));
	not_after = a->not_after;
	pthread_mutex_unlock(&a->mu);
	if (!a->key_checked) {
		/* Once per start: is the certificate held for the key the key
		 * holder has? (It may have been lost, or made anew.) */
		uint8_t point[CL_AGENT_ATT_POINT_LEN];
		cl_err err = serial[0] ? a->keys.get_public(a->keys.ctx, point) : CL_OK;
		if (err != CL_OK && err != CL_ENOTFOUND)
			return "the key holder did not answer"; /* the request fails too: retried with the delay */
		a->key_checked = true;
		if (serial[0]) {
			chain_ok ok;
			bool match = err == CL_OK;
			if (match) {
				pthread_mutex_lock(&a->mu);
				match = chain_check(&(chain_in){a->leaf, a->leaf_len, a->bundle, a->bundle_len}, point, &ok) ==
					CL_OK;
				pthread_mutex_unlock(&a->mu);
			}
			if (!match) {
				cl_warn("the attestation certificate held is not for the key holder's key; asking for a new one");
				pthread_mutex_lock(&a->mu);
				held_clear_locked(a);
				pthread_mutex_unlock(&a->mu);
				return "the certificate held is not for the key holder's key";
			}
		}
	}
	if (!serial[0])
		return "no certificate held";
	if (not_after - (int64_t)time(NULL) < CL_AGENT_ATT_RENEW_S)
		return "the certificate held ends soon";
	if (ans && ans->att_serial_state == CL_ATT_SERIAL_NULL)
		return "the control plane holds no valid certificate for this host";
	if (ans && ans->att_serial_state == CL_ATT_SERIAL_SET && strcmp(ans->att_serial, serial) != 0)
		return "the control plane names another certificate";
	return NULL;
}

cl_err cl_agent_att_step(cl_agent_att *a, cl_http_client *http, const char *host_id, const cl_agent_answer *ans)
{
	if (ans && ans->att_serial_state != CL_ATT_SERIAL_ABSENT)
		a->unsupported = false; /* it names serials: it issues certificates */
	const char *why = need(a, ans);
	uint64_t now = cl_now_mono_ns();
	a->pending = why != NULL && !a->unsupported;
	if (!a->pending)
		return CL_OK;
	if (now < a->retry_at_ns)
		return cl_errorf(CL_EUNAVAIL, "attestation certificate: next try not due yet");
	cl_err err = provision(a, http, host_id);
	if (err == CL_OK) {
		char serial[CL_AGENT_SERIAL_MAX];
		cl_agent_att_serial(a, serial);
		cl_info("attestation certificate stored serial=%s why=\"%s\"", serial, why);
		a->pending = false;
		a->last_fail[0] = '\0';
		a->delay_ms = CL_AGENT_ATT_RETRY_MIN_MS;
		a->retry_at_ns = now + (uint64_t)SETTLE_MS * 1000000u;
		return CL_OK;
	}
	char msg[sizeof(a->last_fail)];
	snprintf(msg, sizeof(msg), "%s: %s", cl_err_name(err), cl_error_detail());
	if (err == CL_ENOTFOUND) {
		/* A control plane without attestation: no retries until its sync
		 * answers carry attestation_serial. */
		cl_info("the control plane issues no attestation certificates; this host cannot attest until it does");
		a->unsupported = true;
		a->pending = false;
		return cl_errorf(err, "%s", msg);
	}
	if (strcmp(msg, a->last_fail) != 0) { /* once per cause, not once per try */
		cl_warn("cannot get an attestation certificate; retrying with a growing delay err=\"%s\"", msg);
		snprintf(a->last_fail, sizeof(a->last_fail), "%s", msg);
	}
	a->retry_at_ns = now + (uint64_t)a->delay_ms * 1000000u;
	a->delay_ms = a->delay_ms * 2 > CL_AGENT_ATT_RETRY_MAX_MS ? CL_AGENT_ATT_RETRY_MAX_MS : a->delay_ms * 2;
	return cl_errorf(err, "%s", msg);
}

uint32_t cl_agent_att_wait_ms(cl_agent_att *a, uint32_t wait_ms)
{
	if (!a || !a->pending)
		return wait_ms;
	uint64_t now = cl_now_mono_ns();
	uint64_t left = a->retry_at_ns > now ? (a->retry_at_ns - now) / 1000000u + 1 : 0;
	return left < wait_ms ? (uint32_t)left : wait_ms;
}
