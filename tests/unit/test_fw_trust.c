/* Unit tests for trust-root documents and the chain from the ROM root key
 * (TUF's rule: version N+1 needs the thresholds of both N and N+1), k = 0
 * refusal, revocation by rotation, the trust floor, expiry, and the strict
 * CBOR reader underneath. */
#include "../fw/fw_testlib.h"

static int setup(void **state)
{
	fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	fx_init(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	free(*state);
	return 0;
}

static fw_status apply(fx *f, fw_trust *t, const cl_buf *doc)
{
	fw_trust scratch;
	return fw_trust_apply(t, &scratch, doc->data, doc->len, &f->ops);
}

/* v2 = {k0, k1, k3}, k = 2: drops k2 (revoked), adds k3. */
static void rotate_v2(fx *f, fw_trust *t, const int *by, size_t nby, fw_status want)
{
	cl_buf doc;
	const int s[] = {0, 1, 3};
	make_tr(f, 2, 2, s, 3, by, nby, &doc);
	assert_int_equal(apply(f, t, &doc), want);
	cl_buf_free(&doc);
}

static void v1_must_be_root_signed(void **state)
{
	fx *f = *state;
	fw_trust t;
	cl_buf doc;
	const int s[] = {0, 1, 2}, by_signers[] = {0, 1, 2}, by_root[] = {-1};
	assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
	make_tr(f, 1, 2, s, 3, by_signers, 3, &doc); /* its own signers are not enough */
	assert_int_equal(apply(f, &t, &doc), FW_E_TRUST_CHAIN);
	assert_int_equal(t.version, 0);
	cl_buf_free(&doc);
	make_tr(f, 1, 2, s, 3, by_root, 1, &doc);
	assert_int_equal(apply(f, &t, &doc), FW_OK);
	assert_int_equal(t.version, 1);
	assert_int_equal(t.threshold, 2);
	assert_int_equal(t.nkeys, 3);
	/* Replaying v1 again is out of sequence. */
	assert_int_equal(apply(f, &t, &doc), FW_E_TRUST_CHAIN);
	cl_buf_free(&doc);
}

static void rotation_needs_both_thresholds(void **state)
{
	fx *f = *state;
	fw_trust t;
	const int old_only[] = {0, 2};   /* 2 of v1, but only k0 of v2 */
	const int new_only[] = {3, 1};   /* 2 of v2 but only k1 of v1 */
	const int root_new[] = {-1, 0, 3}; /* root co-signs, but is listed in neither */
	const int both[] = {2, 1, 3};    /* v1: k2,k1; v2: k1,k3 */
	trust_v1(f, &t);
	rotate_v2(f, &t, old_only, 2, FW_E_TRUST_CHAIN);
	rotate_v2(f, &t, new_only, 2, FW_E_TRUST_CHAIN);
	rotate_v2(f, &t, root_new, 3, FW_E_TRUST_CHAIN);
	assert_int_equal(t.version, 1); /* unchanged by the refusals */
	rotate_v2(f, &t, both, 3, FW_OK);
	assert_int_equal(t.version, 2);
}

static void unknown_signer_on_trust_doc_refused(void **state)
{
	fx *f = *state;
	fw_trust t;
	const int by[] = {0, 1, 3, 5}; /* k5 is in neither version */
	trust_v1(f, &t);
	rotate_v2(f, &t, by, 4, FW_E_UNKNOWN_SIGNER);
}

static void version_skip_refused(void **state)
{
	fx *f = *state;
	fw_trust t;
	cl_buf doc;
	const int s[] = {0, 1}, by[] = {0, 1, 2};
	trust_v1(f, &t);
	make_tr(f, 3, 2, s, 2, by, 3, &doc);
	assert_int_equal(apply(f, &t, &doc), FW_E_TRUST_CHAIN);
	cl_buf_free(&doc);
}

static void revoked_signer_refused(void **state)
{
	fx *f = *state;
	fw_trust t, old;
	fw_result r;
	cl_buf b;
	const int both[] = {0, 1, 3}, by_revoked[] = {2, 0}, by_new[] = {3, 0};
	trust_v1(f, &t);
	old = t;
	rotate_v2(f, &t, both, 3, FW_OK);
	make_bundle(f, 5, by_revoked, 2, &b);
	assert_int_equal(verify(f, &old, &b, &r), FW_OK); /* fine before rotation */
	assert_int_equal(verify(f, &t, &b, &r), FW_E_REVOKED_SIGNER);
	/* A device that persisted floor 2 refuses the old chain outright. */
	f->dev.trust_floor = 2;
	assert_int_equal(verify(f, &old, &b, &r), FW_E_TRUST_STALE);
	f->dev.trust_floor = 0;
	cl_buf_free(&b);
	make_bundle(f, 5, by_new, 2, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	cl_buf_free(&b);
}

/* Builds a body by hand: the tools refuse to write k = 0 or k > n. */
static void forged_threshold_doc(fx *f, uint64_t k, cl_buf *out)
{
	cl_buf body;
	uint8_t pt[FW_POINT_LEN];
	cl_buf_init(&body, 4096);
	assert_int_equal(fw_enc_head(&body, 5, 3), CL_OK);
	assert_int_equal(fw_enc_head(&body, 0, 1), CL_OK);
	assert_int_equal(fw_enc_head(&body, 0, 1), CL_OK);
	assert_int_equal(fw_enc_head(&body, 0, 2), CL_OK);
	assert_int_equal(fw_enc_head(&body, 0, k), CL_OK);
	assert_int_equal(fw_enc_head(&body, 0, 3), CL_OK);
	assert_int_equal(fw_enc_head(&body, 4, 1), CL_OK);
	assert_int_equal(fw_key_point(f->k[0], pt), CL_OK);
	assert_int_equal(fw_enc_bytes(&body, 2, pt, sizeof(pt)), CL_OK);
	cl_buf_init(out, 8192);
	assert_int_equal(fw_enc_head(out, 4, 2), CL_OK);
	assert_int_equal(fw_enc_bytes(out, 2, body.data, body.len), CL_OK);
	assert_int_equal(fw_enc_head(out, 4, 1), CL_OK);
	assert_int_equal(fw_enc_sign1(f->root, FW_AAD_TRUST, body.data, body.len, out), CL_OK);
	cl_buf_free(&body);
}

static void zero_threshold_refused(void **state)
{
	fx *f = *state;
	fw_trust t;
	cl_buf doc;
	const void *signers[] = {f->k[0]}, *by[] = {f->root};
	cl_buf_init(&doc, 8192);
	assert_int_equal(fw_trust_build(1, 0, signers, 1, false, 0, by, 1, &doc), CL_EINVAL);
	cl_buf_free(&doc);
	assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
	forged_threshold_doc(f, 0, &doc);
	assert_int_equal(apply(f, &t, &doc), FW_E_TRUST_THRESHOLD);
	cl_buf_free(&doc);
	forged_threshold_doc(f, 2, &doc); /* k > n */
	assert_int_equal(apply(f, &t, &doc), FW_E_TRUST_THRESHOLD);
	cl_buf_free(&doc);
	forged_threshold_doc(f, 1, &doc); /* control: the same forge with k = 1 works */
	assert_int_equal(apply(f, &t, &doc), FW_OK);
	cl_buf_free(&doc);
	/* An uninitialised (k = 0) trust state never accepts a bundle. */
	fw_result r;
	cl_buf b;
	const int bb[] = {0};
	assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
	make_bundle(f, 5, bb, 1, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_TRUST_CHAIN);
	cl_buf_free(&b);
}

static void duplicate_key_in_trust_doc_refused(void **state)
{
	fx *f = *state;
	fw_trust t;
	cl_buf doc;
	const int s[] = {0, 0}, by[] = {-1};
	make_tr(f, 1, 2, s, 2, by, 1, &doc); /* k0 twice: would count twice */
	assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
	assert_int_equal(apply(f, &t, &doc), FW_E_MALFORMED);
	cl_buf_free(&doc);
}

static void trust_root_expiry(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf doc, b;
	const void *signers[] = {f->k[0]}, *by[] = {f->root};
	const int bb[] = {0};
	cl_buf_init(&doc, 8192);
	assert_int_equal(fw_trust_build(1, 1, signers, 1, true, f->dev.now + 60, by, 1, &doc), CL_OK);
	assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
	assert_int_equal(apply(f, &t, &doc), FW_OK);
	make_bundle(f, 5, bb, 1, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	f->dev.now += 60;
	assert_int_equal(verify(f, &t, &b, &r), FW_E_TRUST_EXPIRED);
	f->dev.now -= 60;
	cl_buf_free(&b);
	cl_buf_free(&doc);
}

/* A document already expired is refused where a device accepts a new one
 * (it would refuse every bundle until the next rotation); rebuilding a
 * stored chain still applies it. */
static void expired_document_refused(void **state)
{
	fx *f = *state;
	fw_trust t, scratch;
	cl_buf doc;
	const void *signers[] = {f->k[0]}, *by[] = {f->root};
	uint64_t now = f->dev.now;
	cl_buf_init(&doc, 8192);
	assert_int_equal(fw_trust_build(1, 1, signers, 1, true, now, by, 1, &doc), CL_OK);
	assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
	assert_int_equal(fw_trust_apply_at(&t, &scratch, doc.data, doc.len, now, &f->ops), FW_E_TRUST_EXPIRED);
	assert_int_equal(t.version, 0); /* unchanged */
	assert_int_equal(fw_trust_apply_at(&t, &scratch, doc.data, doc.len, now - 1, &f->ops), FW_OK);
	assert_int_equal(t.version, 1);
	assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
	assert_int_equal(fw_trust_apply(&t, &scratch, doc.data, doc.len, &f->ops), FW_OK); /* rebuild */
	/* Rotation to an expired version 2 leaves version 1 in force. */
	const void *by2[] = {f->k[0]};
	assert_int_equal(fw_trust_build(2, 1, signers, 1, true, now - 100, by2, 1, &doc), CL_OK);
	assert_int_equal(fw_trust_apply_at(&t, &scratch, doc.data, doc.len, now, &f->ops), FW_E_TRUST_EXPIRED);
	assert_int_equal(t.version, 1);
	/* The ranges: expiry and version 1..2^63 - 1. */
	assert_int_equal(fw_trust_build(1, 1, signers, 1, true, 0, by, 1, &doc), CL_EINVAL);
	assert_int_equal(fw_trust_build(1, 1, signers, 1, true, FW_UINT_MAX + 1, by, 1, &doc), CL_EINVAL);
	assert_int_equal(fw_trust_build(FW_UINT_MAX + 1, 1, signers, 1, false, 0, by, 1, &doc), CL_EINVAL);
	cl_buf_free(&doc);
}

/* A trust-root document's signature in its high-s form is refused. */
static void high_s_trust_signature_refused(void **state)
{
	fx *f = *state;
	fw_trust t, scratch;
	fw_trust_doc d;
	cl_buf doc;
	const int s[] = {0, 1}, by[] = {-1};
	make_tr(f, 1, 1, s, 2, by, 1, &doc);
	assert_int_equal(fw_trust_doc_parse(doc.data, doc.len, &d), FW_OK);
	make_high_s(doc.data + (d.sig[0].sig - doc.data));
	assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
	assert_int_equal(fw_trust_apply(&t, &scratch, doc.data, doc.len, &f->ops), FW_E_BAD_SIGNATURE);
	cl_buf_free(&doc);
}

static void trust_doc_bit_flips_never_accepted(void **state)
{
	fx *f = *state;
	fw_trust t, scratch;
	cl_buf doc;
	const int s[] = {0, 1}, by[] = {-1};
	make_tr(f, 1, 1, s, 2, by, 1, &doc);
	for (size_t i = 0; i < doc.len; i++) {
		doc.data[i] ^= 0x01;
		assert_int_equal(fw_trust_init(&t, f->root_pt, &f->ops), FW_OK);
		if (fw_trust_apply(&t, &scratch, doc.data, doc.len, &f->ops) == FW_OK)
			fail_msg("flipping byte %zu was accepted", i);
		doc.data[i] ^= 0x01;
	}
	for (size_t n = 0; n < doc.len; n++)
		assert_int_not_equal(fw_trust_apply(&t, &scratch, doc.data, n, &f->ops), FW_OK);
	cl_buf_free(&doc);
}

static fw_status cbor_one(const uint8_t *p, size_t n)
{
	fw_cbor c;
	fw_cbor_init(&c, p, n);
	fw_status s = fw_cbor_skip(&c, 64);
	return s == FW_OK && fw_cbor_left(&c) ? FW_E_OVERSIZED : s;
}

static void cbor_reader_is_strict(void **state)
{
	static const uint8_t ok1[] = {0x18, 0x18}, ok2[] = {0x82, 0x01, 0x41, 0xaa}, ok3[] = {0xa1, 0x01, 0xf6};
	static const uint8_t long_int[] = {0x18, 0x17};       /* 23 in two bytes */
	static const uint8_t long_len[] = {0x59, 0x00, 0x01, 0xaa};
	static const uint8_t indef[] = {0x9f, 0x01, 0xff};
	static const uint8_t tag[] = {0xc1, 0x01};
	static const uint8_t flt[] = {0xf9, 0x3c, 0x00};
	static const uint8_t boolean[] = {0xf5};
	static const uint8_t huge_str[] = {0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t huge_arr[] = {0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t short_arr[] = {0x83, 0x01, 0x02};
	uint8_t deep[200];
	assert_int_equal(cbor_one(ok1, sizeof(ok1)), FW_OK);
	assert_int_equal(cbor_one(ok2, sizeof(ok2)), FW_OK);
	assert_int_equal(cbor_one(ok3, sizeof(ok3)), FW_OK);
	assert_int_equal(cbor_one(long_int, sizeof(long_int)), FW_E_MALFORMED);
	assert_int_equal(cbor_one(long_len, sizeof(long_len)), FW_E_MALFORMED);
	assert_int_equal(cbor_one(indef, sizeof(indef)), FW_E_MALFORMED);
	assert_int_equal(cbor_one(tag, sizeof(tag)), FW_E_MALFORMED);
	assert_int_equal(cbor_one(flt, sizeof(flt)), FW_E_MALFORMED);
	assert_int_equal(cbor_one(boolean, sizeof(boolean)), FW_E_MALFORMED);
	assert_int_equal(cbor_one(huge_str, sizeof(huge_str)), FW_E_TRUNCATED);
	assert_int_equal(cbor_one(huge_arr, sizeof(huge_arr)), FW_E_OVERSIZED);
	assert_int_equal(cbor_one(short_arr, sizeof(short_arr)), FW_E_TRUNCATED);
	/* Deep nesting costs no stack: 199 nested arrays exceed the item budget. */
	memset(deep, 0x81, sizeof(deep));
	deep[sizeof(deep) - 1] = 0x00;
	assert_int_equal(cbor_one(deep, sizeof(deep)), FW_E_OVERSIZED);
	fw_cbor c;
	fw_cbor_init(&c, deep, sizeof(deep));
	assert_int_equal(fw_cbor_skip(&c, 1000), FW_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v1_must_be_root_signed),
		cmocka_unit_test(rotation_needs_both_thresholds),
		cmocka_unit_test(unknown_signer_on_trust_doc_refused),
		cmocka_unit_test(version_skip_refused),
		cmocka_unit_test(revoked_signer_refused),
		cmocka_unit_test(zero_threshold_refused),
		cmocka_unit_test(duplicate_key_in_trust_doc_refused),
		cmocka_unit_test(trust_root_expiry),
		cmocka_unit_test(expired_document_refused),
		cmocka_unit_test(high_s_trust_signature_refused),
		cmocka_unit_test(trust_doc_bit_flips_never_accepted),
		cmocka_unit_test(cbor_reader_is_strict),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
