/* attest_parse.c — the strict parser of attestation documents (attest.h).
 *
 * libcbor's streaming decoder reads one item head at a time; the functions
 * below then read like the format: an optional tag 18, an array of four, the
 * exact protected header, an empty unprotected map, the payload map with its
 * nine keys in order, a 96-byte signature, and nothing after it.
 *
 * Only one encoding of a document is accepted, the one cl_att_build writes:
 * definite lengths, every head in its shortest form, no floats, no simple
 * values but null where a field may be absent. A refusal names the field.
 * Nothing is allocated from a length the document declares: byte strings are
 * pointers into the document's own copy, bounded by what is really there.
 */
#include <cbor.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attest/attest.h"
#include "attest/attest_internal.h"

enum att_type { T_UINT, T_NEGINT, T_BSTR, T_TSTR, T_ARRAY, T_MAP, T_TAG, T_NULL, T_INDEF, T_OTHER };

/* One decoded item head (a byte or text string with its contents). */
typedef struct att_tok {
	enum att_type t;
	uint64_t v; /* uint/negint/tag value; array/map count; string length */
	const uint8_t *s;
} att_tok;

/* A cursor over bytes that outlive it. */
typedef struct att_rd {
	const uint8_t *p;
	size_t len, pos;
} att_rd;

static const char *type_name(enum att_type t)
{
	static const char *const names[] = {"an unsigned integer", "a negative integer", "a byte string",
					    "a text string", "an array", "a map", "a tag", "null",
					    "an indefinite-length item", "a float or simple value"};
	return names[t];
}

/* ---- libcbor callbacks: each fills the token ---- */
static void cb_u8(void *c, uint8_t v) { *(att_tok *)c = (att_tok){.t = T_UINT, .v = v}; }
static void cb_u16(void *c, uint16_t v) { *(att_tok *)c = (att_tok){.t = T_UINT, .v = v}; }
static void cb_u32(void *c, uint32_t v) { *(att_tok *)c = (att_tok){.t = T_UINT, .v = v}; }
static void cb_u64(void *c, uint64_t v) { *(att_tok *)c = (att_tok){.t = T_UINT, .v = v}; }
static void cb_n8(void *c, uint8_t v) { *(att_tok *)c = (att_tok){.t = T_NEGINT, .v = v}; }
static void cb_n16(void *c, uint16_t v) { *(att_tok *)c = (att_tok){.t = T_NEGINT, .v = v}; }
static void cb_n32(void *c, uint32_t v) { *(att_tok *)c = (att_tok){.t = T_NEGINT, .v = v}; }
static void cb_n64(void *c, uint64_t v) { *(att_tok *)c = (att_tok){.t = T_NEGINT, .v = v}; }
static void cb_bstr(void *c, cbor_data p, size_t n) { *(att_tok *)c = (att_tok){.t = T_BSTR, .v = n, .s = p}; }
static void cb_tstr(void *c, cbor_data p, size_t n) { *(att_tok *)c = (att_tok){.t = T_TSTR, .v = n, .s = p}; }
static void cb_array(void *c, size_t n) { *(att_tok *)c = (att_tok){.t = T_ARRAY, .v = n}; }
static void cb_map(void *c, size_t n) { *(att_tok *)c = (att_tok){.t = T_MAP, .v = n}; }
static void cb_tag(void *c, uint64_t v) { *(att_tok *)c = (att_tok){.t = T_TAG, .v = v}; }
static void cb_null(void *c) { *(att_tok *)c = (att_tok){.t = T_NULL}; }
static void cb_indef(void *c) { *(att_tok *)c = (att_tok){.t = T_INDEF}; }
static void cb_other(void *c) { *(att_tok *)c = (att_tok){.t = T_OTHER}; }
static void cb_float(void *c, float v) { cb_other(c); }
static void cb_double(void *c, double v) { cb_other(c); }
static void cb_bool(void *c, bool v) { cb_other(c); }

static const struct cbor_callbacks att_callbacks = {
	.uint8 = cb_u8, .uint16 = cb_u16, .uint32 = cb_u32, .uint64 = cb_u64,
	.negint8 = cb_n8, .negint16 = cb_n16, .negint32 = cb_n32, .negint64 = cb_n64,
	.byte_string = cb_bstr, .byte_string_start = cb_indef,
	.string = cb_tstr, .string_start = cb_indef,
	.array_start = cb_array, .indef_array_start = cb_indef,
	.map_start = cb_map, .indef_map_start = cb_indef,
	.tag = cb_tag,
	.float2 = cb_float, .float4 = cb_float, .float8 = cb_double,
	.undefined = cb_other, .null = cb_null, .boolean = cb_bool,
	.indef_break = cb_other,
};

/* The size of the shortest head for argument v. */
static size_t shortest_head(uint64_t v)
{
	return v < 24 ? 1 : v <= 0xff ? 2 : v <= 0xffff ? 3 : v <= 0xffffffffu ? 5 : 9;
}

/* A tag head (major type 6). libcbor 0.8's streaming decoder refuses the
 * tag numbers 6..20 as "unassigned" (later versions pass them on), and 18
 * is COSE_Sign1's: read the head here. */
static cl_err rd_tag(att_rd *r, att_tok *t, const char *field)
{
	const uint8_t *p = r->p + r->pos;
	size_t avail = r->len - r->pos;
	unsigned info = p[0] & 0x1f;
	size_t extra = info < 24 ? 0 : info <= 27 ? (size_t)1 << (info - 24) : 0;
	CL_ENSURE(info <= 27, CL_EINVAL, "%s: malformed CBOR", field);
	CL_ENSURE(avail > extra, CL_EINVAL, "%s: truncated", field);
	uint64_t v = info < 24 ? info : 0;
	for (size_t i = 0; i < extra; i++)
		v = v << 8 | p[1 + i];
	CL_ENSURE(1 + extra == shortest_head(v), CL_EINVAL, "%s: not in the shortest encoding", field);
	*t = (att_tok){.t = T_TAG, .v = v};
	r->pos += 1 + extra;
	return CL_OK;
}

/* Reads the next item head (and a string's contents) into *t. */
static cl_err rd_next(att_rd *r, att_tok *t, const char *field)
{
	CL_ENSURE(r->pos < r->len, CL_EINVAL, "%s: truncated", field);
	if (r->p[r->pos] >> 5 == 6)
		return rd_tag(r, t, field);
	*t = (att_tok){.t = T_OTHER};
	struct cbor_decoder_result res = cbor_stream_decode(r->p + r->pos, r->len - r->pos, &att_callbacks, t);
	CL_ENSURE(res.status != CBOR_DECODER_NEDATA, CL_EINVAL, "%s: truncated", field);
	CL_ENSURE(res.status == CBOR_DECODER_FINISHED && res.read >= 1 && res.read <= r->len - r->pos, CL_EINVAL,
		  "%s: malformed CBOR", field);
	CL_ENSURE(t->t != T_INDEF, CL_EINVAL, "%s: indefinite length (only definite lengths are accepted)", field);
	size_t head = res.read;
	if (t->t == T_BSTR || t->t == T_TSTR)
		head -= t->v;
	if (t->t != T_NULL && t->t != T_OTHER)
		CL_ENSURE(head == shortest_head(t->v), CL_EINVAL, "%s: not in the shortest encoding", field);
	r->pos += res.read;
	return CL_OK;
}

static cl_err rd_expect(att_rd *r, att_tok *t, enum att_type want, const char *field)
{
	CL_GUARD(rd_next(r, t, field));
	CL_ENSURE(t->t == want, CL_EINVAL, "%s: expected %s, got %s", field, type_name(want), type_name(t->t));
	return CL_OK;
}

/* A byte string of min..max bytes. */
static cl_err rd_bstr(att_rd *r, const char *field, size_t min, size_t max, cl_att_bytes *out)
{
	att_tok t;
	CL_GUARD(rd_expect(r, &t, T_BSTR, field));
	CL_ENSURE(t.v <= max, CL_EINVAL, "%s: %llu bytes, at most %zu", field, (unsigned long long)t.v, max);
	CL_ENSURE(t.v >= min, CL_EINVAL, "%s: %llu bytes, at least %zu", field, (unsigned long long)t.v, min);
	*out = (cl_att_bytes){.p = t.s, .n = t.v};
	return CL_OK;
}

/* A byte string of at most max bytes, or null (out->p = NULL). */
static cl_err rd_opt_bstr(att_rd *r, const char *field, size_t max, cl_att_bytes *out)
{
	att_tok t;
	size_t at = r->pos;
	CL_GUARD(rd_next(r, &t, field));
	if (t.t == T_NULL) {
		*out = (cl_att_bytes){0};
		return CL_OK;
	}
	CL_ENSURE(t.t == T_BSTR, CL_EINVAL, "%s: expected a byte string or null, got %s", field, type_name(t.t));
	r->pos = at;
	return rd_bstr(r, field, 0, max, out);
}

static bool tstr_is(const att_tok *t, const char *s)
{
	return t->t == T_TSTR && t->v == strlen(s) && memcmp(t->s, s, t->v) == 0;
}

/* The payload's key number k: refused naming what is wrong (a duplicate, a
 * key out of order, an unknown key, a missing one). */
static cl_err rd_key(att_rd *r, size_t k, uint64_t nkeys)
{
	att_tok t;
	const char *want = cl_att_keys[k];
	CL_ENSURE(k < nkeys, CL_EINVAL, "payload: missing key '%s'", want);
	CL_GUARD(rd_next(r, &t, want));
	if (tstr_is(&t, want))
		return CL_OK;
	for (size_t i = 0; i < CL_ATT_NKEYS; i++) {
		if (!tstr_is(&t, cl_att_keys[i]))
			continue;
		if (i < k)
			return cl_errorf(CL_EINVAL, "%s: duplicate key", cl_att_keys[i]);
		return cl_errorf(CL_EINVAL, "%s: key out of order (expected '%s')", cl_att_keys[i], want);
	}
	if (t.t != T_TSTR)
		return cl_errorf(CL_EINVAL, "payload: key %zu is %s (expected '%s')", k, type_name(t.t), want);
	return cl_errorf(CL_EINVAL, "payload: unknown key (expected '%s')", want);
}

static cl_err rd_pcrs(att_rd *r, cl_att_fields *f)
{
	att_tok t;
	CL_GUARD(rd_expect(r, &t, T_MAP, "pcrs"));
	CL_ENSURE(t.v == CL_ATT_NPCRS, CL_EINVAL, "pcrs: %llu entries, expected %d", (unsigned long long)t.v,
		  CL_ATT_NPCRS);
	for (uint64_t i = 0; i < CL_ATT_NPCRS; i++) {
		cl_att_bytes v;
		CL_GUARD(rd_expect(r, &t, T_UINT, "pcrs"));
		CL_ENSURE(t.v >= i, CL_EINVAL, "pcrs: duplicate index %llu", (unsigned long long)t.v);
		CL_ENSURE(t.v == i, CL_EINVAL, "pcrs: index %llu where %llu was expected (out of order)", (unsigned long long)t.v,
			  (unsigned long long)i);
		CL_GUARD(rd_bstr(r, "pcrs", CL_ATT_PCR_LEN, CL_ATT_PCR_LEN, &v));
		memcpy(f->pcrs[i], v.p, CL_ATT_PCR_LEN);
	}
	return CL_OK;
}

static cl_err rd_payload(att_rd *r, cl_att_doc *d)
{
	cl_att_fields *f = &d->f;
	att_tok t;
	CL_GUARD(rd_expect(r, &t, T_MAP, "payload"));
	uint64_t nkeys = t.v;

	CL_GUARD(rd_key(r, 0, nkeys));
	CL_GUARD(rd_expect(r, &t, T_TSTR, "module_id"));
	CL_ENSURE(t.v >= 1 && t.v <= CL_ATT_MODULE_ID_MAX, CL_EINVAL, "module_id: %llu bytes, must be 1..%d",
		  (unsigned long long)t.v, CL_ATT_MODULE_ID_MAX);
	for (size_t i = 0; i < t.v; i++)
		CL_ENSURE(t.s[i] >= 0x20 && t.s[i] <= 0x7e, CL_EINVAL, "module_id: byte %zu is not printable ASCII", i);
	memcpy(d->module_id, t.s, t.v);
	d->module_id[t.v] = '\0';
	f->module_id = d->module_id;

	CL_GUARD(rd_key(r, 1, nkeys));
	CL_GUARD(rd_expect(r, &t, T_TSTR, "digest"));
	CL_ENSURE(tstr_is(&t, "SHA384"), CL_EINVAL, "digest: must be \"SHA384\"");

	CL_GUARD(rd_key(r, 2, nkeys));
	CL_GUARD(rd_expect(r, &t, T_UINT, "timestamp"));
	f->timestamp_ms = t.v;

	CL_GUARD(rd_key(r, 3, nkeys));
	CL_GUARD(rd_pcrs(r, f));

	CL_GUARD(rd_key(r, 4, nkeys));
	CL_GUARD(rd_bstr(r, "certificate", 1, CL_ATT_CERT_MAX, &f->certificate));

	CL_GUARD(rd_key(r, 5, nkeys));
	CL_GUARD(rd_expect(r, &t, T_ARRAY, "cabundle"));
	CL_ENSURE(t.v >= 1 && t.v <= CL_ATT_CABUNDLE_MAX, CL_EINVAL, "cabundle: %llu certificates, must be 1..%d",
		  (unsigned long long)t.v, CL_ATT_CABUNDLE_MAX);
	f->ncabundle = t.v;
	for (size_t i = 0; i < f->ncabundle; i++)
		CL_GUARD(rd_bstr(r, "cabundle", 1, CL_ATT_CERT_MAX, &f->cabundle[i]));

	CL_GUARD(rd_key(r, 6, nkeys));
	CL_GUARD(rd_opt_bstr(r, "public_key", CL_ATT_PUBKEY_MAX, &f->public_key));
	CL_GUARD(rd_key(r, 7, nkeys));
	CL_GUARD(rd_opt_bstr(r, "user_data", CL_ATT_USER_DATA_MAX, &f->user_data));
	CL_GUARD(rd_key(r, 8, nkeys));
	CL_GUARD(rd_opt_bstr(r, "nonce", CL_ATT_NONCE_MAX, &f->nonce));

	if (nkeys > CL_ATT_NKEYS) {
		CL_GUARD(rd_next(r, &t, "payload"));
		for (size_t i = 0; i < CL_ATT_NKEYS; i++)
			CL_ENSURE(!tstr_is(&t, cl_att_keys[i]), CL_EINVAL, "%s: duplicate key", cl_att_keys[i]);
		return cl_errorf(CL_EINVAL, "payload: %llu keys, expected %d", (unsigned long long)nkeys,
				 CL_ATT_NKEYS);
	}
	CL_ENSURE(r->pos == r->len, CL_EINVAL, "payload: %zu bytes after the map", r->len - r->pos);
	return CL_OK;
}

/* The COSE_Sign1 envelope around the payload. */
static cl_err rd_document(att_rd *r, cl_att_doc *d)
{
	att_tok t;
	cl_att_bytes prot, payload, sig;
	CL_GUARD(rd_next(r, &t, "COSE_Sign1"));
	if (t.t == T_TAG) {
		CL_ENSURE(t.v == CL_ATT_COSE_SIGN1_TAG, CL_EINVAL, "COSE_Sign1: tag %llu (only %d, COSE_Sign1, is accepted)",
			  (unsigned long long)t.v, CL_ATT_COSE_SIGN1_TAG);
		CL_GUARD(rd_next(r, &t, "COSE_Sign1"));
	}
	CL_ENSURE(t.t == T_ARRAY && t.v == 4, CL_EINVAL, "COSE_Sign1: expected an array of 4 items");
	CL_GUARD(rd_bstr(r, "protected header", 0, CL_ATT_DOC_MAX, &prot));
	CL_ENSURE(prot.n == CL_ATT_PROTECTED_LEN && memcmp(prot.p, cl_att_protected, CL_ATT_PROTECTED_LEN) == 0,
		  CL_EINVAL, "protected header: must be exactly {1: -35} (alg ES384)");
	CL_GUARD(rd_expect(r, &t, T_MAP, "unprotected header"));
	CL_ENSURE(t.v == 0, CL_EINVAL, "unprotected header: must be empty");
	CL_GUARD(rd_bstr(r, "payload", 1, CL_ATT_DOC_MAX, &payload));
	CL_GUARD(rd_bstr(r, "signature", CL_ATT_SIG_LEN, CL_ATT_SIG_LEN, &sig));
	CL_ENSURE(r->pos == r->len, CL_EINVAL, "COSE_Sign1: %zu trailing bytes", r->len - r->pos);

	att_rd pr = {.p = payload.p, .len = payload.n};
	CL_GUARD(rd_payload(&pr, d));
	memcpy(d->signature, sig.p, CL_ATT_SIG_LEN);
	return cl_att_sig_digest(payload.p, payload.n, d->tbs_digest);
}

cl_err cl_att_parse(const uint8_t *buf, size_t len, cl_att_doc **out)
{
	cl_err err;
	*out = NULL;
	CL_ENSURE(len <= CL_ATT_DOC_MAX, CL_ETOOBIG, "document: %zu bytes, at most %d", len, CL_ATT_DOC_MAX);
	CL_ENSURE(len > 0, CL_EINVAL, "document: empty");
	cl_att_doc *d = calloc(1, sizeof(*d));
	if (!d)
		return cl_errorf(CL_ENOMEM, "document: out of memory");
	d->raw = malloc(len);
	if (!d->raw) {
		err = cl_errorf(CL_ENOMEM, "document: out of memory");
		goto out;
	}
	memcpy(d->raw, buf, len);
	d->raw_len = len;
	att_rd r = {.p = d->raw, .len = len};
	CL_GUARD_OUT(err, rd_document(&r, d));
	*out = d;
	d = NULL;
out:
	cl_att_doc_free(d);
	return err;
}

void cl_att_doc_free(cl_att_doc *d)
{
	if (!d)
		return;
	free(d->raw);
	free(d);
}
