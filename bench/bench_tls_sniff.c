/* bench_tls_sniff.c — ClientHellos classified per second by the sniffer of
 * `--mode auto` (src/tls/sniff.c), on one core. Inputs: OpenSSL's own
 * ClientHellos (TLS 1.3 with SNI and ALPN, TLS 1.2 with SNI), the same TLS
 * 1.3 hello arriving in 64-byte pieces (sniffed again after each piece, as
 * a data plane reading a slow peer would), and a plain HTTP request (told at
 * its first byte). Prints per input: classifications/s, ns each, and MB/s of
 * hello bytes. Usage: bench_tls_sniff [SECONDS per input, default 2]. */
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tls/sniff.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* OpenSSL's ClientHello for max_version with the SNI and ALPN given. */
static int make_hello(int max_version, const char *sni, uint8_t *out, size_t cap, size_t *len)
{
	static const uint8_t alpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
	int ok = 0;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = ctx ? SSL_new(ctx) : NULL;
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	if (!ssl || !r || !w) {
		BIO_free(r);
		BIO_free(w);
		goto out;
	}
	SSL_set_bio(ssl, r, w);
	if (!SSL_set_max_proto_version(ssl, max_version) || (sni && !SSL_set_tlsext_host_name(ssl, sni)) ||
	    SSL_set_alpn_protos(ssl, alpn, sizeof(alpn)) != 0)
		goto out;
	if (SSL_connect(ssl) != -1)
		goto out;
	int n = BIO_read(w, out, (int)cap);
	if (n <= 0)
		goto out;
	*len = (size_t)n;
	ok = 1;
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return ok;
}

/* Runs for `seconds`; step 0 = whole input at once, else the input grows by
 * step bytes and is sniffed after each growth until a verdict. */
static void run(const char *name, const uint8_t *data, size_t len, size_t step, double seconds,
		cl_tls_sniff_verdict expect)
{
	cl_tls_hello h;
	unsigned long n = 0, calls = 0;
	double t0 = now(), c0 = cpu_now(), t;
	do {
		for (int i = 0; i < 1000; i++) {
			cl_tls_sniff_verdict v;
			if (step == 0) {
				v = cl_tls_sniff(data, len, &h);
				calls++;
			} else {
				size_t have = step;
				for (;;) {
					v = cl_tls_sniff(data, have < len ? have : len, &h);
					calls++;
					if (v != CL_TLS_SNIFF_NEED_MORE)
						break;
					have += step;
				}
			}
			if (v != expect) {
				fprintf(stderr, "%s: unexpected verdict %s\n", name, cl_tls_sniff_verdict_name(v));
				exit(1);
			}
			n++;
		}
		t = now() - t0;
	} while (t < seconds);
	double cpu = cpu_now() - c0;
	printf("%-34s %5zu B %12.0f /s %8.1f ns each %9.1f MB/s  (%lu calls, cpu %.2f s)\n", name, len, n / t,
	       cpu * 1e9 / (double)n, (double)n * (double)len / t / 1e6, calls, cpu);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 2.0;
	if (seconds <= 0 || seconds > 600) {
		fprintf(stderr, "usage: bench_tls_sniff [SECONDS 0..600]\n");
		return 2;
	}
	static uint8_t h13[4096], h12[4096];
	size_t n13 = 0, n12 = 0;
	if (!make_hello(TLS1_3_VERSION, "guest-1.tenant.example.com", h13, sizeof(h13), &n13) ||
	    !make_hello(TLS1_2_VERSION, "guest-1.tenant.example.com", h12, sizeof(h12), &n12)) {
		fprintf(stderr, "bench_tls_sniff: could not make ClientHellos with OpenSSL\n");
		return 1;
	}
	static const char http[] = "GET /index.html HTTP/1.1\r\nHost: guest-1\r\nUser-Agent: bench\r\n\r\n";
	printf("TLS ClientHello sniffer, one core, %.1f s per input (%s)\n", seconds, OpenSSL_version(OPENSSL_VERSION));
	run("TLS 1.3 hello, SNI + ALPN", h13, n13, 0, seconds, CL_TLS_SNIFF_HANDSHAKE);
	run("TLS 1.2 hello, SNI + ALPN", h12, n12, 0, seconds, CL_TLS_SNIFF_HANDSHAKE);
	run("TLS 1.3 hello in 64-byte pieces", h13, n13, 64, seconds, CL_TLS_SNIFF_HANDSHAKE);
	run("HTTP/1.1 request (not TLS)", (const uint8_t *)http, sizeof(http) - 1, 0, seconds, CL_TLS_SNIFF_NOT_TLS);
	return 0;
}
