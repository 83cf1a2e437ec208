/* cmd_enclave_attest.c — `cloister enclave attest`: an attestation document
 * for an enclave (POST /v1/enclaves/{id}/attestation), signed by its host's
 * attestation key; `cloister enclave measure`: the same document after the
 * host measured the running enclave's code into PCR5
 * (POST /v1/enclaves/{id}/measure). Verifying either is `cloister attest
 * verify` (cmd_attest.c). */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_enclave.h"
#include "common/buf.h"
#include "common/util.h"

#define NONCE_MAX 512     /* bytes, as the control plane caps them */
#define USER_DATA_MAX 512
#define PUBKEY_MAX 1024 /* bytes, as the control plane caps them */
#define DOC_MAX (64u * 1024)

static const char attest_usage[] =
	"usage: cloister enclave attest ID [--nonce HEX] [--user-data B64]\n"
	"                               [--public-key B64 | --public-key-file PEM] [--out FILE] [--json]\n"
	"\n"
	"Asks the enclave's host for an attestation document: a COSE_Sign1 laid out\n"
	"like an AWS Nitro Enclaves document (docs/attestation.md), signed by the\n"
	"host's attestation key, whose certificate chains to `cloister ca get`.\n"
	"Attestation is public by default: the enclave's policy may require its\n"
	"access key (--access-key) for the action `attest`.\n"
	"\n"
	"  --nonce HEX        a fresh nonce (1..512 bytes as hex) the document carries\n"
	"  --user-data B64    up to 512 bytes (base64) the document carries\n"
	"  --public-key B64   up to 1024 bytes (base64) the document carries as public_key\n"
	"  --public-key-file PEM\n"
	"                     a PEM public (or private) key: the document carries its\n"
	"                     DER SubjectPublicKeyInfo as public_key\n"
	"  -o, --out FILE     write the raw document (CBOR) to FILE\n"
	"  --json             print {\"document\": base64}\n"
	"\n"
	"Without --out the document is printed as {\"document\": base64}. Check it with\n"
	"`cloister attest verify FILE --root root.pem --nonce HEX`.\n";

static const char measure_usage[] =
	"usage: cloister enclave measure ID [--nonce HEX] [--user-data B64] [--out FILE] [--json]\n"
	"\n"
	"Has the enclave's host measure the running enclave: it pauses it (at most\n"
	"10 s), hashes the executable mappings of every process in it, resumes it,\n"
	"and returns an attestation document whose PCR5 (\"runtime code\",\n"
	"docs/measurements.md) holds the result; the other registers are the\n"
	"launch's. The same unchanged enclave gives the same PCR5; code loaded or\n"
	"replaced since changes it. Not public by default: it needs the access key\n"
	"(--access-key) unless the enclave's policy allows `measure`.\n"
	"\n"
	"  --nonce HEX        a fresh nonce (1..512 bytes as hex) the document carries\n"
	"  --user-data B64    up to 512 bytes (base64) the document carries\n"
	"  -o, --out FILE     write the raw document (CBOR) to FILE\n"
	"  --json             print {\"document\": base64}\n"
	"\n"
	"Without --out the document is printed as {\"document\": base64}. Check it with\n"
	"`cloister attest verify FILE --root root.pem --nonce HEX --pcr 5=HEX`.\n";

cl_err cl_cli_pubkey_file_b64(const char *path, char **b64)
{
	cl_buf f;
	BIO *b = NULL;
	EVP_PKEY *k = NULL;
	unsigned char *der = NULL;
	int n = 0;
	cl_err err;
	*b64 = NULL;
	cl_buf_init(&f, 64 * 1024);
	CL_GUARD_OUT(err, cl_file_read(path, 64 * 1024, &f));
	if ((b = BIO_new_mem_buf(f.data, (int)f.len)))
		k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	if (!k && b && BIO_reset(b) == 1)
		k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	if (!k || (n = i2d_PUBKEY(k, &der)) <= 0 || n > PUBKEY_MAX) {
		err = cl_errorf(CL_EINVAL, "%s: not a PEM public or private key (of at most %d bytes DER)", path,
				PUBKEY_MAX);
		goto out;
	}
	err = cl_base64_encode(der, (size_t)n, b64);
out:
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	BIO_free(b);
	ERR_clear_error();
	if (f.data)
		explicit_bzero(f.data, f.len);
	cl_buf_free(&f);
	return err;
}

/* Checks the options as the control plane would, before anything is sent. */
static cl_err check(const char *nonce, const char *user_data)
{
	if (nonce) {
		size_t n = strlen(nonce);
		uint8_t b;
		bool hex = n > 0 && n % 2 == 0 && n <= 2 * NONCE_MAX;
		for (size_t i = 0; hex && i < n; i += 2) {
			char two[3] = {nonce[i], nonce[i + 1], 0};
			hex = cl_hex_decode(two, &b, 1) == CL_OK;
		}
		CL_ENSURE(hex, CL_EINVAL, "--nonce must be hex of 1..%d bytes", NONCE_MAX);
	}
	if (user_data) {
		cl_buf b;
		cl_buf_init(&b, USER_DATA_MAX);
		cl_err e = cl_base64_decode(user_data, &b);
		cl_buf_free(&b);
		CL_ENSURE(e == CL_OK, CL_EINVAL, "--user-data must be base64 of at most %d bytes", USER_DATA_MAX);
	}
	return CL_OK;
}

/* `enclave NAME`: POST /v1/enclaves/{id}/VERB, the document to --out or stdout. */
static int doc_cmd(int argc, char **argv, const char *name, const char *verb, const char *usage)
{
	const char *nonce = NULL, *user_data = NULL, *out = NULL, *public_key_file = NULL;
	const char *public_key_arg = NULL;
	char *public_key = NULL;
	const cl_cli_option opts[] = {
		{"public-key", CL_OPT_VALUE, .value = &public_key_arg},
		{"public-key-file", CL_OPT_VALUE, .value = &public_key_file},
		{"nonce", CL_OPT_VALUE, .value = &nonce},
		{"user-data", CL_OPT_VALUE, .value = &user_data},
		{"out", CL_OPT_VALUE, .value = &out, .short_name = 'o'},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, usage, &rc))
		return rc;
	if (npos != 1)
		return cl_cli_usage("enclave %s: missing enclave ID", name);
	if (!cl_cli_valid_id(pos[0]))
		return cl_cli_usage("enclave %s: invalid enclave ID '%s'", name, pos[0]);
	cl_err err = check(nonce, user_data);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if (public_key_arg && public_key_file)
		return cl_cli_usage("enclave %s: give at most one of --public-key and --public-key-file", name);
	if (public_key_file && (err = cl_cli_pubkey_file_b64(public_key_file, &public_key)) != CL_OK)
		return cl_cli_fail(err);
	if (public_key_arg && !(public_key = strdup(public_key_arg)))
		return cl_cli_fail(CL_ENOMEM);
	cl_cli_conn *c = NULL;
	json_t *req = json_object(), *resp = NULL;
	char path[256];
	cl_buf doc;
	cl_buf_init(&doc, DOC_MAX);
	if (!req || (nonce && json_object_set_new(req, "nonce", json_string(nonce)) != 0) ||
	    (user_data && json_object_set_new(req, "user_data", json_string(user_data)) != 0) ||
	    (public_key && json_object_set_new(req, "public_key", json_string(public_key)) != 0)) {
		err = CL_ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "/v1/enclaves/%s/%s", pos[0], verb);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", path, req, &resp, NULL));
	const char *b64 = json_string_value(json_object_get(resp, "document"));
	if (!b64 || cl_base64_decode(b64, &doc) != CL_OK || doc.len == 0) {
		err = cl_errorf(CL_EPROTO, "the server's answer holds no document");
		goto out;
	}
	if (out) {
		CL_GUARD_OUT(err, cl_file_write_atomic(out, doc.data, doc.len, 0644));
		if (cl_cli_global()->json) {
			json_t *o = json_pack("{s:s,s:I}", "file", out, "bytes", (json_int_t)doc.len);
			cl_cli_print_json(o);
			json_decref(o);
		} else {
			printf("wrote %s (%zu bytes)\n", out, doc.len);
		}
	} else {
		cl_cli_print_json(resp);
	}
out:
	free(public_key);
	cl_buf_free(&doc);
	json_decref(req);
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_enclave_attest(int argc, char **argv)
{
	return doc_cmd(argc, argv, "attest", "attestation", attest_usage);
}

int cl_enclave_measure(int argc, char **argv)
{
	return doc_cmd(argc, argv, "measure", "measure", measure_usage);
}
