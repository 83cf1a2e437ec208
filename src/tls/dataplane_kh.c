/* dataplane_kh.c — signatures from the key holder, pipelined.
 *
 * A full handshake's signature is made inside OpenSSL's handshake, in the
 * remote key's callback (dataplane_key.c -> dp_kh_sign). With SSL_MODE_ASYNC
 * the handshake runs in an ASYNC_JOB: dp_kh_sign sends the request, records
 * (id, connection) in a ring and pauses the job; SSL_do_handshake returns
 * SSL_ERROR_WANT_ASYNC and the loop serves other connections. The key holder
 * answers the tls channel's requests one at a time, in order, so the answer
 * to the ring's head is always the next datagram: dp_kh_readable hands it to
 * its connection, which calls SSL_do_handshake again, resuming the job inside
 * dp_kh_sign with the signature. No per-job wait descriptor is needed: the
 * reader knows the connection from the id.
 *
 * A connection that goes away while its signature is in flight leaves its
 * ring entry with no connection: the late answer is read and dropped, so the
 * ids stay in step. Without ASYNC support (checked at start) the sign is
 * synchronous with the sign timeout, logged once. */
#include <errno.h>
#include <openssl/async.h>
#include <poll.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "keyholder/keyholder.h"
#include "tls/dataplane_internal.h"

enum { SIGN_IDLE = 0, SIGN_PENDING = 1, SIGN_DONE = 2, SIGN_FAILED = 3 };

static cl_err build(const char *slot, const uint8_t *digest, size_t len, cl_buf *req)
{
	cl_buf_init(req, CL_KH_MSG_MAX - CL_IPC_HDR);
	CL_ENSURE(len >= 1 && len <= CL_KH_DIGEST_MAX, CL_EINVAL, "digest of %zu bytes", len);
	CL_GUARD(cl_ipc_put_str(req, slot));
	return cl_ipc_put_bytes(req, digest, len);
}

/* Reads a sign answer's payload into sig[sig_len]. */
static cl_err read_sig(cl_buf *ans, uint8_t *sig, size_t sig_len)
{
	CL_ENSURE(sig_len <= DP_SIG_MAX, CL_EINTERNAL, "signature buffer");
	if (cl_ipc_get_fixed(ans, sig, sig_len) != CL_OK || cl_ipc_get_end(ans) != CL_OK)
		return cl_errorf(CL_EPROTO, "malformed signature from the key holder");
	return CL_OK;
}

/* The key holder channel is unusable: every signature in flight fails. */
static void kh_lost(dp *d, const char *why)
{
	if (!d->kh_dead)
		cl_error("tls: key holder channel lost (%s): full handshakes fail from now on", why);
	d->kh_dead = true;
	if (d->kh_ev)
		event_del(d->kh_ev);
	while (d->pend_len) {
		dp_pending p = d->pend[d->pend_head];
		d->pend_head = (d->pend_head + 1) % DP_MAX_PENDING;
		d->pend_len--;
		if (p.c) {
			dp_conn_sign(p.c)->state = SIGN_FAILED;
			dp_conn_resume(p.c);
		}
	}
}

static cl_err sign_sync(dp *d, const cl_buf *req, uint8_t *sig, size_t sig_len)
{
	static bool logged;
	uint32_t id = 0, got = 0;
	uint16_t type = 0;
	cl_err refusal = CL_OK, err;
	cl_buf ans;
	cl_buf_init(&ans, CL_KH_MSG_MAX);
	if (!logged)
		cl_warn("tls: no ASYNC support in this OpenSSL: signatures block the loop (at most %u ms each)",
			d->o.sign_timeout_ms);
	logged = true;
	CL_GUARD_OUT(err, d->pend_len == 0 ? CL_OK : cl_errorf(CL_EINTERNAL, "sync sign with requests in flight"));
	CL_GUARD_OUT(err, cl_ipc_send_request(&d->kh, CL_KH_REQ_SIGN, req, &id));
	struct pollfd p = {.fd = d->kh_fd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, (int)d->o.sign_timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		/* The late answer would put the ids out of step: give the channel up. */
		kh_lost(d, "no answer in time");
		err = cl_errorf(CL_ETIMEOUT, "key holder: no answer in time");
		goto out;
	}
	CL_GUARD_OUT(err, cl_ipc_recv_answer(&d->kh, &type, &got, &refusal, &ans));
	CL_GUARD_OUT(err, got == id && type == CL_KH_REQ_SIGN ? CL_OK : cl_errorf(CL_EPROTO, "answer out of step"));
	CL_GUARD_OUT(err, refusal);
	err = read_sig(&ans, sig, sig_len);
out:
	if (err == CL_EPROTO || err == CL_EUNAVAIL || err == CL_ESYS)
		kh_lost(d, cl_err_name(err));
	cl_buf_free(&ans);
	return err;
}

cl_err dp_kh_sign(dp *d, const char *slot, const uint8_t *digest, size_t len, uint8_t *sig, size_t sig_len)
{
	dp_conn *c = d->cur;
	cl_buf req;
	uint32_t id = 0;
	cl_err err;
	CL_GUARD_OUT(err, build(slot, digest, len, &req));
	CL_GUARD_OUT(err, d->kh_dead ? cl_errorf(CL_EUNAVAIL, "key holder channel lost") : CL_OK);
	if (!d->async || !c || !ASYNC_get_current_job()) {
		err = sign_sync(d, &req, sig, sig_len);
		if (err == CL_OK && c)
			dp_conn_guest(c)->st.signs++;
		goto out;
	}
	CL_GUARD_OUT(err, d->pend_len < DP_MAX_PENDING ? CL_OK : cl_errorf(CL_ELIMIT, "too many signatures in flight"));
	err = cl_ipc_send_request(&d->kh, CL_KH_REQ_SIGN, &req, &id);
	if (err != CL_OK) {
		kh_lost(d, cl_err_name(err));
		goto out;
	}
	d->pend[(d->pend_head + d->pend_len) % DP_MAX_PENDING] =
		(dp_pending){.id = id, .c = c, .deadline_ns = cl_now_mono_ns() + (uint64_t)d->o.sign_timeout_ms * 1000000u};
	d->pend_len++;
	dp_sign_state *st = dp_conn_sign(c);
	st->state = SIGN_PENDING;
	st->sig_len = sig_len;
	/* Back to SSL_do_handshake's caller (SSL_ERROR_WANT_ASYNC); resumed by
	 * dp_conn_resume once the answer (or a failure) is in st. */
	while (st->state == SIGN_PENDING)
		if (ASYNC_pause_job() != 1) {
			dp_kh_forget(d, c);
			st->state = SIGN_FAILED;
		}
	if (st->state == SIGN_DONE)
		memcpy(sig, st->sig, sig_len);
	err = st->state == SIGN_DONE ? CL_OK : cl_errorf(CL_ECRYPTO, "key holder: no signature");
	explicit_bzero(st, sizeof(*st));
out:
	cl_buf_free(&req);
	return err;
}

void dp_kh_readable(evutil_socket_t fd, short what, void *arg)
{
	dp *d = arg;
	uint32_t id = 0;
	uint16_t type = 0;
	cl_err refusal = CL_OK, err;
	cl_buf ans;
	cl_buf_init(&ans, CL_KH_MSG_MAX);
	err = cl_ipc_recv_answer(&d->kh, &type, &id, &refusal, &ans);
	if (err == CL_OK && (d->pend_len == 0 || d->pend[d->pend_head].id != id || type != CL_KH_REQ_SIGN))
		err = cl_errorf(CL_EPROTO, "answer out of step");
	if (err != CL_OK) {
		kh_lost(d, cl_error_detail());
		goto out;
	}
	dp_pending p = d->pend[d->pend_head];
	d->pend_head = (d->pend_head + 1) % DP_MAX_PENDING;
	d->pend_len--;
	if (!p.c)
		goto out; /* its connection went away: dropped */
	dp_sign_state *st = dp_conn_sign(p.c);
	if (refusal == CL_OK && read_sig(&ans, st->sig, st->sig_len) == CL_OK) {
		st->state = SIGN_DONE;
		dp_conn_guest(p.c)->st.signs++;
	} else {
		cl_warn_rl("tls: guest=%s key holder refused a signature: %s", dp_conn_guest(p.c)->id,
			   cl_err_name(refusal != CL_OK ? refusal : CL_EPROTO));
		st->state = SIGN_FAILED;
	}
	dp_conn_resume(p.c);
out:
	cl_buf_free(&ans);
}

void dp_kh_forget(dp *d, dp_conn *c)
{
	for (size_t i = 0; i < d->pend_len; i++) {
		dp_pending *p = &d->pend[(d->pend_head + i) % DP_MAX_PENDING];
		if (p->c == c)
			p->c = NULL;
	}
}

void dp_kh_expire(dp *d)
{
	uint64_t now = cl_now_mono_ns();
	for (size_t i = 0; i < d->pend_len; i++) {
		dp_pending *p = &d->pend[(d->pend_head + i) % DP_MAX_PENDING];
		if (p->c && now >= p->deadline_ns) {
			dp_conn *c = p->c;
			p->c = NULL; /* its answer, if it ever comes, is dropped */
			dp_conn_sign(c)->state = SIGN_FAILED;
			dp_conn_resume(c);
		}
	}
}
