/* cmd_attest.c — `cloister attest verify`: checks an attestation document
 * offline against a root certificate the caller trusts (src/attest), and
 * with --online asks the control plane whether the host's certificate is
 * still valid (GET /v1/ca/certificates/{serial}). docs/cli/attest-verify.md. */
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest/attest.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "common/buf.h"
#include "common/util.h"

#define ROOT_FILE_MAX (64 * 1024)
/* A document file: the raw CBOR, or the JSON `cloister enclave attest`
 * prints ({"document": base64, ...}), base64 being 4/3 larger. */
#define DOC_FILE_MAX (2 * CL_ATT_DOC_MAX)

static const char verify_usage[] =
	"usage: cloister attest verify FILE --root CA.pem [--pcr N=HEX]... [--nonce HEX] [--online] [--json]\n"
	"\n"
	"Verifies an attestation document (the raw CBOR `cloister enclave attest --out`\n"
	"writes, or the JSON it prints) against the root certificate you trust, in\n"
	"this order, and says which check failed:\n"
	"  format     the document is a well-formed COSE_Sign1 (docs/attestation.md)\n"
	"  root       its cabundle[0] is exactly the --root certificate\n"
	"  chain      root -> intermediate -> host leaf: signatures, dates, CA flags,\n"
	"             path length, key usage; the leaf a P-384 key that can only sign\n"
	"  signature  the COSE signature under the leaf's key\n"
	"  pcr        each --pcr N=HEX (N 0..15, 96 hex digits) equals the document's\n"
	"  nonce      the document carries the --nonce HEX (at most 512 bytes)\n"
	"  revoked    with --online: the control plane (--server) says the host's\n"
	"             certificate is valid (not revoked, not expired)\n"
	"\n"
	"Exit 0 and \"verified\" with a summary; exit 1 and\n"
	"\"attest verify: <check> failed: <detail>\"; exit 2 for a usage error.\n";

static const char attest_verbs[] = "usage: cloister attest VERB ...\n"
				   "\n"
				   "verbs:\n"
				   "  verify     check an attestation document (cloister attest verify FILE --root CA.pem)\n";

typedef struct verify_opts {
	const char *root, *nonce;
	const char *pcrs[CL_ATT_NPCRS];
	size_t npcrs;
	bool online, json;
} verify_opts;

/* The root certificate, PEM or DER, as DER into out. */
static cl_err load_root(const char *path, cl_buf *out);

cl_err cl_cli_att_load_root(const char *path, cl_buf *out)
{
	return load_root(path, out);
}

static cl_err load_root(const char *path, cl_buf *out)
{
	cl_buf file;
	cl_err err;
	X509 *x = NULL;
	unsigned char *der = NULL;
	cl_buf_init(&file, ROOT_FILE_MAX);
	CL_GUARD_OUT(err, cl_file_read(path, ROOT_FILE_MAX, &file));
	const unsigned char *p = file.data;
	if (file.len > 0 && file.data[0] == 0x30) {
		x = d2i_X509(NULL, &p, (long)file.len);
	} else {
		BIO *b = BIO_new_mem_buf(file.data, (int)file.len);
		x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	}
	int n = x ? i2d_X509(x, &der) : -1;
	if (n <= 0) {
		err = cl_errorf(CL_EINVAL, "--root %s: not a PEM or DER certificate", path);
		goto out;
	}
	CL_GUARD_OUT(err, cl_buf_put(out, der, (size_t)n));
out:
	OPENSSL_free(der);
	X509_free(x);
	cl_buf_free(&file);
	return err;
}

/* The document's bytes: the file as it is, or the base64 "document" of a
 * JSON object. */
static cl_err load_document(const char *path, cl_buf *doc)
{
	cl_buf file;
	cl_err err;
	json_t *j = NULL;
	cl_buf_init(&file, DOC_FILE_MAX);
	CL_GUARD_OUT(err, cl_file_read(path, DOC_FILE_MAX, &file));
	if (file.len == 0 || file.data[0] != '{') {
		CL_GUARD_OUT(err, cl_buf_put(doc, file.data, file.len));
		goto out;
	}
	j = json_loadb((const char *)file.data, file.len, 0, NULL);
	const char *b64 = json_string_value(json_object_get(j, "document"));
	if (!b64) {
		err = cl_errorf(CL_EINVAL, "%s: a JSON file must carry the document as \"document\" (base64)", path);
		goto out;
	}
	CL_GUARD_OUT(err, cl_base64_decode(b64, doc));
out:
	json_decref(j);
	cl_buf_free(&file);
	return err;
}

cl_err cl_cli_att_parse_pcrs(const char *const *pcrs, size_t npcrs, const char *flag, cl_att_expect *e)
{
	for (size_t i = 0; i < npcrs; i++) {
		const char *eq = strchr(pcrs[i], '=');
		uint64_t n;
		char idx[8];
		CL_ENSURE(eq && (size_t)(eq - pcrs[i]) < sizeof(idx), CL_EINVAL, "%s %s: expected N=HEX", flag, pcrs[i]);
		memcpy(idx, pcrs[i], (size_t)(eq - pcrs[i]));
		idx[eq - pcrs[i]] = '\0';
		CL_ENSURE(cl_cli_parse_uint(idx, CL_ATT_NPCRS - 1, &n) == CL_OK, CL_EINVAL,
			  "%s %s: the index must be 0..%d", flag, pcrs[i], CL_ATT_NPCRS - 1);
		CL_ENSURE(strlen(eq + 1) == 2 * CL_ATT_PCR_LEN && cl_hex_decode(eq + 1, e->pcr[n], CL_ATT_PCR_LEN) == CL_OK,
			  CL_EINVAL, "%s %s: the value must be %d hex digits", flag, idx, 2 * CL_ATT_PCR_LEN);
		CL_ENSURE(!(e->pcr_mask & (1u << n)), CL_EINVAL, "%s %s given twice", flag, idx);
		e->pcr_mask |= (uint16_t)(1u << n);
	}
	return CL_OK;
}

static cl_err parse_expect(const verify_opts *o, cl_att_expect *e, uint8_t *nonce, size_t *nonce_len)
{
	CL_GUARD(cl_cli_att_parse_pcrs(o->pcrs, o->npcrs, "--pcr", e));
	if (o->nonce) {
		size_t n = strlen(o->nonce);
		CL_ENSURE(n > 0 && n % 2 == 0 && n / 2 <= CL_ATT_NONCE_MAX && cl_hex_decode(o->nonce, nonce, n / 2) == CL_OK,
			  CL_EINVAL, "--nonce: expected 1..%d bytes of hex", CL_ATT_NONCE_MAX);
		e->nonce = nonce;
		*nonce_len = e->nonce_len = n / 2;
	}
	return CL_OK;
}

/* --online: the control plane's word on the leaf. CL_OK only for "valid";
 * the detail says why not. *answer gets the control plane's answer (the
 * caller's), NULL if there is none. */
static cl_err check_online(const char *serial, json_t **answer)
{
	cl_cli_conn *c = NULL;
	char path[96];
	cl_err err;
	*answer = NULL;
	err = cl_cli_connect(&c);
	if (err != CL_OK)
		return cl_cli_error_context(err, "revoked: no control plane to ask");
	snprintf(path, sizeof(path), "/v1/ca/certificates/%s", serial);
	err = cl_cli_call(c, "GET", path, NULL, answer, NULL);
	if (err == CL_ENOTFOUND) {
		err = cl_errorf(CL_ECRYPTO, "revoked: %s does not know certificate %s", cl_cli_conn_server(c), serial);
		goto out;
	}
	if (err != CL_OK) {
		err = cl_cli_error_context(err, "revoked: cannot ask %s about certificate %s", cl_cli_conn_server(c), serial);
		goto out;
	}
	const char *status = json_string_value(json_object_get(*answer, "status"));
	const char *reason = json_string_value(json_object_get(*answer, "reason"));
	if (!status || strcmp(status, "valid") != 0)
		err = cl_errorf(CL_ECRYPTO, "revoked: certificate %s is %s%s%s", serial, status ? status : "(no status)",
				reason ? ", reason " : "", reason ? reason : "");
out:
	cl_cli_conn_free(c);
	return err;
}

/* The leaf's subject CN (the host id), or "" if it has none. */
static void leaf_cn(const cl_att_doc *d, char *out, size_t n)
{
	const unsigned char *p = d->f.certificate.p;
	X509 *x = d2i_X509(NULL, &p, (long)d->f.certificate.n);
	out[0] = '\0';
	if (x && X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int)n) < 0)
		out[0] = '\0';
	X509_free(x);
}

static json_t *opt_b64(cl_att_bytes b)
{
	char *s = NULL;
	if (!b.p || cl_base64_encode(b.p, b.n, &s) != CL_OK)
		return json_null();
	json_t *j = json_string(s);
	free(s);
	return j;
}

static void print_summary(const cl_att_doc *d, const cl_att_expect *e, const char *serial, const char *host,
			  const json_t *online, bool as_json)
{
	char hex[2 * CL_ATT_NONCE_MAX + 1], when[32];
	time_t secs = (time_t)(d->f.timestamp_ms / 1000);
	struct tm tm;
	if (gmtime_r(&secs, &tm) == NULL || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		memcpy(when, "?", 2);
	json_t *o = json_object(), *pcrs = json_object(), *checked = json_array();
	for (int i = 0; i < CL_ATT_NPCRS; i++) {
		char k[4];
		snprintf(k, sizeof(k), "%d", i);
		cl_hex_encode(d->f.pcrs[i], CL_ATT_PCR_LEN, hex);
		json_object_set_new(pcrs, k, json_string(hex));
		if (e->pcr_mask & (1u << i))
			json_array_append_new(checked, json_integer(i));
	}
	json_object_set_new(o, "verified", json_true());
	json_object_set_new(o, "module_id", json_string(d->f.module_id));
	json_object_set_new(o, "timestamp", json_integer((json_int_t)d->f.timestamp_ms));
	json_object_set_new(o, "host", json_string(host));
	json_object_set_new(o, "certificate_serial", json_string(serial));
	json_object_set_new(o, "pcrs", pcrs);
	json_object_set_new(o, "pcrs_checked", checked);
	json_object_set_new(o, "nonce_checked", json_boolean(e->nonce != NULL));
	json_object_set_new(o, "online", online ? json_string("valid") : json_null());
	json_object_set_new(o, "public_key", opt_b64(d->f.public_key));
	json_object_set_new(o, "user_data", opt_b64(d->f.user_data));
	if (d->f.nonce.p)
		cl_hex_encode(d->f.nonce.p, d->f.nonce.n, hex);
	json_object_set_new(o, "nonce", d->f.nonce.p ? json_string(hex) : json_null());
	if (as_json) {
		cl_cli_print_json(o);
		json_decref(o);
		return;
	}
	printf("verified: %s on host %s\n", d->f.module_id, host[0] ? host : "(unnamed)");
	printf("  timestamp     %s (%llu ms)\n", when, (unsigned long long)d->f.timestamp_ms);
	printf("  certificate   serial %s, chain to the given root%s\n", serial,
	       online ? ", valid on the control plane" : " (revocation not checked: --online)");
	for (int i = 0; i < CL_ATT_NPCRS; i++) {
		static const uint8_t zero[CL_ATT_PCR_LEN];
		if (memcmp(d->f.pcrs[i], zero, CL_ATT_PCR_LEN) == 0 && !(e->pcr_mask & (1u << i)))
			continue;
		cl_hex_encode(d->f.pcrs[i], CL_ATT_PCR_LEN, hex);
		char label[32];
		snprintf(label, sizeof(label), "PCR%d%s", i, e->pcr_mask & (1u << i) ? " (match)" : "");
		printf("  %-13s %s\n", label, hex);
	}
	printf("  nonce         %s\n", e->nonce ? "matches" : d->f.nonce.p ? "present, not checked (--nonce)" : "none");
	printf("  public_key    %s\n", d->f.public_key.p ? "present" : "none");
	printf("  user_data     %s\n", d->f.user_data.p ? "present" : "none");
	json_decref(o);
}

/* "attest verify: <check> failed: <detail without its 'check: ' prefix>". */
static int refused(enum cl_att_check chk)
{
	const char *name = cl_att_check_name(chk), *detail = cl_error_detail();
	size_t n = strlen(name);
	if (strncmp(detail, name, n) == 0 && detail[n] == ':' && detail[n + 1] == ' ')
		detail += n + 2;
	char copy[1024];
	snprintf(copy, sizeof(copy), "%s", detail);
	return cl_cli_fail(cl_errorf(CL_ECRYPTO, "attest verify: %s failed: %s", name, copy));
}

static int attest_verify(int argc, char **argv)
{
	verify_opts o = {0};
	const char *pos[1];
	size_t npos;
	int rc;
	const cl_cli_option opts[] = {
		{"root", CL_OPT_VALUE, .value = &o.root},
		{"pcr", CL_OPT_MULTI, .values = o.pcrs, .max_values = CL_ATT_NPCRS, .count = &o.npcrs},
		{"nonce", CL_OPT_VALUE, .value = &o.nonce},
		{"online", CL_OPT_FLAG, .flag = &o.online},
		{"json", CL_OPT_FLAG, .flag = &o.json},
		{0},
	};
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, verify_usage, &rc))
		return rc;
	o.json = o.json || cl_cli_global()->json;
	if (npos != 1 || !o.root)
		return cl_cli_usage("usage: cloister attest verify FILE --root CA.pem [--pcr N=HEX]... [--nonce HEX] "
				    "[--online] [--json]");
	cl_att_expect e = {.now = time(NULL)};
	uint8_t nonce[CL_ATT_NONCE_MAX];
	size_t nonce_len = 0;
	cl_err err = parse_expect(&o, &e, nonce, &nonce_len);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);

	cl_buf root, doc;
	cl_att_doc *d = NULL;
	json_t *online = NULL;
	enum cl_att_check chk = CL_ATT_CHECK_NONE;
	char serial[41] = "", host[256];
	cl_buf_init(&root, ROOT_FILE_MAX);
	cl_buf_init(&doc, DOC_FILE_MAX);
	rc = CL_CLI_EXIT_FAIL;
	if ((err = load_root(o.root, &root)) != CL_OK || (err = load_document(pos[0], &doc)) != CL_OK) {
		rc = cl_cli_fail(err);
		goto out;
	}
	e.root_der = root.data;
	e.root_len = root.len;
	if (cl_att_parse(doc.data, doc.len, &d) != CL_OK) {
		rc = refused(CL_ATT_CHECK_FORMAT);
		goto out;
	}
	err = cl_att_verify(d, &e, &chk);
	if (err == CL_ECRYPTO) {
		rc = refused(chk);
		goto out;
	}
	if (err != CL_OK || (err = cl_att_leaf_serial(d, serial)) != CL_OK) {
		rc = cl_cli_fail(err);
		goto out;
	}
	if (o.online && (err = check_online(serial, &online)) != CL_OK) {
		rc = refused(CL_ATT_CHECK_REVOKED); /* fails closed: no answer is no "valid" */
		goto out;
	}
	leaf_cn(d, host, sizeof(host));
	print_summary(d, &e, serial, host, online, o.json);
	rc = 0;
out:
	json_decref(online);
	cl_att_doc_free(d);
	cl_buf_free(&root);
	cl_buf_free(&doc);
	return rc;
}

int cl_cmd_attest(int argc, char **argv)
{
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		fputs(attest_verbs, argc < 1 ? stderr : stdout);
		return argc < 1 ? cl_cli_usage("missing verb (verify)") : 0;
	}
	if (strcmp(argv[0], "verify") == 0)
		return attest_verify(argc - 1, argv + 1);
	return cl_cli_usage("unknown verb 'attest %s' (expected: verify)", argv[0]);
}
