/* test_provision.c — the client's checks before it sends a bundle
 * (cl_cli_provision_check), the bundle wrap (label and size), and the tar
 * subset cloister-init accepts (common/bundle.h). docs/provisioning.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>

#include "attest/attest.h"
#include "cli/cmd_enclave.h"
#include "common/buf.h"
#include "common/bundle.h"
#include "common/wrap.h"
#include "test_attest_fixture.h"

#define ENC "enc-test0000000000000001"

typedef struct world {
	fx_chain c;
	EVP_PKEY *enclave_key;
	uint8_t point[97];
	uint8_t nonce[32];
} world;

static int setup(void **state)
{
	world *w = calloc(1, sizeof(*w));
	fx_opts o = {0};
	size_t n = 0;
	fx_chain_make(&w->c, &o);
	w->enclave_key = EVP_EC_gen("secp384r1");
	assert_non_null(w->enclave_key);
	assert_int_equal(EVP_PKEY_get_octet_string_param(w->enclave_key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, w->point,
							 sizeof(w->point), &n),
			 1);
	memset(w->nonce, 0x5a, sizeof(w->nonce));
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	world *w = *state;
	fx_chain_free(&w->c);
	EVP_PKEY_free(w->enclave_key);
	free(w);
	return 0;
}

/* A document of the fixture's chain: module_id, nonce and public_key as given. */
static void make_doc(world *w, const char *module_id, const uint8_t *nonce, const uint8_t *pub, size_t publen,
		     uint8_t **doc, size_t *len)
{
	cl_att_fields f;
	fx_fields(&f, &w->c, nonce, nonce ? 32 : 0);
	f.module_id = module_id;
	if (pub)
		f.public_key = (cl_att_bytes){pub, publen};
	assert_int_equal(cl_att_build(&f, fx_sign, w->c.leaf_key, doc, len), CL_OK);
}

static void expect_for(world *w, cl_att_expect *e)
{
	memset(e, 0, sizeof(*e));
	e->root_der = w->c.root_der;
	e->root_len = w->c.root_len;
	e->now = time(NULL);
	e->nonce = w->nonce;
	e->nonce_len = sizeof(w->nonce);
	memset(e->pcr[0], 0, CL_ATT_PCR_LEN); /* the fixture's PCRn = n repeated */
	memset(e->pcr[3], 3, CL_ATT_PCR_LEN);
	e->pcr_mask = 1u << 0 | 1u << 3;
}

/* check: the name cl_cli_provision_check must give ("none" = accepted). */
static void run(world *w, const char *module_id, const uint8_t *nonce, const uint8_t *pub, size_t publen,
		const cl_att_expect *e, const char *want)
{
	uint8_t *doc = NULL, point[97];
	size_t len = 0;
	const char *check = NULL;
	make_doc(w, module_id, nonce, pub, publen, &doc, &len);
	cl_err err = cl_cli_provision_check(doc, len, e, ENC, point, &check);
	free(doc);
	if (strcmp(want, "none") == 0) {
		assert_int_equal(err, CL_OK);
		assert_memory_equal(point, w->point, sizeof(point));
	} else {
		if (err == CL_OK || strcmp(check, want) != 0)
			fail_msg("want the %s check to fail, got %d check=%s (%s)", want, err, check ? check : "-",
				 cl_error_detail());
		assert_non_null(strstr(cl_error_detail(), want));
	}
}

static void test_accepts_fresh_document(void **state)
{
	world *w = *state;
	cl_att_expect e;
	expect_for(w, &e);
	run(w, ENC, w->nonce, w->point, sizeof(w->point), &e, "none");
}

static void test_refuses_stale_nonce(void **state)
{
	world *w = *state;
	cl_att_expect e;
	uint8_t old[32];
	memset(old, 0x11, sizeof(old)); /* a document fetched for an earlier request */
	expect_for(w, &e);
	run(w, ENC, old, w->point, sizeof(w->point), &e, "nonce");
	run(w, ENC, NULL, w->point, sizeof(w->point), &e, "nonce");
}

static void test_refuses_other_enclave(void **state)
{
	world *w = *state;
	cl_att_expect e;
	expect_for(w, &e);
	run(w, "enc-someoneelse00000000002", w->nonce, w->point, sizeof(w->point), &e, "module_id");
}

static void test_refuses_wrong_pcr(void **state)
{
	world *w = *state;
	cl_att_expect e;
	expect_for(w, &e);
	memset(e.pcr[3], 0x33, CL_ATT_PCR_LEN);
	run(w, ENC, w->nonce, w->point, sizeof(w->point), &e, "pcr");
}

static void test_refuses_missing_or_bad_key(void **state)
{
	world *w = *state;
	cl_att_expect e;
	uint8_t bad[97];
	expect_for(w, &e);
	run(w, ENC, w->nonce, NULL, 0, &e, "public_key");
	memcpy(bad, w->point, sizeof(bad));
	bad[96] ^= 1; /* off the curve */
	run(w, ENC, w->nonce, bad, sizeof(bad), &e, "public_key");
}

static void test_refuses_other_root(void **state)
{
	world *w = *state;
	fx_chain other;
	fx_opts o = {0};
	cl_att_expect e;
	fx_chain_make(&other, &o);
	expect_for(w, &e);
	e.root_der = other.root_der;
	e.root_len = other.root_len;
	run(w, ENC, w->nonce, w->point, sizeof(w->point), &e, "root");
	fx_chain_free(&other);
}

/* The bundle wrap opens with the enclave's key only, under its own label. */
static void test_bundle_wrap(void **state)
{
	world *w = *state;
	static uint8_t tar[3 << 20];
	cl_buf ct, pt;
	for (size_t i = 0; i < sizeof(tar); i++)
		tar[i] = (uint8_t)(i * 7);
	cl_buf_init(&ct, CL_WRAP_BUNDLE_MAX + CL_WRAP_OVERHEAD);
	cl_buf_init(&pt, CL_WRAP_BUNDLE_MAX);
	assert_int_equal(cl_wrap_seal_bundle(w->point, tar, sizeof(tar), &ct), CL_OK); /* over the 1 MiB of a secret */
	assert_int_equal(ct.len, sizeof(tar) + CL_WRAP_OVERHEAD);
	assert_int_equal(cl_wrap_open_bundle(w->enclave_key, ct.data, ct.len, &pt), CL_OK);
	assert_int_equal(pt.len, sizeof(tar));
	assert_memory_equal(pt.data, tar, sizeof(tar));
	/* a broker's unwrap (the other label) does not open it */
	cl_buf small;
	cl_buf_init(&small, 4096);
	assert_int_equal(cl_wrap_seal_bundle(w->point, tar, 100, &small), CL_OK);
	assert_int_equal(cl_wrap_open(w->enclave_key, small.data, small.len, &pt), CL_ECRYPTO);
	small.data[small.len / 2] ^= 1;
	assert_int_equal(cl_wrap_open_bundle(w->enclave_key, small.data, small.len, &pt), CL_ECRYPTO);
	cl_buf_free(&small);
	cl_buf_free(&ct);
	cl_buf_free(&pt);
}

/* ---- the tar subset ---- */

static void header(uint8_t *h, const char *name, char type, uint64_t size, const char *link)
{
	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0755);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 0);
	h[156] = (uint8_t)type;
	if (link)
		snprintf((char *)h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar\0" "00", 8);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	h[155] = ' ';
}

/* A tar of one entry (with 5 bytes of data for a file) and the end marker. */
static size_t one_entry(uint8_t *buf, const char *name, char type, const char *link)
{
	uint64_t size = type == '0' ? 5 : 0;
	memset(buf, 0, 4 * 512);
	header(buf, name, type, size, link);
	if (size)
		memcpy(buf + 512, "hello", 5);
	return (size ? 2 : 1) * 512 + 1024;
}

static void expect_tar(const char *name, char type, const char *link, const char *want)
{
	uint8_t buf[4 * 512];
	size_t n = one_entry(buf, name, type, link);
	cl_tar t;
	cl_tar_entry e;
	bool got = false;
	char why[CL_BUNDLE_WHY_MAX];
	cl_tar_init(&t, buf, n);
	cl_err err = cl_tar_next(&t, &e, &got, why);
	if (!want) {
		assert_int_equal(err, CL_OK);
		assert_true(got);
		return;
	}
	if (err == CL_OK || !strstr(why, want))
		fail_msg("%s (type %c): want a refusal with '%s', got %d '%s'", name, type, want, err, why);
}

static void test_tar_subset(void **state)
{
	(void)state;
	expect_tar("entrypoint", '0', NULL, NULL);
	expect_tar("./dir/", '5', NULL, NULL);
	expect_tar("../x", '0', NULL, "../x: path component");
	expect_tar("a/../../x", '0', NULL, "leave the bundle");
	expect_tar("/etc/passwd", '0', NULL, "absolute path");
	expect_tar("link", '2', "/etc/shadow", "link: symbolic link");
	expect_tar("hard", '1', "entrypoint", "hard link");
	expect_tar("dev", '3', NULL, "device");
	expect_tar("fifo", '6', NULL, "fifo");
	expect_tar("a//b", '0', NULL, "empty path component");
	/* a header whose checksum is wrong, a size past the end, no end marker */
	uint8_t buf[4 * 512];
	size_t n = one_entry(buf, "f", '0', NULL);
	cl_tar t;
	cl_tar_entry e;
	bool got;
	char why[CL_BUNDLE_WHY_MAX];
	buf[0] = 'g';
	cl_tar_init(&t, buf, n);
	assert_int_equal(cl_tar_next(&t, &e, &got, why), CL_EINVAL);
	assert_non_null(strstr(why, "checksum"));
	n = one_entry(buf, "f", '0', NULL);
	cl_tar_init(&t, buf, 1024); /* header and data, no end marker */
	assert_int_equal(cl_tar_next(&t, &e, &got, why), CL_OK);
	assert_true(got);
	assert_int_equal(cl_tar_next(&t, &e, &got, why), CL_EINVAL);
	assert_non_null(strstr(why, "no end-of-archive"));
	header(buf, "big", '0', 1u << 20, NULL);
	cl_tar_init(&t, buf, n);
	assert_int_equal(cl_tar_next(&t, &e, &got, why), CL_EINVAL);
	assert_non_null(strstr(why, "past the end"));
}

static void test_frame_payloads(void **state)
{
	(void)state;
	uint8_t sha[48], p[CL_BUNDLE_END_LEN], got[48], reg;
	uint64_t len;
	memset(sha, 0xab, sizeof(sha));
	cl_bundle_end_put(p, sha, 1000);
	assert_int_equal(cl_bundle_end_parse(p, sizeof(p), got, &len), CL_OK);
	assert_int_equal(len, 1000);
	assert_memory_equal(got, sha, 48);
	assert_int_equal(cl_bundle_end_parse(p, sizeof(p) - 1, got, &len), CL_EINVAL);
	cl_bundle_end_put(p, sha, 125); /* nothing but the wrap's overhead */
	assert_int_equal(cl_bundle_end_parse(p, sizeof(p), got, &len), CL_EINVAL);
	cl_bundle_end_put(p, sha, CL_BUNDLE_MAX + 126);
	assert_int_equal(cl_bundle_end_parse(p, sizeof(p), got, &len), CL_EINVAL);
	uint8_t ext[CL_BUNDLE_EXTEND_LEN] = {7};
	assert_int_equal(cl_bundle_extend_parse(ext, sizeof(ext), &reg, got), CL_OK);
	assert_int_equal(reg, 7);
	ext[0] = 0; /* only the bundle register */
	assert_int_equal(cl_bundle_extend_parse(ext, sizeof(ext), &reg, got), CL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_fresh_document),
		cmocka_unit_test(test_refuses_stale_nonce),
		cmocka_unit_test(test_refuses_other_enclave),
		cmocka_unit_test(test_refuses_wrong_pcr),
		cmocka_unit_test(test_refuses_missing_or_bad_key),
		cmocka_unit_test(test_refuses_other_root),
		cmocka_unit_test(test_bundle_wrap),
		cmocka_unit_test(test_tar_subset),
		cmocka_unit_test(test_frame_payloads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
