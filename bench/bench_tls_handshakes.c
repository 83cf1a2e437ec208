/*
 * bench_tls_handshakes — the new-handshake load tool of bench/tls/run.sh.
 *
 * Keeps C connections open at once to a TLS server, each one: TCP connect, a
 * FULL handshake (no session cache, no tickets kept: nothing to resume with),
 * the peer's chain verified against --ca and its name against --name (the work
 * a real client makes the server do), one `GET PATH HTTP/1.1` with
 * `Connection: close`, the response read to the end, close; then a new one in
 * its place. Non-blocking, one thread, epoll.
 *
 * Why not `openssl s_time -new`: s_time runs one connection at a time, so the
 * server idles while the client verifies and the figure is a round-trip time,
 * not the server's rate; it does not verify the chain or the name, cannot fix
 * the protocol version per run, and does not say whether a connection was
 * resumed. This tool counts resumed connections (must stay 0), failures, and
 * the p50/p99 of a connection's whole life.
 *
 * Output, one line: handshakes=N seconds=S rate=R p50_ms=X p99_ms=Y errors=E resumed=0
 * Exit status 1 when nothing completed or any connection failed or resumed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024

enum slot_state { S_IDLE, S_CONNECTING, S_HANDSHAKE, S_WRITE, S_READ };

struct slot {
	int fd;
	SSL *ssl;
	enum slot_state st;
	double started;
	size_t written;
	char head[16]; /* first bytes of the response: "HTTP/1.x 200" */
	size_t head_len;
};

struct opts {
	const char *host, *name, *ca, *path;
	int port, conns, tls;
	double seconds;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ "127.0.0.1", "localhost", NULL, "/", 0, 32, 13, 5.0 };
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		int n;
		if (!strcmp(k, "--host"))
			o->host = v;
		else if (!strcmp(k, "--name"))
			o->name = v;
		else if (!strcmp(k, "--ca"))
			o->ca = v;
		else if (!strcmp(k, "--path"))
			o->path = v;
		else if (!strcmp(k, "--port") && !parse_int(v, 1, 65535, &n))
			o->port = n;
		else if (!strcmp(k, "--conns") && !parse_int(v, 1, MAX_CONNS, &n))
			o->conns = n;
		else if (!strcmp(k, "--tls") && (!strcmp(v, "1.2") || !strcmp(v, "1.3")))
			o->tls = v[2] == '2' ? 12 : 13;
		else if (!strcmp(k, "--seconds") && !parse_int(v, 1, 3600, &n))
			o->seconds = n;
		else
			return -1;
	}
	if ((argc - 1) % 2 || !o->port || !o->ca)
		return -1;
	return 0;
}

/* Opens a non-blocking socket and starts connecting; 0 or -1. */
static int slot_start(struct slot *s, int ep, SSL_CTX *ctx, const struct opts *o,
		      const struct sockaddr_in *sa)
{
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->started = now_s();
	s->written = 0;
	s->head_len = 0;
	s->ssl = SSL_new(ctx);
	if (!s->ssl || !SSL_set_fd(s->ssl, s->fd) || !SSL_set_tlsext_host_name(s->ssl, o->name) ||
	    !SSL_set1_host(s->ssl, o->name))
		return -1;
	SSL_set_connect_state(s->ssl);
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = s };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev))
		return -1;
	if (connect(s->fd, (const struct sockaddr *)sa, sizeof *sa) && errno != EINPROGRESS)
		return -1;
	s->st = S_CONNECTING;
	return 0;
}

static void slot_close(struct slot *s)
{
	if (s->ssl)
		SSL_free(s->ssl);
	if (s->fd >= 0)
		close(s->fd);
	s->ssl = NULL;
	s->fd = -1;
	s->st = S_IDLE;
}

/* Waits for what OpenSSL asked for; returns 0 to wait, -1 on failure. */
static int slot_want(struct slot *s, int ep, int ret)
{
	int e = SSL_get_error(s->ssl, ret);
	uint32_t want;
	if (e == SSL_ERROR_WANT_READ)
		want = EPOLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		want = EPOLLOUT;
	else
		return -1;
	struct epoll_event ev = { .events = want, .data.ptr = s };
	return epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) ? -1 : 0;
}

/*
 * Advances one connection as far as it goes without blocking. Returns 0 while
 * it runs, 1 when its response was read to the end (a 200), -1 on failure.
 */
static int slot_step(struct slot *s, int ep, const char *req, size_t req_len)
{
	if (s->st == S_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err)
			return -1;
		s->st = S_HANDSHAKE;
	}
	if (s->st == S_HANDSHAKE) {
		int r = SSL_do_handshake(s->ssl);
		if (r != 1)
			return slot_want(s, ep, r);
		s->st = S_WRITE;
	}
	if (s->st == S_WRITE) {
		while (s->written < req_len) {
			int r = SSL_write(s->ssl, req + s->written, (int)(req_len - s->written));
			if (r <= 0)
				return slot_want(s, ep, r);
			s->written += (size_t)r;
		}
		s->st = S_READ;
	}
	char buf[16384];
	for (;;) {
		int r = SSL_read(s->ssl, buf, sizeof buf);
		if (r <= 0) {
			int e = SSL_get_error(s->ssl, r);
			if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
				break; /* the end of the response (close_notify or EOF) */
			return slot_want(s, ep, r);
		}
		size_t take = (size_t)r < sizeof s->head - s->head_len ? (size_t)r : sizeof s->head - s->head_len;
		memcpy(s->head + s->head_len, buf, take);
		s->head_len += take;
	}
	if (s->head_len < 12 || memcmp(s->head, "HTTP/1.", 7) || memcmp(s->head + 8, " 200", 4))
		return -1;
	return 1;
}

int main(int argc, char **argv)
{
	struct opts o;
	if (parse_args(argc, argv, &o)) {
		fprintf(stderr, "usage: bench_tls_handshakes --port P --ca CA.pem [--host 127.0.0.1] "
				"[--name localhost] [--path /] [--conns 32] [--seconds 5] [--tls 1.2|1.3]\n");
		return 2;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.port) };
	if (inet_pton(AF_INET, o.host, &sa.sin_addr) != 1) {
		fprintf(stderr, "bench_tls_handshakes: --host must be an IPv4 address\n");
		return 2;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ver = o.tls == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, ver) || !SSL_CTX_set_max_proto_version(ctx, ver) ||
	    !SSL_CTX_load_verify_locations(ctx, o.ca, NULL)) {
		ERR_print_errors_fp(stderr);
		return 2;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);

	char req[512];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", o.path, o.name);
	if (n < 0 || (size_t)n >= sizeof req)
		return 2;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	static struct slot slots[MAX_CONNS];
	size_t cap = 1 << 16, done = 0;
	double *lat = malloc(cap * sizeof *lat);
	long errors = 0, resumed = 0;
	if (ep < 0 || !lat)
		return 2;
	double t0 = now_s(), end = t0 + o.seconds;
	for (int i = 0; i < o.conns; i++) {
		slots[i].fd = -1;
		if (slot_start(&slots[i], ep, ctx, &o, &sa)) {
			perror("bench_tls_handshakes: connect");
			return 2;
		}
	}
	struct epoll_event evs[64];
	double t = t0;
	while (t < end) {
		int k = epoll_wait(ep, evs, 64, 100);
		t = now_s();
		for (int i = 0; i < k; i++) {
			struct slot *s = evs[i].data.ptr;
			int r = slot_step(s, ep, req, (size_t)n);
			if (r == 0)
				continue;
			if (r > 0 && t < end) {
				if (SSL_session_reused(s->ssl))
					resumed++;
				if (done == cap) {
					double *bigger = realloc(lat, 2 * cap * sizeof *lat);
					if (!bigger)
						return 2;
					lat = bigger;
					cap *= 2;
				}
				lat[done++] = t - s->started;
			} else if (r < 0) {
				if (errors < 3) {
					fprintf(stderr, "bench_tls_handshakes: connection failed:\n");
					ERR_print_errors_fp(stderr);
				}
				ERR_clear_error();
				errors++;
			}
			slot_close(s);
			if (t < end && slot_start(s, ep, ctx, &o, &sa)) {
				perror("bench_tls_handshakes: connect");
				return 2;
			}
		}
	}
	double secs = t - t0;
	qsort(lat, done, sizeof *lat, cmp_double);
	double p50 = done ? lat[done / 2] : 0, p99 = done ? lat[(size_t)((double)(done - 1) * 0.99)] : 0;
	printf("handshakes=%zu seconds=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f errors=%ld resumed=%ld\n", done,
	       secs, (double)done / secs, p50 * 1e3, p99 * 1e3, errors, resumed);
	for (int i = 0; i < o.conns; i++)
		slot_close(&slots[i]);
	free(lat);
	close(ep);
	SSL_CTX_free(ctx);
	return done && !errors && !resumed ? 0 : 1;
}
