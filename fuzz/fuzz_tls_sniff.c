/* fuzz_tls_sniff.c — arbitrary bytes through the ClientHello sniffer
 * (src/tls/sniff.c), as the first bytes a peer sends. Every input is copied
 * to a heap buffer of exactly its size (and so is each prefix tried), so a
 * read past the end is an ASan report. Checked on every input:
 *   - NEED_MORE asks for more than it had and at most one record;
 *   - NOT_TLS has a reason and leaves no field half-filled;
 *   - TLS_HANDSHAKE: the record fits in the input, the server name is a
 *     NUL-terminated host name of the stated length, the ALPN list lies in
 *     the input and its count matches, the versions agree; the same verdict
 *     and fields come from the record alone (nothing after it is read);
 *   - prefixes: a NOT_TLS verdict on a prefix is final (the whole input is
 *     NOT_TLS too), and every prefix of a handshake record is NEED_MORE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tls/sniff.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static cl_tls_sniff_verdict sniff_copy(const uint8_t *data, size_t len, cl_tls_hello *h)
{
	uint8_t *copy = malloc(len ? len : 1);
	check(copy != NULL);
	memcpy(copy, data, len);
	cl_tls_sniff_verdict v = cl_tls_sniff(len ? copy : NULL, len, h);
	if (h->alpn) {
		check(h->alpn >= copy && h->alpn_len <= len && h->alpn <= copy + len - h->alpn_len);
		h->alpn = data + (h->alpn - copy);
	}
	free(copy);
	return v;
}

static void check_hello(const uint8_t *data, size_t size, const cl_tls_hello *h)
{
	check(h->record_len >= 9 && h->record_len <= size && h->record_len <= CL_TLS_SNIFF_MAX);
	check(h->record_version >= 0x0301 && h->record_version <= 0x0304);
	check(h->sni_len <= CL_TLS_SNI_MAX && h->sni[h->sni_len] == '\0' && strlen(h->sni) == h->sni_len);
	if (h->fragmented) {
		check(h->sni_len == 0 && h->alpn == NULL && h->legacy_version == 0 && !h->has_versions);
		return;
	}
	check(h->legacy_version >= 0x0301 && h->legacy_version <= 0x0303);
	unsigned count = 0;
	for (size_t i = 0; h->alpn && i < h->alpn_len; i += 1 + (size_t)h->alpn[i]) {
		check(h->alpn[i] != 0);
		count++;
	}
	check(count == h->alpn_count && (h->alpn == NULL) == (h->alpn_count == 0));
	if (h->has_versions)
		check((h->versions == 0) == (h->max_version == 0));
	else
		check(h->versions == 0 && h->max_version == h->legacy_version);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cl_tls_hello whole, again, part;
	cl_tls_sniff_verdict v = sniff_copy(data, size, &whole);
	switch (v) {
	case CL_TLS_SNIFF_NEED_MORE:
		check(whole.need > size && whole.need >= CL_TLS_RECORD_HEADER && whole.need <= CL_TLS_SNIFF_MAX);
		break;
	case CL_TLS_SNIFF_NOT_TLS:
		check(whole.reason != NULL && whole.sni_len == 0 && whole.alpn == NULL && whole.record_len == 0);
		break;
	case CL_TLS_SNIFF_HANDSHAKE:
		check_hello(data, size, &whole);
		check(sniff_copy(data, whole.record_len, &again) == v);
		check(memcmp(&again, &whole, sizeof(again)) == 0);
		break;
	default:
		check(0);
	}
	/* prefixes: the short ones byte by byte (where early verdicts are made),
	 * and a few longer cuts */
	size_t cuts[] = {size / 2, size > 0 ? size - 1 : 0, whole.record_len > 0 ? whole.record_len - 1 : 0};
	for (size_t k = 0; k < size && k < 12; k++) {
		cl_tls_sniff_verdict pv = sniff_copy(data, k, &part);
		check(pv != CL_TLS_SNIFF_HANDSHAKE || v == CL_TLS_SNIFF_HANDSHAKE);
		if (pv == CL_TLS_SNIFF_NOT_TLS)
			check(v == CL_TLS_SNIFF_NOT_TLS);
		if (v == CL_TLS_SNIFF_HANDSHAKE && k < whole.record_len)
			check(pv == CL_TLS_SNIFF_NEED_MORE);
	}
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		if (cuts[i] >= size)
			continue;
		cl_tls_sniff_verdict pv = sniff_copy(data, cuts[i], &part);
		if (pv == CL_TLS_SNIFF_NOT_TLS)
			check(v == CL_TLS_SNIFF_NOT_TLS);
		if (v == CL_TLS_SNIFF_HANDSHAKE && cuts[i] < whole.record_len)
			check(pv == CL_TLS_SNIFF_NEED_MORE &&
			      part.need == (cuts[i] < CL_TLS_RECORD_HEADER ? CL_TLS_RECORD_HEADER : whole.record_len));
	}
	return 0;
}
