/* fuzz_http_head.c — arbitrary bytes through the byte-level parts of the
 * control plane's connection admission (src/control/conn_http.c), no
 * network:
 *   - the end-of-headers scan over a peer's request bytes, fed whole and in
 *     pieces whose sizes come from the input: every split must give the
 *     same answer, and the scan never consumes past the end it reports;
 *   - the error-page recogniser on the same bytes: an accepted page must
 *     span the input exactly, and its JSON replacement must be produced
 *     (the status mapping covers any status the recogniser accepts). */
#include <event2/buffer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/conn.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t step = (size_t)data[0] % 17 + 1;
	const uint8_t *p = data + 1;
	size_t n = size - 1;

	ctl_head_scan whole = {0}, pieces = {0};
	size_t used = ctl_head_scan_feed(&whole, p, n);
	check(used <= n && whole.bytes == used && (whole.done || used == n));
	size_t off = 0;
	while (off < n && !pieces.done) {
		size_t k = n - off < step ? n - off : step;
		size_t u = ctl_head_scan_feed(&pieces, p + off, k);
		check(u <= k && (pieces.done || u == k));
		off += u;
	}
	check(pieces.done == whole.done && pieces.bytes == whole.bytes && off == used);
	if (whole.done) /* a scan that is done takes nothing more */
		check(ctl_head_scan_feed(&whole, (const unsigned char *)"\n", 1) == 0);

	ctl_error_page page;
	if (ctl_error_page_parse(p, n, &page) == 1) {
		check(page.skip + page.len == n && page.status >= 0 && page.status <= 999);
		ctl_conn_limits lim = {.max_header_bytes = 16384, .max_body_bytes = 1048576};
		struct evbuffer *out = evbuffer_new();
		if (out) {
			int st = ctl_error_page_json(page.status, data[0] & 1, &lim, out);
			check(st == -1 || (st >= 0 && evbuffer_get_length(out) > 0));
			evbuffer_free(out);
		}
	}
	return 0;
}
