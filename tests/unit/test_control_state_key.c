/* Unit tests for a suspend's state key on the control plane
 * (src/control/state_key.c, docs/suspend.md): the policy is PCR0..3 (+8),
 * never PCR4 or PCR7; a restoring enclave of another image is refused
 * naming the register; the stored suspend document is re-checked (re-signed
 * with another key, another root, another enclave, a certificate revoked
 * before the suspend: refused; revoked after: fine); K_n is wrapped under
 * its own label, which the broker's open refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "common/err.h"
#include "common/wrap.h"
#include "control/state_key.h"
#include "control/store_cert.h"

#include "store_fixture.h"
#include "test_attest_fixture.h"

#define ENC "enc-test0000000000000001"

static fx_chain chain;

static int group_setup(void **state)
{
	fx_chain_make(&chain, &(fx_opts){0});
	return 0;
}

static int group_teardown(void **state)
{
	fx_chain_free(&chain);
	return 0;
}

/* A document of ENC (PCRi = i repeated, then the tweak) signed by key. */
static cl_att_doc *doc_signed(const fx_chain *c, EVP_PKEY *key, int pcr, uint8_t val, const char *module,
			      uint8_t **raw, size_t *rawlen)
{
	cl_att_fields f;
	cl_att_doc *d = NULL;
	fx_fields(&f, c, NULL, 0);
	if (module)
		f.module_id = module;
	if (pcr >= 0)
		memset(f.pcrs[pcr], val, CL_ATT_PCR_LEN);
	assert_int_equal(cl_att_build(&f, fx_sign, key, raw, rawlen), CL_OK);
	assert_int_equal(cl_att_parse(*raw, *rawlen, &d), CL_OK);
	return d;
}

static cl_att_doc *doc_of(int pcr, uint8_t val, uint8_t **raw, size_t *rawlen)
{
	return doc_signed(&chain, chain.leaf_key, pcr, val, NULL, raw, rawlen);
}

/* records chain's leaf as issued here (revoked at revoked_at s, 0: not) */
static void issue(fixture *f, const cl_att_doc *d, int64_t revoked_at)
{
	ctl_cert_row c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(cl_att_leaf_serial(d, c.serial), CL_OK);
	snprintf(c.host_id, sizeof(c.host_id), "host-1");
	snprintf(c.key_sha256, sizeof(c.key_sha256), "%064d", 0);
	c.issued_at = 1;
	c.not_after = time(NULL) + 86400;
	c.revoked_at = revoked_at;
	if (revoked_at)
		snprintf(c.reason, sizeof(c.reason), "removed");
	assert_int_equal(ctl_store_cert_insert(f->st, &c), CL_OK);
}

static void policy_registers(void **state)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	char pol[CTL_STATE_POLICY_MAX], hex[97];
	cl_att_doc *d = doc_of(-1, 0, &raw, &len);
	assert_int_equal(ctl_state_policy(d, pol), CL_OK);
	for (int i = 0; i < CL_ATT_NPCRS; i++) {
		char key[16];
		snprintf(key, sizeof(key), "\"%d\":", i);
		bool want = i <= 3 || i == 8;
		assert_int_equal(strstr(pol, key) != NULL, want);
	}
	memset(hex, '0', 96);
	hex[96] = '\0';
	assert_non_null(strstr(pol, hex)); /* PCR0 = 48 zero bytes */
	assert_int_equal(ctl_state_policy_check(pol, d), CL_OK);
	cl_att_doc_free(d);
	free(raw);
	/* an unsigned image (PCR8 zero) has no PCR8 in its policy */
	d = doc_of(8, 0, &raw, &len);
	assert_int_equal(ctl_state_policy(d, pol), CL_OK);
	assert_null(strstr(pol, "\"8\":"));
	cl_att_doc_free(d);
	free(raw);
}

static void policy_mismatch_names_register(void **state)
{
	uint8_t *raw = NULL, *raw2 = NULL;
	size_t len = 0, len2 = 0;
	char pol[CTL_STATE_POLICY_MAX];
	cl_att_doc *d = doc_of(-1, 0, &raw, &len);
	assert_int_equal(ctl_state_policy(d, pol), CL_OK);
	/* another image (PCR2), another tenant/name (PCR3): refused, named */
	for (int i = 0; i <= 3; i++) {
		cl_att_doc *o = doc_of(i, 0xee, &raw2, &len2);
		char want[16];
		assert_int_equal(ctl_state_policy_check(pol, o), CL_EPERM);
		snprintf(want, sizeof(want), "PCR%d ", i);
		assert_non_null(strstr(cl_error_detail(), want));
		cl_att_doc_free(o);
		free(raw2);
	}
	/* another host (PCR4) and a not yet replayed PCR7: accepted */
	for (int i = 4; i <= 7; i += 3) {
		cl_att_doc *o = doc_of(i, 0xee, &raw2, &len2);
		assert_int_equal(ctl_state_policy_check(pol, o), CL_OK);
		cl_att_doc_free(o);
		free(raw2);
	}
	assert_int_equal(ctl_state_policy_check("{\"pcrs\":{}}", d), CL_EINTERNAL);
	assert_int_equal(ctl_state_policy_check("{\"pcrs\":{\"x\":\"00\"}}", d), CL_EINTERNAL);
	assert_int_equal(ctl_state_policy_check("nonsense", d), CL_EINTERNAL);
	cl_att_doc_free(d);
	free(raw);
}

static void suspend_document_checks(void **state)
{
	fixture *f = *state;
	uint8_t *raw = NULL, *raw2 = NULL;
	size_t len = 0, len2 = 0;
	char pol[CTL_STATE_POLICY_MAX];
	int64_t at = (int64_t)time(NULL) * 1000;
	cl_att_doc *d = doc_of(-1, 0, &raw, &len);
	assert_int_equal(ctl_state_policy(d, pol), CL_OK);
	/* not issued here yet */
	assert_int_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, raw, len, ENC, pol, at),
			 CL_EPERM);
	assert_non_null(strstr(cl_error_detail(), "not issued by this control plane"));
	issue(f, d, 0);
	assert_int_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, raw, len, ENC, pol, at), CL_OK);
	/* another enclave's name */
	assert_int_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, raw, len, "enc-other", pol, at),
			 CL_EPERM);
	assert_non_null(strstr(cl_error_detail(), "suspend document: it is enclave"));
	/* re-signed with another key (same certificate) */
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(other);
	cl_att_doc *o = doc_signed(&chain, other, -1, 0, NULL, &raw2, &len2);
	assert_int_not_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, raw2, len2, ENC, pol, at),
			     CL_OK);
	assert_non_null(strstr(cl_error_detail(), "suspend document: signature"));
	cl_att_doc_free(o);
	free(raw2);
	EVP_PKEY_free(other);
	/* a whole other chain (its own root) */
	fx_chain c2;
	fx_chain_make(&c2, &(fx_opts){0});
	o = doc_signed(&c2, c2.leaf_key, -1, 0, NULL, &raw2, &len2);
	assert_int_not_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, raw2, len2, ENC, pol, at),
			     CL_OK);
	assert_non_null(strstr(cl_error_detail(), "suspend document: root"));
	cl_att_doc_free(o);
	free(raw2);
	fx_chain_free(&c2);
	/* registers not the policy's (a document swapped for another image's) */
	o = doc_of(2, 0xee, &raw2, &len2);
	assert_int_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, raw2, len2, ENC, pol, at),
			 CL_EPERM);
	assert_non_null(strstr(cl_error_detail(), "suspend document: PCR2"));
	cl_att_doc_free(o);
	free(raw2);
	/* garbage */
	assert_int_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, (const uint8_t *)"xx", 2, ENC,
						     pol, at),
			 CL_EPERM);
	cl_att_doc_free(d);
	free(raw);
}

static void revoked_before_or_after(void **state)
{
	fixture *f = *state;
	uint8_t *raw = NULL;
	size_t len = 0;
	char pol[CTL_STATE_POLICY_MAX];
	int64_t now_s = (int64_t)time(NULL);
	cl_att_doc *d = doc_of(-1, 0, &raw, &len);
	assert_int_equal(ctl_state_policy(d, pol), CL_OK);
	issue(f, d, now_s - 10); /* revoked 10 s ago */
	/* suspended a minute ago, before the revocation: the blob stays good */
	assert_int_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, raw, len, ENC, pol,
						     (now_s - 60) * 1000),
			 CL_OK);
	/* suspended after it: refused */
	assert_int_equal(ctl_state_check_suspend_doc(f->st, chain.root_der, chain.root_len, raw, len, ENC, pol,
						     (now_s - 5) * 1000),
			 CL_EPERM);
	assert_non_null(strstr(cl_error_detail(), "revoked"));
	cl_att_doc_free(d);
	free(raw);
}

static void wrap_has_its_own_label(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	uint8_t pub[CL_WRAP_POINT_LEN], point[CL_WRAP_POINT_LEN], key[CTL_STATE_KEY_LEN];
	size_t publen = sizeof(pub);
	cl_buf w, out;
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", pub, sizeof(pub), &publen), 1);
	assert_int_equal(cl_wrap_point(pub, publen, point), CL_OK);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(3 * i + 1);
	cl_buf_init(&w, CTL_STATE_KEY_LEN + CL_WRAP_OVERHEAD);
	cl_buf_init(&out, 64);
	assert_int_equal(ctl_state_wrap_key(point, key, &w), CL_OK);
	assert_int_equal(w.len, CTL_STATE_KEY_LEN + CL_WRAP_OVERHEAD);
	assert_int_equal(cl_wrap_open(k, w.data, w.len, &out), CL_ECRYPTO);         /* the broker's label */
	assert_int_equal(cl_wrap_open_bundle(k, w.data, w.len, &out), CL_ECRYPTO);  /* the bundle's */
	assert_int_equal(cl_wrap_open_label(CTL_STATE_WRAP_LABEL, k, w.data, w.len, &out), CL_OK);
	assert_int_equal(out.len, sizeof(key));
	assert_memory_equal(out.data, key, sizeof(key));
	char aad[CTL_MON_SEAL_AAD_MAX + 1];
	ctl_state_seal_aad("ten-a", ENC, 7, aad);
	assert_string_equal(aad, "state/ten-a/" ENC "/7");
	cl_buf_free(&w);
	cl_buf_free(&out);
	EVP_PKEY_free(k);
}

/* ---- issue (suspend) and release (restore) ---- */

static uint8_t seal_key[CTL_MON_SEAL_KEY_LEN] = {42};

static cl_err t_seal(void *ctx, const char *aad, const uint8_t *pt, size_t n, cl_buf *out)
{
	return ctl_seal(seal_key, aad, pt, n, out);
}

static cl_err t_unseal(void *ctx, const char *aad, const uint8_t *blob, size_t n, cl_buf *out)
{
	return ctl_unseal(seal_key, aad, blob, n, out);
}

static const ctl_state_sealer sealer = {t_seal, t_unseal, NULL};

typedef struct enclave_side {
	EVP_PKEY *key;
	uint8_t pub[CL_WRAP_POINT_LEN];
	uint8_t nonce[32];
} enclave_side;

/* A fresh document from the enclave: the op's nonce, its key, pcr tweak. */
static uint8_t *fresh_doc(enclave_side *es, EVP_PKEY *signer, int pcr, uint8_t val, bool with_key, size_t *len)
{
	cl_att_fields f;
	uint8_t *raw = NULL;
	fx_fields(&f, &chain, es->nonce, sizeof(es->nonce));
	if (pcr >= 0)
		memset(f.pcrs[pcr], val, CL_ATT_PCR_LEN);
	if (with_key)
		f.public_key = (cl_att_bytes){es->pub, sizeof(es->pub)};
	assert_int_equal(cl_att_build(&f, fx_sign, signer ? signer : chain.leaf_key, &raw, len), CL_OK);
	return raw;
}

static void world_up(fixture *f, enclave_side *es, ctl_state_req *rq)
{
	ctl_host h = {.state = "ready", .level = "software", .memory_mib = 1000, .cpus = 4, .generation = 1};
	snprintf(h.id, sizeof(h.id), "host-1");
	snprintf(h.name, sizeof(h.name), "n-host-1");
	h.caps_json = (char *)"{\"level\":\"software\"}";
	assert_int_equal(ctl_store_host_insert(f->st, &h), CL_OK);
	snprintf(h.id, sizeof(h.id), "host-2");
	snprintf(h.name, sizeof(h.name), "n-host-2");
	assert_int_equal(ctl_store_host_insert(f->st, &h), CL_OK);
	size_t publen = sizeof(es->pub), len = 0;
	es->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(es->key);
	assert_int_equal(EVP_PKEY_get_octet_string_param(es->key, "encoded-pub-key", es->pub, sizeof(es->pub), &publen), 1);
	assert_int_equal(RAND_bytes(es->nonce, sizeof(es->nonce)), 1);
	uint8_t *raw = fresh_doc(es, NULL, -1, 0, true, &len);
	cl_att_doc *d = NULL;
	assert_int_equal(cl_att_parse(raw, len, &d), CL_OK);
	issue(f, d, 0);
	cl_att_doc_free(d);
	free(raw);
	*rq = (ctl_state_req){.tenant_id = "ten-a", .enclave_id = ENC, .host_id = "host-1", .nonce = es->nonce,
			      .root_der = chain.root_der, .root_len = chain.root_len,
			      .now_ms = (int64_t)time(NULL) * 1000};
}

/* Unwraps what was released to the enclave's key. */
static void unwrap(enclave_side *es, const cl_buf *w, uint8_t key[CTL_STATE_KEY_LEN])
{
	cl_buf out;
	cl_buf_init(&out, 64);
	assert_int_equal(cl_wrap_open_label(CTL_STATE_WRAP_LABEL, es->key, w->data, w->len, &out), CL_OK);
	assert_int_equal(out.len, CTL_STATE_KEY_LEN);
	memcpy(key, out.data, CTL_STATE_KEY_LEN);
	cl_buf_free(&out);
}

/* suspend n: issue, then commit the blob as the agent's PUT would */
static int64_t suspend_once(fixture *f, enclave_side *es, ctl_state_req *rq, uint8_t key[CTL_STATE_KEY_LEN])
{
	size_t len = 0;
	int64_t n = 0;
	const char *reason = "x";
	char old[CTL_STATE_PATH_MAX], path[64];
	cl_buf w;
	cl_buf_init(&w, CTL_STATE_KEY_LEN + CL_WRAP_OVERHEAD);
	uint8_t *raw = fresh_doc(es, NULL, -1, 0, true, &len);
	assert_int_equal(ctl_state_issue(f->st, &sealer, rq, raw, len, &n, &w, &reason), CL_OK);
	assert_null(reason);
	unwrap(es, &w, key);
	snprintf(path, sizeof(path), "state/%s.%lld.blob", ENC, (long long)n);
	assert_int_equal(ctl_store_state_commit(f->st, ENC, n, 100, "0123456789abcdef0123456789abcdef0123456789abcdef"
								       "0123456789abcdef0123456789abcdef0123456789abcdef",
						path, rq->now_ms, old),
			 CL_OK);
	cl_buf_free(&w);
	free(raw);
	return n;
}

/* release n with a document tweaked by pcr/val/signer/with_key: the reason */
static const char *try_release(fixture *f, enclave_side *es, ctl_state_req *rq, int64_t n, int pcr, uint8_t val,
			       bool with_key, cl_err *err, uint8_t key[CTL_STATE_KEY_LEN])
{
	size_t len = 0;
	const char *reason = NULL;
	cl_buf w;
	cl_buf_init(&w, CTL_STATE_KEY_LEN + CL_WRAP_OVERHEAD);
	uint8_t *raw = fresh_doc(es, NULL, pcr, val, with_key, &len);
	cl_error_clear();
	*err = ctl_state_release(f->st, &sealer, rq, raw, len, n, &w, &reason);
	if (*err == CL_OK && key)
		unwrap(es, &w, key);
	cl_buf_free(&w);
	free(raw);
	return reason;
}

static void issue_then_release(void **state)
{
	fixture *f = *state;
	enclave_side es;
	ctl_state_req rq;
	uint8_t k1[CTL_STATE_KEY_LEN], got[CTL_STATE_KEY_LEN], k2[CTL_STATE_KEY_LEN];
	cl_err err;
	world_up(f, &es, &rq);
	assert_int_equal(suspend_once(f, &es, &rq, k1), 1);
	/* restore: a new document, whose PCR4 differs (as on another host) */
	rq.host_id = "host-1";
	assert_null(try_release(f, &es, &rq, 1, 4, 0x44, true, &err, got));
	assert_int_equal(err, CL_OK);
	assert_memory_equal(got, k1, sizeof(k1));
	/* a second suspend makes a different key */
	assert_int_equal(suspend_once(f, &es, &rq, k2), 2);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	EVP_PKEY_free(es.key);
}

static void release_refusals(void **state)
{
	fixture *f = *state;
	enclave_side es;
	ctl_state_req rq;
	uint8_t k[CTL_STATE_KEY_LEN];
	cl_err err;
	world_up(f, &es, &rq);
	/* nothing suspended yet */
	assert_string_equal(try_release(f, &es, &rq, 1, -1, 0, true, &err, NULL), "stale_blob");
	assert_int_equal(suspend_once(f, &es, &rq, k), 1);
	assert_int_equal(suspend_once(f, &es, &rq, k), 2);
	/* replay: blob 1 put back */
	assert_string_equal(try_release(f, &es, &rq, 1, -1, 0, true, &err, NULL), "stale_blob");
	assert_int_equal(err, CL_EPERM);
	assert_non_null(strstr(cl_error_detail(), "suspend 1, the enclave's latest is 2"));
	/* another image */
	assert_string_equal(try_release(f, &es, &rq, 2, 2, 0xee, true, &err, NULL), "pcr_mismatch");
	assert_non_null(strstr(cl_error_detail(), "PCR2"));
	/* another tenant or name */
	assert_string_equal(try_release(f, &es, &rq, 2, 3, 0xee, true, &err, NULL), "pcr_mismatch");
	/* no key in the document */
	assert_string_equal(try_release(f, &es, &rq, 2, -1, 0, false, &err, NULL), "no_public_key");
	/* the document is from host-1, the op runs on host-2 */
	rq.host_id = "host-2";
	assert_string_equal(try_release(f, &es, &rq, 2, -1, 0, true, &err, NULL), "wrong_host");
	rq.host_id = "host-1";
	/* not this op's nonce */
	uint8_t other_nonce[32] = {1};
	rq.nonce = other_nonce;
	assert_string_equal(try_release(f, &es, &rq, 2, -1, 0, true, &err, NULL), "stale_nonce");
	rq.nonce = es.nonce;
	/* another enclave's op */
	rq.enclave_id = "enc-other";
	assert_string_equal(try_release(f, &es, &rq, 2, -1, 0, true, &err, NULL), "wrong_enclave");
	rq.enclave_id = ENC;
	/* after all that, the right request still gets the key */
	assert_null(try_release(f, &es, &rq, 2, -1, 0, true, &err, NULL));
	assert_int_equal(err, CL_OK);
	EVP_PKEY_free(es.key);
}

static void raw_exec_blob(fixture *f, const char *sql, const uint8_t *p, size_t n)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_bind_blob(q, 1, p, (int)n, SQLITE_TRANSIENT), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_DONE);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

/* The stored suspend document re-signed with another key: refused; a
 * sealed key moved from elsewhere does not open (the server's error). */
static void stored_tampering(void **state)
{
	fixture *f = *state;
	enclave_side es;
	ctl_state_req rq;
	uint8_t k[CTL_STATE_KEY_LEN];
	cl_err err;
	size_t len = 0;
	world_up(f, &es, &rq);
	assert_int_equal(suspend_once(f, &es, &rq, k), 1);
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	uint8_t *resigned = fresh_doc(&es, other, -1, 0, true, &len);
	raw_exec_blob(f, "UPDATE enclave_state SET document=?1", resigned, len);
	assert_string_equal(try_release(f, &es, &rq, 1, -1, 0, true, &err, NULL), "bad_document");
	assert_non_null(strstr(cl_error_detail(), "suspend document: signature"));
	free(resigned);
	EVP_PKEY_free(other);
	/* the genuine document back, but the sealed key of another enclave */
	uint8_t *genuine = fresh_doc(&es, NULL, -1, 0, true, &len);
	raw_exec_blob(f, "UPDATE enclave_state SET document=?1", genuine, len);
	free(genuine);
	assert_null(try_release(f, &es, &rq, 1, -1, 0, true, &err, NULL));
	assert_int_equal(err, CL_OK);
	cl_buf sealed;
	cl_buf_init(&sealed, CTL_STATE_SEALED_LEN);
	assert_int_equal(ctl_seal(seal_key, "state/ten-a/enc-other/1", k, sizeof(k), &sealed), CL_OK);
	raw_exec_blob(f, "UPDATE enclave_state SET sealed_key=?1", sealed.data, sealed.len);
	cl_buf_free(&sealed);
	assert_null(try_release(f, &es, &rq, 1, -1, 0, true, &err, NULL));
	assert_int_equal(err, CL_EINTERNAL);
	EVP_PKEY_free(es.key);
}

/* A suspend refused for its document stores nothing: the counter stays. */
static void issue_refusal_changes_nothing(void **state)
{
	fixture *f = *state;
	enclave_side es;
	ctl_state_req rq;
	ctl_state st;
	size_t len = 0;
	int64_t n = -1;
	const char *reason = NULL;
	cl_buf w;
	world_up(f, &es, &rq);
	cl_buf_init(&w, CTL_STATE_KEY_LEN + CL_WRAP_OVERHEAD);
	uint8_t *raw = fresh_doc(&es, NULL, -1, 0, false, &len);
	assert_int_equal(ctl_state_issue(f->st, &sealer, &rq, raw, len, &n, &w, &reason), CL_EPERM);
	assert_string_equal(reason, "no_public_key");
	assert_int_equal(n, 0);
	assert_int_equal(w.len, 0);
	free(raw);
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	raw = fresh_doc(&es, other, -1, 0, true, &len);
	assert_int_not_equal(ctl_state_issue(f->st, &sealer, &rq, raw, len, &n, &w, &reason), CL_OK);
	assert_string_equal(reason, "bad_document");
	free(raw);
	EVP_PKEY_free(other);
	assert_int_equal(ctl_store_state_get(f->st, ENC, &st), CL_OK);
	assert_int_equal(st.counter, 0);
	assert_int_equal(st.pending_n, 0);
	cl_buf_free(&w);
	EVP_PKEY_free(es.key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policy_registers),
		cmocka_unit_test(policy_mismatch_names_register),
		cmocka_unit_test_setup_teardown(suspend_document_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(revoked_before_or_after, setup, teardown),
		cmocka_unit_test(wrap_has_its_own_label),
		cmocka_unit_test_setup_teardown(issue_then_release, setup, teardown),
		cmocka_unit_test_setup_teardown(release_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(stored_tampering, setup, teardown),
		cmocka_unit_test_setup_teardown(issue_refusal_changes_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
