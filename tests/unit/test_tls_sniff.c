/* Unit tests for src/tls/sniff.c, the ClientHello sniffer of `--mode auto`.
 *
 * Real ClientHellos come from OpenSSL itself: a client SSL on memory BIOs
 * runs SSL_connect until it waits for the server, and what it wrote is the
 * hello (TLS 1.2 and 1.3, with and without SNI and ALPN). Each is sniffed
 * whole, with bytes after it, and cut at every length (in a heap buffer of
 * exactly that size, so ASan sees any read past the end). Hand-built hellos
 * break one field at a time; HTTP, SSH banners and random garbage are not
 * TLS. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tls/sniff.h"

#define HELLO_CAP 4096

/* A ClientHello as OpenSSL's client writes it: max_version TLS1_2_VERSION or
 * TLS1_3_VERSION, sni and alpn (wire format) optional. Returns its length. */
static size_t openssl_hello(int max_version, const char *sni, const uint8_t *alpn, size_t alpn_len, uint8_t *out)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(ctx, max_version), 1);
	SSL *ssl = SSL_new(ctx);
	assert_non_null(ssl);
	BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
	assert_true(rbio && wbio);
	SSL_set_bio(ssl, rbio, wbio);
	if (sni)
		assert_int_equal(SSL_set_tlsext_host_name(ssl, sni), 1);
	if (alpn)
		assert_int_equal(SSL_set_alpn_protos(ssl, alpn, (unsigned)alpn_len), 0);
	assert_int_equal(SSL_connect(ssl), -1);
	assert_int_equal(SSL_get_error(ssl, -1), SSL_ERROR_WANT_READ);
	int n = BIO_read(wbio, out, HELLO_CAP);
	assert_true(n > 0 && n < HELLO_CAP);
	assert_int_equal(BIO_pending(wbio), 0);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return (size_t)n;
}

/* Sniffs data[0..len) from a heap copy of exactly len bytes. */
static cl_tls_sniff_verdict sniff_exact(const uint8_t *data, size_t len, cl_tls_hello *h)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	cl_tls_sniff_verdict v = cl_tls_sniff(len ? copy : NULL, len, h);
	/* pointers into the input must stay inside it */
	if (v == CL_TLS_SNIFF_HANDSHAKE && h->alpn)
		assert_true(h->alpn >= copy && h->alpn + h->alpn_len <= copy + len);
	if (h->alpn)
		h->alpn = data + (h->alpn - copy); /* rebase before the copy goes */
	free(copy);
	return v;
}

static const uint8_t alpn_wire[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
static const char sni_name[] = "guest-7.tenant_a.example.com";

typedef struct hello_case {
	int max_version;
	const char *sni;
	const uint8_t *alpn;
	size_t alpn_len;
} hello_case;

static const hello_case cases[] = {
	{TLS1_2_VERSION, NULL, NULL, 0},
	{TLS1_2_VERSION, sni_name, NULL, 0},
	{TLS1_2_VERSION, NULL, alpn_wire, sizeof(alpn_wire)},
	{TLS1_2_VERSION, sni_name, alpn_wire, sizeof(alpn_wire)},
	{TLS1_3_VERSION, NULL, NULL, 0},
	{TLS1_3_VERSION, sni_name, NULL, 0},
	{TLS1_3_VERSION, NULL, alpn_wire, sizeof(alpn_wire)},
	{TLS1_3_VERSION, sni_name, alpn_wire, sizeof(alpn_wire)},
};

static void check_fields(const hello_case *c, const uint8_t *hello, size_t len, const cl_tls_hello *h)
{
	assert_int_equal(h->record_len, len);
	assert_int_equal(h->record_version, 0x0300 | hello[2]);
	assert_false(h->fragmented);
	assert_int_equal(h->legacy_version, 0x0303);
	if (c->sni) {
		assert_string_equal(h->sni, c->sni);
		assert_int_equal(h->sni_len, strlen(c->sni));
	} else {
		assert_int_equal(h->sni_len, 0);
		assert_string_equal(h->sni, "");
	}
	if (c->alpn) {
		assert_int_equal(h->alpn_len, c->alpn_len);
		assert_memory_equal(h->alpn, c->alpn, c->alpn_len);
		assert_int_equal(h->alpn_count, 2);
	} else {
		assert_null(h->alpn);
		assert_int_equal(h->alpn_count, 0);
	}
	if (c->max_version == TLS1_3_VERSION) {
		assert_true(h->has_versions);
		assert_int_equal(h->versions, CL_TLS_V12 | CL_TLS_V13);
		assert_int_equal(h->max_version, 0x0304);
	} else {
		/* OpenSSL sends no supported_versions when 1.3 is off */
		assert_false(h->has_versions);
		assert_int_equal(h->versions, 0);
		assert_int_equal(h->max_version, 0x0303);
	}
}

static void real_hellos(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t hello[HELLO_CAP + 16];
		size_t len = openssl_hello(cases[i].max_version, cases[i].sni, cases[i].alpn, cases[i].alpn_len, hello);
		cl_tls_hello h;
		assert_int_equal(sniff_exact(hello, len, &h), CL_TLS_SNIFF_HANDSHAKE);
		check_fields(&cases[i], hello, len, &h);
		/* what follows the first record (the peer sent more) is not read */
		memcpy(hello + len, "\x17\x03\x03garbage", 10);
		assert_int_equal(sniff_exact(hello, len + 10, &h), CL_TLS_SNIFF_HANDSHAKE);
		check_fields(&cases[i], hello, len, &h);
	}
}

static void truncated_at_every_length(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t hello[HELLO_CAP];
		size_t len = openssl_hello(cases[i].max_version, cases[i].sni, cases[i].alpn, cases[i].alpn_len, hello);
		for (size_t k = 0; k < len; k++) {
			cl_tls_hello h;
			assert_int_equal(sniff_exact(hello, k, &h), CL_TLS_SNIFF_NEED_MORE);
			assert_int_equal(h.need, k < CL_TLS_RECORD_HEADER ? CL_TLS_RECORD_HEADER : len);
			assert_true(h.need > k && h.need <= CL_TLS_SNIFF_MAX);
		}
	}
}

/* ---- hand-built hellos ------------------------------------------------- */

typedef struct bytes {
	uint8_t b[CL_TLS_SNIFF_MAX + 64];
	size_t n;
} bytes;

static void put(bytes *o, const void *p, size_t n)
{
	assert_true(o->n + n <= sizeof(o->b));
	memcpy(o->b + o->n, p, n);
	o->n += n;
}
static void put8(bytes *o, unsigned v)
{
	uint8_t b = (uint8_t)v;
	put(o, &b, 1);
}
static void put16(bytes *o, unsigned v)
{
	put8(o, v >> 8);
	put8(o, v);
}
/* One extension: type, u16 length, data. */
static void ext(bytes *o, unsigned type, const void *data, size_t n)
{
	put16(o, type);
	put16(o, (unsigned)n);
	put(o, data, n);
}
/* A server_name extension's data with one entry of name_type t. */
static size_t sni_data(uint8_t *d, unsigned t, const char *name, size_t n)
{
	d[0] = (uint8_t)((n + 3) >> 8);
	d[1] = (uint8_t)(n + 3);
	d[2] = (uint8_t)t;
	d[3] = (uint8_t)(n >> 8);
	d[4] = (uint8_t)n;
	memcpy(d + 5, name, n);
	return n + 5;
}

/* Offsets in a built hello (session id empty). */
#define OFF_VERSION 9
#define OFF_SID_LEN 43
#define OFF_CS_LEN 44
#define OFF_COMP_LEN 50
#define OFF_EXT_LEN 52

/* A ClientHello record with the given extensions block (NULL: none at all). */
static void build(bytes *o, const bytes *exts)
{
	bytes body = {.n = 0};
	put16(&body, 0x0303);
	for (int i = 0; i < 32; i++)
		put8(&body, 0x11);
	put8(&body, 0);                          /* session id */
	put(&body, "\x00\x04\x13\x01\x13\x02", 6); /* two suites */
	put(&body, "\x01\x00", 2);               /* null compression */
	if (exts) {
		put16(&body, (unsigned)exts->n);
		put(&body, exts->b, exts->n);
	}
	o->n = 0;
	put(o, "\x16\x03\x01", 3);
	put16(o, (unsigned)body.n + 4);
	put8(o, 1);
	put8(o, 0);
	put16(o, (unsigned)body.n);
	put(o, body.b, body.n);
}

static cl_tls_sniff_verdict sniff_built(const bytes *exts, cl_tls_hello *h)
{
	static bytes rec;
	build(&rec, exts);
	return sniff_exact(rec.b, rec.n, h);
}

static void expect_not_tls(const bytes *rec, const char *reason_part)
{
	cl_tls_hello h;
	cl_tls_sniff_verdict v = sniff_exact(rec->b, rec->n, &h);
	if (v != CL_TLS_SNIFF_NOT_TLS)
		fail_msg("expected not_tls (\"%s\"), got %s", reason_part, cl_tls_sniff_verdict_name(v));
	assert_non_null(h.reason);
	if (!strstr(h.reason, reason_part))
		fail_msg("reason \"%s\" lacks \"%s\"", h.reason, reason_part);
	assert_int_equal(h.sni_len, 0); /* nothing half-parsed is left behind */
	assert_null(h.alpn);
}

static void built_hellos(void **state)
{
	static bytes e, rec;
	cl_tls_hello h;
	uint8_t d[600];

	/* no extensions at all: TLS, version from legacy_version */
	build(&rec, NULL);
	assert_int_equal(sniff_exact(rec.b, rec.n, &h), CL_TLS_SNIFF_HANDSHAKE);
	assert_int_equal(h.max_version, 0x0303);
	assert_false(h.has_versions);
	assert_int_equal(h.sni_len, 0);

	/* unknown extensions and a non-host_name entry are skipped; GREASE and
	 * unknown versions are ignored */
	e.n = 0;
	ext(&e, 0x0a0a, "", 0);
	ext(&e, 0, d, sni_data(d, 7, "x", 1));
	ext(&e, 43, "\x06\x0a\x0a\x03\x04\x7f\x1c", 7);
	assert_int_equal(sniff_built(&e, &h), CL_TLS_SNIFF_HANDSHAKE);
	assert_int_equal(h.sni_len, 0);
	assert_true(h.has_versions);
	assert_int_equal(h.versions, CL_TLS_V13);
	assert_int_equal(h.max_version, 0x0304);

	/* a 255-byte host_name is kept whole; 256 is refused */
	char longname[257];
	memset(longname, 'a', sizeof(longname));
	e.n = 0;
	ext(&e, 0, d, sni_data(d, 0, longname, 255));
	assert_int_equal(sniff_built(&e, &h), CL_TLS_SNIFF_HANDSHAKE);
	assert_int_equal(h.sni_len, 255);
	assert_int_equal(strlen(h.sni), 255);
	e.n = 0;
	ext(&e, 0, d, sni_data(d, 0, longname, 256));
	build(&rec, &e);
	expect_not_tls(&rec, "host_name length");

	/* server_name: NUL, space, empty, two host_names, twice, bad list */
	e.n = 0;
	ext(&e, 0, d, sni_data(d, 0, "a\0b.com", 7));
	build(&rec, &e);
	expect_not_tls(&rec, "not a host name");
	e.n = 0;
	ext(&e, 0, d, sni_data(d, 0, "a b.com", 7));
	build(&rec, &e);
	expect_not_tls(&rec, "not a host name");
	e.n = 0;
	ext(&e, 0, d, sni_data(d, 0, "", 0));
	build(&rec, &e);
	expect_not_tls(&rec, "host_name length");
	e.n = 0;
	ext(&e, 0, "\x00\x08\x00\x00\x01\x61\x00\x00\x01\x62", 10);
	build(&rec, &e);
	expect_not_tls(&rec, "two host_names");
	e.n = 0;
	ext(&e, 0, d, sni_data(d, 0, "a.com", 5));
	ext(&e, 0, d, sni_data(d, 0, "b.com", 5));
	build(&rec, &e);
	expect_not_tls(&rec, "server_name twice");
	e.n = 0;
	ext(&e, 0, "\x00\x09\x00\x00\x01\x61", 6);
	build(&rec, &e);
	expect_not_tls(&rec, "server_name: bad list length");
	e.n = 0;
	ext(&e, 0, "\x00\x04\x00\x00\x05\x61", 6);
	build(&rec, &e);
	expect_not_tls(&rec, "server_name: truncated entry");

	/* ALPN: empty list, empty name, name past the list, twice */
	e.n = 0;
	ext(&e, 16, "\x00\x00", 2);
	build(&rec, &e);
	expect_not_tls(&rec, "alpn: bad list length");
	e.n = 0;
	ext(&e, 16, "\x00\x03\x00\x01\x61", 5);
	build(&rec, &e);
	expect_not_tls(&rec, "alpn: bad protocol name");
	e.n = 0;
	ext(&e, 16, "\x00\x04\x02\x68\x32\x01", 6);
	build(&rec, &e);
	expect_not_tls(&rec, "alpn: bad protocol name");
	e.n = 0;
	ext(&e, 16, "\x00\x03\x02\x68\x32", 5);
	ext(&e, 16, "\x00\x03\x02\x68\x32", 5);
	build(&rec, &e);
	expect_not_tls(&rec, "alpn twice");

	/* supported_versions: odd, empty, length past the extension, twice */
	e.n = 0;
	ext(&e, 43, "\x03\x03\x04\x03", 4);
	build(&rec, &e);
	expect_not_tls(&rec, "supported_versions: bad list length");
	e.n = 0;
	ext(&e, 43, "\x00", 1);
	build(&rec, &e);
	expect_not_tls(&rec, "supported_versions: bad list length");
	e.n = 0;
	ext(&e, 43, "\x04\x03\x04", 3);
	build(&rec, &e);
	expect_not_tls(&rec, "supported_versions: bad list length");
	e.n = 0;
	ext(&e, 43, "\x02\x03\x04", 3);
	ext(&e, 43, "\x02\x03\x04", 3);
	build(&rec, &e);
	expect_not_tls(&rec, "supported_versions twice");

	/* the extensions block: shorter or longer than what follows */
	e.n = 0;
	ext(&e, 0x1234, "abcd", 4);
	build(&rec, &e);
	rec.b[OFF_EXT_LEN + 1]--;
	expect_not_tls(&rec, "extensions: bad block length");
	build(&rec, &e);
	rec.b[OFF_EXT_LEN + 1]++;
	expect_not_tls(&rec, "extensions: bad block length");
	e.n = 0;
	put(&e, "\x12\x34\x00\x09" "abcd", 8); /* extension longer than the block */
	build(&rec, &e);
	expect_not_tls(&rec, "extensions: truncated extension");
}

static void built_hello_fields(void **state)
{
	static bytes rec;
	cl_tls_hello h;

	/* legacy_version outside 1.0-1.2 */
	build(&rec, NULL);
	rec.b[OFF_VERSION + 1] = 0x04;
	expect_not_tls(&rec, "legacy_version");
	build(&rec, NULL);
	rec.b[OFF_VERSION + 1] = 0x00;
	expect_not_tls(&rec, "legacy_version");
	/* session id longer than 32 (the bytes are there) */
	build(&rec, NULL);
	rec.b[OFF_SID_LEN] = 33;
	expect_not_tls(&rec, "session id");
	/* odd and empty cipher suite lists */
	build(&rec, NULL);
	rec.b[OFF_CS_LEN + 1] = 3;
	expect_not_tls(&rec, "cipher suites");
	build(&rec, NULL);
	rec.b[OFF_CS_LEN + 1] = 0;
	expect_not_tls(&rec, "cipher suites");
	/* no compression method */
	build(&rec, NULL);
	rec.b[OFF_COMP_LEN] = 0;
	expect_not_tls(&rec, "compression");
	/* a handshake message that is not a ClientHello (ServerHello) */
	build(&rec, NULL);
	rec.b[5] = 2;
	expect_not_tls(&rec, "not a ClientHello");
	/* a ClientHello length below the minimum */
	build(&rec, NULL);
	rec.b[8] = 10;
	expect_not_tls(&rec, "too short");
	/* bytes after the ClientHello in its record */
	build(&rec, NULL);
	rec.b[4] += 3;
	put(&rec, "xyz", 3);
	expect_not_tls(&rec, "bytes after the ClientHello");

	/* a ClientHello continued in a second record: TLS, fields unread */
	build(&rec, NULL);
	size_t msg = rec.n - 5;
	bytes two = {.n = 0};
	put(&two, "\x16\x03\x01\x00\x14", 5);
	put(&two, rec.b + 5, 20);
	put(&two, "\x16\x03\x01", 3);
	put16(&two, (unsigned)(msg - 20));
	put(&two, rec.b + 25, msg - 20);
	assert_int_equal(sniff_exact(two.b, two.n, &h), CL_TLS_SNIFF_HANDSHAKE);
	assert_true(h.fragmented);
	assert_int_equal(h.record_len, 25);
	assert_int_equal(h.legacy_version, 0);
	assert_int_equal(sniff_exact(two.b, 24, &h), CL_TLS_SNIFF_NEED_MORE);
	assert_int_equal(h.need, 25);
	/* ... but not one longer than OpenSSL would take */
	two.b[6] = 0x03;
	expect_not_tls(&two, "too long");
}

static void not_tls_inputs(void **state)
{
	static const struct {
		const char *data;
		size_t len;
	} plain[] = {
		{"GET / HTTP/1.1\r\nHost: guest\r\n\r\n", 31},
		{"POST /v1/x HTTP/1.1\r\n", 21},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24},
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", 40},
		{"\r\n", 2},
		{"\x80\x2e\x01\x00\x02", 5},                 /* SSLv2-style hello */
		{"\x17\x03\x03\x00\x20", 5},                 /* application data */
		{"\x15\x03\x03\x00\x02\x02\x28", 7},         /* alert */
		{"\x16\x03\x00\x00\x40\x01", 6},             /* SSL 3.0 record */
		{"\x16\x03\x05\x00\x40\x01", 6},             /* unknown version */
		{"\x16\x02\x01", 3},                         /* major 2 */
		{"\x16\x03\x01\x00\x00", 5},                 /* empty record */
		{"\x16\x03\x01\x40\x01", 5},                 /* 16385 bytes */
		{"\x16\x03\x03\xff\xff", 5},                 /* 65535 bytes */
		{"\x16\x03\x01\x00\x40\x02", 6},             /* ServerHello */
	};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		cl_tls_hello h;
		assert_int_equal(sniff_exact((const uint8_t *)plain[i].data, plain[i].len, &h), CL_TLS_SNIFF_NOT_TLS);
		assert_non_null(h.reason);
	}
	/* plain text is told at its first byte: no waiting for more */
	cl_tls_hello h;
	assert_int_equal(sniff_exact((const uint8_t *)"G", 1, &h), CL_TLS_SNIFF_NOT_TLS);
	assert_int_equal(sniff_exact((const uint8_t *)"S", 1, &h), CL_TLS_SNIFF_NOT_TLS);
	/* nothing yet, or a handshake record's first bytes: wait for the header */
	assert_int_equal(sniff_exact(NULL, 0, &h), CL_TLS_SNIFF_NEED_MORE);
	assert_int_equal(h.need, 5);
	assert_int_equal(sniff_exact((const uint8_t *)"\x16\x03", 2, &h), CL_TLS_SNIFF_NEED_MORE);
	assert_int_equal(h.need, 5);
	/* the largest record: asks for all of it, no more */
	assert_int_equal(sniff_exact((const uint8_t *)"\x16\x03\x01\x40\x00\x01", 6, &h), CL_TLS_SNIFF_NEED_MORE);
	assert_int_equal(h.need, CL_TLS_SNIFF_MAX);

	/* garbage (fixed seed): never a ClientHello, and a NOT_TLS decision is
	 * the same for every longer input with that prefix */
	uint32_t x = 0x2545f491;
	for (int round = 0; round < 20000; round++) {
		uint8_t g[64];
		for (size_t j = 0; j < sizeof(g); j++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			g[j] = (uint8_t)x;
		}
		if (round % 2)
			memcpy(g, "\x16\x03\x03", 3); /* half of them look like a record */
		cl_tls_sniff_verdict whole = sniff_exact(g, sizeof(g), &h);
		assert_int_not_equal(whole, CL_TLS_SNIFF_HANDSHAKE);
		for (size_t k = 0; k < sizeof(g); k++)
			if (sniff_exact(g, k, &h) == CL_TLS_SNIFF_NOT_TLS)
				assert_int_equal(whole, CL_TLS_SNIFF_NOT_TLS);
	}
}

static void names(void **state)
{
	assert_string_equal(cl_tls_sniff_verdict_name(CL_TLS_SNIFF_NEED_MORE), "need_more");
	assert_string_equal(cl_tls_sniff_verdict_name(CL_TLS_SNIFF_HANDSHAKE), "tls_handshake");
	assert_string_equal(cl_tls_sniff_verdict_name(CL_TLS_SNIFF_NOT_TLS), "not_tls");
	assert_string_equal(cl_tls_version_name(0x0303), "TLSv1.2");
	assert_string_equal(cl_tls_version_name(0x0304), "TLSv1.3");
	assert_string_equal(cl_tls_version_name(0x0300), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_hellos),
		cmocka_unit_test(truncated_at_every_length),
		cmocka_unit_test(built_hellos),
		cmocka_unit_test(built_hello_fields),
		cmocka_unit_test(not_tls_inputs),
		cmocka_unit_test(names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
