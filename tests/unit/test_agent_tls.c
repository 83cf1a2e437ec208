/* Unit tests for the agent's TLS ops (src/host/agent_tls.c, docs/tls.md
 * "Credentials: the job and its steps" steps 1 and 5, docs/host.md "TLS
 * ops"), with a real key holder process (forked, hardened, as
 * test_keyholder_tls.c does) reached through the agent's own key holder
 * client (agent_privsep.c), and the control plane's real CA (ca_tls.c).
 *
 * tls_generate: the proof verifies (OpenSSL, over the documented digest
 * built here) and ctl_tls_pop_verify takes it; another host's op, an
 * enclave not on this host or without a network are refused; a repeat
 * answers the same point and proof; a key lost (destroyed behind the
 * agent's back) is made anew. tls_install: a chain ctl_ca_issue_tls issued
 * for that point is accepted and handed to the data plane's state; a chain
 * for another key, from another root, truncated, or with a certificate off
 * the path is refused. tls_remove destroys the slots (get-public: not
 * found). Also: the sync answer's parsing of the three kinds and the
 * policy, and the op going through the ops engine. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "control/ca.h"
#include "host/agent_ops.h"
#include "host/agent_privsep.h"
#include "host/agent_proto.h"
#include "host/agent_tls.h"
#include "keyholder/keyholder.h"

#define HOST "host-7"

static char dir[64], keys[96], ca_keys[96], ca_pem[96], ca2_keys[96], ca2_pem[96];

typedef struct fixture {
	pid_t pid;
	cl_agent_privsep *ps;
	const cl_agent_tls_keys *k;
	cl_agent_tls *t;
	ctl_ca *ca, *ca2;
} fixture;

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cl-agtls.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(keys, sizeof(keys), "%s/kh", dir);
	snprintf(ca_keys, sizeof(ca_keys), "%s/ca", dir);
	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", dir);
	snprintf(ca2_keys, sizeof(ca2_keys), "%s/ca2", dir);
	snprintf(ca2_pem, sizeof(ca2_pem), "%s/ca2.pem", dir);
	return 0;
}

static int teardown(void **state)
{
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

/* A key holder (agent channel to the agent's privsep, as cloister-host
 * does), both CAs, the TLS state with enclaves enc-a (network not said),
 * enc-n (network known true) and enc-b (known to have none). */
static void start(fixture *f)
{
	int a[2];
	ctl_names n;
	memset(f, 0, sizeof(*f));
	assert_int_equal(cl_ipc_pair(a), CL_OK);
	fflush(NULL);
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		close(a[0]); /* the agent's end (it may be descriptor 0: the key holder keeps stdio) */
		cl_log_init("keyholder", CL_LOG_WARN);
		_exit(cl_keyholder_main(a[1], keys, NULL));
	}
	close(a[1]);
	cl_agent_channels ch = {.sup = -1, .kh = a[0], .gi_query = -1, .gi_control = -1};
	assert_int_equal(cl_agent_privsep_start(&ch, &f->ps), CL_OK);
	f->k = cl_agent_privsep_tls_keys(f->ps);
	assert_non_null(f->k);
	ctl_names_default(&n);
	mkdir(ca_keys, 0700);
	mkdir(ca2_keys, 0700);
	assert_int_equal(ctl_ca_open(ca_keys, ca_pem, &n, time(NULL), &f->ca), CL_OK);
	assert_int_equal(ctl_ca_open(ca2_keys, ca2_pem, &n, time(NULL), &f->ca2), CL_OK);
	assert_int_equal(cl_agent_tls_new(HOST, ca_pem, f->k, &f->t), CL_OK);
	const char *ids[] = {"enc-a", "enc-n", "enc-b"};
	signed char net[] = {-1, 1, 0};
	cl_agent_tls_set_enclaves(f->t, ids, net, 3);
}

static void stop(fixture *f)
{
	int st;
	cl_agent_tls_free(f->t);
	cl_agent_privsep_free(f->ps); /* closes the channel: the key holder exits */
	assert_int_equal(waitpid(f->pid, &st, 0), f->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	ctl_ca_free(f->ca);
	ctl_ca_free(f->ca2);
}

/* ---------------------------------------------------------------- ops and results */

static cl_agent_op mkop(const char *id, enum cl_agent_op_kind kind, const char *enclave, uint32_t gen)
{
	cl_agent_op op;
	memset(&op, 0, sizeof(op));
	snprintf(op.op, sizeof(op.op), "%s", id);
	snprintf(op.enclave, sizeof(op.enclave), "%s", enclave);
	op.kind = kind;
	op.deadline_ms = 10000;
	op.tls = calloc(1, sizeof(*op.tls));
	assert_non_null(op.tls);
	op.tls->gen = gen;
	snprintf(op.tls->host_id, sizeof(op.tls->host_id), "%s", HOST);
	return op;
}

/* Runs op (cleared after) and returns its result; ok tells what it said. */
static json_t *run(fixture *f, cl_agent_op *op, bool *ok)
{
	json_t *r = cl_agent_tls_op(f->t, op);
	assert_non_null(r);
	assert_string_equal(json_string_value(json_object_get(r, "op")), op->op);
	*ok = json_is_true(json_object_get(r, "ok"));
	cl_agent_op_clear(op);
	return r;
}

static void expect_refused(fixture *f, cl_agent_op op, const char *needle)
{
	bool ok = true;
	json_t *r = run(f, &op, &ok);
	const char *e = json_string_value(json_object_get(r, "error"));
	if (ok || !e || !strstr(e, needle))
		fail_msg("expected a refusal with \"%s\", got ok=%d error=\"%s\"", needle, ok, e ? e : "(none)");
	json_decref(r);
}

/* tls_generate for enclave:gen, checked ok; its point and proof out. */
static void generate(fixture *f, const char *id, const char *enclave, uint32_t gen, uint8_t pt[65], uint8_t proof[64])
{
	cl_agent_op op = mkop(id, CL_OP_TLS_GENERATE, enclave, gen);
	bool ok = false;
	json_t *r = run(f, &op, &ok);
	if (!ok)
		fail_msg("tls_generate refused: %s", json_string_value(json_object_get(r, "error")));
	cl_buf b, p, s;
	cl_buf_init(&b, 1024);
	cl_buf_init(&p, 128);
	cl_buf_init(&s, 128);
	assert_int_equal(cl_base64_decode(json_string_value(json_object_get(r, "data")), &b), CL_OK);
	json_t *o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 2);
	assert_int_equal(cl_base64_decode(json_string_value(json_object_get(o, "point")), &p), CL_OK);
	assert_int_equal(cl_base64_decode(json_string_value(json_object_get(o, "proof")), &s), CL_OK);
	assert_int_equal(p.len, 65);
	assert_int_equal(s.len, 64);
	memcpy(pt, p.data, 65);
	memcpy(proof, s.data, 64);
	json_decref(o);
	json_decref(r);
	cl_buf_free(&b);
	cl_buf_free(&p);
	cl_buf_free(&s);
}

/* ---------------------------------------------------------------- OpenSSL, independently */

/* SHA-256("cloister-tls-pop/1" 0x00 host 0x00 slot 0x00 point): the digest docs/tls.md names. */
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
}

static int verify256(const uint8_t pt[65], const uint8_t md[32], const uint8_t sig[64])
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
	ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL));
	unsigned char *der = NULL;
	int dl = i2d_ECDSA_SIG(es, &der);
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	int ok = EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_verify(c, der, (size_t)dl, md, 32) == 1;
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(c);
	ECDSA_SIG_free(es);
	EVP_PKEY_free(k);
	return ok;
}

/* ---------------------------------------------------------------- tests */

static void generate_proof(void **state)
{
	fixture f;
	uint8_t pt[65], proof[64], pt2[65], proof2[64], got[65], md[32];
	start(&f);
	generate(&f, "op-g1", "enc-a", 1, pt, proof);
	assert_int_equal(pt[0], 0x04);
	pop_digest(HOST, "tls/enc-a:1", pt, md);
	assert_true(verify256(pt, md, proof));
	pop_digest("host-8", "tls/enc-a:1", pt, md); /* bound to this host and slot */
	assert_false(verify256(pt, md, proof));
	assert_int_equal(ctl_tls_pop_verify(HOST, "enc-a", 1, pt, proof), CL_OK);
	/* the key is the key holder's: get-public answers the same point */
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-a:1", got), CL_OK);
	assert_memory_equal(got, pt, 65);
	assert_int_equal(cl_agent_tls_slot_count(f.t, "enc-a"), 1);

	/* a repeat (a new op id) answers the same point and proof */
	generate(&f, "op-g2", "enc-a", 1, pt2, proof2);
	assert_memory_equal(pt2, pt, 65);
	assert_memory_equal(proof2, proof, 64);
	assert_int_equal(cl_agent_tls_slot_count(f.t, "enc-a"), 1);
	/* a key lost behind the agent's back (a key holder restart) is made anew */
	assert_int_equal(f.k->destroy(f.k->ctx, "tls/enc-a:1"), CL_OK);
	generate(&f, "op-g3", "enc-a", 1, pt2, proof2);
	assert_memory_not_equal(pt2, pt, 65);
	assert_int_equal(ctl_tls_pop_verify(HOST, "enc-a", 1, pt2, proof2), CL_OK);
	/* a network enclave too */
	generate(&f, "op-g4", "enc-n", 3, pt, proof);

	/* refusals, each leaving no key */
	cl_agent_op op = mkop("op-x1", CL_OP_TLS_GENERATE, "enc-a", 2);
	snprintf(op.tls->host_id, sizeof(op.tls->host_id), "host-8");
	expect_refused(&f, op, "is for host host-8");
	expect_refused(&f, mkop("op-x2", CL_OP_TLS_GENERATE, "enc-z", 1), "does not run on this host");
	expect_refused(&f, mkop("op-x3", CL_OP_TLS_GENERATE, "enc-b", 1), "has no network");
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-a:2", got), CL_ENOTFOUND);
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-z:1", got), CL_ENOTFOUND);
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-b:1", got), CL_ENOTFOUND);
	/* a slot this agent did not make: its proof cannot be made again */
	assert_int_equal(f.k->generate(f.k->ctx, "tls/enc-a:9", HOST, pt, proof), CL_OK);
	expect_refused(&f, mkop("op-x4", CL_OP_TLS_GENERATE, "enc-a", 9), "conflict");
	stop(&f);
}

/* An install op of chain for enclave:gen with policy mode "ports" 443. */
static cl_agent_op install_op(const char *id, const char *enclave, uint32_t gen, const char *chain)
{
	cl_agent_op op = mkop(id, CL_OP_TLS_INSTALL, enclave, gen);
	op.tls->chain = strdup(chain);
	assert_non_null(op.tls->chain);
	op.tls->chain_len = strlen(chain);
	op.tls->policy.mode = CL_AGENT_TLS_PORTS;
	op.tls->policy.ports[0] = 443;
	op.tls->policy.nports = 1;
	snprintf(op.tls->policy.header, sizeof(op.tls->policy.header), "X-Cloister-TLS");
	return op;
}

static void install_remove(void **state)
{
	fixture f;
	uint8_t pt[65], proof[64], pt2[65], proof2[64], got[65];
	ctl_tls_cert c1, c2, c3;
	cl_agent_tls_policy pol;
	uint32_t gen = 0;
	bool ok = false;
	start(&f);
	generate(&f, "op-g1", "enc-a", 1, pt, proof);
	generate(&f, "op-g2", "enc-a", 2, pt2, proof2);
	assert_int_equal(ctl_ca_issue_tls(f.ca, HOST, "enc-a", 1, "enc-a.t.cloister.internal,10.77.0.2", pt, proof, &c1),
			 CL_OK);
	assert_int_equal(ctl_ca_issue_tls(f.ca, HOST, "enc-a", 2, "enc-a.t.cloister.internal", pt2, proof2, &c2), CL_OK);
	/* the same key, certified by another root */
	assert_int_equal(ctl_ca_issue_tls(f.ca2, HOST, "enc-a", 1, "enc-a.t.cloister.internal", pt, proof, &c3), CL_OK);

	/* refused: a chain for another key (generation 2's, installed as 1) */
	expect_refused(&f, install_op("op-i1", "enc-a", 1, c2.chain_pem), "not for this host's key");
	/* refused: a chain not from the root this host trusts */
	expect_refused(&f, install_op("op-i2", "enc-a", 1, c3.chain_pem), "does not verify to this host's root");
	/* refused: a chain whose second certificate is not on the path (the other root) */
	{
		const char *leaf_end = strstr(c1.chain_pem, "-----END CERTIFICATE-----\n");
		const char *root2 = strstr(strstr(c3.chain_pem, "-----END CERTIFICATE-----\n") + 1, "-----BEGIN");
		assert_non_null(leaf_end);
		assert_non_null(root2);
		size_t l = (size_t)(leaf_end - c1.chain_pem) + strlen("-----END CERTIFICATE-----\n");
		char *mixed = malloc(l + strlen(root2) + 1);
		assert_non_null(mixed);
		memcpy(mixed, c1.chain_pem, l);
		strcpy(mixed + l, root2);
		expect_refused(&f, install_op("op-i3", "enc-a", 1, mixed), "not on the path to the root");
		free(mixed);
	}
	/* refused: a CA where the leaf should be (the root alone: not a TLS
	 * server certificate by its purpose, and a CA) */
	{
		cl_agent_op op = install_op("op-i12", "enc-a", 1, strstr(strstr(c1.chain_pem, "-----END") + 1, "-----BEGIN"));
		json_t *r = run(&f, &op, &ok);
		const char *e = json_string_value(json_object_get(r, "error"));
		assert_false(ok);
		if (!e || !(strstr(e, "unsuitable certificate purpose") || strstr(e, "is a CA, not a leaf")))
			fail_msg("a CA as the leaf: refused for another reason: %s", e ? e : "(none)");
		json_decref(r);
	}
	/* refused: no certificate at all, a slot with no key, an enclave not here */
	expect_refused(&f, install_op("op-i4", "enc-a", 1, "-----BEGIN CERTIFICATE-----\nAAAA\n"), "no PEM certificate");
	expect_refused(&f, install_op("op-i5", "enc-a", 7, c1.chain_pem), "no key tls/enc-a:7");
	expect_refused(&f, install_op("op-i6", "enc-z", 1, c1.chain_pem), "does not run on this host");
	{ /* more certificates than a chain has */
		size_t l = strlen(c1.chain_pem);
		char *many = malloc(9 * l + 1);
		assert_non_null(many);
		for (int i = 0; i < 9; i++)
			memcpy(many + (size_t)i * l, c1.chain_pem, l + 1);
		expect_refused(&f, install_op("op-i10", "enc-a", 1, many), "more than 8 certificates");
		free(many);
	}
	{ /* a host with no root installs nothing */
		cl_agent_tls *saved = f.t;
		const char *ids[] = {"enc-a"};
		assert_int_equal(cl_agent_tls_new(HOST, NULL, f.k, &f.t), CL_OK);
		cl_agent_tls_set_enclaves(f.t, ids, NULL, 1);
		expect_refused(&f, install_op("op-i11", "enc-a", 1, c1.chain_pem), "no root");
		cl_agent_tls_free(f.t);
		f.t = saved;
		cl_agent_tls *bad = NULL;
		assert_int_equal(cl_agent_tls_new(HOST, "/nonexistent/ca.pem", f.k, &bad), CL_EINVAL);
		assert_null(bad);
	}
	assert_false(cl_agent_tls_served(f.t, "enc-a", NULL, NULL));

	/* accepted: the chain issued for that point, handed to the data plane's state */
	cl_agent_op op = install_op("op-i7", "enc-a", 1, c1.chain_pem);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	assert_true(cl_agent_tls_served(f.t, "enc-a", &gen, &pol));
	assert_int_equal(gen, 1);
	assert_int_equal(pol.mode, CL_AGENT_TLS_PORTS);
	assert_int_equal(pol.ports[0], 443);
	assert_string_equal(pol.header, "X-Cloister-TLS");
	/* a rotation: generation 2 replaces it */
	op = install_op("op-i8", "enc-a", 2, c2.chain_pem);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	assert_true(cl_agent_tls_served(f.t, "enc-a", &gen, NULL));
	assert_int_equal(gen, 2);

	/* tls_remove of generation 1 (a failed step's undo): its slot only */
	op = mkop("op-r1", CL_OP_TLS_REMOVE, "enc-a", 1);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-a:1", got), CL_ENOTFOUND);
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-a:2", got), CL_OK);
	assert_true(cl_agent_tls_served(f.t, "enc-a", &gen, NULL));
	assert_int_equal(gen, 2);
	/* tls_remove without gen (a disable): every slot and the data plane's state */
	op = mkop("op-r2", CL_OP_TLS_REMOVE, "enc-a", 0);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-a:2", got), CL_ENOTFOUND);
	assert_false(cl_agent_tls_served(f.t, "enc-a", NULL, NULL));
	assert_int_equal(cl_agent_tls_slot_count(f.t, "enc-a"), 0);
	/* again: nothing there, still ok */
	op = mkop("op-r3", CL_OP_TLS_REMOVE, "enc-a", 0);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);

	/* an enclave no longer desired here loses its keys and certificate: enc-a
	 * (served on generation 4, tracked) and enc-n (served on generation 2, a
	 * slot the agent did not make, after its own generation 1 was removed) */
	generate(&f, "op-g4", "enc-a", 4, pt, proof);
	free(c2.chain_pem);
	assert_int_equal(ctl_ca_issue_tls(f.ca, HOST, "enc-a", 4, "enc-a.t.cloister.internal", pt, proof, &c2), CL_OK);
	op = install_op("op-i13", "enc-a", 4, c2.chain_pem);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	op = mkop("op-r4", CL_OP_TLS_REMOVE, "enc-a", 3); /* another generation: enc-a:4 still served */
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	assert_true(cl_agent_tls_served(f.t, "enc-a", &gen, NULL));
	assert_int_equal(gen, 4);
	generate(&f, "op-g3", "enc-n", 1, pt, proof);
	assert_int_equal(f.k->generate(f.k->ctx, "tls/enc-n:2", HOST, pt, proof), CL_OK);
	free(c3.chain_pem);
	assert_int_equal(ctl_ca_issue_tls(f.ca, HOST, "enc-n", 2, "enc-n.t.cloister.internal", pt, proof, &c3), CL_OK);
	op = install_op("op-i9", "enc-n", 2, c3.chain_pem);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	op = mkop("op-r5", CL_OP_TLS_REMOVE, "enc-n", 1);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	assert_int_equal(cl_agent_tls_slot_count(f.t, "enc-n"), 0);
	assert_true(cl_agent_tls_served(f.t, "enc-n", &gen, NULL));
	assert_int_equal(gen, 2);
	const char *ids[] = {"enc-x"};
	cl_agent_tls_set_enclaves(f.t, ids, NULL, 1);
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-n:1", got), CL_ENOTFOUND);
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-a:4", got), CL_ENOTFOUND);
	assert_false(cl_agent_tls_served(f.t, "enc-n", NULL, NULL));
	assert_false(cl_agent_tls_served(f.t, "enc-a", NULL, NULL));
	free(c1.chain_pem);
	free(c2.chain_pem);
	free(c3.chain_pem);
	stop(&f);
}

/* A fake data plane: what the agent handed it. */
typedef struct fake_plane {
	int sets, removes, fail_set;
	char backend[64];
	size_t nlisteners;
	int port; /* the bound port of the listener handed, -1 none */
} fake_plane;

static cl_err fake_set(void *ctx, const cl_dp_guest *g)
{
	fake_plane *fp = ctx;
	if (fp->fail_set)
		return cl_errorf(CL_ECRYPTO, "refused by the fake");
	fp->sets++;
	snprintf(fp->backend, sizeof(fp->backend), "%s", g->backend);
	fp->nlisteners = g->nlisteners;
	if (g->nlisteners) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		assert_int_equal(getsockname(g->listeners[0], (struct sockaddr *)&sa, &sl), 0);
		fp->port = ntohs(sa.sin_port);
	}
	return CL_OK;
}

static cl_err fake_remove(void *ctx, const char *id)
{
	((fake_plane *)ctx)->removes++;
	return CL_OK;
}

static cl_err fake_stats(void *ctx, const char *id, cl_dp_stats *out)
{
	memset(out, 0, sizeof(*out));
	return CL_OK;
}

/* The endpoint in an install result's data (base64 of {"endpoints":[..]}). */
static int endpoint_port(json_t *r)
{
	cl_buf b;
	int port = -1;
	cl_buf_init(&b, 256);
	const char *d = json_string_value(json_object_get(r, "data"));
	if (d && cl_base64_decode(d, &b) == CL_OK) {
		json_t *o = json_loadb((const char *)b.data, b.len, 0, NULL);
		const char *ep = json_string_value(json_array_get(json_object_get(o, "endpoints"), 0));
		if (ep && strncmp(ep, "127.0.0.1:", 10) == 0)
			port = atoi(ep + 10);
		json_decref(o);
	}
	cl_buf_free(&b);
	return port;
}

/* With a data plane: the backend, one listener on 127.0.0.1 kept across a
 * rotation, its refusal changes nothing, a removal closes the endpoint. */
static void to_plane(void **state)
{
	fixture f;
	fake_plane fp = {.port = -1};
	cl_agent_tls_plane plane = {.set = fake_set, .remove = fake_remove, .stats = fake_stats, .ctx = &fp};
	uint8_t pt[65], proof[64], pt2[65], proof2[64];
	ctl_tls_cert c1, c2;
	uint32_t gen = 0;
	bool ok = false;
	start(&f);
	assert_int_equal(cl_agent_tls_set_plane(f.t, &plane, "127.0.0.1"), CL_OK);
	generate(&f, "op-p1", "enc-n", 1, pt, proof);
	generate(&f, "op-p2", "enc-n", 2, pt2, proof2);
	assert_int_equal(ctl_ca_issue_tls(f.ca, HOST, "enc-n", 1, "enc-n.t.cloister.internal", pt, proof, &c1), CL_OK);
	assert_int_equal(ctl_ca_issue_tls(f.ca, HOST, "enc-n", 2, "enc-n.t.cloister.internal", pt2, proof2, &c2), CL_OK);
	/* no address known yet: refused, nothing handed */
	expect_refused(&f, install_op("op-q0", "enc-n", 1, c1.chain_pem), "address is not known yet");
	assert_int_equal(fp.sets, 0);
	cl_agent_tls_set_backend(f.t, "enc-n", "10.77.0.2", 8080);
	cl_agent_op op = install_op("op-q1", "enc-n", 1, c1.chain_pem);
	json_t *r = run(&f, &op, &ok);
	assert_true(ok);
	assert_int_equal(fp.sets, 1);
	assert_string_equal(fp.backend, "10.77.0.2:8080");
	assert_int_equal(fp.nlisteners, 1);
	assert_true(fp.port > 0);
	assert_int_equal(endpoint_port(r), fp.port);
	json_decref(r);
	/* a rotation: the same endpoint (no new listener handed) */
	op = install_op("op-q2", "enc-n", 2, c2.chain_pem);
	r = run(&f, &op, &ok);
	assert_true(ok);
	assert_int_equal(fp.sets, 2);
	assert_int_equal(fp.nlisteners, 0);
	assert_int_equal(endpoint_port(r), fp.port);
	json_decref(r);
	/* the data plane refuses: still generation 2 */
	fp.fail_set = 1;
	expect_refused(&f, install_op("op-q3", "enc-n", 1, c1.chain_pem), "refused by the fake");
	assert_true(cl_agent_tls_served(f.t, "enc-n", &gen, NULL));
	assert_int_equal(gen, 2);
	/* removal: the data plane told, the endpoint closed */
	op = mkop("op-q4", CL_OP_TLS_REMOVE, "enc-n", 0);
	json_decref(run(&f, &op, &ok));
	assert_true(ok);
	assert_int_equal(fp.removes, 1);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fp.port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_not_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	free(c1.chain_pem);
	free(c2.chain_pem);
	stop(&f);
}

/* The three kinds in a sync answer: their fields, and each malformed one
 * answered as bad. */
static void parse_answer(void **state)
{
	const char *good =
		"{\"generation\":1,\"enclaves\":[],\"ops\":["
		"{\"op\":\"op-1\",\"enclave\":\"enc-a\",\"kind\":\"tls_generate\",\"gen\":3,\"host_id\":\"host-7\"},"
		"{\"op\":\"op-2\",\"enclave\":\"enc-a\",\"kind\":\"tls_install\",\"gen\":3,\"chain\":\"PEM\","
		"\"policy\":{\"mode\":\"ips\",\"ports\":[],\"ips\":[\"10.0.0.0/8\",\"2001:db8::1\"],\"adapters\":[],"
		"\"insecure\":\"allow\",\"header\":null}},"
		"{\"op\":\"op-3\",\"enclave\":\"enc-a\",\"kind\":\"tls_remove\"},"
		"{\"op\":\"op-4\",\"enclave\":\"enc-a\",\"kind\":\"tls_remove\",\"gen\":4294967295},"
		/* malformed: */
		"{\"op\":\"op-5\",\"enclave\":\"enc-a\",\"kind\":\"tls_generate\",\"gen\":3},"
		"{\"op\":\"op-6\",\"enclave\":\"enc-a\",\"kind\":\"tls_generate\",\"gen\":0,\"host_id\":\"h\"},"
		"{\"op\":\"op-7\",\"enclave\":\"enc-a\",\"kind\":\"tls_install\",\"gen\":1,\"chain\":\"\","
		"\"policy\":{\"mode\":\"all\"}},"
		"{\"op\":\"op-8\",\"enclave\":\"enc-a\",\"kind\":\"tls_install\",\"gen\":1,\"chain\":\"PEM\"},"
		"{\"op\":\"op-9\",\"enclave\":\"enc-a\",\"kind\":\"tls_remove\",\"gen\":4294967296},"
		"{\"op\":\"op-10\",\"enclave\":\"enc-a\",\"kind\":\"tls_install\",\"gen\":1,\"chain\":\"PEM\","
		"\"policy\":{\"mode\":\"ports\"}}"
		"]}";
	cl_agent_answer a;
	assert_int_equal(cl_agent_answer_parse(good, strlen(good), &a), CL_OK);
	assert_int_equal(a.nops, 4);
	assert_int_equal(a.ops[0].kind, CL_OP_TLS_GENERATE);
	assert_int_equal(a.ops[0].tls->gen, 3);
	assert_string_equal(a.ops[0].tls->host_id, "host-7");
	assert_int_equal(a.ops[1].kind, CL_OP_TLS_INSTALL);
	assert_string_equal(a.ops[1].tls->chain, "PEM");
	assert_int_equal(a.ops[1].tls->policy.mode, CL_AGENT_TLS_IPS);
	assert_int_equal(a.ops[1].tls->policy.nips, 2);
	assert_string_equal(a.ops[1].tls->policy.ips[1], "2001:db8::1");
	assert_true(a.ops[1].tls->policy.insecure_allow);
	assert_string_equal(a.ops[1].tls->policy.header, "");
	assert_int_equal(a.ops[2].kind, CL_OP_TLS_REMOVE);
	assert_int_equal(a.ops[2].tls->gen, 0);
	assert_int_equal(a.ops[3].tls->gen, 4294967295u);
	assert_int_equal(a.nbad_ops, 6);
	for (size_t i = 0; i < a.nbad_ops; i++) {
		char want[16];
		snprintf(want, sizeof(want), "op-%zu", i + 5);
		assert_string_equal(a.bad_ops[i], want);
	}
	cl_agent_answer_free(&a);
}

/* The policy: the control plane's normal form and defaults accepted;
 * each field out of its rules refused. */
static void policy(void **state)
{
	static const struct {
		const char *json;
		bool ok;
	} cases[] = {
		{"{\"mode\":\"all\",\"ports\":[],\"ips\":[],\"adapters\":[],\"insecure\":\"reject\",\"header\":null}", true},
		{"{}", true},
		{"{\"mode\":\"auto\",\"header\":\"X-Cloister-TLS\"}", true},
		{"{\"mode\":\"ports\",\"ports\":[443,8443]}", true},
		{"{\"mode\":\"adapters\",\"adapters\":[\"sec0\"]}", true},
		{"{\"mode\":\"ips\",\"ips\":[\"192.0.2.0/24\"]}", true},
		{"[]", false},
		{"{\"mode\":\"some\"}", false},
		{"{\"mode\":1}", false},
		{"{\"mode\":\"ports\"}", false},                       /* needs a port */
		{"{\"mode\":\"all\",\"ports\":[443]}", false},          /* a list of another mode */
		{"{\"mode\":\"ports\",\"ports\":[0]}", false},
		{"{\"mode\":\"ports\",\"ports\":[65536]}", false},
		{"{\"mode\":\"ports\",\"ports\":[443,443]}", false},
		{"{\"mode\":\"ports\",\"ports\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}", false},
		{"{\"mode\":\"ips\",\"ips\":[\"10.0.0.0/33\"]}", false},
		{"{\"mode\":\"ips\",\"ips\":[\"10.0.0.0/08\"]}", false},
		{"{\"mode\":\"ips\",\"ips\":[\"host.example\"]}", false},
		{"{\"mode\":\"adapters\",\"adapters\":[\"Sec0\"]}", false},
		{"{\"mode\":\"adapters\",\"adapters\":[\"a234567890123456\"]}", false},
		{"{\"insecure\":\"maybe\"}", false},
		{"{\"header\":\"Host\"}", false},
		{"{\"header\":\"Transfer-Encoding\"}", false},
		{"{\"header\":\"X Bad\"}", false},
		{"{\"header\":\"\"}", false},
		{"{\"header\":\"X-1234567890123456789012345678901234567890123456789012345678901223\"}", false}, /* 65 */
		{"{\"mode\":\"all\",\"sni\":true}", false}, /* a setting this host does not know */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = json_loads(cases[i].json, 0, NULL);
		cl_agent_tls_policy p;
		assert_non_null(v);
		cl_err err = cl_agent_tls_policy_parse(v, &p);
		if ((err == CL_OK) != cases[i].ok)
			fail_msg("policy %s: expected %s, got %s (%s)", cases[i].json, cases[i].ok ? "ok" : "refused",
				 err == CL_OK ? "ok" : "refused", cl_error_detail());
		json_decref(v);
	}
	/* the longest header (64) is taken */
	json_t *v = json_loads("{\"header\":\"X-12345678901234567890123456789012345678901234567890123456789012\"}", 0, NULL);
	cl_agent_tls_policy p;
	assert_int_equal(cl_agent_tls_policy_parse(v, &p), CL_OK);
	assert_int_equal(strlen(p.header), 64);
	json_decref(v);
}

/* Through the ops engine (no control plane: results wait for the sync):
 * the TLS hook answers the op; without one it is refused. */
static void through_pool(void **state)
{
	fixture f;
	cl_agent_pool *pool = NULL;
	start(&f);
	assert_int_equal(cl_agent_pool_new(NULL, NULL, NULL, HOST, dir, &pool), CL_OK);
	cl_agent_op op = mkop("op-p1", CL_OP_TLS_GENERATE, "enc-a", 5);
	assert_int_equal(cl_agent_pool_submit(pool, &op), CL_OK); /* refused: no hook yet */
	cl_agent_op_clear(&op);
	json_t *got = json_array();
	for (uint64_t until = cl_now_mono_ns() + 10000000000ull; json_array_size(got) < 1 && cl_now_mono_ns() < until;) {
		json_t *r = cl_agent_pool_take_results(pool, 1 << 20);
		json_array_extend(got, r);
		json_decref(r);
		usleep(10000);
	}
	assert_int_equal(json_array_size(got), 1);
	assert_false(json_is_true(json_object_get(json_array_get(got, 0), "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(json_array_get(got, 0), "error")), "cannot serve TLS"));
	json_array_clear(got);

	cl_agent_pool_set_tls(pool, cl_agent_tls_op_fn, f.t);
	op = mkop("op-p2", CL_OP_TLS_GENERATE, "enc-a", 5);
	assert_int_equal(cl_agent_pool_submit(pool, &op), CL_OK);
	cl_agent_op_clear(&op);
	for (uint64_t until = cl_now_mono_ns() + 10000000000ull; json_array_size(got) < 1 && cl_now_mono_ns() < until;) {
		json_t *r = cl_agent_pool_take_results(pool, 1 << 20);
		json_array_extend(got, r);
		json_decref(r);
		usleep(10000);
	}
	assert_int_equal(json_array_size(got), 1);
	json_t *r = json_array_get(got, 0);
	assert_string_equal(json_string_value(json_object_get(r, "op")), "op-p2");
	assert_true(json_is_true(json_object_get(r, "ok")));
	assert_non_null(json_string_value(json_object_get(r, "data")));
	uint8_t pt[65];
	assert_int_equal(f.k->get_public(f.k->ctx, "tls/enc-a:5", pt), CL_OK);
	json_decref(got);
	cl_agent_pool_free(pool);
	stop(&f);
}

int main(void)
{
	cl_log_init("test", CL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generate_proof), cmocka_unit_test(install_remove), cmocka_unit_test(to_plane), cmocka_unit_test(parse_answer),
		cmocka_unit_test(policy),	  cmocka_unit_test(through_pool),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
