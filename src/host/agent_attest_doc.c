/* agent_attest_doc.c — the attest op: an enclave's attestation document,
 * built by attest/attest.h and signed by the key holder's attestation key
 * (agent_attest.h), for the control plane's op and the enclave's own secure
 * module; and the measure op: the same document with PCR5 measured from the
 * running enclave (agent_rtm.h). Runs on the ops engine; the waits are the
 * key holder's signature, bounded by the key provider, and a measure's
 * pause, bounded by CL_RTM_PAUSE_MS. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attest/attest.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent_attest.h"
#include "host/agent_pcrs.h"
#include "host/agent_rtm.h"
#include "sandbox/sandbox.h"

/* The key holder signs through cl_agent_att_keys; ctx is the keys. */
static cl_err sign_cb(void *ctx, const uint8_t digest[CL_ATT_DIGEST_LEN], uint8_t sig[CL_ATT_SIG_LEN])
{
	const cl_agent_att_keys *k = ctx;
	return k->sign(k->ctx, digest, sig);
}

static json_t *failure(const cl_agent_op *op, const char *reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static json_t *failure(const cl_agent_op *op, const char *reason, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *r = json_pack("{s:s, s:b, s:s}", "op", op->op, "ok", 0, "error", msg);
	if (r && reason && json_object_set_new(r, "reason", json_string(reason)) != 0) {
		json_decref(r);
		r = NULL;
	}
	return r;
}

static cl_att_bytes opt_bytes(bool has, const uint8_t *p, size_t n)
{
	return has ? (cl_att_bytes){p, n} : (cl_att_bytes){NULL, 0};
}

/* The enclave runs here: its sandbox directory exists (the registers alone
 * may be a launch's, written just before its sandbox). */
static bool enclave_here(const char *dir, const char *id)
{
	char path[4096];
	struct stat st;
	return snprintf(path, sizeof(path), "%s/sandboxes/%s", dir, id) < (int)sizeof(path) && stat(path, &st) == 0 &&
	       S_ISDIR(st.st_mode);
}

cl_err cl_agent_att_document(cl_agent_att *a, const char *dir, const char *enclave, const cl_agent_att_args *args,
			     bool measure, uint8_t **doc, size_t *len)
{
	cl_agent_att_chain ch;
	cl_pcrs pcrs;
	cl_att_fields f;
	cl_err err;
	*doc = NULL;
	*len = 0;
	CL_ENSURE(enclave_here(dir, enclave), CL_ENOTFOUND, "enclave %s does not run on this host", enclave);
	CL_ENSURE(cl_agent_pcrs_load(dir, enclave, &pcrs) == CL_OK, CL_ENOTFOUND,
		  "enclave %s: no measurements recorded at its launch", enclave);
	if ((err = cl_agent_att_chain_get(a, &ch)) != CL_OK)
		return err == CL_ENOTFOUND ? cl_errorf(CL_EUNAVAIL, "this host has no attestation certificate yet") : err;
	/* measure: PCR5 from the enclave's code now (the launch leaves it zero) */
	if (measure && (err = cl_agent_rtm_enclave(dir, enclave, pcrs.v[CL_RTM_PCR])) != CL_OK) {
		cl_warn("enclave not measured id=%s err=\"%s\"", enclave, cl_error_detail());
		cl_agent_att_chain_free(&ch);
		return cl_errorf(CL_EINTERNAL, "measure: %s", cl_error_detail());
	}
	memset(&f, 0, sizeof(f));
	f.module_id = enclave;
	f.timestamp_ms = cl_now_wall_ms();
	_Static_assert(sizeof(f.pcrs) == sizeof(pcrs.v), "register layout");
	memcpy(f.pcrs, pcrs.v, sizeof(f.pcrs));
	f.certificate = (cl_att_bytes){ch.leaf, ch.leaf_len};
	for (size_t i = 0; i < ch.n && i < CL_ATT_CABUNDLE_MAX; i++)
		f.cabundle[f.ncabundle++] = (cl_att_bytes){ch.bundle + ch.off[i], ch.len[i]};
	f.public_key = opt_bytes(args->has_public_key, args->public_key, args->public_key_len);
	f.user_data = opt_bytes(args->has_user_data, args->user_data, args->user_data_len);
	f.nonce = opt_bytes(args->has_nonce, args->nonce, args->nonce_len);
	err = cl_att_build(&f, sign_cb, (void *)cl_agent_att_keys_of(a), doc, len);
	if (err != CL_OK)
		cl_warn("attestation document not made enclave=%s err=\"%s\"", enclave, cl_error_detail());
	cl_agent_att_chain_free(&ch);
	return err;
}

json_t *cl_agent_att_op(void *ctx, const char *dir, const cl_agent_op *op)
{
	cl_agent_att *a = ctx;
	uint8_t *doc = NULL;
	size_t len = 0;
	char *b64 = NULL;
	json_t *res = NULL;
	if (!op->att)
		return failure(op, NULL, "%s", "attest: no arguments");
	/* Asked for from outside, without a key (outside callers never give one):
	 * the enclave's own, its init's KEY, for an enclave that awaits a bundle
	 * (docs/provisioning.md). The secure module's requests keep theirs. */
	cl_agent_att_args *args = malloc(sizeof(*args));
	if (!args)
		return failure(op, NULL, "%s", "out of memory");
	*args = *op->att;
	_Static_assert(sizeof(args->public_key) >= 97, "a P-384 point fits");
	if (!args->has_public_key && cl_sandbox_key(dir, op->enclave, args->public_key) == CL_OK) {
		args->has_public_key = true;
		args->public_key_len = 97;
	}
	cl_error_clear();
	cl_err err = cl_agent_att_document(a, dir, op->enclave, args, op->kind == CL_OP_MEASURE, &doc, &len);
	explicit_bzero(args, sizeof(*args));
	free(args);
	if (err == CL_EUNAVAIL)
		return failure(op, "no_certificate", "%s", "this host has no attestation certificate yet");
	if (err == CL_ENOMEM)
		return failure(op, NULL, "%s", "out of memory");
	if (err == CL_ENOTFOUND)
		return failure(op, NULL, "%s", cl_error_detail());
	if (err != CL_OK)
		return failure(op, NULL, "%s%s", op->kind == CL_OP_MEASURE ? "" : "attest: ", cl_error_detail());
	if (cl_base64_encode(doc, len, &b64) != CL_OK ||
	    !(res = json_pack("{s:s, s:b, s:s}", "op", op->op, "ok", 1, "data", b64)))
		res = failure(op, NULL, "%s", "out of memory");
	free(b64);
	free(doc);
	return res;
}
