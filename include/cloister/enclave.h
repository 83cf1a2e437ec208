/* cloister/enclave.h — libcloister-enclave: the C library for applications
 * running inside a Cloister enclave (docs/sdk.md).
 *
 *   attestation   cle_attest: a document signed by the host's attestation
 *                 key binding a nonce, user data and a public key that only
 *                 this enclave chooses (through /dev/cloister/nsm.sock)
 *   keys          cle_keypair_new / cle_keypair_public / cle_unwrap: an
 *                 ephemeral P-384 key whose private half never leaves
 *                 locked memory; unwraps what the key broker wrapped to it;
 *                 cle_keypair_sign signs with it, cle_keypair_wrap_private
 *                 hands its private half out only wrapped to another key
 *   sealing       cle_seal_key / cle_seal / cle_unseal: keys derived from a
 *                 host secret and this enclave's measurements (same code,
 *                 same tenant, same host, same label: same key)
 *   random        cle_random
 *   state         cle_state_path: the directory whose files a suspend keeps
 *                 and a restore brings back (on this host or another)
 *   channel       cle_chan_read / cle_chan_write / cle_chan_read_line: the
 *                 application's stdin/stdout are `cloister enclave send/recv`
 *
 * Every function (but cle_error_detail and cle_state_path) returns CLE_OK
 * (0) or a cle_err code; cle_error_detail() then says why (a thread-local
 * string, valid until the thread's next call). Buffers are the caller's: a
 * function given *len as the capacity of out writes at most that many bytes
 * and sets *len to what it wrote; too small is CLE_ETOOBIG (nothing useful
 * written). Secrets the library makes
 * (sealing keys, unwrapped bytes in its own temporaries) are wiped before
 * they are freed; those the caller receives are the caller's to wipe.
 * Thread-safe: no global state but the socket path and the secure heap.
 *
 * This header includes nothing of Cloister's internals; link with
 * libcloister-enclave.a and libcrypto (static in an enclave image).
 */
#ifndef CLOISTER_ENCLAVE_H
#define CLOISTER_ENCLAVE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cle_err {
	CLE_OK = 0,
	CLE_EINVAL = 1,      /* a bad argument (length over its cap, NULL where one is needed) */
	CLE_EIO = 2,         /* the secure module or the channel could not be reached or broke off */
	CLE_EREFUSED = 3,    /* the secure module refused the request (cle_error_detail says why) */
	CLE_ELIMIT = 4,      /* over this enclave's secure-module rate: retry later */
	CLE_EUNAVAIL = 5,    /* the host cannot answer now (e.g. no attestation certificate yet) */
	CLE_ECRYPTO = 6,     /* a wrapped or sealed blob is malformed, for another key, or changed */
	CLE_ENOMEM = 7,      /* out of memory (or of locked memory) */
	CLE_ETOOBIG = 8,     /* the output buffer is too small */
} cle_err;

/* Caps, as the secure module enforces them. */
#define CLE_NONCE_MAX 512
#define CLE_USER_DATA_MAX 512
#define CLE_PUBLIC_KEY_MAX 1024
#define CLE_LABEL_MAX 64
#define CLE_SEAL_KEY_LEN 32
#define CLE_DOC_MAX 16384           /* a document always fits a buffer this large */
#define CLE_PUBLIC_DER_MAX 128      /* cle_keypair_public's DER always fits */
#define CLE_SIG_MAX 104             /* a DER ECDSA P-384 signature always fits */
#define CLE_WRAP_LABEL_MAX 64
#define CLE_WRAPPED_KEY_LEN (97 + 12 + 48 + 16) /* cle_keypair_wrap_private's output */
#define CLE_SEAL_OVERHEAD (4 + 12 + 16) /* "CLS1" || iv || ... || tag */
#define CLE_NSM_PATH "/dev/cloister/nsm.sock"
#define CLE_STATE_PATH "/tmp/state" /* cle_state_path's directory */

/* Why the last call on this thread failed ("" after a success). Static
 * thread-local storage: never freed by the caller. */
const char *cle_error_detail(void);

/* Uses path instead of CLE_NSM_PATH for the secure module (tests outside an
 * enclave). path is copied; NULL restores the default. Not thread-safe with
 * calls in flight. */
cle_err cle_set_nsm_path(const char *path);

/* An attestation document (COSE_Sign1, docs/attestation.md) carrying the
 * given nonce, user_data and public_key, each optional (NULL or length 0 =
 * absent in the document) and within its cap. out_doc receives it; *len is
 * the capacity on entry (CLE_DOC_MAX always suffices), its length on
 * return. Opens one connection to the secure module per call. Errors:
 * CLE_EINVAL, CLE_EIO, CLE_ELIMIT, CLE_EUNAVAIL, CLE_EREFUSED, CLE_ETOOBIG. */
cle_err cle_attest(const uint8_t *nonce, size_t nonce_len, const uint8_t *user_data, size_t user_data_len,
		   const uint8_t *public_key, size_t public_key_len, uint8_t *out_doc, size_t *len);

/* An ephemeral ECDH P-384 key pair made inside the enclave; its private
 * scalar lives in OpenSSL's secure heap (mlocked, not dumped, wiped when
 * freed). Opaque; owned by the caller: cle_keypair_free. */
typedef struct cle_keypair cle_keypair;
/* Makes a key pair into *out. CLE_ENOMEM when locked memory cannot be had
 * (the key is then not made: it never lives in ordinary memory). */
cle_err cle_keypair_new(cle_keypair **out);
/* The public key as DER SubjectPublicKeyInfo (what the document's
 * public_key carries for the key broker) into out; *len capacity in
 * (CLE_PUBLIC_DER_MAX suffices), length out. */
cle_err cle_keypair_public(const cle_keypair *kp, uint8_t *out, size_t *len);
/* Frees kp and wipes its private key (NULL is fine). */
void cle_keypair_free(cle_keypair *kp);

/* Opens a secret the key broker wrapped to kp's public key (docs/broker.md:
 * ECDH P-384 + HKDF-SHA384 + AES-256-GCM) into out; *len capacity in,
 * length out. CLE_ECRYPTO if it is malformed, for another key, or changed
 * (nothing written). The caller wipes out after use. */
cle_err cle_unwrap(const cle_keypair *kp, const uint8_t *wrapped, size_t n, uint8_t *out, size_t *len);

/* ECDSA-SHA384 over msg[0..n) (n <= 1 MiB) with kp's private key: the DER
 * signature (as `openssl dgst -sha384 -verify` checks it) into sig; *len
 * capacity in (CLE_SIG_MAX suffices), length out. CLE_EINVAL, CLE_ETOOBIG,
 * CLE_ENOMEM (the crypto library failed, e.g. no locked memory left). */
cle_err cle_keypair_sign(const cle_keypair *kp, const uint8_t *msg, size_t n, uint8_t *sig, size_t *len);

/* kp's private scalar (48 bytes, big-endian) wrapped to recipient (a P-384
 * public key: DER SubjectPublicKeyInfo or the raw 97-byte point) with the
 * broker's construction under label (1..CLE_WRAP_LABEL_MAX bytes, the HKDF
 * info prefix in place of the broker's: docs/broker.md) into out; *len
 * capacity in (CLE_WRAPPED_KEY_LEN), length out. The scalar is copied
 * only into locked memory before it is encrypted, and wiped. CLE_EINVAL for
 * a bad label, CLE_ECRYPTO for a recipient that is not a P-384 key,
 * CLE_ETOOBIG, CLE_ENOMEM. */
cle_err cle_keypair_wrap_private(const cle_keypair *kp, const char *label, const uint8_t *recipient, size_t rn,
				 uint8_t *out, size_t *len);

/* The 32-byte sealing key for label (1..CLE_LABEL_MAX bytes, NUL-terminated)
 * into out: HKDF-SHA384 of the host's sealing secret over the tenant, this
 * enclave's PCR0..PCR3 and label, made by the host's key holder. The same
 * image of the same tenant on the same host gets the same key for the same
 * label. The caller wipes out. Errors as cle_attest. */
cle_err cle_seal_key(const char *label, uint8_t out[CLE_SEAL_KEY_LEN]);

/* Seals plain[0..n) under cle_seal_key(label) into out: "CLS1" || iv (12,
 * random) || AES-256-GCM ciphertext (n) || tag (16), the AAD being "CLS1" ||
 * label. *len capacity in (n + CLE_SEAL_OVERHEAD suffices), length out. */
cle_err cle_seal(const char *label, const uint8_t *plain, size_t n, uint8_t *out, size_t *len);
/* The inverse: CLE_ECRYPTO when sealed is malformed, was sealed under
 * another label, by other code, tenant or host, or was changed (nothing
 * written). *len capacity in (n - CLE_SEAL_OVERHEAD suffices), length out. */
cle_err cle_unseal(const char *label, const uint8_t *sealed, size_t n, uint8_t *out, size_t *len);

/* n bytes from the kernel's CSPRNG (getrandom). */
cle_err cle_random(void *p, size_t n);

/* The directory where the application writes the state it wants kept across
 * a suspend and restore (docs/suspend.md): CLE_STATE_PATH ("/tmp/state", in
 * the enclave's tmpfs), created mode 0700 if missing (an existing directory
 * is left as it is: after a restore it holds what was suspended). The
 * returned string is static: never freed or changed by the caller, the same
 * pointer on every call. Unlike the other functions it returns the path, or
 * NULL when the directory cannot be made or something other than a
 * directory (a file, a symbolic link) is in its place; cle_error_detail()
 * then says why (CLE_EIO's detail). Thread-safe. */
const char *cle_state_path(void);

/* The channel: stdin is what `cloister enclave send` delivers, stdout what
 * `cloister enclave recv` returns. cle_chan_read reads at most n bytes
 * (*got 0 = end of input); cle_chan_write writes all n bytes;
 * cle_chan_read_line reads up to and including '\n' into line (cap bytes,
 * NUL-terminated, the '\n' dropped; *len its length): CLE_ETOOBIG for a
 * longer line (the rest of it is discarded), CLE_EIO at end of input
 * before a full line. Reads byte by byte: nothing past the line is
 * consumed. */
cle_err cle_chan_read(void *p, size_t n, size_t *got);
cle_err cle_chan_write(const void *p, size_t n);
cle_err cle_chan_read_line(char *line, size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
