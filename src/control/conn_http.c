/* conn_http.c — the byte-level parts of connection admission (conn.h):
 * where a request's headers end, and the JSON replacing an error page that
 * libevent wrote on its own.
 *
 * Why rewrite libevent's pages rather than check its limits first: evhttp
 * answers a malformed request line, a bad header, a bad Content-Length, an
 * oversized header block or body and an unknown Expect with an HTML page,
 * from code that never calls the application. Pre-empting every one of those
 * checks would mean parsing HTTP a second time, in front of the parser we
 * rely on. Instead the connection's output buffer is watched: a response
 * written while no request of ours is being served can only be one of those
 * pages (evhttp_send_page_: Content-Type text/html, Connection: close), and
 * it is replaced, still in the buffer, by the JSON error with the right
 * status. The one thing the page cannot tell is whether a 400 was for an
 * oversized header block; the connection's header scan (below) knows.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/conn.h"

size_t ctl_head_scan_feed(ctl_head_scan *s, const unsigned char *p, size_t n)
{
	size_t i = 0;
	while (i < n && !s->done) {
		unsigned char ch = p[i++];
		if (ch == '\n') {
			/* libevent's EVBUFFER_EOL_CRLF: "\n", or "\r\n" with the "\r"
			 * stripped. An empty line after the request line ends the block. */
			if (s->cur == 0 && s->lines > 0)
				s->done = true;
			s->lines++;
			s->cur = 0;
			s->cr = false;
		} else if (ch == '\r') {
			if (s->cr) /* an earlier "\r" not followed by "\n": line content */
				s->cur++;
			s->cr = true;
		} else {
			s->cur += s->cr ? 2 : 1;
			s->cr = false;
		}
	}
	s->bytes += i;
	return i;
}

/* memmem for a literal. */
static const unsigned char *find(const unsigned char *b, size_t n, const char *lit)
{
	return memmem(b, n, lit, strlen(lit));
}

int ctl_error_page_parse(const unsigned char *buf, size_t len, ctl_error_page *page)
{
	size_t skip = 0;
	/* An interim "100 Continue" (sent before a body) may still be queued. */
	if (len >= 13 && (memcmp(buf, "HTTP/1.1 100 ", 13) == 0 || memcmp(buf, "HTTP/1.0 100 ", 13) == 0)) {
		const unsigned char *e = find(buf, len, "\r\n\r\n");
		if (!e)
			return 0;
		skip = (size_t)(e + 4 - buf);
	}
	const unsigned char *b = buf + skip;
	size_t n = len - skip;
	if (n < 13 || memcmp(b, "HTTP/1.", 7) != 0 || (b[7] != '0' && b[7] != '1') || b[8] != ' ' ||
	    !isdigit(b[9]) || !isdigit(b[10]) || !isdigit(b[11]) || b[12] != ' ')
		return 0;
	int status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	const unsigned char *he = find(b, n, "\r\n\r\n");
	if (!he)
		return 0;
	size_t hlen = (size_t)(he + 4 - b);
	/* Only evhttp_send_page_ sends text/html: the API never does. */
	if (!find(b, hlen, "\r\nContent-Type: text/html\r\n"))
		return 0;
	const unsigned char *cl = find(b, hlen, "\r\nContent-Length: ");
	if (!cl)
		return 0;
	cl += strlen("\r\nContent-Length: ");
	size_t body = 0, digits = 0;
	while (cl < he && isdigit(*cl) && digits < 6) {
		body = body * 10 + (size_t)(*cl++ - '0');
		digits++;
	}
	if (digits == 0 || cl[0] != '\r' || hlen + body != n)
		return 0;
	page->skip = skip;
	page->len = n;
	page->status = status;
	return 1;
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 417:
		return "Expectation Failed";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	default:
		return status >= 500 ? "Internal Server Error" : "Error";
	}
}

int ctl_error_page_json(int page_status, bool header_overflow, const ctl_conn_limits *lim, struct evbuffer *out)
{
	int status = page_status;
	cl_err code = page_status >= 500 ? CL_EINTERNAL : CL_EINVAL;
	char msg[160];
	snprintf(msg, sizeof(msg), "%s", reason_phrase(page_status));
	switch (page_status) {
	case 400:
		if (header_overflow) {
			status = 431;
			code = CL_EHEADERS;
			snprintf(msg, sizeof(msg), "request line and headers exceed %zu bytes", lim->max_header_bytes);
		} else {
			snprintf(msg, sizeof(msg), "malformed HTTP request");
		}
		break;
	case 413:
		code = CL_ETOOBIG;
		snprintf(msg, sizeof(msg), "request body exceeds %zu bytes: send larger data as an upload in parts",
			 lim->max_body_bytes);
		break;
	case 417:
		snprintf(msg, sizeof(msg), "unsupported Expect header: only 100-continue is understood");
		break;
	case 501:
		/* evhttp answers 501 for a method it does not know (worker.c lets
		 * every known one through to the route table, which answers 405
		 * with Allow): no path of this server takes it. */
		code = CL_ENOTIMPL;
		snprintf(msg, sizeof(msg), "request method not implemented: the API uses GET, POST, PUT and DELETE");
		break;
	default:
		break;
	}
	json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", cl_err_name(code), "message", msg);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (!s)
		return -1;
	int rc = evbuffer_add_printf(out,
				     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
				     "Connection: close\r\nContent-Length: %zu\r\n\r\n%s\n",
				     status, reason_phrase(status), strlen(s) + 1, s);
	free(s);
	return rc < 0 ? -1 : status;
}
