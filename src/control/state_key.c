/* state_key.c — a suspend's state key: policy, checks, wrap (state_key.h). */
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/state_key.h"
#include "control/store_cert.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

cl_err ctl_state_policy(const cl_att_doc *d, char out[CTL_STATE_POLICY_MAX])
{
	static const int regs[] = {0, 1, 2, 3, 8};
	size_t o = 0;
	int w = snprintf(out, CTL_STATE_POLICY_MAX, "{\"pcrs\":{");
	o = (size_t)w;
	bool first = true;
	for (size_t k = 0; k < sizeof(regs) / sizeof(regs[0]); k++) {
		int i = regs[k];
		if (i == 8 && all_zero(d->f.pcrs[i], CL_ATT_PCR_LEN))
			continue;
		char hex[2 * CL_ATT_PCR_LEN + 1];
		cl_hex_encode(d->f.pcrs[i], CL_ATT_PCR_LEN, hex);
		w = snprintf(out + o, CTL_STATE_POLICY_MAX - o, "%s\"%d\":\"%s\"", first ? "" : ",", i, hex);
		CL_ENSURE(w > 0 && (size_t)w < CTL_STATE_POLICY_MAX - o, CL_EINTERNAL, "a state policy does not fit");
		o += (size_t)w;
		first = false;
	}
	w = snprintf(out + o, CTL_STATE_POLICY_MAX - o, "}}");
	CL_ENSURE(w > 0 && (size_t)w < CTL_STATE_POLICY_MAX - o, CL_EINTERNAL, "a state policy does not fit");
	return CL_OK;
}

cl_err ctl_state_policy_check(const char *policy, const cl_att_doc *d)
{
	cl_err err = CL_OK;
	json_t *pol = json_loads(policy, 0, NULL), *pcrs = json_object_get(pol, "pcrs"), *v;
	const char *k;
	if (!json_is_object(pcrs) || json_object_size(pcrs) == 0) {
		json_decref(pol);
		return cl_errorf(CL_EINTERNAL, "the state key's stored policy is unreadable");
	}
	json_object_foreach(pcrs, k, v)
	{
		uint8_t want[CL_ATT_PCR_LEN];
		char *end = NULL;
		long i = strtol(k, &end, 10);
		if (!end || *end || i < 0 || i >= CL_ATT_NPCRS || !json_string_value(v) ||
		    strlen(json_string_value(v)) != 2 * CL_ATT_PCR_LEN ||
		    cl_hex_decode(json_string_value(v), want, sizeof(want)) != CL_OK) {
			err = cl_errorf(CL_EINTERNAL, "the state key's stored policy is unreadable");
			break;
		}
		if (CRYPTO_memcmp(want, d->f.pcrs[i], sizeof(want)) != 0) {
			err = cl_errorf(CL_EPERM, "PCR%ld differs from the suspended enclave's", i);
			break;
		}
	}
	json_decref(pol);
	return err;
}

void ctl_state_seal_aad(const char *tenant_id, const char *enclave_id, int64_t n, char out[CTL_MON_SEAL_AAD_MAX + 1])
{
	snprintf(out, CTL_MON_SEAL_AAD_MAX + 1, "state/%s/%s/%lld", tenant_id, enclave_id, (long long)n);
}

cl_err ctl_state_wrap_key(const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *key, cl_buf *out)
{
	return cl_wrap_seal_label(CTL_STATE_WRAP_LABEL, point, key, CTL_STATE_KEY_LEN, out);
}

cl_err ctl_state_check_suspend_doc(ctl_store *st, const uint8_t *root_der, size_t root_len, const uint8_t *doc,
				   size_t len, const char *enclave_id, const char *policy, int64_t suspended_at_ms)
{
	cl_att_doc *d = NULL;
	cl_att_expect ex = {0};
	enum cl_att_check failed = CL_ATT_CHECK_NONE;
	char serial[41];
	ctl_cert_row c;
	cl_err err = CL_OK;
	if (cl_att_parse(doc, len, &d) != CL_OK)
		return cl_errorf(CL_EPERM, "suspend document: does not parse: %s", cl_error_detail());
	ex.root_der = root_der;
	ex.root_len = root_len;
	ex.now = (time_t)(suspended_at_ms / 1000);
	if (cl_att_verify(d, &ex, &failed) != CL_OK) {
		err = cl_errorf(CL_EPERM, "suspend document: %s: %s", cl_att_check_name(failed), cl_error_detail());
		goto out;
	}
	if (strcmp(d->module_id, enclave_id) != 0) {
		err = cl_errorf(CL_EPERM, "suspend document: it is enclave %.64s's, not %s's", d->module_id, enclave_id);
		goto out;
	}
	if (cl_att_leaf_serial(d, serial) != CL_OK || ctl_store_cert_get(st, serial, &c) != CL_OK) {
		err = cl_errorf(CL_EPERM, "suspend document: its certificate was not issued by this control plane");
		goto out;
	}
	if (c.revoked_at != 0 && c.revoked_at * 1000 <= suspended_at_ms) {
		err = cl_errorf(CL_EPERM, "suspend document: its certificate %s was revoked (%s) before the suspend", serial,
				c.reason);
		goto out;
	}
	err = ctl_state_policy_check(policy, d);
	if (err == CL_EPERM)
		err = cl_errorf(CL_EPERM, "suspend document: %s", cl_error_detail());
out:
	cl_att_doc_free(d);
	return err;
}

/* The document checks both requests share, in order; *reason names the one
 * that failed. On success *out is the parsed document (the caller frees). */
static cl_err doc_checks(ctl_store *st, const ctl_state_req *rq, const uint8_t *doc, size_t len, cl_att_doc **out,
			 uint8_t point[CL_WRAP_POINT_LEN], const char **reason)
{
	cl_att_doc *d = NULL;
	cl_att_expect ex = {0};
	enum cl_att_check failed = CL_ATT_CHECK_NONE;
	char serial[41];
	ctl_cert_row c;
	ctl_host h = {0};
	cl_err err = CL_OK;
	*out = NULL;
	*reason = "bad_document";
	if (cl_att_parse(doc, len, &d) != CL_OK)
		return cl_errorf(CL_EPERM, "the document does not parse: %s", cl_error_detail());
	ex.root_der = rq->root_der;
	ex.root_len = rq->root_len;
	ex.now = (time_t)(rq->now_ms / 1000);
	CL_GUARD_OUT(err, cl_att_verify(d, &ex, &failed));
	*reason = "stale_nonce";
	if (!d->f.nonce.p || d->f.nonce.n != 32 || CRYPTO_memcmp(d->f.nonce.p, rq->nonce, 32) != 0) {
		err = cl_errorf(CL_EPERM, "the document does not carry this operation's nonce");
		goto out;
	}
	*reason = "wrong_enclave";
	if (strcmp(d->module_id, rq->enclave_id) != 0) {
		err = cl_errorf(CL_EPERM, "the document is for enclave %.64s, not %s", d->module_id, rq->enclave_id);
		goto out;
	}
	*reason = "host_revoked";
	if (cl_att_leaf_serial(d, serial) != CL_OK || ctl_store_cert_get(st, serial, &c) != CL_OK) {
		err = cl_errorf(CL_EPERM, "the document's certificate was not issued by this control plane");
		goto out;
	}
	if (c.revoked_at != 0) {
		err = cl_errorf(CL_EPERM, "the document's certificate %s is revoked (%s)", serial, c.reason);
		goto out;
	}
	*reason = "wrong_host";
	if (strcmp(c.host_id, rq->host_id) != 0) {
		err = cl_errorf(CL_EPERM, "the document comes from host %s, the operation runs on %s", c.host_id,
				rq->host_id);
		goto out;
	}
	*reason = "host_revoked";
	if (ctl_store_host_get(st, c.host_id, &h) != CL_OK) {
		err = cl_errorf(CL_EPERM, "the document's host %s is unknown", c.host_id);
		goto out;
	}
	if (strcmp(h.state, "ready") != 0)
		err = cl_errorf(CL_EPERM, "the document's host %s is %s", c.host_id, h.state);
	ctl_host_clear(&h);
	if (err != CL_OK)
		goto out;
	*reason = "no_public_key";
	if (!d->f.public_key.p || d->f.public_key.n == 0) {
		err = cl_errorf(CL_EPERM, "the document carries no public_key");
		goto out;
	}
	*reason = "bad_public_key";
	if (cl_wrap_point(d->f.public_key.p, d->f.public_key.n, point) != CL_OK) {
		err = CL_EPERM; /* cl_wrap_point's detail says why */
		goto out;
	}
	*reason = NULL;
	*out = d;
	return CL_OK;
out:
	cl_att_doc_free(d);
	return err;
}

cl_err ctl_state_issue(ctl_store *st, const ctl_state_sealer *s, const ctl_state_req *rq, const uint8_t *doc,
		       size_t len, int64_t *n, cl_buf *wrapped, const char **reason)
{
	cl_att_doc *d = NULL;
	uint8_t point[CL_WRAP_POINT_LEN], key[CTL_STATE_KEY_LEN];
	char policy[CTL_STATE_POLICY_MAX], aad[CTL_MON_SEAL_AAD_MAX + 1];
	ctl_state cur;
	cl_buf sealed;
	bool in_tx = false;
	cl_err err = CL_OK;
	*n = 0;
	cl_buf_init(&sealed, CTL_STATE_SEALED_LEN);
	CL_GUARD(doc_checks(st, rq, doc, len, &d, point, reason));
	CL_GUARD_OUT(err, ctl_state_policy(d, policy));
	CL_GUARD_OUT(err, ctl_store_begin(st));
	in_tx = true;
	CL_GUARD_OUT(err, ctl_store_state_get(st, rq->enclave_id, &cur));
	int64_t next = cur.counter + 1;
	if (RAND_bytes(key, sizeof(key)) != 1) {
		err = cl_errorf(CL_EINTERNAL, "no random bytes for a state key");
		goto out;
	}
	ctl_state_seal_aad(rq->tenant_id, rq->enclave_id, next, aad);
	CL_GUARD_OUT(err, s->seal(s->ctx, aad, key, sizeof(key), &sealed));
	if (sealed.len != CTL_STATE_SEALED_LEN) {
		err = cl_errorf(CL_EINTERNAL, "a sealed state key of %zu bytes", sealed.len);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_state_begin(st, rq->enclave_id, next, sealed.data, sealed.len, policy, doc, len,
						rq->now_ms));
	CL_GUARD_OUT(err, ctl_store_commit(st));
	in_tx = false;
	CL_GUARD_OUT(err, ctl_state_wrap_key(point, key, wrapped));
	*n = next;
out:
	if (in_tx)
		ctl_store_rollback(st);
	OPENSSL_cleanse(key, sizeof(key));
	cl_buf_free(&sealed);
	cl_att_doc_free(d);
	return err;
}

cl_err ctl_state_release(ctl_store *st, const ctl_state_sealer *s, const ctl_state_req *rq, const uint8_t *doc,
			 size_t len, int64_t n, cl_buf *wrapped, const char **reason)
{
	cl_att_doc *d = NULL;
	uint8_t point[CL_WRAP_POINT_LEN], *sdoc = NULL;
	size_t sdoc_len = 0;
	char aad[CTL_MON_SEAL_AAD_MAX + 1];
	ctl_state *cur = calloc(1, sizeof(*cur));
	cl_buf key;
	cl_err err = CL_OK;
	cl_buf_init(&key, CTL_STATE_KEY_LEN);
	if (!cur)
		return CL_ENOMEM;
	CL_GUARD_OUT(err, doc_checks(st, rq, doc, len, &d, point, reason));
	*reason = "stale_blob";
	err = ctl_store_state_for_restore(st, rq->enclave_id, n, cur);
	if (err == CL_ECONFLICT || err == CL_ENOTFOUND) {
		err = cl_errorf(CL_EPERM, "%s", cl_error_detail());
		goto out;
	}
	CL_GUARD_OUT(err, err);
	*reason = "pcr_mismatch";
	CL_GUARD_OUT(err, ctl_state_policy_check(cur->policy, d));
	*reason = "bad_document";
	CL_GUARD_OUT(err, ctl_store_state_document(st, rq->enclave_id, &sdoc, &sdoc_len));
	CL_GUARD_OUT(err, ctl_state_check_suspend_doc(st, rq->root_der, rq->root_len, sdoc, sdoc_len, rq->enclave_id,
						      cur->policy, cur->suspended_at));
	*reason = NULL;
	ctl_state_seal_aad(rq->tenant_id, rq->enclave_id, n, aad);
	if (s->unseal(s->ctx, aad, cur->sealed_key, cur->sealed_key_len, &key) != CL_OK || key.len != CTL_STATE_KEY_LEN) {
		err = cl_errorf(CL_EINTERNAL, "the state key of %s does not open: it was not sealed for it, or changed",
				rq->enclave_id);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_state_wrap_key(point, key.data, wrapped));
out:
	if (err != CL_OK && *reason && err != CL_EPERM && err != CL_ECRYPTO)
		*reason = NULL; /* the server's failure, not a refusal */
	cl_buf_free(&key);
	OPENSSL_cleanse(cur, sizeof(*cur));
	free(cur);
	free(sdoc);
	cl_att_doc_free(d);
	return err;
}
