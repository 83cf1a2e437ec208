/* ks_proto.c — the keystore's request line parser (ks_proto.h). */
#include "ks_proto.h"

#include <openssl/evp.h>
#include <string.h>

/* The words of the line: at most 3, split on single spaces. */
typedef struct words {
	const char *w[3];
	size_t n[3];
	int count;
} words;

static int split(const char *line, size_t len, words *out, const char **why)
{
	size_t i = 0;
	out->count = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && line[j] != ' ')
			j++;
		if (j == i) {
			*why = "words are separated by exactly one space";
			return -1;
		}
		if (out->count == 3) {
			*why = "too many words";
			return -1;
		}
		out->w[out->count] = line + i;
		out->n[out->count++] = j - i;
		if (j < len && j + 1 == len) {
			*why = "a trailing space";
			return -1;
		}
		i = j + 1;
	}
	if (out->count == 0) {
		*why = "an empty line";
		return -1;
	}
	return 0;
}

static int is(const words *w, int i, const char *s)
{
	return w->n[i] == strlen(s) && memcmp(w->w[i], s, w->n[i]) == 0;
}

static int name(const words *w, int i, char out[KS_NAME_MAX + 1], const char **why)
{
	if (w->n[i] < 1 || w->n[i] > KS_NAME_MAX) {
		*why = "a name is 1..32 characters";
		return -1;
	}
	for (size_t k = 0; k < w->n[i]; k++) {
		char c = w->w[i][k];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-')) {
			*why = "a name holds only A-Z a-z 0-9 . _ -";
			return -1;
		}
	}
	memcpy(out, w->w[i], w->n[i]);
	out[w->n[i]] = '\0';
	return 0;
}

long ks_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	static uint8_t tmp[(KS_LINE_MAX / 4) * 3 + 3];
	size_t pad = 0;
	if (n == 0 || n % 4 || n > KS_LINE_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
			    c == '/';
		if (c == '=' && i >= n - 2)
			pad++;
		else if (!alpha || pad)
			return -1; /* a foreign character, or data after '=' */
	}
	if (pad) { /* canonical: the bits the padding leaves over are zero */
		char c = s[n - pad - 1];
		int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : 63;
		if (v & (pad == 2 ? 0x0f : 0x03))
			return -1;
	}
	int got = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)n);
	if (got < 0 || (size_t)got < pad)
		return -1;
	size_t m = (size_t)got - pad; /* EVP_DecodeBlock counts the padding as zero bytes */
	if (m > cap) {
		explicit_bzero(tmp, (size_t)got);
		return -1;
	}
	memcpy(out, tmp, m);
	explicit_bzero(tmp, (size_t)got);
	return (long)m;
}

static int unhex(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
	if (n == 0 || n % 2 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(v << 4);
		else
			out[i / 2] |= (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

/* Decodes word i as base64 of 1..cap bytes into req->data. */
static int b64(const words *w, int i, ks_req *req, size_t cap, const char **why, const char *what)
{
	long m = ks_base64_decode(w->w[i], w->n[i], req->data, cap);
	if (m <= 0) {
		*why = what;
		return -1;
	}
	req->data_len = (size_t)m;
	return 0;
}

int ks_parse(const char *line, size_t len, ks_req *req, const char **why)
{
	words w;
	*why = "";
	req->name[0] = '\0';
	req->data_len = 0;
	if (len > KS_LINE_MAX) {
		*why = "the line is too long";
		return -1;
	}
	if (memchr(line, '\0', len) || memchr(line, '\r', len) || memchr(line, '\t', len)) {
		*why = "a control character in the line";
		return -1;
	}
	if (split(line, len, &w, why) != 0)
		return -1;
	struct {
		const char *word;
		ks_verb verb;
		int args; /* words after the verb; -2 = 1 or 2 (attest) */
	} const table[] = {
		{"create", KS_CREATE, 1}, {"public", KS_PUBLIC, 1}, {"keys", KS_KEYS, 0},
		{"attest", KS_ATTEST, -2}, {"sign", KS_SIGN, 2},     {"trust", KS_TRUST, 2},
		{"untrust", KS_UNTRUST, 1}, {"users", KS_USERS, 0}, {"export", KS_EXPORT, 2},
	};
	size_t t = 0;
	while (t < sizeof(table) / sizeof(table[0]) && !is(&w, 0, table[t].word))
		t++;
	if (t == sizeof(table) / sizeof(table[0])) {
		*why = "unknown request (create, public, keys, attest, sign, trust, untrust, users, export)";
		return -1;
	}
	req->verb = table[t].verb;
	int args = w.count - 1;
	if (table[t].args == -2 ? (args < 1 || args > 2) : args != table[t].args) {
		*why = "wrong number of words for this request (README.md)";
		return -1;
	}
	if (args >= 1 && name(&w, 1, req->name, why) != 0)
		return -1;
	switch (req->verb) {
	case KS_ATTEST:
		if (args == 2 && unhex(w.w[2], w.n[2], req->data, KS_NONCE_MAX, &req->data_len) != 0) {
			*why = "the nonce is 1..512 bytes of hex";
			return -1;
		}
		return 0;
	case KS_SIGN:
		return b64(&w, 2, req, KS_MSG_MAX, why, "the message is 1..4096 bytes of base64");
	case KS_TRUST:
	case KS_EXPORT:
		return b64(&w, 2, req, KS_PUB_MAX, why, "the public key is base64 DER of at most 160 bytes");
	default:
		return 0;
	}
}
