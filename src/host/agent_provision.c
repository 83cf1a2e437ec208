/* agent_provision.c — the provision op (docs/provisioning.md): fetch the
 * ciphertext the control plane holds for the op, check it is what the op
 * names, hand it to the enclave's shim in BUNDLE frames, then BUNDLE_END;
 * cloister-init answers EXTEND (installed: the register is recorded) or
 * ERROR (its reason). The agent only ever holds ciphertext.
 *
 * A transfer may take seconds (64 MiB), so it runs on a thread of its own,
 * not on the ops engine: the engine hands it a copy of what it needs and is
 * done with the op (its result is posted by the thread, retried with
 * backoff while the control plane cannot take it: post()). A
 * kill of the agent mid-transfer closes the shim connection, and the shim
 * tells init to discard what it staged; the op, re-sent by the control
 * plane until its result, runs again in the restarted agent. A kill after
 * init's EXTEND and before the result reached the control plane: the re-run
 * finds the op's bundle installed (the shim's STATUS) and answers its PCR7
 * without sending it again (already_installed()).
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/crypto.h"
#include "common/frame.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent_ops_internal.h"
#include "host/agent_pcrs.h"
#include "sandbox/sandbox.h"

#define PROV_FETCH_TIMEOUT_MS 120000L
#define PROV_CHUNK (1u << 20)
#define PROV_REASON_MAX 256
#define PROV_POST_TIMEOUT_MS 10000L
#define PROV_POST_WINDOW_MS 300000ull /* the control plane's deadline for a provision op */
#define PROV_POST_BACKOFF_MAX_MS 10000ull

typedef struct prov_job {
	ops_job_conn c;
	char op[CL_AGENT_ID_MAX], enclave[CL_AGENT_ID_MAX];
	cl_agent_prov_args args;
} prov_job;

static void job_free(prov_job *j)
{
	if (!j)
		return;
	ops_job_conn_free(&j->c);
	free(j);
}

/* Streams ct to the enclave. *answered: init answered (EXTEND into ext, or
 * its refusal in reason); else the error says what failed on the way. */
static cl_err transfer(const prov_job *j, const cl_buf *ct, uint8_t ext[CL_BUNDLE_EXTEND_LEN], char *reason,
		       size_t rn, bool *installed)
{
	int fd = -1;
	uint8_t rtype, reply[512], end[CL_BUNDLE_END_LEN];
	uint32_t rlen = 0;
	cl_err err = CL_OK;
	*installed = false;
	reason[0] = '\0';
	CL_GUARD(cl_sandbox_connect(j->c.dir, j->enclave, &fd));
	for (size_t off = 0; off < ct->len; off += PROV_CHUNK) {
		uint32_t n = (uint32_t)(ct->len - off < PROV_CHUNK ? ct->len - off : PROV_CHUNK);
		CL_GUARD_OUT(err, cl_sandbox_call(fd, CL_FRAME_BUNDLE, ct->data + off, n, &rtype, reply, sizeof(reply) - 1, &rlen));
		if (rtype != CL_FRAME_OK) {
			reply[rtype == CL_FRAME_ERROR ? rlen : 0] = '\0';
			err = cl_errorf(CL_EUNAVAIL, "the enclave's shim refused the bundle: %s", (char *)reply);
			goto out;
		}
	}
	cl_bundle_end_put(end, j->args.sha384, ct->len);
	CL_GUARD_OUT(err, cl_sandbox_call(fd, CL_FRAME_BUNDLE_END, end, sizeof(end), &rtype, reply, sizeof(reply) - 1, &rlen));
	uint8_t reg;
	if (rtype == CL_FRAME_EXTEND && cl_bundle_extend_parse(reply, rlen, &reg, ext + 1) == CL_OK) {
		ext[0] = reg;
		*installed = true;
	} else if (rtype == CL_FRAME_ERROR) {
		size_t k = rlen < rn - 1 ? rlen : rn - 1;
		for (size_t i = 0; i < k; i++) /* init's words: printable only */
			reason[i] = (reply[i] >= 0x20 && reply[i] < 0x7f) ? (char)reply[i] : '?';
		reason[k] = '\0';
	} else {
		err = cl_errorf(CL_EPROTO, "the enclave's shim gave an unexpected answer");
	}
out:
	close(fd);
	return err;
}

/* A re-run of an op whose bundle is already installed (the agent was killed
 * after init's EXTEND and before the control plane had the result; the op
 * came back to the restarted agent): true if the enclave's shim says it
 * installed a bundle whose tar's SHA-384 is the op's, with ext set as init's
 * EXTEND was, and this op sent it (mark()). Then there is nothing to fetch or send (init would refuse it
 * not_awaiting_bundle) and the op's answer is the install's PCR7. Another
 * bundle installed, none, or no answer from the shim: false (the op runs,
 * and init answers it). */
static bool already_installed(const prov_job *j, uint8_t ext[CL_BUNDLE_EXTEND_LEN])
{
	uint8_t have[CL_SHA384_LEN];
	char path[512];
	cl_buf b;
	bool ours = false;
	/* this op sent its bundle before (mark()): another op with the same
	 * bundle is a second provision, which init refuses */
	cl_buf_init(&b, CL_AGENT_ID_MAX);
	if (snprintf(path, sizeof(path), "%s/provision/%s", j->c.dir, j->enclave) < (int)sizeof(path) &&
	    cl_file_read(path, CL_AGENT_ID_MAX, &b) == CL_OK)
		ours = b.len == strlen(j->op) && memcmp(b.data, j->op, b.len) == 0;
	cl_buf_free(&b);
	cl_error_clear();
	if (!ours)
		return false;
	if (cl_sandbox_bundle(j->c.dir, j->enclave, have) != CL_OK) {
		cl_error_clear();
		return false;
	}
	if (CRYPTO_memcmp(have, j->args.sha384, sizeof(have)) != 0)
		return false;
	ext[0] = CL_BUNDLE_REGISTER;
	memcpy(ext + 1, have, sizeof(have));
	return true;
}

/* Before BUNDLE_END: DIR/provision/ENCLAVE names this op (the one that
 * sends the enclave its bundle), for already_installed() in a re-run. */
static cl_err mark(const prov_job *j)
{
	char path[512];
	CL_ENSURE(snprintf(path, sizeof(path), "%s/provision", j->c.dir) < (int)sizeof(path), CL_EINVAL,
		  "data directory path too long");
	CL_GUARD(cl_mkdir_p(path, 0700));
	CL_ENSURE(snprintf(path, sizeof(path), "%s/provision/%s", j->c.dir, j->enclave) < (int)sizeof(path),
		  CL_EINVAL, "data directory path too long");
	return cl_file_write_atomic(path, j->op, strlen(j->op), 0600);
}

/* Records the install in the enclave's registers; the new PCR7 into pcr7. */
static cl_err record(const prov_job *j, const uint8_t ext[CL_BUNDLE_EXTEND_LEN], uint8_t pcr7[CL_PCR_LEN])
{
	bool changed;
	return cl_agent_pcrs_record_bundle(j->c.dir, j->enclave, ext + 1, pcr7, &changed);
}

/* POST the result, retried with backoff (like the engine's op reports, which
 * ride the next sync when a post fails): a transport error, a timeout or a
 * 5xx (the control plane restarting, or busy) is tried again, 250 ms then
 * doubling up to 10 s between tries, until PROV_POST_WINDOW_MS has passed
 * (the control plane's deadline for the op). A 2xx is delivered; another
 * answer (404: the op is unknown — timed out, or the control plane
 * restarted and failed its job) ends it. */
static void post(cl_http_client *http, const prov_job *j, json_t *res)
{
	char path[256];
	cl_buf resp;
	char *body = res ? json_dumps(res, JSON_COMPACT) : NULL;
	uint64_t until = cl_now_mono_ns() + PROV_POST_WINDOW_MS * 1000000ull, wait_ms = 250;
	unsigned tries = 0;
	cl_buf_init(&resp, 64 << 10);
	snprintf(path, sizeof(path), "/v1/hosts/%s/ops/%s", j->c.host_id, j->op);
	cl_http_client_set_timeout(http, PROV_POST_TIMEOUT_MS);
	while (body) {
		long status = 0;
		cl_buf_reset(&resp);
		cl_err err = cl_http_request(http, "POST", path, NULL, body, strlen(body), "application/json", &status,
					     &resp);
		tries++;
		if (err == CL_OK && status / 100 == 2) {
			if (tries > 1)
				cl_info("provision result delivered op=%s tries=%u", j->op, tries);
			break;
		}
		if (err == CL_OK && status < 500 && status != 408 && status != 429) {
			cl_warn("provision result refused op=%s status=%ld tries=%u: the control plane no longer waits for it",
				j->op, status, tries);
			break;
		}
		if (cl_now_mono_ns() + wait_ms * 1000000ull > until) {
			cl_warn("provision result not delivered op=%s tries=%u: giving up (the control plane's deadline ends it)",
				j->op, tries);
			break;
		}
		cl_warn("provision result not delivered op=%s status=%ld err=\"%s\": retrying in %llu ms", j->op, status,
			err == CL_OK ? "" : cl_error_detail(), (unsigned long long)wait_ms);
		struct timespec ts = {.tv_sec = (time_t)(wait_ms / 1000), .tv_nsec = (long)(wait_ms % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
		wait_ms = wait_ms * 2 > PROV_POST_BACKOFF_MAX_MS ? PROV_POST_BACKOFF_MAX_MS : wait_ms * 2;
	}
	if (!body)
		cl_warn("provision result not made op=%s: out of memory", j->op);
	cl_buf_free(&resp);
	free(body);
}

static void *prov_main(void *arg)
{
	prov_job *j = arg;
	cl_http_client *http = NULL;
	cl_buf ct;
	uint8_t ext[CL_BUNDLE_EXTEND_LEN], pcr7[CL_PCR_LEN];
	char reason[PROV_REASON_MAX], msg[400];
	bool installed = false;
	json_t *res = NULL;
	cl_buf_init(&ct, (size_t)j->args.size);
	if (cl_http_client_new(j->c.control, j->c.ca, j->c.token, &http) != CL_OK) {
		cl_warn("provision op=%s: no HTTP client: %s", j->op, cl_error_detail());
		goto out;
	}
	cl_http_client_set_timeout(http, PROV_FETCH_TIMEOUT_MS);
	uint64_t t0 = cl_now_mono_ns();
	bool rerun = already_installed(j, ext);
	installed = rerun;
	uint8_t ct_sha[CL_SHA384_LEN];
	cl_err err = rerun ? CL_OK
			   : ops_job_fetch(http, &j->c, j->op, "the bundle", j->args.size, j->args.data_sha384, &ct,
					   ct_sha);
	if (err == CL_OK && !rerun)
		err = mark(j);
	if (err == CL_OK && !rerun)
		err = transfer(j, &ct, ext, reason, sizeof(reason), &installed);
	if (err == CL_OK && installed)
		err = record(j, ext, pcr7);
	if (err != CL_OK) {
		snprintf(msg, sizeof(msg), "provision: %s", cl_error_detail());
		res = json_pack("{s:s, s:b, s:s}", "op", j->op, "ok", 0, "error", msg);
	} else if (!installed) {
		char token[40];
		size_t k = strcspn(reason, ":");
		snprintf(token, sizeof(token), "%.*s", (int)(k < sizeof(token) - 1 ? k : sizeof(token) - 1), reason);
		res = json_pack("{s:s, s:b, s:s, s:s}", "op", j->op, "ok", 0, "error", reason, "reason", token);
	} else {
		char *b64 = NULL;
		if (cl_base64_encode(pcr7, sizeof(pcr7), &b64) == CL_OK)
			res = json_pack("{s:s, s:b, s:s}", "op", j->op, "ok", 1, "data", b64);
		free(b64);
	}
	cl_info("provision op=%s enclave=%s bytes=%zu installed=%d%s ms=%llu%s%s", j->op, j->enclave, ct.len,
		installed ? 1 : 0, rerun ? " already=1" : "", (unsigned long long)((cl_now_mono_ns() - t0) / 1000000),
		installed ? "" : " reason=", installed ? "" : (err != CL_OK ? msg : reason));
	post(http, j, res);
out:
	json_decref(res);
	cl_buf_free(&ct); /* ciphertext only: nothing to wipe, but free it promptly */
	cl_http_client_free(http);
	job_free(j);
	return NULL;
}

void ops_provision_start(cl_agent_pool *p, const cl_agent_op *op)
{
	prov_job *j = calloc(1, sizeof(*j));
	if (!j || !op->prov || ops_job_conn_copy(p, &j->c) != CL_OK) {
		cl_warn("provision op=%s not started: %s", op->op,
			!j ? "out of memory" : !op->prov ? "no arguments" : cl_error_detail());
		job_free(j);
		return;
	}
	snprintf(j->op, sizeof(j->op), "%s", op->op);
	snprintf(j->enclave, sizeof(j->enclave), "%s", op->enclave);
	j->args = *op->prov;
	if (!ops_job_thread(prov_main, j)) {
		cl_warn("provision op=%s not started: no thread", op->op);
		job_free(j);
	}
}
