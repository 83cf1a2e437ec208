/* fw_testlib.h — fixtures shared by the firmware-guard unit tests
 * (tests/unit/test_fw_*.c): keys, trust roots and bundles built with the
 * real tools, and a re-encoder that forges variants of a bundle. Header-only
 * (static functions) because the Makefile builds one binary per test file. */
#ifndef CL_FW_TESTLIB_H
#define CL_FW_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>

#include "fw/fw_tools.h"
#include "fw/fw_internal.h"

#define NKEYS 6
typedef struct fx {
	void *root;
	void *k[NKEYS];
	fw_ops ops;
	uint8_t root_pt[FW_POINT_LEN];
	fw_device dev;
	uint8_t image[300];
	uint8_t dest[1024];
} fx;

static const char *const TEST_VENDOR = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
static const char *const TEST_CLASS = "2b0e0cbe-5b2c-4f44-9d3b-7f0c6a3c1e55";
static const char *const TEST_COMPONENT = "0000:03:00.0";

__attribute__((unused)) static void fx_init(fx *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(fw_key_generate(&f->root), CL_OK);
	for (int i = 0; i < NKEYS; i++)
		assert_int_equal(fw_key_generate(&f->k[i]), CL_OK);
	assert_int_equal(fw_key_point(f->root, f->root_pt), CL_OK);
	fw_openssl_ops(&f->ops, NULL);
	assert_int_equal(fw_uuid_parse(TEST_VENDOR, f->dev.vendor), CL_OK);
	assert_int_equal(fw_uuid_parse(TEST_CLASS, f->dev.class_id), CL_OK);
	f->dev.component = TEST_COMPONENT;
	f->dev.counter = 4;
	f->dev.now = 1700000000;
	for (size_t i = 0; i < sizeof(f->image); i++)
		f->image[i] = (uint8_t)(i * 7 + 3);
}

__attribute__((unused)) static void fx_free(fx *f)
{
	fw_key_free(f->root);
	for (int i = 0; i < NKEYS; i++)
		fw_key_free(f->k[i]);
}

/* A trust-root document listing keys signer_idx[] (-1 = root) with threshold
 * k, signed by sign_idx[] (-1 = root). */
__attribute__((unused)) static void make_tr(fx *f, uint64_t version, uint64_t k, const int *signer_idx, size_t ns, const int *sign_idx,
		    size_t nsign, cl_buf *out)
{
	const void *signers[FW_MAX_SIGNERS], *sk[FW_MAX_SIGNERS];
	for (size_t i = 0; i < ns; i++)
		signers[i] = signer_idx[i] < 0 ? f->root : f->k[signer_idx[i]];
	for (size_t i = 0; i < nsign; i++)
		sk[i] = sign_idx[i] < 0 ? f->root : f->k[sign_idx[i]];
	cl_buf_init(out, 1 << 16);
	assert_int_equal(fw_trust_build(version, k, signers, ns, false, 0, sk, nsign, out), CL_OK);
}

/* Trust state: v1 = {k0, k1, k2}, k = 2, signed by the root. */
__attribute__((unused)) static void trust_v1(fx *f, fw_trust *t)
{
	fw_trust scratch;
	cl_buf doc;
	const int s[] = {0, 1, 2}, by[] = {-1};
	make_tr(f, 1, 2, s, 3, by, 1, &doc);
	assert_int_equal(fw_trust_init(t, f->root_pt, &f->ops), FW_OK);
	assert_int_equal(fw_trust_apply(t, &scratch, doc.data, doc.len, &f->ops), FW_OK);
	cl_buf_free(&doc);
}

__attribute__((unused)) static void sign_params(fw_sign_params *p, uint64_t seq)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(fw_uuid_parse(TEST_VENDOR, p->vendor), CL_OK);
	assert_int_equal(fw_uuid_parse(TEST_CLASS, p->class_id), CL_OK);
	p->component = TEST_COMPONENT;
	p->version = "2.1.0";
	p->channel = "stable";
	p->sequence = seq;
}

/* A bundle of f->image with params p signed by keys idx[0..n) in order. */
__attribute__((unused)) static void make_bundle_p(fx *f, const fw_sign_params *p, const int *idx, size_t n, cl_buf *out)
{
	cl_buf_init(out, 1 << 20);
	assert_true(n >= 1);
	assert_int_equal(fw_bundle_build(p, f->k[idx[0]], f->image, sizeof(f->image), out), CL_OK);
	for (size_t i = 1; i < n; i++) {
		cl_buf next;
		cl_buf_init(&next, 1 << 20);
		assert_int_equal(fw_bundle_cosign(out->data, out->len, f->k[idx[i]], &next), CL_OK);
		cl_buf_free(out);
		*out = next;
	}
}

__attribute__((unused)) static void make_bundle(fx *f, uint64_t seq, const int *idx, size_t n, cl_buf *out)
{
	fw_sign_params p;
	sign_params(&p, seq);
	make_bundle_p(f, &p, idx, n, out);
}

/* Forges a variant of a valid bundle: keeps blocks pick[0..npick) (indices
 * into the original, repeats allowed) and drops `cut` bytes off the image. */
__attribute__((unused)) static void reencode(const cl_buf *in, const int *pick, size_t npick, size_t cut, cl_buf *out)
{
	fw_bundle_view *v = calloc(1, sizeof(*v));
	assert_non_null(v);
	assert_int_equal(fw_bundle_parse(in->data, in->len, v), FW_OK);
	cl_buf_init(out, 1 << 20);
	assert_int_equal(fw_enc_head(out, 4, 4), CL_OK);
	assert_int_equal(fw_enc_head(out, 0, 1), CL_OK);
	assert_int_equal(fw_enc_bytes(out, 2, v->manifest, v->manifest_len), CL_OK);
	assert_int_equal(fw_enc_head(out, 4, npick), CL_OK);
	for (size_t i = 0; i < npick; i++)
		assert_int_equal(fw_enc_block_copy(&v->sig[pick[i]], out), CL_OK);
	assert_int_equal(fw_enc_bytes(out, 2, v->image, v->image_len - cut), CL_OK);
	free(v);
}

/* Replaces a valid signature's s by n - s (P-384 order n): the same
 * signature for ECDSA, in its high-s encoding. */
__attribute__((unused)) static void make_high_s(uint8_t *sig)
{
	static const char n_hex[] = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";
	BIGNUM *n = NULL, *s = BN_bin2bn(sig + FW_SIG_LEN / 2, FW_SIG_LEN / 2, NULL), *hs = BN_new();
	assert_true(BN_hex2bn(&n, n_hex) > 0);
	assert_non_null(s);
	assert_non_null(hs);
	assert_true(fw_sig_low_s(sig)); /* the tools only write low-s */
	assert_int_equal(BN_sub(hs, n, s), 1);
	assert_int_equal(BN_bn2binpad(hs, sig + FW_SIG_LEN / 2, FW_SIG_LEN / 2), FW_SIG_LEN / 2);
	assert_false(fw_sig_low_s(sig));
	BN_free(n);
	BN_free(s);
	BN_free(hs);
}

__attribute__((unused)) static fw_status verify(fx *f, const fw_trust *t, const cl_buf *b, fw_result *res)
{
	return fw_verify_bundle(t, &f->dev, &f->ops, b->data, b->len, f->dest, sizeof(f->dest), res);
}

#endif
