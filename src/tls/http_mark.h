/* http_mark.h — HTTP/1.1 request head marking for the host's TLS data plane
 * (docs/tls.md, "Header marking").
 *
 * With `--header NAME`, every request a client sends over a secured
 * connection reaches the guest with every field called NAME removed and one
 * `NAME: <protocol>; <cipher>; <identity or ->` added right after the request
 * line, so the guest can trust that field. The data plane feeds the
 * decrypted client->guest byte stream, in pieces of any size, to one
 * cl_http_mark per connection and forwards what it appends to `out`.
 *
 * The input is hostile: the parser is hand-written, bounded and strict. A
 * request head is buffered whole (at most CL_HTTP_MARK_HEAD_MAX bytes) and
 * checked before any byte of it is forwarded; bodies are passed through as
 * their framing says (Content-Length, or chunked: parsed for its framing
 * only, the chunks forwarded unchanged, the trailer section parsed like a
 * head and stripped of NAME too); then the next request (pipelining). The
 * framing is decided exactly as RFC 9112 says, and anything on which two
 * parsers could disagree about where a request ends is refused, because a
 * request smuggled inside another one's body would reach the guest unmarked:
 *   - lines end with CRLF only: a CR not followed by LF ("bare CR") and an LF
 *     not preceded by CR ("bare LF") are refused, in heads, chunk lines and
 *     trailers alike (RFC 9112 2.2 lets a server accept bare LF; we do not);
 *   - obsolete line folding, whitespace before a field's colon, a field
 *     name that is not a token, a control character in a field value;
 *   - a request line other than `method SP target SP HTTP/1.<digit>`, and
 *     CONNECT (a tunnel would carry requests past the parser);
 *   - a Content-Length that is not 1*DIGIT (at most 18 digits), two
 *     differing Content-Lengths (identical repeats pass), Transfer-Encoding
 *     with Content-Length, Transfer-Encoding in an HTTP/1.0 request, a
 *     coding list whose last coding is not chunked or that has chunked twice;
 *   - chunk sizes that are not 1..16 hex digits, chunk extensions with
 *     anything but token characters, '=', ';', SP and HTAB (no quoted
 *     strings), chunk data not followed by CRLF.
 * Empty lines before a request line are dropped (RFC 9112 2.2), counted in
 * the head's bound. Fields named like NAME are removed case-insensitively and
 * with '-' and '_' taken as equal (CGI-style servers map both to '_', so
 * `X_Mark` would reach them as `X-Mark`). `Upgrade` fields are removed too:
 * after a switch of protocol the bytes would no longer be HTTP and could not
 * be marked, so the guest is never asked to switch.
 *
 * The marking name may not be a framing or hop-by-hop field (Content-Length,
 * Transfer-Encoding, Host, Connection, Upgrade, TE, Trailer, Keep-Alive,
 * Proxy-Connection, Expect): removing those would change the request.
 *
 * Errors are sticky: after the first refusal every feed returns the same
 * error and appends nothing; the data plane answers 400 and closes.
 * Memory: the head buffer grows with the head (at most 32 KiB of storage for
 * a 16 KiB head) and shrinks back to at most 4 KiB between requests.
 */
#ifndef CL_TLS_HTTP_MARK_H
#define CL_TLS_HTTP_MARK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Longest request head (or trailer section), request line and the empty
 * line that ends it included; longer ones are refused (CL_EHEADERS). */
#define CL_HTTP_MARK_HEAD_MAX 16384
#define CL_HTTP_MARK_NAME_MAX 64    /* longest header name */
#define CL_HTTP_MARK_VALUE_MAX 1024 /* longest mark value */

typedef struct cl_http_mark cl_http_mark;

typedef struct cl_http_mark_stats {
	uint64_t requests;   /* request heads forwarded (each with the mark) */
	uint64_t stripped;   /* NAME fields removed (heads and trailers) */
	uint64_t upgrades;   /* Upgrade fields removed */
	uint64_t body_bytes; /* body bytes passed through (chunk framing included) */
} cl_http_mark_stats;

/* Checks a marking header name: an HTTP token of 1..CL_HTTP_MARK_NAME_MAX
 * bytes that is not (ignoring case, `-` and `_` alike) a framing, routing or
 * hop-by-hop field the marker could not remove safely (Content-Length,
 * Transfer-Encoding, Host, Connection, Upgrade, TE, Trailer, Keep-Alive,
 * Proxy-Connection, Expect, Proxy-Authenticate, Proxy-Authorization).
 * CL_EINVAL with a detail naming why. The control plane checks a policy's
 * header with it, so what it accepts the data plane takes. */
CL_MUST_CHECK cl_err cl_http_mark_name_check(const char *name);

/* Makes a parser that marks with `name` (an HTTP token: letters, digits and
 * !#$%&'*+-.^_`|~, 1..CL_HTTP_MARK_NAME_MAX bytes) and `value` (printable
 * ASCII, space and HTAB, no leading or trailing blank,
 * 1..CL_HTTP_MARK_VALUE_MAX bytes; cl_http_mark_value builds one). Both are
 * copied. CL_EINVAL for a bad name or value, CL_ENOMEM. The caller owns
 * *out (cl_http_mark_free). */
CL_MUST_CHECK cl_err cl_http_mark_new(const char *name, const char *value, cl_http_mark **out);

/* Wipes (the head buffer may hold a client's cookies) and frees. NULL is a no-op. */
void cl_http_mark_free(cl_http_mark *m);

/* Consumes in[0..len) (in may be NULL when len is 0) and appends to out what
 * goes to the guest: complete marked heads, body bytes, trailers. A partial
 * head or trailer stays buffered until it is complete. The output does not
 * depend on how the stream is split into feeds.
 * Fails with CL_EPROTO (a refusal above) or CL_EHEADERS (a head or trailer
 * section over CL_HTTP_MARK_HEAD_MAX), with cl_http_mark_reason saying why;
 * CL_ETOOBIG when out reaches its max (size it with cl_http_mark_max_out).
 * Every failure is sticky. On failure out keeps what was appended for the
 * requests before the refused point (correctly marked: it may be
 * forwarded). */
CL_MUST_CHECK cl_err cl_http_mark_feed(cl_http_mark *m, const uint8_t *in, size_t len, cl_buf *out);

/* The most bytes one feed of len bytes can append: the head buffered so far,
 * len, and a mark line for every head that can complete: the buffered one
 * and one per 16 new bytes (the shortest head). A data plane sizes its
 * buffer to hold a whole head plus one mark line, so a feed of 1 byte always
 * fits an empty buffer. */
size_t cl_http_mark_max_out(const cl_http_mark *m, size_t len);

/* Why the parser refused (a static string, never input bytes), or NULL. */
const char *cl_http_mark_reason(const cl_http_mark *m);

/* 1 when the stream stands between two requests (nothing buffered, no body
 * pending): a close here cuts no request. */
int cl_http_mark_idle(const cl_http_mark *m);

/* The counters so far. */
void cl_http_mark_get_stats(const cl_http_mark *m, cl_http_mark_stats *st);

/* Builds a mark value `<protocol>; <cipher>; <identity>` into out[0..cap)
 * (NUL-terminated). identity NULL or "" gives "-". Bytes of identity outside
 * printable ASCII, and '%' and ';', are written %XX so the three parts stay
 * apart and the value stays one header line. CL_EINVAL when protocol or
 * cipher is empty or not printable ASCII without ';', CL_ETOOBIG when the
 * result does not fit cap or CL_HTTP_MARK_VALUE_MAX. */
CL_MUST_CHECK cl_err cl_http_mark_value(const char *protocol, const char *cipher, const char *identity, char *out,
					size_t cap);

#endif
