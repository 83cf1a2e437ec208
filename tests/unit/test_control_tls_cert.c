/* Unit tests for guests' TLS certificates (src/control/ca_tls.c, the
 * monitor's ISSUE_TLS_CERT): the names grammar; a leaf issued by the CA for a
 * P-256 key and its proof of possession, checked field by field and verified
 * by OpenSSL against the root alone; every refusal (a proof that does not
 * verify or was made for another host, enclave or generation, a point off
 * the curve, bad names and ids); and end to end: a real key holder makes the
 * key (tls-generate), a real forked monitor certifies it, and a TLS 1.3
 * handshake on memory BIOs with the issued chain and a remote key signed by
 * the key holder verifies against the root and the guest's name. */
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/remote_key.h"
#include "common/util.h"
#include "control/ca.h"
#include "control/monitor.h"
#include "keyholder/keyholder.h"

static char dir[64], keys[96], ca_pem[128], logpath[96];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cl-tlscert.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	snprintf(logpath, sizeof(logpath), "%s/mon.log", dir);
	return mkdir(keys, 0700);
}

static int teardown(void **state)
{
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

/* ---------------------------------------------------------------- helpers */

/* A P-256 key made here, its point, and the proof the key holder would make. */
static EVP_PKEY *test_key(uint8_t pt[65])
{
	size_t n = 0;
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, 65, &n), 1);
	assert_int_equal(n, 65);
	return k;
}

static void prove(EVP_PKEY *k, const char *host, const char *slot, const uint8_t pt[65], uint8_t proof[64])
{
	uint8_t buf[256], md[32], der[80];
	size_t n = 0, dl = sizeof(der);
	unsigned ml = 0;
	memcpy(buf, "cloister-tls-pop/1", 18), n = 18;
	buf[n++] = 0;
	memcpy(buf + n, host, strlen(host)), n += strlen(host);
	buf[n++] = 0;
	memcpy(buf + n, slot, strlen(slot)), n += strlen(slot);
	buf[n++] = 0;
	memcpy(buf + n, pt, 65), n += 65;
	assert_int_equal(EVP_Digest(buf, n, md, &ml, EVP_sha256(), NULL), 1);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	assert_int_equal(EVP_PKEY_sign_init(c), 1);
	assert_int_equal(EVP_PKEY_sign(c, der, &dl, md, 32), 1);
	EVP_PKEY_CTX_free(c);
	const unsigned char *p = der;
	ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
	const BIGNUM *r, *s;
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, proof, 32), 32);
	assert_int_equal(BN_bn2binpad(s, proof + 32, 32), 32);
	ECDSA_SIG_free(es);
}

static STACK_OF(X509) *read_chain(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)))
		sk_X509_push(sk, x);
	ERR_clear_error();
	BIO_free(b);
	return sk;
}

static X509 *load_root(void)
{
	FILE *f = fopen(ca_pem, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

/* X509_verify_cert of leaf with the root as the only anchor, strict, for a TLS server. */
static int verifies(X509 *leaf, X509 *root)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_STORE_add_cert(st, root);
	X509_STORE_CTX_init(ctx, st, leaf, NULL);
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
	int ok = X509_verify_cert(ctx) == 1;
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

/* ---------------------------------------------------------------- names */

static void names(void **state)
{
	ctl_names l;
	assert_int_equal(ctl_tls_names_parse("web.t1.example.com,192.0.2.7,2001:db8::1", &l), CL_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0], "DNS:web.t1.example.com");
	assert_string_equal(l.v[1], "IP:192.0.2.7");
	assert_string_equal(l.v[2], "IP:2001:db8::1");
	char many[1100] = "", label[80];
	for (int i = 0; i < 16; i++) {
		snprintf(label, sizeof(label), "%sn%d.example", i ? "," : "", i);
		strcat(many, label);
	}
	assert_int_equal(ctl_tls_names_parse(many, &l), CL_OK);
	assert_int_equal(l.n, 16);
	strcat(many, ",n16.example"); /* 17 */
	assert_int_equal(ctl_tls_names_parse(many, &l), CL_EINVAL);
	/* a 63-character label and a 253-character name are fine, one more is not */
	char lab63[64], lab64[65], n253[260], n254[260];
	memset(lab63, 'a', 63), lab63[63] = 0;
	memset(lab64, 'a', 64), lab64[64] = 0;
	assert_int_equal(ctl_tls_names_parse(lab63, &l), CL_OK);
	snprintf(n253, sizeof(n253), "%s.%s.%s.%.61s", lab63, lab63, lab63, lab63);
	assert_int_equal(strlen(n253), 253);
	assert_int_equal(ctl_tls_names_parse(n253, &l), CL_OK);
	snprintf(n254, sizeof(n254), "%s.%s.%s.%.62s", lab63, lab63, lab63, lab63);
	const char *bad[] = {"",          ",",         "a,",         ",a",          "a,,b",       "A.example",
			     "*.example", "a..b",      ".a",         "a.",          "-a.example", "a-.example",
			     "a_b.example", "a b",     "a/b",        "a:b",         "a.example,a.example",
			     "10.0.0.1,10.0.0.1", lab64, n254,       "é.example"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ctl_tls_names_parse(bad[i], &l) != CL_EINVAL)
			fail_msg("names \"%s\" accepted", bad[i]);
	char longest[CTL_TLS_NAMES_MAX + 2];
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = 0;
	assert_int_equal(ctl_tls_names_parse(longest, &l), CL_EINVAL);
}

/* ---------------------------------------------------------------- issuing, directly */

static void issue_and_refuse(void **state)
{
	ctl_names srv;
	ctl_ca *ca = NULL;
	uint8_t pt[65], proof[64], other[65];
	ctl_tls_cert c;
	ctl_names_default(&srv);
	assert_int_equal(ctl_ca_open(keys, ca_pem, &srv, time(NULL), &ca), CL_OK);
	EVP_PKEY *k = test_key(pt);
	prove(k, "host-1", "tls/enc-a:2", pt, proof);

	time_t now = time(NULL);
	assert_int_equal(ctl_ca_issue_tls(ca, "host-1", "enc-a", 2, "web.t1.example.com,192.0.2.7", pt, proof, &c),
			 CL_OK);
	STACK_OF(X509) *sk = read_chain(c.chain_pem);
	assert_int_equal(sk_X509_num(sk), 2); /* leaf, then the root */
	X509 *leaf = sk_X509_value(sk, 0), *root = load_root();
	assert_int_equal(X509_cmp(sk_X509_value(sk, 1), root), 0);
	assert_true(verifies(leaf, root));
	/* the key is the point */
	uint8_t lp[65];
	size_t lpn = 0;
	assert_int_equal(EVP_PKEY_get_octet_string_param(X509_get0_pubkey(leaf), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
							 lp, sizeof(lp), &lpn),
			 1);
	assert_memory_equal(lp, pt, 65);
	/* names, usages, subject, validity, serial */
	assert_int_equal(X509_check_host(leaf, "web.t1.example.com", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(leaf, "192.0.2.7", 0), 1);
	assert_int_equal(X509_check_host(leaf, "other.example.com", 0, 0, NULL), 0);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_int_equal(X509_check_ca(leaf), 0);
	char cn[128];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "web.t1.example.com");
	assert_true(c.not_after >= now + 30 * 86400 - 5 && c.not_after <= now + 30 * 86400 + 5);
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	char *hex = BN_bn2hex(bn);
	for (char *h = hex; *h; h++)
		*h = (char)(*h >= 'A' && *h <= 'F' ? *h - 'A' + 'a' : *h);
	assert_string_equal(c.serial, hex[0] == '0' ? hex + 1 : hex);
	OPENSSL_free(hex);
	BN_free(bn);
	sk_X509_pop_free(sk, X509_free);
	free(c.chain_pem);

	/* refusals: nothing issued, *out empty */
	struct {
		const char *host, *enclave;
		uint32_t gen;
		const char *names;
		cl_err want;
	} cases[] = {
		{"host-2", "enc-a", 2, "a.example", CL_ECRYPTO}, /* proof made for another host */
		{"host-1", "enc-b", 2, "a.example", CL_ECRYPTO}, /* ...another enclave */
		{"host-1", "enc-a", 3, "a.example", CL_ECRYPTO}, /* ...another generation */
		{"Host-1", "enc-a", 2, "a.example", CL_EINVAL},
		{"host-1", "enc_a", 2, "a.example", CL_EINVAL},
		{"host-1", "e23456789012345678901234567890123456789012345678901234", 2, "a.example", CL_EINVAL},
		{"host-1", "enc-a", 0, "a.example", CL_EINVAL},
		{"host-1", "enc-a", 2, "A.example", CL_EINVAL},
		{"host-1", "enc-a", 2, "", CL_EINVAL},
		{"host-1", "enc-a", 2, "*.example", CL_EINVAL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cl_err e = ctl_ca_issue_tls(ca, cases[i].host, cases[i].enclave, cases[i].gen, cases[i].names, pt, proof,
					    &c);
		if (e != cases[i].want)
			fail_msg("case %zu: %s, expected %s", i, cl_err_name(e), cl_err_name(cases[i].want));
		assert_null(c.chain_pem);
		assert_int_equal(c.serial[0], 0);
	}
	/* a proof that does not verify: every byte of it matters */
	for (int i = 0; i < 64; i += 9) {
		uint8_t bad[64];
		memcpy(bad, proof, 64);
		bad[i] ^= 0x40;
		assert_int_equal(ctl_ca_issue_tls(ca, "host-1", "enc-a", 2, "a.example", pt, bad, &c), CL_ECRYPTO);
	}
	/* points: off the curve, compressed, all zero, another key's (with this proof) */
	memcpy(other, pt, 65);
	other[64] ^= 1;
	assert_int_equal(ctl_ca_issue_tls(ca, "host-1", "enc-a", 2, "a.example", other, proof, &c), CL_ECRYPTO);
	other[0] = 0x02;
	assert_int_equal(ctl_ca_issue_tls(ca, "host-1", "enc-a", 2, "a.example", other, proof, &c), CL_ECRYPTO);
	memset(other, 0, 65);
	other[0] = 0x04;
	assert_int_equal(ctl_ca_issue_tls(ca, "host-1", "enc-a", 2, "a.example", other, proof, &c), CL_ECRYPTO);
	EVP_PKEY *k2 = test_key(other);
	assert_int_equal(ctl_ca_issue_tls(ca, "host-1", "enc-a", 2, "a.example", other, proof, &c), CL_ECRYPTO);
	assert_int_equal(ctl_tls_pop_verify("host-1", "enc-a", 2, pt, proof), CL_OK);
	/* a long first name: no CN, the SAN carries it */
	char lab63[64], name[200];
	memset(lab63, 'a', 63), lab63[63] = 0;
	snprintf(name, sizeof(name), "%s.example", lab63);
	assert_int_equal(ctl_ca_issue_tls(ca, "host-1", "enc-a", 2, name, pt, proof, &c), CL_OK);
	sk = read_chain(c.chain_pem);
	leaf = sk_X509_value(sk, 0);
	assert_int_equal(X509_NAME_get_index_by_NID(X509_get_subject_name(leaf), NID_commonName, -1), -1);
	assert_int_equal(X509_check_host(leaf, name, 0, 0, NULL), 1);
	assert_true(verifies(leaf, root));
	sk_X509_pop_free(sk, X509_free);
	free(c.chain_pem);
	X509_free(root);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	ctl_ca_free(ca);
}

/* ---------------------------------------------------------------- end to end */

static cl_err sign2(void *ctx, const uint8_t *dg, size_t n, uint8_t *sig, size_t *sig_len)
{
	return cl_kh_remote_sign2(ctx, dg, n, sig, sig_len);
}

/* A TLS 1.3 handshake on memory BIOs: server chain + key, client trusting
 * root_pem alone and checking host. 1 if it completed and verified. */
static int handshake(const char *chain, EVP_PKEY *key, const char *host)
{
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	STACK_OF(X509) *sk = read_chain(chain);
	X509 *root = load_root();
	BIO *c2s = BIO_new(BIO_s_mem()), *s2c = BIO_new(BIO_s_mem());
	int done = 0;
	assert_int_equal(SSL_CTX_use_certificate(sctx, sk_X509_value(sk, 0)), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(sctx, key), 1);
	assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), root), 1);
	SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
	SSL_set1_host(c, host);
	BIO_up_ref(c2s);
	BIO_up_ref(s2c);
	SSL_set_bio(c, s2c, c2s);
	SSL_set_bio(s, c2s, s2c);
	SSL_set_connect_state(c);
	SSL_set_accept_state(s);
	for (int i = 0; i < 32 && !(SSL_is_init_finished(c) && SSL_is_init_finished(s)); i++) {
		int r = SSL_do_handshake(c);
		if (r != 1 && SSL_get_error(c, r) != SSL_ERROR_WANT_READ)
			break;
		r = SSL_do_handshake(s);
		if (r != 1 && SSL_get_error(s, r) != SSL_ERROR_WANT_READ)
			break;
	}
	done = SSL_is_init_finished(c) && SSL_is_init_finished(s) && SSL_get_verify_result(c) == X509_V_OK;
	SSL_free(c);
	SSL_free(s);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	sk_X509_pop_free(sk, X509_free);
	X509_free(root);
	ERR_clear_error();
	return done;
}

static void end_to_end(void **state)
{
	int a[2], t[2], m[2], st;
	static ctl_names srv;
	ctl_names_default(&srv);
	assert_int_equal(cl_ipc_pair(a), CL_OK);
	assert_int_equal(cl_ipc_pair(t), CL_OK);
	assert_int_equal(cl_ipc_pair(m), CL_OK);
	char khdir[128];
	snprintf(khdir, sizeof(khdir), "%s/hostkeys", dir);
	fflush(NULL);
	pid_t kh = fork();
	assert_true(kh >= 0);
	if (kh == 0) {
		int extra[] = {t[1]};
		enum cl_kh_role roles[] = {CL_KH_ROLE_TLS};
		cl_kh_main_opts o = {.extra_fds = extra, .extra_roles = roles, .nextra = 1};
		_exit(cl_keyholder_main(a[1], khdir, &o));
	}
	pid_t mon = fork();
	assert_true(mon >= 0);
	if (mon == 0) {
		int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log < 0 || dup2(log, 2) < 0)
			_exit(2);
		cl_log_init("test-monitor", CL_LOG_INFO);
		ctl_monitor_opts o = {.data_dir = dir, .keys_dir = keys, .names = &srv};
		_exit(ctl_monitor_main(m[0], &o));
	}
	close(a[1]);
	close(t[1]);
	close(m[0]);
	cl_kh_client agent, tls;
	ctl_mon_client mc;
	cl_kh_client_init(&agent, a[0], 10000);
	cl_kh_client_init(&tls, t[0], 10000);
	ctl_mon_client_init(&mc, m[1]);

	/* step 1: the key holder makes the key; step 3: the monitor certifies it */
	uint8_t pt[CL_KH_P256_POINT_LEN], proof[CL_KH_P256_SIG_LEN];
	char *chain = NULL, serial[CTL_SERIAL_HEX_MAX + 1];
	int64_t not_after = 0;
	assert_int_equal(cl_kh_tls_generate(&agent, "tls/enc-web:1", "host-9", pt, proof), CL_OK);
	/* refusals first: the channel stays usable after each */
	assert_int_equal(ctl_mon_issue_tls_cert(&mc, "host-8", "enc-web", 1, "web.example", pt, proof, &chain, serial,
						&not_after),
			 CL_ECRYPTO);
	assert_int_equal(ctl_mon_issue_tls_cert(&mc, "host-9", "enc-web", 2, "web.example", pt, proof, &chain, serial,
						&not_after),
			 CL_ECRYPTO);
	assert_int_equal(ctl_mon_issue_tls_cert(&mc, "host-9", "enc-web", 1, "web..example", pt, proof, &chain,
						serial, &not_after),
			 CL_EINVAL);
	assert_null(chain);
	/* never one of the control plane's own names: the leaf chains to its root */
	assert_int_equal(ctl_mon_issue_tls_cert(&mc, "host-9", "enc-web", 1, "web.t.example,127.0.0.1", pt, proof,
						&chain, serial, &not_after),
			 CL_EINVAL);
	assert_null(chain);
	assert_int_equal(ctl_mon_issue_tls_cert(&mc, "host-9", "enc-web", 1, "localhost", pt, proof, &chain, serial,
						&not_after),
			 CL_EINVAL);
	assert_null(chain);
	assert_int_equal(ctl_mon_issue_tls_cert(&mc, "host-9", "enc-web", 1, "web.t.example,192.0.2.9", pt, proof,
						&chain, serial, &not_after),
			 CL_OK);
	assert_non_null(chain);
	assert_true(serial[0] != 0);
	assert_true(not_after > time(NULL) + 29 * 86400);

	/* the data plane's view: the chain and a remote key on the slot */
	cl_kh_signer signer = {.client = &tls};
	snprintf(signer.slot, sizeof(signer.slot), "tls/enc-web:1");
	EVP_PKEY *key = NULL;
	assert_int_equal(cl_remote_key_new_curve(NID_X9_62_prime256v1, pt, sizeof(pt), sign2, &signer, &key), CL_OK);
	assert_true(handshake(chain, key, "web.t.example"));
	assert_false(handshake(chain, key, "other.example")); /* the name is checked */
	EVP_PKEY_free(key);
	free(chain);

	close(m[1]);
	close(a[0]);
	close(t[0]);
	assert_int_equal(waitpid(mon, &st, 0), mon);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(waitpid(kh, &st, 0), kh);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cl_buf log;
	const char *s;
	cl_buf_init(&log, 1 << 20);
	assert_int_equal(cl_file_read(logpath, 1 << 20, &log), CL_OK);
	assert_int_equal(cl_buf_cstr(&log, &s), CL_OK);
	assert_non_null(strstr(s, "refused issue-tls-cert"));
	assert_non_null(strstr(s, "proof does not verify"));
	assert_non_null(strstr(s, "IP:127.0.0.1 is a name of the control plane itself"));
	assert_non_null(strstr(s, "guest TLS certificate issued host=host-9 enclave=enc-web gen=1"));
	assert_non_null(strstr(s, "tls_issued=1"));
	cl_buf_free(&log);
}

int main(void)
{
	cl_log_init("test_control_tls_cert", CL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names),
		cmocka_unit_test(issue_and_refuse),
		cmocka_unit_test(end_to_end),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
