/* cmd_enclave_provision.c — `cloister enclave provision`: provisioning only
 * after validation (docs/provisioning.md). A fresh document (random nonce)
 * is verified here, the bundle is encrypted to the public key inside that
 * very document, and only the ciphertext leaves this process: an upload,
 * then POST /v1/enclaves/{id}/provision, a job. Once the job succeeds a
 * second fresh document must show PCR7 = extend(0, SHA-384(tar)): what the
 * enclave installed is what was sent. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/cmd_enclave.h"
#include "common/buf.h"
#include "common/bundle.h"
#include "common/crypto.h"
#include "common/util.h"
#include "common/wrap.h"
#include "image/measure.h"

#define ROOT_MAX (64 * 1024)
#define NONCE_LEN 32

static const char provision_usage[] =
	"usage: cloister enclave provision ID --bundle TAR --expect-pcr N=HEX... [--root CA.pem]\n"
	"                                  [--timeout SECONDS] [--json]\n"
	"\n"
	"Provisions a bundle into an enclave created with --await-bundle, only after\n"
	"validating it (docs/provisioning.md): fetches a fresh attestation document\n"
	"(random nonce), verifies it (chain to the root, signature, every --expect-pcr,\n"
	"the nonce, module_id = ID, a P-384 public_key), encrypts the bundle to that\n"
	"document's public_key (ECDH P-384 + HKDF-SHA384 + AES-256-GCM), uploads the\n"
	"ciphertext and waits for the enclave to decrypt, check, install and run it.\n"
	"Then a second fresh document must show PCR7 = extend(0, SHA-384(tar)).\n"
	"Nothing is uploaded if any check fails.\n"
	"\n"
	"  --bundle TAR         a tar (ustar: regular files and directories only, at most\n"
	"                       64 MiB and 1024 entries) with an executable 'entrypoint'\n"
	"                       at its top\n"
	"  --expect-pcr N=HEX   a register the document must show (N 0..15, 96 hex\n"
	"                       digits; at least one; repeatable)\n"
	"  --root CA.pem        the root the document must chain to (default: the CA\n"
	"                       the CLI trusts for the control plane, --ca / config)\n"
	"  --timeout SECONDS    how long to wait for the installation (default 300)\n";

cl_err cl_cli_provision_check(const uint8_t *doc, size_t len, const cl_att_expect *e, const char *enclave_id,
			      uint8_t point[97], const char **check)
{
	cl_att_doc *d = NULL;
	enum cl_att_check failed = CL_ATT_CHECK_NONE;
	cl_err err;
	const char *dummy;
	if (!check)
		check = &dummy;
	*check = "format";
	if (!e->nonce || !e->nonce_len) {
		err = cl_errorf(CL_EINVAL, "provision: a fresh nonce is required");
		goto out;
	}
	if ((err = cl_att_parse(doc, len, &d)) != CL_OK) {
		err = cl_errorf(CL_ECRYPTO, "format: %s", cl_error_detail());
		goto out;
	}
	if ((err = cl_att_verify(d, e, &failed)) != CL_OK) {
		char why[256];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		*check = cl_att_check_name(failed);
		err = cl_errorf(CL_ECRYPTO, "%s: %s", *check, why);
		goto out;
	}
	if (strcmp(d->module_id, enclave_id) != 0) {
		*check = "module_id";
		err = cl_errorf(CL_ECRYPTO, "module_id: the document is for %.64s, not %s", d->module_id, enclave_id);
		goto out;
	}
	if (!d->f.public_key.p || cl_wrap_point(d->f.public_key.p, d->f.public_key.n, point) != CL_OK) {
		*check = "public_key";
		err = cl_errorf(CL_ECRYPTO, "public_key: the document carries no P-384 public key of the enclave "
					    "(was it created with --await-bundle?)");
		goto out;
	}
	*check = "none";
out:
	cl_att_doc_free(d);
	return err;
}

/* A fresh document of enclave id into doc (nonce: NONCE_LEN random bytes). */
static cl_err fetch_document(cl_cli_conn *c, const char *id, uint8_t nonce[NONCE_LEN], cl_buf *doc)
{
	char path[256], hex[2 * NONCE_LEN + 1];
	json_t *req = NULL, *resp = NULL;
	cl_err err;
	CL_GUARD(cl_random(nonce, NONCE_LEN));
	cl_hex_encode(nonce, NONCE_LEN, hex);
	snprintf(path, sizeof(path), "/v1/enclaves/%s/attestation", id);
	if (!(req = json_pack("{s:s}", "nonce", hex))) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_cli_call(c, "POST", path, req, &resp, NULL));
	const char *b64 = json_string_value(json_object_get(resp, "document"));
	cl_buf_reset(doc);
	if (!b64 || cl_base64_decode(b64, doc) != CL_OK || doc->len == 0)
		err = cl_errorf(CL_EPROTO, "the server's answer holds no document");
out:
	json_decref(req);
	json_decref(resp);
	return err;
}

static const char *env(const char *name)
{
	return getenv(name);
}

/* The root: --root, else the CA the CLI trusts. */
static cl_err load_root(const char *root, cl_buf *out)
{
	cl_cli_config cfg;
	if (root)
		return cl_cli_att_load_root(root, out);
	CL_GUARD(cl_cli_config_resolve(cl_cli_global(), env, getenv("HOME"), &cfg));
	cl_err err = cfg.ca ? cl_cli_att_load_root(cfg.ca, out)
			    : cl_errorf(CL_EINVAL, "no root to verify against: give --root CA.pem (or --ca)");
	cl_cli_config_free(&cfg);
	return err;
}

int cl_enclave_provision(int argc, char **argv)
{
	const char *bundle = NULL, *root = NULL, *timeout_s = NULL;
	const char *pcrs[CL_ATT_NPCRS];
	size_t npcrs = 0;
	const cl_cli_option opts[] = {
		{"bundle", CL_OPT_VALUE, .value = &bundle},
		{"expect-pcr", CL_OPT_MULTI, .values = pcrs, .max_values = CL_ATT_NPCRS, .count = &npcrs},
		{"root", CL_OPT_VALUE, .value = &root},
		{"timeout", CL_OPT_VALUE, .value = &timeout_s},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, provision_usage, &rc))
		return rc;
	if (npos != 1 || !cl_cli_valid_id(pos[0]))
		return cl_cli_usage("enclave provision: missing or invalid enclave ID");
	if (!bundle)
		return cl_cli_usage("enclave provision: --bundle is required");
	if (npcrs == 0)
		return cl_cli_usage("enclave provision: give at least one --expect-pcr N=HEX (what the enclave must run)");
	const char *id = pos[0];
	cl_att_expect e;
	uint64_t timeout = 300;
	memset(&e, 0, sizeof(e));
	cl_err err = cl_cli_att_parse_pcrs(pcrs, npcrs, "--expect-pcr", &e);
	if (err == CL_OK && timeout_s)
		err = cl_cli_parse_uint(timeout_s, 86400, &timeout);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);

	cl_buf tar, rootder, doc, ct;
	cl_cli_conn *c = NULL;
	json_t *body = NULL, *resp = NULL, *job = NULL;
	uint8_t nonce[NONCE_LEN], point[97], sha[CL_SHA384_LEN], pcr7[CL_PCR_LEN];
	char sha_hex[2 * CL_SHA384_LEN + 1], pcr7_hex[2 * CL_PCR_LEN + 1], path[256];
	const char *check = NULL;
	cl_buf_init(&tar, CL_BUNDLE_MAX);
	cl_buf_init(&rootder, ROOT_MAX);
	cl_buf_init(&doc, CL_ATT_DOC_MAX);
	cl_buf_init(&ct, CL_BUNDLE_MAX + CL_WRAP_OVERHEAD);
	if ((err = cl_file_read(bundle, CL_BUNDLE_MAX, &tar)) != CL_OK) {
		if (err == CL_ETOOBIG)
			err = cl_errorf(CL_ETOOBIG, "--bundle %s: too_large: a bundle is at most 64 MiB", bundle);
		goto out;
	}
	CL_GUARD_OUT(err, cl_sha384(tar.data, tar.len, sha));
	cl_hex_encode(sha, sizeof(sha), sha_hex);
	CL_GUARD_OUT(err, load_root(root, &rootder));
	e.root_der = rootder.data;
	e.root_len = rootder.len;
	e.now = time(NULL);
	e.nonce = nonce;
	e.nonce_len = NONCE_LEN;
	/* 1. a fresh document, verified; the key it carries */
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, fetch_document(c, id, nonce, &doc));
	if ((err = cl_cli_provision_check(doc.data, doc.len, &e, id, point, &check)) != CL_OK) {
		char why[300];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		err = cl_errorf(err, "the enclave's document failed the %s check, nothing was sent: %s", check, why);
		goto out;
	}
	/* 2. the bundle, encrypted to that key; only the ciphertext is sent */
	CL_GUARD_OUT(err, cl_wrap_seal_bundle(point, tar.data, tar.len, &ct));
	OPENSSL_cleanse(tar.data, tar.len);
	snprintf(path, sizeof(path), "/v1/enclaves/%s/provision", id);
	if (!(body = json_pack("{s:s}", "sha384", sha_hex))) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_cli_upload_submit(c, ct.data, ct.len, "POST", path, body, &resp));
	const char *job_id = json_string_value(json_object_get(json_object_get(resp, "job"), "id"));
	if (!job_id || !cl_cli_valid_id(job_id)) {
		err = cl_errorf(CL_EPROTO, "the server's answer names no job");
		goto out;
	}
	CL_GUARD_OUT(err, cl_cli_follow_job(c, job_id, "provision", (long)timeout * 1000, &job));
	/* 3. what it installed: PCR7 in a second fresh document */
	memset(pcr7, 0, sizeof(pcr7));
	cl_pcr_extend_digest(pcr7, sha);
	memcpy(e.pcr[CL_BUNDLE_REGISTER], pcr7, sizeof(pcr7));
	e.pcr_mask |= 1u << CL_BUNDLE_REGISTER;
	e.now = time(NULL);
	CL_GUARD_OUT(err, fetch_document(c, id, nonce, &doc));
	if ((err = cl_cli_provision_check(doc.data, doc.len, &e, id, point, &check)) != CL_OK) {
		char why[300];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		err = cl_errorf(err, "installed, but the enclave's new document failed the %s check: %s", check, why);
		goto out;
	}
	cl_hex_encode(pcr7, sizeof(pcr7), pcr7_hex);
	if (cl_cli_global()->json) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:I}", "enclave", id, "job", job_id, "pcr7", pcr7_hex, "bytes",
				      (json_int_t)ct.len);
		cl_cli_print_json(o);
		json_decref(o);
	} else {
		printf("provisioned %s: bundle sha384 %s\n", id, sha_hex);
		printf("PCR7 %s (verified in a fresh document)\n", pcr7_hex);
	}
out:
	if (tar.data)
		OPENSSL_cleanse(tar.data, tar.len);
	cl_buf_free(&tar);
	cl_buf_free(&rootder);
	cl_buf_free(&doc);
	cl_buf_free(&ct);
	json_decref(body);
	json_decref(resp);
	json_decref(job);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}
