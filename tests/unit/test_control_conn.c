/* Unit tests for the byte-level parts of connection admission
 * (src/control/conn_http.c): the end-of-headers scan fed in every split,
 * the recognition of libevent's own error pages (and of everything that is
 * not one), the JSON that replaces them, the rate-limited log
 * (src/common/log.c), and the descriptor-limit fitting (conn.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/util.h>
#include <jansson.h>

#include "common/log.h"
#include "control/conn.h"

static size_t scan_all(const char *s, size_t step, ctl_head_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	size_t n = strlen(s), used = 0;
	for (size_t off = 0; off < n && !sc->done; off += step) {
		size_t k = n - off < step ? n - off : step;
		used += ctl_head_scan_feed(sc, (const unsigned char *)s + off, k);
	}
	return used;
}

static void head_scan_finds_the_end(void **state)
{
	static const char *const ends[] = {
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		for (size_t step = 1; step <= strlen(ends[i]); step++) {
			ctl_head_scan sc;
			size_t used = scan_all(ends[i], step, &sc);
			assert_true(sc.done);
			assert_int_equal(used, strlen(ends[i]));
			assert_int_equal(sc.bytes, strlen(ends[i]));
		}
}

static void head_scan_stops_at_the_end(void **state)
{
	const char *req = "POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\n\r\n\r\n";
	ctl_head_scan sc = {0};
	size_t used = ctl_head_scan_feed(&sc, (const unsigned char *)req, strlen(req));
	assert_true(sc.done);
	assert_int_equal(used, strlen(req) - 4); /* the body is not headers */
	assert_int_equal(ctl_head_scan_feed(&sc, (const unsigned char *)"x", 1), 0);
}

static void head_scan_negative(void **state)
{
	static const char *const open_ends[] = {
		"",
		"GET / HTTP/1.1",
		"GET / HTTP/1.1\r\nHost: a\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\r",   /* the "\r" alone ends nothing */
		"GET / HTTP/1.1\r\nHost: a\r\r\n",   /* a line holding "\r" is not empty */
		"GET / HTTP/1.1\r\nX: \r\r\n\r\r\n", /* neither is one holding only "\r" */
	};
	for (size_t i = 0; i < sizeof(open_ends) / sizeof(open_ends[0]); i++)
		for (size_t step = 1; step <= strlen(open_ends[i]) + 1; step++) {
			ctl_head_scan sc;
			scan_all(open_ends[i], step, &sc);
			assert_false(sc.done);
			assert_int_equal(sc.bytes, strlen(open_ends[i]));
		}
	/* An empty first line is the request line (libevent refuses it), not the end. */
	ctl_head_scan sc;
	scan_all("\r\n", 1, &sc);
	assert_false(sc.done);
	scan_all("\r\n\r\n", 1, &sc);
	assert_true(sc.done);
}

#define PAGE(status, phrase)                                                                          \
	"HTTP/1.1 " status " " phrase "\r\nContent-Type: text/html\r\nConnection: close\r\n"              \
	"Date: Mon, 07 Dec 2026 00:23:39 GMT\r\nContent-Length: 94\r\n\r\n"                              \
	"<HTML><HEAD>\n<TITLE>400 Bad Request</TITLE>\n</HEAD><BODY>\n<H1>Bad Request</H1>\n</BODY></HTML>\n"

static int parse(const char *s, ctl_error_page *p)
{
	return ctl_error_page_parse((const unsigned char *)s, strlen(s), p);
}

static void error_page_recognised(void **state)
{
	ctl_error_page p;
	assert_int_equal(parse(PAGE("400", "Bad Request"), &p), 1);
	assert_int_equal(p.status, 400);
	assert_int_equal(p.skip, 0);
	assert_int_equal(p.len, strlen(PAGE("400", "Bad Request")));
	const char *cont = "HTTP/1.1 100 Continue\r\n\r\n" PAGE("413", "Request Entity Too Large");
	assert_int_equal(parse(cont, &p), 1);
	assert_int_equal(p.status, 413);
	assert_int_equal(p.skip, strlen("HTTP/1.1 100 Continue\r\n\r\n"));
	assert_int_equal(p.skip + p.len, strlen(cont));
}

static void error_page_negative(void **state)
{
	ctl_error_page p;
	const char *page = PAGE("400", "Bad Request");
	/* every prefix is incomplete */
	for (size_t n = 0; n < strlen(page); n++)
		assert_int_equal(ctl_error_page_parse((const unsigned char *)page, n, &p), 0);
	static const char *const not_pages[] = {
		/* our own replies: JSON */
		"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
		/* text/html with a charset is evhttp's default type for a handler's reply, not an error page */
		"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=ISO-8859-1\r\nContent-Length: 2\r\n\r\nhi",
		/* bytes after the page: something else follows, leave it */
		PAGE("400", "Bad Request") "HTTP/1.1",
		/* no Content-Length, a bad one, one too long */
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n\r\n",
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: x\r\n\r\n",
		"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 99999999999\r\n\r\n",
		/* not a status line */
		"HTTP/2.0 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 4x0 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n",
		/* only a 100 Continue */
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n",
	};
	for (size_t i = 0; i < sizeof(not_pages) / sizeof(not_pages[0]); i++)
		assert_int_equal(parse(not_pages[i], &p), 0);
}

/* Runs ctl_error_page_json and checks the reply's status line, headers and
 * that its body is exactly {"error":{"code":code,"message":...}}. */
static void check_json(int page_status, bool overflow, int want_status, const char *want_code)
{
	ctl_conn_limits lim = {.max_header_bytes = 16384, .max_body_bytes = 1048576};
	struct evbuffer *out = evbuffer_new();
	assert_non_null(out);
	assert_int_equal(ctl_error_page_json(page_status, overflow, &lim, out), want_status);
	size_t len = evbuffer_get_length(out);
	char *s = calloc(1, len + 1);
	assert_int_equal(evbuffer_remove(out, s, len), (int)len);
	char line[64];
	snprintf(line, sizeof(line), "HTTP/1.1 %d ", want_status);
	assert_memory_equal(s, line, strlen(line));
	assert_non_null(strstr(s, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(s, "\r\nConnection: close\r\n"));
	char *body = strstr(s, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	const char *cl = strstr(s, "Content-Length: ");
	assert_non_null(cl);
	assert_int_equal(strtoul(cl + 16, NULL, 10), strlen(body));
	json_error_t e;
	json_t *j = json_loads(body, 0, &e);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 1);
	json_t *err = json_object_get(j, "error");
	assert_int_equal(json_object_size(err), 2);
	assert_string_equal(json_string_value(json_object_get(err, "code")), want_code);
	assert_true(strlen(json_string_value(json_object_get(err, "message"))) > 0);
	json_decref(j);
	free(s);
	evbuffer_free(out);
}

static void error_page_json(void **state)
{
	check_json(400, false, 400, "invalid");
	check_json(400, true, 431, "headers_too_large");
	check_json(413, false, 413, "too_large");
	check_json(413, true, 413, "too_large"); /* a body over the cap, whatever the headers */
	check_json(417, false, 417, "invalid");
	check_json(501, false, 501, "not_implemented");
	check_json(503, false, 503, "internal");
}

/* stderr into a temporary file while a test logs (capture_end reads it back). */
typedef struct capture {
	char path[32];
	int fd, saved;
} capture;

static void capture_start(capture *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/cl-logrl-XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd >= 0);
	fflush(stderr);
	c->saved = dup(2);
	assert_true(dup2(c->fd, 2) >= 0);
}

/* Restores stderr; counts the lines, and those containing `needle`. */
static int capture_end(capture *c, const char *needle, int *matching)
{
	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	FILE *f = fopen(c->path, "r");
	assert_non_null(f);
	char line[512];
	int lines = 0;
	*matching = 0;
	while (fgets(line, sizeof(line), f)) {
		lines++;
		if (strstr(line, needle))
			(*matching)++;
	}
	fclose(f);
	close(c->fd);
	unlink(c->path);
	return lines;
}

static void log_rate_limited(void **state)
{
	capture cap;
	capture_start(&cap);
	cl_log_init("test", CL_LOG_INFO);
	cl_log_limit lim = {0};
	int logged = 0;
	for (int i = 0; i < 1000; i++)
		logged += cl_log_limited(&lim, CL_LOG_WARN, "denied peer=%d", i);
	assert_int_equal(logged, CL_LOG_BURST);
	assert_int_equal(lim.suppressed, 1000 - CL_LOG_BURST);
	lim.window_ns -= 2000000000ull; /* as if a second had passed */
	assert_int_equal(cl_log_limited(&lim, CL_LOG_WARN, "denied peer=%d", 1000), 1);
	assert_int_equal(lim.suppressed, 0);
	assert_int_equal(cl_log_limited(&lim, CL_LOG_DEBUG, "below the level"), 0);
	int summary = 0;
	int lines = capture_end(&cap, "suppressed 990 similar lines (denied peer=)", &summary);
	assert_int_equal(lines, CL_LOG_BURST + 2); /* the burst, the summary, the next line */
	assert_int_equal(summary, 1);
}

/* libevent's own warnings come out as Cloister log lines, rate-limited:
 * evutil_make_socket_nonblocking(-1) makes libevent warn once per call. */
static void libevent_log_routed(void **state)
{
	capture cap;
	capture_start(&cap);
	cl_log_init("test", CL_LOG_INFO);
	cl_log_route_libevent();
	for (int i = 0; i < 200; i++)
		assert_int_equal(evutil_make_socket_nonblocking(-1), -1);
	int ours = 0;
	int lines = capture_end(&cap, "level=warn prog=test msg=\"libevent: ", &ours);
	assert_true(ours >= 1);
	assert_int_equal(lines, ours);          /* nothing in libevent's own format */
	assert_true(lines <= CL_LOG_BURST * 2); /* 200 warnings, within a second or two */
}

static void fit_limits(void **state)
{
	struct rlimit saved;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	unsigned long soft, hard;
	bool clamped;
	/* soft raised to hard; the default cap fits under it */
	struct rlimit rl = {.rlim_cur = 200, .rlim_max = 1000};
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	ctl_conn_limits lim = {.max_conns = 0, .max_per_addr = 128};
	assert_int_equal(ctl_conn_fit_limits(&lim, &soft, &hard, &clamped), CL_OK);
	assert_int_equal(soft, 1000);
	assert_int_equal(hard, 1000);
	assert_int_equal(lim.max_conns, 1000 - CTL_FD_RESERVE - CTL_CONN_CLOSING_SLACK);
	assert_false(clamped);
	assert_int_equal(lim.max_per_addr, 128);
	/* a cap too big is lowered (and said so); per-address never above it */
	lim = (ctl_conn_limits){.max_conns = 5000, .max_per_addr = 5000};
	assert_int_equal(ctl_conn_fit_limits(&lim, &soft, &hard, &clamped), CL_OK);
	assert_true(clamped);
	assert_int_equal(lim.max_conns, 904);
	assert_int_equal(lim.max_per_addr, 904);
	/* too few descriptors: refused */
	rl = (struct rlimit){.rlim_cur = 100, .rlim_max = 100};
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	lim = (ctl_conn_limits){.max_conns = 0, .max_per_addr = 128};
	assert_int_equal(ctl_conn_fit_limits(&lim, &soft, &hard, &clamped), CL_EINVAL);
	(void)saved; /* the hard limit cannot be raised back unprivileged: this test runs alone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(head_scan_finds_the_end), cmocka_unit_test(head_scan_stops_at_the_end),
		cmocka_unit_test(head_scan_negative),      cmocka_unit_test(error_page_recognised),
		cmocka_unit_test(error_page_negative),     cmocka_unit_test(error_page_json),
		cmocka_unit_test(log_rate_limited),        cmocka_unit_test(libevent_log_routed),
		cmocka_unit_test(fit_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
