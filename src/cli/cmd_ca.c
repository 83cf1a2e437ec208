/* cmd_ca.c — `cloister ca get`: the provider's root certificate (or the
 * hosts intermediate), what verifiers of attestation documents trust. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/buf.h"
#include "common/util.h"

#define CA_PEM_MAX (64u * 1024)

static const char get_usage[] =
	"usage: cloister ca get [-o FILE] [--hosts] [--json]\n"
	"\n"
	"Fetches the control plane's root certificate (GET /v1/ca): the root that\n"
	"attestation documents chain to (`cloister attest verify --root FILE`).\n"
	"\n"
	"  -o, --out FILE   write the PEM to FILE (0644, replaced atomically) and print\n"
	"                   its SHA-256 fingerprint; default: the PEM on stdout\n"
	"  --hosts          the hosts intermediate CA instead (GET /v1/ca/hosts)\n"
	"  --json           print {\"pem\", \"subject\", \"sha256\", \"not_after\"}\n"
	"\n"
	"The answer comes over the TLS connection the CLI already trusts (--ca):\n"
	"compare the fingerprint with one published out of band before trusting a\n"
	"new root.\n";

/* Subject, SHA-256 fingerprint (AA:BB:..) and end of the PEM certificate. */
static cl_err describe(const cl_buf *pem, char *subject, size_t sn, char *fp, size_t fn, char *end, size_t en)
{
	BIO *b = BIO_new_mem_buf(pem->data, (int)pem->len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	cl_err err = CL_OK;
	BIO *e = NULL;
	if (!x || X509_digest(x, EVP_sha256(), md, &mdlen) != 1) {
		err = cl_errorf(CL_EPROTO, "the server's answer is not a PEM certificate");
		goto out;
	}
	X509_NAME_oneline(X509_get_subject_name(x), subject, (int)sn);
	fp[0] = '\0';
	for (unsigned i = 0; i < mdlen && (i + 1) * 3 <= fn; i++)
		snprintf(fp + 3 * i, fn - 3 * i, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
	char *p = NULL;
	long n = 0;
	if ((e = BIO_new(BIO_s_mem())) && ASN1_TIME_print(e, X509_get0_notAfter(x)) == 1)
		n = BIO_get_mem_data(e, &p);
	snprintf(end, en, "%.*s", (int)n, p ? p : "");
out:
	BIO_free(e);
	X509_free(x);
	BIO_free(b);
	return err;
}

static int ca_get(int argc, char **argv)
{
	const char *out = NULL;
	bool hosts = false;
	const cl_cli_option opts[] = {
		{"out", CL_OPT_VALUE, .value = &out, .short_name = 'o'},
		{"hosts", CL_OPT_FLAG, .flag = &hosts},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, get_usage, &rc))
		return rc;
	cl_cli_conn *c = NULL;
	cl_buf pem;
	char subject[256], fp[100], end[64];
	cl_err err;
	cl_buf_init(&pem, CA_PEM_MAX);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_get_bytes(c, hosts ? "/v1/ca/hosts" : "/v1/ca", &pem));
	CL_GUARD_OUT(err, describe(&pem, subject, sizeof(subject), fp, sizeof(fp), end, sizeof(end)));
	if (out)
		CL_GUARD_OUT(err, cl_file_write_atomic(out, pem.data, pem.len, 0644));
	if (cl_cli_global()->json) {
		json_t *o = json_pack("{s:s%,s:s,s:s,s:s}", "pem", (const char *)pem.data, pem.len, "subject", subject,
				      "sha256", fp, "not_after", end);
		if (o && out)
			json_object_set_new(o, "file", json_string(out));
		cl_cli_print_json(o);
		json_decref(o);
	} else if (out) {
		printf("wrote %s: %s\nsha256 %s\nnot after %s\n", out, subject, fp, end);
	} else if (fwrite(pem.data, 1, pem.len, stdout) != pem.len || fflush(stdout) != 0) {
		err = cl_errorf(CL_EIO, "writing stdout failed");
	}
out:
	cl_buf_free(&pem);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_cmd_ca(int argc, char **argv)
{
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		FILE *f = argc < 1 ? stderr : stdout;
		fputs("usage: cloister ca <verb> [options]   (--help after a verb for details)\n\n"
		      "  get       fetch the provider's root certificate (or the hosts CA)\n",
		      f);
		return argc < 1 ? cl_cli_usage("missing verb") : 0;
	}
	if (strcmp(argv[0], "get") == 0)
		return ca_get(argc - 1, argv + 1);
	return cl_cli_usage("unknown verb 'ca %s' (see cloister ca --help)", argv[0]);
}
