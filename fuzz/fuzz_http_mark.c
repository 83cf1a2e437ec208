/* fuzz_http_mark.c — arbitrary bytes as the client->guest stream of a secured
 * connection, through the header marking parser (src/tls/http_mark.c). The
 * stream is fed whole, in pieces cut where a hash of the input says, and (up
 * to 4 KiB) byte by byte, each piece from an exactly-sized heap copy (a read
 * past a piece is an ASan report). Checked on every input:
 *   - every split gives the same output, the same verdict and reason, the
 *     same counters; no feed appends more than cl_http_mark_max_out said;
 *   - the output, walked by a second, independent framing reader below,
 *     holds nothing but whole heads (never a partial one), each with the mark
 *     line right after its request line and no other field whose name is the
 *     mark's under any case or '-'/'_' spelling, bodies as their framing
 *     says, and trailer sections without the name; as many heads as the
 *     parser counted;
 *   - marking the output again gives the same output (nothing it forwards
 *     is refused or changed by a second pass). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/http_mark.h"

#define NAME "X-Mark"
#define MARK_LINE NAME ": TLSv1.3; TLS_AES_128_GCM_SHA256; CN=client"
#define VALUE (&MARK_LINE[sizeof(NAME) + 1])

static void check(int cond)
{
	if (!cond)
		abort();
}

typedef struct run {
	cl_err err;
	const char *reason;
	cl_buf out;
	cl_http_mark_stats st;
	int idle;
} run;

/* Feeds data cut before each offset in cuts[0..ncuts) (increasing). */
static void feed(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts, run *r)
{
	cl_http_mark *m;
	memset(r, 0, sizeof(*r));
	cl_buf_init(&r->out, SIZE_MAX / 2);
	check(cl_http_mark_new(NAME, VALUE, &m) == CL_OK);
	size_t from = 0;
	for (size_t k = 0; k <= ncuts; k++) {
		size_t to = k < ncuts ? cuts[k] : size, n = to - from;
		uint8_t *piece = malloc(n ? n : 1);
		check(piece != NULL);
		if (n)
			memcpy(piece, data + from, n);
		size_t before = r->out.len, bound = cl_http_mark_max_out(m, n);
		cl_err e = cl_http_mark_feed(m, n ? piece : NULL, n, &r->out);
		free(piece);
		check(r->out.len - before <= bound);
		if (r->err != CL_OK)
			check(e == r->err && r->out.len == before);
		else if (e != CL_OK)
			r->err = e;
		from = to;
	}
	r->reason = cl_http_mark_reason(m);
	check((r->reason == NULL) == (r->err == CL_OK));
	check(r->err == CL_OK || r->err == CL_EPROTO || r->err == CL_EHEADERS);
	cl_http_mark_get_stats(m, &r->st);
	r->idle = cl_http_mark_idle(m);
	cl_http_mark_free(m);
}

static void same(const run *a, const run *b)
{
	check(a->err == b->err && a->reason == b->reason && a->idle == b->idle);
	check(a->out.len == b->out.len && (a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0));
	check(memcmp(&a->st, &b->st, sizeof(a->st)) == 0);
}

/* ---- the independent reader of the output ---- */

static int lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* The field line l[0..n) is named like the mark (any case, '-' or '_'). */
static int named_mark(const uint8_t *l, size_t n)
{
	const char *want = "x-mark:";
	for (size_t i = 0; want[i]; i++) {
		if (i >= n)
			return 0;
		int c = lower(l[i]);
		if (c == '_')
			c = '-';
		if (c != want[i])
			return 0;
	}
	return 1;
}

/* Lines of o[p..e) (e just past the empty line's CRLF): CR only in CRLF, no
 * line starting with a blank, none named like the mark unless it is line
 * `allowed` and exactly the mark line. */
static void check_lines(const uint8_t *o, size_t p, size_t e, long allowed)
{
	long line = 0;
	while (p < e) {
		const uint8_t *cr = memchr(o + p, '\r', e - p);
		check(cr != NULL && (size_t)(cr - o) + 1 < e && cr[1] == '\n');
		size_t n = (size_t)(cr - o) - p;
		check(memchr(o + p, '\n', n) == NULL);
		check(n == 0 || (o[p] != ' ' && o[p] != '\t'));
		if (line == allowed)
			check(n == strlen(MARK_LINE) && memcmp(o + p, MARK_LINE, n) == 0);
		else
			check(!named_mark(o + p, n));
		p += n + 2;
		line++;
	}
}

/* The value of the field `name:` (lower case) in o[p..e), trimmed; 0 if none. */
static int field(const uint8_t *o, size_t p, size_t e, const char *name, const uint8_t **v, size_t *vn)
{
	size_t k = strlen(name);
	while (p < e) {
		const uint8_t *cr = memchr(o + p, '\r', e - p);
		size_t n = (size_t)(cr - o) - p;
		size_t i = 0;
		while (i < k && i < n && lower(o[p + i]) == name[i])
			i++;
		if (i == k && n > k && o[p + k] == ':') {
			size_t s = p + k + 1, t = p + n;
			while (s < t && (o[s] == ' ' || o[s] == '\t'))
				s++;
			while (t > s && (o[t - 1] == ' ' || o[t - 1] == '\t'))
				t--;
			*v = o + s;
			*vn = t - s;
			return 1;
		}
		p += n + 2;
	}
	return 0;
}

/* Walks the output; returns the number of heads. Stops where the output
 * ends: inside a body or a chunk line is fine, inside a head is not. */
static uint64_t check_output(const uint8_t *o, size_t len)
{
	uint64_t heads = 0;
	size_t p = 0;
	while (p < len) {
		const uint8_t *end = memmem(o + p, len - p, "\r\n\r\n", 4);
		check(end != NULL);
		size_t e = (size_t)(end - o) + 4;
		check_lines(o, p, e, 1);
		const uint8_t *v;
		size_t vn;
		uint64_t body = 0;
		int chunked = field(o, p, e, "transfer-encoding", &v, &vn);
		if (!chunked && field(o, p, e, "content-length", &v, &vn))
			for (size_t i = 0; i < vn; i++)
				body = body * 10 + (uint64_t)(v[i] - '0');
		heads++;
		p = e;
		if (!chunked) {
			if (body >= len - p)
				return heads;
			p += body;
			continue;
		}
		for (;;) { /* chunks */
			uint64_t n = 0;
			size_t s = p;
			for (; p < len && o[p] && strchr("0123456789abcdefABCDEF", o[p]); p++)
				n = n * 16 + (uint64_t)(o[p] <= '9' ? o[p] - '0' : lower(o[p]) - 'a' + 10);
			const uint8_t *lf = memchr(o + p, '\n', len - p);
			if (!lf)
				return heads;
			check(p > s && lf > o + p && lf[-1] == '\r');
			p = (size_t)(lf - o) + 1;
			if (n == 0)
				break;
			if (n >= len - p || len - p - n < 2)
				return heads;
			check(o[p + n] == '\r' && o[p + n + 1] == '\n');
			p += n + 2;
		}
		if (p == len)
			return heads;
		const uint8_t *tend = memmem(o + p, len - p, "\r\n", 2);
		check(tend != NULL); /* a trailer section is forwarded whole */
		if (tend != o + p) {
			tend = memmem(o + p, len - p, "\r\n\r\n", 4);
			check(tend != NULL);
			e = (size_t)(tend - o) + 4;
		} else {
			e = p + 2;
		}
		check_lines(o, p, e, -1);
		p = e;
	}
	return heads;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run whole, other;
	feed(data, size, NULL, 0, &whole);
	check(check_output(whole.out.data, whole.out.len) == whole.st.requests);
	/* pieces cut where a hash of the input says */
	size_t cuts[64], ncuts = 0;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	for (size_t at = 0; ncuts < 64;) {
		h ^= h << 13;
		h ^= h >> 17;
		h ^= h << 5;
		at += 1 + h % (h & 1 ? 7 : 400);
		if (at >= size)
			break;
		cuts[ncuts++] = at;
	}
	feed(data, size, cuts, ncuts, &other);
	same(&whole, &other);
	cl_buf_free(&other.out);
	if (size > 1 && size <= 4096) {
		size_t *each = malloc((size - 1) * sizeof(*each));
		check(each != NULL);
		for (size_t i = 0; i + 1 < size; i++)
			each[i] = i + 1;
		feed(data, size, each, size - 1, &other);
		free(each);
		same(&whole, &other);
		cl_buf_free(&other.out);
	}
	/* a second pass changes nothing */
	feed(whole.out.data, whole.out.len, NULL, 0, &other);
	check(other.err == CL_OK && other.out.len == whole.out.len);
	check(whole.out.len == 0 || memcmp(other.out.data, whole.out.data, whole.out.len) == 0);
	check(other.st.requests == whole.st.requests && other.st.stripped == whole.st.requests);
	cl_buf_free(&other.out);
	cl_buf_free(&whole.out);
	return 0;
}
