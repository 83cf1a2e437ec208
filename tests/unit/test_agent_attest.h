/* test_agent_attest.h — the fixture shared by test_agent_attest.c and
 * test_agent_attdoc.c: a test CA (root -> hosts intermediate -> leaves)
 * made with OpenSSL, a fake key holder (an OpenSSL key behind
 * cl_agent_att_keys) and a fake control plane that checks the proof of
 * possession and issues leaves. Include once, from a test's .c. */
#ifndef TEST_AGENT_ATTEST_H
#define TEST_AGENT_ATTEST_H

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/http_client.h"
#include "common/util.h"
#include "host/agent_attest.h"
#include "host/agent_pcrs.h"

#define HOST "host-1"

/* ---------------------------------------------------------------- a test CA */

static EVP_PKEY *root_key, *inter_key, *other_key;
static X509 *root, *inter, *other_ca;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key, issued by issuer/ikey (NULL: self-signed). */
static X509 *mkcert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *ikey, bool ca, long serial)
{
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509 *is = issuer ? issuer : x;
	/* a root may sign CAs; an intermediate only leaves (as the control plane's hosts CA) */
	add_ext(x, is, NID_basic_constraints,
		!ca ? "critical,CA:FALSE" : issuer ? "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE");
	add_ext(x, is, NID_key_usage, ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	add_ext(x, is, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, is, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha384()) > 0);
	return x;
}

static char *der_b64(X509 *x)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	assert_true(n > 0);
	char *b64 = NULL;
	assert_int_equal(cl_base64_encode(der, (size_t)n, &b64), CL_OK);
	OPENSSL_free(der);
	return b64;
}

static void point_of(EVP_PKEY *k, uint8_t point[CL_AGENT_ATT_POINT_LEN])
{
	size_t n = 0;
	assert_int_equal(EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, CL_AGENT_ATT_POINT_LEN, &n), 1);
	assert_int_equal(n, CL_AGENT_ATT_POINT_LEN);
}

/* ---------------------------------------------------------------- a fake key holder */

typedef struct fake_keys {
	EVP_PKEY *key;
	int gens, signs;
	bool down; /* answers CL_EUNAVAIL */
} fake_keys;

static cl_err fk_get_public(void *ctx, uint8_t point[CL_AGENT_ATT_POINT_LEN])
{
	fake_keys *k = ctx;
	if (k->down)
		return CL_EUNAVAIL;
	if (!k->key)
		return CL_ENOTFOUND;
	point_of(k->key, point);
	return CL_OK;
}

static cl_err fk_generate(void *ctx, uint8_t point[CL_AGENT_ATT_POINT_LEN])
{
	fake_keys *k = ctx;
	if (k->key)
		return CL_ECONFLICT;
	k->key = EVP_EC_gen("P-384");
	k->gens++;
	point_of(k->key, point);
	return CL_OK;
}

static cl_err fk_sign(void *ctx, const uint8_t digest[48], uint8_t sig[CL_AGENT_ATT_SIG_LEN])
{
	fake_keys *k = ctx;
	if (k->down || !k->key)
		return CL_EUNAVAIL;
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k->key, NULL);
	unsigned char der[128];
	size_t n = sizeof(der);
	assert_int_equal(EVP_PKEY_sign_init(c), 1);
	assert_int_equal(EVP_PKEY_sign(c, der, &n, digest, 48), 1);
	EVP_PKEY_CTX_free(c);
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)n);
	assert_non_null(s);
	BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 48);
	BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 48, 48);
	ECDSA_SIG_free(s);
	k->signs++;
	return CL_OK;
}

__attribute__((unused)) static bool verify_sig(EVP_PKEY *key, const uint8_t digest[48], const uint8_t sig[96])
{
	ECDSA_SIG *s = ECDSA_SIG_new();
	ECDSA_SIG_set0(s, BN_bin2bn(sig, 48, NULL), BN_bin2bn(sig + 48, 48, NULL));
	unsigned char *der = NULL;
	int n = i2d_ECDSA_SIG(s, &der);
	ECDSA_SIG_free(s);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
	bool ok = c && EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_verify(c, der, (size_t)n, digest, 48) == 1;
	EVP_PKEY_CTX_free(c);
	OPENSSL_free(der);
	return ok;
}

/* ---------------------------------------------------------------- a fake control plane */

enum { ISSUE_GOOD, ISSUE_OTHER_KEY, ISSUE_OTHER_CA, ISSUE_WRONG_SERIAL, ISSUE_GARBAGE, ISSUE_BIG_BUNDLE };

typedef struct fake_ctl {
	struct event_base *base;
	struct evhttp *http;
	pthread_t thread;
	int port;
	pthread_mutex_t mu;
	int status, mode, posts, proofs_ok;
	bool stop;
	long serial;
	fake_keys *keys; /* the key the proof must be made with */
	char path[256];
} fake_ctl;

static void on_request(struct evhttp_request *req, void *arg)
{
	fake_ctl *c = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req), *out = evbuffer_new();
	size_t n = evbuffer_get_length(in);
	char *body = calloc(1, n + 1);
	evbuffer_copyout(in, body, n);
	pthread_mutex_lock(&c->mu);
	c->posts++;
	snprintf(c->path, sizeof(c->path), "%s", evhttp_request_get_uri(req));
	int status = c->status, mode = c->mode;
	long serial = ++c->serial;
	/* the proof: the key's signature over SHA-384(label 0 host 0 point) */
	json_t *j = json_loads(body, 0, NULL);
	cl_buf pt, sig;
	cl_buf_init(&pt, 200);
	cl_buf_init(&sig, 200);
	uint8_t m[256], dg[48], want[CL_AGENT_ATT_POINT_LEN];
	size_t ml = 0;
	if (j && cl_base64_decode(json_string_value(json_object_get(j, "public_key")), &pt) == CL_OK &&
	    cl_base64_decode(json_string_value(json_object_get(j, "proof")), &sig) == CL_OK && pt.len == 97 &&
	    sig.len == 96 && c->keys->key) {
		memcpy(m, "cloister-attest-pop/1\0" HOST "\0", 22 + sizeof(HOST));
		ml = 22 + sizeof(HOST);
		memcpy(m + ml, pt.data, 97);
		SHA384(m, ml + 97, dg);
		point_of(c->keys->key, want);
		if (memcmp(want, pt.data, 97) == 0 && verify_sig(c->keys->key, dg, sig.data))
			c->proofs_ok++;
	}
	pthread_mutex_unlock(&c->mu);
	json_decref(j);
	free(body);
	if (status == 200 && c->keys->key) {
		EVP_PKEY *k = mode == ISSUE_OTHER_KEY ? other_key : c->keys->key;
		X509 *leaf = mode == ISSUE_OTHER_CA ? mkcert(k, HOST, other_ca, other_key, false, serial)
						    : mkcert(k, HOST, inter, inter_key, false, serial);
		char *l = der_b64(leaf), *r = der_b64(root), *i = der_b64(inter), hex[32];
		snprintf(hex, sizeof(hex), "%lx", mode == ISSUE_WRONG_SERIAL ? serial + 1 : serial);
		json_t *a = json_pack("{s:s, s:[s,s], s:s, s:i}", "certificate", mode == ISSUE_GARBAGE ? "@@@@" : l,
				      "cabundle", r, i, "serial", hex, "not_after", 2000000000);
		if (mode == ISSUE_BIG_BUNDLE)
			for (int x = 0; x < 3; x++)
				json_array_append_new(json_object_get(a, "cabundle"), json_string(r));
		char *text = json_dumps(a, JSON_COMPACT);
		evbuffer_add(out, text, strlen(text));
		free(text);
		json_decref(a);
		free(l);
		free(r);
		free(i);
		X509_free(leaf);
	} else {
		evbuffer_add_printf(out, "{\"error\":{\"code\":\"x\",\"message\":\"status %d\"}}", status);
	}
	evhttp_send_reply(req, status, "X", out);
	evbuffer_free(out);
	cl_buf_free(&pt);
	cl_buf_free(&sig);
}

static void *ctl_main(void *arg)
{
	fake_ctl *c = arg;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		bool stop = c->stop;
		pthread_mutex_unlock(&c->mu);
		if (stop)
			return NULL;
		event_base_loop(c->base, EVLOOP_ONCE); /* until something happens (a request, the wake) */
	}
}

static void ctl_start(fake_ctl *c, fake_keys *k)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	c->status = 200;
	c->keys = k;
	c->serial = 0x1000;
	assert_non_null(c->base = event_base_new());
	assert_non_null(c->http = evhttp_new(c->base));
	evhttp_set_gencb(c->http, on_request, c);
	struct evhttp_bound_socket *s = evhttp_bind_socket_with_handle(c->http, "127.0.0.1", 0);
	assert_non_null(s);
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sa, &sl), 0);
	c->port = ntohs(sa.sin_port);
	assert_int_equal(pthread_create(&c->thread, NULL, ctl_main, c), 0);
}

static void ctl_stop(fake_ctl *c)
{
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_mutex_unlock(&c->mu);
	/* a connection wakes the loop, which then sees stop */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		fprintf(stderr, "wake connect failed\n");
	if (fd >= 0)
		close(fd);
	pthread_join(c->thread, NULL);
	evhttp_free(c->http);
	event_base_free(c->base);
	pthread_mutex_destroy(&c->mu);
}

__attribute__((unused)) static int ctl_get(fake_ctl *c, int *field)
{
	pthread_mutex_lock(&c->mu);
	int v = *field;
	pthread_mutex_unlock(&c->mu);
	return v;
}

__attribute__((unused)) static void ctl_set(fake_ctl *c, int status, int mode)
{
	pthread_mutex_lock(&c->mu);
	c->status = status;
	c->mode = mode;
	pthread_mutex_unlock(&c->mu);
}

/* ---------------------------------------------------------------- fixture */

typedef struct fx {
	char dir[64];
	fake_keys keys;
	cl_agent_att_keys prov;
	fake_ctl ctl;
	cl_http_client *http;
	cl_agent_att *att;
} fx;

static int setup(void **state)
{
	fx *x = calloc(1, sizeof(*x));
	snprintf(x->dir, sizeof(x->dir), "/tmp/agentatt.XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	x->prov = (cl_agent_att_keys){fk_get_public, fk_generate, fk_sign, &x->keys};
	ctl_start(&x->ctl, &x->keys);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", x->ctl.port);
	assert_int_equal(cl_http_client_new(url, NULL, "host-token", &x->http), CL_OK);
	assert_int_equal(cl_agent_att_new(x->dir, &x->prov, &x->att), CL_OK);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	fx *x = *state;
	cl_agent_att_free(x->att);
	cl_http_client_free(x->http);
	ctl_stop(&x->ctl);
	EVP_PKEY_free(x->keys.key);
	assert_int_equal(cl_rm_rf(x->dir), CL_OK);
	free(x);
	return 0;
}

__attribute__((unused)) static cl_agent_answer answer_with(enum cl_agent_att_serial st, const char *serial)
{
	cl_agent_answer a;
	memset(&a, 0, sizeof(a));
	a.att_serial_state = st;
	snprintf(a.att_serial, sizeof(a.att_serial), "%s", serial ? serial : "");
	return a;
}

__attribute__((unused)) static void file_mode(const fx *x, const char *name, unsigned mode)
{
	char p[128];
	struct stat st;
	snprintf(p, sizeof(p), "%s/attest/%s", x->dir, name);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, mode);
}

static int group_setup(void **state)
{
	root_key = EVP_EC_gen("P-384");
	inter_key = EVP_EC_gen("P-384");
	other_key = EVP_EC_gen("P-384");
	root = mkcert(root_key, "Test root", NULL, NULL, true, 1);
	inter = mkcert(inter_key, "Test hosts CA", root, root_key, true, 2);
	other_ca = mkcert(other_key, "Other CA", NULL, NULL, true, 3);
	return 0;
}

static int group_teardown(void **state)
{
	X509_free(root);
	X509_free(inter);
	X509_free(other_ca);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(inter_key);
	EVP_PKEY_free(other_key);
	return 0;
}

#endif
