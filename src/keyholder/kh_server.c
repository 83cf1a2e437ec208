/* kh_server.c — the key holder's requests, its policy, and its process.
 *
 * Each request type has a decoder (syntax: lengths, slot name) and a run
 * (meaning: the channel's role may do this to this kind of key, the key
 * exists, its purpose fits) — OpenSSH's mm_answer_* discipline. The ipc
 * layer refuses anything malformed before a run sees it and logs every
 * refusal; nothing here ever logs or answers with a private byte. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "keyholder/kh_internal.h"

#define R(role) (1u << (role))
#define MAX_CHANNELS 8

/* Who may do what, by the key's purpose (= its slot's kind). */
static const struct {
	unsigned get_public, generate, use, destroy;
} policy[] = {
	[CL_KH_PURPOSE_ECDH] = {R(CL_KH_ROLE_AGENT), R(CL_KH_ROLE_AGENT), R(CL_KH_ROLE_AGENT), R(CL_KH_ROLE_AGENT)},
	[CL_KH_PURPOSE_SIGN_DOCUMENT] = {R(CL_KH_ROLE_AGENT) | R(CL_KH_ROLE_GUESTIF), R(CL_KH_ROLE_AGENT),
					 R(CL_KH_ROLE_AGENT) | R(CL_KH_ROLE_GUESTIF), 0},
	/* made by tls-generate only (generate refuses the kind: P-256, memory only) */
	[CL_KH_PURPOSE_SIGN_HANDSHAKE] = {R(CL_KH_ROLE_AGENT) | R(CL_KH_ROLE_TLS), R(CL_KH_ROLE_AGENT),
					  R(CL_KH_ROLE_TLS), R(CL_KH_ROLE_AGENT)},
	/* the sealing secret: no public half to read, made only by the first
	 * SEAL (never by generate), never destroyed, used by the agent only */
	[CL_KH_PURPOSE_SEAL] = {0, 0, R(CL_KH_ROLE_AGENT), 0},
};

const char *cl_kh_role_name(enum cl_kh_role r)
{
	switch (r) {
	case CL_KH_ROLE_AGENT:
		return "agent";
	case CL_KH_ROLE_GUESTIF:
		return "guestif";
	case CL_KH_ROLE_TLS:
		return "tls";
	}
	return "unknown";
}

const char *cl_kh_purpose_name(enum cl_kh_purpose p)
{
	switch (p) {
	case CL_KH_PURPOSE_ECDH:
		return "ecdh";
	case CL_KH_PURPOSE_SIGN_DOCUMENT:
		return "sign-document";
	case CL_KH_PURPOSE_SIGN_HANDSHAKE:
		return "sign-handshake";
	case CL_KH_PURPOSE_SEAL:
		return "seal";
	}
	return "unknown";
}

/* ---------------------------------------------------------------- decoders (syntax only) */

typedef struct args_slot {
	char slot[CL_KH_SLOT_MAX + 1];
	enum cl_kh_purpose purpose;
} args_slot;

typedef struct args_ecdh {
	args_slot s;
	uint8_t use;
	uint8_t peer[CL_KH_POINT_LEN];
} args_ecdh;

typedef struct args_sign {
	args_slot s;
	size_t len;
	uint8_t digest[CL_KH_DIGEST_MAX];
} args_sign;

typedef struct args_tls_gen {
	args_slot s;
	char host_id[CL_KH_HOST_ID_MAX + 1];
} args_tls_gen;

typedef struct args_seal {
	char tenant[CL_KH_TENANT_MAX + 1];
	uint8_t pcrs[CL_KH_PCRS_LEN];
	size_t label_len;
	uint8_t label[CL_KH_LABEL_MAX];
} args_seal;

_Static_assert(sizeof(args_ecdh) <= CL_IPC_ARGS_MAX && sizeof(args_sign) <= CL_IPC_ARGS_MAX &&
		       sizeof(args_seal) <= CL_IPC_ARGS_MAX && sizeof(args_tls_gen) <= CL_IPC_ARGS_MAX,
	       "ipc scratch");

static cl_err decode_slot(cl_buf *req, void *out)
{
	args_slot *a = out;
	CL_GUARD(cl_ipc_get_str(req, a->slot, sizeof(a->slot)));
	return kh_slot_purpose(a->slot, &a->purpose);
}

static cl_err decode_ecdh(cl_buf *req, void *out)
{
	args_ecdh *a = out;
	CL_GUARD(decode_slot(req, &a->s));
	CL_GUARD(cl_buf_get_u8(req, &a->use));
	return cl_ipc_get_fixed(req, a->peer, sizeof(a->peer));
}

static cl_err decode_sign(cl_buf *req, void *out)
{
	args_sign *a = out;
	const uint8_t *p = NULL;
	CL_GUARD(decode_slot(req, &a->s));
	CL_GUARD(cl_ipc_get_bytes(req, sizeof(a->digest), &p, &a->len));
	CL_ENSURE(a->len > 0, CL_EINVAL, "empty digest");
	memcpy(a->digest, p, a->len);
	return CL_OK;
}

/* [a-z0-9-]{1,n}, as ids in the control plane's paths. */
static bool id_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n < 1 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* "tls/<enclave>:<gen>": enclave an id ([a-z0-9-]), gen decimal 1..2^32-1
 * without leading zeros: the one spelling the monitor rebuilds. */
static bool tls_slot_ok(const char *slot)
{
	const char *name, *colon;
	char enclave[CL_KH_NAME_MAX + 1];
	uint64_t gen = 0;
	size_t digits;
	if (strncmp(slot, "tls/", 4) != 0)
		return false;
	name = slot + 4;
	colon = strchr(name, ':');
	if (!colon || (size_t)(colon - name) > CL_KH_NAME_MAX)
		return false;
	memcpy(enclave, name, (size_t)(colon - name));
	enclave[colon - name] = '\0';
	digits = strlen(colon + 1);
	if (!id_ok(enclave, CL_KH_NAME_MAX) || digits < 1 || digits > 10 || colon[1] == '0')
		return false;
	for (size_t i = 0; i < digits; i++) {
		if (colon[1 + i] < '0' || colon[1 + i] > '9')
			return false;
		gen = gen * 10 + (uint64_t)(colon[1 + i] - '0');
	}
	return gen <= CL_KH_TLS_GEN_MAX;
}

static cl_err decode_tls_gen(cl_buf *req, void *out)
{
	args_tls_gen *a = out;
	CL_GUARD(decode_slot(req, &a->s));
	CL_ENSURE(tls_slot_ok(a->s.slot), CL_EINVAL, "tls-generate: the slot must be tls/<enclave>:<generation>");
	CL_GUARD(cl_ipc_get_str(req, a->host_id, sizeof(a->host_id)));
	CL_ENSURE(id_ok(a->host_id, CL_KH_HOST_ID_MAX), CL_EINVAL, "tls-generate: the host id must be [a-z0-9-]{1,63}");
	return CL_OK;
}

static cl_err decode_seal(cl_buf *req, void *out)
{
	args_seal *a = out;
	const uint8_t *p = NULL;
	CL_GUARD(cl_ipc_get_str(req, a->tenant, sizeof(a->tenant)));
	size_t n = strlen(a->tenant);
	CL_ENSURE(n >= 1, CL_EINVAL, "empty tenant");
	for (size_t i = 0; i < n; i++)
		CL_ENSURE((a->tenant[i] >= 'a' && a->tenant[i] <= 'z') || (a->tenant[i] >= '0' && a->tenant[i] <= '9') ||
				  a->tenant[i] == '-',
			  CL_EINVAL, "bad tenant id");
	CL_GUARD(cl_ipc_get_fixed(req, a->pcrs, sizeof(a->pcrs)));
	CL_GUARD(cl_ipc_get_bytes(req, sizeof(a->label), &p, &a->label_len));
	CL_ENSURE(a->label_len >= 1, CL_EINVAL, "empty label");
	memcpy(a->label, p, a->label_len);
	return CL_OK;
}

/* ---------------------------------------------------------------- runs (meaning) */

static cl_err allowed(const cl_kh_conn *c, unsigned roles, const char *op, const char *slot)
{
	CL_ENSURE(roles & R(c->role), CL_EPERM, "role %s may not %s %s", cl_kh_role_name(c->role), op, slot);
	return CL_OK;
}

static cl_err existing(cl_kh_conn *c, const char *slot, kh_slot **out)
{
	*out = kh_find(c->kh, slot);
	CL_ENSURE(*out != NULL, CL_ENOTFOUND, "no key %s", slot);
	return CL_OK;
}

static cl_err run_get_public(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_kh_conn *c = ctx;
	const args_slot *a = args;
	kh_slot *s;
	CL_GUARD(allowed(c, policy[a->purpose].get_public, "read", a->slot));
	CL_GUARD(existing(c, a->slot, &s));
	CL_GUARD(cl_buf_put_u8(ans, (uint8_t)s->purpose));
	return cl_ipc_put_bytes(ans, s->point, kh_point_len(s->curve));
}

static cl_err run_generate(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_kh_conn *c = ctx;
	const args_slot *a = args;
	kh_slot *s;
	CL_GUARD(allowed(c, policy[a->purpose].generate, "generate", a->slot));
	CL_ENSURE(a->purpose != CL_KH_PURPOSE_SIGN_HANDSHAKE, CL_EPERM, "%s: tls/ keys are made by tls-generate",
		  a->slot);
	CL_GUARD(kh_create(c->kh, a->slot, a->purpose, CL_KH_CURVE_P384, &s));
	cl_info("key holder: generated %s (%s) for %s", a->slot, cl_kh_purpose_name(a->purpose),
		cl_kh_role_name(c->role));
	return cl_ipc_put_bytes(ans, s->point, sizeof(s->point));
}

static cl_err run_ecdh(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_kh_conn *c = ctx;
	const args_ecdh *a = args;
	uint8_t key[CL_KH_KEY_LEN];
	kh_slot *s;
	cl_err err;
	CL_GUARD(allowed(c, policy[a->s.purpose].use, "use", a->s.slot));
	CL_ENSURE(a->s.purpose == CL_KH_PURPOSE_ECDH, CL_EPERM, "%s is a %s key, not for ECDH", a->s.slot,
		  cl_kh_purpose_name(a->s.purpose));
	CL_ENSURE(a->use == CL_KH_USE_FW_IMAGE, CL_EINVAL, "unknown derivation use %u", a->use);
	CL_GUARD(existing(c, a->s.slot, &s));
	err = kh_crypto_ecdh(s->scalar, s->point, (enum cl_kh_use)a->use, a->peer, key);
	if (err == CL_OK)
		err = cl_ipc_put_bytes(ans, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	return err;
}

static cl_err run_sign(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_kh_conn *c = ctx;
	const args_sign *a = args;
	uint8_t sig[CL_KH_SIG_LEN];
	kh_slot *s;
	CL_GUARD(allowed(c, policy[a->s.purpose].use, "use", a->s.slot));
	CL_ENSURE(a->s.purpose == CL_KH_PURPOSE_SIGN_DOCUMENT || a->s.purpose == CL_KH_PURPOSE_SIGN_HANDSHAKE, CL_EPERM,
		  "%s is not a signing key (%s)", a->s.slot, cl_kh_purpose_name(a->s.purpose));
	/* A document digest is SHA-384. A handshake key is P-256 (tls-generate):
	 * TLS 1.3 signs SHA-256 with it (ecdsa_secp256r1_sha256), and so does
	 * TLS 1.2 as OpenSSL serves it; a P-384 one (an import, planned) signs
	 * SHA-384. */
	if (a->s.purpose == CL_KH_PURPOSE_SIGN_DOCUMENT)
		CL_ENSURE(a->len == 48, CL_EINVAL, "a document digest is 48 bytes, not %zu", a->len);
	CL_GUARD(existing(c, a->s.slot, &s));
	if (a->s.purpose == CL_KH_PURPOSE_SIGN_HANDSHAKE)
		CL_ENSURE(a->len == (s->curve == CL_KH_CURVE_P256 ? 32u : 48u), CL_EINVAL,
			  "a handshake digest for %s is %u bytes, not %zu", a->s.slot,
			  s->curve == CL_KH_CURVE_P256 ? 32u : 48u, a->len);
	CL_GUARD(kh_crypto_sign(s->curve, s->scalar, s->point, a->digest, a->len, sig));
	return cl_ipc_put_bytes(ans, sig, kh_sig_len(s->curve));
}

/* A new P-256 key in a tls/ slot, in memory only, and its proof of
 * possession over a digest composed here: the agent never chooses what a
 * tls/ key signs. */
static cl_err run_tls_generate(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_kh_conn *c = ctx;
	const args_tls_gen *a = args;
	uint8_t md[32], proof[CL_KH_SIG_LEN];
	kh_slot *s = NULL;
	cl_err err;
	CL_GUARD(allowed(c, policy[a->s.purpose].generate, "tls-generate", a->s.slot));
	CL_ENSURE(a->s.purpose == CL_KH_PURPOSE_SIGN_HANDSHAKE, CL_EINVAL, "tls-generate makes tls/ keys only");
	CL_GUARD(kh_create(c->kh, a->s.slot, a->s.purpose, CL_KH_CURVE_P256, &s));
	CL_GUARD_OUT(err, kh_crypto_tls_pop_digest(a->host_id, a->s.slot, s->point, md));
	CL_GUARD_OUT(err, kh_crypto_sign(CL_KH_CURVE_P256, s->scalar, s->point, md, sizeof(md), proof));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(ans, s->point, CL_KH_P256_POINT_LEN));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(ans, proof, CL_KH_P256_SIG_LEN));
	cl_info("key holder: generated %s (P-256, memory only) for host %s by %s", a->s.slot, a->host_id,
		cl_kh_role_name(c->role));
out:
	if (err != CL_OK && s && kh_remove(c->kh, s) != CL_OK)
		cl_error("key holder: cannot drop the half-made %s", a->s.slot);
	return err;
}

static cl_err run_destroy(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_kh_conn *c = ctx;
	const args_slot *a = args;
	kh_slot *s;
	CL_GUARD(allowed(c, policy[a->purpose].destroy, "destroy", a->slot));
	CL_GUARD(existing(c, a->slot, &s));
	CL_GUARD(kh_remove(c->kh, s));
	cl_info("key holder: destroyed %s for %s", a->slot, cl_kh_role_name(c->role));
	return CL_OK;
}

static cl_err run_seal(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	cl_kh_conn *c = ctx;
	const args_seal *a = args;
	uint8_t key[CL_KH_KEY_LEN];
	kh_slot *s;
	CL_GUARD(allowed(c, policy[CL_KH_PURPOSE_SEAL].use, "use", "seal"));
	if (!(s = kh_find(c->kh, "seal"))) {
		/* once per host: a secret that then never changes (a new one
		 * would make every sealed blob of this host unreadable) */
		CL_GUARD(kh_create(c->kh, "seal", CL_KH_PURPOSE_SEAL, CL_KH_CURVE_P384, &s));
		cl_info("key holder: generated the host's sealing secret for %s", cl_kh_role_name(c->role));
	}
	cl_err err = kh_crypto_seal(s->scalar, a->tenant, a->pcrs, a->label, a->label_len, key);
	if (err == CL_OK)
		err = cl_ipc_put_bytes(ans, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	return err;
}

#define SLOT_WIRE (2 + CL_KH_SLOT_MAX)
static const cl_ipc_handler handlers[] = {
	{CL_KH_REQ_GET_PUBLIC, "get-public", SLOT_WIRE, decode_slot, run_get_public, 0},
	{CL_KH_REQ_GENERATE, "generate", SLOT_WIRE, decode_slot, run_generate, 0},
	{CL_KH_REQ_ECDH, "ecdh", SLOT_WIRE + 1 + 4 + CL_KH_POINT_LEN, decode_ecdh, run_ecdh, 0},
	{CL_KH_REQ_SIGN, "sign", SLOT_WIRE + 4 + CL_KH_DIGEST_MAX, decode_sign, run_sign, 0},
	{CL_KH_REQ_DESTROY, "destroy", SLOT_WIRE, decode_slot, run_destroy, 0},
	{CL_KH_REQ_SEAL, "seal", 2 + CL_KH_TENANT_MAX + 4 + CL_KH_PCRS_LEN + 4 + CL_KH_LABEL_MAX, decode_seal, run_seal,
	 0},
	{CL_KH_REQ_TLS_GENERATE, "tls-generate", SLOT_WIRE + 2 + CL_KH_HOST_ID_MAX, decode_tls_gen, run_tls_generate, 0},
};

void cl_kh_conn_init(cl_kh_conn *conn, cl_kh *kh, int fd, enum cl_kh_role role)
{
	static const char *const names[] = {"keyholder/?", "keyholder/agent", "keyholder/guestif", "keyholder/tls"};
	conn->kh = kh;
	conn->role = role;
	cl_ipc_server_init(&conn->ipc, fd, names[(unsigned)role < 4 ? role : 0], handlers,
			   sizeof(handlers) / sizeof(handlers[0]), CL_KH_MSG_MAX, conn);
}

/* ---------------------------------------------------------------- the process */

cl_err cl_kh_serve(cl_kh_conn *conns, size_t n)
{
	struct pollfd p[MAX_CHANNELS];
	CL_ENSURE(n >= 1 && n <= MAX_CHANNELS, CL_EINVAL, "%zu channels", n);
	for (size_t i = 0; i < n; i++)
		p[i] = (struct pollfd){.fd = conns[i].ipc.fd, .events = POLLIN};
	for (;;) {
		int r = poll(p, (nfds_t)n, -1);
		if (r < 0 && errno == EINTR)
			continue;
		CL_ENSURE(r >= 0, CL_ESYS, "key holder: poll: %s", strerror(errno));
		for (size_t i = 0; i < n; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			cl_err err = cl_ipc_server_serve_one(&conns[i].ipc);
			if (err == CL_EUNAVAIL && conns[i].role == CL_KH_ROLE_AGENT)
				return CL_OK; /* the agent is gone: so are we */
			if (err == CL_EUNAVAIL) {
				cl_info("key holder: %s channel closed", cl_kh_role_name(conns[i].role));
				p[i].fd = -1;
				continue;
			}
			CL_GUARD(err);
		}
	}
}

int cl_keyholder_main(int fd_agent, const char *key_dir, const cl_kh_main_opts *opt)
{
	static const cl_kh_main_opts none;
	cl_kh_conn conns[MAX_CHANNELS];
	int fds[MAX_CHANNELS];
	size_t n = 0;
	cl_kh *kh = NULL;
	cl_harden_report rep = {0};
	cl_err err;
	if (!opt)
		opt = &none;
	/* Before OpenSSL allocates anything here: its temporaries (DER, base64)
	 * hold key bytes; wiped on free, they do not linger in freed memory.
	 * Too late in a process that used OpenSSL before the fork (tests). */
	bool wiped = kh_crypto_wipe_heap();
	/* Before any key is in memory: no core, no ptrace by same-uid peers.
	 * A log write to a closed stderr must not kill the key holder. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR ||
	    opt->nextra >= MAX_CHANNELS) {
		cl_error("key holder: cannot start (dumpable or channel count)");
		return 1;
	}
	fds[n++] = fd_agent;
	for (size_t i = 0; i < opt->nextra; i++)
		fds[n++] = opt->extra_fds[i];
	CL_GUARD_OUT(err, cl_close_fds_except(fds, n));
	if (opt->switch_user) {
		size_t moved = 0;
		CL_GUARD_OUT(err, cl_kh_dir_prepare(key_dir, opt->uid, opt->gid));
		if (opt->legacy_devices)
			CL_GUARD_OUT(err, cl_kh_migrate_devkeys(opt->legacy_devices, key_dir, opt->uid, opt->gid, &moved));
		if (moved)
			cl_info("key holder: moved %zu device key(s) from %s into %s", moved, opt->legacy_devices, key_dir);
		if (chdir(key_dir) != 0) {
			err = cl_errorf(CL_EIO, "key directory %s: %s", key_dir, strerror(errno));
			goto out;
		}
		CL_GUARD_OUT(err, cl_harden_drop_privileges(opt->uid, opt->gid, 0, NULL));
		key_dir = ".";
	}
	CL_GUARD_OUT(err, cl_kh_open(key_dir, opt->open_flags, &kh));
	CL_GUARD_OUT(err, kh_crypto_selftest());
	cl_kh_conn_init(&conns[0], kh, fd_agent, CL_KH_ROLE_AGENT);
	for (size_t i = 0; i < opt->nextra; i++)
		cl_kh_conn_init(&conns[i + 1], kh, opt->extra_fds[i], opt->extra_roles[i]);
	if (!opt->no_harden) {
		/* The key files are our own (uid): no capability is needed. */
		const cl_landlock_path paths[] = {{key_dir, CL_LL_READ | CL_LL_WRITE}};
		cl_harden_policy pol = {.paths = paths, .npaths = 1, .syscalls = cl_role_keyholder,
					.on_violation = opt->on_violation};
		CL_GUARD_OUT(err, cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, 0, NULL));
		CL_GUARD_OUT(err, cl_harden_process(&pol, &rep));
	}
	cl_info("key holder: serving %zu channel(s), %zu key(s) in %s memory, landlock ABI %d, seccomp %s, "
		"OpenSSL heap %s",
		n, cl_kh_count(kh), cl_secmem_kind_name(kh->arena.kind), rep.landlock_abi,
		rep.seccomp_applied ? "on" : "off", wiped ? "wiped on free" : "not wiped (OpenSSL used before the start)");
	err = cl_kh_serve(conns, n);
out:
	if (err != CL_OK)
		cl_error("key holder: %s: %s", cl_err_name(err), cl_error_detail());
	cl_kh_close(kh);
	return err == CL_OK ? 0 : 1;
}
