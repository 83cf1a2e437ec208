/* Unit tests for src/attest: a round trip, then one refusal per rule of the
 * format (documents hand-encoded here, one thing different from what
 * cl_att_build writes) and one per verification check (chains made with
 * OpenSSL in test_attest_fixture.h, one property broken at a time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "attest/attest.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "test_attest_fixture.h"

static const uint8_t NONCE[] = {0x6e, 0x6f, 0x6e, 0x63, 0x65, 0x2d, 0x31};

/* ---- a hand encoder: the format written out by the test, field by field ---- */

static void put_head(cl_buf *b, unsigned major, uint64_t v)
{
	uint8_t h[9];
	size_t n;
	major <<= 5;
	if (v < 24) {
		h[0] = (uint8_t)(major | v);
		n = 1;
	} else if (v <= 0xff) {
		h[0] = (uint8_t)(major | 24);
		h[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		h[0] = (uint8_t)(major | 25);
		h[1] = (uint8_t)(v >> 8);
		h[2] = (uint8_t)v;
		n = 3;
	} else if (v <= 0xffffffffu) {
		h[0] = (uint8_t)(major | 26);
		for (int i = 0; i < 4; i++)
			h[1 + i] = (uint8_t)(v >> (24 - 8 * i));
		n = 5;
	} else {
		h[0] = (uint8_t)(major | 27);
		for (int i = 0; i < 8; i++)
			h[1 + i] = (uint8_t)(v >> (56 - 8 * i));
		n = 9;
	}
	assert_int_equal(cl_buf_put(b, h, n), CL_OK);
}

static void put_bstr(cl_buf *b, const void *p, size_t n)
{
	put_head(b, 2, n);
	assert_int_equal(cl_buf_put(b, p, n), CL_OK);
}

static void put_tstr(cl_buf *b, const char *s)
{
	put_head(b, 3, strlen(s));
	assert_int_equal(cl_buf_put(b, s, strlen(s)), CL_OK);
}

static void put_raw(cl_buf *b, const void *p, size_t n)
{
	assert_int_equal(cl_buf_put(b, p, n), CL_OK);
}

/* One payload entry: a key and its value, already encoded. */
#define MAX_ENTRIES 12
typedef struct entry {
	const char *key;
	cl_buf val;
} entry;

typedef struct payload {
	entry e[MAX_ENTRIES];
	size_t n;
	int indefinite_map; /* 0xbf ... 0xff */
} payload;

static cl_buf *entry_new(payload *p, const char *key)
{
	assert_true(p->n < MAX_ENTRIES);
	entry *e = &p->e[p->n++];
	e->key = key;
	cl_buf_init(&e->val, 1 << 20);
	return &e->val;
}

static cl_buf *entry_get(payload *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->e[i].key, key) == 0) {
			cl_buf_reset(&p->e[i].val);
			return &p->e[i].val;
		}
	fail_msg("no entry %s", key);
	return NULL;
}

/* The entries cl_att_build would write for f. */
static void payload_from(payload *p, const cl_att_fields *f)
{
	memset(p, 0, sizeof(*p));
	put_tstr(entry_new(p, "module_id"), f->module_id);
	put_tstr(entry_new(p, "digest"), "SHA384");
	put_head(entry_new(p, "timestamp"), 0, f->timestamp_ms);
	cl_buf *v = entry_new(p, "pcrs");
	put_head(v, 5, CL_ATT_NPCRS);
	for (int i = 0; i < CL_ATT_NPCRS; i++) {
		put_head(v, 0, (uint64_t)i);
		put_bstr(v, f->pcrs[i], CL_ATT_PCR_LEN);
	}
	put_bstr(entry_new(p, "certificate"), f->certificate.p, f->certificate.n);
	v = entry_new(p, "cabundle");
	put_head(v, 4, f->ncabundle);
	for (size_t i = 0; i < f->ncabundle; i++)
		put_bstr(v, f->cabundle[i].p, f->cabundle[i].n);
	const cl_att_bytes *opt[3] = {&f->public_key, &f->user_data, &f->nonce};
	const char *names[3] = {"public_key", "user_data", "nonce"};
	for (int i = 0; i < 3; i++) {
		v = entry_new(p, names[i]);
		if (opt[i]->p)
			put_bstr(v, opt[i]->p, opt[i]->n);
		else
			put_raw(v, "\xf6", 1);
	}
}

static void payload_free(payload *p)
{
	for (size_t i = 0; i < p->n; i++)
		cl_buf_free(&p->e[i].val);
}

static void payload_encode(const payload *p, cl_buf *out)
{
	if (p->indefinite_map)
		put_raw(out, "\xbf", 1);
	else
		put_head(out, 5, p->n);
	for (size_t i = 0; i < p->n; i++) {
		put_tstr(out, p->e[i].key);
		put_raw(out, p->e[i].val.data, p->e[i].val.len);
	}
	if (p->indefinite_map)
		put_raw(out, "\xff", 1);
}

/* The envelope's knobs: the default is what cl_att_build writes. */
typedef struct envelope {
	const uint8_t *prot;
	size_t prot_len;
	const char *unprot; /* encoded; default "\xa0" */
	size_t unprot_len;
	size_t sig_len;     /* default 96 */
	int tag;            /* 0: untagged */
	int tag_twice;
} envelope;

/* A whole document (signature: zeros; the parser never checks it). */
static void document(const payload *p, const envelope *env, cl_buf *out)
{
	static const uint8_t prot[] = {0xa1, 0x01, 0x38, 0x22};
	static const envelope dflt;
	uint8_t sig[CL_ATT_SIG_LEN + 8] = {0};
	cl_buf pl;
	if (!env)
		env = &dflt;
	cl_buf_init(out, 1 << 20);
	cl_buf_init(&pl, 1 << 20);
	payload_encode(p, &pl);
	if (env->tag)
		put_head(out, 6, (uint64_t)env->tag);
	if (env->tag_twice)
		put_head(out, 6, (uint64_t)env->tag);
	put_head(out, 4, 4);
	if (env->prot)
		put_bstr(out, env->prot, env->prot_len);
	else
		put_bstr(out, prot, sizeof(prot));
	if (env->unprot)
		put_raw(out, env->unprot, env->unprot_len);
	else
		put_raw(out, "\xa0", 1);
	put_bstr(out, pl.data, pl.len);
	put_bstr(out, sig, env->sig_len ? env->sig_len : CL_ATT_SIG_LEN);
	cl_buf_free(&pl);
}

/* ---- shared state: one good chain and its fields ---- */

typedef struct fx {
	fx_chain c;
	cl_att_fields f;
} fx;

static int setup(void **state)
{
	fx *x = calloc(1, sizeof(*x));
	fx_chain_make(&x->c, NULL);
	fx_fields(&x->f, &x->c, NONCE, sizeof(NONCE));
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	fx *x = *state;
	fx_chain_free(&x->c);
	free(x);
	return 0;
}

/* Parses buf and expects CL_EINVAL with a detail containing want. */
static void expect_refused(const cl_buf *b, cl_err code, const char *want)
{
	cl_att_doc *d = (cl_att_doc *)1;
	cl_err err = cl_att_parse(b->data, b->len, &d);
	if (err != code || !strstr(cl_error_detail(), want))
		fail_msg("parse: got %d '%s', want %d '%s'", err, cl_error_detail(), code, want);
	assert_null(d);
}

static void expect_doc_refused(const payload *p, const envelope *env, const char *want)
{
	cl_buf b;
	document(p, env, &b);
	expect_refused(&b, CL_EINVAL, want);
	cl_buf_free(&b);
}

static void default_expect(cl_att_expect *e, const fx_chain *c)
{
	memset(e, 0, sizeof(*e));
	e->root_der = c->root_der;
	e->root_len = c->root_len;
	e->now = time(NULL);
}

/* Builds f signed by key, parses, verifies against e; returns the result
 * and the check that failed. */
static cl_err build_verify(const cl_att_fields *f, EVP_PKEY *key, const cl_att_expect *e, enum cl_att_check *chk)
{
	uint8_t *doc;
	size_t len;
	cl_att_doc *d;
	assert_int_equal(cl_att_build(f, fx_sign, key, &doc, &len), CL_OK);
	assert_int_equal(cl_att_parse(doc, len, &d), CL_OK);
	free(doc);
	cl_err err = cl_att_verify(d, e, chk);
	cl_att_doc_free(d);
	return err;
}

static void want_check(cl_err err, const enum cl_att_check *gotp, enum cl_att_check want, const char *detail)
{
	enum cl_att_check got = *gotp;
	if (err != CL_ECRYPTO || got != want || !strstr(cl_error_detail(), detail))
		fail_msg("verify: got %d %s '%s', want %s '%s'", err, cl_att_check_name(got), cl_error_detail(),
			 cl_att_check_name(want), detail);
}

/* ---- round trip ---- */

static void test_round_trip(void **state)
{
	fx *x = *state;
	uint8_t *doc;
	size_t len;
	cl_att_doc *d;
	uint8_t pk[97] = {4}, ud[3] = {1, 2, 3};
	x->f.public_key = (cl_att_bytes){pk, sizeof(pk)};
	x->f.user_data = (cl_att_bytes){ud, sizeof(ud)};
	assert_int_equal(cl_att_build(&x->f, fx_sign, x->c.leaf_key, &doc, &len), CL_OK);
	assert_true(len < CL_ATT_DOC_MAX);
	assert_int_equal(doc[0], 0x84); /* untagged array of 4 */
	assert_int_equal(cl_att_parse(doc, len, &d), CL_OK);
	assert_string_equal(d->f.module_id, x->f.module_id);
	assert_int_equal(d->f.timestamp_ms, x->f.timestamp_ms);
	assert_memory_equal(d->f.pcrs, x->f.pcrs, sizeof(x->f.pcrs));
	assert_int_equal(d->f.certificate.n, x->c.leaf_len);
	assert_memory_equal(d->f.certificate.p, x->c.leaf_der, x->c.leaf_len);
	assert_int_equal(d->f.ncabundle, 2);
	assert_memory_equal(d->f.cabundle[1].p, x->c.inter_der, x->c.inter_len);
	assert_int_equal(d->f.public_key.n, sizeof(pk));
	assert_memory_equal(d->f.user_data.p, ud, sizeof(ud));
	assert_memory_equal(d->f.nonce.p, NONCE, sizeof(NONCE));
	/* pointers into the document's own copy */
	assert_true(d->f.certificate.p >= d->raw && d->f.certificate.p < d->raw + d->raw_len);

	cl_att_expect e;
	enum cl_att_check chk = CL_ATT_CHECK_FORMAT;
	default_expect(&e, &x->c);
	e.pcr_mask = (1u << 0) | (1u << 2) | (1u << 15);
	memcpy(e.pcr, x->f.pcrs, sizeof(e.pcr));
	e.nonce = NONCE;
	e.nonce_len = sizeof(NONCE);
	assert_int_equal(cl_att_verify(d, &e, &chk), CL_OK);
	assert_int_equal(chk, CL_ATT_CHECK_NONE);

	/* What is signed is COSE's Sig_structure, computed here by hand:
	 * ["Signature1", h'a1013822', h'', payload]. */
	cl_buf sig_structure;
	uint8_t digest[CL_ATT_DIGEST_LEN];
	const uint8_t *pl = memmem(d->raw, d->raw_len, "\xa9\x69module_id", 11);
	assert_non_null(pl);
	size_t plen = d->raw_len - (size_t)(pl - d->raw) - 2 - CL_ATT_SIG_LEN;
	cl_buf_init(&sig_structure, 1 << 20);
	put_raw(&sig_structure, "\x84\x6aSignature1\x44\xa1\x01\x38\x22\x40", 18);
	put_bstr(&sig_structure, pl, plen);
	assert_int_equal(cl_sha384(sig_structure.data, sig_structure.len, digest), CL_OK);
	assert_memory_equal(d->tbs_digest, digest, CL_ATT_DIGEST_LEN);
	cl_buf_free(&sig_structure);

	char serial[41];
	assert_int_equal(cl_att_leaf_serial(d, serial), CL_OK);
	assert_true(strlen(serial) == 16 && strncmp(serial, "7a5e", 4) == 0);
	cl_att_doc_free(d);

	/* The hand encoder writes the same bytes: the refusals below each
	 * differ from a good document in one thing only. */
	payload p;
	cl_buf b;
	payload_from(&p, &x->f);
	document(&p, NULL, &b);
	assert_int_equal(b.len, len);
	assert_memory_equal(b.data, doc, len - CL_ATT_SIG_LEN);
	cl_buf_free(&b);
	payload_free(&p);

	/* absent optional fields are null and come back absent */
	x->f.public_key = x->f.user_data = x->f.nonce = (cl_att_bytes){0};
	free(doc);
	assert_int_equal(cl_att_build(&x->f, fx_sign, x->c.leaf_key, &doc, &len), CL_OK);
	assert_int_equal(cl_att_parse(doc, len, &d), CL_OK);
	assert_null(d->f.public_key.p);
	assert_null(d->f.user_data.p);
	assert_null(d->f.nonce.p);
	cl_att_doc_free(d);
	free(doc);
}

/* Tag 18 (COSE_Sign1) is accepted and verifies; other tags are refused. */
static void test_tagged(void **state)
{
	fx *x = *state;
	uint8_t *doc;
	size_t len;
	cl_att_doc *d;
	assert_int_equal(cl_att_build(&x->f, fx_sign, x->c.leaf_key, &doc, &len), CL_OK);
	uint8_t *tagged = malloc(len + 1);
	tagged[0] = 0xd2;
	memcpy(tagged + 1, doc, len);
	assert_int_equal(cl_att_parse(tagged, len + 1, &d), CL_OK);
	cl_att_expect e;
	default_expect(&e, &x->c);
	assert_int_equal(cl_att_verify(d, &e, NULL), CL_OK);
	cl_att_doc_free(d);
	cl_buf b;
	uint8_t *t98 = malloc(len + 2);
	t98[0] = 0xd8;
	t98[1] = 98;
	memcpy(t98 + 2, doc, len);
	cl_buf_wrap(&b, t98, len + 2);
	expect_refused(&b, CL_EINVAL, "COSE_Sign1: tag 98");
	payload p;
	envelope env = {.tag = 18, .tag_twice = 1};
	payload_from(&p, &x->f);
	expect_doc_refused(&p, &env, "COSE_Sign1: expected an array");
	payload_free(&p);
	free(t98);
	free(tagged);
	free(doc);
}

/* Every prefix of a good document is refused, and so is a byte more. */
static void test_truncated_and_trailing(void **state)
{
	fx *x = *state;
	uint8_t *doc;
	size_t len;
	cl_att_doc *d;
	assert_int_equal(cl_att_build(&x->f, fx_sign, x->c.leaf_key, &doc, &len), CL_OK);
	for (size_t n = 0; n < len; n++) {
		cl_err err = cl_att_parse(doc, n, &d);
		if (err != CL_EINVAL)
			fail_msg("prefix of %zu bytes: got %d", n, err);
		assert_null(d);
	}
	uint8_t *more = malloc(len + 1);
	memcpy(more, doc, len);
	more[len] = 0;
	cl_buf b;
	cl_buf_wrap(&b, more, len + 1);
	expect_refused(&b, CL_EINVAL, "COSE_Sign1: 1 trailing bytes");
	uint8_t *big = calloc(1, CL_ATT_DOC_MAX + 1);
	cl_buf_wrap(&b, big, CL_ATT_DOC_MAX + 1);
	expect_refused(&b, CL_ETOOBIG, "at most 65536");
	free(big);
	free(more);
	free(doc);
}

static void test_envelope_refusals(void **state)
{
	fx *x = *state;
	payload p;
	payload_from(&p, &x->f);
	static const uint8_t es256[] = {0xa1, 0x01, 0x26};
	envelope env = {.prot = es256, .prot_len = sizeof(es256)};
	expect_doc_refused(&p, &env, "protected header: must be exactly {1: -35}");
	static const uint8_t es384_extra[] = {0xa2, 0x01, 0x38, 0x22, 0x04, 0x40};
	env = (envelope){.prot = es384_extra, .prot_len = sizeof(es384_extra)};
	expect_doc_refused(&p, &env, "protected header");
	env = (envelope){.unprot = "\xa1\x04\x41\x01", .unprot_len = 4};
	expect_doc_refused(&p, &env, "unprotected header: must be empty");
	env = (envelope){.unprot = "\x40", .unprot_len = 1};
	expect_doc_refused(&p, &env, "unprotected header: expected a map");
	env = (envelope){.sig_len = 64};
	expect_doc_refused(&p, &env, "signature: 64 bytes, at least 96");
	env = (envelope){.sig_len = 97};
	expect_doc_refused(&p, &env, "signature: 97 bytes, at most 96");
	payload_free(&p);
}

static void test_key_refusals(void **state)
{
	fx *x = *state;
	payload p;

	/* a duplicate key at the end (10 keys) */
	payload_from(&p, &x->f);
	put_raw(entry_new(&p, "nonce"), "\xf6", 1);
	expect_doc_refused(&p, NULL, "nonce: duplicate key");
	payload_free(&p);

	/* a duplicate key in place of the next one */
	payload_from(&p, &x->f);
	p.e[1].key = "module_id";
	expect_doc_refused(&p, NULL, "module_id: duplicate key");
	payload_free(&p);

	/* two keys swapped */
	payload_from(&p, &x->f);
	entry tmp = p.e[1];
	p.e[1] = p.e[2];
	p.e[2] = tmp;
	expect_doc_refused(&p, NULL, "timestamp: key out of order (expected 'digest')");
	payload_free(&p);

	/* an unknown key, a missing key */
	payload_from(&p, &x->f);
	p.e[6].key = "public_keys";
	expect_doc_refused(&p, NULL, "payload: unknown key (expected 'public_key')");
	p.e[6].key = "public_key";
	cl_buf_free(&p.e[8].val);
	p.n = 8;
	expect_doc_refused(&p, NULL, "payload: missing key 'nonce'");
	payload_free(&p);

	/* an indefinite-length map */
	payload_from(&p, &x->f);
	p.indefinite_map = 1;
	expect_doc_refused(&p, NULL, "payload: indefinite length");
	payload_free(&p);
}

static void test_value_refusals(void **state)
{
	fx *x = *state;
	payload p;
	uint8_t big[CL_ATT_CERT_MAX + 1] = {0};
	payload_from(&p, &x->f);

	/* wrong types */
	put_tstr(entry_get(&p, "timestamp"), "1796601600000");
	expect_doc_refused(&p, NULL, "timestamp: expected an unsigned integer, got a text string");
	put_head(entry_get(&p, "timestamp"), 0, 5);
	put_tstr(entry_get(&p, "nonce"), "abc");
	expect_doc_refused(&p, NULL, "nonce: expected a byte string or null, got a text string");
	put_raw(entry_get(&p, "nonce"), "\xf7", 1); /* undefined */
	expect_doc_refused(&p, NULL, "nonce: expected a byte string or null");
	put_raw(entry_get(&p, "nonce"), "\xf6", 1);
	put_tstr(entry_get(&p, "digest"), "SHA256");
	expect_doc_refused(&p, NULL, "digest: must be \"SHA384\"");
	put_tstr(entry_get(&p, "digest"), "SHA384");

	/* an indefinite-length byte string */
	put_raw(entry_get(&p, "user_data"), "\x5f\x41\x01\xff", 4);
	expect_doc_refused(&p, NULL, "user_data: indefinite length");

	/* not the shortest encoding: 5 as a 64-bit integer */
	put_raw(entry_get(&p, "user_data"), "\xf6", 1);
	put_raw(entry_get(&p, "timestamp"), "\x1b\0\0\0\0\0\0\0\x05", 9);
	expect_doc_refused(&p, NULL, "timestamp: not in the shortest encoding");
	put_head(entry_get(&p, "timestamp"), 0, 5);

	/* oversized fields */
	put_bstr(entry_get(&p, "user_data"), big, CL_ATT_USER_DATA_MAX + 1);
	expect_doc_refused(&p, NULL, "user_data: 513 bytes, at most 512");
	put_raw(entry_get(&p, "user_data"), "\xf6", 1);
	put_bstr(entry_get(&p, "nonce"), big, CL_ATT_NONCE_MAX + 1);
	expect_doc_refused(&p, NULL, "nonce: 513 bytes, at most 512");
	put_raw(entry_get(&p, "nonce"), "\xf6", 1);
	put_bstr(entry_get(&p, "public_key"), big, CL_ATT_PUBKEY_MAX + 1);
	expect_doc_refused(&p, NULL, "public_key: 1025 bytes, at most 1024");
	put_raw(entry_get(&p, "public_key"), "\xf6", 1);
	put_bstr(entry_get(&p, "certificate"), big, CL_ATT_CERT_MAX + 1);
	expect_doc_refused(&p, NULL, "certificate: 8193 bytes, at most 8192");
	put_bstr(entry_get(&p, "certificate"), x->c.leaf_der, x->c.leaf_len);
	char id[CL_ATT_MODULE_ID_MAX + 2];
	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = 0;
	put_tstr(entry_get(&p, "module_id"), id);
	expect_doc_refused(&p, NULL, "module_id: 129 bytes, must be 1..128");
	put_tstr(entry_get(&p, "module_id"), "enc\x01");
	expect_doc_refused(&p, NULL, "module_id: byte 3 is not printable ASCII");
	put_tstr(entry_get(&p, "module_id"), "enc-1");
	cl_buf *v = entry_get(&p, "cabundle");
	put_head(v, 4, CL_ATT_CABUNDLE_MAX + 1);
	for (int i = 0; i <= CL_ATT_CABUNDLE_MAX; i++)
		put_bstr(v, x->c.root_der, x->c.root_len);
	expect_doc_refused(&p, NULL, "cabundle: 5 certificates, must be 1..4");
	put_head(entry_get(&p, "cabundle"), 4, 0);
	expect_doc_refused(&p, NULL, "cabundle: 0 certificates");
	payload_free(&p);

	/* the PCR map: short value, count, order, duplicate */
	for (int k = 0; k < 4; k++) {
		payload_from(&p, &x->f);
		v = entry_get(&p, "pcrs");
		put_head(v, 5, k == 1 ? 15 : 16);
		for (int i = 0; i < (k == 1 ? 15 : 16); i++) {
			int idx = k == 2 && i == 4 ? 5 : k == 3 && i == 4 ? 3 : i;
			put_head(v, 0, (uint64_t)idx);
			put_bstr(v, big, k == 0 && i == 2 ? 47 : 48);
		}
		static const char *const want[] = {"pcrs: 47 bytes, at least 48", "pcrs: 15 entries, expected 16",
						   "pcrs: index 5 where 4 was expected", "pcrs: duplicate index 3"};
		expect_doc_refused(&p, NULL, want[k]);
		payload_free(&p);
	}
}

/* cl_att_build refuses what the parser would refuse, and signs nothing. */
static int sign_calls;
static cl_err counting_sign(void *ctx, const uint8_t digest[CL_ATT_DIGEST_LEN], uint8_t sig[CL_ATT_SIG_LEN])
{
	sign_calls++;
	return fx_sign(ctx, digest, sig);
}

static void test_build_refusals(void **state)
{
	fx *x = *state;
	uint8_t big[CL_ATT_PUBKEY_MAX + 1] = {0};
	uint8_t *doc = (uint8_t *)1;
	size_t len = 1;
	cl_att_fields f;
	sign_calls = 0;
#define REFUSE(stmt, want)                                                                          \
	do {                                                                                       \
		f = x->f;                                                                          \
		stmt;                                                                              \
		assert_int_equal(cl_att_build(&f, counting_sign, x->c.leaf_key, &doc, &len), CL_EINVAL); \
		assert_non_null(strstr(cl_error_detail(), want));                                  \
		assert_null(doc);                                                                  \
	} while (0)
	REFUSE(f.public_key = ((cl_att_bytes){big, CL_ATT_PUBKEY_MAX + 1}), "public_key: 1025 bytes");
	REFUSE(f.user_data = ((cl_att_bytes){big, CL_ATT_USER_DATA_MAX + 1}), "user_data: 513 bytes");
	REFUSE(f.nonce = ((cl_att_bytes){big, CL_ATT_NONCE_MAX + 1}), "nonce: 513 bytes");
	REFUSE(f.module_id = "", "module_id: must be 1..128");
	REFUSE(f.module_id = "a\nb", "module_id: byte 1");
	REFUSE(f.ncabundle = 0, "cabundle: 0 certificates");
	REFUSE(f.ncabundle = CL_ATT_CABUNDLE_MAX + 1, "cabundle: 5 certificates");
	REFUSE(f.certificate = ((cl_att_bytes){0}), "certificate: absent");
	REFUSE(f.cabundle[1] = ((cl_att_bytes){big, 0}), "cabundle[1]: absent");
#undef REFUSE
	assert_int_equal(sign_calls, 0);
	/* the signer's error comes back as it is */
	f = x->f;
	assert_int_equal(cl_att_build(&f, counting_sign, NULL, &doc, &len), CL_ECRYPTO);
	assert_int_equal(sign_calls, 1);
}

/* ---- verification: one failure per check ---- */

static void test_resigned_and_tampered(void **state)
{
	fx *x = *state;
	cl_att_expect e;
	enum cl_att_check chk;
	default_expect(&e, &x->c);
	EVP_PKEY *other = EVP_EC_gen("P-384");
	assert_non_null(other);
	want_check(build_verify(&x->f, other, &e, &chk), &chk, CL_ATT_CHECK_SIGNATURE,
		     "signature: does not verify under the leaf's key");
	EVP_PKEY_free(other);

	/* one payload byte changed after signing */
	uint8_t *doc;
	size_t len;
	cl_att_doc *d;
	assert_int_equal(cl_att_build(&x->f, fx_sign, x->c.leaf_key, &doc, &len), CL_OK);
	uint8_t *pcr = memmem(doc, len, x->f.pcrs[7], CL_ATT_PCR_LEN);
	assert_non_null(pcr);
	pcr[0] ^= 1;
	assert_int_equal(cl_att_parse(doc, len, &d), CL_OK);
	want_check(cl_att_verify(d, &e, &chk), &chk, CL_ATT_CHECK_SIGNATURE, "signature:");
	cl_att_doc_free(d);
	/* a signature byte changed */
	pcr[0] ^= 1;
	doc[len - 1] ^= 0x80;
	assert_int_equal(cl_att_parse(doc, len, &d), CL_OK);
	want_check(cl_att_verify(d, &e, &chk), &chk, CL_ATT_CHECK_SIGNATURE, "signature:");
	cl_att_doc_free(d);
	free(doc);
}

static void test_wrong_root(void **state)
{
	fx *x = *state;
	fx_chain other;
	cl_att_expect e;
	enum cl_att_check chk;
	fx_chain_make(&other, NULL);
	default_expect(&e, &other);
	want_check(build_verify(&x->f, x->c.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_ROOT,
		     "root: cabundle[0] is not the trusted root");
	/* a document whose bundle names the trusted root but whose leaf another
	 * root's intermediate issued: the chain does not build */
	cl_att_fields f = x->f;
	f.cabundle[1] = (cl_att_bytes){other.inter_der, other.inter_len};
	default_expect(&e, &x->c);
	want_check(build_verify(&f, x->c.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_CHAIN, "chain: ");
	/* a self-made chain carrying our root's bytes first but not using it */
	f.certificate = (cl_att_bytes){other.leaf_der, other.leaf_len};
	want_check(build_verify(&f, other.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_CHAIN, "chain: ");
	fx_chain_free(&other);
}

/* Verifies a document over a chain made with opts; expects check and detail. */
static void chain_case(const fx_opts *o, time_t now, enum cl_att_check want, const char *detail)
{
	fx_chain c;
	cl_att_fields f;
	cl_att_expect e;
	enum cl_att_check chk = CL_ATT_CHECK_NONE;
	fx_chain_make(&c, o);
	fx_fields(&f, &c, NULL, 0);
	default_expect(&e, &c);
	if (now)
		e.now = now;
	cl_err err = build_verify(&f, c.leaf_key, &e, &chk);
	if (want == CL_ATT_CHECK_NONE)
		assert_int_equal(err, CL_OK);
	else
		want_check(err, &chk, want, detail);
	fx_chain_free(&c);
}

static void test_chain_refusals(void **state)
{
	time_t now = time(NULL);
	/* the contract's chain, and one with a second intermediate allowed */
	chain_case(&(fx_opts){0}, 0, CL_ATT_CHECK_NONE, NULL);
	chain_case(&(fx_opts){.inter_bc = "critical,CA:TRUE", .extra_inter = 1}, 0, CL_ATT_CHECK_NONE, NULL);
	/* dates */
	chain_case(&(fx_opts){.leaf_not_after = -60}, 0, CL_ATT_CHECK_CHAIN, "chain: certificate has expired (depth 0)");
	chain_case(&(fx_opts){0}, now + 2L * 365 * 86400, CL_ATT_CHECK_CHAIN, "certificate has expired (depth 0)");
	chain_case(&(fx_opts){.leaf_not_before = 3600}, 0, CL_ATT_CHECK_CHAIN, "certificate is not yet valid (depth 0)");
	/* the leaf can do more than sign documents */
	chain_case(&(fx_opts){.leaf_ku = "critical,digitalSignature,keyCertSign"}, 0, CL_ATT_CHECK_CHAIN,
		   "chain: Key usage keyCertSign invalid for non-CA cert (depth 0)");
	chain_case(&(fx_opts){.leaf_ku = "critical,digitalSignature,keyEncipherment"}, 0, CL_ATT_CHECK_CHAIN,
		   "chain: the leaf's keyUsage must be digitalSignature only");
	chain_case(&(fx_opts){.leaf_ku = ""}, 0, CL_ATT_CHECK_CHAIN, "keyUsage must be digitalSignature only");
	chain_case(&(fx_opts){.leaf_bc = ""}, 0, CL_ATT_CHECK_CHAIN, "chain: the leaf must carry basicConstraints CA:FALSE");
	chain_case(&(fx_opts){.leaf_bc = "critical,CA:TRUE", .leaf_ku = "critical,digitalSignature,keyCertSign"}, 0,
		   CL_ATT_CHECK_CHAIN, "CA:FALSE");
	chain_case(&(fx_opts){.leaf_curve = "P-256"}, 0, CL_ATT_CHECK_CHAIN, "chain: the leaf's key is not ECDSA P-384");
	/* the CAs */
	chain_case(&(fx_opts){.inter_bc = "critical,CA:FALSE"}, 0, CL_ATT_CHECK_CHAIN, "chain: invalid CA certificate (depth 1)");
	chain_case(&(fx_opts){.inter_ku = "critical,digitalSignature"}, 0, CL_ATT_CHECK_CHAIN,
		   "chain: invalid CA certificate (depth 1)");
	chain_case(&(fx_opts){.inter_bc = "CA:TRUE,pathlen:0"}, 0, CL_ATT_CHECK_CHAIN,
		   "chain: Basic Constraints of CA cert not marked critical (depth 1)");
	chain_case(&(fx_opts){.root_bc = "critical,CA:TRUE,pathlen:0"}, 0, CL_ATT_CHECK_CHAIN,
		   "chain: path length constraint exceeded (depth 2)");
	chain_case(&(fx_opts){.extra_inter = 1}, 0, CL_ATT_CHECK_CHAIN, "chain: path length constraint exceeded (depth 2)");
	/* strict mode: an issued certificate names its issuer's key */
	chain_case(&(fx_opts){.no_akid = 1}, 0, CL_ATT_CHECK_CHAIN, "chain: Missing Authority Key Identifier (depth 0)");
}

static void test_bundle_not_the_path(void **state)
{
	fx *x = *state;
	cl_att_expect e;
	enum cl_att_check chk;
	cl_att_fields f = x->f;
	default_expect(&e, &x->c);
	/* an unused extra certificate in the bundle */
	f.cabundle[2] = (cl_att_bytes){x->c.leaf_der, x->c.leaf_len};
	f.ncabundle = 3;
	want_check(build_verify(&f, x->c.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_CHAIN,
		     "chain: cabundle is not exactly the path from the root to the leaf");
	/* a certificate that is not DER */
	f = x->f;
	uint8_t junk[4] = {0x30, 0x02, 0x05, 0x00};
	f.cabundle[1] = (cl_att_bytes){junk, sizeof(junk)};
	want_check(build_verify(&f, x->c.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_FORMAT,
		     "format: cabundle[1] is not one DER X.509 certificate");
}

static void test_pcr_and_nonce(void **state)
{
	fx *x = *state;
	cl_att_expect e;
	enum cl_att_check chk;
	default_expect(&e, &x->c);
	memcpy(e.pcr, x->f.pcrs, sizeof(e.pcr));
	e.pcr_mask = 0xffff;
	assert_int_equal(build_verify(&x->f, x->c.leaf_key, &e, &chk), CL_OK);
	e.pcr[2][47] ^= 0xff;
	want_check(build_verify(&x->f, x->c.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_PCR,
		     "pcr: PCR2 differs: expected 0202020202020202.. got 0202020202020202..");
	e.pcr_mask = 0xfffb; /* PCR2 not asked for: fine */
	assert_int_equal(build_verify(&x->f, x->c.leaf_key, &e, &chk), CL_OK);

	e.pcr_mask = 0;
	static const uint8_t other[] = {1, 2, 3};
	e.nonce = other;
	e.nonce_len = sizeof(other);
	want_check(build_verify(&x->f, x->c.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_NONCE,
		     "nonce: the document's nonce is not the expected one");
	e.nonce = NONCE;
	e.nonce_len = sizeof(NONCE) - 1; /* a prefix is not the nonce */
	want_check(build_verify(&x->f, x->c.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_NONCE, "nonce:");
	e.nonce_len = sizeof(NONCE);
	assert_int_equal(build_verify(&x->f, x->c.leaf_key, &e, &chk), CL_OK);
	cl_att_fields f = x->f;
	f.nonce = (cl_att_bytes){0};
	want_check(build_verify(&f, x->c.leaf_key, &e, &chk), &chk, CL_ATT_CHECK_NONCE,
		     "nonce: the document carries no nonce");
}

static void test_check_names(void **state)
{
	assert_string_equal(cl_att_check_name(CL_ATT_CHECK_CHAIN), "chain");
	assert_string_equal(cl_att_check_name(CL_ATT_CHECK_PCR), "pcr");
	assert_string_equal(cl_att_check_name(CL_ATT_CHECK_REVOKED), "revoked");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tagged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_and_trailing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_value_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resigned_and_tampered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_root, setup, teardown),
		cmocka_unit_test(test_chain_refusals),
		cmocka_unit_test_setup_teardown(test_bundle_not_the_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pcr_and_nonce, setup, teardown),
		cmocka_unit_test(test_check_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
