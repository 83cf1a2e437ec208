/* conn.h — connection admission for the control plane's HTTPS listener.
 *
 * Every accepted connection gets a record here (conn.c) before evhttp sees a
 * byte of it; the record follows the connection through its life:
 *
 *   accept ─► HEADERS ─► BODY ─► SERVING ─► IDLE ─► HEADERS ...   (keep-alive)
 *      header timeout   body timeout  (none)  idle timeout
 *
 * - Caps: at most max_conns connections, at most max_per_addr from one
 *   source address (an IPv4 address, an IPv6 /64). A newcomer over its
 *   address's cap is closed. A newcomer over the global cap evicts the
 *   oldest connection that has sent nothing yet, else the oldest still in
 *   its first request (a dripping one), else the oldest idle keep-alive
 *   one; a connection whose request is being served (a held sync, a recv
 *   --wait) is never evicted. If nothing can be evicted the newcomer is
 *   closed.
 * - Timeouts: from accept (or from the first byte after an idle keep-alive
 *   wait) to the end of the request headers; from there to the end of the
 *   body; from the end of a reply to the next request's first byte. A
 *   request being served has no timeout here: a handler owns its reply.
 * - File descriptors: the listener is paused (not spun) while closing
 *   connections still hold their sockets, and when accept() fails with
 *   EMFILE/ENFILE; the RLIMIT_NOFILE soft limit is raised at start and the
 *   cap sized to fit under it.
 * - Errors libevent answers itself (malformed request, headers or body too
 *   large, Expect) are rewritten into Cloister's JSON error shape with the
 *   right status (431 for headers); see conn_http.c.
 *
 * A connection is closed by shutting its socket down: evhttp reads the end
 * of stream and frees the connection, and the record goes with it (an SSL
 * ex_data free callback). Single-threaded: everything runs on the loop.
 */
#ifndef CL_CONTROL_CONN_H
#define CL_CONTROL_CONN_H

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct ctl_server;

/* Descriptors kept outside connections: the store (database, WAL, shm),
 * uploads and images being written, logs, the event loop, the listener. */
#define CTL_FD_RESERVE 64
/* Connections being closed (socket shut down, not yet freed by evhttp) that
 * may be open on top of max_conns before accepting pauses. */
#define CTL_CONN_CLOSING_SLACK 32

typedef struct ctl_conn_limits {
	unsigned max_conns;        /* concurrent connections */
	unsigned max_per_addr;     /* from one IPv4 address or IPv6 /64 */
	unsigned header_timeout_s; /* accept / first byte -> end of request headers */
	unsigned body_timeout_s;   /* end of headers -> whole request body */
	unsigned idle_timeout_s;   /* end of a reply -> first byte of the next request */
	size_t max_header_bytes;   /* request line and headers (evhttp's limit too) */
	size_t max_body_bytes;     /* evhttp's body cap, named in its 413 */
} ctl_conn_limits;

typedef struct ctl_conns ctl_conns;
typedef struct ctl_conn ctl_conn;

/* Raises the RLIMIT_NOFILE soft limit to the hard limit (at most 1 << 20)
 * and fits lim->max_conns (and max_per_addr) under it, keeping
 * CTL_FD_RESERVE + CTL_CONN_CLOSING_SLACK descriptors aside; a max_conns of
 * 0 asks for the default (min(4096, what fits)). *soft and *hard receive
 * the limits in force. CL_EINVAL if fewer than 16 connections would fit.
 * *clamped is set when a requested max_conns had to be lowered. */
CL_MUST_CHECK cl_err ctl_conn_fit_limits(ctl_conn_limits *lim, unsigned long *soft, unsigned long *hard,
					 bool *clamped);

/* Creates the table for srv (srv->base, srv->http, srv->ssl must be set)
 * and installs it on srv->http: every accepted connection becomes a TLS
 * bufferevent with a record here. CL_ENOMEM on allocation failure. The
 * caller owns *out and releases it as described at ctl_conns_shutdown. */
CL_MUST_CHECK cl_err ctl_conns_new(struct ctl_server *srv, const ctl_conn_limits *lim, ctl_conns **out);

/* Binds and listens on addr:port itself (so a busy port is reported as
 * "cannot listen on ADDR:PORT: address in use"), hands the socket to
 * evhttp, and watches its listener (pause at the cap, EMFILE). *bound_port
 * receives the port (for port 0). CL_ESYS / CL_EINVAL with a detail. */
CL_MUST_CHECK cl_err ctl_conns_listen(ctl_conns *c, const char *addr, uint16_t port, int *bound_port);
/* The two halves of ctl_conns_listen, for cloister-control's supervisor,
 * which binds once and hands the socket to each worker it starts:
 * ctl_conns_bind makes the listening socket (non-blocking, close-on-exec;
 * the caller owns *fd); ctl_conns_listen_fd hands an owned listening socket
 * to evhttp (on failure the caller still owns fd). */
CL_MUST_CHECK cl_err ctl_conns_bind(const char *addr, uint16_t port, int *fd, int *bound_port);
CL_MUST_CHECK cl_err ctl_conns_listen_fd(ctl_conns *c, int fd);

/* Called by the dispatcher for every request evhttp hands it: marks the
 * connection as serving (no timeout, never evicted) until the reply is
 * sent. Returns false if the request did not come through an admitted TLS
 * connection (then the caller must refuse it). */
bool ctl_conn_on_request(ctl_conns *c, struct evhttp_request *req);

/* Appends the connection gauges and counters (Prometheus text) to out. */
void ctl_conn_metrics(const struct ctl_server *srv, struct evbuffer *out);

/* Shutdown, in this order: ctl_conns_shutdown (stops the listener's
 * management and frees the table's events while the base lives), then
 * evhttp_free and event_base_free (which runs the connections' last frees
 * and so the records' release), then ctl_conns_free. Both accept NULL. */
void ctl_conns_shutdown(ctl_conns *c);
void ctl_conns_free(ctl_conns *c);

/* ---- conn_http.c: the byte-level parts (pure, unit-tested and fuzzed) ---- */

/* Finds the end of a request's header block in a byte stream, fed in
 * pieces. A line ends at "\n" (a "\r" before it is ignored, as libevent
 * does); the block ends at the first empty line after the request line. */
typedef struct ctl_head_scan {
	size_t bytes;   /* bytes fed so far (up to and including the end) */
	size_t lines;   /* complete lines seen */
	size_t cur;     /* length of the current line, a final "\r" excluded */
	bool cr;        /* the last byte was a "\r" (stripped if "\n" follows) */
	bool done;      /* the empty line ending the headers was seen */
} ctl_head_scan;

/* Feeds n bytes; returns how many were consumed: all of them, or up to and
 * including the end of the headers (then s->done is set). */
size_t ctl_head_scan_feed(ctl_head_scan *s, const unsigned char *p, size_t n);

/* An error page libevent wrote on its own (evhttp_send_error): the bytes
 * at the start of an output buffer, after an optional "100 Continue"
 * interim response. */
typedef struct ctl_error_page {
	size_t skip;   /* bytes of a leading 100 Continue response to keep */
	size_t len;    /* bytes of the error page after skip */
	int status;    /* its status code */
} ctl_error_page;

/* Parses buf (len bytes). 1: buf holds exactly one complete libevent error
 * page (Content-Type text/html) after skip, *page filled. 0: not (yet) one
 * (incomplete, another response, or anything else): leave the bytes alone. */
int ctl_error_page_parse(const unsigned char *buf, size_t len, ctl_error_page *page);

/* The JSON error response replacing a libevent error page of status
 * page_status: status line, headers (Connection: close) and body
 * {"error":{"code":...,"message":...}} appended to out. header_overflow:
 * the request's headers were over lim->max_header_bytes (a 400 becomes
 * 431). Returns the status sent, or -1 on allocation failure. */
int ctl_error_page_json(int page_status, bool header_overflow, const ctl_conn_limits *lim, struct evbuffer *out);

#endif
