/* provision.h — the crypto half of provisioning (docs/provisioning.md),
 * linked only into cloister-init-bundle (bundle_main.c), the helper that
 * `/init --await-bundle` runs: the enclave's own key pair, the streaming
 * decryption of a bundle into a staging directory on /tmp, its checks, and
 * its installation at CL_INIT_BUNDLE_DIR. Single-threaded. The paths and
 * sizes below are shared with cloister-init (await.c), which links no
 * libcrypto.
 */
#ifndef CL_INIT_PROVISION_H
#define CL_INIT_PROVISION_H

#include <stddef.h>
#include <stdint.h>

#define CL_INIT_BUNDLE_DIR "/tmp/bundle"            /* the installed bundle */
#define CL_INIT_STAGING_DIR "/tmp/.cloister-staging" /* while it arrives */
#define CL_INIT_ENTRYPOINT CL_INIT_BUNDLE_DIR "/entrypoint"
#define CL_INIT_REASON_MAX 240
#define CL_INIT_HELPER "/init-bundle" /* where the shim puts cloister-init-bundle */
#define CL_INIT_STATE_CHUNK (64u << 10) /* the largest STATE frame the helper sends */
#define CL_INIT_STATE_WRAP_LABEL "cloister-state-wrap-v1" /* control/state_key.h's */
#define CL_INIT_STATE_WRAPPED_LEN (97 + 12 + 32 + 16) /* K_n wrapped to the helper's key */

/* Makes the enclave's ephemeral P-384 key pair (private key in OpenSSL's
 * secure heap: locked, not dumped, wiped when freed) and writes its
 * uncompressed public point. From then on bundles are accepted. 0 on
 * success, -1 with reason set. */
int cl_init_prov_start(uint8_t point[97], char reason[CL_INIT_REASON_MAX]);
/* A BUNDLE frame's ciphertext chunk. A failure (too large, /tmp full) is
 * remembered and answered at BUNDLE_END; later chunks are dropped. */
void cl_init_prov_chunk(const uint8_t *p, size_t n);
/* A BUNDLE_END frame. Returns 1 when the bundle is installed at
 * CL_INIT_BUNDLE_DIR (digest = SHA-384 of the tar), 0 when it was refused
 * (reason: "decrypt_failed", "digest_mismatch", "bad_bundle: ...",
 * "not_awaiting_bundle", "too_large: ...", "no_space: ..."), -1 for an
 * abort (empty payload: nothing to answer). Staging is removed whatever
 * the outcome; a refused bundle leaves the enclave awaiting. */
int cl_init_prov_end(const uint8_t *p, size_t n, uint8_t digest[48], char reason[CL_INIT_REASON_MAX]);
/* Opens in[0..n), wrapped under label to this helper's key (the broker's
 * wrap, common/wrap.h: E ‖ iv ‖ AES-256-GCM ‖ tag, key = HKDF-SHA384 of the
 * ECDH secret, info = label ‖ E ‖ our point), into out[0..outlen) (the
 * plaintext must be exactly outlen bytes). 0, or -1 (it does not open). */
int cl_init_prov_unwrap(const char *label, const uint8_t *in, size_t n, uint8_t *out, size_t outlen);
/* Wipes and frees the key and any staging (before the helper exits); from
 * then on every bundle is not_awaiting_bundle. */
void cl_init_prov_wipe(void);

#endif
