/* fuzz_fw_bundle.c — the firmware bundle parser and the whole verifier path
 * (signatures, semantics, copy-and-hash, decryption refusal) on arbitrary
 * input. Trust state: one signer, k = 1, the test key in
 * tests/fw/keys/fuzz-signer.pem, so the seed corpus (fuzz/corpus/fw_bundle/,
 * signed with it) reaches the image pass. */
#include <stdint.h>
#include <string.h>

#include "fw/fw_tools.h"
#include "fw/fw_internal.h"

static const char SIGNER_HEX[] =
	"0458bf9404a2df8a82e96f79c02acbc95e83b2c9a51a0bfb11b7a174ea39072edee42a3992bd09c19d1358100f64dbd971df187eb6d5ef3c0"
	"c2d094451df15349694082a884ff553824a9d4eb6f32ce3c00372d252b3bda2878f582b5cd8c2c5bb";

static uint8_t dest[1 << 20];

static int hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static fw_trust t;
	static fw_ops ops;
	static int ready;
	if (!ready) {
		fw_openssl_ops(&ops, NULL);
		memset(&t, 0, sizeof(t));
		for (size_t i = 0; i < FW_POINT_LEN; i++)
			t.keys[0][i] = (uint8_t)(hexval(SIGNER_HEX[2 * i]) << 4 | hexval(SIGNER_HEX[2 * i + 1]));
		if (fw_point_kid(&ops, t.keys[0], t.kids[0]) != FW_OK)
			__builtin_trap();
		t.version = 1;
		t.threshold = 1;
		t.nkeys = 1;
		ready = 1;
	}
	fw_bundle_view v;
	fw_status s = fw_bundle_parse(data, size, &v);
	if (s == FW_OK && (v.image_len > size || v.manifest_len > size || v.nsig > FW_MAX_SIGNERS))
		__builtin_trap(); /* a parse that points outside the input */
	fw_device dev = {.component = "0000:03:00.0"};
	memcpy(dev.vendor, v.m.vendor, FW_UUID_LEN); /* reach past the identity checks */
	memcpy(dev.class_id, v.m.class_id, FW_UUID_LEN);
	fw_result r;
	s = fw_verify_bundle(&t, &dev, &ops, data, size, dest, sizeof(dest), &r);
	if (s == FW_OK && (r.image_len > sizeof(dest) || r.signers < 1))
		__builtin_trap();
	return 0;
}
