/* cmd_enclave_attest.c — `cloister enclave attest`: an attestation document
 * for an enclave (POST /v1/enclaves/{id}/attestation), signed by its host's
 * attestation key; `cloister enclave measure`: the same document after the
 * host measured the running enclave's code into PCR5
 * (POST /v1/enclaves/{id}/measure). Verifying either is `cloister attest
 * verify` (cmd_attest.c). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_enclave.h"
#include "common/buf.h"
#include "common/util.h"

#define NONCE_MAX 512     /* bytes, as the control plane caps them */
#define DOC_MAX (64u * 1024)

static const char attest_usage[] =
	"usage: cloister enclave attest ID [--nonce HEX] [--out FILE] [--json]\n"
	"\n"
	"Asks the enclave's host for an attestation document: a COSE_Sign1 laid out\n"
	"like an AWS Nitro Enclaves document (docs/attestation.md), signed by the\n"
	"host's attestation key, whose certificate chains to `cloister ca get`.\n"
	"Attestation is public by default: the enclave's policy may require its\n"
	"access key (--access-key) for the action `attest`.\n"
	"\n"
	"  --nonce HEX        a fresh nonce (1..512 bytes as hex) the document carries\n"
	"  -o, --out FILE     write the raw document (CBOR) to FILE\n"
	"  --json             print {\"document\": base64}\n"
	"\n"
	"A document's public_key and user_data are chosen only by the enclave itself\n"
	"(its /dev/cloister/nsm.sock, libcloister-enclave: docs/sdk.md), never from\n"
	"outside. Without --out the document is printed as {\"document\": base64}.\n"
	"Check it with `cloister attest verify FILE --root root.pem --nonce HEX`.\n";

static const char measure_usage[] =
	"usage: cloister enclave measure ID [--nonce HEX] [--out FILE] [--json]\n"
	"\n"
	"Has the enclave's host measure the running enclave: it pauses it (at most\n"
	"10 s), hashes the executable mappings of every process in it and the files\n"
	"its init reports as its code and data (the image's, the bundle's), resumes\n"
	"it, and returns an attestation document whose PCR5 (\"runtime code and\n"
	"data\", docs/measurements.md) holds the result; the other registers are the\n"
	"launch's. The same unchanged enclave gives the same PCR5; code loaded or\n"
	"replaced, or a listed file changed, since changes it. Not public by\n"
	"default: it needs the access key (--access-key) unless the enclave's\n"
	"policy allows `measure`.\n"
	"\n"
	"  --nonce HEX        a fresh nonce (1..512 bytes as hex) the document carries\n"
	"  -o, --out FILE     write the raw document (CBOR) to FILE\n"
	"  --json             print {\"document\": base64}\n"
	"\n"
	"Without --out the document is printed as {\"document\": base64}. Check it with\n"
	"`cloister attest verify FILE --root root.pem --nonce HEX --pcr 5=HEX`.\n";

/* Checks the options as the control plane would, before anything is sent. */
static cl_err check(const char *nonce)
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
	return CL_OK;
}

/* `enclave NAME`: POST /v1/enclaves/{id}/VERB, the document to --out or stdout. */
static int doc_cmd(int argc, char **argv, const char *name, const char *verb, const char *usage)
{
	const char *nonce = NULL, *out = NULL;
	const cl_cli_option opts[] = {
		{"nonce", CL_OPT_VALUE, .value = &nonce},
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
	cl_err err = check(nonce);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	cl_cli_conn *c = NULL;
	json_t *req = json_object(), *resp = NULL;
	char path[256];
	cl_buf doc;
	cl_buf_init(&doc, DOC_MAX);
	if (!req || (nonce && json_object_set_new(req, "nonce", json_string(nonce)) != 0)) {
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
