/* ks_proto.h — the keystore's request line parser (README.md, "Protocol").
 *
 * One request is one line of words separated by single spaces:
 *   create NAME | public NAME | keys | attest NAME [NONCE_HEX] |
 *   sign NAME MSG_B64 | trust USER PUB_B64 | untrust USER | users |
 *   export NAME PUB_B64
 * The parser only reads the line: it checks every field against its cap and
 * decodes it; what a request means (a key that exists, a trusted user) is
 * the service's to check. Plain C with libcrypto's base64; no allocation,
 * one static scratch buffer (not reentrant: the service is one thread)
 * (fuzz/fuzz_keystore.c). */
#ifndef KS_PROTO_H
#define KS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define KS_LINE_MAX 8192    /* a request line, without its '\n' */
#define KS_NAME_MAX 32      /* key and user names: 1..32 of [A-Za-z0-9._-] */
#define KS_MSG_MAX 4096     /* a message to sign, decoded */
#define KS_NONCE_MAX 512    /* an attest nonce, decoded (the secure module's cap) */
#define KS_PUB_MAX 160      /* a user's public key, DER SubjectPublicKeyInfo, decoded */
#define KS_DATA_MAX KS_MSG_MAX

typedef enum ks_verb {
	KS_CREATE,
	KS_PUBLIC,
	KS_KEYS,
	KS_ATTEST,
	KS_SIGN,
	KS_TRUST,
	KS_UNTRUST,
	KS_USERS,
	KS_EXPORT,
} ks_verb;

typedef struct ks_req {
	ks_verb verb;
	char name[KS_NAME_MAX + 1]; /* the key's (or, for trust/untrust, the user's) name; "" when none */
	uint8_t data[KS_DATA_MAX];  /* the message, nonce or public key, decoded */
	size_t data_len;            /* 0 when the request carries none */
} ks_req;

/* Parses line[0..len) (no '\n'; need not be NUL-terminated) into req.
 * Returns 0, or -1 with *why a static message naming the bad field (never
 * echoing it). req is the caller's; on failure its contents are undefined. */
int ks_parse(const char *line, size_t len, ks_req *req, const char **why);

/* Strict base64 (RFC 4648, padded, no whitespace) of s[0..n) into out (cap
 * bytes). Returns the decoded length, or -1 if s is not canonical base64
 * or decodes to more than cap bytes. */
long ks_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap);

#endif
