/* bench_attest.c — attestation documents signed and verified per second, on
 * the calling thread (bench/attest.sh pins it to one core).
 * usage: bench_attest [SECONDS]   (CPU seconds per measurement; default 3)
 *
 * Prints one line per measurement:
 *   raw_sign: N/s            ECDSA P-384 over a 48-byte digest, in process
 *   raw_verify: N/s          the same verification
 *   doc_sign: N docs/s       cl_att_build (encode + Sig_structure digest +
 *                            the same ECDSA sign through the callback)
 *   doc_verify: N docs/s     cl_att_parse + cl_att_verify (root pin,
 *                            X509_verify_cert of root -> hosts CA -> leaf,
 *                            leaf checks, COSE signature, 16 PCRs, nonce)
 * The document is the contract's shape: 16 PCRs, leaf + 2-certificate
 * bundle, a 97-byte public key, 64 bytes of user data, a 32-byte nonce. The
 * signing key is in process (the key holder round trip is not measured). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"
#include "common/util.h"
#include "../tests/unit/test_attest_fixture.h"

static void die(const char *what)
{
	fprintf(stderr, "bench_attest: %s failed: %s\n", what, cl_error_detail());
	exit(1);
}

typedef struct ctx {
	fx_chain c;
	cl_att_fields f;
	cl_att_expect e;
	uint8_t *doc;
	size_t len;
	uint8_t digest[CL_ATT_DIGEST_LEN];
	uint8_t sig[CL_ATT_SIG_LEN];
	unsigned char der_sig[160];
	size_t der_len;
} ctx;

static void op_raw_sign(ctx *x)
{
	if (fx_sign(x->c.leaf_key, x->digest, x->sig) != CL_OK)
		die("raw sign");
}

static void op_raw_verify(ctx *x)
{
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(x->c.leaf_key, NULL);
	if (!p || EVP_PKEY_verify_init(p) != 1 || EVP_PKEY_CTX_set_signature_md(p, EVP_sha384()) != 1 ||
	    EVP_PKEY_verify(p, x->der_sig, x->der_len, x->digest, CL_ATT_DIGEST_LEN) != 1)
		die("raw verify");
	EVP_PKEY_CTX_free(p);
}

static void op_doc_sign(ctx *x)
{
	uint8_t *doc;
	size_t len;
	if (cl_att_build(&x->f, fx_sign, x->c.leaf_key, &doc, &len) != CL_OK)
		die("cl_att_build");
	free(doc);
}

static void op_doc_verify(ctx *x)
{
	cl_att_doc *d;
	if (cl_att_parse(x->doc, x->len, &d) != CL_OK || cl_att_verify(d, &x->e, NULL) != CL_OK)
		die("parse/verify");
	cl_att_doc_free(d);
}

/* CPU time of this process, as `openssl speed` measures by default (user
 * CPU time unless -elapsed): on a shared, busy machine wall time measures
 * the other processes too. */
static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Runs op for about secs seconds; returns operations per second. */
static double rate(ctx *x, void (*op)(ctx *), double secs, unsigned long *rounds)
{
	unsigned long n = 0;
	double start = now_s(), t = start;
	while (t - start < secs) {
		for (int i = 0; i < 16; i++)
			op(x);
		n += 16;
		t = now_s();
	}
	*rounds = n;
	return (double)n / (t - start);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 3.0;
	if (secs <= 0 || secs > 60)
		return fprintf(stderr, "usage: bench_attest [SECONDS 0..60]\n"), 2;
	static ctx x;
	static uint8_t nonce[32], user_data[64], point[97];
	fx_chain_make(&x.c, NULL);
	if (cl_random(nonce, sizeof(nonce)) != CL_OK || cl_random(user_data, sizeof(user_data)) != CL_OK ||
	    cl_random(x.digest, sizeof(x.digest)) != CL_OK)
		die("random");
	FX_CHECK(EVP_PKEY_get_octet_string_param(x.c.leaf_key, "encoded-pub-key", point, sizeof(point), NULL));
	fx_fields(&x.f, &x.c, nonce, sizeof(nonce));
	x.f.public_key = (cl_att_bytes){point, sizeof(point)};
	x.f.user_data = (cl_att_bytes){user_data, sizeof(user_data)};
	x.e = (cl_att_expect){.root_der = x.c.root_der, .root_len = x.c.root_len, .now = time(NULL),
			      .pcr_mask = 0xffff, .nonce = nonce, .nonce_len = sizeof(nonce)};
	memcpy(x.e.pcr, x.f.pcrs, sizeof(x.e.pcr));
	if (cl_att_build(&x.f, fx_sign, x.c.leaf_key, &x.doc, &x.len) != CL_OK)
		die("first document");
	EVP_PKEY_CTX *p = EVP_PKEY_CTX_new(x.c.leaf_key, NULL);
	x.der_len = sizeof(x.der_sig);
	if (!p || EVP_PKEY_sign_init(p) != 1 || EVP_PKEY_CTX_set_signature_md(p, EVP_sha384()) != 1 ||
	    EVP_PKEY_sign(p, x.der_sig, &x.der_len, x.digest, CL_ATT_DIGEST_LEN) != 1)
		die("first signature");
	EVP_PKEY_CTX_free(p);

	unsigned long n;
	printf("document: %zu bytes\n", x.len);
	double rs = rate(&x, op_raw_sign, secs, &n);
	printf("raw_sign: %.1f/s (%lu rounds)\n", rs, n);
	double rv = rate(&x, op_raw_verify, secs, &n);
	printf("raw_verify: %.1f/s (%lu rounds)\n", rv, n);
	double ds = rate(&x, op_doc_sign, secs, &n);
	printf("doc_sign: %.1f docs/s (%lu rounds)\n", ds, n);
	double dv = rate(&x, op_doc_verify, secs, &n);
	printf("doc_verify: %.1f docs/s (%lu rounds)\n", dv, n);
	free(x.doc);
	fx_chain_free(&x.c);
	return 0;
}
