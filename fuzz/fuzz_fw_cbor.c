/* fuzz_fw_cbor.c — the verifier's hand-written CBOR reader: skipping whole
 * items under an item budget, and typed reads, must never read outside the
 * input, loop unboundedly, or accept a non-canonical head. */
#include <stdint.h>
#include <string.h>

#include "fw/fw_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fw_cbor c;
	fw_cbor_init(&c, data, size);
	while (fw_cbor_left(&c) > 0) {
		size_t before = c.pos;
		if (fw_cbor_skip(&c, 1000) != FW_OK)
			break;
		if (c.pos <= before || c.pos > size)
			__builtin_trap(); /* progress, inside the input */
	}
	/* Typed reads driven by the input's own first byte. */
	fw_cbor_init(&c, data, size);
	for (int i = 0; i < 64 && fw_cbor_left(&c) > 0; i++) {
		const uint8_t *p;
		size_t n;
		uint64_t v;
		char text[FW_MAX_STR + 1];
		fw_status s;
		switch (data[c.pos] >> 5) {
		case 0: s = fw_cbor_uint(&c, &v); break;
		case 1: s = fw_cbor_expect_nint(&c, 34); break;
		case 2: s = fw_cbor_bstr(&c, &p, &n); if (s == FW_OK && p + n > data + size) __builtin_trap(); break;
		case 3: s = fw_cbor_text_copy(&c, text, FW_MAX_STR); if (s == FW_OK && strlen(text) > FW_MAX_STR) __builtin_trap(); break;
		case 4: s = fw_cbor_array(&c, &v); break;
		case 5: s = fw_cbor_map(&c, &v); break;
		default: s = fw_cbor_null(&c); break;
		}
		if (s != FW_OK)
			break;
	}
	fw_cbor_init(&c, data, size);
	fw_sign1 sg;
	(void)fw_sign1_parse(&c, &sg);
	return 0;
}
