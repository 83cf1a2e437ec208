/* Fuzzes the keystore example's request parser (examples/keystore/ks_proto.c,
 * compiled in here) with arbitrary lines. Invariants: an accepted request
 * has a valid name where it needs one (1..32 of [A-Za-z0-9._-], else ""),
 * its decoded data within the field's cap, and re-parsing the same bytes
 * gives the same result; a refusal has a one-line reason. The strict base64
 * decoder is also checked against a re-encoding: what it accepts encodes back
 * to exactly the input. */
#include <openssl/evp.h>
#include <stdint.h>
#include <string.h>

#include "../examples/keystore/ks_proto.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ks_req a, b;
	static uint8_t dec[KS_LINE_MAX];
	static char enc[KS_LINE_MAX * 2];
	const char *why = NULL, *why2 = NULL;
	if (size > KS_LINE_MAX + 16)
		return 0;
	int r = ks_parse((const char *)data, size, &a, &why);
	if (r != 0) {
		if (!why || !*why || strchr(why, '\n'))
			__builtin_trap();
	} else {
		size_t nl = strlen(a.name);
		if (nl > KS_NAME_MAX || strspn(a.name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != nl)
			__builtin_trap();
		size_t cap = a.verb == KS_SIGN ? KS_MSG_MAX : a.verb == KS_ATTEST ? KS_NONCE_MAX : KS_PUB_MAX;
		if (a.data_len > cap || ((a.verb == KS_SIGN || a.verb == KS_TRUST || a.verb == KS_EXPORT) && !a.data_len))
			__builtin_trap();
		if (ks_parse((const char *)data, size, &b, &why2) != 0 || b.verb != a.verb || strcmp(a.name, b.name) ||
		    b.data_len != a.data_len || memcmp(a.data, b.data, a.data_len))
			__builtin_trap();
	}
	long m = ks_base64_decode((const char *)data, size, dec, sizeof(dec));
	if (m >= 0) {
		int e = EVP_EncodeBlock((unsigned char *)enc, dec, (int)m);
		if (e < 0 || (size_t)e != size || memcmp(enc, data, size) != 0)
			__builtin_trap();
	}
	return 0;
}
