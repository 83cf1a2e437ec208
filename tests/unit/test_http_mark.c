/* Unit tests for src/tls/http_mark.c, the HTTP/1.1 request head marking of
 * the TLS data plane (docs/tls.md, "Header marking").
 *
 * Every stream is fed three ways — whole, cut in two at every byte, and
 * byte by byte — each piece in a heap buffer of exactly its size (so ASan
 * sees a read past a piece), and the three must give the same output and the
 * same verdict. Outputs are compared byte for byte with what the guest must
 * see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tls/http_mark.h"

#define NAME "X-Mark"
#define VALUE "TLSv1.3; TLS_AES_128_GCM_SHA256; -"
#define MARK NAME ": " VALUE "\r\n"
#define OUT_MAX (1u << 20)

typedef struct result {
	cl_err err;
	const char *reason;
	char *out; /* NUL-terminated copy */
	size_t len;
	cl_http_mark_stats st;
	int idle;
} result;

static void result_free(result *r)
{
	free(r->out);
	memset(r, 0, sizeof(*r));
}

/* Feeds in[0..len) cut at the offsets cuts[0..ncuts) (increasing), each
 * piece from an exactly-sized heap copy. Checks the output bound of every
 * feed, and that a refused feed's output is never extended afterwards. */
static result feed_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
	result r = {0};
	cl_http_mark *m;
	assert_int_equal(cl_http_mark_new(NAME, VALUE, &m), CL_OK);
	cl_buf out;
	cl_buf_init(&out, OUT_MAX);
	size_t from = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : len;
		size_t n = to - from;
		uint8_t *piece = malloc(n ? n : 1);
		assert_non_null(piece);
		memcpy(piece, in + from, n);
		size_t before = out.len, bound = cl_http_mark_max_out(m, n);
		cl_err e = cl_http_mark_feed(m, n ? piece : NULL, n, &out);
		free(piece);
		assert_true(out.len - before <= bound);
		if (r.err != CL_OK) {
			/* sticky: the same error, nothing appended */
			assert_int_equal(e, r.err);
			assert_int_equal(out.len, before);
		} else if (e != CL_OK) {
			r.err = e;
			r.reason = cl_http_mark_reason(m);
			assert_non_null(r.reason);
		}
		from = to;
	}
	r.out = malloc(out.len + 1);
	assert_non_null(r.out);
	if (out.len)
		memcpy(r.out, out.data, out.len);
	r.out[out.len] = '\0';
	r.len = out.len;
	cl_http_mark_get_stats(m, &r.st);
	r.idle = cl_http_mark_idle(m);
	if (r.err == CL_OK)
		assert_null(cl_http_mark_reason(m));
	cl_buf_free(&out);
	cl_http_mark_free(m);
	return r;
}

static void same(const result *a, const result *b)
{
	assert_int_equal(a->err, b->err);
	if (a->err != CL_OK)
		assert_string_equal(a->reason, b->reason);
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->out, b->out, a->len);
	assert_memory_equal(&a->st, &b->st, sizeof(a->st));
	assert_int_equal(a->idle, b->idle);
}

/* The stream fed whole; the same result is asserted for every two-piece
 * split and for byte-by-byte feeding. */
static result mark_every_split(const char *in, size_t len)
{
	result whole = feed_cuts(in, len, NULL, 0);
	for (size_t c = 0; c <= len; c++) {
		result r = feed_cuts(in, len, &c, 1);
		same(&whole, &r);
		result_free(&r);
	}
	size_t *cuts = malloc((len ? len : 1) * sizeof(*cuts));
	assert_non_null(cuts);
	for (size_t c = 0; c < len; c++)
		cuts[c] = c + 1;
	result r = feed_cuts(in, len, cuts, len ? len - 1 : 0);
	same(&whole, &r);
	result_free(&r);
	free(cuts);
	return whole;
}

/* in must be marked into exactly want. */
static void expect_out(const char *in, const char *want)
{
	result r = mark_every_split(in, strlen(in));
	if (r.err != CL_OK)
		fail_msg("refused (%s): %s", r.reason, in);
	if (r.len != strlen(want) || memcmp(r.out, want, r.len) != 0)
		fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", in, r.out, want);
	result_free(&r);
}

/* in must be refused with err and reason; out has what came before. */
static void expect_refused(const char *in, size_t len, cl_err err, const char *reason, const char *out_before)
{
	result r = mark_every_split(in, len);
	if (r.err != err || strcmp(r.reason ? r.reason : "", reason) != 0)
		fail_msg("input %.60s: got %d (%s), want %d (%s)", in, r.err, r.reason ? r.reason : "ok", err, reason);
	assert_int_equal(r.len, strlen(out_before));
	assert_memory_equal(r.out, out_before, r.len);
	result_free(&r);
}

static void marks_a_request(void **state)
{
	expect_out("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\n" MARK "Host: a\r\n\r\n");
	expect_out("GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n" MARK "\r\n");
	/* HTTP/1.0 is marked too; a higher 1.x minor is taken as 1.1 */
	expect_out("GET /x?y=1 HTTP/1.0\r\nA: b\r\n\r\n", "GET /x?y=1 HTTP/1.0\r\n" MARK "A: b\r\n\r\n");
	expect_out("OPTIONS * HTTP/1.9\r\n\r\n", "OPTIONS * HTTP/1.9\r\n" MARK "\r\n");
	/* empty lines before a request line are dropped */
	expect_out("\r\n\r\nGET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\n" MARK "\r\n");
	/* values pass as sent: blanks, obs-text, empty values */
	expect_out("GET / HTTP/1.1\r\nA:\t x y \r\nB:\r\nC: \xc3\xa9\r\n\r\n",
		   "GET / HTTP/1.1\r\n" MARK "A:\t x y \r\nB:\r\nC: \xc3\xa9\r\n\r\n");
	/* Upgrade is removed (the guest is never asked to leave HTTP) */
	expect_out("GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nupgrade: websocket\r\n\r\n",
		   "GET /ws HTTP/1.1\r\n" MARK "Connection: Upgrade\r\n\r\n");
	const char up[] = "GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n";
	result r = feed_cuts(up, strlen(up), NULL, 0);
	assert_int_equal(r.err, CL_OK);
	assert_int_equal(r.st.upgrades, 1);
	assert_int_equal(r.st.requests, 1);
	assert_true(r.idle);
	result_free(&r);
}

/* Every spelling of the name (each letter's case, '-' or '_') is removed,
 * wherever it stands, however many times, with any value. */
static void spoofed_header_stripped(void **state)
{
	const char base[] = "x-mark";
	unsigned variants = 0;
	for (unsigned bits = 0; bits < (1u << 6); bits++) {
		for (int under = 0; under < 2; under++) {
			char name[8];
			for (int i = 0; i < 6; i++)
				name[i] = (bits & (1u << i)) && base[i] >= 'a' ? (char)(base[i] - 32) : base[i];
			name[1] = under ? '_' : '-';
			name[6] = '\0';
			char in[512], want[512];
			snprintf(in, sizeof(in),
				 "POST /a HTTP/1.1\r\n%s: " VALUE "\r\nHost: h\r\n%s:spoof\r\n"
				 "Content-Length: 2\r\n%s:\r\n%s: \t1\t \r\n\r\nokGET /b HTTP/1.1\r\n%s: 2\r\n\r\n",
				 name, name, name, name, name);
			snprintf(want, sizeof(want),
				 "POST /a HTTP/1.1\r\n" MARK "Host: h\r\nContent-Length: 2\r\n\r\nok"
				 "GET /b HTTP/1.1\r\n" MARK "\r\n");
			result r = feed_cuts(in, strlen(in), NULL, 0);
			assert_int_equal(r.err, CL_OK);
			assert_string_equal(r.out, want);
			assert_int_equal(r.st.stripped, 5);
			assert_int_equal(r.st.requests, 2);
			result_free(&r);
			variants++;
		}
	}
	assert_int_equal(variants, 128);
	/* and at every split */
	expect_out("GET / HTTP/1.1\r\nx_MARK: 1\r\nX-mArK: 2\r\n\r\n", "GET / HTTP/1.1\r\n" MARK "\r\n");
	/* names that only look alike stay */
	expect_out("GET / HTTP/1.1\r\nX-Marks: 1\r\nXX-Mark: 2\r\nX-Mar: 3\r\nX.Mark: 4\r\nXMark: 5\r\n\r\n",
		   "GET / HTTP/1.1\r\n" MARK "X-Marks: 1\r\nXX-Mark: 2\r\nX-Mar: 3\r\nX.Mark: 4\r\nXMark: 5\r\n\r\n");
	/* in a chunked body's trailer section too (no mark is added there) */
	expect_out("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nx-mark: t\r\nT: 1\r\n\r\n",
		   "POST / HTTP/1.1\r\n" MARK "Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nT: 1\r\n\r\n");
	/* the ways to hide a name behind blanks are refused, not passed */
	expect_refused("GET / HTTP/1.1\r\nX-Mark : 1\r\n\r\n", 31, CL_EPROTO, "invalid field name", "");
	expect_refused("GET / HTTP/1.1\r\n X-Mark: 1\r\n\r\n", 31, CL_EPROTO, "obsolete line folding", "");
	expect_refused("GET / HTTP/1.1\r\nA: 1\r\n\tX-Mark: 1\r\n\r\n", 37, CL_EPROTO, "obsolete line folding", "");
	expect_refused("GET / HTTP/1.1\r\nX-Mark\t: 1\r\n\r\n", 31, CL_EPROTO, "invalid field name", "");
}

static const char pipelined_in[] =
	"GET /1 HTTP/1.1\r\nHost: h\r\nX-Mark: spoof\r\n\r\n"
	"POST /2 HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
	"POST /3 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	"5;ext=1; b\r\nworld\r\n000A\r\n0123456789\r\n0\r\n\r\n"
	"\r\nGET /4 HTTP/1.0\r\nContent-Length: 0\r\n\r\n";

static void pipelined_requests(void **state)
{
	const char want[] = "GET /1 HTTP/1.1\r\n" MARK "Host: h\r\n\r\n"
			    "POST /2 HTTP/1.1\r\n" MARK "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"
			    "POST /3 HTTP/1.1\r\n" MARK "Transfer-Encoding: gzip, chunked\r\n\r\n"
			    "5;ext=1; b\r\nworld\r\n000A\r\n0123456789\r\n0\r\n\r\n"
			    "GET /4 HTTP/1.0\r\n" MARK "Content-Length: 0\r\n\r\n";
	expect_out(pipelined_in, want);
	result r = feed_cuts(pipelined_in, strlen(pipelined_in), NULL, 0);
	assert_int_equal(r.st.requests, 4);
	assert_int_equal(r.st.stripped, 1);
	assert_true(r.idle);
	result_free(&r);
	/* cut inside a body or a head: not idle */
	r = feed_cuts(pipelined_in, strlen(pipelined_in) - 5, NULL, 0);
	assert_int_equal(r.err, CL_OK);
	assert_false(r.idle);
	assert_int_equal(r.st.requests, 3);
	result_free(&r);
}

/* A body that holds something shaped like a request is a body: passed
 * through byte for byte, never marked, never stripped. */
static void fake_head_in_body(void **state)
{
	const char fake[] = "GET /evil HTTP/1.1\r\nX-Mark: admin\r\n\r\n";
	const size_t fl = sizeof(fake) - 1;
	char in[512], want[512];
	snprintf(in, sizeof(in),
		 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n2\r\n\r\n\r\n0\r\n\r\n"
		 "GET /next HTTP/1.1\r\n\r\n",
		 fl, fake);
	snprintf(want, sizeof(want),
		 "POST / HTTP/1.1\r\n" MARK "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n2\r\n\r\n\r\n0\r\n\r\n"
		 "GET /next HTTP/1.1\r\n" MARK "\r\n",
		 fl, fake);
	expect_out(in, want);
	snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%sGET /next HTTP/1.1\r\n\r\n", fl,
		 fake);
	snprintf(want, sizeof(want),
		 "POST / HTTP/1.1\r\n" MARK "Content-Length: %zu\r\n\r\n%sGET /next HTTP/1.1\r\n" MARK "\r\n", fl,
		 fake);
	expect_out(in, want);
	result r = feed_cuts(in, strlen(in), NULL, 0);
	assert_int_equal(r.st.requests, 2);
	assert_int_equal(r.st.stripped, 0);
	assert_int_equal(r.st.body_bytes, fl);
	result_free(&r);
	/* a body with bare CRs, bare LFs and NULs is not a head */
	static const char raw[] = "PUT / HTTP/1.1\r\nContent-Length: 6\r\n\r\n\r\n\x00\n\r\r";
	static const char raw_out[] = "PUT / HTTP/1.1\r\n" MARK "Content-Length: 6\r\n\r\n\r\n\x00\n\r\r";
	r = mark_every_split(raw, sizeof(raw) - 1);
	assert_int_equal(r.err, CL_OK);
	assert_int_equal(r.len, sizeof(raw_out) - 1);
	assert_memory_equal(r.out, raw_out, r.len);
	assert_true(r.idle);
	result_free(&r);
}

static void head_bound(void **state)
{
	/* exactly CL_HTTP_MARK_HEAD_MAX bytes pass; one more is refused */
	size_t max = CL_HTTP_MARK_HEAD_MAX;
	char *in = malloc(max + 2), *want = malloc(max + 64);
	assert_true(in && want);
	const char start[] = "GET / HTTP/1.1\r\nA: ";
	memcpy(in, start, strlen(start));
	memset(in + strlen(start), 'a', max - strlen(start) - 4);
	memcpy(in + max - 4, "\r\n\r\n", 5);
	snprintf(want, max + 64, "GET / HTTP/1.1\r\n" MARK "%s", in + 16);
	result r = feed_cuts(in, max, NULL, 0);
	assert_int_equal(r.err, CL_OK);
	assert_string_equal(r.out, want);
	result_free(&r);
	/* and the next request after it (the big buffer released, a new one made) */
	char *two = malloc(2 * max + 64), *two_want = malloc(2 * max + 256);
	assert_true(two && two_want);
	snprintf(two, 2 * max + 64, "%sGET /2 HTTP/1.1\r\n\r\n%s", in, in);
	snprintf(two_want, 2 * max + 256, "%sGET /2 HTTP/1.1\r\n" MARK "\r\n%s", want, want);
	size_t at[2] = {max + 3, max + 20};
	r = feed_cuts(two, strlen(two), at, 2);
	assert_int_equal(r.err, CL_OK);
	assert_string_equal(r.out, two_want);
	assert_int_equal(r.st.requests, 3);
	result_free(&r);
	free(two);
	free(two_want);
	size_t cut = 1000;
	memmove(in + max - 3, in + max - 4, 4);
	in[max - 4] = 'a';
	r = feed_cuts(in, max + 1, &cut, 1);
	assert_int_equal(r.err, CL_EHEADERS);
	assert_string_equal(r.reason, "request head over 16 KiB");
	assert_int_equal(r.len, 0);
	result_free(&r);
	/* empty lines before the request line count */
	for (size_t i = 0; i + 1 < max; i += 2)
		memcpy(in + i, "\r\n", 2);
	in[max] = 'G';
	r = feed_cuts(in, max, NULL, 0);
	assert_int_equal(r.err, CL_OK);
	assert_int_equal(r.len, 0);
	assert_false(r.idle);
	result_free(&r);
	r = feed_cuts(in, max + 1, NULL, 0);
	assert_int_equal(r.err, CL_EHEADERS);
	result_free(&r);
	/* a trailer section has the same bound */
	const char chunked[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: ";
	char *t = malloc(strlen(chunked) + max + 8);
	assert_non_null(t);
	memcpy(t, chunked, strlen(chunked));
	memset(t + strlen(chunked), 'b', max);
	r = feed_cuts(t, strlen(chunked) + max, NULL, 0);
	assert_int_equal(r.err, CL_EHEADERS);
	assert_string_equal(r.reason, "trailer section over 16 KiB");
	/* the head before it was forwarded, marked */
	assert_int_equal(strncmp(r.out, "POST / HTTP/1.1\r\n" MARK, strlen("POST / HTTP/1.1\r\n" MARK)), 0);
	result_free(&r);
	free(t);
	free(in);
	free(want);
}

typedef struct refusal {
	const char *in;
	cl_err err;
	const char *reason;
} refusal;

#define GET "GET / HTTP/1.1\r\n"
#define CHUNKED "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CHUNKED_OUT "POST / HTTP/1.1\r\n" MARK "Transfer-Encoding: chunked\r\n\r\n"

static const refusal refusals[] = {
	/* line ends */
	{"GET / HTTP/1.1\rHost: a\r\n\r\n", CL_EPROTO, "bare CR"},
	{"GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", CL_EPROTO, "bare CR"},
	{"GET / HTTP/1.1\nHost: a\r\n\r\n", CL_EPROTO, "bare LF"},
	{GET "Host: a\n\n", CL_EPROTO, "bare LF"},
	{GET "Host: a\r\n\n", CL_EPROTO, "bare LF"},
	{"\nGET / HTTP/1.1\r\n\r\n", CL_EPROTO, "bare LF"},
	/* folding and field syntax */
	{GET "A: 1\r\n 2\r\n\r\n", CL_EPROTO, "obsolete line folding"},
	{GET " A: 1\r\n\r\n", CL_EPROTO, "obsolete line folding"},
	{GET "A : 1\r\n\r\n", CL_EPROTO, "invalid field name"},
	{GET ": 1\r\n\r\n", CL_EPROTO, "invalid field name"},
	{GET "A\r\n\r\n", CL_EPROTO, "invalid field name"},
	{GET "A(b): 1\r\n\r\n", CL_EPROTO, "invalid field name"},
	{GET "A: 1\x7f\r\n\r\n", CL_EPROTO, "control character in a field value"},
	{GET "A: \x01\r\n\r\n", CL_EPROTO, "control character in a field value"},
	/* request lines */
	{"GET / HTTP/2.0\r\n\r\n", CL_EPROTO, "not an HTTP/1.x request line"},
	{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", CL_EPROTO, "not an HTTP/1.x request line"},
	{"GET / HTTP/1.1 \r\n\r\n", CL_EPROTO, "not an HTTP/1.x request line"},
	{"GET / http/1.1\r\n\r\n", CL_EPROTO, "not an HTTP/1.x request line"},
	{"GET / HTTP/1.10\r\n\r\n", CL_EPROTO, "not an HTTP/1.x request line"},
	{"GET / HTTP/1.x\r\n\r\n", CL_EPROTO, "not an HTTP/1.x request line"},
	{"GET /\r\n\r\n", CL_EPROTO, "invalid request target"},
	{"GET  / HTTP/1.1\r\n\r\n", CL_EPROTO, "invalid request target"},
	{"GET /a b HTTP/1.1\r\n\r\n", CL_EPROTO, "not an HTTP/1.x request line"},
	{"GET /\x80 HTTP/1.1\r\n\r\n", CL_EPROTO, "invalid request target"},
	{" GET / HTTP/1.1\r\n\r\n", CL_EPROTO, "invalid request method"},
	{"G(T / HTTP/1.1\r\n\r\n", CL_EPROTO, "invalid request method"},
	{"\x16\x03\x01\x02\x01\r\n\r\n", CL_EPROTO, "invalid request method"},
	{"CONNECT h:443 HTTP/1.1\r\n\r\n", CL_EPROTO, "CONNECT is not carried"},
	/* framing */
	{"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", CL_EPROTO,
	 "Transfer-Encoding with Content-Length"},
	{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", CL_EPROTO,
	 "Transfer-Encoding with Content-Length"},
	{"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", CL_EPROTO, "differing Content-Lengths"},
	{"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 01\r\nContent-Length: 10\r\n\r\n", CL_EPROTO,
	 "differing Content-Lengths"},
	{"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\n", CL_EPROTO, "invalid Content-Length"},
	{"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", CL_EPROTO, "invalid Content-Length"},
	{"POST / HTTP/1.1\r\nContent-Length: 0x1\r\n\r\n", CL_EPROTO, "invalid Content-Length"},
	{"POST / HTTP/1.1\r\nContent-Length: 1 1\r\n\r\n", CL_EPROTO, "invalid Content-Length"},
	{"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", CL_EPROTO, "invalid Content-Length"},
	{"POST / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n", CL_EPROTO, "invalid Content-Length"},
	{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", CL_EPROTO, "Transfer-Encoding in an HTTP/1.0 request"},
	{"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", CL_EPROTO, "Transfer-Encoding not ending in one chunked"},
	{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", CL_EPROTO,
	 "Transfer-Encoding not ending in one chunked"},
	{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", CL_EPROTO,
	 "Transfer-Encoding not ending in one chunked"},
	{"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", CL_EPROTO, "Transfer-Encoding not ending in one chunked"},
	{"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", CL_EPROTO,
	 "Transfer-Encoding not ending in one chunked"},
	{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", CL_EPROTO, "invalid Transfer-Encoding"},
	{"POST / HTTP/1.1\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", CL_EPROTO, "invalid Transfer-Encoding"},
	/* chunks */
	{CHUNKED "\r\n", CL_EPROTO, "invalid chunk size"},
	{CHUNKED "g\r\n", CL_EPROTO, "invalid chunk size"},
	{CHUNKED "0x5\r\n", CL_EPROTO, "invalid chunk size"},
	{CHUNKED "-1\r\n", CL_EPROTO, "invalid chunk size"},
	{CHUNKED " 5\r\n", CL_EPROTO, "invalid chunk size"},
	{CHUNKED "5 \r\n", CL_EPROTO, "invalid chunk extension"},
	{CHUNKED "5 x\r\n", CL_EPROTO, "invalid chunk extension"},
	{CHUNKED "5\n", CL_EPROTO, "bare LF"},
	{CHUNKED "5\rx", CL_EPROTO, "bare CR"},
	{CHUNKED "5;a=\"b\"\r\n", CL_EPROTO, "invalid chunk extension"},
	{CHUNKED "5;a\n", CL_EPROTO, "bare LF"},
	{CHUNKED "10000000000000000\r\n", CL_EPROTO, "chunk size too long"},
	{CHUNKED "00000000000000001\r\n", CL_EPROTO, "chunk size too long"},
	{CHUNKED "1\r\nab\r\n", CL_EPROTO, "chunk data not followed by CRLF"},
	{CHUNKED "1\r\na\n", CL_EPROTO, "chunk data not followed by CRLF"},
	{CHUNKED "0\r\n \r\n\r\n", CL_EPROTO, "obsolete line folding"},
	{CHUNKED "0\r\nT: 1\n\r\n", CL_EPROTO, "bare LF"},
	{CHUNKED "0\r\nT\r\n\r\n", CL_EPROTO, "invalid field name"},
};

static void refused(void **state)
{
	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		const refusal *f = &refusals[i];
		/* a refused head forwards nothing; a refused chunk forwards its head */
		const char *before = strncmp(f->in, CHUNKED, strlen(CHUNKED)) == 0 ? NULL : "";
		if (before) {
			expect_refused(f->in, strlen(f->in), f->err, f->reason, before);
			continue;
		}
		result r = mark_every_split(f->in, strlen(f->in));
		if (r.err != f->err || strcmp(r.reason, f->reason) != 0)
			fail_msg("refusal %zu (%s): got %d (%s)", i, f->in, r.err, r.reason ? r.reason : "ok");
		assert_int_equal(strncmp(r.out, CHUNKED_OUT, strlen(CHUNKED_OUT)), 0);
		result_free(&r);
	}
	/* a refused request after a good one: the good one went out, whole */
	expect_refused(GET "\r\n" "GET / HTTP/1.1\r\nA : 1\r\n\r\n", 16 + 2 + 25, CL_EPROTO, "invalid field name",
		       GET MARK "\r\n");
	/* NUL anywhere in a head */
	expect_refused(GET "A: 1\x00 2\r\n\r\n", 16 + 11, CL_EPROTO, "control character in a field value", "");
	expect_refused("GET /\x00 HTTP/1.1\r\n\r\n", 19, CL_EPROTO, "invalid request target", "");
	/* a chunk line too long (extensions) */
	char *in = malloc(strlen(CHUNKED) + 5000);
	assert_non_null(in);
	memcpy(in, CHUNKED "1;", strlen(CHUNKED) + 2);
	memset(in + strlen(CHUNKED) + 2, 'e', 4200);
	result r = feed_cuts(in, strlen(CHUNKED) + 4202, NULL, 0);
	assert_int_equal(r.err, CL_EPROTO);
	assert_string_equal(r.reason, "chunk line too long");
	result_free(&r);
	free(in);
	/* what passes close to the refusals */
	expect_out(CHUNKED "ffffffffffffffff\r\nab", CHUNKED_OUT "ffffffffffffffff\r\nab");
	expect_out(CHUNKED "5 ;a\r\nhello\r\n0;x=y\r\n\r\n", CHUNKED_OUT "5 ;a\r\nhello\r\n0;x=y\r\n\r\n");
	expect_out("POST / HTTP/1.1\r\nContent-Length: 123456789012345678\r\n\r\n",
		   "POST / HTTP/1.1\r\n" MARK "Content-Length: 123456789012345678\r\n\r\n");
	expect_out("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: ,Chunked ,\r\n\r\n0\r\n\r\n",
		   "POST / HTTP/1.1\r\n" MARK "Transfer-Encoding: gzip\r\nTransfer-Encoding: ,Chunked ,\r\n\r\n0\r\n\r\n");
}

static void sticky_errors(void **state)
{
	cl_http_mark *m;
	cl_buf out;
	cl_buf_init(&out, 4096);
	assert_int_equal(cl_http_mark_new(NAME, VALUE, &m), CL_OK);
	const char bad[] = "GET / HTTP/1.1\nA: b\r\n\r\n", good[] = "GET / HTTP/1.1\r\n\r\n";
	assert_int_equal(cl_http_mark_feed(m, (const uint8_t *)bad, strlen(bad), &out), CL_EPROTO);
	assert_string_equal(cl_http_mark_reason(m), "bare LF");
	assert_int_equal(cl_http_mark_feed(m, (const uint8_t *)good, strlen(good), &out), CL_EPROTO);
	assert_int_equal(cl_http_mark_feed(m, NULL, 0, &out), CL_EPROTO);
	assert_int_equal(out.len, 0);
	assert_false(cl_http_mark_idle(m));
	cl_http_mark_free(m);
	/* an output buffer too small is the caller's: refused, sticky, no partial head */
	assert_int_equal(cl_http_mark_new(NAME, VALUE, &m), CL_OK);
	cl_buf small;
	cl_buf_init(&small, 30);
	assert_int_equal(cl_http_mark_feed(m, (const uint8_t *)good, strlen(good), &small), CL_ETOOBIG);
	assert_string_equal(cl_http_mark_reason(m), "output buffer full");
	assert_int_equal(small.len, 0);
	assert_int_equal(cl_http_mark_feed(m, (const uint8_t *)good, strlen(good), &out), CL_ETOOBIG);
	cl_http_mark_free(m);
	cl_buf_free(&small);
	cl_buf_free(&out);
	cl_http_mark_free(NULL);
}

/* cl_http_mark_max_out holds for the densest stream: minimal pipelined heads. */
static void output_bound(void **state)
{
	char in[16 * 64 + 1];
	for (int i = 0; i < 64; i++)
		memcpy(in + 16 * i, "A / HTTP/1.1\r\n\r\n", 16);
	result r = mark_every_split(in, sizeof(in) - 1); /* feed_cuts asserts the bound on every feed */
	assert_int_equal(r.st.requests, 64);
	assert_int_equal(r.len, 64 * (16 + strlen(MARK)));
	result_free(&r);
	cl_http_mark *m;
	assert_int_equal(cl_http_mark_new(NAME, VALUE, &m), CL_OK);
	assert_int_equal(cl_http_mark_max_out(m, 16), 16 + 2 * strlen(MARK));
	assert_int_equal(cl_http_mark_max_out(m, SIZE_MAX), SIZE_MAX);
	/* A buffered head is one head, whatever its size: with a head of
	 * 16383 bytes buffered, one more byte can add one mark, not 1,024 (a
	 * data plane sizes its buffer as head bound + one mark line). */
	cl_buf out;
	cl_buf_init(&out, 1 << 16);
	static char big[CL_HTTP_MARK_HEAD_MAX];
	const char *h = "GET / HTTP/1.1\r\nX-Big: ";
	memset(big, 'a', sizeof(big));
	memcpy(big, h, strlen(h));
	memcpy(big + sizeof(big) - 4, "\r\n\r", 3);
	assert_int_equal(cl_http_mark_feed(m, (const uint8_t *)big, sizeof(big) - 1, &out), CL_OK);
	assert_int_equal(out.len, 0);
	assert_int_equal(cl_http_mark_max_out(m, 1), sizeof(big) + strlen(MARK));
	assert_int_equal(cl_http_mark_feed(m, (const uint8_t *)"\n", 1, &out), CL_OK);
	assert_int_equal(out.len, sizeof(big) + strlen(MARK));
	cl_buf_free(&out);
	cl_http_mark_free(m);
}

static void create_checks(void **state)
{
	cl_http_mark *m = (cl_http_mark *)1;
	const char *bad_names[] = {"",		    "X Mark",	 "X:Mark", "X-Mark\r\n", "X(Mark)",
				   "Content-Length", "content_length", "HOST",   "transfer-encoding", "Connection",
				   "Upgrade",	    "TE",	 "Trailer"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		assert_int_equal(cl_http_mark_new(bad_names[i], VALUE, &m), CL_EINVAL);
		assert_null(m);
	}
	char long_name[CL_HTTP_MARK_NAME_MAX + 2];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_int_equal(cl_http_mark_new(long_name, VALUE, &m), CL_EINVAL);
	long_name[CL_HTTP_MARK_NAME_MAX] = '\0';
	assert_int_equal(cl_http_mark_new(long_name, VALUE, &m), CL_OK);
	cl_http_mark_free(m);
	const char *bad_values[] = {"", " v", "v ", "\tv", "a\r\nX-Mark: b", "a\nb", "\x80", "a\x7f"};
	for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++)
		assert_int_equal(cl_http_mark_new(NAME, bad_values[i], &m), CL_EINVAL);
	char long_value[CL_HTTP_MARK_VALUE_MAX + 2];
	memset(long_value, 'v', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	assert_int_equal(cl_http_mark_new(NAME, long_value, &m), CL_EINVAL);
	assert_int_equal(cl_http_mark_new(NULL, VALUE, &m), CL_EINVAL);
	assert_int_equal(cl_http_mark_new(NAME, NULL, &m), CL_EINVAL);
	/* a name of its own case is written as given */
	assert_int_equal(cl_http_mark_new("x-Client-TLS", "a b", &m), CL_OK);
	cl_buf out;
	cl_buf_init(&out, 256);
	const char in[] = "GET / HTTP/1.1\r\nX-CLIENT-tls: 1\r\n\r\n", want[] = "GET / HTTP/1.1\r\nx-Client-TLS: a b\r\n\r\n";
	assert_int_equal(cl_http_mark_feed(m, (const uint8_t *)in, strlen(in), &out), CL_OK);
	assert_int_equal(out.len, strlen(want));
	assert_memory_equal(out.data, want, out.len);
	cl_buf_free(&out);
	cl_http_mark_free(m);
}

static void mark_values(void **state)
{
	char v[CL_HTTP_MARK_VALUE_MAX + 1];
	assert_int_equal(cl_http_mark_value("TLSv1.3", "TLS_AES_128_GCM_SHA256", NULL, v, sizeof(v)), CL_OK);
	assert_string_equal(v, VALUE);
	assert_int_equal(cl_http_mark_value("TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", "", v, sizeof(v)), CL_OK);
	assert_string_equal(v, "TLSv1.2; ECDHE-ECDSA-AES128-GCM-SHA256; -");
	assert_int_equal(cl_http_mark_value("TLSv1.3", "C", "CN=Jo Doe;x%\r\n\xc3\xa9,O=A", v, sizeof(v)), CL_OK);
	assert_string_equal(v, "TLSv1.3; C; CN=Jo%20Doe%3Bx%25%0D%0A%C3%A9,O=A");
	/* every value it makes is a valid mark value */
	cl_http_mark *m;
	assert_int_equal(cl_http_mark_new(NAME, v, &m), CL_OK);
	cl_http_mark_free(m);
	assert_int_equal(cl_http_mark_value("TLS v1.3", "C", NULL, v, sizeof(v)), CL_EINVAL);
	assert_int_equal(cl_http_mark_value("TLSv1.3", "C;D", NULL, v, sizeof(v)), CL_EINVAL);
	assert_int_equal(cl_http_mark_value("", "C", NULL, v, sizeof(v)), CL_EINVAL);
	assert_int_equal(cl_http_mark_value("TLSv1.3", NULL, NULL, v, sizeof(v)), CL_EINVAL);
	/* exactly fits, one short */
	assert_int_equal(cl_http_mark_value("P", "C", "id", v, 10), CL_OK);
	assert_string_equal(v, "P; C; id");
	assert_int_equal(cl_http_mark_value("P", "C", "id", v, 9), CL_OK);
	assert_int_equal(cl_http_mark_value("P", "C", "id", v, 8), CL_ETOOBIG);
	char big[3000];
	memset(big, '\x01', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char huge[4 * sizeof(big)];
	assert_int_equal(cl_http_mark_value("P", "C", big, huge, sizeof(huge)), CL_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(marks_a_request),    cmocka_unit_test(spoofed_header_stripped),
		cmocka_unit_test(pipelined_requests), cmocka_unit_test(fake_head_in_body),
		cmocka_unit_test(head_bound),	      cmocka_unit_test(refused),
		cmocka_unit_test(sticky_errors),      cmocka_unit_test(output_bound),
		cmocka_unit_test(create_checks),      cmocka_unit_test(mark_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
