/* Unit tests for the control plane's monitor (src/control/monitor*.c, ca.c,
 * datadir.c): server names, the CA and its re-issue rules, the peppered
 * secret hash, sealing (format, round trip, every way a blob must not open),
 * every request of a real (forked, hardened) monitor and every refusal
 * (logged), a monitor that never blocks on a worker that does not
 * read, fail-closed clients, and the data directory's migration. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/monitor.h"
#include "control/supervisor.h"

static char dir[64], keys[96], logpath[96];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cl-mon.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(logpath, sizeof(logpath), "%s/mon.log", dir);
	return mkdir(keys, 0700);
}

static int teardown(void **state)
{
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

static void names(void **state)
{
	ctl_names n;
	ctl_names_default(&n);
	assert_int_equal(n.n, 3);
	assert_string_equal(n.v[0], "DNS:localhost");
	assert_string_equal(n.v[1], "IP:127.0.0.1");
	assert_string_equal(n.v[2], "IP:::1");
	memset(&n, 0, sizeof(n));
	assert_int_equal(ctl_names_add(&n, "Control.Example.COM"), CL_OK);
	assert_int_equal(ctl_names_add(&n, "control.example.com"), CL_OK); /* duplicate: dropped */
	assert_int_equal(ctl_names_add(&n, "2001:db8:0:0::1"), CL_OK);
	assert_int_equal(ctl_names_add(&n, "*.example.com"), CL_OK);
	assert_int_equal(ctl_names_add(&n, "10.0.0.1"), CL_OK);
	assert_int_equal(n.n, 4);
	assert_string_equal(n.v[0], "DNS:*.example.com");
	assert_string_equal(n.v[1], "DNS:control.example.com");
	assert_string_equal(n.v[2], "IP:10.0.0.1");
	assert_string_equal(n.v[3], "IP:2001:db8::1");
	const char *bad[] = {"", "a..b", "-a.com", "a-.com", "a b", "a_b.com", "*.", "a.*.com", "x/y", "1.2.3.4:5",
			     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(ctl_names_add(&n, bad[i]), CL_EINVAL);
	assert_int_equal(n.n, 4);
	char name[32];
	for (int i = 0; n.n < CTL_NAMES_MAX; i++) {
		snprintf(name, sizeof(name), "h%d.example", i);
		assert_int_equal(ctl_names_add(&n, name), CL_OK);
	}
	assert_int_equal(ctl_names_add(&n, "one-too-many.example"), CL_ELIMIT);
}

/* The SAN list of the server certificate in keys/server.pem, as one line. */
static void san_of(char *out, size_t n)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/server.pem", keys);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	out[0] = '\0';
	for (int i = 0; g && i < sk_GENERAL_NAME_num(g); i++) {
		const GENERAL_NAME *e = sk_GENERAL_NAME_value(g, i);
		if (e->type == GEN_DNS)
			snprintf(out + strlen(out), n - strlen(out), "DNS:%s,",
				 (const char *)ASN1_STRING_get0_data(e->d.dNSName));
		else
			snprintf(out + strlen(out), n - strlen(out), "IP%d,", ASN1_STRING_length(e->d.iPAddress));
	}
	GENERAL_NAMES_free(g);
	X509_free(x);
}

static void ca_reissue(void **state)
{
	char ca_pem[128], san[512];
	ctl_names n, other;
	ctl_ca *ca = NULL;
	bool renewed = true;
	time_t now = time(NULL);
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	ctl_names_default(&n);
	assert_int_equal(ctl_ca_open(keys, ca_pem, &n, now, &ca), CL_OK);
	san_of(san, sizeof(san));
	assert_string_equal(san, "DNS:localhost,IP4,IP16,");
	/* nothing due: now, and 794 days on (31 days before the end of 825) */
	assert_int_equal(ctl_ca_renew_if_due(ca, now, &renewed), CL_OK);
	assert_false(renewed);
	assert_int_equal(ctl_ca_renew_if_due(ca, now + 794 * 86400L, &renewed), CL_OK);
	assert_false(renewed);
	/* within 30 days of the end: re-issued */
	assert_int_equal(ctl_ca_renew_if_due(ca, now + 800 * 86400L, &renewed), CL_OK);
	assert_true(renewed);
	ctl_ca_free(ca);
	/* reopened with the same names: kept; with others: re-issued */
	ca = NULL;
	char before[4096], after[4096];
	char srv[128];
	snprintf(srv, sizeof(srv), "%s/server.pem", keys);
	FILE *f = fopen(srv, "r");
	size_t nb = fread(before, 1, sizeof(before) - 1, f);
	fclose(f);
	before[nb] = '\0';
	assert_int_equal(ctl_ca_open(keys, ca_pem, &n, now, &ca), CL_OK);
	ctl_ca_free(ca);
	f = fopen(srv, "r");
	nb = fread(after, 1, sizeof(after) - 1, f);
	fclose(f);
	after[nb] = '\0';
	assert_string_equal(before, after);
	memset(&other, 0, sizeof(other));
	assert_int_equal(ctl_names_add(&other, "control.example.com"), CL_OK);
	assert_int_equal(ctl_ca_open(keys, ca_pem, &other, now, &ca), CL_OK);
	san_of(san, sizeof(san));
	assert_string_equal(san, "DNS:control.example.com,");
	/* the chain the worker gets: server certificate, then the CA's */
	const char *chain, *cap;
	size_t nchain, nca;
	ctl_ca_pems(ca, &chain, &nchain, &cap, &nca);
	assert_int_equal(strlen(chain), nchain);
	assert_non_null(strstr(chain + nchain - nca, cap));
	assert_null(strstr(chain, "PRIVATE"));
	ctl_ca_free(ca);
}

static void pepper_hash(void **state)
{
	uint8_t pepper[CTL_MON_PEPPER_LEN], other[CTL_MON_PEPPER_LEN];
	char h[128], h2[128], v1[128];
	bool match = false;
	memset(pepper, 7, sizeof(pepper));
	memset(other, 8, sizeof(other));
	assert_int_equal(ctl_secret_hash_v2(pepper, "s3cret", h, sizeof(h)), CL_OK);
	assert_int_equal(strncmp(h, "v2$", 3), 0);
	assert_int_equal(strlen(h), 100);
	assert_int_equal(ctl_secret_hash_v2(pepper, "s3cret", h2, sizeof(h2)), CL_OK);
	assert_string_not_equal(h, h2); /* salted */
	assert_int_equal(ctl_secret_check(pepper, "s3cret", h, &match), CL_OK);
	assert_true(match);
	assert_int_equal(ctl_secret_check(pepper, "s3cres", h, &match), CL_OK);
	assert_false(match);
	/* the pepper counts: the same hash under another pepper does not match */
	assert_int_equal(ctl_secret_check(other, "s3cret", h, &match), CL_OK);
	assert_false(match);
	/* hashes made before the pepper still verify */
	assert_int_equal(cl_secret_hash("old", v1, sizeof(v1)), CL_OK);
	assert_int_equal(ctl_secret_check(pepper, "old", v1, &match), CL_OK);
	assert_true(match);
	assert_int_equal(ctl_secret_check(pepper, "new", v1, &match), CL_OK);
	assert_false(match);
	assert_int_equal(ctl_secret_check(pepper, "x", "v3$abc", &match), CL_EINVAL);
	assert_int_equal(ctl_secret_check(pepper, "x", "", &match), CL_EINVAL);
	h[40] = 'z'; /* not hex */
	assert_int_equal(ctl_secret_check(pepper, "s3cret", h, &match), CL_EINVAL);
	assert_false(match);
	assert_int_equal(ctl_secret_hash_v2(pepper, "s", h, 100), CL_EINVAL);
}

/* ---------------------------------------------------------------- sealing */

/* Opens a blob by the documented format with OpenSSL directly (not through
 * ctl_unseal): version 1, 12-byte nonce, ciphertext, 16-byte tag, GCM
 * associated data "cloister-seal/1" 0x00 aad. */
static bool open_by_spec(const uint8_t key[32], const char *aad, const uint8_t *b, size_t n, uint8_t *pt)
{
	static const uint8_t label[] = "cloister-seal/1"; /* with its NUL */
	EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
	int l = 0;
	size_t m = n - 29;
	bool ok = cc && b[0] == 1 && EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, key, b + 1) == 1 &&
		  EVP_DecryptUpdate(cc, NULL, &l, label, sizeof(label)) == 1 &&
		  EVP_DecryptUpdate(cc, NULL, &l, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
		  EVP_DecryptUpdate(cc, pt, &l, b + 13, (int)m) == 1 &&
		  EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, 16, (void *)(b + 13 + m)) == 1 &&
		  EVP_DecryptFinal_ex(cc, pt + m, &l) == 1;
	EVP_CIPHER_CTX_free(cc);
	return ok;
}

/* ctl_seal / ctl_unseal: the format, the round trip, and every way a blob
 * must not open: another aad or key, a flipped bit anywhere, a cut. */
static void seal_unseal(void **state)
{
	uint8_t key[CTL_MON_SEAL_KEY_LEN], other[CTL_MON_SEAL_KEY_LEN], pt[CTL_MON_SEAL_MAX + 1], got[CTL_MON_SEAL_MAX];
	cl_buf b, b2, o;
	memset(key, 0x11, sizeof(key));
	memset(other, 0x12, sizeof(other));
	for (size_t i = 0; i < sizeof(pt); i++)
		pt[i] = (uint8_t)(i * 7 + 3);
	cl_buf_init(&b, CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD);
	cl_buf_init(&b2, CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD);
	cl_buf_init(&o, CTL_MON_SEAL_MAX);
	/* round trip at 1, a secret's size and the cap */
	const size_t sizes[] = {1, 37, 4096, CTL_MON_SEAL_MAX};
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		assert_int_equal(ctl_seal(key, "secret/t-1/db", pt, n, &b), CL_OK);
		assert_int_equal(b.len, n + CTL_SEAL_OVERHEAD);
		assert_int_equal(b.data[0], CTL_SEAL_VERSION);
		if (n >= 16) /* no clear text in the blob (a shorter piece may occur by chance) */
			assert_null(memmem(b.data, b.len, pt, 16));
		assert_int_equal(ctl_unseal(key, "secret/t-1/db", b.data, b.len, &o), CL_OK);
		assert_int_equal(o.len, n);
		assert_memory_equal(o.data, pt, n);
		assert_true(open_by_spec(key, "secret/t-1/db", b.data, b.len, got)); /* the documented format */
		assert_memory_equal(got, pt, n);
	}
	/* a fresh nonce each time: the same input seals differently */
	assert_int_equal(ctl_seal(key, "a", pt, 37, &b), CL_OK);
	assert_int_equal(ctl_seal(key, "a", pt, 37, &b2), CL_OK);
	assert_memory_not_equal(b.data + 1, b2.data + 1, CTL_SEAL_NONCE_LEN);
	/* another aad (another secret's name or tenant), another key */
	assert_int_equal(ctl_unseal(key, "b", b.data, b.len, &o), CL_ECRYPTO);
	assert_int_equal(o.len, 0);
	assert_int_equal(ctl_unseal(key, "a ", b.data, b.len, &o), CL_ECRYPTO);
	assert_int_equal(ctl_unseal(other, "a", b.data, b.len, &o), CL_ECRYPTO);
	assert_false(open_by_spec(key, "b", b.data, b.len, got));
	/* a flipped bit anywhere: version, nonce, ciphertext, tag */
	for (size_t i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			b.data[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(ctl_unseal(key, "a", b.data, b.len, &o), CL_ECRYPTO);
			assert_int_equal(o.len, 0);
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* cut at every length, and one byte too many */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(ctl_unseal(key, "a", b.data, n, &o), CL_ECRYPTO);
	uint8_t longer[37 + CTL_SEAL_OVERHEAD + 1];
	memcpy(longer, b.data, b.len);
	longer[b.len] = 0;
	assert_int_equal(ctl_unseal(key, "a", longer, sizeof(longer), &o), CL_ECRYPTO);
	assert_int_equal(ctl_unseal(key, "a", b.data, b.len, &o), CL_OK); /* intact: it opens */
	/* what is refused before anything is sealed */
	assert_int_equal(ctl_seal(key, "a", pt, CTL_MON_SEAL_MAX + 1, &b), CL_EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(ctl_seal(key, "a", pt, 0, &b), CL_EINVAL);
	assert_int_equal(ctl_seal(key, "", pt, 1, &b), CL_EINVAL);
	char aad[CTL_MON_SEAL_AAD_MAX + 2];
	memset(aad, 'x', sizeof(aad));
	aad[CTL_MON_SEAL_AAD_MAX + 1] = '\0';
	assert_int_equal(ctl_seal(key, aad, pt, 1, &b), CL_EINVAL);
	aad[CTL_MON_SEAL_AAD_MAX] = '\0';
	assert_int_equal(ctl_seal(key, aad, pt, 1, &b), CL_OK);
	assert_int_equal(ctl_unseal(key, aad, b.data, b.len, &o), CL_OK);
	cl_buf_free(&b);
	cl_buf_free(&b2);
	cl_buf_free(&o);
}

/* ---------------------------------------------------------------- a forked monitor */

typedef struct mon_proc {
	pid_t pid;
	int fd;
} mon_proc;

static void mon_start(mon_proc *p)
{
	int ch[2];
	static ctl_names n;
	ctl_names_default(&n);
	assert_int_equal(cl_ipc_pair(ch), CL_OK);
	fflush(NULL);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log < 0 || dup2(log, 2) < 0)
			_exit(2);
		cl_log_init("test-monitor", CL_LOG_INFO);
		ctl_monitor_opts o = {.data_dir = dir, .keys_dir = keys, .names = &n};
		_exit(ctl_monitor_main(ch[0], &o));
	}
	close(ch[0]);
	p->fd = ch[1];
}

static int mon_wait(mon_proc *p)
{
	int st = 0;
	close(p->fd);
	assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
	return st;
}

static size_t raw(uint8_t *m, uint16_t type, uint32_t id, const void *payload, size_t n)
{
	m[0] = (uint8_t)(type >> 8), m[1] = (uint8_t)type, m[2] = m[3] = 0;
	for (int i = 0; i < 4; i++) {
		m[4 + i] = (uint8_t)(id >> (24 - 8 * i));
		m[8 + i] = (uint8_t)(n >> (24 - 8 * i));
	}
	if (n)
		memcpy(m + CL_IPC_HDR, payload, n);
	return CL_IPC_HDR + n;
}

/* Sends a raw request and returns the refusal code of its answer (0 if served). */
static uint32_t raw_call(int fd, uint16_t type, uint32_t id, const void *payload, size_t n)
{
	uint8_t m[1024], a[64];
	size_t len = raw(m, type, id, payload, n);
	assert_int_equal(send(fd, m, len, 0), (ssize_t)len);
	ssize_t r = recv(fd, a, sizeof(a), MSG_TRUNC);
	assert_true(r >= CL_IPC_HDR);
	if (!(a[3] & CL_IPC_F_ERROR))
		return 0;
	assert_int_equal(r, CL_IPC_HDR + 4);
	return (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15];
}

static bool verify_sig(const char *chain, const uint8_t *digest, size_t n, const uint8_t sig[96])
{
	BIO *b = BIO_new_mem_buf(chain, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 48, NULL), *s = BN_bin2bn(sig + 48, 48, NULL);
	unsigned char *der = NULL;
	int dlen;
	bool ok = false;
	if (x && es && r && s && ECDSA_SIG_set0(es, r, s) == 1) {
		r = s = NULL;
		dlen = i2d_ECDSA_SIG(es, &der);
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(X509_get0_pubkey(x), NULL);
		ok = ctx && EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_verify(ctx, der, (size_t)dlen, digest, n) == 1;
		EVP_PKEY_CTX_free(ctx);
	}
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	X509_free(x);
	BIO_free(b);
	return ok;
}

static void requests(void **state)
{
	mon_proc p;
	ctl_mon_client c;
	uint8_t digest[64], sig[96];
	char *chain = NULL, *ca = NULL, *hosts = NULL, h[128], v1[128];
	mon_start(&p);
	ctl_mon_client_init(&c, p.fd);
	assert_int_equal(ctl_mon_get_certs(&c, &chain, &ca, &hosts), CL_OK);
	assert_non_null(strstr(chain, "BEGIN CERTIFICATE"));
	assert_null(strstr(chain, "PRIVATE"));
	assert_null(strstr(ca, "PRIVATE"));
	assert_non_null(strstr(hosts, "BEGIN CERTIFICATE"));
	assert_null(strstr(hosts, "PRIVATE"));
	/* handshake digests of 32, 48, 64 bytes, verifiable with the leaf */
	for (size_t n = 32; n <= 64; n += 16) {
		memset(digest, (int)n, sizeof(digest));
		assert_int_equal(ctl_mon_sign(&c, digest, n, sig), CL_OK);
		assert_true(verify_sig(chain, digest, n, sig));
	}
	/* other lengths are not a handshake's: refused, the channel stays usable */
	assert_int_equal(ctl_mon_sign(&c, digest, 20, sig), CL_EINVAL);
	assert_int_equal(ctl_mon_sign(&c, digest, 1, sig), CL_EINVAL);
	assert_int_equal(ctl_mon_sign(&c, digest, 0, sig), CL_EINVAL);
	assert_false(c.broken);
	/* secrets: v2 from the monitor, v1 from before the pepper */
	assert_int_equal(ctl_mon_hash_secret(&c, "tok-secret", h, sizeof(h)), CL_OK);
	assert_int_equal(strncmp(h, "v2$", 3), 0);
	assert_int_equal(ctl_mon_verify_secret(&c, "tok-secret", h), CL_OK);
	assert_int_equal(ctl_mon_verify_secret(&c, "tok-secreT", h), CL_EAUTH);
	assert_int_equal(cl_secret_hash("legacy", v1, sizeof(v1)), CL_OK);
	assert_int_equal(ctl_mon_verify_secret(&c, "legacy", v1), CL_OK);
	assert_int_equal(ctl_mon_verify_secret(&c, "legacY", v1), CL_EAUTH);
	assert_int_equal(ctl_mon_verify_secret(&c, "x", "v1$nothex"), CL_EINVAL);
	assert_int_equal(ctl_mon_hash_secret(&c, "", h, sizeof(h)), CL_EINVAL);
	/* the TLS context the worker builds: a remote key that matches the leaf */
	SSL_CTX *ctx = NULL;
	uint8_t cd[32], cd2[32];
	assert_int_equal(ctl_mon_tls_ctx(&c, &ctx, cd, NULL, NULL), CL_OK);
	assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
	SSL_CTX_free(ctx);
	assert_int_equal(ctl_mon_tls_ctx(&c, &ctx, cd2, NULL, NULL), CL_OK);
	assert_memory_equal(cd, cd2, 32); /* nothing re-issued: same chain */
	SSL_CTX_free(ctx);
	/* raw requests the client would never send: each refused, before any run */
	uint32_t id = c.ipc.last_id;
	uint8_t big[600];
	memset(big, 'a', sizeof(big));
	big[0] = 0, big[1] = 0, big[2] = 0, big[3] = 48;
	assert_int_equal(raw_call(p.fd, 99, ++id, NULL, 0), CL_EPROTO);                   /* unknown type */
	assert_int_equal(raw_call(p.fd, CTL_MON_SIGN_HANDSHAKE, ++id, big, 4 + 65), CL_ETOOBIG); /* too long */
	assert_int_equal(raw_call(p.fd, CTL_MON_SIGN_HANDSHAKE, id + 5, big, 4 + 48), CL_EPROTO); /* out of order */
	assert_int_equal(raw_call(p.fd, CTL_MON_SIGN_HANDSHAKE, id, big, 4 + 48), CL_EPROTO);     /* replayed */
	assert_int_equal(raw_call(p.fd, CTL_MON_SIGN_HANDSHAKE, ++id, big, 4 + 48 + 1), CL_EPROTO); /* trailing */
	assert_int_equal(raw_call(p.fd, CTL_MON_GET_CERTS, ++id, big, 1), CL_ETOOBIG);    /* GET_CERTS takes nothing */
	assert_int_equal(raw_call(p.fd, CTL_MON_HASH_SECRET, ++id, big, sizeof(big)), CL_ETOOBIG);
	assert_int_equal(raw_call(p.fd, CTL_MON_SIGN_HANDSHAKE, ++id, big, 4 + 48), 0); /* in step again */
	c.ipc.last_id = id;
	assert_int_equal(ctl_mon_sign(&c, digest, 48, sig), CL_OK);
	free(chain);
	free(hosts);
	free(ca);
	int st = mon_wait(&p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0); /* the channel closed: a clean end */
	/* every refusal is in the monitor's log, with its reason, never a secret */
	cl_buf log;
	const char *s;
	cl_buf_init(&log, 1 << 20);
	assert_int_equal(cl_file_read(logpath, 1 << 20, &log), CL_OK);
	assert_int_equal(cl_buf_cstr(&log, &s), CL_OK);
	assert_non_null(strstr(s, "a handshake digest is 32, 48 or 64 bytes, not 20"));
	assert_non_null(strstr(s, "refused unknown request (type 99"));
	assert_non_null(strstr(s, "exceeds 68"));
	assert_non_null(strstr(s, "out of order"));
	assert_non_null(strstr(s, "trailing"));
	assert_non_null(strstr(s, "malformed v1 hash"));
	assert_non_null(strstr(s, "seccomp on"));
	assert_null(strstr(s, "tok-secret"));
	assert_null(strstr(s, "legacy"));
	assert_null(strstr(s, "PRIVATE"));
	cl_buf_free(&log);
}

/* SEAL and UNSEAL through a real monitor: the sealing key is made once
 * (DATA/keys/seal.key, 0600, 32 bytes) and kept across restarts; a blob
 * opens only under its aad, unchanged and whole; an oversize plaintext is
 * refused; every refusal is logged without the data and leaves the channel
 * usable. */
static void seal_requests(void **state)
{
	mon_proc p;
	ctl_mon_client c;
	static const char mark[] = "seal-marker-7f3a9c";
	uint8_t pt[CTL_MON_SEAL_MAX + 1];
	char path[160];
	struct stat st;
	cl_buf b, o, key1;
	memset(pt, 'v', sizeof(pt));
	memcpy(pt, mark, sizeof(mark) - 1);
	cl_buf_init(&b, CTL_MON_SEAL_MAX + CTL_SEAL_OVERHEAD);
	cl_buf_init(&o, CTL_MON_SEAL_MAX);
	cl_buf_init(&key1, 64);
	mon_start(&p);
	ctl_mon_client_init(&c, p.fd);
	assert_int_equal(ctl_mon_seal(&c, "secret/t-1/db", pt, 100, &b), CL_OK);
	assert_int_equal(b.len, 100 + CTL_SEAL_OVERHEAD);
	assert_null(memmem(b.data, b.len, mark, sizeof(mark) - 1));
	assert_int_equal(ctl_mon_unseal(&c, "secret/t-1/db", b.data, b.len, &o), CL_OK);
	assert_int_equal(o.len, 100);
	assert_memory_equal(o.data, pt, 100);
	/* refused: another aad, a flipped bit, a cut blob */
	assert_int_equal(ctl_mon_unseal(&c, "secret/t-1/other", b.data, b.len, &o), CL_ECRYPTO);
	assert_int_equal(o.len, 0);
	assert_int_equal(ctl_mon_unseal(&c, "secret/t-2/db", b.data, b.len, &o), CL_ECRYPTO);
	b.data[20] ^= 0x04;
	assert_int_equal(ctl_mon_unseal(&c, "secret/t-1/db", b.data, b.len, &o), CL_ECRYPTO);
	b.data[20] ^= 0x04;
	assert_int_equal(ctl_mon_unseal(&c, "secret/t-1/db", b.data, b.len - 1, &o), CL_ECRYPTO);
	assert_int_equal(ctl_mon_unseal(&c, "secret/t-1/db", b.data, CTL_SEAL_OVERHEAD, &o), CL_ECRYPTO);
	assert_false(c.broken);
	/* the largest plaintext is sealed; one byte more is refused by the client
	 * and, sent raw, by the monitor before any run */
	assert_int_equal(ctl_mon_seal(&c, "a", pt, CTL_MON_SEAL_MAX, &b), CL_OK);
	assert_int_equal(ctl_mon_unseal(&c, "a", b.data, b.len, &o), CL_OK);
	assert_int_equal(o.len, CTL_MON_SEAL_MAX);
	assert_int_equal(ctl_mon_seal(&c, "a", pt, CTL_MON_SEAL_MAX + 1, &b), CL_EINVAL);
	assert_int_equal(ctl_mon_seal(&c, "", pt, 1, &b), CL_EINVAL);
	{
		static uint8_t m[CL_IPC_HDR + 2 + 1 + 4 + CTL_MON_SEAL_MAX + 1], q[2 + 1 + 4 + CTL_MON_SEAL_MAX + 1];
		uint8_t a[64];
		size_t plen = 2 + 1 + 4 + CTL_MON_SEAL_MAX + 1;
		q[0] = 0, q[1] = 1, q[2] = 'a';
		q[3] = 0, q[4] = 0, q[5] = (uint8_t)((CTL_MON_SEAL_MAX + 1) >> 8), q[6] = (uint8_t)(CTL_MON_SEAL_MAX + 1);
		memset(q + 7, 'v', CTL_MON_SEAL_MAX + 1);
		uint32_t id = ++c.ipc.last_id;
		size_t len = raw(m, CTL_MON_SEAL, id, q, plen);
		assert_int_equal(send(p.fd, m, len, 0), (ssize_t)len);
		ssize_t r = recv(p.fd, a, sizeof(a), 0);
		assert_int_equal(r, CL_IPC_HDR + 4);
		assert_true(a[3] & CL_IPC_F_ERROR);
		assert_int_equal(a[15], CL_EINVAL); /* over the byte string's cap */
		/* an empty plaintext and an empty aad: refused by the decoder */
		q[0] = 0, q[1] = 1, q[2] = 'a', q[3] = q[4] = q[5] = q[6] = 0;
		assert_int_equal(raw_call(p.fd, CTL_MON_SEAL, ++c.ipc.last_id, q, 7), CL_EINVAL);
		q[0] = 0, q[1] = 0, q[2] = 0, q[3] = 0, q[4] = 0, q[5] = 1, q[6] = 'v';
		assert_int_equal(raw_call(p.fd, CTL_MON_SEAL, ++c.ipc.last_id, q, 7), CL_EINVAL);
	}
	assert_int_equal(ctl_mon_seal(&c, "secret/t-1/db", pt, 100, &b), CL_OK); /* still in step */
	assert_false(c.broken);
	int status = mon_wait(&p);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the key: one file, 0600, 32 bytes, kept by the next start */
	snprintf(path, sizeof(path), "%s/seal.key", keys);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, CTL_MON_SEAL_KEY_LEN);
	assert_int_equal(cl_file_read(path, 64, &key1), CL_OK);
	assert_null(memmem(b.data, b.len, key1.data, 8));
	mon_start(&p);
	ctl_mon_client_init(&c, p.fd);
	assert_int_equal(ctl_mon_unseal(&c, "secret/t-1/db", b.data, b.len, &o), CL_OK); /* sealed before the restart */
	assert_memory_equal(o.data, pt, 100);
	status = mon_wait(&p);
	assert_true(WIFEXITED(status));
	cl_buf log;
	const char *s;
	cl_buf_init(&log, 1 << 20);
	assert_int_equal(cl_file_read(logpath, 1 << 20, &log), CL_OK);
	assert_int_equal(cl_buf_cstr(&log, &s), CL_OK);
	assert_non_null(strstr(s, "created the sealing key"));
	assert_non_null(strstr(s, "refused unseal"));
	assert_non_null(strstr(s, "does not open"));
	assert_non_null(strstr(s, "refused seal"));
	assert_null(strstr(s, mark)); /* never the data */
	assert_null(strstr(s, "vvvvvvvv"));
	cl_buf_free(&log);
	cl_buf_free(&b);
	cl_buf_free(&o);
	cl_buf_free(&key1);
}

static int broken_calls;
static void on_broken(void *arg)
{
	broken_calls++;
}

/* A worker that sends without reading its answers cannot make the monitor
 * wait: once the socket is full the monitor gives up (exit 1) instead of
 * blocking. And a client whose monitor is gone fails closed, for good. */
static void never_blocks_fails_closed(void **state)
{
	mon_proc p;
	ctl_mon_client c;
	uint8_t m[64], sig[96], digest[48] = {1};
	mon_start(&p);
	uint32_t id = 0;
	int sent = 0;
	for (;;) {
		size_t len = raw(m, CTL_MON_GET_CERTS, ++id, NULL, 0);
		if (send(p.fd, m, len, MSG_DONTWAIT) != (ssize_t)len)
			break;
		sent++;
		assert_true(sent < 1000000);
	}
	int st = 0;
	for (int i = 0; i < 200 && waitpid(p.pid, &st, WNOHANG) == 0; i++) {
		struct timespec ts = {0, 50000000};
		nanosleep(&ts, NULL);
	}
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	close(p.fd);

	mon_start(&p);
	ctl_mon_client_init(&c, p.fd);
	c.on_broken = on_broken;
	assert_int_equal(ctl_mon_sign(&c, digest, 48, sig), CL_OK);
	kill(p.pid, SIGKILL);
	assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
	assert_int_equal(ctl_mon_sign(&c, digest, 48, sig), CL_EUNAVAIL);
	assert_true(c.broken);
	assert_int_equal(broken_calls, 1);
	assert_int_equal(ctl_mon_verify_secret(&c, "a", "v1$x"), CL_EUNAVAIL);
	assert_int_equal(broken_calls, 1);
	close(p.fd);
}

/* The worker's cache of confirmed secrets: a match is remembered (it holds
 * after the monitor is gone), a wrong secret never matches from it, and a
 * secret that never matched is not in it. */
static void verify_cache(void **state)
{
	mon_proc p;
	ctl_mon_client c;
	ctl_server srv;
	char h[128], other[128];
	memset(&srv, 0, sizeof(srv));
	mon_start(&p);
	ctl_mon_client_init(&c, p.fd);
	srv.mon = &c;
	assert_int_equal(ctl_secret_hash(&srv, "cached-secret", h, sizeof(h)), CL_OK);
	assert_int_equal(ctl_secret_hash(&srv, "other-secret", other, sizeof(other)), CL_OK);
	assert_int_equal(ctl_secret_verify(&srv, "cached-secret", h), CL_OK);  /* asks the monitor */
	assert_int_equal(ctl_secret_verify(&srv, "cached-secreT", h), CL_EAUTH);
	kill(p.pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
	assert_int_equal(ctl_secret_verify(&srv, "cached-secret", h), CL_OK); /* remembered */
	assert_int_not_equal(ctl_secret_verify(&srv, "cached-secreT", h), CL_OK);
	assert_int_not_equal(ctl_secret_verify(&srv, "other-secret", other), CL_OK); /* never confirmed */
	assert_int_not_equal(ctl_secret_verify(&srv, "cached-secret", other), CL_OK);
	close(p.fd);
}

/* ---------------------------------------------------------------- data directory */

static void touch(const char *d, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", d, name);
	assert_int_equal(cl_file_write_atomic(path, text, strlen(text), 0600), CL_OK);
}

static bool has(const char *d, const char *name, const char *text)
{
	char path[256];
	cl_buf b;
	const char *s;
	snprintf(path, sizeof(path), "%s/%s", d, name);
	cl_buf_init(&b, 4096);
	bool ok = cl_file_read(path, 4096, &b) == CL_OK && cl_buf_cstr(&b, &s) == CL_OK && strcmp(s, text) == 0;
	cl_buf_free(&b);
	return ok;
}

static void datadir_migration(void **state)
{
	char data[128];
	ctl_ids ids = {.root = false, .uid = getuid(), .gid = getgid()};
	snprintf(data, sizeof(data), "%s/data", dir);
	assert_int_equal(mkdir(data, 0700), 0);
	/* the layout before the split */
	touch(data, "ca.key", "K");
	touch(data, "server.key", "S");
	touch(data, "ca.pem", "C");
	touch(data, "control.db", "D");
	touch(data, "control.db-wal", "W");
	/* a kill after the first move of an earlier start */
	char db[160];
	snprintf(db, sizeof(db), "%s/db", data);
	assert_int_equal(mkdir(db, 0700), 0);
	char from[200], to[200];
	snprintf(from, sizeof(from), "%s/control.db", data);
	snprintf(to, sizeof(to), "%s/control.db", db);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(ctl_datadir_prepare(data, &ids), CL_OK);
	char k[160];
	snprintf(k, sizeof(k), "%s/keys", data);
	assert_true(has(k, "ca.key", "K"));
	assert_true(has(k, "server.key", "S"));
	assert_true(has(data, "ca.pem", "C")); /* stays where hosts find it */
	assert_true(has(db, "control.db", "D"));
	assert_true(has(db, "control.db-wal", "W"));
	struct stat st;
	assert_int_equal(stat(k, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	for (const char *const *d = (const char *const[]){"images", "uploads", "fw_ops", NULL}; *d; d++) {
		snprintf(from, sizeof(from), "%s/%s", data, *d);
		assert_int_equal(stat(from, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
	}
	/* idempotent */
	assert_int_equal(ctl_datadir_prepare(data, &ids), CL_OK);
	assert_true(has(db, "control.db-wal", "W"));
	/* a store file in both places: which one is right is not ours to guess */
	touch(data, "control.db", "OLD");
	assert_int_equal(ctl_datadir_prepare(data, &ids), CL_ECONFLICT);
	assert_true(has(db, "control.db", "D"));
	assert_true(has(data, "control.db", "OLD"));
	/* a key in both places: keys/ wins, the other is left (warned) */
	snprintf(from, sizeof(from), "%s/control.db", data);
	assert_int_equal(unlink(from), 0);
	touch(data, "ca.key", "K2");
	assert_int_equal(ctl_datadir_prepare(data, &ids), CL_OK);
	assert_true(has(k, "ca.key", "K"));
	assert_true(has(data, "ca.key", "K2"));
}

int main(void)
{
	cl_log_init("test_control_monitor", CL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names),
		cmocka_unit_test(ca_reissue),
		cmocka_unit_test(pepper_hash),
		cmocka_unit_test(requests),
		cmocka_unit_test(seal_unseal),
		cmocka_unit_test(seal_requests),
		cmocka_unit_test(never_blocks_fails_closed),
		cmocka_unit_test(verify_cache),
		cmocka_unit_test(datadir_migration),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
