/* monitor.c — the control plane's monitor: its requests, its policy, its
 * process (monitor.h, docs/monitor.md).
 *
 * Each request type has a decoder (syntax: lengths, characters) and a run
 * (meaning: the digest length is a handshake's, the stored hash is one of
 * ours) — OpenSSH's mm_answer_* discipline. The ipc layer refuses anything
 * malformed before a run sees it and logs every refusal (rate-limited);
 * nothing here ever logs or answers with a private byte, the pepper or the
 * sealing key, nor logs what it seals or opens. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/harden.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/util.h"
#include "control/monitor.h"

/* ---------------------------------------------------------------- secrets */

#define V2_LEN (3 + 32 + 1 + 64)

cl_err ctl_secret_hash_v2(const uint8_t pepper[CTL_MON_PEPPER_LEN], const char *secret, char *out, size_t outlen)
{
	uint8_t salt[16], inner[CL_SHA256_LEN], mac[CL_SHA256_LEN];
	char salthex[33], machex[65];
	cl_err err = CL_OK;
	CL_ENSURE(outlen > V2_LEN, CL_EINVAL, "hash buffer too small");
	CL_GUARD_OUT(err, cl_random(salt, sizeof(salt)));
	CL_GUARD_OUT(err, cl_hmac_sha256(pepper, CTL_MON_PEPPER_LEN, secret, strlen(secret), inner));
	CL_GUARD_OUT(err, cl_hmac_sha256(salt, sizeof(salt), inner, sizeof(inner), mac));
	cl_hex_encode(salt, sizeof(salt), salthex);
	cl_hex_encode(mac, sizeof(mac), machex);
	snprintf(out, outlen, "v2$%s$%s", salthex, machex);
out:
	explicit_bzero(inner, sizeof(inner));
	explicit_bzero(mac, sizeof(mac));
	return err;
}

cl_err ctl_secret_check(const uint8_t pepper[CTL_MON_PEPPER_LEN], const char *secret, const char *stored,
			bool *match)
{
	uint8_t salt[16], want[CL_SHA256_LEN], inner[CL_SHA256_LEN], got[CL_SHA256_LEN];
	char salthex[33];
	cl_err err = CL_OK;
	*match = false;
	if (strncmp(stored, "v1$", 3) == 0) {
		err = cl_secret_verify(secret, stored);
		*match = err == CL_OK;
		return err == CL_EAUTH ? CL_OK : err == CL_OK ? CL_OK : cl_errorf(CL_EINVAL, "malformed v1 hash");
	}
	CL_ENSURE(strncmp(stored, "v2$", 3) == 0 && strlen(stored) == V2_LEN && stored[35] == '$', CL_EINVAL,
		  "stored hash is neither v1 nor v2");
	memcpy(salthex, stored + 3, 32);
	salthex[32] = '\0';
	if (cl_hex_decode(salthex, salt, sizeof(salt)) != CL_OK || cl_hex_decode(stored + 36, want, sizeof(want)) != CL_OK)
		return cl_errorf(CL_EINVAL, "stored hash is not hex");
	CL_GUARD_OUT(err, cl_hmac_sha256(pepper, CTL_MON_PEPPER_LEN, secret, strlen(secret), inner));
	CL_GUARD_OUT(err, cl_hmac_sha256(salt, sizeof(salt), inner, sizeof(inner), got));
	*match = cl_ct_equal(got, want, sizeof(got));
out:
	explicit_bzero(inner, sizeof(inner));
	explicit_bzero(got, sizeof(got));
	return err;
}

/* ---------------------------------------------------------------- decoders (syntax only) */

typedef struct args_sign {
	size_t len;
	uint8_t digest[64];
} args_sign;

typedef struct args_secret {
	char secret[CTL_MON_SECRET_MAX + 1];
	char stored[CTL_MON_HASH_MAX + 1];
} args_secret;

typedef struct args_issue {
	char host_id[CTL_HOST_ID_MAX + 1];
	uint8_t point[CTL_ATT_POINT_LEN];
	uint8_t proof[CTL_ATT_PROOF_LEN];
} args_issue;

/* ISSUE_TLS_CERT: the names stay in the request's payload (up to 1 KiB). */
typedef struct args_tls {
	char host_id[CTL_HOST_ID_MAX + 1];
	char enclave_id[CTL_TLS_ENCLAVE_ID_MAX + 1];
	uint32_t gen;
	const uint8_t *names; /* into the payload, which the ipc layer keeps for the run */
	size_t names_len;
	uint8_t point[CTL_TLS_POINT_LEN];
	uint8_t proof[CTL_TLS_PROOF_LEN];
} args_tls;

/* SEAL and UNSEAL: the data is not copied into the scratch (it may be 8 KiB):
 * p points into the request's payload, which the ipc layer keeps for the
 * run and wipes after it. */
typedef struct args_seal {
	char aad[CTL_MON_SEAL_AAD_MAX + 1];
	const uint8_t *p;
	size_t n;
} args_seal;

_Static_assert(sizeof(args_sign) <= CL_IPC_ARGS_MAX && sizeof(args_secret) <= CL_IPC_ARGS_MAX &&
		       sizeof(args_issue) <= CL_IPC_ARGS_MAX && sizeof(args_seal) <= CL_IPC_ARGS_MAX &&
		       sizeof(args_tls) <= CL_IPC_ARGS_MAX,
	       "ipc scratch");

static cl_err decode_sign(cl_buf *req, void *out)
{
	args_sign *a = out;
	const uint8_t *p = NULL;
	CL_GUARD(cl_ipc_get_bytes(req, sizeof(a->digest), &p, &a->len));
	memcpy(a->digest, p, a->len);
	return CL_OK;
}

static cl_err decode_none(cl_buf *req, void *out)
{
	return CL_OK;
}

static cl_err decode_secret(cl_buf *req, void *out)
{
	args_secret *a = out;
	CL_GUARD(cl_ipc_get_str(req, a->secret, sizeof(a->secret)));
	CL_ENSURE(a->secret[0] != '\0', CL_EINVAL, "empty secret");
	return CL_OK;
}

static cl_err decode_verify(cl_buf *req, void *out)
{
	args_secret *a = out;
	CL_GUARD(decode_secret(req, a));
	return cl_ipc_get_str(req, a->stored, sizeof(a->stored));
}

/* Syntax only: the sizes are exact; what they mean is run_issue's. */
static cl_err decode_issue(cl_buf *req, void *out)
{
	args_issue *a = out;
	CL_GUARD(cl_ipc_get_str(req, a->host_id, sizeof(a->host_id)));
	CL_ENSURE(a->host_id[0] != '\0', CL_EINVAL, "empty host id");
	CL_GUARD(cl_ipc_get_fixed(req, a->point, sizeof(a->point)));
	return cl_ipc_get_fixed(req, a->proof, sizeof(a->proof));
}

/* Syntax only: lengths and the absence of NUL bytes; what the ids and
 * names mean is checked by ctl_ca_issue_tls. */
static cl_err decode_tls(cl_buf *req, void *out)
{
	args_tls *a = out;
	uint16_t n = 0;
	CL_GUARD(cl_ipc_get_str(req, a->host_id, sizeof(a->host_id)));
	CL_GUARD(cl_ipc_get_str(req, a->enclave_id, sizeof(a->enclave_id)));
	CL_GUARD(cl_buf_get_be32(req, &a->gen));
	CL_GUARD(cl_buf_get_be16(req, &n));
	CL_ENSURE(n >= 1 && n <= CTL_TLS_NAMES_MAX, CL_EINVAL, "names of %u bytes", n);
	CL_GUARD(cl_buf_get_ref(req, &a->names, n));
	CL_ENSURE(memchr(a->names, '\0', n) == NULL, CL_EINVAL, "names hold a NUL byte");
	a->names_len = n;
	CL_GUARD(cl_ipc_get_fixed(req, a->point, sizeof(a->point)));
	return cl_ipc_get_fixed(req, a->proof, sizeof(a->proof));
}

static cl_err decode_seal(cl_buf *req, void *out)
{
	args_seal *a = out;
	CL_GUARD(cl_ipc_get_str(req, a->aad, sizeof(a->aad)));
	CL_ENSURE(a->aad[0] != '\0', CL_EINVAL, "empty aad");
	CL_GUARD(cl_ipc_get_bytes(req, CTL_MON_SEAL_MAX, &a->p, &a->n));
	CL_ENSURE(a->n > 0, CL_EINVAL, "nothing to seal");
	return CL_OK;
}

static cl_err decode_unseal(cl_buf *req, void *out)
{
	args_seal *a = out;
	CL_GUARD(cl_ipc_get_str(req, a->aad, sizeof(a->aad)));
	CL_ENSURE(a->aad[0] != '\0', CL_EINVAL, "empty aad");
	/* a cut or overlong blob is a refusal of its meaning (run_unseal), not
	 * of the syntax: only the cap is checked here */
	return cl_ipc_get_bytes(req, CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD, &a->p, &a->n);
}

/* ---------------------------------------------------------------- runs (meaning) */

static cl_err run_sign(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	ctl_monitor *m = ctx;
	const args_sign *a = args;
	uint8_t sig[96];
	/* TLS 1.3 with P-384 signs SHA-384; TLS 1.2 may hash with SHA-256 or
	 * SHA-512 too. Anything else is not a handshake. */
	CL_ENSURE(a->len == 32 || a->len == 48 || a->len == 64, CL_EINVAL,
		  "a handshake digest is 32, 48 or 64 bytes, not %zu", a->len);
	CL_GUARD(ctl_ca_sign_handshake(m->ca, a->digest, a->len, sig));
	m->signs++;
	return cl_ipc_put_bytes(ans, sig, sizeof(sig));
}

static cl_err run_get_certs(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	ctl_monitor *m = ctx;
	const char *chain, *ca;
	size_t nchain, nca;
	bool renewed = false;
	/* The worker asks every CTL_CERT_CHECK_S: that is when a certificate
	 * near its end is re-issued. A failure keeps the current one. */
	if (ctl_ca_renew_if_due(m->ca, time(NULL), &renewed) != CL_OK)
		cl_error("monitor: cannot re-issue the server certificate: %s", cl_error_detail());
	if (ctl_ca_hosts_renew_if_due(m->ca, time(NULL), &renewed) != CL_OK)
		cl_error("monitor: cannot re-issue the hosts CA certificate: %s", cl_error_detail());
	ctl_ca_pems(m->ca, &chain, &nchain, &ca, &nca);
	CL_GUARD(cl_ipc_put_bytes(ans, chain, nchain));
	CL_GUARD(cl_ipc_put_bytes(ans, ca, nca));
	ctl_ca_hosts_pem(m->ca, &ca, &nca);
	return cl_ipc_put_bytes(ans, ca, nca);
}

/* The worker asks on behalf of a host that authenticated with its own
 * token and whose id the worker took from its path: the monitor cannot
 * check the token, but it checks that the key is a P-384 point, that the
 * proof is that key's signature over this host id (so a worker cannot have
 * a key certified that the host does not hold, nor move a proof to another
 * host) and issues nothing else but a leaf (ca.h). */
static cl_err run_issue(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	ctl_monitor *m = ctx;
	const args_issue *a = args;
	ctl_host_cert *c = malloc(sizeof(*c));
	cl_err err;
	CL_ENSURE(c != NULL, CL_ENOMEM, "out of memory");
	CL_GUARD_OUT(err, ctl_ca_issue_host(m->ca, a->host_id, a->point, a->proof, time(NULL), c));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(ans, c->der, c->der_len));
	CL_GUARD_OUT(err, cl_ipc_put_str(ans, c->serial));
	CL_GUARD_OUT(err, cl_buf_put_be64(ans, (uint64_t)c->not_after));
	m->issued++;
	cl_info("monitor: host attestation certificate issued host=%s serial=%s not_after=%lld", a->host_id,
		c->serial, (long long)c->not_after);
out:
	free(c);
	return err;
}

/* As run_issue, for a guest's TLS key made in the host's key holder: the
 * monitor rebuilds the digest the key holder signed (host id, slot, point)
 * and checks the proof, the point and the names before the root signs. */
static cl_err run_issue_tls(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	ctl_monitor *m = ctx;
	const args_tls *a = args;
	char names[CTL_TLS_NAMES_MAX + 1];
	ctl_tls_cert c;
	cl_err err;
	memcpy(names, a->names, a->names_len);
	names[a->names_len] = '\0';
	CL_GUARD(ctl_ca_issue_tls(m->ca, a->host_id, a->enclave_id, a->gen, names, a->point, a->proof, &c));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(ans, c.chain_pem, strlen(c.chain_pem)));
	CL_GUARD_OUT(err, cl_ipc_put_str(ans, c.serial));
	CL_GUARD_OUT(err, cl_buf_put_be64(ans, (uint64_t)c.not_after));
	m->tls_issued++;
	cl_info("monitor: guest TLS certificate issued host=%s enclave=%s gen=%u serial=%s not_after=%lld", a->host_id,
		a->enclave_id, (unsigned)a->gen, c.serial, (long long)c.not_after);
out:
	free(c.chain_pem);
	return err;
}

static cl_err run_hash(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	ctl_monitor *m = ctx;
	const args_secret *a = args;
	char out[V2_LEN + 1];
	CL_GUARD(ctl_secret_hash_v2(m->pepper, a->secret, out, sizeof(out)));
	m->hashes++;
	return cl_ipc_put_str(ans, out);
}

static cl_err run_verify(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	ctl_monitor *m = ctx;
	const args_secret *a = args;
	bool match = false;
	CL_GUARD(ctl_secret_check(m->pepper, a->secret, a->stored, &match));
	m->verifies++;
	return cl_buf_put_u8(ans, match ? 1 : 0);
}

/* The worker seals what it will store; the blob is all it gets back. */
static cl_err run_seal(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	ctl_monitor *m = ctx;
	const args_seal *a = args;
	cl_buf sealed;
	cl_err err;
	cl_buf_init(&sealed, CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD);
	CL_GUARD_OUT(err, ctl_seal(m->seal_key, a->aad, a->p, a->n, &sealed));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(ans, sealed.data, sealed.len));
	m->seals++;
out:
	cl_buf_free(&sealed);
	return err;
}

/* The monitor cannot tell why the worker wants a blob opened (it must not
 * parse attestation documents itself): it checks that the blob is one of
 * its own, unchanged, sealed for this aad. A refusal is logged by the ipc
 * layer with the reason, never with the aad's blob or any plaintext. */
static cl_err run_unseal(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans)
{
	ctl_monitor *m = ctx;
	const args_seal *a = args;
	cl_buf pt;
	cl_err err;
	cl_buf_init(&pt, CTL_MON_SEAL_MAX);
	CL_GUARD_OUT(err, ctl_unseal(m->seal_key, a->aad, a->p, a->n, &pt));
	CL_GUARD_OUT(err, cl_ipc_put_bytes(ans, pt.data, pt.len)); /* ans is wiped by the ipc layer */
	m->unseals++;
out:
	cl_buf_free(&pt); /* wipes */
	return err;
}

static const cl_ipc_handler handlers[] = {
	{CTL_MON_SIGN_HANDSHAKE, "sign-handshake", 4 + 64, decode_sign, run_sign, 0},
	{CTL_MON_GET_CERTS, "get-certs", 0, decode_none, run_get_certs, 0},
	{CTL_MON_HASH_SECRET, "hash-secret", 2 + CTL_MON_SECRET_MAX, decode_secret, run_hash, 0},
	{CTL_MON_VERIFY_SECRET, "verify-secret", 2 + CTL_MON_SECRET_MAX + 2 + CTL_MON_HASH_MAX, decode_verify,
	 run_verify, 0},
	{CTL_MON_ISSUE_HOST_CERT, "issue-host-cert", 2 + CTL_HOST_ID_MAX + 4 + CTL_ATT_POINT_LEN + 4 + CTL_ATT_PROOF_LEN,
	 decode_issue, run_issue, 0},
	{CTL_MON_SEAL, "seal", 2 + CTL_MON_SEAL_AAD_MAX + 4 + CTL_MON_SEAL_MAX, decode_seal, run_seal, 0},
	{CTL_MON_UNSEAL, "unseal", 2 + CTL_MON_SEAL_AAD_MAX + 4 + CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD, decode_unseal,
	 run_unseal, 0},
	{CTL_MON_ISSUE_TLS_CERT, "issue-tls-cert",
	 2 + CTL_HOST_ID_MAX + 2 + CTL_TLS_ENCLAVE_ID_MAX + 4 + 2 + CTL_TLS_NAMES_MAX + 4 + CTL_TLS_POINT_LEN + 4 +
		 CTL_TLS_PROOF_LEN,
	 decode_tls, run_issue_tls, 0},
};

void ctl_monitor_init(ctl_monitor *m, ctl_ca *ca, const uint8_t *pepper, const uint8_t *seal_key, int fd)
{
	memset(m, 0, sizeof(*m));
	m->ca = ca;
	m->pepper = pepper;
	m->seal_key = seal_key;
	cl_ipc_server_init(&m->ipc, fd, "monitor/worker", handlers, sizeof(handlers) / sizeof(handlers[0]),
			   CTL_MON_MSG_MAX, m);
}

/* ---------------------------------------------------------------- the process */

/* Loads DATA/keys/NAME (len random bytes, 0600) into out, creating it on
 * first start (atomically: temporary file, fsync, rename, fsync of the
 * directory). The file is read straight into secret memory. what names it
 * in the log. */
static cl_err load_key_file(const char *keys_dir, const char *name, uint8_t *out, size_t len, const char *what)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/%s", keys_dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		CL_GUARD(cl_random(out, len));
		CL_GUARD(cl_file_write_atomic(path, out, len, 0600));
		cl_info("monitor: created the %s path=%s", what, path);
		return CL_OK;
	}
	CL_ENSURE(fd >= 0, CL_EIO, "cannot open %s: %s", path, strerror(errno));
	uint8_t extra;
	ssize_t n = read(fd, out, len);
	ssize_t more = n == (ssize_t)len ? read(fd, &extra, 1) : 0;
	close(fd);
	CL_ENSURE(n == (ssize_t)len && more == 0, CL_EIO, "%s is not %zu bytes", path, len);
	return CL_OK;
}

static cl_err serve(ctl_monitor *m)
{
	struct pollfd p = {.fd = m->ipc.fd, .events = POLLIN};
	for (;;) {
		int r = poll(&p, 1, -1);
		if (r < 0 && errno == EINTR)
			continue;
		CL_ENSURE(r >= 0, CL_ESYS, "monitor: poll: %s", strerror(errno));
		cl_err err = cl_ipc_server_serve_one(&m->ipc);
		if (err == CL_EUNAVAIL)
			return CL_OK; /* the worker is gone: so are we */
		/* A send that would block means the worker does not read its
		 * answers: it is broken or hostile, and we never wait for it. */
		CL_GUARD(err);
	}
}

int ctl_monitor_main(int fd, const ctl_monitor_opts *o)
{
	char ca_pem[PATH_MAX + 16];
	cl_secmem sec = {0}; /* the pepper, then the sealing key: one locked page */
	uint8_t *pepper = NULL, *seal_key = NULL;
	ctl_ca *ca = NULL;
	ctl_monitor m;
	cl_harden_report rep = {0};
	cl_err err;
	/* Before any key is in memory: no core, no ptrace by same-uid peers.
	 * A log write to a closed stderr must not kill the monitor. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		cl_error("monitor: cannot start (dumpable)");
		return 1;
	}
	CL_GUARD_OUT(err, cl_close_fds_except(&fd, 1));
	/* Never wait on the worker: a full socket fails the send instead. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		err = cl_errorf(CL_ESYS, "monitor: O_NONBLOCK: %s", strerror(errno));
		goto out;
	}
	/* The keys' private parts go to OpenSSL's secure heap (mlock,
	 * MADV_DONTDUMP, cleared on free); the pepper and the sealing key to
	 * secret memory. */
	if (CRYPTO_secure_malloc_initialized() == 0 && CRYPTO_secure_malloc_init(64 * 1024, 32) == 0)
		cl_warn("monitor: no OpenSSL secure heap: keys stay in ordinary (undumpable) memory");
	CL_GUARD_OUT(err, cl_secmem_alloc(CTL_MON_PEPPER_LEN + CTL_MON_SEAL_KEY_LEN, 0, &sec));
	pepper = sec.ptr;
	seal_key = pepper + CTL_MON_PEPPER_LEN;
	CL_GUARD_OUT(err, load_key_file(o->keys_dir, "pepper", pepper, CTL_MON_PEPPER_LEN, "secret-hash pepper"));
	CL_GUARD_OUT(err, load_key_file(o->keys_dir, "seal.key", seal_key, CTL_MON_SEAL_KEY_LEN, "sealing key"));
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", o->data_dir);
	CL_GUARD_OUT(err, ctl_ca_open(o->keys_dir, ca_pem, o->names, time(NULL), &ca));
	if (o->renew_days)
		ctl_ca_set_renew_days(ca, o->renew_days);
	ctl_monitor_init(&m, ca, pepper, seal_key, fd);
	if (!o->no_harden) {
		/* Read-write to the key directory (re-issued certificates), nothing
		 * else; the key files are our own: no capability is needed. */
		const cl_landlock_path paths[] = {{o->keys_dir, CL_LL_READ | CL_LL_WRITE}};
		cl_harden_policy pol = {.paths = paths, .npaths = 1, .syscalls = cl_role_keyholder};
		CL_GUARD_OUT(err, cl_harden_drop_privileges((uid_t)-1, (gid_t)-1, 0, NULL));
		CL_GUARD_OUT(err, cl_harden_process(&pol, &rep));
	}
	cl_info("monitor: serving, pepper and sealing key in %s memory, landlock ABI %d, seccomp %s",
		cl_secmem_kind_name(sec.kind), rep.landlock_abi, rep.seccomp_applied ? "on" : "off");
	err = serve(&m);
	cl_info("monitor: channel closed signs=%llu hashes=%llu verifies=%llu issued=%llu tls_issued=%llu seals=%llu "
		"unseals=%llu refused=%llu",
		(unsigned long long)m.signs, (unsigned long long)m.hashes, (unsigned long long)m.verifies,
		(unsigned long long)m.issued, (unsigned long long)m.tls_issued, (unsigned long long)m.seals,
		(unsigned long long)m.unseals, (unsigned long long)m.ipc.refused);
out:
	if (err != CL_OK)
		cl_error("monitor: %s: %s", cl_err_name(err), cl_error_detail());
	ctl_ca_free(ca);
	cl_secmem_free(&sec);
	return err == CL_OK ? 0 : 1;
}
