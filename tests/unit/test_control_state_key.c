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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(policy_registers),
		cmocka_unit_test(policy_mismatch_names_register),
		cmocka_unit_test_setup_teardown(suspend_document_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(revoked_before_or_after, setup, teardown),
		cmocka_unit_test(wrap_has_its_own_label),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
