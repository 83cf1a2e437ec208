/* Unit tests for an image's signature section (src/image/image_sig.c,
 * docs/image-format.md "Signature section"): cl_image_sign, what the parser
 * accepts and refuses (bad signature, wrong key, tampered body, truncation
 * anywhere, trailing bytes, certificates that do not parse or hold another
 * kind of key), and what signing does to the registers (PCR0 unchanged, PCR8
 * the certificate's, checked against tests/unit/measure_ref.py). Keys and
 * certificates are made here with OpenSSL; no control plane. */
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/util.h"
#include "image/image.h"
#include "image/measure.h"

/* A valid unsigned image: app/run (0755) and etc/conf, args ["-v"]. */
static const char manifest_fmt[] =
	"{\"format\":1,\"name\":\"s\",\"version\":\"1\",\"entrypoint\":\"/app/run\",\"args\":[\"-v\"],"
	"\"files\":[{\"path\":\"app/run\",\"mode\":493,\"size\":5,\"sha384\":\"%s\"},"
	"{\"path\":\"etc/conf\",\"mode\":420,\"size\":10,\"sha384\":\"%s\"}]}";

static void unsigned_image(cl_buf *out)
{
	char h1[97], h2[97], man[1024];
	uint8_t d[48];
	assert_int_equal(cl_sha384("#!run", 5, d), CL_OK);
	cl_hex_encode(d, 48, h1);
	assert_int_equal(cl_sha384("key=value\n", 10, d), CL_OK);
	cl_hex_encode(d, 48, h2);
	int n = snprintf(man, sizeof(man), manifest_fmt, h1, h2);
	assert_true(n > 0 && (size_t)n < sizeof(man));
	uint8_t hdr[12] = {'C', 'L', 'I', 'M', 'A', 'G', 'E', '1', 0, 0, (uint8_t)(n >> 8), (uint8_t)n};
	cl_buf_init(out, 1 << 20);
	assert_int_equal(cl_buf_put(out, hdr, sizeof(hdr)), CL_OK);
	assert_int_equal(cl_buf_put(out, man, (size_t)n), CL_OK);
	assert_int_equal(cl_buf_put_str(out, "#!runkey=value\n"), CL_OK);
}

/* A self-signed certificate for key, DER into *der (OPENSSL_free). */
static int make_cert(EVP_PKEY *key, const char *cn, uint8_t **der)
{
	X509 *x = X509_new();
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 7), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	X509_NAME *name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_true(X509_sign(x, key, EVP_sha384()) > 0);
	*der = NULL;
	int n = i2d_X509(x, der);
	assert_true(n > 0);
	X509_free(x);
	return n;
}

/* cl_image_signer with an EVP_PKEY: raw r || s. */
static cl_err test_signer(void *ctx, const uint8_t hash[static 48], uint8_t sig[static CL_IMAGE_SIG_LEN])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ctx, NULL);
	uint8_t der[160];
	size_t derlen = sizeof(der);
	const unsigned char *p = der;
	assert_non_null(c);
	assert_int_equal(EVP_PKEY_sign_init(c), 1);
	assert_int_equal(EVP_PKEY_sign(c, der, &derlen, hash, 48), 1);
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	assert_non_null(es);
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, sig, 48), 48);
	assert_int_equal(BN_bn2binpad(s, sig + 48, 48), 48);
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(c);
	return CL_OK;
}

static cl_err failing_signer(void *ctx, const uint8_t hash[static 48], uint8_t sig[static CL_IMAGE_SIG_LEN])
{
	return cl_errorf(CL_EUNAVAIL, "token unplugged");
}

typedef struct fixture {
	EVP_PKEY *key, *key2, *p256;
	uint8_t *cert, *cert2, *cert256;
	int cert_len, cert2_len, cert256_len;
	cl_buf plain;  /* unsigned image */
	cl_buf signed_; /* plain signed with key/cert */
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->key = EVP_EC_gen("secp384r1");
	f->key2 = EVP_EC_gen("secp384r1");
	f->p256 = EVP_EC_gen("prime256v1");
	assert_true(f->key && f->key2 && f->p256);
	f->cert_len = make_cert(f->key, "image signer", &f->cert);
	f->cert2_len = make_cert(f->key2, "other signer", &f->cert2);
	f->cert256_len = make_cert(f->p256, "p256 signer", &f->cert256);
	unsigned_image(&f->plain);
	cl_buf_init(&f->signed_, 1 << 20);
	assert_int_equal(cl_image_sign(f->plain.data, f->plain.len, f->cert, (size_t)f->cert_len, test_signer, f->key,
				       &f->signed_),
			 CL_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->key2);
	EVP_PKEY_free(f->p256);
	OPENSSL_free(f->cert);
	OPENSSL_free(f->cert2);
	OPENSSL_free(f->cert256);
	cl_buf_free(&f->plain);
	cl_buf_free(&f->signed_);
	free(f);
	return 0;
}

static cl_err parse(const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees any over-read */
	assert_non_null(copy);
	memcpy(copy, p, n);
	cl_image *img = NULL;
	cl_err e = cl_image_parse(copy, n, &img);
	if (e != CL_OK)
		assert_null(img);
	cl_image_free(img);
	free(copy);
	return e;
}

/* ---- accepted ------------------------------------------------------- */

static void signed_layout_and_fields(void **state)
{
	fixture *f = *state;
	const cl_buf *s = &f->signed_;
	size_t body = f->plain.len, clen = (size_t)f->cert_len;
	/* body || "CLIMGSIG" || u32 BE cert length || cert || 96-byte r||s */
	assert_int_equal(s->len, body + 12 + clen + 96);
	assert_memory_equal(s->data, f->plain.data, body);
	assert_memory_equal(s->data + body, "CLIMGSIG", 8);
	assert_int_equal((size_t)s->data[body + 8] << 24 | (size_t)s->data[body + 9] << 16 |
				 (size_t)s->data[body + 10] << 8 | s->data[body + 11],
			 clen);
	assert_memory_equal(s->data + body + 12, f->cert, clen);

	/* The signature verifies, with OpenSSL's own API, over SHA-384 of the body. */
	uint8_t h[48];
	assert_int_equal(cl_sha384(f->plain.data, body, h), CL_OK);
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(s->data + s->len - 96, 48, NULL), *sv = BN_bin2bn(s->data + s->len - 48, 48, NULL);
	assert_int_equal(ECDSA_SIG_set0(es, r, sv), 1);
	unsigned char *der = NULL;
	int dl = i2d_ECDSA_SIG(es, &der);
	EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new(f->key, NULL);
	assert_int_equal(EVP_PKEY_verify_init(vc), 1);
	assert_int_equal(EVP_PKEY_verify(vc, der, (size_t)dl, h, 48), 1);
	EVP_PKEY_CTX_free(vc);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);

	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(s->data, s->len, &img), CL_OK);
	assert_int_equal(img->body_len, body);
	assert_int_equal(img->signer_cert, body + 12);
	assert_int_equal(img->signer_cert_len, clen);
	/* The id's digest is the whole file's, section included. */
	uint8_t whole[48];
	assert_int_equal(cl_sha384(s->data, s->len, whole), CL_OK);
	assert_memory_equal(img->digest, whole, 48);
	char subject[256];
	assert_int_equal(cl_image_signer_subject(img, s->data, s->len, subject, sizeof(subject)), CL_OK);
	assert_string_equal(subject, "CN=image signer");
	cl_image_free(img);

	/* Unsigned images: no certificate, body = the whole file. */
	assert_int_equal(cl_image_parse(f->plain.data, f->plain.len, &img), CL_OK);
	assert_int_equal(img->body_len, f->plain.len);
	assert_int_equal(img->signer_cert, 0);
	assert_int_equal(img->signer_cert_len, 0);
	assert_int_equal(cl_image_signer_subject(img, f->plain.data, f->plain.len, subject, sizeof(subject)),
			 CL_ENOTFOUND);
	cl_image_free(img);
}

static void registers_of_signed_image(void **state)
{
	fixture *f = *state;
	cl_image *pi = NULL, *si = NULL;
	assert_int_equal(cl_image_parse(f->plain.data, f->plain.len, &pi), CL_OK);
	assert_int_equal(cl_image_parse(f->signed_.data, f->signed_.len, &si), CL_OK);
	cl_pcrs pp, ps;
	cl_pcrs_init(&pp);
	cl_pcrs_init(&ps);
	assert_int_equal(cl_image_measure(pi, f->plain.data, f->plain.len, NULL, &pp), CL_OK);
	assert_int_equal(cl_image_measure(si, f->signed_.data, f->signed_.len, NULL, &ps), CL_OK);
	/* Signing changes the id's digest, not PCR0 or PCR2. */
	assert_memory_not_equal(pi->digest, si->digest, 48);
	assert_memory_equal(pp.v[0], ps.v[0], CL_PCR_LEN);
	assert_memory_equal(pp.v[2], ps.v[2], CL_PCR_LEN);
	static const uint8_t zero[CL_PCR_LEN];
	assert_memory_equal(pp.v[8], zero, CL_PCR_LEN);

	/* PCR8 = extend(zeros, certificate DER), as the reference computes it
	 * from the file. */
	char path[] = "/tmp/cl-test-sig.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f->signed_.data, f->signed_.len), (ssize_t)f->signed_.len);
	close(fd);
	char cmd[256], line[512];
	snprintf(cmd, sizeof(cmd), "python3 tests/unit/measure_ref.py image %s", path);
	FILE *py = popen(cmd, "r");
	assert_non_null(py);
	assert_non_null(fgets(line, sizeof(line), py));
	assert_int_equal(pclose(py), 0);
	unlink(path);
	char hex[4][2 * CL_PCR_LEN + 1], got[sizeof(line)];
	cl_hex_encode(ps.v[0], CL_PCR_LEN, hex[0]);
	cl_hex_encode(ps.v[1], CL_PCR_LEN, hex[1]);
	cl_hex_encode(ps.v[2], CL_PCR_LEN, hex[2]);
	cl_hex_encode(ps.v[8], CL_PCR_LEN, hex[3]);
	snprintf(got, sizeof(got), "%s %s %s %s\n", hex[0], hex[1], hex[2], hex[3]);
	assert_string_equal(got, line);
	cl_image_free(pi);
	cl_image_free(si);
}

static void resign_replaces_section(void **state)
{
	fixture *f = *state;
	cl_buf again;
	cl_buf_init(&again, 1 << 20);
	assert_int_equal(cl_image_sign(f->signed_.data, f->signed_.len, f->cert2, (size_t)f->cert2_len, test_signer,
				       f->key2, &again),
			 CL_OK);
	/* One section, the new signer's, after the same body. */
	assert_int_equal(again.len, f->plain.len + 12 + (size_t)f->cert2_len + 96);
	assert_memory_equal(again.data, f->plain.data, f->plain.len);
	assert_memory_equal(again.data + f->plain.len + 12, f->cert2, (size_t)f->cert2_len);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(again.data, again.len, &img), CL_OK);
	char subject[256];
	assert_int_equal(cl_image_signer_subject(img, again.data, again.len, subject, sizeof(subject)), CL_OK);
	assert_string_equal(subject, "CN=other signer");
	cl_image_free(img);
	cl_buf_free(&again);
}

/* ---- refused -------------------------------------------------------- */

static void sign_refuses(void **state)
{
	fixture *f = *state;
	cl_buf out;
	cl_buf_init(&out, 1 << 20);
	/* A key that is not the certificate's. */
	assert_int_equal(cl_image_sign(f->plain.data, f->plain.len, f->cert, (size_t)f->cert_len, test_signer, f->key2,
				       &out),
			 CL_ECRYPTO);
	assert_non_null(strstr(cl_error_detail(), "does not match the certificate"));
	assert_int_equal(out.len, 0);
	/* A P-256 certificate (and key). */
	assert_int_equal(cl_image_sign(f->plain.data, f->plain.len, f->cert256, (size_t)f->cert256_len, test_signer,
				       f->p256, &out),
			 CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "P-384"));
	/* Not a certificate; no certificate. */
	static const uint8_t junk[] = "not a certificate at all";
	assert_int_equal(cl_image_sign(f->plain.data, f->plain.len, junk, sizeof(junk), test_signer, f->key, &out),
			 CL_EINVAL);
	assert_int_equal(cl_image_sign(f->plain.data, f->plain.len, f->cert, 0, test_signer, f->key, &out), CL_EINVAL);
	/* Not an image. */
	assert_int_equal(cl_image_sign(f->cert, (size_t)f->cert_len, f->cert, (size_t)f->cert_len, test_signer, f->key,
				       &out),
			 CL_EINVAL);
	/* The signer's own failure comes back as is. */
	assert_int_equal(cl_image_sign(f->plain.data, f->plain.len, f->cert, (size_t)f->cert_len, failing_signer, NULL,
				       &out),
			 CL_EUNAVAIL);
	assert_int_equal(out.len, 0);
	/* A buffer too small for the result. */
	cl_buf small;
	cl_buf_init(&small, f->plain.len + 10);
	assert_int_equal(cl_image_sign(f->plain.data, f->plain.len, f->cert, (size_t)f->cert_len, test_signer, f->key,
				       &small),
			 CL_ETOOBIG);
	assert_int_equal(small.len, 0);
	cl_buf_free(&small);
	cl_buf_free(&out);
}

/* Builds plain || section(cert, sig) into out. */
static void assemble(const fixture *f, const uint8_t *cert, size_t clen, uint32_t declared, const uint8_t *sig,
		     cl_buf *out)
{
	uint8_t hdr[12] = {'C', 'L', 'I', 'M', 'G', 'S', 'I', 'G', (uint8_t)(declared >> 24), (uint8_t)(declared >> 16),
			   (uint8_t)(declared >> 8), (uint8_t)declared};
	cl_buf_init(out, 1 << 20);
	assert_int_equal(cl_buf_put(out, f->plain.data, f->plain.len), CL_OK);
	assert_int_equal(cl_buf_put(out, hdr, sizeof(hdr)), CL_OK);
	assert_int_equal(cl_buf_put(out, cert, clen), CL_OK);
	assert_int_equal(cl_buf_put(out, sig, 96), CL_OK);
}

static void bad_signature(void **state)
{
	fixture *f = *state;
	cl_buf *s = &f->signed_;
	/* Any bit of r or s. */
	for (size_t i = s->len - 96; i < s->len; i += 7) {
		s->data[i] ^= 0x10;
		assert_int_equal(parse(s->data, s->len), CL_ECRYPTO);
		assert_non_null(strstr(cl_error_detail(), "does not verify"));
		s->data[i] ^= 0x10;
	}
	/* r = s = 0 */
	uint8_t zsig[96] = {0};
	cl_buf z;
	assemble(f, f->cert, (size_t)f->cert_len, (uint32_t)f->cert_len, zsig, &z);
	assert_int_equal(parse(z.data, z.len), CL_ECRYPTO);
	cl_buf_free(&z);
	assert_int_equal(parse(s->data, s->len), CL_OK);
}

static void tampered_body(void **state)
{
	fixture *f = *state;
	cl_buf *s = &f->signed_;
	/* The manifest's name "s" -> "t": still a valid image, no longer the
	 * one that was signed. */
	uint8_t *p = memmem(s->data, f->plain.len, "\"name\":\"s\"", 10);
	assert_non_null(p);
	p[8] = 't';
	assert_int_equal(parse(s->data, s->len), CL_ECRYPTO);
	p[8] = 's';
	assert_int_equal(parse(s->data, s->len), CL_OK);
}

static void wrong_key(void **state)
{
	fixture *f = *state;
	/* cert2's section under cert's... and key2's signature under cert. */
	cl_buf other;
	cl_buf_init(&other, 1 << 20);
	assert_int_equal(cl_image_sign(f->plain.data, f->plain.len, f->cert2, (size_t)f->cert2_len, test_signer, f->key2,
				       &other),
			 CL_OK);
	cl_buf mixed;
	assemble(f, f->cert, (size_t)f->cert_len, (uint32_t)f->cert_len, other.data + other.len - 96, &mixed);
	assert_int_equal(parse(mixed.data, mixed.len), CL_ECRYPTO);
	cl_buf_free(&mixed);
	cl_buf_free(&other);
}

static void truncated_everywhere(void **state)
{
	fixture *f = *state;
	const cl_buf *s = &f->signed_;
	for (size_t n = 0; n < s->len; n++)
		if (n != f->plain.len)
			assert_int_not_equal(parse(s->data, n), CL_OK);
	/* Cut exactly at the section, it is the unsigned image again: a
	 * signature can always be stripped, which is why a verifier that wants
	 * a signer pins PCR8 (docs/measurements.md). */
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(s->data, f->plain.len, &img), CL_OK);
	assert_int_equal(img->signer_cert_len, 0);
	cl_image_free(img);
	/* Inside the section the error says so (or, before its magic is whole,
	 * that the bytes after the files are not one). */
	assert_int_equal(parse(s->data, f->plain.len + 4), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "not a signature section"));
	assert_int_equal(parse(s->data, f->plain.len + 10), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "truncated"));
	assert_int_equal(parse(s->data, s->len - 1), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "truncated"));
}

static void trailing_garbage(void **state)
{
	fixture *f = *state;
	cl_buf t;
	cl_buf_init(&t, 1 << 20);
	assert_int_equal(cl_buf_put(&t, f->signed_.data, f->signed_.len), CL_OK);
	assert_int_equal(cl_buf_put(&t, "x", 1), CL_OK);
	assert_int_equal(parse(t.data, t.len), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "trailing data"));
	/* A second section after the first is trailing data too. */
	assert_int_equal(cl_buf_put(&t, f->signed_.data + f->plain.len, f->signed_.len - f->plain.len - 1), CL_OK);
	assert_int_equal(parse(t.data, t.len), CL_EINVAL);
	/* Bytes after an unsigned image's files that are not a section. */
	cl_buf u;
	cl_buf_init(&u, 1 << 20);
	assert_int_equal(cl_buf_put(&u, f->plain.data, f->plain.len), CL_OK);
	assert_int_equal(cl_buf_put(&u, "CLIMGSIX\0\0\0\1x", 13), CL_OK);
	assert_int_equal(parse(u.data, u.len), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "not a signature section"));
	cl_buf_free(&u);
	cl_buf_free(&t);
}

static void certificates_that_do_not_parse(void **state)
{
	fixture *f = *state;
	const uint8_t *sig = f->signed_.data + f->signed_.len - 96;
	size_t clen = (size_t)f->cert_len;
	uint8_t *bad = malloc(clen + 8);
	assert_non_null(bad);
	cl_buf b;

	/* Garbage of the right length. */
	memset(bad, 0x41, clen);
	assemble(f, bad, clen, (uint32_t)clen, sig, &b);
	assert_int_equal(parse(b.data, b.len), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "not a DER X.509 certificate"));
	cl_buf_free(&b);

	/* The certificate with a byte of its TBS changed (its own signature
	 * is not checked, but the DER must parse: flip a length byte). */
	memcpy(bad, f->cert, clen);
	bad[1] ^= 0x01;
	assemble(f, bad, clen, (uint32_t)clen, sig, &b);
	assert_int_not_equal(parse(b.data, b.len), CL_OK);
	cl_buf_free(&b);

	/* Extra bytes inside the declared length, after the DER. */
	memcpy(bad, f->cert, clen);
	memset(bad + clen, 0, 8);
	assemble(f, bad, clen + 8, (uint32_t)(clen + 8), sig, &b);
	assert_int_equal(parse(b.data, b.len), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "follow the certificate"));
	cl_buf_free(&b);

	/* Lengths 0 and over the cap. */
	assemble(f, f->cert, clen, 0, sig, &b);
	assert_int_equal(parse(b.data, b.len), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "outside 1..16384"));
	cl_buf_free(&b);
	assemble(f, f->cert, clen, CL_IMAGE_CERT_MAX + 1, sig, &b);
	assert_int_equal(parse(b.data, b.len), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "outside 1..16384"));
	cl_buf_free(&b);

	/* A P-256 certificate: refused for its key, whatever the signature. */
	uint8_t sig256[96] = {0};
	assemble(f, f->cert256, (size_t)f->cert256_len, (uint32_t)f->cert256_len, sig256, &b);
	assert_int_equal(parse(b.data, b.len), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "not a P-384"));
	cl_buf_free(&b);
	free(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(signed_layout_and_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(registers_of_signed_image, setup, teardown),
		cmocka_unit_test_setup_teardown(resign_replaces_section, setup, teardown),
		cmocka_unit_test_setup_teardown(sign_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(tampered_body, setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(truncated_everywhere, setup, teardown),
		cmocka_unit_test_setup_teardown(trailing_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(certificates_that_do_not_parse, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
