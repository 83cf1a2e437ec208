/* keystore-user — the host-side client of a keystore user (README.md here):
 * opens a key the keystore exported to you, and verifies its signatures.
 *
 *   keystore-user unwrap --key USER.pem --wrapped FILE [--out KEY.pem] [--expect-public B64]
 *   keystore-user verify --public B64 --message FILE --signature B64
 *
 * unwrap: FILE (or - for stdin) holds the keystore's answer line
 * "ok export NAME B64" or the bare base64; it is opened with USER.pem (the
 * P-384 key the keystore trusts) under the label "cloister-keystore-wrap-v1"
 * (the broker's construction, docs/broker.md), the 48-byte scalar becomes a
 * P-384 private key, written as PKCS#8 PEM to --out (a new file, mode 0600;
 * never to stdout), and its public half is printed as "public: B64" (DER
 * SubjectPublicKeyInfo, what the keystore's "public NAME" answers).
 * --expect-public B64 makes a different public half an error.
 *
 * verify: an ECDSA-SHA384 signature (base64 DER, the keystore's "ok sign")
 * over FILE's bytes under the public key B64. Prints "verified".
 *
 * Exit 0 on success, 1 with one "error: ..." line, 2 for a usage error.
 * A host program on libcrypto and Cloister's wrap (src/common/wrap.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/wrap.h"

#define WRAP_LABEL "cloister-keystore-wrap-v1"
#define FILE_MAX (64u * 1024)

static const char usage[] =
	"usage: keystore-user unwrap --key USER.pem --wrapped FILE|- [--out KEY.pem] [--expect-public B64]\n"
	"       keystore-user verify --public B64 --message FILE --signature B64\n";

/* Reads path ("-" = stdin) into b (at most b->max bytes). */
static cl_err read_file(const char *path, cl_buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	uint8_t chunk[4096];
	size_t r;
	cl_err err = CL_OK;
	if (!f)
		return cl_errorf(CL_EIO, "%s: %s", path, strerror(errno));
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		CL_GUARD_OUT(err, cl_buf_put(b, chunk, r));
	if (ferror(f))
		err = cl_errorf(CL_EIO, "%s: read error", path);
out:
	if (f != stdin)
		fclose(f);
	return err;
}

/* Strict base64 of s (whitespace around it trimmed) into out. */
static cl_err unbase64(const char *s, size_t n, cl_buf *out, const char *what)
{
	while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		n--;
	CL_ENSURE(n > 0 && n % 4 == 0 && n <= FILE_MAX, CL_EINVAL, "%s: not base64", what);
	for (size_t i = 0; i < n; i++)
		CL_ENSURE(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", s[i]) ||
				  (s[i] == '=' && i >= n - 2 && (i == n - 1 || s[n - 1] == '=')),
			  CL_EINVAL, "%s: not base64", what);
	CL_GUARD(cl_buf_put(out, s, n)); /* sized; decoded in place below */
	int got = EVP_DecodeBlock(out->data, (const unsigned char *)s, (int)n);
	CL_ENSURE(got >= 0, CL_EINVAL, "%s: not base64", what);
	out->len = (size_t)got - (s[n - 1] == '=') - (s[n - 2] == '=');
	return CL_OK;
}

static EVP_PKEY *load_private(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	if (f)
		fclose(f);
	return k;
}

/* The P-384 private key with scalar d (48 bytes, big-endian): its public
 * point is d*G. */
static cl_err key_from_scalar(const uint8_t d[48], EVP_PKEY **out)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_secp384r1);
	EC_POINT *q = g ? EC_POINT_new(g) : NULL;
	BIGNUM *bn = BN_secure_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	uint8_t point[CL_WRAP_POINT_LEN];
	cl_err err = CL_OK;
	*out = NULL;
	if (!g || !q || !bn || !bld || !c || !BN_bin2bn(d, 48, bn) || BN_is_zero(bn) ||
	    BN_cmp(bn, EC_GROUP_get0_order(g)) >= 0 || EC_POINT_mul(g, q, bn, NULL, NULL, NULL) != 1 ||
	    EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, point, sizeof(point), NULL) != sizeof(point) ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) != 1 ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(c) != 1 ||
	    EVP_PKEY_fromdata(c, out, EVP_PKEY_KEYPAIR, params) != 1)
		err = cl_errorf(CL_ECRYPTO, "the unwrapped bytes are not a P-384 private key");
	OSSL_PARAM_free(params); /* the scalar sits in its secure-heap part, wiped on free */
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(c);
	BN_clear_free(bn);
	EC_POINT_free(q);
	EC_GROUP_free(g);
	ERR_clear_error();
	return err;
}

static cl_err public_b64(EVP_PKEY *k, char *out, size_t cap)
{
	unsigned char *der = NULL;
	int n = i2d_PUBKEY(k, &der);
	cl_err err = CL_OK;
	if (n <= 0 || (size_t)(n + 2) / 3 * 4 + 1 > cap)
		err = cl_errorf(CL_ECRYPTO, "cannot encode the public key");
	else
		EVP_EncodeBlock((unsigned char *)out, der, n);
	OPENSSL_free(der);
	return err;
}

static cl_err write_pem(const char *path, EVP_PKEY *k)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CL_ENSURE(fd >= 0, CL_EIO, "%s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return cl_errorf(CL_EIO, "%s: %s", path, strerror(errno));
	}
	int ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	ok = fflush(f) == 0 && fsync(fd) == 0 && ok;
	ok = fclose(f) == 0 && ok;
	if (!ok)
		unlink(path);
	return ok ? CL_OK : cl_errorf(CL_EIO, "%s: write failed", path);
}

static cl_err cmd_unwrap(const char *keyfile, const char *wrappedfile, const char *outfile, const char *expect)
{
	EVP_PKEY *user = NULL, *got = NULL;
	cl_buf in, wrapped, plain;
	char pub[256];
	cl_err err = CL_OK;
	cl_buf_init(&in, FILE_MAX);
	cl_buf_init(&wrapped, FILE_MAX);
	cl_buf_init(&plain, 64);
	if (!(user = load_private(keyfile))) {
		err = cl_errorf(CL_EINVAL, "%s: not a PEM private key", keyfile);
		goto out;
	}
	CL_GUARD_OUT(err, read_file(wrappedfile, &in));
	const char *s = (const char *)in.data;
	size_t n = in.len;
	if (n > 10 && memcmp(s, "ok export ", 10) == 0) { /* the whole answer line: its last word */
		const char *sp = memrchr(s, ' ', n);
		n -= (size_t)(sp + 1 - s);
		s = sp + 1;
	} else if (n > 6 && memcmp(s, "error ", 6) == 0) {
		err = cl_errorf(CL_EPERM, "the keystore refused: %.*s", (int)strcspn(s, "\n"), s);
		goto out;
	}
	CL_GUARD_OUT(err, unbase64(s, n, &wrapped, "the wrapped key"));
	CL_GUARD_OUT(err, cl_wrap_open_label(WRAP_LABEL, user, wrapped.data, wrapped.len, &plain));
	if (plain.len != 48) {
		err = cl_errorf(CL_ECRYPTO, "the unwrapped key is %zu bytes, not a P-384 scalar (48)", plain.len);
		goto out;
	}
	CL_GUARD_OUT(err, key_from_scalar(plain.data, &got));
	CL_GUARD_OUT(err, public_b64(got, pub, sizeof(pub)));
	if (expect && strcmp(expect, pub) != 0) {
		err = cl_errorf(CL_ECRYPTO, "the unwrapped key's public half is not the expected one");
		goto out;
	}
	if (outfile)
		CL_GUARD_OUT(err, write_pem(outfile, got));
	printf("public: %s\n", pub);
out:
	cl_buf_free(&plain); /* wipes */
	cl_buf_free(&wrapped);
	cl_buf_free(&in);
	EVP_PKEY_free(got);
	EVP_PKEY_free(user);
	return err;
}

static cl_err cmd_verify(const char *pub, const char *msgfile, const char *sig)
{
	cl_buf der, msg, s;
	EVP_PKEY *k = NULL;
	EVP_MD_CTX *md = NULL;
	cl_err err = CL_OK;
	cl_buf_init(&der, 4096);
	cl_buf_init(&msg, 16u << 20);
	cl_buf_init(&s, 4096);
	CL_GUARD_OUT(err, unbase64(pub, strlen(pub), &der, "--public"));
	CL_GUARD_OUT(err, unbase64(sig, strlen(sig), &s, "--signature"));
	CL_GUARD_OUT(err, read_file(msgfile, &msg));
	const unsigned char *p = der.data;
	if (!(k = d2i_PUBKEY(NULL, &p, (long)der.len)) || p != der.data + der.len) {
		err = cl_errorf(CL_EINVAL, "--public: not a DER SubjectPublicKeyInfo");
		goto out;
	}
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, k) != 1 ||
	    EVP_DigestVerify(md, s.data, s.len, msg.len ? msg.data : (const uint8_t *)"", msg.len) != 1)
		err = cl_errorf(CL_ECRYPTO, "the signature does not verify under that key");
	else
		printf("verified\n");
out:
	ERR_clear_error();
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	cl_buf_free(&der);
	cl_buf_free(&msg);
	cl_buf_free(&s);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"key", required_argument, NULL, 'k'},	   {"wrapped", required_argument, NULL, 'w'},
		{"out", required_argument, NULL, 'o'},	   {"expect-public", required_argument, NULL, 'e'},
		{"public", required_argument, NULL, 'p'},  {"message", required_argument, NULL, 'm'},
		{"signature", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *key = NULL, *wrapped = NULL, *out = NULL, *expect = NULL, *pub = NULL, *msg = NULL, *sig = NULL;
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	(void)CRYPTO_secure_malloc_init(32 * 1024, 32); /* the unwrapped scalar's BIGNUM: locked when it can be */
	const char *cmd = argv[1];
	optind = 2;
	for (int c; (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;) {
		switch (c) {
		case 'k': key = optarg; break;
		case 'w': wrapped = optarg; break;
		case 'o': out = optarg; break;
		case 'e': expect = optarg; break;
		case 'p': pub = optarg; break;
		case 'm': msg = optarg; break;
		case 's': sig = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	cl_err err;
	if (optind != argc)
		goto usage_error;
	if (strcmp(cmd, "unwrap") == 0 && key && wrapped && !pub && !msg && !sig)
		err = cmd_unwrap(key, wrapped, out, expect);
	else if (strcmp(cmd, "verify") == 0 && pub && msg && sig && !key && !wrapped && !out && !expect)
		err = cmd_verify(pub, msg, sig);
	else
		goto usage_error;
	if (err != CL_OK) {
		fprintf(stderr, "error: keystore-user %s: %s\n", cmd, cl_error_detail());
		return 1;
	}
	return 0;
usage_error:
	fputs(usage, stderr);
	return 2;
}
