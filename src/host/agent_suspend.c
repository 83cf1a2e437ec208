/* agent_suspend.c — the suspend and restore ops (docs/suspend.md), each on
 * a thread of its own like a provision (agent_provision.c): the engine
 * hands over a copy of what it needs and is done with the op; the thread
 * posts its result.
 *
 * Suspend: KEYGEN (init-bundle's fresh key) -> a fresh document with the
 * op's nonce and that key -> POST .../ops/{op}/state-key -> {n, wrapped}
 * -> SUSPEND(n, wrapped): the application stopped, the sealed blob streamed
 * out -> PUT .../ops/{op}/data in chunks, the last one naming its length
 * and SHA-384: the control plane commits. Only then is the enclave gone
 * (its next sync answer no longer desires it: reconcile removes the
 * sandbox). Anything failing before the commit resumes the application.
 *
 * Restore: the sandbox launched awaiting a restore (the sync answer's
 * await_restore) shows init-bundle's key -> a fresh document -> state-key
 * -> {n, wrapped} -> GET .../ops/{op}/data (checked against the op) ->
 * RESTORE, STATE..., STATE_END: init-bundle opens it (tag first) into
 * /tmp, init starts the entrypoint and replays the PCR7 extend the blob
 * carries (EXTEND, kept by the shim) -> recorded in the registers as a
 * provisioning's -> the op's answer is the enclave's PCR7 (the control
 * plane compares it with the suspend's).
 *
 * The agent only ever holds the wrapped key and the ciphertext.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/crypto.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/proto.h"
#include "common/util.h"
#include "host/agent_ops_internal.h"
#include "host/agent_pcrs.h"
#include "host/agent_state.h"
#include "sandbox/sandbox.h"

#define ST_HTTP_TIMEOUT_MS 120000L
#define ST_KEYGEN_MS 10000u
#define ST_MOVE_MS 240000u       /* a 64 MiB state sealed or opened, through init and the shim */
#define ST_AWAIT_MS 120000ull     /* a restore's sandbox launched (image fetched, measured) */
#define ST_CHUNK CL_PROTO_BODY_MAX /* one PUT's body: the control plane's cap */
#define ST_BLOB_MAX ((66ull << 20) + 4096ull)
#define ST_WRAPPED_MAX 512

typedef struct st_job {
	ops_job_conn c;
	char op[CL_AGENT_ID_MAX], enclave[CL_AGENT_ID_MAX];
	enum cl_agent_op_kind kind;
	cl_agent_state_args args;
	cl_agent_attest_fn attest;
	void *attest_ctx;
	uint64_t deadline_ns;
} st_job;

static void job_free(st_job *j)
{
	if (!j)
		return;
	ops_job_conn_free(&j->c);
	explicit_bzero(j, sizeof(*j));
	free(j);
}

/* A fresh document of the enclave with the op's nonce and point as its
 * public_key, base64 into *doc (malloc'd). */
static cl_err document(const st_job *j, const uint8_t point[97], char **doc)
{
	cl_agent_att_args args;
	cl_agent_op op;
	memset(&args, 0, sizeof(args));
	memset(&op, 0, sizeof(op));
	args.has_nonce = args.has_public_key = true;
	args.nonce_len = CL_AGENT_STATE_NONCE_LEN;
	memcpy(args.nonce, j->args.nonce, CL_AGENT_STATE_NONCE_LEN);
	args.public_key_len = 97;
	memcpy(args.public_key, point, 97);
	snprintf(op.op, sizeof(op.op), "%s", j->op);
	snprintf(op.enclave, sizeof(op.enclave), "%s", j->enclave);
	op.kind = CL_OP_ATTEST;
	op.att = &args;
	CL_ENSURE(j->attest, CL_EUNAVAIL, "this host cannot attest");
	json_t *res = j->attest(j->attest_ctx, j->c.dir, &op);
	const char *data = json_string_value(json_object_get(res, "data"));
	cl_err err = CL_OK;
	if (!json_is_true(json_object_get(res, "ok")) || !data)
		err = cl_errorf(CL_EUNAVAIL, "document: %s",
				json_string_value(json_object_get(res, "error")) ? json_string_value(json_object_get(res, "error"))
										  : "none");
	else if (!(*doc = strdup(data)))
		err = CL_ENOMEM;
	json_decref(res);
	return err;
}

/* POST .../state-key {document}: payload = u64 BE n ‖ wrapped K_n into
 * payload (ST_WRAPPED_MAX + 8), *plen; *n. A refusal: CL_EPERM with the
 * control plane's "reason: message" (it failed the job itself). */
static cl_err state_key(cl_http_client *http, const st_job *j, const char *doc, uint8_t *payload, uint32_t *plen,
			int64_t *n)
{
	char path[256];
	long status = 0;
	cl_buf resp, w;
	json_t *body = json_pack("{s:s}", "document", doc), *ans = NULL;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	cl_err err = CL_OK;
	cl_buf_init(&resp, 64 << 10);
	cl_buf_init(&w, ST_WRAPPED_MAX);
	snprintf(path, sizeof(path), "/v1/hosts/%s/ops/%s/state-key", j->c.host_id, j->op);
	if (!text) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, cl_http_request(http, "POST", path, NULL, text, strlen(text), "application/json", &status,
					  &resp));
	ans = json_loadb((const char *)resp.data, resp.len, 0, NULL);
	if (status != 200) {
		json_t *e = json_object_get(ans, "error");
		const char *reason = json_string_value(json_object_get(e, "reason"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		err = cl_errorf(reason ? CL_EPERM : CL_EUNAVAIL, "%s%s%s", reason ? reason : "state key",
				": ", msg ? msg : "refused");
		goto out;
	}
	const char *wb64 = json_string_value(json_object_get(ans, "wrapped"));
	json_t *jn = json_object_get(ans, "n");
	if (!wb64 || !json_is_integer(jn) || json_integer_value(jn) < 1 || cl_base64_decode(wb64, &w) != CL_OK ||
	    w.len == 0 || w.len > ST_WRAPPED_MAX) {
		err = cl_errorf(CL_EPROTO, "state key: a malformed answer");
		goto out;
	}
	*n = (int64_t)json_integer_value(jn);
	for (int i = 0; i < 8; i++)
		payload[i] = (uint8_t)((uint64_t)*n >> (56 - 8 * i));
	memcpy(payload + 8, w.data, w.len);
	*plen = (uint32_t)(8 + w.len);
out:
	json_decref(ans);
	json_decref(body);
	free(text);
	cl_buf_free(&w);
	cl_buf_free(&resp);
	return err;
}

/* The blob streamed to the op's data route as the enclave hands it out:
 * PUT .../data?offset=N in chunks of ST_CHUNK, the last one (held back until
 * STATE_END) naming length and sha384, so the agent holds one chunk, never
 * the whole blob. */
typedef struct st_upload {
	cl_http_client *http;
	const st_job *j;
	EVP_MD_CTX *md; /* SHA-384 of every byte so far */
	cl_buf chunk;   /* not yet sent */
	uint64_t off;   /* bytes sent */
} st_upload;

static cl_err put_chunk(st_upload *u, const char *sha_hex)
{
	char path[512];
	long status = 0;
	cl_buf resp;
	cl_err err;
	cl_buf_init(&resp, 64 << 10);
	if (sha_hex)
		snprintf(path, sizeof(path), "/v1/hosts/%s/ops/%s/data?offset=%llu&length=%llu&sha384=%s", u->j->c.host_id,
			 u->j->op, (unsigned long long)u->off, (unsigned long long)(u->off + u->chunk.len), sha_hex);
	else
		snprintf(path, sizeof(path), "/v1/hosts/%s/ops/%s/data?offset=%llu", u->j->c.host_id, u->j->op,
			 (unsigned long long)u->off);
	CL_GUARD_OUT(err, cl_http_request(u->http, "PUT", path, NULL, u->chunk.data, u->chunk.len,
					  "application/octet-stream", &status, &resp));
	if (status != 200) {
		err = cl_errorf(CL_EUNAVAIL, "the control plane refused the state at offset %llu (%ld): %.*s",
				(unsigned long long)u->off, status, (int)(resp.len < 200 ? resp.len : 200),
				(const char *)resp.data);
		goto out;
	}
	u->off += u->chunk.len;
	cl_buf_reset(&u->chunk);
out:
	cl_buf_free(&resp);
	return err;
}

static cl_err upload_sink(void *ctx, const uint8_t *p, size_t n)
{
	st_upload *u = ctx;
	CL_ENSURE(u->off + u->chunk.len + n <= ST_BLOB_MAX, CL_ETOOBIG, "the state blob exceeds %llu bytes",
		  (unsigned long long)ST_BLOB_MAX);
	CL_ENSURE(EVP_DigestUpdate(u->md, p, n) == 1, CL_EINTERNAL, "SHA-384 failed");
	while (n) {
		if (u->chunk.len == ST_CHUNK) /* full, and more follows: not the last */
			CL_GUARD(put_chunk(u, NULL));
		size_t k = ST_CHUNK - u->chunk.len < n ? ST_CHUNK - u->chunk.len : n;
		CL_GUARD(cl_buf_put(&u->chunk, p, k));
		p += k;
		n -= k;
	}
	return CL_OK;
}

static cl_err do_suspend(cl_http_client *http, const st_job *j)
{
	uint8_t point[97], payload[8 + ST_WRAPPED_MAX], sha[48], got[48];
	uint32_t plen = 0;
	uint64_t length = 0;
	int64_t n = 0;
	char *doc = NULL, sha_hex[97];
	bool committed = false;
	st_upload u = {.http = http, .j = j, .md = EVP_MD_CTX_new()};
	cl_err err;
	cl_buf_init(&u.chunk, ST_CHUNK);
	CL_GUARD_OUT(err, u.md && EVP_DigestInit_ex(u.md, EVP_sha384(), NULL) == 1 ? CL_OK : CL_ENOMEM);
	CL_GUARD_OUT(err, cl_sandbox_keygen(j->c.dir, j->enclave, ST_KEYGEN_MS, point));
	CL_GUARD_OUT(err, document(j, point, &doc));
	CL_GUARD_OUT(err, state_key(http, j, doc, payload, &plen, &n));
	CL_GUARD_OUT(err, cl_sandbox_suspend(j->c.dir, j->enclave, payload, plen, ST_MOVE_MS, upload_sink, &u, sha,
					     &length));
	if (EVP_DigestFinal_ex(u.md, got, NULL) != 1 || length != u.off + u.chunk.len ||
	    CRYPTO_memcmp(got, sha, sizeof(sha)) != 0) {
		/* the last chunk is never sent: the control plane commits nothing */
		err = cl_errorf(CL_EPROTO, "suspend: the blob does not match its STATE_END");
		goto out;
	}
	cl_hex_encode(sha, sizeof(sha), sha_hex);
	CL_GUARD_OUT(err, put_chunk(&u, sha_hex));
	committed = true; /* the enclave is suspended: its sandbox goes with the next sync */
	if (cl_agent_sandbox_mark_suspended(j->c.dir, j->enclave) != CL_OK) /* a restore never takes it for its own */
		cl_warn("suspend op=%s: %s", j->op, cl_error_detail());
	cl_info("suspend op=%s enclave=%s n=%lld bytes=%llu committed", j->op, j->enclave, (long long)n,
		(unsigned long long)length);
out:
	/* not committed: the application runs on. Also when this run never
	 * stopped it: a previous agent's may have (killed after STATE_END), and
	 * a resume of a running application changes nothing. */
	if (!committed) {
		char why[400];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		if (cl_sandbox_resume(j->c.dir, j->enclave) != CL_OK)
			cl_warn("suspend op=%s enclave=%s: the application could not be resumed: %s", j->op, j->enclave,
				cl_error_detail());
		cl_errorf(err, "%s", why); /* the suspend's reason, not the resume's */
	}
	explicit_bzero(payload, sizeof(payload));
	EVP_MD_CTX_free(u.md);
	cl_buf_free(&u.chunk);
	free(doc);
	return err;
}

/* GET .../data: the blob, checked against the op; errors say "restore: ". */
static cl_err fetch(cl_http_client *http, const st_job *j, cl_buf *out, uint8_t sha[48])
{
	char why[400];
	cl_err err = ops_job_fetch(http, &j->c, j->op, "the state", j->args.size, j->args.sha384, out, sha);
	if (err == CL_OK)
		return CL_OK;
	snprintf(why, sizeof(why), "%s", cl_error_detail());
	return cl_errorf(err, "restore: %s", why);
}

/* The sandbox launched awaiting the restore: its key (init-bundle's, made
 * at launch), waited for until the op's deadline. */
static cl_err await_key(const st_job *j, uint8_t point[97])
{
	uint64_t until = cl_now_mono_ns() + ST_AWAIT_MS * 1000000ull;
	if (j->deadline_ns && j->deadline_ns < until)
		until = j->deadline_ns;
	for (;;) {
		/* its own sandbox: not the suspended one's, if that is still there */
		if (cl_agent_sandbox_await_restore(j->c.dir, j->enclave) && cl_sandbox_key(j->c.dir, j->enclave, point) == CL_OK)
			return CL_OK;
		CL_ENSURE(cl_now_mono_ns() < until, CL_ETIMEOUT, "restore: the enclave's sandbox did not come up awaiting it");
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
}

/* The PCR7 replay (docs/suspend.md "PCR7"): init-bundle found the
 * suspended enclave's extend in the blob and init sent it (EXTEND) before
 * the restore's STATE_END; the shim keeps it as a provisioning's
 * (bundle_sha384). Recorded in the registers as a provisioning records it
 * (cl_agent_pcrs_record_bundle, agent_provision.c); none: PCR7 stays zero.
 * An agent killed before this records it at adoption
 * (cl_agent_pcrs_adopt_bundle), as for a provisioning. */
static cl_err record_replay(const st_job *j)
{
	uint8_t sha[48];
	bool changed = false;
	cl_err err = cl_sandbox_bundle(j->c.dir, j->enclave, sha);
	if (err == CL_ENOTFOUND) {
		cl_error_clear(); /* the enclave was never provisioned */
		return CL_OK;
	}
	CL_GUARD(err);
	CL_GUARD(cl_agent_pcrs_record_bundle(j->c.dir, j->enclave, sha, NULL, &changed));
	cl_info("restore op=%s enclave=%s PCR7 replayed", j->op, j->enclave);
	return CL_OK;
}

static cl_err do_restore(cl_http_client *http, const st_job *j, uint8_t pcr7[CL_PCR_LEN])
{
	uint8_t point[97], payload[8 + ST_WRAPPED_MAX], sha[48];
	uint32_t plen = 0;
	int64_t n = 0;
	char *doc = NULL;
	cl_buf blob;
	cl_pcrs pcrs;
	cl_err err;
	cl_buf_init(&blob, ST_BLOB_MAX);
	CL_GUARD_OUT(err, await_key(j, point));
	CL_GUARD_OUT(err, document(j, point, &doc));
	CL_GUARD_OUT(err, state_key(http, j, doc, payload, &plen, &n));
	if (n != j->args.n) {
		err = cl_errorf(CL_EPROTO, "restore: the key released is for suspend %lld, the op's blob is %lld",
				(long long)n, (long long)j->args.n);
		goto out;
	}
	CL_GUARD_OUT(err, fetch(http, j, &blob, sha));
	CL_GUARD_OUT(err, cl_sandbox_restore(j->c.dir, j->enclave, payload, plen, blob.data, blob.len, sha, ST_MOVE_MS));
	CL_GUARD_OUT(err, record_replay(j));
	CL_GUARD_OUT(err, cl_agent_pcrs_load(j->c.dir, j->enclave, &pcrs));
	memcpy(pcr7, pcrs.v[CL_BUNDLE_REGISTER], CL_PCR_LEN);
	cl_info("restore op=%s enclave=%s n=%lld bytes=%zu restored", j->op, j->enclave, (long long)n, blob.len);
out:
	explicit_bzero(payload, sizeof(payload));
	cl_buf_free(&blob);
	free(doc);
	return err;
}

static void post(cl_http_client *http, const st_job *j, json_t *res)
{
	char path[256];
	long status = 0;
	cl_buf resp;
	char *body = res ? json_dumps(res, JSON_COMPACT) : NULL;
	cl_buf_init(&resp, 64 << 10);
	snprintf(path, sizeof(path), "/v1/hosts/%s/ops/%s", j->c.host_id, j->op);
	if (!body || cl_http_request(http, "POST", path, NULL, body, strlen(body), "application/json", &status,
				     &resp) != CL_OK || status / 100 != 2)
		cl_warn("%s result not delivered op=%s status=%ld: the control plane's deadline ends it",
			j->kind == CL_OP_SUSPEND ? "suspend" : "restore", j->op, status);
	cl_buf_free(&resp);
	free(body);
}

static void *st_main(void *arg)
{
	st_job *j = arg;
	cl_http_client *http = NULL;
	uint8_t pcr7[CL_PCR_LEN] = {0};
	const char *what = j->kind == CL_OP_SUSPEND ? "suspend" : "restore";
	json_t *res = NULL;
	if (cl_http_client_new(j->c.control, j->c.ca, j->c.token, &http) != CL_OK) {
		cl_warn("%s op=%s: no HTTP client: %s", what, j->op, cl_error_detail());
		goto out;
	}
	cl_http_client_set_timeout(http, ST_HTTP_TIMEOUT_MS);
	cl_err err = j->kind == CL_OP_SUSPEND ? do_suspend(http, j) : do_restore(http, j, pcr7);
	if (err != CL_OK) {
		char msg[400];
		const char *d = cl_error_detail();
		/* the enclave's or the control plane's reason first, as they said it */
		if (err == CL_ECONFLICT || err == CL_EPERM)
			snprintf(msg, sizeof(msg), "%s", d);
		else
			snprintf(msg, sizeof(msg), "%s: %s", what, d);
		cl_warn("%s op=%s enclave=%s failed: %s", what, j->op, j->enclave, msg);
		res = json_pack("{s:s, s:b, s:s}", "op", j->op, "ok", 0, "error", msg);
	} else {
		char *b64 = NULL;
		if (j->kind == CL_OP_SUSPEND)
			res = json_pack("{s:s, s:b}", "op", j->op, "ok", 1);
		else if (cl_base64_encode(pcr7, sizeof(pcr7), &b64) == CL_OK)
			res = json_pack("{s:s, s:b, s:s}", "op", j->op, "ok", 1, "data", b64);
		free(b64);
	}
	post(http, j, res);
out:
	json_decref(res);
	cl_http_client_free(http);
	job_free(j);
	return NULL;
}

void ops_state_start(cl_agent_pool *p, const cl_agent_op *op, cl_agent_attest_fn attest, void *attest_ctx)
{
	st_job *j = calloc(1, sizeof(*j));
	if (!j || !op->state || ops_job_conn_copy(p, &j->c) != CL_OK) {
		cl_warn("suspend/restore op=%s not started: %s", op->op,
			!j ? "out of memory" : !op->state ? "no arguments" : cl_error_detail());
		job_free(j);
		return;
	}
	snprintf(j->op, sizeof(j->op), "%s", op->op);
	snprintf(j->enclave, sizeof(j->enclave), "%s", op->enclave);
	j->kind = op->kind;
	j->args = *op->state;
	j->attest = attest;
	j->attest_ctx = attest_ctx;
	j->deadline_ns = cl_now_mono_ns() + (uint64_t)op->deadline_ms * 1000000ull;
	if (!ops_job_thread(st_main, j)) {
		cl_warn("suspend/restore op=%s not started: no thread", op->op);
		job_free(j);
	}
}
