/* Unit tests for src/keyholder: a real key holder process (forked, hardened
 * with KILL-mode seccomp, so a syscall missing from its role kills it and
 * fails the test) serving three channels (agent, tls, guestif). Every
 * request type, every refusal (role, purpose, slot name, lengths, invalid
 * point), logging without secrets, persistence across restarts, files never
 * overwritten, and a stopped or SIGKILLed key holder seen as an error. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/param_build.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "fw/fw_tools.h"
#include "fw/fw_internal.h"
#include "keyholder/keyholder.h"

static size_t plen; /* cl_kh_get_public's point length */
static char dir[64], keys[96], logpath[96];

typedef struct kh_proc {
	pid_t pid;
	cl_kh_client agent, tls, guestif;
	int fds[3];
} kh_proc;

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cl-kh.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(logpath, sizeof(logpath), "%s/kh.log", dir);
	return 0;
}

static int teardown(void **state)
{
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

static void kh_start(kh_proc *p, bool harden)
{
	int a[2], t[2], g[2];
	assert_int_equal(cl_ipc_pair(a), CL_OK);
	assert_int_equal(cl_ipc_pair(t), CL_OK);
	assert_int_equal(cl_ipc_pair(g), CL_OK);
	fflush(NULL);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		int extra[] = {t[1], g[1]};
		enum cl_kh_role roles[] = {CL_KH_ROLE_TLS, CL_KH_ROLE_GUESTIF};
		cl_kh_main_opts o = {.extra_fds = extra, .extra_roles = roles, .nextra = 2, .no_harden = !harden};
		int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log < 0 || dup2(log, 2) != 2)
			_exit(99);
		cl_log_init("keyholder", CL_LOG_INFO);
		_exit(cl_keyholder_main(a[1], keys, &o));
	}
	close(a[1]);
	close(t[1]);
	close(g[1]);
	p->fds[0] = a[0], p->fds[1] = t[0], p->fds[2] = g[0];
	cl_kh_client_init(&p->agent, a[0], 10000);
	cl_kh_client_init(&p->tls, t[0], 10000);
	cl_kh_client_init(&p->guestif, g[0], 10000);
}

/* Closes the agent's channel: the key holder must exit 0 on its own. */
static void kh_stop(kh_proc *p)
{
	int st;
	for (int i = 0; i < 3; i++)
		close(p->fds[i]);
	assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
	if (!WIFEXITED(st))
		fail_msg("key holder died of signal %d (a syscall missing from its role?)",
			 WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	assert_int_equal(WEXITSTATUS(st), 0);
}

static EVP_PKEY *point_key(const uint8_t pt[CL_KH_POINT_LEN])
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "secp384r1", 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, CL_KH_POINT_LEN),
		OSSL_PARAM_construct_end()};
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	assert_int_equal(EVP_PKEY_fromdata_init(c), 1);
	assert_int_equal(EVP_PKEY_fromdata(c, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(c);
	return k;
}

/* Verifies r || s over digest with the point; returns 1 if valid. Checks low-s. */
static int verify(const uint8_t pt[CL_KH_POINT_LEN], const uint8_t *dg, size_t n, const uint8_t sig[CL_KH_SIG_LEN],
		  int *low_s)
{
	EVP_PKEY *k = point_key(pt);
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 48, NULL), *s = BN_bin2bn(sig + 48, 48, NULL), *half = NULL;
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_secp384r1);
	half = BN_dup(EC_GROUP_get0_order(g));
	BN_rshift1(half, half);
	*low_s = BN_cmp(s, half) <= 0;
	ECDSA_SIG_set0(es, r, s);
	unsigned char *der = NULL;
	int dl = i2d_ECDSA_SIG(es, &der);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	int ok = EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_verify(c, der, (size_t)dl, dg, n) == 1;
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(c);
	ECDSA_SIG_free(es);
	BN_free(half);
	EC_GROUP_free(g);
	EVP_PKEY_free(k);
	return ok;
}

static const char *DEV = "dev/0000:03:00.0";

static void requests_and_policy(void **state)
{
	kh_proc p;
	uint8_t pt[CL_KH_POINT_LEN], pt2[CL_KH_POINT_LEN], dev[CL_KH_POINT_LEN], sig[CL_KH_SIG_LEN];
	uint8_t dg[64], key[CL_KH_KEY_LEN];
	enum cl_kh_purpose purpose;
	int low;
	struct stat st;
	char path[160];
	memset(dg, 0x5c, sizeof(dg));
	kh_start(&p, true);

	/* generate: agent only; the key is written 0600 PKCS#8 PEM */
	assert_int_equal(cl_kh_generate(&p.tls, "attest", pt), CL_EPERM);
	assert_int_equal(cl_kh_generate(&p.guestif, "attest", pt), CL_EPERM);
	assert_int_equal(cl_kh_generate(&p.agent, "attest", pt), CL_OK);
	assert_int_equal(pt[0], 0x04);
	assert_int_equal(cl_kh_generate(&p.agent, "attest", pt2), CL_ECONFLICT);
	assert_int_equal(cl_kh_generate(&p.agent, DEV, dev), CL_OK);
	snprintf(path, sizeof(path), "%s/%s.key", keys, DEV);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	cl_buf f;
	cl_buf_init(&f, 4096);
	assert_int_equal(cl_file_read(path, 4096, &f), CL_OK);
	assert_memory_equal(f.data, "-----BEGIN PRIVATE KEY-----", 27);
	cl_buf_free(&f);

	/* get-public: the purpose comes from the slot's kind */
	assert_int_equal(cl_kh_get_public(&p.agent, "attest", &purpose, pt2, &plen), CL_OK);
	assert_int_equal(purpose, CL_KH_PURPOSE_SIGN_DOCUMENT);
	assert_memory_equal(pt, pt2, sizeof(pt));
	assert_int_equal(cl_kh_get_public(&p.guestif, "attest", &purpose, pt2, &plen), CL_OK);
	assert_int_equal(cl_kh_get_public(&p.tls, "attest", &purpose, pt2, &plen), CL_EPERM);
	assert_int_equal(cl_kh_get_public(&p.tls, DEV, &purpose, pt2, &plen), CL_EPERM);
	assert_int_equal(cl_kh_get_public(&p.agent, "dev/0000:04:00.0", &purpose, pt2, &plen), CL_ENOTFOUND);

	/* sign-document: 48-byte digests, agent or guestif, always low-s */
	for (int i = 0; i < 24; i++) {
		dg[0] = (uint8_t)i;
		assert_int_equal(cl_kh_sign(i % 2 ? &p.agent : &p.guestif, "attest", dg, 48, sig), CL_OK);
		assert_true(verify(pt, dg, 48, sig, &low));
		assert_true(low);
	}
	assert_int_equal(cl_kh_sign(&p.agent, "attest", dg, 32, sig), CL_EINVAL);
	assert_int_equal(cl_kh_sign(&p.tls, "attest", dg, 48, sig), CL_EPERM);
	/* an ecdh key does not sign */
	assert_int_equal(cl_kh_sign(&p.agent, DEV, dg, 48, sig), CL_EPERM);

	/* sign-handshake keys: made by tls-generate only, P-256, memory only
	 * (every refusal in test_keyholder_tls.c) */
	uint8_t tlspt[CL_KH_POINT_LEN], proof[CL_KH_P256_SIG_LEN];
	size_t sl = sizeof(sig);
	assert_int_equal(cl_kh_generate(&p.agent, "tls/guest-1:1", tlspt), CL_EPERM);
	assert_int_equal(cl_kh_tls_generate(&p.agent, "tls/guest-1:1", "host-1", tlspt, proof), CL_OK);
	assert_int_equal(cl_kh_sign2(&p.tls, "tls/guest-1:1", dg, 32, sig, &sl), CL_OK);
	assert_int_equal(sl, CL_KH_P256_SIG_LEN);
	/* a caller that wants a P-384 signature does not take a P-256 one */
	assert_int_equal(cl_kh_sign(&p.tls, "tls/guest-1:1", dg, 32, sig), CL_EPROTO);
	assert_int_equal(cl_kh_sign(&p.agent, "tls/guest-1:1", dg, 32, sig), CL_EPERM);
	assert_int_equal(cl_kh_sign(&p.tls, "tls/guest-2:1", dg, 32, sig), CL_ENOTFOUND);

	/* ecdh: the derived key is what the firmware verifier computes */
	EVP_PKEY *eph = EVP_EC_gen("secp384r1");
	uint8_t epht[FW_POINT_LEN], z[48], want[32];
	size_t n = 0;
	fw_ops ops;
	assert_int_equal(EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, epht,
							 sizeof(epht), &n), 1);
	fw_openssl_ops(&ops, eph);
	assert_int_equal(ops.ecdh_p384(ops.ctx, dev, z), 1);
	uint8_t info[sizeof(FW_HKDF_INFO) - 1 + FW_POINT_LEN];
	memcpy(info, FW_HKDF_INFO, sizeof(FW_HKDF_INFO) - 1);
	memcpy(info + sizeof(FW_HKDF_INFO) - 1, epht, FW_POINT_LEN);
	assert_int_equal(fw_hkdf_sha384(&ops, z, 48, info, sizeof(info), want, 32), FW_OK);
	assert_int_equal(cl_kh_ecdh(&p.agent, DEV, CL_KH_USE_FW_IMAGE, epht, key), CL_OK);
	assert_memory_equal(key, want, 32);
	EVP_PKEY_free(eph);
	/* ...refused with a point off the curve, a compressed/hybrid prefix, the
	 * wrong role, a signing key, an unknown use */
	uint8_t bad[CL_KH_POINT_LEN];
	memcpy(bad, epht, sizeof(bad));
	bad[96] ^= 1;
	assert_int_equal(cl_kh_ecdh(&p.agent, DEV, CL_KH_USE_FW_IMAGE, bad, key), CL_ECRYPTO);
	memcpy(bad, epht, sizeof(bad));
	bad[0] = 0x06;
	assert_int_equal(cl_kh_ecdh(&p.agent, DEV, CL_KH_USE_FW_IMAGE, bad, key), CL_ECRYPTO);
	memset(bad, 0, sizeof(bad));
	bad[0] = 0x04; /* (0, 0): not on the curve */
	assert_int_equal(cl_kh_ecdh(&p.agent, DEV, CL_KH_USE_FW_IMAGE, bad, key), CL_ECRYPTO);
	assert_int_equal(cl_kh_ecdh(&p.tls, DEV, CL_KH_USE_FW_IMAGE, epht, key), CL_EPERM);
	assert_int_equal(cl_kh_ecdh(&p.agent, "attest", CL_KH_USE_FW_IMAGE, epht, key), CL_EPERM);
	assert_int_equal(cl_kh_ecdh(&p.agent, DEV, (enum cl_kh_use)7, epht, key), CL_EINVAL);

	/* slot names are checked before anything else */
	const char *names[] = {"../attest", "dev/", "dev/.hidden", "dev/a/b", "attest2", "ATTEST", "dev/a b",
			       "tls/-x", "dev/0000:03:00.0/../../attest", "tls/" "0123456789012345678901234567890123456789012345678901234567890123x"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (cl_kh_get_public(&p.agent, names[i], &purpose, pt2, &plen) != CL_EINVAL)
			fail_msg("slot name %s accepted", names[i]);

	/* destroy: agent, not for the attestation key; the file goes */
	assert_int_equal(cl_kh_destroy(&p.tls, "tls/guest-1:1"), CL_EPERM);
	assert_int_equal(cl_kh_destroy(&p.agent, "attest"), CL_EPERM);
	assert_int_equal(cl_kh_destroy(&p.guestif, "attest"), CL_EPERM);
	assert_int_equal(cl_kh_destroy(&p.tls, "attest"), CL_EPERM);
	assert_int_equal(cl_kh_destroy(&p.agent, "tls/guest-1:1"), CL_OK);
	sl = sizeof(sig);
	assert_int_equal(cl_kh_sign2(&p.tls, "tls/guest-1:1", dg, 32, sig, &sl), CL_ENOTFOUND);
	assert_int_equal(cl_kh_destroy(&p.agent, "tls/guest-1:1"), CL_ENOTFOUND);
	assert_int_equal(cl_kh_tls_generate(&p.agent, "tls/guest-1:2", "host-1", tlspt, proof), CL_OK);

	/* the process is hardened as promised */
	char proc[64], line[256];
	snprintf(proc, sizeof(proc), "/proc/%d/status", (int)p.pid);
	FILE *fs = fopen(proc, "r");
	int seen = 0;
	while (fs && fgets(line, sizeof(line), fs))
		seen += strcmp(line, "Seccomp:\t2\n") == 0 || strcmp(line, "NoNewPrivs:\t1\n") == 0 ||
			strcmp(line, "CapEff:\t0000000000000000\n") == 0 || strcmp(line, "CapPrm:\t0000000000000000\n") == 0;
	if (fs)
		fclose(fs);
	assert_int_equal(seen, 4);
	kh_stop(&p);

	/* restart: the keys are back, the same */
	kh_start(&p, true);
	assert_int_equal(cl_kh_get_public(&p.agent, "attest", &purpose, pt2, &plen), CL_OK);
	assert_memory_equal(pt, pt2, sizeof(pt));
	assert_int_equal(cl_kh_get_public(&p.agent, DEV, &purpose, pt2, &plen), CL_OK);
	assert_memory_equal(dev, pt2, sizeof(dev));
	assert_int_equal(purpose, CL_KH_PURPOSE_ECDH);
	/* a tls/ key lives in memory only: gone with the process */
	assert_int_equal(cl_kh_get_public(&p.agent, "tls/guest-1:2", &purpose, pt2, &plen), CL_ENOTFOUND);
	kh_stop(&p);
}

/* Files the key holder did not write (garbage, group-readable) are skipped
 * at start — and never overwritten by a generate. */
/* SEAL: agent only; HKDF-SHA384 of the host's sealing secret (made at the
 * first request, 0600, kept across restarts) over tenant, PCR0..3 and
 * label, checked against an independent HKDF over the scalar of seal.key;
 * the secret has no public half, cannot be generated, destroyed or used to
 * sign. */
static void seal_keys(void **state)
{
	kh_proc p;
	uint8_t pcrs[CL_KH_PCRS_LEN], k1[CL_KH_KEY_LEN], k2[CL_KH_KEY_LEN], pt[CL_KH_POINT_LEN], sig[CL_KH_SIG_LEN];
	uint8_t dg[48] = {7};
	enum cl_kh_purpose purpose;
	struct stat st;
	char path[160];
	for (size_t i = 0; i < sizeof(pcrs); i++)
		pcrs[i] = (uint8_t)i;
	kh_start(&p, true);
	assert_int_equal(cl_kh_seal(&p.guestif, "ten-1", pcrs, (const uint8_t *)"l1", 2, k1), CL_EPERM);
	assert_int_equal(cl_kh_seal(&p.tls, "ten-1", pcrs, (const uint8_t *)"l1", 2, k1), CL_EPERM);
	snprintf(path, sizeof(path), "%s/seal.key", keys);
	assert_int_not_equal(stat(path, &st), 0); /* nothing made for a refused caller */
	assert_int_equal(cl_kh_seal(&p.agent, "ten-1", pcrs, (const uint8_t *)"l1", 2, k1), CL_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(cl_kh_seal(&p.agent, "ten-1", pcrs, (const uint8_t *)"l1", 2, k2), CL_OK);
	assert_memory_equal(k1, k2, sizeof(k1));
	assert_int_equal(cl_kh_seal(&p.agent, "ten-1", pcrs, (const uint8_t *)"l2", 2, k2), CL_OK);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	assert_int_equal(cl_kh_seal(&p.agent, "ten-2", pcrs, (const uint8_t *)"l1", 2, k2), CL_OK);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	pcrs[100] ^= 1; /* PCR2 */
	assert_int_equal(cl_kh_seal(&p.agent, "ten-1", pcrs, (const uint8_t *)"l1", 2, k2), CL_OK);
	assert_memory_not_equal(k1, k2, sizeof(k1));
	pcrs[100] ^= 1;
	/* bad inputs */
	assert_int_equal(cl_kh_seal(&p.agent, "Ten!", pcrs, (const uint8_t *)"l1", 2, k2), CL_EINVAL);
	assert_int_equal(cl_kh_seal(&p.agent, "ten-1", pcrs, (const uint8_t *)"l1", 0, k2), CL_EINVAL);
	/* the secret is for sealing only */
	assert_int_equal(cl_kh_get_public(&p.agent, "seal", &purpose, pt, &plen), CL_EPERM);
	assert_int_equal(cl_kh_generate(&p.agent, "seal", pt), CL_EPERM);
	assert_int_equal(cl_kh_sign(&p.agent, "seal", dg, 48, sig), CL_EPERM);
	assert_int_equal(cl_kh_destroy(&p.agent, "seal"), CL_EPERM);
	kh_stop(&p);

	/* an independent HKDF over the file's scalar gives the same key */
	cl_buf f;
	cl_buf_init(&f, 4096);
	assert_int_equal(cl_file_read(path, 4096, &f), CL_OK);
	BIO *b = BIO_new_mem_buf(f.data, (int)f.len);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	assert_non_null(k);
	BIGNUM *d = NULL;
	uint8_t scalar[48], salt[48] = {0}, want[32], info[256];
	assert_int_equal(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
	assert_int_equal(BN_bn2binpad(d, scalar, 48), 48);
	size_t n = 0;
	memcpy(info, "cloister-seal/1\0ten-1\0", 22);
	n = 22;
	memcpy(info + n, pcrs, sizeof(pcrs));
	n += sizeof(pcrs);
	memcpy(info + n, "l1", 2);
	n += 2;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = EVP_KDF_CTX_new(kdf);
	OSSL_PARAM prm[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA384", 0),
			    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, scalar, 48),
			    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, 48),
			    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n), OSSL_PARAM_construct_end()};
	assert_int_equal(EVP_KDF_derive(kc, want, 32, prm), 1);
	assert_memory_equal(want, k1, 32);
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	BN_clear_free(d);
	EVP_PKEY_free(k);
	BIO_free(b);
	cl_buf_free(&f);

	/* a restarted key holder loads the same secret: the same key */
	kh_start(&p, true);
	assert_int_equal(cl_kh_seal(&p.agent, "ten-1", pcrs, (const uint8_t *)"l1", 2, k2), CL_OK);
	assert_memory_equal(k1, k2, sizeof(k1));
	kh_stop(&p);
}

static void foreign_files(void **state)
{
	kh_proc p;
	uint8_t pt[CL_KH_POINT_LEN];
	enum cl_kh_purpose purpose;
	char path[160];
	struct stat st;
	cl_buf b;
	assert_int_equal(cl_mkdir_p(keys, 0700), CL_OK);
	assert_int_equal(chmod(keys, 0700), 0);
	snprintf(path, sizeof(path), "%s/dev", keys);
	assert_int_equal(cl_mkdir_p(path, 0700), CL_OK);
	snprintf(path, sizeof(path), "%s/dev/garbage.key", keys);
	assert_int_equal(cl_file_write_atomic(path, "not a key\n", 10, 0600), CL_OK);
	kh_start(&p, true);
	assert_int_equal(cl_kh_generate(&p.agent, "dev/open", pt), CL_OK);
	kh_stop(&p);
	snprintf(path, sizeof(path), "%s/dev/open.key", keys);
	assert_int_equal(chmod(path, 0640), 0);
	kh_start(&p, true);
	assert_int_equal(cl_kh_get_public(&p.agent, "dev/garbage", &purpose, pt, &plen), CL_ENOTFOUND);
	assert_int_equal(cl_kh_get_public(&p.agent, "dev/open", &purpose, pt, &plen), CL_ENOTFOUND);
	assert_int_equal(cl_kh_generate(&p.agent, "dev/garbage", pt), CL_ECONFLICT);
	kh_stop(&p);
	snprintf(path, sizeof(path), "%s/dev/garbage.key", keys);
	cl_buf_init(&b, 64);
	assert_int_equal(cl_file_read(path, 64, &b), CL_OK);
	assert_int_equal(b.len, 10); /* untouched */
	cl_buf_free(&b);
	/* a file under tls/ (memory-only keys: an earlier build's, or planted)
	 * is never loaded: refused and deleted at start */
	snprintf(path, sizeof(path), "%s/tls", keys);
	assert_int_equal(cl_mkdir_p(path, 0700), CL_OK);
	snprintf(path, sizeof(path), "%s/tls/garbage.key", keys);
	assert_int_equal(cl_file_write_atomic(path, "not a key\n", 10, 0600), CL_OK);
	kh_start(&p, true);
	assert_int_equal(cl_kh_get_public(&p.agent, "tls/garbage", &purpose, pt, &plen), CL_ENOTFOUND);
	kh_stop(&p);
	assert_int_equal(stat(path, &st), -1);
	/* and a key directory others can read is refused outright */
	assert_int_equal(chmod(keys, 0755), 0);
	cl_kh *kh = NULL;
	assert_int_equal(cl_kh_open(keys, 0, &kh), CL_EPERM);
	assert_null(kh);
	assert_int_equal(chmod(keys, 0700), 0);
}

/* Refusals are logged with the reason, never with key bytes. */
static void refusals_logged(void **state)
{
	cl_buf log;
	const char *s;
	cl_buf_init(&log, 1 << 20);
	assert_int_equal(cl_file_read(logpath, 1 << 20, &log), CL_OK);
	assert_int_equal(cl_buf_cstr(&log, &s), CL_OK);
	assert_non_null(strstr(s, "refused sign (type 4"));
	assert_non_null(strstr(s, "forbidden: role tls may not use attest"));
	assert_non_null(strstr(s, "forbidden: dev/0000:03:00.0 is not a signing key (ecdh)"));
	assert_non_null(strstr(s, "forbidden: role guestif may not use seal"));
	assert_non_null(strstr(s, "crypto: peer point is not a valid P-384 public key"));
	assert_non_null(strstr(s, "invalid: invalid slot name"));
	assert_non_null(strstr(s, "key file dev/garbage.key skipped"));
	assert_non_null(strstr(s, "tls/garbage.key refused and deleted: tls/ keys live in memory only"));
	assert_non_null(strstr(s, "forbidden: tls/guest-1:1: tls/ keys are made by tls-generate"));
	assert_non_null(strstr(s, "seccomp on"));
	assert_null(strstr(s, "PRIVATE"));
	cl_buf_free(&log);
}

/* Malformed requests, straight into a channel's decoder: each refused with
 * its code, before any handler runs (the in-memory key holder is never
 * touched: it still holds exactly its one key). */
static size_t msg(uint8_t *m, uint16_t type, uint32_t id, const void *payload, size_t n)
{
	m[0] = (uint8_t)(type >> 8), m[1] = (uint8_t)type, m[2] = m[3] = 0;
	for (int i = 0; i < 4; i++) {
		m[4 + i] = (uint8_t)(id >> (24 - 8 * i));
		m[8 + i] = (uint8_t)(n >> (24 - 8 * i));
	}
	memcpy(m + CL_IPC_HDR, payload, n);
	return CL_IPC_HDR + n;
}

static void raw_requests(void **state)
{
	char sub[128];
	cl_kh *kh = NULL;
	cl_kh_conn conn;
	cl_buf out;
	uint8_t m[512], p[400];
	uint32_t id = 0;
	snprintf(sub, sizeof(sub), "%s/raw", dir);
	assert_int_equal(cl_kh_open(sub, CL_KH_OPEN_NO_PERSIST, &kh), CL_OK);
	cl_kh_conn_init(&conn, kh, -1, CL_KH_ROLE_AGENT);
	cl_buf_init(&out, CL_IPC_MSG_MAX);
	memcpy(p, "\0\6attest", 8);
	/* a generate that works, to have a key */
	assert_int_equal(cl_ipc_server_dispatch(&conn.ipc, m, msg(m, CL_KH_REQ_GENERATE, ++id, p, 8), &out), CL_OK);
	assert_int_equal(cl_kh_count(kh), 1);
	struct {
		uint16_t type;
		size_t n;
		cl_err want;
	} cases[] = {
		{CL_KH_REQ_GET_PUBLIC, 300, CL_ETOOBIG},  /* the whole message over 256 bytes */
		{CL_KH_REQ_GET_PUBLIC, 100, CL_ETOOBIG},  /* over get-public's payload cap */
		{CL_KH_REQ_GET_PUBLIC, 5, CL_EINVAL},     /* "attest" cut short */
		{CL_KH_REQ_GET_PUBLIC, 9, CL_EPROTO},     /* one byte more than "attest" */
		{CL_KH_REQ_SIGN, 8 + 4 + 10, CL_EINVAL},  /* digest declared 48, 10 sent */
		{99, 8, CL_EPROTO},                       /* unknown type */
		{0, 8, CL_EPROTO},
	};
	memcpy(p + 8, "\0\0\0\x30", 4);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cl_err e = cl_ipc_server_dispatch(&conn.ipc, m, msg(m, cases[i].type, ++id, p, cases[i].n), &out);
		if (e != cases[i].want)
			fail_msg("case %zu: %s, expected %s", i, cl_err_name(e), cl_err_name(cases[i].want));
		assert_int_equal(out.len, CL_IPC_HDR + 4);
		assert_int_equal(out.data[15], cases[i].want);
	}
	/* the same id twice: out of order */
	assert_int_equal(cl_ipc_server_dispatch(&conn.ipc, m, msg(m, CL_KH_REQ_GET_PUBLIC, id, p, 8), &out), CL_EPROTO);
	assert_int_equal(cl_ipc_server_dispatch(&conn.ipc, m, msg(m, CL_KH_REQ_GET_PUBLIC, ++id, p, 8), &out), CL_OK);
	assert_int_equal(out.len, CL_IPC_HDR + 1 + 4 + CL_KH_POINT_LEN);
	assert_int_equal(conn.ipc.refused, 8);
	assert_int_equal(cl_kh_count(kh), 1);
	cl_buf_free(&out);
	cl_kh_close(kh);
}

/* A stopped key holder is a timeout, a killed one an error: never a hang. */
static void stop_and_kill(void **state)
{
	kh_proc p;
	uint8_t pt[CL_KH_POINT_LEN];
	enum cl_kh_purpose purpose;
	int st;
	kh_start(&p, true);
	assert_int_equal(cl_kh_get_public(&p.agent, "attest", &purpose, pt, &plen), CL_OK);
	assert_int_equal(kill(p.pid, SIGSTOP), 0);
	p.agent.ipc.timeout_ms = 200;
	assert_int_equal(cl_kh_get_public(&p.agent, "attest", &purpose, pt, &plen), CL_ETIMEOUT);
	assert_int_equal(kill(p.pid, SIGCONT), 0);
	p.agent.ipc.timeout_ms = 30000;
	assert_int_equal(cl_kh_get_public(&p.agent, "attest", &purpose, pt, &plen), CL_OK); /* late answer dropped */
	assert_int_equal(kill(p.pid, SIGKILL), 0);
	assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
	assert_int_equal(cl_kh_get_public(&p.agent, "attest", &purpose, pt, &plen), CL_EUNAVAIL);
	assert_int_equal(cl_kh_get_public(&p.tls, "tls/open", &purpose, pt, &plen), CL_EUNAVAIL);
	for (int i = 0; i < 3; i++)
		close(p.fds[i]);
}

int main(void)
{
	cl_log_init("test_keyholder", CL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(requests_and_policy),
		cmocka_unit_test(seal_keys),
		cmocka_unit_test(foreign_files),
		cmocka_unit_test(refusals_logged),
		cmocka_unit_test(raw_requests),
		cmocka_unit_test(stop_and_kill),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
