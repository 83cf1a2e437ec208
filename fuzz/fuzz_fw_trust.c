/* fuzz_fw_trust.c — trust-root documents: the strict parser and the chain
 * rule from a fixed ROM root key (tests/fw/keys/fuzz-root.pem; the seed
 * corpus fuzz/corpus/fw_trust/ is signed with it). An accepted document must
 * leave a state with 1 <= k <= n. */
#include <stdint.h>
#include <string.h>

#include "fw/fw_tools.h"

static const char ROOT_HEX[] =
	"04c46634b7cf740ab74dd88b549ad6a26d159771399810df345f37e052f1938ced585dff75104c1397c5829cf18384d07fb16632f5a2fa"
	"b20da8577049501d10b9fb31467ab2366381f8be2632832790202011fe4d073a256db4bc2aba782db6a3";

static int hexval(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static fw_trust t, scratch;
	static fw_ops ops;
	static uint8_t root[FW_POINT_LEN];
	static int ready;
	if (!ready) {
		fw_openssl_ops(&ops, NULL);
		for (size_t i = 0; i < FW_POINT_LEN; i++)
			root[i] = (uint8_t)(hexval(ROOT_HEX[2 * i]) << 4 | hexval(ROOT_HEX[2 * i + 1]));
		ready = 1;
	}
	fw_trust_doc d;
	if (fw_trust_doc_parse(data, size, &d) == FW_OK &&
	    (d.threshold == 0 || d.threshold > d.nkeys || d.nkeys > FW_MAX_SIGNERS || d.body_len > size))
		__builtin_trap();
	if (fw_trust_init(&t, root, &ops) != FW_OK)
		__builtin_trap();
	if (fw_trust_apply(&t, &scratch, data, size, &ops) == FW_OK) {
		if (t.version != 1 || t.threshold == 0 || t.threshold > t.nkeys)
			__builtin_trap();
		/* A second application of the same document is out of sequence. */
		if (fw_trust_apply(&t, &scratch, data, size, &ops) == FW_OK)
			__builtin_trap();
	}
	fw_trust assumed;
	(void)fw_trust_assume(&assumed, data, size, root, &ops);
	return 0;
}
