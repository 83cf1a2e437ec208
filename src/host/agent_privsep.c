/* agent_privsep.c — the agent's ends of the supervisor's channels (see
 * agent_privsep.h), the device-key provider backed by the key holder, and
 * the walls the agent puts around itself.
 *
 * Locks: mu guards the key holder client (one call at a time: the ipc
 * client is not thread-safe), the pending guest interface channels and the
 * gate pointer. The supervisor channel is the thread's alone. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/harden.h"
#include "common/log.h"
#include "host/agent_privsep.h"
#include "keyholder/keyholder.h"

#define KH_TIMEOUT_MS 5000
#define DP_TIMEOUT_MS 5000

struct cl_agent_privsep {
	pthread_mutex_t mu;
	int fd_kh; /* under mu */
	cl_kh_client kh;
	int fd_dp; /* under mu: the TLS data plane's channel (tls/dataplane.h) */
	cl_dp_client dp; /* under mu: its client (one per channel: requests keep their sequence ids) */
	int gi_query, gi_control; /* under mu: channels no gate has taken yet */
	cl_guestif *gate;         /* under mu: borrowed */
	fwg_keys keys;
	cl_agent_att_keys att_keys;
	cl_agent_tls_keys tls_keys;
	cl_agent_tls_plane tls_plane;
	int fd_sup;               /* thread only */
	cl_ipc_server sup;
	pthread_t thread;
	bool thread_started;
	int wake[2];
};

/* ---------------------------------------------------------------- device keys (fwg_keys) */

static cl_err dev_slot(const char *addr, char slot[CL_KH_SLOT_MAX + 1])
{
	CL_ENSURE(snprintf(slot, CL_KH_SLOT_MAX + 1, "dev/%s", addr) <= CL_KH_SLOT_MAX, CL_EINVAL,
		  "device address too long for a key slot");
	return CL_OK;
}

static cl_err keys_generate(void *ctx, const char *addr, uint8_t point[FW_POINT_LEN])
{
	cl_agent_privsep *ps = ctx;
	char slot[CL_KH_SLOT_MAX + 1];
	CL_GUARD(dev_slot(addr, slot));
	pthread_mutex_lock(&ps->mu);
	cl_err err = ps->fd_kh >= 0 ? cl_kh_generate(&ps->kh, slot, point)
				    : cl_errorf(CL_EUNAVAIL, "no key holder");
	pthread_mutex_unlock(&ps->mu);
	return err;
}

static cl_err keys_get_public(void *ctx, const char *addr, uint8_t point[FW_POINT_LEN])
{
	cl_agent_privsep *ps = ctx;
	char slot[CL_KH_SLOT_MAX + 1];
	enum cl_kh_purpose purpose;
	size_t len = 0;
	CL_GUARD(dev_slot(addr, slot));
	pthread_mutex_lock(&ps->mu);
	cl_err err = ps->fd_kh >= 0 ? cl_kh_get_public(&ps->kh, slot, &purpose, point, &len)
				    : cl_errorf(CL_EUNAVAIL, "no key holder");
	pthread_mutex_unlock(&ps->mu);
	if (err == CL_OK && (purpose != CL_KH_PURPOSE_ECDH || len != CL_KH_POINT_LEN))
		err = cl_errorf(CL_EPROTO, "the key holder's %s is not a P-384 ECDH key", slot);
	return err;
}

static cl_err keys_image_key(void *ctx, const char *addr, const uint8_t enc_point[FW_POINT_LEN], uint8_t key[32])
{
	cl_agent_privsep *ps = ctx;
	char slot[CL_KH_SLOT_MAX + 1];
	CL_GUARD(dev_slot(addr, slot));
	pthread_mutex_lock(&ps->mu);
	cl_err err = ps->fd_kh >= 0 ? cl_kh_ecdh(&ps->kh, slot, CL_KH_USE_FW_IMAGE, enc_point, key)
				    : cl_errorf(CL_EUNAVAIL, "no key holder");
	pthread_mutex_unlock(&ps->mu);
	if (err == CL_EUNAVAIL || err == CL_ETIMEOUT)
		cl_warn("the key holder did not answer (firmware image key for %s): the update fails closed", addr);
	return err;
}

const fwg_keys *cl_agent_privsep_keys(cl_agent_privsep *ps)
{
	return ps ? &ps->keys : NULL;
}

/* ---------------------------------------------------------------- the attestation key */

static cl_err att_get_public(void *ctx, uint8_t point[CL_AGENT_ATT_POINT_LEN])
{
	cl_agent_privsep *ps = ctx;
	enum cl_kh_purpose purpose;
	size_t len = 0;
	pthread_mutex_lock(&ps->mu);
	cl_err err = ps->fd_kh >= 0 ? cl_kh_get_public(&ps->kh, "attest", &purpose, point, &len)
				    : cl_errorf(CL_EUNAVAIL, "no key holder");
	pthread_mutex_unlock(&ps->mu);
	if (err == CL_OK && (purpose != CL_KH_PURPOSE_SIGN_DOCUMENT || len != CL_KH_POINT_LEN))
		err = cl_errorf(CL_EPROTO, "the key holder's attest key is not a document-signing key");
	return err;
}

static cl_err att_generate(void *ctx, uint8_t point[CL_AGENT_ATT_POINT_LEN])
{
	cl_agent_privsep *ps = ctx;
	pthread_mutex_lock(&ps->mu);
	cl_err err = ps->fd_kh >= 0 ? cl_kh_generate(&ps->kh, "attest", point) : cl_errorf(CL_EUNAVAIL, "no key holder");
	pthread_mutex_unlock(&ps->mu);
	return err;
}

/* On the ops engine: bounded in all. The lock is held by another caller for
 * one key holder round trip (well under a millisecond) unless the key
 * holder hangs; then this gives up instead of stalling every op. */
static cl_err att_sign(void *ctx, const uint8_t digest[48], uint8_t sig[CL_AGENT_ATT_SIG_LEN])
{
	cl_agent_privsep *ps = ctx;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(CL_AGENT_PRIVSEP_SIGN_MS % 1000) * 1000000L;
	until.tv_sec += CL_AGENT_PRIVSEP_SIGN_MS / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	CL_ENSURE(pthread_mutex_timedlock(&ps->mu, &until) == 0, CL_ETIMEOUT, "the key holder is busy");
	int saved = ps->kh.ipc.timeout_ms;
	ps->kh.ipc.timeout_ms = CL_AGENT_PRIVSEP_SIGN_MS;
	cl_err err = ps->fd_kh >= 0 ? cl_kh_sign(&ps->kh, "attest", digest, 48, sig)
				    : cl_errorf(CL_EUNAVAIL, "no key holder");
	ps->kh.ipc.timeout_ms = saved;
	pthread_mutex_unlock(&ps->mu);
	if (err == CL_EUNAVAIL || err == CL_ETIMEOUT)
		cl_warn("the key holder did not answer (attestation signature)");
	return err;
}

cl_err cl_agent_privsep_seal(cl_agent_privsep *ps, const char *tenant, const uint8_t pcrs[4 * 48], const uint8_t *label,
			     size_t n, uint8_t key[32])
{
	struct timespec until;
	CL_ENSURE(ps, CL_EUNAVAIL, "no key holder");
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(CL_AGENT_PRIVSEP_SIGN_MS % 1000) * 1000000L;
	until.tv_sec += CL_AGENT_PRIVSEP_SIGN_MS / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	CL_ENSURE(pthread_mutex_timedlock(&ps->mu, &until) == 0, CL_ETIMEOUT, "the key holder is busy");
	int saved = ps->kh.ipc.timeout_ms;
	ps->kh.ipc.timeout_ms = CL_AGENT_PRIVSEP_SIGN_MS;
	cl_err err = ps->fd_kh >= 0 ? cl_kh_seal(&ps->kh, tenant, pcrs, label, n, key)
				    : cl_errorf(CL_EUNAVAIL, "no key holder");
	ps->kh.ipc.timeout_ms = saved;
	pthread_mutex_unlock(&ps->mu);
	if (err == CL_EUNAVAIL || err == CL_ETIMEOUT)
		cl_warn("the key holder did not answer (sealing key)");
	return err;
}

const cl_agent_att_keys *cl_agent_privsep_att_keys(cl_agent_privsep *ps)
{
	return ps ? &ps->att_keys : NULL;
}

/* ---------------------------------------------------------------- guests' TLS keys */

/* Takes mu within CL_AGENT_PRIVSEP_SIGN_MS and bounds the next call by the
 * same (undone by tls_unlock). */
static cl_err tls_lock(cl_agent_privsep *ps, int *saved)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)(CL_AGENT_PRIVSEP_SIGN_MS % 1000) * 1000000L;
	until.tv_sec += CL_AGENT_PRIVSEP_SIGN_MS / 1000 + until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	CL_ENSURE(pthread_mutex_timedlock(&ps->mu, &until) == 0, CL_ETIMEOUT, "the key holder is busy");
	if (ps->fd_kh < 0) {
		pthread_mutex_unlock(&ps->mu);
		return cl_errorf(CL_EUNAVAIL, "no key holder");
	}
	*saved = ps->kh.ipc.timeout_ms;
	ps->kh.ipc.timeout_ms = CL_AGENT_PRIVSEP_SIGN_MS;
	return CL_OK;
}

static void tls_unlock(cl_agent_privsep *ps, int saved, cl_err err, const char *what)
{
	ps->kh.ipc.timeout_ms = saved;
	pthread_mutex_unlock(&ps->mu);
	if (err == CL_EUNAVAIL || err == CL_ETIMEOUT)
		cl_warn("the key holder did not answer (guest TLS key: %s)", what);
}

static cl_err tls_generate(void *ctx, const char *slot, const char *host_id, uint8_t point[CL_AGENT_TLS_POINT_LEN],
			   uint8_t proof[CL_AGENT_TLS_PROOF_LEN])
{
	cl_agent_privsep *ps = ctx;
	int saved;
	CL_GUARD(tls_lock(ps, &saved));
	cl_err err = cl_kh_tls_generate(&ps->kh, slot, host_id, point, proof);
	tls_unlock(ps, saved, err, "generate");
	return err;
}

static cl_err tls_get_public(void *ctx, const char *slot, uint8_t point[CL_AGENT_TLS_POINT_LEN])
{
	cl_agent_privsep *ps = ctx;
	uint8_t buf[CL_KH_POINT_LEN];
	enum cl_kh_purpose purpose;
	size_t len = 0;
	int saved;
	CL_GUARD(tls_lock(ps, &saved));
	cl_err err = cl_kh_get_public(&ps->kh, slot, &purpose, buf, &len);
	tls_unlock(ps, saved, err, "get-public");
	if (err == CL_OK && (purpose != CL_KH_PURPOSE_SIGN_HANDSHAKE || len != CL_AGENT_TLS_POINT_LEN))
		err = cl_errorf(CL_EPROTO, "the key holder's %s is not a P-256 handshake key", slot);
	if (err == CL_OK)
		memcpy(point, buf, CL_AGENT_TLS_POINT_LEN);
	return err;
}

static cl_err tls_destroy(void *ctx, const char *slot)
{
	cl_agent_privsep *ps = ctx;
	int saved;
	CL_GUARD(tls_lock(ps, &saved));
	cl_err err = cl_kh_destroy(&ps->kh, slot);
	tls_unlock(ps, saved, err, "destroy");
	return err;
}

const cl_agent_tls_keys *cl_agent_privsep_tls_keys(cl_agent_privsep *ps)
{
	return ps ? &ps->tls_keys : NULL;
}

/* ---------------------------------------------------------------- the TLS data plane */

static cl_err plane_set(void *ctx, const cl_dp_guest *g)
{
	cl_agent_privsep *ps = ctx;
	pthread_mutex_lock(&ps->mu);
	cl_err err = ps->fd_dp >= 0 ? CL_OK : cl_errorf(CL_EUNAVAIL, "no TLS data plane");
	if (err == CL_OK) {
		err = cl_dp_guest_set(&ps->dp, g);
	}
	pthread_mutex_unlock(&ps->mu);
	return err;
}

static cl_err plane_remove(void *ctx, const char *enclave_id)
{
	cl_agent_privsep *ps = ctx;
	pthread_mutex_lock(&ps->mu);
	cl_err err = ps->fd_dp >= 0 ? CL_OK : cl_errorf(CL_EUNAVAIL, "no TLS data plane");
	if (err == CL_OK) {
		err = cl_dp_guest_remove(&ps->dp, enclave_id);
	}
	pthread_mutex_unlock(&ps->mu);
	return err;
}

static cl_err plane_stats(void *ctx, const char *enclave_id, cl_dp_stats *out)
{
	cl_agent_privsep *ps = ctx;
	pthread_mutex_lock(&ps->mu);
	cl_err err = ps->fd_dp >= 0 ? CL_OK : cl_errorf(CL_EUNAVAIL, "no TLS data plane");
	if (err == CL_OK) {
		err = cl_dp_stats_get(&ps->dp, enclave_id, out);
	}
	pthread_mutex_unlock(&ps->mu);
	return err;
}

const cl_agent_tls_plane *cl_agent_privsep_tls_plane(cl_agent_privsep *ps)
{
	return ps && ps->fd_dp >= 0 ? &ps->tls_plane : NULL;
}

/* ---------------------------------------------------------------- the supervisor's channel */

static cl_err decode_empty(cl_buf *req, void *args)
{
	return CL_OK; /* the dispatcher checks the payload is empty */
}

static void close_if(int fd);

static cl_err run_keyholder(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_agent_privsep *ps = ctx;
	int fd = cl_ipc_server_take_fd(&ps->sup, 0), dp = cl_ipc_server_take_fd(&ps->sup, 1);
	if (fd < 0) {
		close_if(dp);
		return cl_errorf(CL_EINVAL, "a new key holder channel without its descriptor");
	}
	pthread_mutex_lock(&ps->mu);
	if (ps->fd_kh >= 0)
		close(ps->fd_kh);
	ps->fd_kh = fd;
	close_if(ps->fd_dp);
	ps->fd_dp = dp;
	cl_dp_client_init(&ps->dp, dp, DP_TIMEOUT_MS);
	cl_kh_client_init(&ps->kh, fd, KH_TIMEOUT_MS);
	pthread_mutex_unlock(&ps->mu);
	cl_info("key holder restarted by the supervisor: new channel in use");
	return CL_OK;
}

static cl_err run_guestif(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_agent_privsep *ps = ctx;
	int q = cl_ipc_server_take_fd(&ps->sup, 0), c = cl_ipc_server_take_fd(&ps->sup, 1);
	if (q < 0 || c < 0) {
		if (q >= 0)
			close(q);
		if (c >= 0)
			close(c);
		return cl_errorf(CL_EINVAL, "a new guest interface without both channels");
	}
	pthread_mutex_lock(&ps->mu);
	cl_guestif *gate = ps->gate;
	if (!gate) { /* the gate is not running (yet): it takes them when it starts */
		if (ps->gi_query >= 0)
			close(ps->gi_query);
		if (ps->gi_control >= 0)
			close(ps->gi_control);
		ps->gi_query = q;
		ps->gi_control = c;
	}
	pthread_mutex_unlock(&ps->mu);
	/* The gate outlives this call: it is dropped from ps (under mu) before
	 * it is stopped, and stopped only after this thread is joined. */
	return gate ? cl_guestif_reattach(gate, q, c) : CL_OK;
}

static const cl_ipc_handler sup_handlers[] = {
	{CL_SUP_KEYHOLDER, "keyholder", 0, decode_empty, run_keyholder, 2},
	{CL_SUP_GUESTIF, "guestif", 0, decode_empty, run_guestif, 2},
};

static void *serve_sup(void *arg)
{
	cl_agent_privsep *ps = arg;
	for (;;) {
		struct pollfd pf[2] = {{.fd = ps->wake[0], .events = POLLIN}, {.fd = ps->fd_sup, .events = POLLIN}};
		int rc = poll(pf, 2, -1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0 || pf[0].revents)
			break;
		cl_err err = cl_ipc_server_serve_one(&ps->sup);
		if (err == CL_EUNAVAIL || err == CL_ESYS) {
			/* Fail closed: without a supervisor nothing restarts the key
			 * holder or the guest interface. Stop like on SIGTERM. */
			cl_error("the supervisor is gone: stopping");
			kill(getpid(), SIGTERM);
			break;
		}
	}
	return NULL;
}

static void close_if(int fd)
{
	if (fd >= 0)
		close(fd);
}

cl_err cl_agent_privsep_start(const cl_agent_channels *ch, cl_agent_privsep **out)
{
	cl_err err = CL_OK;
	*out = NULL;
	cl_agent_privsep *ps = calloc(1, sizeof(*ps));
	if (!ps) {
		close_if(ch->sup);
		close_if(ch->kh);
		close_if(ch->gi_query);
		close_if(ch->gi_control);
		close_if(ch->dp);
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	pthread_mutex_init(&ps->mu, NULL);
	ps->fd_sup = ch->sup;
	ps->fd_kh = ch->kh;
	ps->fd_dp = ch->dp;
	cl_dp_client_init(&ps->dp, ps->fd_dp, DP_TIMEOUT_MS);
	ps->gi_query = ch->gi_query;
	ps->gi_control = ch->gi_control;
	ps->wake[0] = ps->wake[1] = -1;
	cl_kh_client_init(&ps->kh, ps->fd_kh, KH_TIMEOUT_MS);
	ps->keys = (fwg_keys){.generate = keys_generate, .get_public = keys_get_public, .image_key = keys_image_key,
			      .ctx = ps};
	ps->att_keys = (cl_agent_att_keys){.get_public = att_get_public, .generate = att_generate, .sign = att_sign,
					   .ctx = ps};
	ps->tls_keys = (cl_agent_tls_keys){.generate = tls_generate, .get_public = tls_get_public, .destroy = tls_destroy,
					   .ctx = ps};
	ps->tls_plane = (cl_agent_tls_plane){.set = plane_set, .remove = plane_remove, .stats = plane_stats,
					     .ctx = ps};
	cl_ipc_server_init(&ps->sup, ps->fd_sup, "agent/supervisor", sup_handlers,
			   sizeof(sup_handlers) / sizeof(sup_handlers[0]), CL_SUP_MSG_MAX, ps);
	if (ps->fd_sup >= 0) {
		if (pipe2(ps->wake, O_CLOEXEC) != 0) {
			err = cl_errorf(CL_ESYS, "pipe: %s", strerror(errno));
			goto out;
		}
		int rc = pthread_create(&ps->thread, NULL, serve_sup, ps);
		if (rc != 0) {
			err = cl_errorf(CL_ESYS, "cannot start the supervisor channel's thread: %s", strerror(rc));
			goto out;
		}
		ps->thread_started = true;
	}
	*out = ps;
	return CL_OK;
out:
	cl_agent_privsep_free(ps);
	return err;
}

void cl_agent_privsep_free(cl_agent_privsep *ps)
{
	if (!ps)
		return;
	if (ps->thread_started) {
		ssize_t w = write(ps->wake[1], "s", 1);
		(void)w;
		pthread_join(ps->thread, NULL);
	}
	int fds[] = {ps->fd_sup, ps->fd_kh, ps->fd_dp, ps->gi_query, ps->gi_control, ps->wake[0], ps->wake[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close_if(fds[i]);
	pthread_mutex_destroy(&ps->mu);
	free(ps);
}

/* ---------------------------------------------------------------- the gate */

cl_err cl_agent_privsep_gate(cl_agent_privsep *ps, fwg_host *h, const char *base, cl_guestif **out)
{
	pthread_mutex_lock(&ps->mu);
	int q = ps->gi_query, c = ps->gi_control;
	ps->gi_query = ps->gi_control = -1;
	pthread_mutex_unlock(&ps->mu);
	/* Without channels (the process is being restarted) the gate starts
	 * detached: sockets are bound and wait for the reattach. */
	CL_GUARD(cl_guestif_gate_new(h, base, NULL, q, c, out));
	pthread_mutex_lock(&ps->mu);
	ps->gate = *out;
	q = ps->gi_query, c = ps->gi_control; /* arrived meanwhile */
	ps->gi_query = ps->gi_control = -1;
	pthread_mutex_unlock(&ps->mu);
	if (q >= 0 && c >= 0)
		return cl_guestif_reattach(*out, q, c);
	close_if(q);
	close_if(c);
	return CL_OK;
}

void cl_agent_privsep_drop_gate(cl_agent_privsep *ps)
{
	if (!ps)
		return;
	if (ps->thread_started) { /* no reattach may be running once the gate goes */
		ssize_t w = write(ps->wake[1], "s", 1);
		(void)w;
		pthread_join(ps->thread, NULL);
		ps->thread_started = false;
	}
	pthread_mutex_lock(&ps->mu);
	ps->gate = NULL;
	pthread_mutex_unlock(&ps->mu);
}

/* ---------------------------------------------------------------- the agent's walls */

cl_err cl_agent_harden(uid_t kh_uid, gid_t kh_gid)
{
	/* What the process backend's shims need from the host side (they are
	 * exec'd by the agent and inherit exactly this, no_new_privs keeps an
	 * exec from adding to it): namespaces and mounts (SYS_ADMIN), the
	 * enclave's uid/gid maps (SETUID, SETGID), signals to enclave
	 * processes of other uids (KILL), oom_score_adj -1000 (SYS_RESOURCE).
	 * And the agent's own: networked enclaves' veth pairs, addresses and
	 * routes (NET_ADMIN, agent_net.h; optional: without it such an enclave
	 * fails to launch). */
	const uint64_t want = CL_CAP(CAP_SYS_ADMIN) | CL_CAP(CAP_SETUID) | CL_CAP(CAP_SETGID) | CL_CAP(CAP_KILL) |
			      CL_CAP(CAP_SYS_RESOURCE) | CL_CAP(CAP_NET_ADMIN);
	uint64_t permitted = 0, keep;
	/* Landlock: no file-system rule (a shim mounts and pivots, which a
	 * file-system domain forbids to every descendant) and no TCP rule
	 * (enclaves run arbitrary programs); abstract UNIX sockets scoped;
	 * signals not (the agent kills shims adopted from an earlier agent,
	 * which are outside its domain). */
	cl_harden_policy pol = {.scope_only = true, .no_signal_scope = true, .deny = cl_role_host_deny,
				.protect_ids = true, .protect_uid = kh_uid, .protect_gid = kh_gid};
	cl_harden_report rep;
	CL_GUARD(cl_harden_caps(NULL, &permitted, NULL, NULL, NULL));
	keep = want & permitted; /* SYS_RESOURCE is optional (the shim uses it where the host allows it) */
	CL_GUARD(cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, keep, NULL));
	CL_GUARD(cl_harden_process(&pol, &rep));
	cl_info("agent hardened: capabilities 0x%llx, undumpable, no_new_privs, landlock scope %s (ABI %d), "
		"seccomp deny-list %u rules",
		(unsigned long long)keep, rep.landlock_applied ? "on" : "off", rep.landlock_abi, rep.seccomp_rules);
	return CL_OK;
}
