/* keystore — the seed's key service, inside an enclave (README.md here,
 * docs/sdk.md "The keystore example"). Built statically with
 * libcloister-enclave.
 *
 * It makes named P-384 keys inside the enclave and keeps their private
 * halves in locked memory (the SDK's key pairs: OpenSSL's secure heap); it
 * gives their public halves to anyone on the channel, signs with them, binds
 * each one's public half into an attestation document (user_data =
 * SHA-384 of its DER), keeps a list of trusted users (P-384 public keys),
 * and hands a private key out only wrapped to a trusted user's key.
 *
 * The channel (stdin/stdout = `cloister enclave send/recv`) carries one
 * request line and one answer line at a time ("ok ..." or "error CODE:
 * detail"); ks_proto.c parses the line, checking every field against its
 * cap, before anything changes. Nothing secret is ever written to stdout
 * but a wrapped key, nor anything at all to stderr but "keystore: ready".
 * Keys live as long as the enclave: nothing is written to a file.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cloister/enclave.h"
#include "ks_proto.h"

#define KEYS_MAX 16
#define USERS_MAX 16
#define WRAP_LABEL "cloister-keystore-wrap-v1"
#define POINT_LEN 97

struct key {
	char name[KS_NAME_MAX + 1];
	cle_keypair *kp; /* NULL: a free slot */
	uint8_t pub[CLE_PUBLIC_DER_MAX];
	size_t pub_len;
};

struct user {
	char name[KS_NAME_MAX + 1]; /* "": a free slot */
	uint8_t der[KS_PUB_MAX];
	size_t der_len;
	uint8_t point[POINT_LEN]; /* what a request's key is compared with */
};

static struct key keys[KEYS_MAX];
static struct user users[USERS_MAX];

static char line[KS_LINE_MAX + 2];
static char answer[CLE_DOC_MAX * 2 + 256];
static ks_req req;

/* One answer line: "ok WORDS..." or "error CODE: detail". */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(answer, sizeof(answer) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(answer) - 1)
		n = snprintf(answer, sizeof(answer), "error internal: the answer does not fit");
	answer[n++] = '\n';
	(void)cle_chan_write(answer, (size_t)n);
}

/* base64 of p[0..n) into a static buffer (one live at a time). */
static const char *b64(const uint8_t *p, size_t n)
{
	static char out[CLE_DOC_MAX * 4 / 3 + 8];
	if (n > CLE_DOC_MAX)
		return "";
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
	return out;
}

static struct key *find_key(const char *name)
{
	for (size_t i = 0; i < KEYS_MAX; i++)
		if (keys[i].kp && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static struct user *find_user(const char *name)
{
	for (size_t i = 0; i < USERS_MAX; i++)
		if (users[i].name[0] && strcmp(users[i].name, name) == 0)
			return &users[i];
	return NULL;
}

/* The uncompressed point of a DER SubjectPublicKeyInfo of a P-384 key. */
static int user_point(const uint8_t *der, size_t n, uint8_t point[POINT_LEN])
{
	const unsigned char *p = der;
	char group[32] = "";
	size_t glen = 0, plen = 0;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)n);
	int ok = k && p == der + n && EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
		 EVP_PKEY_get_utf8_string_param(k, "group", group, sizeof(group), &glen) == 1 &&
		 strcmp(group, "secp384r1") == 0 &&
		 EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", point, POINT_LEN, &plen) == 1 &&
		 plen == POINT_LEN && point[0] == 0x04;
	EVP_PKEY_free(k);
	return ok;
}

/* An attestation document, retried while the secure module asks us to wait. */
static cle_err attest(const uint8_t *nonce, size_t nn, const uint8_t *ud, size_t un, uint8_t *doc, size_t *len)
{
	size_t cap = *len;
	cle_err e = CLE_EUNAVAIL;
	for (int i = 0; i < 25; i++) {
		*len = cap;
		e = cle_attest(nonce, nn, ud, un, NULL, 0, doc, len);
		if (e != CLE_ELIMIT && e != CLE_EUNAVAIL)
			break;
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return e;
}

static void do_create(void)
{
	struct key *slot = NULL;
	if (find_key(req.name))
		return say("error exists: a key of that name exists");
	for (size_t i = 0; i < KEYS_MAX && !slot; i++)
		if (!keys[i].kp)
			slot = &keys[i];
	if (!slot)
		return say("error full: at most %d keys", KEYS_MAX);
	cle_keypair *kp = NULL;
	size_t n = sizeof(slot->pub);
	if (cle_keypair_new(&kp) != CLE_OK || cle_keypair_public(kp, slot->pub, &n) != CLE_OK) {
		cle_keypair_free(kp);
		return say("error internal: %s", cle_error_detail());
	}
	slot->kp = kp;
	slot->pub_len = n;
	snprintf(slot->name, sizeof(slot->name), "%s", req.name);
	say("ok created %s %s", slot->name, b64(slot->pub, slot->pub_len));
}

static void do_attest(const struct key *k)
{
	static uint8_t doc[CLE_DOC_MAX];
	uint8_t digest[48];
	unsigned dl = 0;
	size_t len = sizeof(doc);
	if (EVP_Digest(k->pub, k->pub_len, digest, &dl, EVP_sha384(), NULL) != 1)
		return say("error internal: SHA-384 failed");
	if (attest(req.data_len ? req.data : NULL, req.data_len, digest, sizeof(digest), doc, &len) != CLE_OK)
		return say("error unavailable: %s", cle_error_detail());
	say("ok attest %s %s", k->name, b64(doc, len));
}

static void do_sign(const struct key *k)
{
	uint8_t sig[CLE_SIG_MAX];
	size_t n = sizeof(sig);
	if (cle_keypair_sign(k->kp, req.data, req.data_len, sig, &n) != CLE_OK)
		return say("error internal: %s", cle_error_detail());
	say("ok sign %s %s", k->name, b64(sig, n));
}

static void do_trust(void)
{
	uint8_t point[POINT_LEN];
	struct user *slot = NULL;
	if (!user_point(req.data, req.data_len, point))
		return say("error bad_request: the user's key is not a DER SubjectPublicKeyInfo of a P-384 key");
	if (find_user(req.name))
		return say("error exists: a user of that name is trusted (untrust it first)");
	for (size_t i = 0; i < USERS_MAX; i++) {
		if (users[i].name[0] && CRYPTO_memcmp(users[i].point, point, POINT_LEN) == 0)
			return say("error exists: that key is trusted as %s", users[i].name);
		if (!users[i].name[0] && !slot)
			slot = &users[i];
	}
	if (!slot)
		return say("error full: at most %d users", USERS_MAX);
	memcpy(slot->der, req.data, req.data_len);
	slot->der_len = req.data_len;
	memcpy(slot->point, point, POINT_LEN);
	snprintf(slot->name, sizeof(slot->name), "%s", req.name);
	uint8_t fp[48];
	unsigned dl = 0;
	char hex[97];
	EVP_Digest(slot->der, slot->der_len, fp, &dl, EVP_sha384(), NULL);
	for (int i = 0; i < 48; i++)
		snprintf(hex + 2 * i, 3, "%02x", fp[i]);
	say("ok trusted %s %s", slot->name, hex);
}

static void do_export(const struct key *k)
{
	uint8_t point[POINT_LEN], wrapped[CLE_WRAPPED_KEY_LEN];
	size_t n = sizeof(wrapped);
	const struct user *to = NULL;
	if (!user_point(req.data, req.data_len, point))
		return say("error bad_request: the key is not a DER SubjectPublicKeyInfo of a P-384 key");
	for (size_t i = 0; i < USERS_MAX && !to; i++)
		if (users[i].name[0] && CRYPTO_memcmp(users[i].point, point, POINT_LEN) == 0)
			to = &users[i];
	if (!to)
		return say("error untrusted: that public key is not a trusted user's: nothing exported");
	if (cle_keypair_wrap_private(k->kp, WRAP_LABEL, to->der, to->der_len, wrapped, &n) != CLE_OK)
		return say("error internal: %s", cle_error_detail());
	say("ok export %s %s", k->name, b64(wrapped, n));
}

/* "ok keys N a b c" / "ok users N a b": names in slot order. */
static void list(int of_users)
{
	char out[(KS_NAME_MAX + 1) * (KEYS_MAX > USERS_MAX ? KEYS_MAX : USERS_MAX) + 1];
	size_t at = 0, count = 0;
	out[0] = '\0';
	for (size_t i = 0; i < (of_users ? USERS_MAX : KEYS_MAX); i++) {
		const char *nm = of_users ? (users[i].name[0] ? users[i].name : NULL) : (keys[i].kp ? keys[i].name : NULL);
		if (!nm)
			continue;
		int w = snprintf(out + at, sizeof(out) - at, " %s", nm);
		if (w > 0)
			at += (size_t)w;
		count++;
	}
	say("ok %s %zu%s", of_users ? "users" : "keys", count, out);
}

static void handle(void)
{
	struct key *k = NULL;
	if (req.verb != KS_CREATE && req.verb != KS_TRUST && req.verb != KS_UNTRUST && req.name[0] &&
	    !(k = find_key(req.name)))
		return say("error not_found: no key of that name");
	switch (req.verb) {
	case KS_CREATE:
		return do_create();
	case KS_PUBLIC:
		return say("ok public %s %s", k->name, b64(k->pub, k->pub_len));
	case KS_KEYS:
		return list(0);
	case KS_ATTEST:
		return do_attest(k);
	case KS_SIGN:
		return do_sign(k);
	case KS_TRUST:
		return do_trust();
	case KS_UNTRUST: {
		struct user *u = find_user(req.name);
		if (!u)
			return say("error not_found: no trusted user of that name");
		say("ok untrusted %s", u->name);
		memset(u, 0, sizeof(*u));
		return;
	}
	case KS_USERS:
		return list(1);
	case KS_EXPORT:
		return do_export(k);
	}
}

int main(void)
{
	fprintf(stderr, "keystore: ready\n");
	for (;;) {
		size_t len = 0;
		const char *why = "";
		line[0] = '\0';
		cle_err e = cle_chan_read_line(line, sizeof(line), &len);
		if (e == CLE_ETOOBIG) {
			say("error bad_request: the line is longer than %d bytes", KS_LINE_MAX);
			continue;
		}
		if (e != CLE_OK)
			break; /* end of input */
		if (ks_parse(line, len, &req, &why) != 0)
			say("error bad_request: %s", why);
		else
			handle();
		explicit_bzero(req.data, sizeof(req.data));
	}
	for (size_t i = 0; i < KEYS_MAX; i++)
		cle_keypair_free(keys[i].kp);
	return 0;
}
