/* Unit tests for the control plane's attestation CA (src/control/ca_hosts.c,
 * monitor.c ISSUE_HOST_CERT, validate.c's attestation parsers): the proof of
 * possession and each way it fails, the host leaf's extensions and chain,
 * the hosts CA's re-issue rule, the monitor decoder's refusals of hostile
 * ISSUE_HOST_CERT payloads (through the dispatcher the worker's requests
 * take), and the request bodies' parsers. */
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "control/monitor.h"
#include "control/validate.h"

static char dir[64], keys[96], ca_pem[96];
static ctl_ca *ca;
static EVP_PKEY *hostkey;
static uint8_t point[CTL_ATT_POINT_LEN];

static int setup(void **state)
{
	ctl_names n;
	size_t plen = 0;
	cl_log_init("test_control_attest", CL_LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/cl-att.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	ctl_names_default(&n);
	if (mkdir(keys, 0700) != 0 || ctl_ca_open(keys, ca_pem, &n, time(NULL), &ca) != CL_OK)
		return -1;
	hostkey = EVP_EC_gen("P-384");
	if (!hostkey || EVP_PKEY_get_octet_string_param(hostkey, "encoded-pub-key", point, sizeof(point), &plen) != 1 ||
	    plen != sizeof(point))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	ctl_ca_free(ca);
	EVP_PKEY_free(hostkey);
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

/* The proof a host makes: its key's signature over the label, host id and point. */
static void prove(EVP_PKEY *k, const char *host_id, const uint8_t pt[CTL_ATT_POINT_LEN], uint8_t proof[96])
{
	uint8_t msg[256], der[128];
	size_t n = 0, dlen = sizeof(der);
	const char *label = CTL_ATT_POP_LABEL;
	memcpy(msg, label, strlen(label));
	n = strlen(label);
	msg[n++] = 0;
	memcpy(msg + n, host_id, strlen(host_id));
	n += strlen(host_id);
	msg[n++] = 0;
	memcpy(msg + n, pt, CTL_ATT_POINT_LEN);
	n += CTL_ATT_POINT_LEN;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(c, NULL, EVP_sha384(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(c, der, &dlen, msg, n), 1);
	EVP_MD_CTX_free(c);
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	assert_non_null(s);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(s), proof, 48), 48);
	assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(s), proof + 48, 48), 48);
	ECDSA_SIG_free(s);
}

static void proof_of_possession(void **state)
{
	uint8_t proof[96], bad[96], pt[CTL_ATT_POINT_LEN];
	prove(hostkey, "host-abc", point, proof);
	assert_int_equal(ctl_attest_pop_verify("host-abc", point, proof), CL_OK);
	/* a proof for another host id does not move to this one */
	assert_int_equal(ctl_attest_pop_verify("host-abd", point, proof), CL_ECRYPTO);
	/* one bit of r, one bit of s */
	memcpy(bad, proof, 96);
	bad[3] ^= 0x10;
	assert_int_equal(ctl_attest_pop_verify("host-abc", point, bad), CL_ECRYPTO);
	memcpy(bad, proof, 96);
	bad[95] ^= 1;
	assert_int_equal(ctl_attest_pop_verify("host-abc", point, bad), CL_ECRYPTO);
	/* r = 0, s = 0, all ones (>= the order) */
	memset(bad, 0, 96);
	assert_int_equal(ctl_attest_pop_verify("host-abc", point, bad), CL_ECRYPTO);
	memset(bad, 0xff, 96);
	assert_int_equal(ctl_attest_pop_verify("host-abc", point, bad), CL_ECRYPTO);
	/* another key's proof for this point */
	EVP_PKEY *other = EVP_EC_gen("P-384");
	prove(other, "host-abc", point, bad);
	assert_int_equal(ctl_attest_pop_verify("host-abc", point, bad), CL_ECRYPTO);
	EVP_PKEY_free(other);
	/* points: compressed prefix, off the curve, all zero */
	memcpy(pt, point, sizeof(pt));
	pt[0] = 0x02;
	assert_int_equal(ctl_attest_point_check(pt), CL_ECRYPTO);
	assert_int_equal(ctl_attest_pop_verify("host-abc", pt, proof), CL_ECRYPTO);
	memcpy(pt, point, sizeof(pt));
	pt[96] ^= 1;
	assert_int_equal(ctl_attest_point_check(pt), CL_ECRYPTO);
	memset(pt, 0, sizeof(pt));
	pt[0] = 4;
	assert_int_equal(ctl_attest_point_check(pt), CL_ECRYPTO);
	assert_int_equal(ctl_attest_point_check(point), CL_OK);
}

static X509 *load_der(const uint8_t *der, size_t n)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)n);
	assert_non_null(x);
	assert_ptr_equal(p, der + n);
	return x;
}

static X509 *load_pem_file(const char *path)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static void host_leaf(void **state)
{
	uint8_t proof[96];
	ctl_host_cert *c = calloc(1, sizeof(*c));
	char hosts_path[128];
	time_t now = time(NULL);
	prove(hostkey, "host-abc", point, proof);
	/* host ids as in paths only */
	assert_int_equal(ctl_ca_issue_host(ca, "Host-abc", point, proof, now, c), CL_EINVAL);
	assert_int_equal(ctl_ca_issue_host(ca, "host/abc", point, proof, now, c), CL_EINVAL);
	assert_int_equal(ctl_ca_issue_host(ca, "", point, proof, now, c), CL_EINVAL);
	assert_int_equal(ctl_ca_issue_host(ca, "host-abd", point, proof, now, c), CL_ECRYPTO);
	assert_int_equal(c->der_len, 0);
	assert_int_equal(ctl_ca_issue_host(ca, "host-abc", point, proof, now, c), CL_OK);
	X509 *leaf = load_der(c->der, c->der_len);
	snprintf(hosts_path, sizeof(hosts_path), "%s/hosts-ca.pem", dir); /* published next to ca.pem */
	X509 *hosts = load_pem_file(hosts_path), *root = load_pem_file(ca_pem);
	/* the chain: root -> hosts CA -> leaf, with the constraints the contract names */
	assert_int_equal(X509_check_issued(hosts, leaf), X509_V_OK);
	assert_int_equal(X509_check_issued(root, hosts), X509_V_OK);
	assert_int_equal(X509_verify(leaf, X509_get0_pubkey(hosts)), 1);
	assert_int_equal(X509_get_pathlen(hosts), 0);
	assert_int_equal(X509_get_pathlen(root), 1);
	assert_int_equal(X509_check_ca(leaf), 0);
	assert_true(X509_check_ca(hosts) > 0);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_key_usage(hosts), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE, 0); /* no EKU */
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), hostkey), 1);
	char cn[80];
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, cn, sizeof(cn)) > 0);
	assert_string_equal(cn, "host-abc");
	/* the serial as the API writes it: lower-case hex of the certificate's, 16 random bytes */
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	char *hex = BN_bn2hex(bn);
	for (char *h = hex; *h; h++)
		*h = (char)(*h >= 'A' && *h <= 'F' ? *h - 'A' + 'a' : *h);
	const char *digits = hex;
	while (digits[0] == '0' && digits[1]) /* the API's form: no leading zeros */
		digits++;
	assert_string_equal(c->serial, digits);
	assert_int_equal(BN_num_bytes(bn), 16);
	assert_false(BN_is_negative(bn));
	OPENSSL_free(hex);
	BN_free(bn);
	/* a year, and never past the intermediate's end */
	assert_true(c->not_after > now + 364 * 86400L && c->not_after <= now + 366 * 86400L);
	assert_true(ASN1_TIME_compare(X509_get0_notAfter(leaf), X509_get0_notAfter(hosts)) <= 0);
	/* each issue a new serial */
	ctl_host_cert *d = calloc(1, sizeof(*d));
	assert_int_equal(ctl_ca_issue_host(ca, "host-abc", point, proof, now, d), CL_OK);
	assert_string_not_equal(c->serial, d->serial);
	/* an issue when the hosts CA is due (by the now given) re-issues it first;
	 * the leaf verifies under the new one and does not outlive it */
	assert_int_equal(ctl_ca_issue_host(ca, "host-abc", point, proof, now + 1826 * 86400L - 200 * 86400L, d),
			 CL_OK);
	X509 *late = load_der(d->der, d->der_len);
	X509 *hosts2 = NULL;
	const char *pem;
	size_t plen;
	ctl_ca_hosts_pem(ca, &pem, &plen); /* that issue re-issued the intermediate first (due) */
	BIO *b = BIO_new_mem_buf(pem, (int)plen);
	hosts2 = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	assert_non_null(hosts2);
	assert_int_equal(X509_check_issued(hosts2, late), X509_V_OK);
	assert_true(ASN1_TIME_compare(X509_get0_notAfter(late), X509_get0_notAfter(hosts2)) <= 0);
	X509_free(hosts2);
	X509_free(late);
	X509_free(leaf);
	X509_free(hosts);
	X509_free(root);
	free(c);
	free(d);
}

static void hosts_ca_reissue(void **state)
{
	ctl_ca *c2 = NULL;
	ctl_names n;
	bool renewed = true;
	time_t now = time(NULL);
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	char k2[160], p2[160];
	snprintf(k2, sizeof(k2), "%s/keys", sub);
	snprintf(p2, sizeof(p2), "%s/ca.pem", sub);
	assert_int_equal(mkdir(k2, 0700), 0);
	ctl_names_default(&n);
	assert_int_equal(ctl_ca_open(k2, p2, &n, now, &c2), CL_OK);
	const char *a, *b;
	size_t na, nb;
	ctl_ca_hosts_pem(c2, &a, &na);
	char *first = strndup(a, na);
	/* 5 years: nothing due now, nor 401 days before the end; due within 400 */
	assert_int_equal(ctl_ca_hosts_renew_if_due(c2, now, &renewed), CL_OK);
	assert_false(renewed);
	assert_int_equal(ctl_ca_hosts_renew_if_due(c2, now + (1826 - 402) * 86400L, &renewed), CL_OK);
	assert_false(renewed);
	assert_int_equal(ctl_ca_hosts_renew_if_due(c2, now + (1826 - 399) * 86400L, &renewed), CL_OK);
	assert_true(renewed);
	ctl_ca_hosts_pem(c2, &b, &nb);
	assert_string_not_equal(first, b);
	ctl_ca_free(c2);
	/* reopened: the re-issued one is kept (KEYS/hosts-ca.pem), same key */
	c2 = NULL;
	assert_int_equal(ctl_ca_open(k2, p2, &n, now, &c2), CL_OK);
	ctl_ca_hosts_pem(c2, &b, &nb);
	assert_string_not_equal(first, b);
	ctl_ca_free(c2);
	free(first);
}

/* ---------------------------------------------------------------- the monitor's decoder */

static size_t msg(uint8_t *m, uint32_t id, const uint8_t *payload, size_t n)
{
	m[0] = 0, m[1] = CTL_MON_ISSUE_HOST_CERT, m[2] = m[3] = 0;
	for (int i = 0; i < 4; i++) {
		m[4 + i] = (uint8_t)(id >> (24 - 8 * i));
		m[8 + i] = (uint8_t)(n >> (24 - 8 * i));
	}
	memcpy(m + CL_IPC_HDR, payload, n);
	return CL_IPC_HDR + n;
}

/* A payload: str host id, bytes point (plen), bytes proof (qlen), extra trailing bytes. */
static size_t payload(uint8_t *p, const char *host, const uint8_t *pt, size_t plen, const uint8_t *proof, size_t qlen,
		      size_t extra)
{
	size_t n = 0, h = strlen(host);
	p[n++] = (uint8_t)(h >> 8), p[n++] = (uint8_t)h;
	memcpy(p + n, host, h), n += h;
	p[n++] = 0, p[n++] = 0, p[n++] = (uint8_t)(plen >> 8), p[n++] = (uint8_t)plen;
	memcpy(p + n, pt, plen), n += plen;
	p[n++] = 0, p[n++] = 0, p[n++] = (uint8_t)(qlen >> 8), p[n++] = (uint8_t)qlen;
	memcpy(p + n, proof, qlen), n += qlen;
	memset(p + n, 0, extra);
	return n + extra;
}

/* Dispatches one request; returns 0 if served, else the refusal's code. */
static uint32_t dispatch(ctl_monitor *m, const uint8_t *p, size_t n, cl_buf *out)
{
	static uint8_t buf[4096];
	size_t len = msg(buf, m->ipc.last_id + 1, p, n);
	(void)cl_ipc_server_dispatch(&m->ipc, buf, len, out);
	assert_true(out->len >= CL_IPC_HDR);
	if (!(out->data[3] & CL_IPC_F_ERROR))
		return 0;
	assert_int_equal(out->len, CL_IPC_HDR + 4);
	return (uint32_t)out->data[12] << 24 | (uint32_t)out->data[13] << 16 | (uint32_t)out->data[14] << 8 |
	       out->data[15];
}

static void monitor_decoder(void **state)
{
	ctl_monitor m;
	uint8_t pepper[CTL_MON_PEPPER_LEN] = {0}, seal_key[CTL_MON_SEAL_KEY_LEN] = {0}, proof[96], p[1024], big[200];
	char longid[80];
	cl_buf out;
	prove(hostkey, "host-abc", point, proof);
	memset(big, 4, sizeof(big));
	memset(longid, 'a', 64);
	longid[64] = '\0';
	ctl_monitor_init(&m, ca, pepper, seal_key, -1);
	cl_buf_init(&out, CTL_MON_MSG_MAX);
	/* syntax: each refused before the run */
	assert_int_equal(dispatch(&m, p, payload(p, "host-abc", point, 96, proof, 96, 0), &out), CL_EINVAL);
	assert_int_equal(dispatch(&m, p, payload(p, "host-abc", big, 98, proof, 96, 0), &out), CL_EINVAL);
	assert_int_equal(dispatch(&m, p, payload(p, "host-abc", point, 97, proof, 95, 0), &out), CL_EINVAL);
	assert_int_equal(dispatch(&m, p, payload(p, "host-abc", point, 97, proof, 96, 1), &out), CL_EPROTO);
	assert_int_equal(dispatch(&m, p, payload(p, "", point, 97, proof, 96, 0), &out), CL_EINVAL);
	assert_int_equal(dispatch(&m, p, payload(p, longid, point, 97, proof, 96, 0), &out), CL_ETOOBIG);
	assert_int_equal(dispatch(&m, p, 3, &out), CL_EINVAL); /* truncated */
	/* meaning: a wrong host id, a bad proof, a bad point, a host id with '/' */
	assert_int_equal(dispatch(&m, p, payload(p, "host-abd", point, 97, proof, 96, 0), &out), CL_ECRYPTO);
	proof[10] ^= 1;
	assert_int_equal(dispatch(&m, p, payload(p, "host-abc", point, 97, proof, 96, 0), &out), CL_ECRYPTO);
	proof[10] ^= 1;
	assert_int_equal(dispatch(&m, p, payload(p, "host-abc", big, 97, proof, 96, 0), &out), CL_ECRYPTO);
	assert_int_equal(dispatch(&m, p, payload(p, "host/abc", point, 97, proof, 96, 0), &out), CL_EINVAL);
	assert_int_equal(m.issued, 0);
	assert_int_equal(m.ipc.refused, 11);
	/* served: DER, serial, not_after */
	assert_int_equal(dispatch(&m, p, payload(p, "host-abc", point, 97, proof, 96, 0), &out), 0);
	assert_int_equal(m.issued, 1);
	cl_buf ans;
	cl_buf_init(&ans, out.len);
	assert_int_equal(cl_buf_put(&ans, out.data + CL_IPC_HDR, out.len - CL_IPC_HDR), CL_OK);
	const uint8_t *der = NULL;
	size_t dn = 0;
	char serial[41];
	uint64_t na = 0;
	assert_int_equal(cl_ipc_get_bytes(&ans, CTL_HOST_CERT_DER_MAX, &der, &dn), CL_OK);
	assert_int_equal(cl_ipc_get_str(&ans, serial, sizeof(serial)), CL_OK);
	assert_int_equal(cl_buf_get_be64(&ans, &na), CL_OK);
	assert_int_equal(cl_ipc_get_end(&ans), CL_OK);
	X509 *leaf = load_der(der, dn);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(leaf), hostkey), 1);
	assert_true(na > (uint64_t)time(NULL));
	X509_free(leaf);
	cl_buf_free(&ans);
	cl_buf_free(&out);
}

/* ---------------------------------------------------------------- request bodies */

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	return j;
}

static void parsers(void **state)
{
	uint8_t pt[97], pr[96];
	char good[400];
	char *pb = NULL, *qb = NULL;
	assert_int_equal(cl_base64_encode(point, 97, &pb), CL_OK);
	memset(pr, 7, sizeof(pr));
	assert_int_equal(cl_base64_encode(pr, 96, &qb), CL_OK);
	snprintf(good, sizeof(good), "{\"public_key\":\"%s\",\"proof\":\"%s\"}", pb, qb);
	json_t *j = J(good);
	memset(pr, 0, sizeof(pr));
	assert_int_equal(ctl_parse_attest_key(j, pt, pr), CL_OK);
	assert_memory_equal(pt, point, 97);
	assert_int_equal(pr[5], 7);
	json_decref(j);
	const char *bad[] = {"{}", "{\"public_key\":\"AAAA\",\"proof\":\"AAAA\"}", "{\"public_key\":1,\"proof\":\"x\"}",
			     "{\"proof\":\"AAAA\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		j = J(bad[i]);
		assert_int_equal(ctl_parse_attest_key(j, pt, pr), CL_EINVAL);
		json_decref(j);
	}
	snprintf(good, sizeof(good), "{\"public_key\":\"%s\",\"proof\":\"%s\",\"x\":1}", pb, qb);
	j = J(good);
	assert_int_equal(ctl_parse_attest_key(j, pt, pr), CL_EINVAL);
	json_decref(j);
	free(pb);
	free(qb);

	/* attestation requests: only a nonce (hex in, base64 to the op); a
	 * public key or user data from outside is refused, whatever its form */
	json_t *f = NULL;
	j = J("{\"nonce\":\"00ff\"}");
	assert_int_equal(ctl_parse_attest_req(j, &f), CL_OK);
	assert_string_equal(json_string_value(json_object_get(f, "nonce")), "AP8=");
	assert_int_equal(json_object_size(f), 1);
	json_decref(f);
	json_decref(j);
	j = J("{}");
	assert_int_equal(ctl_parse_attest_req(j, &f), CL_OK);
	assert_int_equal(json_object_size(f), 0);
	json_decref(f);
	json_decref(j);
	const char *badreq[] = {"{\"nonce\":\"0\"}", "{\"nonce\":\"zz\"}", "{\"nonce\":\"\"}", "{\"nonce\":1}",
				"{\"user_data\":\"aGk=\"}", "{\"public_key\":\"AAEC\"}", "{\"nonce\":\"00\",\"public_key\":null}",
				"{\"user_data\":\"!!\"}", "{\"other\":\"\"}"};
	for (size_t i = 0; i < sizeof(badreq) / sizeof(badreq[0]); i++) {
		j = J(badreq[i]);
		f = NULL;
		assert_int_equal(ctl_parse_attest_req(j, &f), CL_EINVAL);
		assert_null(f);
		if (i >= 4 && i <= 6)
			assert_non_null(strstr(cl_error_detail(), "set from inside the enclave"));
		json_decref(j);
	}
	/* the cap: 512 bytes of nonce */
	char *big = malloc(4096);
	memset(big, 0, 4096);
	strcpy(big, "{\"nonce\":\"");
	memset(big + strlen(big), 'a', 1024);
	strcat(big, "\"}");
	j = J(big);
	assert_int_equal(ctl_parse_attest_req(j, &f), CL_OK);
	json_decref(f);
	json_decref(j);
	big[10 + 1024] = 'a', big[10 + 1025] = 'a', strcpy(big + 10 + 1026, "\"}");
	j = J(big);
	assert_int_equal(ctl_parse_attest_req(j, &f), CL_EINVAL);
	json_decref(j);
	free(big);

	/* pcrs */
	char h96[97];
	memset(h96, 'a', 96);
	h96[96] = '\0';
	char s[400];
	snprintf(s, sizeof(s), "{\"0\":\"%s\",\"15\":\"%s\"}", h96, h96);
	j = J(s);
	assert_int_equal(ctl_parse_pcrs(j), CL_OK);
	json_decref(j);
	const char *badk[] = {"16", "01", "-1", "a", "", "100"};
	for (size_t i = 0; i < sizeof(badk) / sizeof(badk[0]); i++) {
		snprintf(s, sizeof(s), "{\"%s\":\"%s\"}", badk[i], h96);
		j = J(s);
		assert_int_equal(ctl_parse_pcrs(j), CL_EINVAL);
		json_decref(j);
	}
	h96[0] = 'A';
	snprintf(s, sizeof(s), "{\"1\":\"%s\"}", h96);
	j = J(s);
	assert_int_equal(ctl_parse_pcrs(j), CL_EINVAL);
	json_decref(j);
	j = J("[]");
	assert_int_equal(ctl_parse_pcrs(j), CL_EINVAL);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(proof_of_possession),
		cmocka_unit_test(host_leaf),
		cmocka_unit_test(hosts_ca_reissue),
		cmocka_unit_test(monitor_decoder),
		cmocka_unit_test(parsers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
