/* http_mark.c — HTTP/1.1 request head marking (http_mark.h, docs/tls.md
 * "Header marking").
 *
 * One state machine over the client's byte stream. A head (or a chunked
 * body's trailer section) is scanned byte by byte as it arrives — CRLF
 * pairing checked, the bound enforced — and buffered; once its empty line
 * arrives it is parsed whole (every line then ends in CRLF, so the parse
 * needs no more bounds than the buffer's) and written out marked. Bodies
 * never enter the buffer: Content-Length bytes and chunk data are copied
 * through, chunk-size lines checked byte by byte as they pass.
 */
#include "tls/http_mark.h"

#include <stdlib.h>
#include <string.h>

/* The shortest possible head, "A / HTTP/1.1\r\n\r\n": the most heads n new
 * bytes can complete is n / HEAD_MIN + 1 — the one buffered (at most one
 * head or trailer is) and then one per HEAD_MIN bytes (cl_http_mark_max_out). */
#define HEAD_MIN 16
#define CHUNK_LINE_MAX 4096 /* chunk size and extensions */
#define CHUNK_DIGITS_MAX 16 /* hex digits of a chunk size (a uint64_t) */
#define LENGTH_DIGITS_MAX 18 /* decimal digits of a Content-Length */

typedef enum state {
	ST_HEAD,	    /* buffering a request head */
	ST_LENGTH,	    /* Content-Length body bytes */
	ST_CHUNK_SIZE,	    /* first hex digit of a chunk size */
	ST_CHUNK_SIZE_MORE, /* more digits, ';', BWS or CR */
	ST_CHUNK_BWS,	    /* blanks after the size: ';' must follow */
	ST_CHUNK_EXT,	    /* chunk extensions up to CR */
	ST_CHUNK_LF,	    /* the LF of the chunk line */
	ST_CHUNK_DATA,	    /* chunk data bytes */
	ST_CHUNK_DATA_CR,   /* the CRLF after chunk data */
	ST_CHUNK_DATA_LF,
	ST_TRAILER, /* buffering the trailer section after the last chunk */
	ST_FAILED,
} state;

struct cl_http_mark {
	char name[CL_HTTP_MARK_NAME_MAX + 1];
	size_t name_len;
	uint8_t *line; /* "NAME: value\r\n" */
	size_t line_len;
	cl_buf head; /* the head or trailer being buffered (max CL_HTTP_MARK_HEAD_MAX) */
	state st;
	/* head scanner */
	int prev_cr;	   /* the last byte was CR */
	size_t line_bytes; /* bytes of the current line before its CR */
	int nonempty;	   /* a non-empty line has begun (empty lines before it are skipped) */
	/* bodies */
	uint64_t remaining; /* Content-Length bytes or chunk data bytes left */
	unsigned digits;    /* hex digits of the chunk size so far */
	size_t chunk_line;  /* bytes of the current chunk line */
	cl_err err;
	const char *reason;
	cl_http_mark_stats stats;
};

/* What a head's fields say about its body. */
typedef struct framing {
	int http10;
	int cl_seen;
	uint64_t cl;
	int te_seen;
	int te_last_chunked; /* the last coding listed so far is chunked */
	unsigned te_chunked; /* how many times chunked is listed */
} framing;

static cl_err refuse(cl_http_mark *m, cl_err e, const char *reason)
{
	m->st = ST_FAILED;
	m->err = e;
	m->reason = reason;
	return cl_errorf(e, "http mark: %s", reason);
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_hex(uint8_t c, unsigned *v)
{
	if (c >= '0' && c <= '9')
		*v = (unsigned)(c - '0');
	else if (c >= 'a' && c <= 'f')
		*v = (unsigned)(c - 'a' + 10);
	else if (c >= 'A' && c <= 'F')
		*v = (unsigned)(c - 'A' + 10);
	else
		return 0;
	return 1;
}

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* a[0..n) equals the NUL-terminated lower-case s, ignoring case. */
static int ieq(const uint8_t *a, size_t n, const char *s)
{
	size_t k = strlen(s);
	if (n != k)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != (uint8_t)s[i])
			return 0;
	return 1;
}

/* A field name that reaches the guest as the mark's name: case-insensitive,
 * '-' and '_' alike (CGI-style servers turn both into '_'). */
static int is_mark_name(const cl_http_mark *m, const uint8_t *a, size_t n)
{
	if (n != m->name_len)
		return 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t x = lower(a[i]), y = lower((uint8_t)m->name[i]);
		if (x == '_')
			x = '-';
		if (y == '_')
			y = '-';
		if (x != y)
			return 0;
	}
	return 1;
}

/* Names the marker must not take: removing every field so named (and adding
 * one) would change the request's framing, routing or hop-by-hop handling. */
static const char *const reserved_names[] = {"content-length", "transfer-encoding", "host",    "connection",
					     "upgrade",	       "te",		    "trailer", "keep-alive",
					     "proxy-connection", "expect", "proxy-authenticate", "proxy-authorization"};

cl_err cl_http_mark_name_check(const char *name)
{
	CL_ENSURE(name, CL_EINVAL, "http mark: no header name");
	size_t nl = strlen(name);
	CL_ENSURE(nl >= 1 && nl <= CL_HTTP_MARK_NAME_MAX, CL_EINVAL, "http mark: header name of 1..%d bytes",
		  CL_HTTP_MARK_NAME_MAX);
	for (size_t i = 0; i < nl; i++)
		CL_ENSURE(is_tchar((uint8_t)name[i]), CL_EINVAL, "http mark: header name is not an HTTP token");
	for (size_t i = 0; i < sizeof(reserved_names) / sizeof(reserved_names[0]); i++) {
		cl_http_mark probe = {.name_len = strlen(reserved_names[i])};
		memcpy(probe.name, reserved_names[i], probe.name_len);
		CL_ENSURE(!is_mark_name(&probe, (const uint8_t *)name, nl), CL_EINVAL,
			  "http mark: %s cannot be the marking header", reserved_names[i]);
	}
	return CL_OK;
}

cl_err cl_http_mark_new(const char *name, const char *value, cl_http_mark **out)
{
	*out = NULL;
	CL_ENSURE(name && value, CL_EINVAL, "http mark: no header name or value");
	CL_GUARD(cl_http_mark_name_check(name));
	size_t nl = strlen(name), vl = strlen(value);
	CL_ENSURE(vl >= 1 && vl <= CL_HTTP_MARK_VALUE_MAX, CL_EINVAL, "http mark: value of 1..%d bytes",
		  CL_HTTP_MARK_VALUE_MAX);
	for (size_t i = 0; i < vl; i++) {
		uint8_t c = (uint8_t)value[i];
		CL_ENSURE(c == '\t' || (c >= 0x20 && c <= 0x7e), CL_EINVAL, "http mark: value is not printable ASCII");
	}
	CL_ENSURE(value[0] != ' ' && value[0] != '\t' && value[vl - 1] != ' ' && value[vl - 1] != '\t', CL_EINVAL,
		  "http mark: value starts or ends with a blank");
	cl_http_mark *m = calloc(1, sizeof(*m));
	if (!m)
		return CL_ENOMEM;
	m->line_len = nl + 2 + vl + 2;
	m->line = malloc(m->line_len);
	if (!m->line) {
		free(m);
		return CL_ENOMEM;
	}
	memcpy(m->name, name, nl);
	m->name_len = nl;
	memcpy(m->line, name, nl);
	memcpy(m->line + nl, ": ", 2);
	memcpy(m->line + nl + 2, value, vl);
	memcpy(m->line + nl + 2 + vl, "\r\n", 2);
	cl_buf_init(&m->head, CL_HTTP_MARK_HEAD_MAX);
	m->st = ST_HEAD;
	*out = m;
	return CL_OK;
}

void cl_http_mark_free(cl_http_mark *m)
{
	if (!m)
		return;
	cl_buf_free(&m->head);
	free(m->line);
	explicit_bzero(m, sizeof(*m));
	free(m);
}

const char *cl_http_mark_reason(const cl_http_mark *m)
{
	return m->reason;
}

int cl_http_mark_idle(const cl_http_mark *m)
{
	return m->st == ST_HEAD && m->head.len == 0;
}

void cl_http_mark_get_stats(const cl_http_mark *m, cl_http_mark_stats *st)
{
	*st = m->stats;
}

size_t cl_http_mark_max_out(const cl_http_mark *m, size_t len)
{
	size_t pending, heads, marks, total;
	if (__builtin_add_overflow(m->head.len, len, &pending))
		return SIZE_MAX;
	heads = len / HEAD_MIN + 1; /* the buffered bytes are part of at most one head */
	if (__builtin_mul_overflow(heads, m->line_len, &marks) || __builtin_add_overflow(pending, marks, &total))
		return SIZE_MAX;
	return total;
}

/* ---- heads and trailers, once buffered whole ---- */

/* method SP request-target SP HTTP/1.<digit>: l[0..n) without its CRLF. */
static cl_err request_line(cl_http_mark *m, const uint8_t *l, size_t n, framing *fr)
{
	size_t i = 0;
	while (i < n && is_tchar(l[i]))
		i++;
	if (i == 0 || i == n || l[i] != ' ')
		return refuse(m, CL_EPROTO, "invalid request method");
	if (i == 7 && memcmp(l, "CONNECT", 7) == 0)
		return refuse(m, CL_EPROTO, "CONNECT is not carried");
	size_t t = ++i;
	while (i < n && l[i] >= 0x21 && l[i] <= 0x7e)
		i++;
	if (i == t || i == n || l[i] != ' ')
		return refuse(m, CL_EPROTO, "invalid request target");
	i++;
	if (n - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 || l[i + 7] < '0' || l[i + 7] > '9')
		return refuse(m, CL_EPROTO, "not an HTTP/1.x request line");
	fr->http10 = l[i + 7] == '0';
	return CL_OK;
}

static cl_err content_length(cl_http_mark *m, const uint8_t *v, size_t n, framing *fr)
{
	if (n == 0 || n > LENGTH_DIGITS_MAX)
		return refuse(m, CL_EPROTO, "invalid Content-Length");
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return refuse(m, CL_EPROTO, "invalid Content-Length");
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (fr->cl_seen && fr->cl != x)
		return refuse(m, CL_EPROTO, "differing Content-Lengths");
	fr->cl_seen = 1;
	fr->cl = x;
	return CL_OK;
}

/* A comma-separated list of codings (empty elements allowed, RFC 9110 5.6.1),
 * each a bare token: parameters are refused. */
static cl_err transfer_encoding(cl_http_mark *m, const uint8_t *v, size_t n, framing *fr)
{
	fr->te_seen = 1;
	size_t i = 0;
	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		size_t s = i;
		while (i < n && is_tchar(v[i]))
			i++;
		if (i > s) {
			int chunked = ieq(v + s, i - s, "chunked");
			fr->te_last_chunked = chunked;
			fr->te_chunked += (unsigned)chunked;
		}
		while (i < n && (v[i] == ' ' || v[i] == '\t'))
			i++;
		if (i < n && v[i] != ',')
			return refuse(m, CL_EPROTO, "invalid Transfer-Encoding");
		i++;
	}
	return CL_OK;
}

/* One field line l[0..n) (no CRLF) of a head (fr set) or a trailer (fr
 * NULL): checked, then dropped or copied to out. */
static cl_err field_line(cl_http_mark *m, const uint8_t *l, size_t n, framing *fr, cl_buf *out)
{
	if (n > 0 && (l[0] == ' ' || l[0] == '\t'))
		return refuse(m, CL_EPROTO, "obsolete line folding");
	size_t k = 0;
	while (k < n && is_tchar(l[k]))
		k++;
	if (k == 0 || k == n || l[k] != ':')
		return refuse(m, CL_EPROTO, "invalid field name");
	for (size_t i = k + 1; i < n; i++)
		if (l[i] != '\t' && (l[i] < 0x20 || l[i] == 0x7f))
			return refuse(m, CL_EPROTO, "control character in a field value");
	size_t vs = k + 1, ve = n;
	while (vs < ve && (l[vs] == ' ' || l[vs] == '\t'))
		vs++;
	while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
		ve--;
	if (is_mark_name(m, l, k)) {
		m->stats.stripped++;
		return CL_OK;
	}
	if (fr && ieq(l, k, "upgrade")) {
		m->stats.upgrades++;
		return CL_OK;
	}
	if (fr && ieq(l, k, "content-length"))
		CL_GUARD(content_length(m, l + vs, ve - vs, fr));
	else if (fr && ieq(l, k, "transfer-encoding"))
		CL_GUARD(transfer_encoding(m, l + vs, ve - vs, fr));
	CL_GUARD(cl_buf_put(out, l, n));
	return cl_buf_put(out, "\r\n", 2);
}

/* The lines of h[p..n) up to the empty line, every one ending in CRLF (the
 * scanner made sure of it). */
static cl_err field_lines(cl_http_mark *m, const uint8_t *h, size_t n, size_t p, framing *fr, cl_buf *out)
{
	for (;;) {
		const uint8_t *cr = memchr(h + p, '\r', n - p);
		if (!cr)
			return refuse(m, CL_EINTERNAL, "head without its end");
		size_t eol = (size_t)(cr - h);
		if (eol == p)
			break;
		CL_GUARD(field_line(m, h + p, eol - p, fr, out));
		p = eol + 2;
	}
	return cl_buf_put(out, "\r\n", 2);
}

/* The buffered head: written out marked, and the body's framing chosen. */
static cl_err emit_head(cl_http_mark *m, cl_buf *out)
{
	const uint8_t *h = m->head.data;
	size_t n = m->head.len, p = 0;
	framing fr = {0};
	while (p + 1 < n && h[p] == '\r' && h[p + 1] == '\n')
		p += 2; /* empty lines before the request line */
	const uint8_t *cr = memchr(h + p, '\r', n - p);
	if (!cr)
		return refuse(m, CL_EINTERNAL, "head without its end");
	size_t eol = (size_t)(cr - h);
	CL_GUARD(request_line(m, h + p, eol - p, &fr));
	CL_GUARD(cl_buf_put(out, h + p, eol - p + 2));
	CL_GUARD(cl_buf_put(out, m->line, m->line_len));
	CL_GUARD(field_lines(m, h, n, eol + 2, &fr, out));
	if (fr.te_seen) {
		if (fr.cl_seen)
			return refuse(m, CL_EPROTO, "Transfer-Encoding with Content-Length");
		if (fr.http10)
			return refuse(m, CL_EPROTO, "Transfer-Encoding in an HTTP/1.0 request");
		if (!fr.te_last_chunked || fr.te_chunked != 1)
			return refuse(m, CL_EPROTO, "Transfer-Encoding not ending in one chunked");
		m->st = ST_CHUNK_SIZE;
		m->chunk_line = 0;
	} else if (fr.cl_seen && fr.cl > 0) {
		m->st = ST_LENGTH;
		m->remaining = fr.cl;
	} else {
		m->st = ST_HEAD;
	}
	m->stats.requests++;
	return CL_OK;
}

/* Scans in[0..len) as part of a head (or trailer): CR only before LF, LF
 * only after CR, the bound; buffers what it scanned. *done when the empty
 * line that ends it arrived (*used counts up to its LF). */
static cl_err scan_head(cl_http_mark *m, const uint8_t *in, size_t len, size_t *used, int *done)
{
	size_t i = 0;
	*done = 0;
	for (; i < len; i++) {
		uint8_t c = in[i];
		if (m->head.len + i >= CL_HTTP_MARK_HEAD_MAX)
			return refuse(m, CL_EHEADERS,
				      m->st == ST_TRAILER ? "trailer section over 16 KiB" : "request head over 16 KiB");
		if (m->prev_cr) {
			if (c != '\n')
				return refuse(m, CL_EPROTO, "bare CR");
			m->prev_cr = 0;
			if (m->line_bytes == 0 && (m->nonempty || m->st == ST_TRAILER)) {
				*done = 1;
				i++;
				break;
			}
			m->line_bytes = 0;
		} else if (c == '\r') {
			m->prev_cr = 1;
		} else if (c == '\n') {
			return refuse(m, CL_EPROTO, "bare LF");
		} else {
			m->line_bytes++;
			m->nonempty = 1;
		}
	}
	*used = i;
	return cl_buf_put(&m->head, in, i);
}

/* Between heads an idle connection keeps at most HEAD_KEEP bytes of buffer
 * (thousands of idle keep-alive connections must stay cheap). */
#define HEAD_KEEP 4096

static void scanner_reset(cl_http_mark *m)
{
	if (m->head.cap > HEAD_KEEP)
		cl_buf_free(&m->head);
	else
		cl_buf_reset(&m->head);
	m->prev_cr = 0;
	m->line_bytes = 0;
	m->nonempty = 0;
}

/* ---- chunked bodies ---- */

/* One byte of a chunk-size line or of the CRLF after chunk data. */
static cl_err chunk_byte(cl_http_mark *m, uint8_t c)
{
	unsigned v;
	if (m->st >= ST_CHUNK_SIZE && m->st <= ST_CHUNK_LF && ++m->chunk_line > CHUNK_LINE_MAX)
		return refuse(m, CL_EPROTO, "chunk line too long");
	switch (m->st) {
	case ST_CHUNK_SIZE:
		if (!is_hex(c, &v))
			return refuse(m, CL_EPROTO, "invalid chunk size");
		m->remaining = v;
		m->digits = 1;
		m->st = ST_CHUNK_SIZE_MORE;
		return CL_OK;
	case ST_CHUNK_SIZE_MORE:
		if (is_hex(c, &v)) {
			if (m->digits == CHUNK_DIGITS_MAX)
				return refuse(m, CL_EPROTO, "chunk size too long");
			m->remaining = m->remaining * 16 + v;
			m->digits++;
		} else if (c == ';') {
			m->st = ST_CHUNK_EXT;
		} else if (c == ' ' || c == '\t') {
			m->st = ST_CHUNK_BWS;
		} else if (c == '\r') {
			m->st = ST_CHUNK_LF;
		} else {
			return refuse(m, CL_EPROTO, c == '\n' ? "bare LF" : "invalid chunk size");
		}
		return CL_OK;
	case ST_CHUNK_BWS:
		if (c == ';')
			m->st = ST_CHUNK_EXT;
		else if (c != ' ' && c != '\t')
			return refuse(m, CL_EPROTO, "invalid chunk extension");
		return CL_OK;
	case ST_CHUNK_EXT:
		if (c == '\r')
			m->st = ST_CHUNK_LF;
		else if (c == '\n')
			return refuse(m, CL_EPROTO, "bare LF");
		else if (!is_tchar(c) && c != '=' && c != ';' && c != ' ' && c != '\t')
			return refuse(m, CL_EPROTO, "invalid chunk extension");
		return CL_OK;
	case ST_CHUNK_LF:
		if (c != '\n')
			return refuse(m, CL_EPROTO, "bare CR");
		m->chunk_line = 0;
		if (m->remaining == 0) {
			m->st = ST_TRAILER;
			scanner_reset(m);
		} else {
			m->st = ST_CHUNK_DATA;
		}
		return CL_OK;
	case ST_CHUNK_DATA_CR:
		if (c != '\r')
			return refuse(m, CL_EPROTO, "chunk data not followed by CRLF");
		m->st = ST_CHUNK_DATA_LF;
		return CL_OK;
	case ST_CHUNK_DATA_LF:
		if (c != '\n')
			return refuse(m, CL_EPROTO, "chunk data not followed by CRLF");
		m->st = ST_CHUNK_SIZE;
		return CL_OK;
	default:
		return refuse(m, CL_EINTERNAL, "chunk state");
	}
}

/* ---- the stream ---- */

/* One step: consumes at least one byte of in[0..len) (len > 0). */
static cl_err step(cl_http_mark *m, const uint8_t *in, size_t len, size_t *used, cl_buf *out)
{
	int done;
	size_t n;
	switch (m->st) {
	case ST_HEAD:
	case ST_TRAILER:
		CL_GUARD(scan_head(m, in, len, used, &done));
		if (!done)
			return CL_OK;
		if (m->st == ST_HEAD) {
			CL_GUARD(emit_head(m, out));
		} else {
			CL_GUARD(field_lines(m, m->head.data, m->head.len, 0, NULL, out));
			m->st = ST_HEAD;
		}
		scanner_reset(m);
		return CL_OK;
	case ST_LENGTH:
	case ST_CHUNK_DATA:
		n = m->remaining < len ? (size_t)m->remaining : len;
		CL_GUARD(cl_buf_put(out, in, n));
		m->remaining -= n;
		m->stats.body_bytes += n;
		*used = n;
		if (m->remaining == 0)
			m->st = m->st == ST_LENGTH ? ST_HEAD : ST_CHUNK_DATA_CR;
		return CL_OK;
	default:
		CL_GUARD(chunk_byte(m, in[0]));
		m->stats.body_bytes++;
		*used = 1;
		return cl_buf_put(out, in, 1);
	}
}

cl_err cl_http_mark_feed(cl_http_mark *m, const uint8_t *in, size_t len, cl_buf *out)
{
	if (m->st == ST_FAILED)
		return cl_errorf(m->err, "http mark: %s", m->reason);
	size_t off = 0;
	while (off < len) {
		size_t mark = out->len, used = 0;
		cl_err e = step(m, in + off, len - off, &used, out);
		if (e != CL_OK) {
			/* nothing of the refused head reaches the guest */
			if (out->len > mark)
				explicit_bzero(out->data + mark, out->len - mark);
			out->len = mark;
			if (m->st != ST_FAILED)
				return refuse(m, e, e == CL_ETOOBIG ? "output buffer full" : "out of memory");
			return e;
		}
		off += used;
	}
	return CL_OK;
}

/* ---- the value ---- */

static int plain_part(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if ((uint8_t)*s < 0x21 || (uint8_t)*s > 0x7e || *s == ';')
			return 0;
	return 1;
}

cl_err cl_http_mark_value(const char *protocol, const char *cipher, const char *identity, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	cl_buf b;
	const char *s;
	cl_err err = CL_OK;
	if (cap)
		out[0] = '\0';
	CL_ENSURE(plain_part(protocol) && plain_part(cipher), CL_EINVAL, "http mark: bad protocol or cipher name");
	cl_buf_init(&b, cap ? cap - 1 : 0);
	if (b.max > CL_HTTP_MARK_VALUE_MAX)
		b.max = CL_HTTP_MARK_VALUE_MAX;
	CL_GUARD_OUT(err, cl_buf_printf(&b, "%s; %s; ", protocol, cipher));
	if (!identity || !*identity)
		CL_GUARD_OUT(err, cl_buf_put(&b, "-", 1));
	for (s = identity; s && *s; s++) {
		uint8_t c = (uint8_t)*s;
		if (c > 0x20 && c < 0x7f && c != '%' && c != ';') {
			CL_GUARD_OUT(err, cl_buf_put_u8(&b, c));
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			CL_GUARD_OUT(err, cl_buf_put(&b, e, 3));
		}
	}
	memcpy(out, b.data, b.len);
	out[b.len] = '\0';
out:
	if (err != CL_OK)
		err = cl_errorf(CL_ETOOBIG, "http mark: value longer than %zu bytes", b.max);
	cl_buf_free(&b);
	return err;
}
