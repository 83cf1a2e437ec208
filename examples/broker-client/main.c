/* broker-client — an enclave application that has the key broker release a
 * secret to it, built with libcloister-enclave (docs/sdk.md, docs/broker.md).
 *
 * On its channel (stdin/stdout: `cloister enclave send` / `recv`):
 *   in   "nonce HEX"          the broker's challenge (POST /v1/secrets/NAME/challenge)
 *   out  "document BASE64"    an attestation document with that nonce and the
 *                             public key of a P-384 key pair made here
 *   in   "wrapped BASE64"     the broker's answer (POST .../release, "wrapped")
 *   out  "sha384 HEX"         the SHA-384 of the unwrapped secret — never the
 *                             secret itself, which is wiped
 * and again from the top, each round with a new key pair. Errors are one
 * line "error <what>" and the round starts over; a "nonce" line where the
 * wrapped secret was expected (the broker refused the document) starts a
 * new round at once.
 *
 * Test aids (tests/integration/broker.sh drives every broker refusal
 * through this program): "nokey HEX" asks for a document without a public
 * key; "nonce HEX KEYHEX" puts KEYHEX (DER or a raw point, hex) in the
 * document instead of the key made here (a key that is not a point, or
 * someone else's: the unwrap here then fails).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloister/enclave.h"

#define LINE_MAX_ 65536

static char line[LINE_MAX_];
static int pending; /* line holds the next round's first line */

/* One answer line: "WORD rest\n". */
static void say(const char *word, const char *rest)
{
	static char out[CLE_DOC_MAX * 2 + 64];
	/* one write, composed first: rest may be cle_error_detail(), which the
	 * next successful call (a write) clears */
	int n = snprintf(out, sizeof(out), "%s %s\n", word, rest);
	if (n > 0 && (size_t)n < sizeof(out))
		(void)cle_chan_write(out, (size_t)n);
}

static int unhex(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	size_t l = strlen(s);
	if (l == 0 || l % 2 || l / 2 > cap)
		return -1;
	for (size_t i = 0; i < l / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*n = l / 2;
	return 0;
}

/* One round; returns 0 at the end of input. */
static int round_trip(void)
{
	static uint8_t doc[CLE_DOC_MAX], wrapped[8192], secret[8192];
	static char b64[CLE_DOC_MAX * 2];
	uint8_t nonce[CLE_NONCE_MAX], pub[CLE_PUBLIC_DER_MAX], digest[48];
	size_t n = 0, len = 0, plen = sizeof(pub), dlen = sizeof(doc), slen = sizeof(secret);
	cle_keypair *kp = NULL;
	int with_key;
	if (pending)
		pending = 0; /* the line that cut the last round short starts this one */
	else if (cle_chan_read_line(line, sizeof(line), &len) != CLE_OK)
		return len == 0 && !line[0] ? 0 : (say("error", cle_error_detail()), 1);
	with_key = strncmp(line, "nonce ", 6) == 0;
	char *other = strchr(line + 6, ' ');
	static uint8_t given[CLE_PUBLIC_KEY_MAX];
	size_t glen = 0;
	if (other)
		*other++ = '\0';
	if ((!with_key && strncmp(line, "nokey ", 6) != 0) || unhex(line + 6, nonce, sizeof(nonce), &n) != 0 ||
	    (other && unhex(other, given, sizeof(given), &glen) != 0)) {
		say("error", "expected \"nonce HEX\"");
		return 1;
	}
	const uint8_t *key = !with_key ? NULL : other ? given : pub;
	if (cle_keypair_new(&kp) != CLE_OK || cle_keypair_public(kp, pub, &plen) != CLE_OK ||
	    cle_attest(nonce, n, NULL, 0, key, !with_key ? 0 : other ? glen : plen, doc, &dlen) != CLE_OK) {
		say("error", cle_error_detail());
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, doc, (int)dlen);
	say("document", b64);
	if (cle_chan_read_line(line, sizeof(line), &len) != CLE_OK) {
		say("error", cle_error_detail());
		goto out;
	}
	if (strncmp(line, "nonce ", 6) == 0 || strncmp(line, "nokey ", 6) == 0) {
		pending = 1; /* the broker refused that document: a new round, a new key */
		goto out;
	}
	if (strncmp(line, "wrapped ", 8) != 0) {
		say("error", "expected \"wrapped BASE64\"");
		goto out;
	}
	int w = EVP_DecodeBlock(wrapped, (const unsigned char *)line + 8, (int)(len - 8));
	if (w < 0) {
		say("error", "wrapped: not base64");
		goto out;
	}
	for (const char *e = line + len; e > line + 8 && e[-1] == '='; e--)
		w--; /* EVP_DecodeBlock counts the padding */
	if (cle_unwrap(kp, wrapped, (size_t)w, secret, &slen) != CLE_OK) {
		say("error", cle_error_detail());
		goto out;
	}
	unsigned dl = 0;
	char hex[97];
	EVP_Digest(secret, slen, digest, &dl, EVP_sha384(), NULL);
	explicit_bzero(secret, slen);
	for (int i = 0; i < 48; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	say("sha384", hex);
out:
	cle_keypair_free(kp);
	return 1;
}

int main(void)
{
	while (round_trip())
		;
	return 0;
}
