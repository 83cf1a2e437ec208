/* Unit tests for src/common/wrap.c: the broker's ECDH P-384 + HKDF-SHA384 +
 * AES-256-GCM construction (docs/broker.md), with a known-answer vector made
 * by an independent implementation (tests/unit/wrap_kat.py, python3
 * `cryptography`):
 *
 *   wrap_kat.py wrap 11..11 22..22 000102030405060708090a0b <"Hello, broker!" hex>
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/wrap.h"

/* the recipient: private scalar 0x11 repeated 48 times */
static const char recipient_pem[] = "-----BEGIN PRIVATE KEY-----\n"
				    "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDARERERERERERERERER\n"
				    "ERERERERERERERERERERERERERERERERERERERERERERERGhZANiAAQ4bnZ+pctx\n"
				    "bJzWIP9zQhKciSpvzO/mEhQMgL/1npQ0aAGd2hblB5sMHZAB0jpiS23QiNDDgmOU\n"
				    "GUeHQD6KfQfl4i9+nAuOgPofr/XSi0u1l7Jn8LhwI8ph/IRUvd79Lg4=\n"
				    "-----END PRIVATE KEY-----\n";
static const char recipient_spki_hex[] =
	"3076301006072a8648ce3d020106052b8104002203620004386e767ea5cb716c9cd620ff7342129c892a6fccefe612140c80bf"
	"f59e943468019dda16e5079b0c1d9001d23a624b6dd088d0c3826394194787403e8a7d07e5e22f7e9c0b8e80fa1faff5d28b4bb5"
	"97b267f0b87023ca61fc8454bddefd2e0e";
static const char kat_hex[] =
	"044f2bda7fd2105f8467e21f45223ad58863ffa4c084832d9f6c64ffc47fdd519727ab53cb71f9c40de24b64acde61f02fc7dce1"
	"30b612fa5dbcac94573a2354fd005d8e9caefdc5fde48304474708bbd82f77e1fd2c630bea236f6f8dccc1678e00010203040506"
	"0708090a0b9181d7aabc0515d6cdbe5e934c34b7acb708cfe7951b4e2a17b50bc061d2";
static const char kat_plain[] = "Hello, broker!";

static EVP_PKEY *recipient(void)
{
	BIO *b = BIO_new_mem_buf(recipient_pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	assert_non_null(k);
	return k;
}

static size_t unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2;
	assert_true(n <= max);
	assert_int_equal(cl_hex_decode(hex, out, n), CL_OK);
	return n;
}

/* What the independent implementation wrapped opens to the exact bytes. */
static void known_answer(void **state)
{
	uint8_t w[512];
	size_t n = unhex(kat_hex, w, sizeof(w));
	EVP_PKEY *k = recipient();
	cl_buf out;
	cl_buf_init(&out, 4096);
	assert_int_equal(cl_wrap_open(k, w, n, &out), CL_OK);
	assert_int_equal(out.len, strlen(kat_plain));
	assert_memory_equal(out.data, kat_plain, out.len);
	/* any changed byte (point, iv, ciphertext, tag) is refused */
	size_t at[] = {5, CL_WRAP_POINT_LEN + 1, CL_WRAP_POINT_LEN + CL_WRAP_IV_LEN + 2, n - 1};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		w[at[i]] ^= 1;
		assert_int_equal(cl_wrap_open(k, w, n, &out), CL_ECRYPTO);
		assert_int_equal(out.len, 0);
		w[at[i]] ^= 1;
	}
	assert_int_equal(cl_wrap_open(k, w, CL_WRAP_OVERHEAD - 1, &out), CL_ECRYPTO);
	cl_buf_free(&out);
	EVP_PKEY_free(k);
}

/* Seal to the point (raw or SPKI), open with the key; another key fails. */
static void roundtrip(void **state)
{
	uint8_t spki[256], point[CL_WRAP_POINT_LEN], point2[CL_WRAP_POINT_LEN], msg[4096];
	size_t sn = unhex(recipient_spki_hex, spki, sizeof(spki));
	assert_int_equal(cl_wrap_point(spki, sn, point), CL_OK);
	assert_int_equal(cl_wrap_point(point, sizeof(point), point2), CL_OK);
	assert_memory_equal(point, point2, sizeof(point));
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7);
	EVP_PKEY *k = recipient(), *other = EVP_EC_gen("secp384r1");
	assert_non_null(other);
	cl_buf w, out;
	cl_buf_init(&w, 8192);
	cl_buf_init(&out, 8192);
	size_t lens[] = {0, 1, 32, sizeof(msg)};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		assert_int_equal(cl_wrap_seal(point, msg, lens[i], &w), CL_OK);
		assert_int_equal(w.len, lens[i] + CL_WRAP_OVERHEAD);
		assert_int_equal(cl_wrap_open(k, w.data, w.len, &out), CL_OK);
		assert_int_equal(out.len, lens[i]);
		if (lens[i])
			assert_memory_equal(out.data, msg, lens[i]);
		assert_int_equal(cl_wrap_open(other, w.data, w.len, &out), CL_ECRYPTO);
	}
	/* a point off the curve, a wrong length, garbage DER are refused */
	point2[50] ^= 1;
	assert_int_equal(cl_wrap_point(point2, sizeof(point2), point), CL_ECRYPTO);
	assert_int_equal(cl_wrap_seal(point2, msg, 1, &w), CL_ECRYPTO);
	assert_int_equal(cl_wrap_point(spki, sn - 1, point), CL_ECRYPTO);
	assert_int_equal(cl_wrap_point(spki, 96, point), CL_ECRYPTO);
	cl_buf_free(&w);
	cl_buf_free(&out);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

/* A label separates applications: what one wraps opens only under its own
 * label; a label out of bounds is refused. */
static void labels(void **state)
{
	uint8_t spki[256], point[CL_WRAP_POINT_LEN];
	size_t sn = unhex(recipient_spki_hex, spki, sizeof(spki));
	assert_int_equal(cl_wrap_point(spki, sn, point), CL_OK);
	EVP_PKEY *k = recipient();
	cl_buf w, out;
	cl_buf_init(&w, 8192);
	cl_buf_init(&out, 8192);
	static const uint8_t msg[] = "a keystore key";
	assert_int_equal(cl_wrap_seal_label("cloister-keystore-wrap-v1", point, msg, sizeof(msg), &w), CL_OK);
	assert_int_equal(cl_wrap_open_label("cloister-keystore-wrap-v1", k, w.data, w.len, &out), CL_OK);
	assert_int_equal(out.len, sizeof(msg));
	assert_memory_equal(out.data, msg, sizeof(msg));
	assert_int_equal(cl_wrap_open(k, w.data, w.len, &out), CL_ECRYPTO); /* the broker's label */
	assert_int_equal(cl_wrap_seal(point, msg, sizeof(msg), &w), CL_OK);
	assert_int_equal(cl_wrap_open_label("cloister-keystore-wrap-v1", k, w.data, w.len, &out), CL_ECRYPTO);
	assert_int_equal(cl_wrap_open_label(CL_WRAP_INFO, k, w.data, w.len, &out), CL_OK);
	char long_label[CL_WRAP_LABEL_MAX + 2];
	memset(long_label, 'a', sizeof(long_label) - 1);
	long_label[sizeof(long_label) - 1] = '\0';
	assert_int_equal(cl_wrap_seal_label(long_label, point, msg, 1, &w), CL_EINVAL);
	assert_int_equal(cl_wrap_seal_label("", point, msg, 1, &w), CL_EINVAL);
	long_label[CL_WRAP_LABEL_MAX] = '\0'; /* exactly the cap: fine */
	assert_int_equal(cl_wrap_seal_label(long_label, point, msg, 1, &w), CL_OK);
	assert_int_equal(cl_wrap_open_label(long_label, k, w.data, w.len, &out), CL_OK);
	cl_buf_free(&w);
	cl_buf_free(&out);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(known_answer),
		cmocka_unit_test(roundtrip),
		cmocka_unit_test(labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
