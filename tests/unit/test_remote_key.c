/* Unit tests for src/common/remote_key.c. The private keys live in a forked
 * key holder (hardened, as in production); this process only has remote
 * keys that ask it over an ipc socketpair: the P-384 "attest" key
 * (cl_remote_key_new) and a guest's P-256 TLS key made by tls-generate
 * (cl_remote_key_new_curve). With them: X509_sign, X509_REQ_sign,
 * EVP_DigestSign; TLS 1.2 and TLS 1.3 handshakes on memory BIOs whose client
 * verifies the certificate and its name; an in-process TLS server that
 * libcurl reaches with TLS 1.2 and TLS 1.3. This process's whole readable
 * memory is scanned for the P-384 private scalar (the one with a file to
 * compare against): not one 8-byte piece of it may be found. Plus signers
 * that lie (bad r or s, the other curve's length, gone) are refused. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/remote_key.h"
#include "common/util.h"
#include "fw/fw_tools.h"
#include "keyholder/keyholder.h"

static char dir[64], keys[96], certpath[96];
static pid_t kh_pid;
static size_t plen; /* cl_kh_get_public's point length */
static int agent_fd, tls_fd;
static cl_kh_client tls_client, agent; /* one client per channel: ids run on */
static cl_kh_signer signer, att_signer;
static int remote_calls;
static uint8_t web_pt[CL_KH_P256_POINT_LEN]; /* tls/web:1 */

static cl_err counting_sign(void *ctx, const uint8_t *dg, size_t n, uint8_t sig[CL_RK_SIG_LEN])
{
	remote_calls++;
	return cl_kh_remote_sign(ctx, dg, n, sig);
}

static cl_err counting_sign2(void *ctx, const uint8_t *dg, size_t n, uint8_t *sig, size_t *sig_len)
{
	remote_calls++;
	return cl_kh_remote_sign2(ctx, dg, n, sig, sig_len);
}

static int setup(void **state)
{
	int a[2], t[2];
	snprintf(dir, sizeof(dir), "/tmp/cl-rk.XXXXXX");
	if (!mkdtemp(dir) || cl_ipc_pair(a) != CL_OK || cl_ipc_pair(t) != CL_OK)
		return -1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(certpath, sizeof(certpath), "%s/cert.pem", dir);
	fflush(NULL);
	kh_pid = fork();
	if (kh_pid == 0) {
		int extra[] = {t[1]};
		enum cl_kh_role roles[] = {CL_KH_ROLE_TLS};
		cl_kh_main_opts o = {.extra_fds = extra, .extra_roles = roles, .nextra = 1};
		_exit(cl_keyholder_main(a[1], keys, &o));
	}
	close(a[1]);
	close(t[1]);
	agent_fd = a[0];
	tls_fd = t[0];
	cl_kh_client_init(&tls_client, tls_fd, 10000);
	cl_kh_client_init(&agent, agent_fd, 10000);
	signer.client = &tls_client;
	snprintf(signer.slot, sizeof(signer.slot), "tls/web:1");
	att_signer.client = &agent;
	snprintf(att_signer.slot, sizeof(att_signer.slot), "attest");
	return kh_pid > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	int st;
	close(agent_fd);
	close(tls_fd);
	waitpid(kh_pid, &st, 0);
	return cl_rm_rf(dir) == CL_OK && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- a certificate signed remotely */

static X509 *make_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *san;
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
				   -1, -1, 0);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(x)), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost");
	assert_non_null(san);
	X509_add_ext(x, san, -1);
	X509_EXTENSION_free(san);
	return x;
}

static void digest_sign_verify(EVP_PKEY *key, const EVP_MD *md)
{
	uint8_t sig[160];
	size_t sl = sizeof(sig);
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(m, NULL, md, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &sl, (const uint8_t *)"message", 7), 1);
	EVP_MD_CTX_free(m);
	m = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(m, NULL, md, NULL, key), 1);
	assert_int_equal(EVP_DigestVerify(m, sig, sl, (const uint8_t *)"message", 7), 1);
	EVP_MD_CTX_free(m);
}

static void no_ecdh(EVP_PKEY *key)
{
	EVP_PKEY_CTX *d = EVP_PKEY_CTX_new(key, NULL);
	size_t zl = 48;
	uint8_t z[48];
	assert_true(EVP_PKEY_derive_init(d) != 1 || EVP_PKEY_derive_set_peer(d, key) != 1 ||
		    EVP_PKEY_derive(d, z, &zl) != 1);
	EVP_PKEY_CTX_free(d);
	ERR_clear_error();
}

static uintptr_t scan_memory(uint8_t *probe, bool include_probe);
static void read_scalar(uint8_t *probe);

/* P-384 (cl_remote_key_new) with the key holder's "attest" key, which
 * signs SHA-384 digests only. */
static void x509_and_digest_sign_p384(void **state)
{
	uint8_t pt[CL_KH_POINT_LEN];
	EVP_PKEY *key = NULL;
	assert_int_equal(cl_kh_generate(&agent, "attest", pt), CL_OK);
	assert_int_equal(cl_remote_key_new(pt, counting_sign, &att_signer, &key), CL_OK);
	assert_true(cl_remote_key_is_remote(key));

	/* X509_sign: the certificate verifies with the public key */
	X509 *x = make_cert(key);
	remote_calls = 0;
	assert_true(X509_sign(x, key, EVP_sha384()) > 0);
	assert_int_equal(remote_calls, 1);
	assert_int_equal(X509_verify(x, key), 1);
	/* a copy signs through the same signer, and both free cleanly */
	EVP_PKEY *dup = EVP_PKEY_dup(key);
	X509 *x2 = make_cert(dup);
	assert_true(X509_sign(x2, dup, EVP_sha384()) > 0);
	assert_int_equal(remote_calls, 2);
	assert_int_equal(X509_verify(x2, key), 1);
	X509_free(x2);
	EVP_PKEY_free(dup);
	X509_free(x);

	/* X509_REQ_sign */
	X509_REQ *req = X509_REQ_new();
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha384()) > 0);
	assert_int_equal(X509_REQ_verify(req, key), 1);
	X509_REQ_free(req);
	digest_sign_verify(key, EVP_sha384());
	no_ecdh(key);
	EVP_PKEY_free(key);

	/* Not one piece of that private key anywhere in this process. */
	uint8_t *probe = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(probe != MAP_FAILED);
	read_scalar(probe);
	assert_true(scan_memory(probe, true) != 0); /* the scanner does find it where it is */
	uintptr_t hit = scan_memory(probe, false);
	if (hit)
		fail_msg("a piece of the private key is in this process at 0x%" PRIxPTR, hit);
	explicit_bzero(probe, 4096);
	munmap(probe, 4096);
}

/* P-256 (cl_remote_key_new_curve) with a guest key made by tls-generate:
 * the certificate the TLS tests below serve. */
static void x509_and_digest_sign_p256(void **state)
{
	uint8_t proof[CL_KH_P256_SIG_LEN], pt[CL_KH_POINT_LEN];
	enum cl_kh_purpose purpose;
	size_t n = 0;
	EVP_PKEY *key = NULL;
	assert_int_equal(cl_kh_tls_generate(&agent, "tls/web:1", "host-1", web_pt, proof), CL_OK);
	assert_int_equal(cl_kh_get_public(&agent, "tls/web:1", &purpose, pt, &n), CL_OK);
	assert_int_equal(n, CL_KH_P256_POINT_LEN);
	assert_memory_equal(pt, web_pt, n);
	assert_int_equal(cl_remote_key_new_curve(NID_X9_62_prime256v1, web_pt, sizeof(web_pt), counting_sign2, &signer,
						 &key),
			 CL_OK);
	assert_true(cl_remote_key_is_remote(key));
	assert_int_equal(EVP_PKEY_get_bits(key), 256);
	X509 *x = make_cert(key);
	remote_calls = 0;
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	assert_int_equal(remote_calls, 1);
	assert_int_equal(X509_verify(x, key), 1);
	FILE *f = fopen(certpath, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	X509_free(x);
	digest_sign_verify(key, EVP_sha256());
	/* a SHA-384 digest is not what a P-256 tls/ key signs: the key holder refuses */
	X509 *x3 = make_cert(key);
	assert_true(X509_sign(x3, key, EVP_sha384()) <= 0);
	X509_free(x3);
	ERR_clear_error();
	no_ecdh(key);
	EVP_PKEY_free(key);
}

/* ---------------------------------------------------------------- TLS 1.2 and 1.3 on memory BIOs */

static SSL_CTX *server_ctx(EVP_PKEY *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate_file(ctx, certpath, SSL_FILETYPE_PEM), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
	return ctx;
}

/* One handshake between a client that trusts only certpath and checks the
 * name "localhost", and sctx; then one record each way. Returns the
 * negotiated version, or 0 if the handshake or the verification failed. */
static int bio_handshake(SSL_CTX *sctx, int version)
{
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	X509_STORE *store = cctx ? SSL_CTX_get_cert_store(cctx) : NULL;
	FILE *f = fopen(certpath, "r");
	X509 *trust = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	BIO *c2s = BIO_new(BIO_s_mem()), *s2c = BIO_new(BIO_s_mem());
	SSL *c = NULL, *s = NULL;
	int cdone = 0, sdone = 0, got = 0;
	char buf[8];
	if (f)
		fclose(f);
	assert_true(cctx && store && trust && c2s && s2c && X509_STORE_add_cert(store, trust) == 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	assert_int_equal(SSL_CTX_set_min_proto_version(cctx, version), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(cctx, version), 1);
	c = SSL_new(cctx);
	s = SSL_new(sctx);
	assert_true(c && s && SSL_set1_host(c, "localhost") == 1 && SSL_set_tlsext_host_name(c, "localhost") == 1);
	BIO_up_ref(c2s);
	BIO_up_ref(s2c);
	SSL_set_bio(c, s2c, c2s); /* the client reads what the server wrote */
	SSL_set_bio(s, c2s, s2c);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 32 && !(cdone && sdone); i++) {
		int r;
		if (!cdone && (r = SSL_do_handshake(c)) != 1 && SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
			break;
		cdone = cdone || SSL_is_init_finished(c);
		if (!sdone && (r = SSL_do_handshake(s)) != 1 && SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
			break;
		sdone = sdone || SSL_is_init_finished(s);
	}
	if (cdone && sdone && SSL_get_verify_result(c) == X509_V_OK && SSL_write(s, "hello", 5) == 5 &&
	    SSL_read(c, buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0 && SSL_write(c, "back", 4) == 4 &&
	    SSL_read(s, buf, sizeof(buf)) == 4 && memcmp(buf, "back", 4) == 0)
		got = SSL_version(c);
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	X509_free(trust);
	ERR_clear_error();
	return got;
}

static void tls_memory_bios_p256(void **state)
{
	EVP_PKEY *key = NULL;
	assert_int_equal(cl_remote_key_new_curve(NID_X9_62_prime256v1, web_pt, sizeof(web_pt), counting_sign2, &signer,
						 &key),
			 CL_OK);
	SSL_CTX *sctx = server_ctx(key);
	remote_calls = 0;
	assert_int_equal(bio_handshake(sctx, TLS1_2_VERSION), TLS1_2_VERSION);
	assert_int_equal(remote_calls, 1); /* ServerKeyExchange, signed by the key holder */
	assert_int_equal(bio_handshake(sctx, TLS1_3_VERSION), TLS1_3_VERSION);
	assert_int_equal(remote_calls, 2); /* CertificateVerify */
	SSL_CTX_free(sctx);
	EVP_PKEY_free(key);
}

/* ---------------------------------------------------------------- TLS 1.2 and 1.3 with libcurl */

typedef struct server {
	SSL_CTX *ctx;
	int lfd;
	int versions[2];
} server;

static void *serve(void *arg)
{
	server *s = arg;
	for (int i = 0; i < 2; i++) {
		int c = accept(s->lfd, NULL, NULL);
		SSL *ssl = c >= 0 ? SSL_new(s->ctx) : NULL;
		char buf[1024];
		if (ssl && SSL_set_fd(ssl, c) == 1 && SSL_accept(ssl) == 1) {
			s->versions[i] = SSL_version(ssl);
			if (SSL_read(ssl, buf, sizeof(buf)) > 0) {
				static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
				SSL_write(ssl, resp, sizeof(resp) - 1);
			}
			SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		if (c >= 0)
			close(c);
	}
	return NULL;
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
	cl_buf *b = ud;
	return cl_buf_put(b, p, sz * n) == CL_OK ? sz * n : 0;
}

static long fetch(int port, long version, cl_buf *body)
{
	char url[64], resolve[64];
	struct curl_slist *rs;
	CURL *c = curl_easy_init();
	long code = 0;
	snprintf(url, sizeof(url), "https://localhost:%d/", port);
	snprintf(resolve, sizeof(resolve), "localhost:%d:127.0.0.1", port);
	rs = curl_slist_append(NULL, resolve);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, rs);
	curl_easy_setopt(c, CURLOPT_CAINFO, certpath);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_SSLVERSION, version);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	CURLcode r = curl_easy_perform(c);
	if (r != CURLE_OK)
		fprintf(stderr, "curl: %s\n", curl_easy_strerror(r));
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	curl_slist_free_all(rs);
	return code;
}

/* ---------------------------------------------------------------- memory scan */

/* Scans every readable mapping of this process (through /proc/self/mem, so
 * unreadable pages are skipped instead of faulting) for any 8-byte piece of
 * the 48-byte scalar in probe[0..48), big-endian or byte-reversed (BIGNUM
 * limbs). The probe page, holding the needles, is skipped unless
 * include_probe. Returns the address of the first hit, or 0. */
static uintptr_t scan_memory(uint8_t *probe, bool include_probe)
{
	enum { CHUNK = 1 << 20 };
	uint8_t *needles = probe + 64; /* 12 needles of 8 bytes, in the probe page */
	for (int k = 0; k < 6; k++)
		for (int j = 0; j < 8; j++) {
			needles[16 * k + j] = probe[8 * k + j];
			needles[16 * k + 8 + j] = probe[8 * k + 7 - j];
		}
	uint8_t *buf = mmap(NULL, CHUNK + 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FILE *maps = fopen("/proc/self/maps", "r");
	int mem = open("/proc/self/mem", O_RDONLY);
	char line[512];
	uintptr_t hit = 0;
	assert_true(buf != MAP_FAILED && maps && mem >= 0);
	while (!hit && fgets(line, sizeof(line), maps)) {
		uintptr_t lo, hi;
		char perms[8];
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perms) != 3 || perms[0] != 'r')
			continue;
		if (strstr(line, "[vvar") || strstr(line, "[vsyscall]") || hi - lo > (256u << 20))
			continue; /* not memory we own, or sanitizer shadow reservations */
		if ((lo <= (uintptr_t)buf && (uintptr_t)buf < hi) ||
		    (!include_probe && lo <= (uintptr_t)probe && (uintptr_t)probe < hi))
			continue;
		for (uintptr_t off = lo; !hit && off < hi; off += CHUNK) {
			size_t want = hi - off < CHUNK + 8 ? hi - off : CHUNK + 8; /* 8-byte overlap */
			ssize_t n = pread(mem, buf, want, (off_t)off);
			for (int k = 0; n >= 8 && !hit && k < 12; k++) {
				uint8_t *m = memmem(buf, (size_t)n, needles + 8 * k, 8);
				if (m)
					hit = off + (uintptr_t)(m - buf);
			}
		}
	}
	fclose(maps);
	close(mem);
	munmap(buf, CHUNK + 8);
	return hit;
}

/* The scalar of the key file, read by a throwaway child and written straight
 * into probe by the kernel: this process never parses the key. */
static void read_scalar(uint8_t *probe)
{
	char path[160];
	int p[2];
	snprintf(path, sizeof(path), "%s/attest.key", keys);
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *k = NULL;
		BIGNUM *d = NULL;
		uint8_t s[48];
		if (fw_key_load_private(path, &k) != CL_OK || EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1 ||
		    BN_bn2binpad(d, s, 48) != 48 || write(p[1], s, 48) != 48)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], probe, 48), 48);
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void tls_handshakes_curl(void **state)
{
	EVP_PKEY *key = NULL;
	server s = {0};
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t al = sizeof(a);
	pthread_t th;
	cl_buf body;

	assert_int_equal(cl_remote_key_new_curve(NID_X9_62_prime256v1, web_pt, sizeof(web_pt), counting_sign2, &signer,
						 &key),
			 CL_OK);
	s.ctx = server_ctx(key);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(s.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s.lfd, 4), 0);
	assert_int_equal(getsockname(s.lfd, (struct sockaddr *)&a, &al), 0);
	assert_int_equal(pthread_create(&th, NULL, serve, &s), 0);

	remote_calls = 0;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	long versions[] = {CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2,
			   CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3};
	for (int i = 0; i < 2; i++) {
		cl_buf_init(&body, 64);
		assert_int_equal(fetch(ntohs(a.sin_port), versions[i], &body), 200);
		assert_int_equal(body.len, 2);
		assert_memory_equal(body.data, "ok", 2);
		cl_buf_free(&body);
	}
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.versions[0], TLS1_2_VERSION);
	assert_int_equal(s.versions[1], TLS1_3_VERSION);
	assert_int_equal(remote_calls, 2); /* one signature per full handshake, made remotely */
	close(s.lfd);
	SSL_CTX_free(s.ctx);
	EVP_PKEY_free(key);
	curl_global_cleanup();
}

/* ---------------------------------------------------------------- a signer that lies */

static int lie_mode;

static cl_err lying_sign(void *ctx, const uint8_t *dg, size_t n, uint8_t sig[CL_RK_SIG_LEN])
{
	memset(sig, 0xff, CL_RK_SIG_LEN); /* r, s >= order */
	if (lie_mode == 1)
		memset(sig, 0, CL_RK_SIG_LEN / 2); /* r = 0 */
	if (lie_mode == 2)
		return cl_errorf(CL_EUNAVAIL, "signer gone");
	return CL_OK;
}

static cl_err lying_sign2(void *ctx, const uint8_t *dg, size_t n, uint8_t *sig, size_t *sig_len)
{
	/* a real P-384 signature for a P-256 key (lie_mode 3), or one byte short */
	size_t want = lie_mode == 3 ? CL_KH_SIG_LEN : CL_KH_P256_SIG_LEN - 1;
	uint8_t full[CL_KH_SIG_LEN];
	CL_GUARD(cl_kh_sign(&agent, "attest", dg, n, full)); /* attest signs 48-byte digests only */
	memcpy(sig, full, want);
	*sig_len = want;
	return CL_OK;
}

static void refuses_bad_signers(void **state)
{
	uint8_t pt[CL_KH_POINT_LEN];
	enum cl_kh_purpose purpose;
	EVP_PKEY *key = NULL;
	assert_int_equal(cl_kh_get_public(&agent, "attest", &purpose, pt, &plen), CL_OK);
	assert_int_equal(cl_remote_key_new(pt, lying_sign, NULL, &key), CL_OK);
	for (lie_mode = 0; lie_mode < 3; lie_mode++) {
		X509 *x = make_cert(key);
		assert_true(X509_sign(x, key, EVP_sha384()) <= 0);
		X509_free(x);
	}
	EVP_PKEY_free(key);
	ERR_clear_error();
	/* points that are not on P-384 */
	pt[96] ^= 1;
	assert_int_equal(cl_remote_key_new(pt, lying_sign, NULL, &key), CL_ECRYPTO);
	assert_null(key);
	pt[0] = 0x02;
	assert_int_equal(cl_remote_key_new(pt, lying_sign, NULL, &key), CL_ECRYPTO);

	/* P-256: a signature of the other curve's length is refused */
	assert_int_equal(cl_remote_key_new_curve(NID_X9_62_prime256v1, web_pt, sizeof(web_pt), lying_sign2, NULL, &key),
			 CL_OK);
	for (lie_mode = 3; lie_mode < 5; lie_mode++) {
		X509 *x = make_cert(key);
		assert_true(X509_sign(x, key, EVP_sha384()) <= 0);
		X509_free(x);
	}
	EVP_PKEY_free(key);
	ERR_clear_error();
	/* wrong lengths, curves and points */
	uint8_t p256[CL_KH_P256_POINT_LEN];
	memcpy(p256, web_pt, sizeof(p256));
	assert_int_equal(cl_remote_key_new_curve(NID_secp384r1, p256, sizeof(p256), lying_sign2, NULL, &key), CL_EINVAL);
	assert_int_equal(cl_remote_key_new_curve(NID_X9_62_prime256v1, p256, 64, lying_sign2, NULL, &key), CL_EINVAL);
	assert_int_equal(cl_remote_key_new_curve(NID_secp521r1, p256, sizeof(p256), lying_sign2, NULL, &key), CL_EINVAL);
	assert_int_equal(cl_remote_key_new_curve(NID_X9_62_prime256v1, p256, sizeof(p256), NULL, NULL, &key), CL_EINVAL);
	p256[64] ^= 1;
	assert_int_equal(cl_remote_key_new_curve(NID_X9_62_prime256v1, p256, sizeof(p256), lying_sign2, NULL, &key),
			 CL_ECRYPTO);
	assert_null(key);
}

int main(void)
{
	cl_log_init("test_remote_key", CL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(x509_and_digest_sign_p384),
		cmocka_unit_test(x509_and_digest_sign_p256),
		cmocka_unit_test(tls_memory_bios_p256),
		cmocka_unit_test(tls_handshakes_curl),
		cmocka_unit_test(refuses_bad_signers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
