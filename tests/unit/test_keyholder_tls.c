/* Unit tests for the key holder's guest TLS keys (src/keyholder, docs/tls.md
 * "Keys in the key holder"): a real key holder process (forked, hardened with
 * KILL-mode seccomp) serving the agent, tls and guestif channels.
 *
 * tls-generate makes a P-256 key in tls/<enclave>:<gen> and answers its point
 * and a proof of possession that OpenSSL verifies here over the documented
 * digest, built independently by this test; get-public answers the 65-byte
 * point; the tls role signs 32-byte digests with it (64-byte low-s r || s,
 * verified by OpenSSL). Every refusal: the wrong role for each request, the
 * wrong digest length, bad slots and host ids, an existing slot (conflict),
 * plain generate on a tls/ slot. The keys are memory-only: no file under the
 * key directory ever holds one, and a restart loses them. */
#include <dirent.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <setjmp.h>
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
#include "keyholder/keyholder.h"

static char dir[64], keys[96], logpath[96];

typedef struct kh_proc {
	pid_t pid;
	cl_kh_client agent, tls, guestif;
	int fds[3];
} kh_proc;

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cl-khtls.XXXXXX");
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

static void kh_start(kh_proc *p)
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
		cl_kh_main_opts o = {.extra_fds = extra, .extra_roles = roles, .nextra = 2};
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

static void kh_stop(kh_proc *p)
{
	int st;
	for (int i = 0; i < 3; i++)
		close(p->fds[i]);
	assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
	if (!WIFEXITED(st))
		fail_msg("key holder died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---------------------------------------------------------------- OpenSSL, independently */

/* The documented digest: SHA-256("cloister-tls-pop/1" 0x00 host 0x00 slot 0x00 point). */
static void pop_digest(const char *host, const char *slot, const uint8_t pt[65], uint8_t md[32])
{
	uint8_t buf[256];
	size_t n = 0;
	unsigned mdlen = 0;
	memcpy(buf, "cloister-tls-pop/1", 18), n = 18;
	buf[n++] = 0;
	memcpy(buf + n, host, strlen(host)), n += strlen(host);
	buf[n++] = 0;
	memcpy(buf + n, slot, strlen(slot)), n += strlen(slot);
	buf[n++] = 0;
	memcpy(buf + n, pt, 65), n += 65;
	assert_int_equal(EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
}

/* 1 if sig (r || s, 64 bytes) verifies over dg[n] under the P-256 point;
 * *low_s tells whether s <= order/2. */
static int verify256(const uint8_t pt[65], const uint8_t *dg, size_t n, const uint8_t sig[64], int *low_s)
{
	OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0),
			       OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)pt, 65),
			       OSSL_PARAM_construct_end()};
	EVP_PKEY_CTX *fc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	assert_int_equal(EVP_PKEY_fromdata_init(fc), 1);
	assert_int_equal(EVP_PKEY_fromdata(fc, &k, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(fc);
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	BIGNUM *half = BN_dup(EC_GROUP_get0_order(g));
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

/* Counts the regular files under path (recursively); *tls those under a tls/ directory. */
static int count_files(const char *path, bool under_tls, int *tls)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d))) {
		char sub[512];
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		assert_int_equal(lstat(sub, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			n += count_files(sub, under_tls || strcmp(e->d_name, "tls") == 0, tls);
		} else {
			n++;
			*tls += under_tls;
		}
	}
	closedir(d);
	return n;
}

/* ---------------------------------------------------------------- tests */

static void generate_proof_sign(void **state)
{
	kh_proc p;
	uint8_t pt[CL_KH_P256_POINT_LEN], proof[CL_KH_P256_SIG_LEN], got[CL_KH_POINT_LEN], md[32], dg[64];
	uint8_t sig[CL_KH_SIG_LEN];
	enum cl_kh_purpose purpose;
	size_t n = 0, sl;
	int low = 0, tls_files = 0;
	kh_start(&p);
	assert_int_equal(cl_kh_generate(&p.agent, "attest", got), CL_OK); /* a file kind, for comparison */
	int before = count_files(keys, false, &tls_files);

	assert_int_equal(cl_kh_tls_generate(&p.agent, "tls/enc-abc:1", "host-7", pt, proof), CL_OK);
	assert_int_equal(pt[0], 0x04);
	/* the proof is the key's signature over the documented digest */
	pop_digest("host-7", "tls/enc-abc:1", pt, md);
	assert_true(verify256(pt, md, 32, proof, &low));
	assert_true(low);
	/* ...and over nothing else: another host, slot or point */
	pop_digest("host-8", "tls/enc-abc:1", pt, md);
	assert_false(verify256(pt, md, 32, proof, &low));
	pop_digest("host-7", "tls/enc-abc:2", pt, md);
	assert_false(verify256(pt, md, 32, proof, &low));

	/* get-public: agent and tls, the 65-byte point, sign-handshake */
	assert_int_equal(cl_kh_get_public(&p.agent, "tls/enc-abc:1", &purpose, got, &n), CL_OK);
	assert_int_equal(n, CL_KH_P256_POINT_LEN);
	assert_int_equal(purpose, CL_KH_PURPOSE_SIGN_HANDSHAKE);
	assert_memory_equal(got, pt, n);
	assert_int_equal(cl_kh_get_public(&p.tls, "tls/enc-abc:1", &purpose, got, &n), CL_OK);
	assert_memory_equal(got, pt, n);
	/* attest stays P-384 */
	assert_int_equal(cl_kh_get_public(&p.agent, "attest", &purpose, got, &n), CL_OK);
	assert_int_equal(n, CL_KH_POINT_LEN);

	/* sign: the tls role, SHA-256 digests, 64-byte low-s r || s */
	for (int i = 0; i < 24; i++) {
		memset(dg, i, sizeof(dg));
		sl = sizeof(sig);
		assert_int_equal(cl_kh_sign2(&p.tls, "tls/enc-abc:1", dg, 32, sig, &sl), CL_OK);
		assert_int_equal(sl, CL_KH_P256_SIG_LEN);
		assert_true(verify256(pt, dg, 32, sig, &low));
		assert_true(low);
	}
	/* a capacity too small for the answer */
	sl = 63;
	assert_int_equal(cl_kh_sign2(&p.tls, "tls/enc-abc:1", dg, 32, sig, &sl), CL_EINVAL);

	/* memory only: not one file more under the key directory, none under tls/ */
	tls_files = 0;
	assert_int_equal(count_files(keys, false, &tls_files), before);
	assert_int_equal(tls_files, 0);
	kh_stop(&p);
	/* ...and gone with the process */
	kh_start(&p);
	assert_int_equal(cl_kh_get_public(&p.agent, "tls/enc-abc:1", &purpose, got, &n), CL_ENOTFOUND);
	assert_int_equal(cl_kh_get_public(&p.agent, "attest", &purpose, got, &n), CL_OK);
	/* the same slot can be made again in a new key holder: a new key */
	assert_int_equal(cl_kh_tls_generate(&p.agent, "tls/enc-abc:1", "host-7", got, proof), CL_OK);
	assert_memory_not_equal(got, pt, CL_KH_P256_POINT_LEN);
	kh_stop(&p);
}

static void refusals(void **state)
{
	kh_proc p;
	uint8_t pt[CL_KH_P256_POINT_LEN], proof[CL_KH_P256_SIG_LEN], big[CL_KH_POINT_LEN], dg[64] = {1};
	uint8_t sig[CL_KH_SIG_LEN];
	enum cl_kh_purpose purpose;
	size_t n = 0, sl = sizeof(sig);
	kh_start(&p);
	assert_int_equal(cl_kh_tls_generate(&p.agent, "tls/enc-1:3", "host-1", pt, proof), CL_OK);

	/* wrong role: only the agent generates, only tls signs, guestif nothing */
	assert_int_equal(cl_kh_tls_generate(&p.tls, "tls/enc-1:4", "host-1", pt, proof), CL_EPERM);
	assert_int_equal(cl_kh_tls_generate(&p.guestif, "tls/enc-1:4", "host-1", pt, proof), CL_EPERM);
	assert_int_equal(cl_kh_sign2(&p.agent, "tls/enc-1:3", dg, 32, sig, &sl), CL_EPERM);
	assert_int_equal(cl_kh_sign2(&p.guestif, "tls/enc-1:3", dg, 32, sig, &sl), CL_EPERM);
	assert_int_equal(cl_kh_get_public(&p.guestif, "tls/enc-1:3", &purpose, big, &n), CL_EPERM);
	assert_int_equal(cl_kh_destroy(&p.guestif, "tls/enc-1:3"), CL_EPERM);
	assert_int_equal(cl_kh_destroy(&p.tls, "tls/enc-1:3"), CL_EPERM);
	/* tls-generate makes tls/ keys only; plain generate never makes one */
	assert_int_equal(cl_kh_tls_generate(&p.agent, "attest", "host-1", pt, proof), CL_EINVAL);
	assert_int_equal(cl_kh_tls_generate(&p.agent, "dev/x:1", "host-1", pt, proof), CL_EINVAL);
	assert_int_equal(cl_kh_generate(&p.agent, "tls/enc-1:4", big), CL_EPERM);

	/* wrong digest length: a P-256 tls/ key signs 32-byte digests only */
	size_t lens[] = {1, 31, 33, 48, 64};
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		sl = sizeof(sig);
		if (cl_kh_sign2(&p.tls, "tls/enc-1:3", dg, lens[i], sig, &sl) != CL_EINVAL)
			fail_msg("a %zu-byte digest was signed", lens[i]);
	}

	/* bad slots: tls/<enclave>:<gen>, enclave [a-z0-9-], gen 1..2^32-1 without leading zeros */
	const char *slots[] = {"tls/enc-1",     "tls/enc-1:",     "tls/enc-1:0",   "tls/enc-1:01",
			       "tls/Enc-1:1",   "tls/enc_1:1",    "tls/enc-1:1:2", "tls/:1",
			       "tls/enc-1:-1",  "tls/enc-1:4294967296", "tls/enc-1:99999999999", "tls/enc-1:1a",
			       "tls/enc.1:1",   "tls//x:1",       "tls/enc-1:1 "};
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++)
		if (cl_kh_tls_generate(&p.agent, slots[i], "host-1", pt, proof) != CL_EINVAL)
			fail_msg("slot %s accepted", slots[i]);
	assert_int_equal(cl_kh_tls_generate(&p.agent, "tls/enc-1:4294967295", "host-1", pt, proof), CL_OK);
	/* bad host ids: [a-z0-9-]{1,63} */
	const char *hosts[] = {"", "Host-1", "host_1", "host 1", "host/1",
			       "h234567890123456789012345678901234567890123456789012345678901234"};
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		if (cl_kh_tls_generate(&p.agent, "tls/enc-2:1", hosts[i], pt, proof) != CL_EINVAL)
			fail_msg("host id \"%s\" accepted", hosts[i]);

	/* conflict: a slot that holds a key is never replaced */
	uint8_t first[CL_KH_POINT_LEN];
	assert_int_equal(cl_kh_get_public(&p.agent, "tls/enc-1:3", &purpose, first, &n), CL_OK);
	assert_int_equal(cl_kh_tls_generate(&p.agent, "tls/enc-1:3", "host-1", pt, proof), CL_ECONFLICT);
	assert_int_equal(cl_kh_get_public(&p.agent, "tls/enc-1:3", &purpose, big, &n), CL_OK);
	assert_memory_equal(big, first, CL_KH_P256_POINT_LEN);
	/* destroy (agent), then the slot is free again */
	assert_int_equal(cl_kh_destroy(&p.agent, "tls/enc-1:3"), CL_OK);
	sl = sizeof(sig);
	assert_int_equal(cl_kh_sign2(&p.tls, "tls/enc-1:3", dg, 32, sig, &sl), CL_ENOTFOUND);
	assert_int_equal(cl_kh_tls_generate(&p.agent, "tls/enc-1:3", "host-1", pt, proof), CL_OK);
	kh_stop(&p);

	/* every refusal logged with its reason, no key bytes */
	cl_buf log;
	const char *s;
	cl_buf_init(&log, 1 << 20);
	assert_int_equal(cl_file_read(logpath, 1 << 20, &log), CL_OK);
	assert_int_equal(cl_buf_cstr(&log, &s), CL_OK);
	assert_non_null(strstr(s, "forbidden: role tls may not tls-generate tls/enc-1:4"));
	assert_non_null(strstr(s, "forbidden: role agent may not use tls/enc-1:3"));
	assert_non_null(strstr(s, "forbidden: role guestif may not read tls/enc-1:3"));
	assert_non_null(strstr(s, "invalid: tls-generate: the slot must be tls/<enclave>:<generation>"));
	assert_non_null(strstr(s, "invalid: tls-generate: the host id must be [a-z0-9-]{1,63}"));
	assert_non_null(strstr(s, "invalid: a handshake digest for tls/enc-1:3 is 32 bytes, not 48"));
	assert_non_null(strstr(s, "conflict: tls/enc-1:3 exists"));
	assert_non_null(strstr(s, "generated tls/enc-1:3 (P-256, memory only) for host host-1 by agent"));
	assert_null(strstr(s, "PRIVATE"));
	cl_buf_free(&log);
}

int main(void)
{
	cl_log_init("test_keyholder_tls", CL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generate_proof_sign),
		cmocka_unit_test(refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
