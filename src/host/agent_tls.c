/* agent_tls.c — the TLS ops of a sync answer (agent_tls.h): a guest key
 * made in the key holder, the certificate chain checked and handed to the
 * data plane, both undone on removal.
 *
 * The agent tracks the tls/ slots it made (enclave, generation, and the
 * public point and proof the key holder answered), so that tls_remove and
 * a destroyed enclave can destroy each of them, and a repeated
 * tls_generate can be answered again (the proof cannot be made anew
 * without the key holder signing a second time).
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "host/agent_tls.h"

#define TLS_SLOT_MAX 80 /* "tls/" + id + ":" + 10 digits + NUL */

typedef struct tls_slot {
	char enclave[CL_AGENT_ID_MAX];
	uint32_t gen;
	uint8_t point[CL_AGENT_TLS_POINT_LEN];
	uint8_t proof[CL_AGENT_TLS_PROOF_LEN];
} tls_slot;

typedef struct tls_enclave {
	char id[CL_AGENT_ID_MAX];
	signed char network; /* 1, 0, -1 not said */
	cl_agent_tls_backend be; /* from the guest networks (cl_agent_tls_set_backend) */
} tls_enclave;

struct cl_agent_tls {
	pthread_mutex_t mu;
	char host_id[CL_AGENT_ID_MAX];
	X509_STORE *store; /* NULL: no root, every install refused */
	cl_agent_tls_keys keys;
	tls_slot *slots; /* (mu) */
	size_t nslots, cap_slots;
	tls_enclave *encs; /* (mu) the desired set's ids */
	size_t nencs;
	cl_agent_tls_dp *dp; /* (mu) */
};

/* ---------------------------------------------------------------- results */

static json_t *result_error(const char *op, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *result_error(const char *op, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s, s:b, s:s}", "op", op, "ok", 0, "error", msg);
}

static json_t *result_ok(const char *op)
{
	return json_pack("{s:s, s:b}", "op", op, "ok", 1);
}

/* ok; with an endpoint, data = base64 of {"endpoints": [endpoint]}. */
static json_t *result_installed(const char *op, const char *endpoint)
{
	char *text = NULL, *b64 = NULL;
	json_t *inner = NULL, *res = NULL;
	if (!endpoint[0])
		return result_ok(op);
	if (!(inner = json_pack("{s:[s]}", "endpoints", endpoint)) ||
	    !(text = json_dumps(inner, JSON_COMPACT | JSON_SORT_KEYS)) ||
	    cl_base64_encode((const uint8_t *)text, strlen(text), &b64) != CL_OK)
		goto out;
	res = json_pack("{s:s, s:b, s:s}", "op", op, "ok", 1, "data", b64);
out:
	json_decref(inner);
	free(text);
	free(b64);
	return res;
}

/* data = base64 of {"point": b64, "proof": b64}. */
static json_t *result_generated(const char *op, const tls_slot *s)
{
	char *p = NULL, *q = NULL, *text = NULL, *b64 = NULL;
	json_t *inner = NULL, *res = NULL;
	if (cl_base64_encode(s->point, sizeof(s->point), &p) != CL_OK ||
	    cl_base64_encode(s->proof, sizeof(s->proof), &q) != CL_OK ||
	    !(inner = json_pack("{s:s, s:s}", "point", p, "proof", q)) ||
	    !(text = json_dumps(inner, JSON_COMPACT | JSON_SORT_KEYS)) ||
	    cl_base64_encode((const uint8_t *)text, strlen(text), &b64) != CL_OK)
		goto out;
	res = json_pack("{s:s, s:b, s:s}", "op", op, "ok", 1, "data", b64);
out:
	json_decref(inner);
	free(p);
	free(q);
	free(text);
	free(b64);
	return res;
}

/* ---------------------------------------------------------------- state (mu held) */

static cl_err slot_name(const char *enclave, uint32_t gen, char out[TLS_SLOT_MAX])
{
	int n = snprintf(out, TLS_SLOT_MAX, "tls/%s:%u", enclave, gen);
	CL_ENSURE(n > 0 && n < TLS_SLOT_MAX, CL_EINVAL, "slot name too long");
	return CL_OK;
}

static tls_slot *slot_find(cl_agent_tls *t, const char *enclave, uint32_t gen)
{
	for (size_t i = 0; i < t->nslots; i++)
		if (t->slots[i].gen == gen && strcmp(t->slots[i].enclave, enclave) == 0)
			return &t->slots[i];
	return NULL;
}

static void slot_drop(cl_agent_tls *t, tls_slot *s)
{
	*s = t->slots[--t->nslots];
}

static tls_slot *slot_add(cl_agent_tls *t, const char *enclave, uint32_t gen)
{
	if (t->nslots == t->cap_slots) {
		size_t cap = t->cap_slots ? t->cap_slots * 2 : 16;
		tls_slot *v = realloc(t->slots, cap * sizeof(*v));
		if (!v)
			return NULL;
		t->slots = v;
		t->cap_slots = cap;
	}
	tls_slot *s = &t->slots[t->nslots++];
	memset(s, 0, sizeof(*s));
	snprintf(s->enclave, sizeof(s->enclave), "%s", enclave);
	s->gen = gen;
	return s;
}

/* CL_OK if enclave is desired on this host and not known to lack a
 * network; CL_ENOTFOUND / CL_ECONFLICT with a detail otherwise. */
static const tls_enclave *enclave_find(const cl_agent_tls *t, const char *enclave)
{
	for (size_t i = 0; i < t->nencs; i++)
		if (strcmp(t->encs[i].id, enclave) == 0)
			return &t->encs[i];
	return NULL;
}

static cl_err enclave_here(cl_agent_tls *t, const char *enclave)
{
	for (size_t i = 0; i < t->nencs; i++)
		if (strcmp(t->encs[i].id, enclave) == 0) {
			CL_ENSURE(t->encs[i].network != 0, CL_ECONFLICT, "enclave %s has no network", enclave);
			return CL_OK;
		}
	return cl_errorf(CL_ENOTFOUND, "enclave %s does not run on this host", enclave);
}

/* Destroys the key of s and stops tracking it; a key already gone is fine.
 * On another failure s stays tracked (a later removal tries again). */
static cl_err slot_destroy(cl_agent_tls *t, tls_slot *s)
{
	char slot[TLS_SLOT_MAX];
	CL_GUARD(slot_name(s->enclave, s->gen, slot));
	cl_err err = t->keys.destroy(t->keys.ctx, slot);
	if (err != CL_OK && err != CL_ENOTFOUND) {
		cl_warn("tls: key not destroyed slot=%s err=\"%s\"", slot, cl_error_detail());
		return err;
	}
	cl_error_clear();
	cl_info("tls: key destroyed slot=%s", slot);
	slot_drop(t, s);
	return CL_OK;
}

/* Drops the data plane's state of enclave (when gen is 0 or what it
 * serves), then destroys the tracked slots of enclave (gen 0: all). */
static cl_err remove_locked(cl_agent_tls *t, const char *enclave, uint32_t gen)
{
	uint32_t served = 0;
	cl_err err = CL_OK;
	if (cl_agent_tls_dp_get(t->dp, enclave, &served, NULL) && (gen == 0 || gen == served))
		CL_GUARD(cl_agent_tls_apply(t->dp, enclave, 0, NULL, 0, NULL, NULL, NULL, 0));
	for (size_t i = t->nslots; i-- > 0;) {
		tls_slot *s = &t->slots[i];
		if (strcmp(s->enclave, enclave) != 0 || (gen && s->gen != gen))
			continue;
		cl_err e = slot_destroy(t, s);
		if (e != CL_OK && err == CL_OK)
			err = e;
	}
	return err;
}

/* ---------------------------------------------------------------- chain check */

static void certs_free(STACK_OF(X509) *sk)
{
	sk_X509_pop_free(sk, X509_free);
}

cl_err cl_agent_tls_chain_check(X509_STORE *store, const char *pem, size_t len,
				const uint8_t point[CL_AGENT_TLS_POINT_LEN])
{
	CL_ENSURE(store, CL_ECRYPTO, "this host has no root to verify a certificate chain with (--ca)");
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	BIO *in = len <= CL_AGENT_TLS_CHAIN_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
	X509 *x;
	cl_err err = CL_OK;
	if (!certs || !ctx || !in) {
		err = cl_errorf(len > CL_AGENT_TLS_CHAIN_MAX ? CL_ECRYPTO : CL_ENOMEM, "the chain cannot be read");
		goto out;
	}
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(certs) >= CL_AGENT_TLS_CHAIN_CERTS || !sk_X509_push(certs, x)) {
			X509_free(x);
			err = cl_errorf(CL_ECRYPTO, "the chain holds more than %d certificates", CL_AGENT_TLS_CHAIN_CERTS);
			goto out;
		}
	}
	ERR_clear_error(); /* the read that ended the loop */
	if (sk_X509_num(certs) == 0) {
		err = cl_errorf(CL_ECRYPTO, "the chain holds no PEM certificate");
		goto out;
	}
	X509 *leaf = sk_X509_value(certs, 0);
	if (!X509_STORE_CTX_init(ctx, store, leaf, certs)) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(ctx) != 1) {
		err = cl_errorf(CL_ECRYPTO, "the chain does not verify to this host's root: %s",
				X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
		goto out;
	}
	if (X509_check_ca(leaf) != 0) {
		err = cl_errorf(CL_ECRYPTO, "the chain's first certificate is a CA, not a leaf");
		goto out;
	}
	/* the data plane serves the chain as delivered: nothing in it may be
	 * outside the path that verified */
	STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
	for (int i = 1; i < sk_X509_num(certs); i++) {
		bool in_path = false;
		for (int k = 0; k < sk_X509_num(path) && !in_path; k++)
			in_path = X509_cmp(sk_X509_value(certs, i), sk_X509_value(path, k)) == 0;
		if (!in_path) {
			err = cl_errorf(CL_ECRYPTO, "the chain's certificate %d is not on the path to the root", i + 1);
			goto out;
		}
	}
	uint8_t got[133];
	size_t glen = 0;
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	if (!pk || !EVP_PKEY_is_a(pk, "EC") ||
	    !EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, got, sizeof(got), &glen) ||
	    glen != CL_AGENT_TLS_POINT_LEN || CRYPTO_memcmp(got, point, CL_AGENT_TLS_POINT_LEN) != 0) {
		ERR_clear_error();
		err = cl_errorf(CL_ECRYPTO, "the certificate is not for this host's key (its public key is not the key "
					    "holder's point for the slot)");
		goto out;
	}
out:
	ERR_clear_error();
	BIO_free(in);
	X509_STORE_CTX_free(ctx);
	certs_free(certs);
	return err;
}

/* ---------------------------------------------------------------- the ops */

static json_t *op_generate(cl_agent_tls *t, const cl_agent_op *op)
{
	const cl_agent_tls_args *a = op->tls;
	char slot[TLS_SLOT_MAX];
	uint8_t point[CL_AGENT_TLS_POINT_LEN];
	if (strcmp(a->host_id, t->host_id) != 0)
		return result_error(op->op, "the op is for host %s; this is host %s", a->host_id, t->host_id);
	if (enclave_here(t, op->enclave) != CL_OK || slot_name(op->enclave, a->gen, slot) != CL_OK)
		return result_error(op->op, "%s", cl_error_detail());
	tls_slot *s = slot_find(t, op->enclave, a->gen);
	if (s) { /* made before: the same key, if the key holder still has it */
		cl_err err = t->keys.get_public(t->keys.ctx, slot, point);
		if (err == CL_OK && CRYPTO_memcmp(point, s->point, sizeof(point)) == 0) {
			cl_info("tls: key already made, answered again slot=%s op=%s", slot, op->op);
			return result_generated(op->op, s);
		}
		if (err != CL_OK && err != CL_ENOTFOUND)
			return result_error(op->op, "key holder: %s", cl_error_detail());
		slot_drop(t, s);
		if (err == CL_OK) /* another key in the slot: not ours to prove */
			return result_error(op->op, "conflict: slot %s holds a key this agent did not make", slot);
		cl_warn("tls: key of slot=%s lost (the key holder restarted): made anew", slot);
	}
	if (!(s = slot_add(t, op->enclave, a->gen)))
		return NULL;
	cl_err err = t->keys.generate(t->keys.ctx, slot, t->host_id, s->point, s->proof);
	if (err != CL_OK) {
		slot_drop(t, s);
		if (err == CL_ECONFLICT)
			return result_error(op->op,
					    "conflict: slot %s already holds a key this agent did not make (its proof of "
					    "possession cannot be made again); use a new generation",
					    slot);
		return result_error(op->op, "key holder: %s", cl_error_detail());
	}
	cl_info("tls: key made slot=%s op=%s", slot, op->op);
	return result_generated(op->op, s);
}

static json_t *op_install(cl_agent_tls *t, const cl_agent_op *op)
{
	const cl_agent_tls_args *a = op->tls;
	char slot[TLS_SLOT_MAX];
	uint8_t point[CL_AGENT_TLS_POINT_LEN];
	if (enclave_here(t, op->enclave) != CL_OK || slot_name(op->enclave, a->gen, slot) != CL_OK)
		return result_error(op->op, "%s", cl_error_detail());
	cl_err err = t->keys.get_public(t->keys.ctx, slot, point);
	if (err == CL_ENOTFOUND)
		return result_error(op->op, "no key %s on this host (the key holder restarted, or it was removed)",
				    slot);
	if (err != CL_OK)
		return result_error(op->op, "key holder: %s", cl_error_detail());
	if (cl_agent_tls_chain_check(t->store, a->chain, a->chain_len, point) != CL_OK) {
		cl_warn("tls: certificate refused slot=%s op=%s err=\"%s\"", slot, op->op, cl_error_detail());
		return result_error(op->op, "certificate refused: %s", cl_error_detail());
	}
	const tls_enclave *te = enclave_find(t, op->enclave);
	char endpoint[64];
	if (cl_agent_tls_apply(t->dp, op->enclave, a->gen, a->chain, a->chain_len, &a->policy, te ? &te->be : NULL,
			       endpoint, sizeof(endpoint)) != CL_OK)
		return result_error(op->op, "data plane: %s", cl_error_detail());
	cl_info("tls: installed enclave=%s gen=%u endpoint=%s op=%s", op->enclave, a->gen,
		endpoint[0] ? endpoint : "-", op->op);
	return result_installed(op->op, endpoint);
}

static json_t *op_remove(cl_agent_tls *t, const cl_agent_op *op)
{
	if (remove_locked(t, op->enclave, op->tls->gen) != CL_OK)
		return result_error(op->op, "not removed: %s", cl_error_detail());
	cl_info("tls: removed enclave=%s gen=%u (0: every one) op=%s", op->enclave, op->tls->gen, op->op);
	return result_ok(op->op);
}

json_t *cl_agent_tls_op(cl_agent_tls *t, const cl_agent_op *op)
{
	json_t *res;
	if (!t)
		return result_error(op->op, "this host cannot serve TLS (no key holder)");
	if (!op->tls)
		return result_error(op->op, "malformed op");
	pthread_mutex_lock(&t->mu);
	switch (op->kind) {
	case CL_OP_TLS_GENERATE:
		res = op_generate(t, op);
		break;
	case CL_OP_TLS_INSTALL:
		res = op_install(t, op);
		break;
	case CL_OP_TLS_REMOVE:
		res = op_remove(t, op);
		break;
	default:
		res = result_error(op->op, "not a TLS op");
		break;
	}
	pthread_mutex_unlock(&t->mu);
	cl_error_clear();
	return res;
}

json_t *cl_agent_tls_op_fn(void *ctx, const cl_agent_op *op)
{
	return cl_agent_tls_op(ctx, op);
}

/* ---------------------------------------------------------------- lifecycle */

cl_err cl_agent_tls_new(const char *host_id, const char *ca_file, const cl_agent_tls_keys *keys, cl_agent_tls **out)
{
	cl_err err = CL_OK;
	*out = NULL;
	CL_ENSURE(cl_agent_valid_id(host_id), CL_EINVAL, "tls: host id is not an id");
	cl_agent_tls *t = calloc(1, sizeof(*t));
	CL_ENSURE(t, CL_ENOMEM, "out of memory");
	pthread_mutex_init(&t->mu, NULL);
	snprintf(t->host_id, sizeof(t->host_id), "%s", host_id);
	t->keys = *keys;
	CL_GUARD_OUT(err, cl_agent_tls_dp_new(&t->dp));
	if (ca_file) {
		if (!(t->store = X509_STORE_new()) || X509_STORE_load_file(t->store, ca_file) != 1) {
			ERR_clear_error();
			err = cl_errorf(CL_EINVAL, "tls: %s holds no CA certificate to verify chains with", ca_file);
			goto out;
		}
	}
	*out = t;
	return CL_OK;
out:
	cl_agent_tls_free(t);
	return err;
}

void cl_agent_tls_free(cl_agent_tls *t)
{
	if (!t)
		return;
	X509_STORE_free(t->store);
	cl_agent_tls_dp_free(t->dp);
	free(t->slots);
	free(t->encs);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

void cl_agent_tls_forget(cl_agent_tls *t, const char *enclave)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	if (remove_locked(t, enclave, 0) != CL_OK)
		cl_warn("tls: enclave=%s not forgotten entirely err=\"%s\"", enclave, cl_error_detail());
	pthread_mutex_unlock(&t->mu);
	cl_error_clear();
}

static bool in_set(const char *const *ids, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(ids[i], id) == 0)
			return true;
	return false;
}

void cl_agent_tls_set_enclaves(cl_agent_tls *t, const char *const *ids, const signed char *network, size_t n)
{
	if (!t)
		return;
	tls_enclave *v = n ? calloc(n, sizeof(*v)) : NULL;
	if (n && !v) {
		cl_warn("tls: out of memory: the desired set is not updated");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(v[i].id, sizeof(v[i].id), "%s", ids[i]);
		v[i].network = network ? network[i] : -1;
	}
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < n; i++) { /* the backends known stay until set again */
		const tls_enclave *old = enclave_find(t, v[i].id);
		if (old)
			v[i].be = old->be;
	}
	free(t->encs);
	t->encs = v;
	t->nencs = n;
	/* an enclave no longer desired here: nothing of its TLS stays */
	for (size_t i = t->nslots; i-- > 0;) {
		if (i >= t->nslots || in_set(ids, n, t->slots[i].enclave))
			continue;
		char enclave[CL_AGENT_ID_MAX];
		snprintf(enclave, sizeof(enclave), "%s", t->slots[i].enclave);
		(void)remove_locked(t, enclave, 0);
	}
	const char *e;
	for (size_t i = 0; (e = cl_agent_tls_dp_enclave(t->dp, i)) != NULL;) {
		if (in_set(ids, n, e)) {
			i++;
			continue;
		}
		char enclave[CL_AGENT_ID_MAX];
		snprintf(enclave, sizeof(enclave), "%s", e);
		if (cl_agent_tls_apply(t->dp, enclave, 0, NULL, 0, NULL, NULL, NULL, 0) != CL_OK) /* its entry stays: go on */
			i++;
	}
	pthread_mutex_unlock(&t->mu);
	cl_error_clear();
}

size_t cl_agent_tls_slot_count(cl_agent_tls *t, const char *enclave)
{
	size_t n = 0;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->nslots; i++)
		n += strcmp(t->slots[i].enclave, enclave) == 0;
	pthread_mutex_unlock(&t->mu);
	return n;
}

bool cl_agent_tls_served(cl_agent_tls *t, const char *enclave, uint32_t *gen, cl_agent_tls_policy *policy)
{
	pthread_mutex_lock(&t->mu);
	bool ok = cl_agent_tls_dp_get(t->dp, enclave, gen, policy);
	pthread_mutex_unlock(&t->mu);
	return ok;
}

cl_err cl_agent_tls_set_plane(cl_agent_tls *t, const cl_agent_tls_plane *plane, const char *listen)
{
	pthread_mutex_lock(&t->mu);
	cl_err err = cl_agent_tls_dp_set_plane(t->dp, plane, listen);
	pthread_mutex_unlock(&t->mu);
	return err;
}

void cl_agent_tls_set_backend(cl_agent_tls *t, const char *enclave, const char *address, uint16_t port)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->nencs; i++) {
		if (strcmp(t->encs[i].id, enclave) != 0)
			continue;
		snprintf(t->encs[i].be.address, sizeof(t->encs[i].be.address), "%s", address ? address : "");
		t->encs[i].be.port = port;
	}
	pthread_mutex_unlock(&t->mu);
}
