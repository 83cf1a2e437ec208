/* Unit tests for the firmware bundle verifier: the attack matrix. Each test
 * builds real bundles with the signing tools, forges a variant and checks
 * the exact refusal reason. Trust root: v1 = {k0, k1, k2}, k = 2. */
#include "../fw/fw_testlib.h"

#include "common/crypto.h"

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

/* Each test starts from the same device state. */
static int reset_device(void **state)
{
	fx *f = *state;
	f->dev.component = TEST_COMPONENT;
	f->dev.counter = 4;
	f->dev.now = 1700000000;
	f->dev.trust_floor = 0;
	return 0;
}

static void accepts_valid_k_of_n(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {0, 2};
	trust_v1(f, &t);
	make_bundle(f, 5, by, 2, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	assert_int_equal(r.sequence, 5);
	assert_int_equal(r.signers, 2);
	assert_int_equal(r.image_len, sizeof(f->image));
	assert_string_equal(r.version, "2.1.0");
	assert_memory_equal(f->dest, f->image, sizeof(f->image));
	cl_buf_free(&b);
}

static void refuses_unsigned(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b, u;
	const int by[] = {0};
	trust_v1(f, &t);
	make_bundle(f, 5, by, 1, &b);
	reencode(&b, NULL, 0, 0, &u);
	assert_int_equal(verify(f, &t, &u, &r), FW_E_UNSIGNED);
	cl_buf_free(&b);
	cl_buf_free(&u);
}

static void refuses_unknown_key(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {0, 1, 4}; /* k4 is no signer */
	trust_v1(f, &t);
	make_bundle(f, 5, by, 3, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_UNKNOWN_SIGNER);
	cl_buf_free(&b);
}

static void refuses_below_threshold(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {1};
	trust_v1(f, &t);
	make_bundle(f, 5, by, 1, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_BELOW_THRESHOLD);
	cl_buf_free(&b);
}

static void same_key_twice_counts_once(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b, d;
	const int by[] = {1}, twice[] = {0, 0}, thrice_plus[] = {0, 0, 0};
	trust_v1(f, &t);
	make_bundle(f, 5, by, 1, &b);
	reencode(&b, twice, 2, 0, &d);
	assert_int_equal(verify(f, &t, &d, &r), FW_E_DUPLICATE_SIGNER);
	cl_buf_free(&d);
	reencode(&b, thrice_plus, 3, 0, &d);
	assert_int_equal(verify(f, &t, &d, &r), FW_E_DUPLICATE_SIGNER);
	cl_buf_free(&d);
	/* The tool itself refuses to add the same key twice. */
	cl_buf_init(&d, 1 << 20);
	assert_int_equal(fw_bundle_cosign(b.data, b.len, f->k[1], &d), CL_ECONFLICT);
	cl_buf_free(&d);
	cl_buf_free(&b);
}

static void refuses_bad_signature(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {0, 1};
	fw_bundle_view *v = calloc(1, sizeof(*v));
	assert_non_null(v);
	trust_v1(f, &t);
	make_bundle(f, 5, by, 2, &b);
	assert_int_equal(fw_bundle_parse(b.data, b.len, v), FW_OK);
	b.data[v->sig[1].sig - b.data + 10] ^= 0x40;
	assert_int_equal(verify(f, &t, &b, &r), FW_E_BAD_SIGNATURE);
	free(v);
	cl_buf_free(&b);
}

static void refuses_rollback_lower_and_equal(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {0, 1};
	trust_v1(f, &t);
	make_bundle(f, 5, by, 2, &b);
	f->dev.counter = 5; /* equal */
	assert_int_equal(verify(f, &t, &b, &r), FW_E_ROLLBACK);
	f->dev.counter = 9; /* lower */
	assert_int_equal(verify(f, &t, &b, &r), FW_E_ROLLBACK);
	f->dev.counter = 4;
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	cl_buf_free(&b);
}

static void refuses_replay_after_counter_advanced(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf old, cur;
	const int by[] = {1, 2};
	trust_v1(f, &t);
	make_bundle(f, 6, by, 2, &old);
	make_bundle(f, 7, by, 2, &cur);
	assert_int_equal(verify(f, &t, &old, &r), FW_OK);
	f->dev.counter = r.sequence; /* the device persists the new counter */
	assert_int_equal(verify(f, &t, &cur, &r), FW_OK);
	f->dev.counter = r.sequence;
	assert_int_equal(verify(f, &t, &old, &r), FW_E_ROLLBACK);
	assert_int_equal(verify(f, &t, &cur, &r), FW_E_ROLLBACK);
	cl_buf_free(&old);
	cl_buf_free(&cur);
}

static void refuses_mix_and_match(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	fw_sign_params p;
	cl_buf b;
	const int by[] = {0, 1};
	trust_v1(f, &t);
	sign_params(&p, 5);
	p.vendor[0] ^= 1;
	make_bundle_p(f, &p, by, 2, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_WRONG_VENDOR);
	cl_buf_free(&b);
	sign_params(&p, 5);
	p.class_id[15] ^= 0x80;
	make_bundle_p(f, &p, by, 2, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_WRONG_CLASS);
	cl_buf_free(&b);
	sign_params(&p, 5);
	p.component = "0000:04:00.0";
	make_bundle_p(f, &p, by, 2, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_WRONG_COMPONENT);
	f->dev.component = "0000:04:00.0"; /* the right device takes it */
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	f->dev.component = TEST_COMPONENT;
	cl_buf_free(&b);
}

static void refuses_digest_mismatch_and_wipes(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {0, 1};
	uint8_t zero[sizeof(f->image)] = {0};
	trust_v1(f, &t);
	make_bundle(f, 5, by, 2, &b);
	b.data[b.len - 100] ^= 0x01; /* inside the image */
	memset(f->dest, 0xaa, sizeof(f->dest));
	assert_int_equal(verify(f, &t, &b, &r), FW_E_DIGEST_MISMATCH);
	assert_memory_equal(f->dest, zero, sizeof(zero)); /* nothing usable left behind */
	cl_buf_free(&b);
}

static void refuses_size_mismatch(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b, s;
	const int by[] = {0, 1}, keep[] = {0, 1};
	trust_v1(f, &t);
	make_bundle(f, 5, by, 2, &b);
	reencode(&b, keep, 2, 1, &s); /* signatures intact, image one byte short */
	assert_int_equal(verify(f, &t, &s, &r), FW_E_SIZE_MISMATCH);
	cl_buf_free(&s);
	cl_buf_free(&b);
}

static void refuses_truncated_and_oversized(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {0, 1};
	trust_v1(f, &t);
	make_bundle(f, 5, by, 2, &b);
	for (size_t n = 0; n < b.len; n++) {
		fw_status s = fw_verify_bundle(&t, &f->dev, &f->ops, b.data, n, f->dest, sizeof(f->dest), &r);
		assert_int_not_equal(s, FW_OK);
	}
	assert_int_equal(fw_verify_bundle(&t, &f->dev, &f->ops, b.data, b.len - 1, f->dest, sizeof(f->dest), &r),
			 FW_E_TRUNCATED);
	assert_int_equal(cl_buf_put_u8(&b, 0x00), CL_OK); /* one trailing byte */
	assert_int_equal(verify(f, &t, &b, &r), FW_E_OVERSIZED);
	cl_buf_free(&b);
	/* 17 authentication blocks: over the limit before any signature work. */
	int many[FW_MAX_SIGNERS + 1] = {0};
	make_bundle(f, 5, by, 1, &b);
	cl_buf m;
	reencode(&b, many, FW_MAX_SIGNERS + 1, 0, &m);
	assert_int_equal(verify(f, &t, &m, &r), FW_E_OVERSIZED);
	cl_buf_free(&m);
	cl_buf_free(&b);
	/* Destination smaller than the image. */
	make_bundle(f, 5, by, 2, &b);
	assert_int_equal(fw_verify_bundle(&t, &f->dev, &f->ops, b.data, b.len, f->dest, 10, &r), FW_E_NO_SPACE);
	cl_buf_free(&b);
}

static void bit_flips_never_accepted(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {0, 1, 2}; /* three signers, more than k: every block still matters */
	trust_v1(f, &t);
	make_bundle(f, 5, by, 3, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	static const uint8_t masks[] = {0x01, 0x80, 0xff};
	for (size_t i = 0; i < b.len; i++)
		for (size_t m = 0; m < sizeof(masks); m++) {
			b.data[i] ^= masks[m];
			fw_status s = verify(f, &t, &b, &r);
			if (s == FW_OK)
				fail_msg("flipping byte %zu with mask 0x%02x was accepted", i, masks[m]);
			b.data[i] ^= masks[m];
		}
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	cl_buf_free(&b);
}

static void refuses_use_before_passed(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	fw_sign_params p;
	cl_buf b;
	const int by[] = {0, 1};
	trust_v1(f, &t);
	sign_params(&p, 5);
	p.has_use_before = true;
	p.use_before = f->dev.now + 10;
	make_bundle_p(f, &p, by, 2, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	f->dev.now += 10;
	assert_int_equal(verify(f, &t, &b, &r), FW_E_EXPIRED);
	cl_buf_free(&b);
}

static void encrypted_image_round_trip(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	fw_sign_params p;
	fw_ops dev_ops, other_ops;
	cl_buf b;
	const int by[] = {0, 1};
	trust_v1(f, &t);
	sign_params(&p, 5);
	p.encrypt_to = f->k[5]; /* the device's key pair */
	make_bundle_p(f, &p, by, 2, &b);
	/* The ciphertext in the bundle is not the image. */
	assert_memory_not_equal(b.data + b.len - sizeof(f->image), f->image, sizeof(f->image));
	fw_openssl_ops(&dev_ops, f->k[5]);
	assert_int_equal(fw_verify_bundle(&t, &f->dev, &dev_ops, b.data, b.len, f->dest, sizeof(f->dest), &r), FW_OK);
	assert_memory_equal(f->dest, f->image, sizeof(f->image));
	/* No device key: refused. Another device's key: does not authenticate. */
	assert_int_equal(verify(f, &t, &b, &r), FW_E_NO_DEVICE_KEY);
	fw_openssl_ops(&other_ops, f->k[4]);
	assert_int_equal(fw_verify_bundle(&t, &f->dev, &other_ops, b.data, b.len, f->dest, sizeof(f->dest), &r),
			 FW_E_DECRYPT);
	/* Tampered ciphertext: GCM tag fails. */
	b.data[b.len - 5] ^= 1;
	assert_int_equal(fw_verify_bundle(&t, &f->dev, &dev_ops, b.data, b.len, f->dest, sizeof(f->dest), &r),
			 FW_E_DECRYPT);
	cl_buf_free(&b);
}

/* A correctly signed bundle around a hand-made manifest. */
static void signed_bundle_of(fx *f, const cl_buf *man, cl_buf *out)
{
	cl_buf_init(out, 1 << 20);
	assert_int_equal(fw_enc_head(out, 4, 4), CL_OK);
	assert_int_equal(fw_enc_head(out, 0, 1), CL_OK);
	assert_int_equal(fw_enc_bytes(out, 2, man->data, man->len), CL_OK);
	assert_int_equal(fw_enc_head(out, 4, 2), CL_OK);
	assert_int_equal(fw_enc_sign1(f->k[0], FW_AAD_MANIFEST, man->data, man->len, out), CL_OK);
	assert_int_equal(fw_enc_sign1(f->k[1], FW_AAD_MANIFEST, man->data, man->len, out), CL_OK);
	assert_int_equal(fw_enc_bytes(out, 2, f->image, sizeof(f->image)), CL_OK);
}

static void base_manifest(fx *f, fw_manifest *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->vendor, f->dev.vendor, FW_UUID_LEN);
	memcpy(m->class_id, f->dev.class_id, FW_UUID_LEN);
	strcpy(m->component, TEST_COMPONENT);
	strcpy(m->version, "3.0");
	strcpy(m->channel, "stable");
	m->sequence = 9;
	m->size = sizeof(f->image);
	assert_int_equal(cl_sha384(f->image, sizeof(f->image), m->digest), CL_OK);
}

/* Signatures do not make a non-canonical or unknown manifest acceptable. */
static void signed_but_noncanonical_manifest_refused(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	fw_manifest m;
	cl_buf man, b;
	trust_v1(f, &t);
	base_manifest(f, &m);
	/* Control: the hand-made path produces an acceptable bundle. */
	cl_buf_init(&man, 4096);
	assert_int_equal(fw_enc_manifest(&m, &man), CL_OK);
	signed_bundle_of(f, &man, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	cl_buf_free(&b);
	/* An unknown key 12 appended (map count bumped): refused, not ignored. */
	man.data[0]++;
	assert_int_equal(fw_enc_head(&man, 0, 12), CL_OK);
	assert_int_equal(fw_enc_head(&man, 0, 1), CL_OK);
	signed_bundle_of(f, &man, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_MALFORMED);
	cl_buf_free(&b);
	cl_buf_free(&man);
	/* The sequence 9 written as a two-byte head (0x18 0x09): not shortest form. */
	cl_buf_init(&man, 4096);
	assert_int_equal(fw_enc_manifest(&m, &man), CL_OK);
	uint8_t *seq = memmem(man.data, man.len, "\x06\x09\x07\x58\x30", 5);
	assert_non_null(seq);
	cl_buf long_form;
	cl_buf_init(&long_form, 4096);
	assert_int_equal(cl_buf_put(&long_form, man.data, (size_t)(seq - man.data) + 1), CL_OK);
	assert_int_equal(cl_buf_put(&long_form, "\x18\x09", 2), CL_OK);
	assert_int_equal(cl_buf_put(&long_form, seq + 2, man.len - (size_t)(seq - man.data) - 2), CL_OK);
	signed_bundle_of(f, &long_form, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_MALFORMED);
	cl_buf_free(&b);
	cl_buf_free(&long_form);
	cl_buf_free(&man);
}

/* A correctly signed bundle around a hand-made manifest and image. */
static void signed_bundle_img(fx *f, const cl_buf *man, const uint8_t *img, size_t n, cl_buf *out)
{
	cl_buf_init(out, 1 << 20);
	assert_int_equal(fw_enc_head(out, 4, 4), CL_OK);
	assert_int_equal(fw_enc_head(out, 0, 1), CL_OK);
	assert_int_equal(fw_enc_bytes(out, 2, man->data, man->len), CL_OK);
	assert_int_equal(fw_enc_head(out, 4, 2), CL_OK);
	assert_int_equal(fw_enc_sign1(f->k[0], FW_AAD_MANIFEST, man->data, man->len, out), CL_OK);
	assert_int_equal(fw_enc_sign1(f->k[1], FW_AAD_MANIFEST, man->data, man->len, out), CL_OK);
	assert_int_equal(fw_enc_bytes(out, 2, img, n), CL_OK);
}

/* m signed by k0 and k1 around f->image: the verifier's verdict. */
static fw_status verdict(fx *f, const fw_trust *t, const fw_manifest *m)
{
	cl_buf man, b;
	fw_result r;
	cl_buf_init(&man, 4096);
	assert_int_equal(fw_enc_manifest(m, &man), CL_OK);
	signed_bundle_img(f, &man, f->image, sizeof(f->image), &b);
	fw_status s = verify(f, t, &b, &r);
	if (s == FW_OK)
		assert_int_equal(r.sequence, m->sequence);
	cl_buf_free(&b);
	cl_buf_free(&man);
	return s;
}

/* One range per field (fw/fw_limits.h): the verifier accepts each edge and
 * refuses one past it, and the signing tool refuses what it refuses. */
static void numeric_edges(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_manifest m;
	trust_v1(f, &t);
	base_manifest(f, &m);
	m.sequence = FW_SEQ_MAX; /* 2^63 - 1 */
	m.has_use_before = true;
	m.use_before = FW_UINT_MAX;
	memset(m.version, 'v', FW_MAX_STR);
	memset(m.channel, 'c', FW_MAX_STR);
	assert_int_equal(verdict(f, &t, &m), FW_OK);
	m.sequence = FW_SEQ_MAX + 1;
	assert_int_equal(verdict(f, &t, &m), FW_E_MALFORMED);
	m.sequence = 0;
	assert_int_equal(verdict(f, &t, &m), FW_E_MALFORMED);
	m.sequence = 9;
	m.use_before = FW_UINT_MAX + 1;
	assert_int_equal(verdict(f, &t, &m), FW_E_MALFORMED);
	m.use_before = 0;
	assert_int_equal(verdict(f, &t, &m), FW_E_MALFORMED);
	m.has_use_before = false;
	m.size = (uint64_t)FW_MAX_IMAGE + 1;
	assert_int_equal(verdict(f, &t, &m), FW_E_OVERSIZED);
	/* The signing tool: the edges sign, one past them does not. */
	fw_sign_params p;
	cl_buf b;
	cl_buf_init(&b, 1 << 20);
	sign_params(&p, FW_SEQ_MAX);
	p.has_use_before = true;
	p.use_before = FW_UINT_MAX;
	assert_int_equal(fw_bundle_build(&p, f->k[0], f->image, sizeof(f->image), &b), CL_OK);
	p.use_before = FW_UINT_MAX + 1;
	assert_int_equal(fw_bundle_build(&p, f->k[0], f->image, sizeof(f->image), &b), CL_EINVAL);
	p.use_before = 0;
	assert_int_equal(fw_bundle_build(&p, f->k[0], f->image, sizeof(f->image), &b), CL_EINVAL);
	p.has_use_before = false;
	p.sequence = FW_SEQ_MAX + 1;
	assert_int_equal(fw_bundle_build(&p, f->k[0], f->image, sizeof(f->image), &b), CL_EINVAL);
	p.sequence = 0;
	assert_int_equal(fw_bundle_build(&p, f->k[0], f->image, sizeof(f->image), &b), CL_EINVAL);
	p.sequence = 1;
	assert_int_equal(fw_bundle_build(&p, f->k[0], f->image, (size_t)FW_MAX_IMAGE + 1, &b), CL_ETOOBIG);
	cl_buf_free(&b);
}

/* An empty image is no firmware: not signed, not accepted. */
static void empty_image_refused(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_manifest m;
	fw_result r;
	fw_sign_params p;
	cl_buf man, b;
	trust_v1(f, &t);
	base_manifest(f, &m);
	m.size = 0;
	assert_int_equal(cl_sha384("", 0, m.digest), CL_OK);
	cl_buf_init(&man, 4096);
	assert_int_equal(fw_enc_manifest(&m, &man), CL_OK);
	signed_bundle_img(f, &man, f->image, 0, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_E_MALFORMED);
	assert_int_equal(fw_bundle_parse(b.data, b.len, &(fw_bundle_view){0}), FW_E_MALFORMED);
	cl_buf_free(&b);
	cl_buf_free(&man);
	sign_params(&p, 9);
	cl_buf_init(&b, 1 << 20);
	assert_int_equal(fw_bundle_build(&p, f->k[0], f->image, 0, &b), CL_EINVAL);
	cl_buf_free(&b);
}

/* (r, n - s) verifies wherever (r, s) does: only low-s is accepted, so a
 * signed bundle has one encoding and its bytes cannot change without a key. */
static void high_s_signature_refused(void **state)
{
	fx *f = *state;
	fw_trust t;
	fw_result r;
	cl_buf b;
	const int by[] = {0, 1};
	fw_bundle_view *v = calloc(1, sizeof(*v));
	uint8_t h[FW_DIGEST_LEN];
	assert_non_null(v);
	trust_v1(f, &t);
	make_bundle(f, 5, by, 2, &b);
	assert_int_equal(verify(f, &t, &b, &r), FW_OK);
	assert_int_equal(fw_bundle_parse(b.data, b.len, v), FW_OK);
	uint8_t *sig = b.data + (v->sig[1].sig - b.data);
	make_high_s(sig);
	/* The curve math alone still accepts the variant ... */
	assert_int_equal(fw_sign1_hash(&f->ops, &v->sig[1], FW_AAD_MANIFEST, v->manifest, v->manifest_len, h), FW_OK);
	assert_int_equal(f->ops.ecdsa_p384_verify(f->ops.ctx, (const uint8_t *)t.keys[1], h, sig), 1);
	/* ... the verifier does not. */
	assert_int_equal(verify(f, &t, &b, &r), FW_E_BAD_SIGNATURE);
	free(v);
	cl_buf_free(&b);
	/* The signer always writes low-s (half of raw ECDSA signatures are high). */
	for (int i = 0; i < 64; i++) {
		uint8_t sg[FW_SIG_LEN];
		h[0] = (uint8_t)i;
		assert_int_equal(fw_key_sign_hash(f->k[0], h, sg), CL_OK);
		assert_true(fw_sig_low_s(sg));
	}
}

static void status_names_are_distinct(void **state)
{
	for (int i = 0; i <= FW_E_NO_DEVICE_KEY; i++) {
		assert_string_not_equal(fw_status_name((fw_status)i), "unknown");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(fw_status_name((fw_status)i), fw_status_name((fw_status)j));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(accepts_valid_k_of_n, reset_device),
		cmocka_unit_test_setup(refuses_unsigned, reset_device),
		cmocka_unit_test_setup(refuses_unknown_key, reset_device),
		cmocka_unit_test_setup(refuses_below_threshold, reset_device),
		cmocka_unit_test_setup(same_key_twice_counts_once, reset_device),
		cmocka_unit_test_setup(refuses_bad_signature, reset_device),
		cmocka_unit_test_setup(refuses_rollback_lower_and_equal, reset_device),
		cmocka_unit_test_setup(refuses_replay_after_counter_advanced, reset_device),
		cmocka_unit_test_setup(refuses_mix_and_match, reset_device),
		cmocka_unit_test_setup(refuses_digest_mismatch_and_wipes, reset_device),
		cmocka_unit_test_setup(refuses_size_mismatch, reset_device),
		cmocka_unit_test_setup(refuses_truncated_and_oversized, reset_device),
		cmocka_unit_test_setup(bit_flips_never_accepted, reset_device),
		cmocka_unit_test_setup(refuses_use_before_passed, reset_device),
		cmocka_unit_test_setup(encrypted_image_round_trip, reset_device),
		cmocka_unit_test_setup(signed_but_noncanonical_manifest_refused, reset_device),
		cmocka_unit_test_setup(numeric_edges, reset_device),
		cmocka_unit_test_setup(empty_image_refused, reset_device),
		cmocka_unit_test_setup(high_s_signature_refused, reset_device),
		cmocka_unit_test_setup(status_names_are_distinct, reset_device),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
