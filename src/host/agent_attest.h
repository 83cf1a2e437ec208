/* agent_attest.h — the host's attestation key and certificate
 * (agent_attest.c) and the attest op's document (agent_attest_doc.c).
 *
 * The key is the key holder's "attest" slot (ECDSA P-384; the agent may
 * generate it once, read its public point and have it sign SHA-384
 * digests: docs/keyholder.md). The certificate is the control plane's host
 * leaf for that key: asked for with POST /v1/hosts/{id}/attestation-key and
 * a proof of possession (docs/internals.md), kept in DATA/attest/ —
 * bundle.der (the CA certificates, root first, DER one after the other) and
 * cert.der (the leaf), each written atomically, public (0644) — and loaded
 * again at start. The sync loop asks again when the sync answer's
 * "attestation_serial" is null or names another certificate.
 *
 * Threads: the sync loop provisions (cl_agent_att_step); the ops engine
 * builds documents (cl_agent_att_op). The certificate is shared under a
 * mutex; the key holder's client is the caller's (agent_privsep.c locks it).
 */
#ifndef CL_HOST_AGENT_ATTEST_H
#define CL_HOST_AGENT_ATTEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "host/agent_proto.h"

#define CL_AGENT_ATT_POINT_LEN 97 /* uncompressed P-384 point */
#define CL_AGENT_ATT_SIG_LEN 96   /* r || s */
#define CL_AGENT_ATT_CERT_MAX 8192
#define CL_AGENT_ATT_BUNDLE_MAX 4
/* Retry delays of a failed request: doubling from MIN to MAX. */
#define CL_AGENT_ATT_RETRY_MIN_MS 1000u
#define CL_AGENT_ATT_RETRY_MAX_MS 60000u
/* A request takes at most this long (the sync loop waits for it). */
#define CL_AGENT_ATT_HTTP_TIMEOUT_MS 5000
/* A certificate this close to its end is renewed. */
#define CL_AGENT_ATT_RENEW_S (7 * 86400)

/* The attestation key, through the key holder (agent_privsep.c) or a fake. */
typedef struct cl_agent_att_keys {
	/* The public point; CL_ENOTFOUND if the key does not exist yet. */
	cl_err (*get_public)(void *ctx, uint8_t point[CL_AGENT_ATT_POINT_LEN]);
	/* Makes the key (CL_ECONFLICT if it exists) and returns its point. */
	cl_err (*generate)(void *ctx, uint8_t point[CL_AGENT_ATT_POINT_LEN]);
	/* ECDSA P-384 over a SHA-384 digest: r || s. Bounded in time. */
	cl_err (*sign)(void *ctx, const uint8_t digest[48], uint8_t sig[CL_AGENT_ATT_SIG_LEN]);
	void *ctx;
} cl_agent_att_keys;

typedef struct cl_agent_att cl_agent_att;

/* Creates the attestation state of the agent with data directory dir and
 * loads DATA/attest/ if it holds a consistent certificate (leaf issued by
 * the bundle's last certificate); an unusable one is ignored (logged) and
 * asked for again. keys is copied. *out: cl_agent_att_free. */
CL_MUST_CHECK cl_err cl_agent_att_new(const char *dir, const cl_agent_att_keys *keys, cl_agent_att **out);
void cl_agent_att_free(cl_agent_att *a);

/* The key provider a was created with (borrowed from a). */
const cl_agent_att_keys *cl_agent_att_keys_of(cl_agent_att *a);

/* The serial (lower-case hex) of the certificate held into out, "" if none. */
void cl_agent_att_serial(cl_agent_att *a, char out[CL_AGENT_SERIAL_MAX]);

struct cl_http_client;
/* The sync loop's step, after registration (answer NULL) and after each
 * sync answer: decides whether a certificate is needed — none held, the
 * held one is not for the key holder's key, it ends within
 * CL_AGENT_ATT_RENEW_S, or the answer's attestation_serial is null or
 * another serial — and, when no retry delay is running, makes sure the key
 * exists, signs the proof and asks (http: the host's client; its timeout is
 * set to CL_AGENT_ATT_HTTP_TIMEOUT_MS). A failure is logged once per
 * distinct cause and retried after a growing delay. Returns CL_OK when
 * nothing was needed or a certificate was stored, else the failure. */
cl_err cl_agent_att_step(cl_agent_att *a, struct cl_http_client *http, const char *host_id,
			 const cl_agent_answer *ans);
/* The long poll's wait shortened so the loop comes back when a retry is
 * due (wait_ms unchanged when none is). */
uint32_t cl_agent_att_wait_ms(cl_agent_att *a, uint32_t wait_ms);

/* SHA-384("cloister-attest-pop/1" || 0x00 || host_id || 0x00 || point):
 * what the proof of possession signs. */
CL_MUST_CHECK cl_err cl_agent_att_pop_digest(const char *host_id, const uint8_t point[CL_AGENT_ATT_POINT_LEN],
					     uint8_t digest[48]);
/* Checks and stores an attestation-key answer (the JSON text): the leaf
 * must be for point and issued by the bundle's last certificate, and its
 * serial must be the answer's. Then DATA/attest/ and memory hold it. */
CL_MUST_CHECK cl_err cl_agent_att_accept(cl_agent_att *a, const uint8_t point[CL_AGENT_ATT_POINT_LEN],
					 const char *json, size_t len);

/* A copy of the certificate held: *leaf (malloc'd) and *bundle (malloc'd,
 * the DER certificates one after the other, root first), with offsets
 * off[i]/len[i] of each of the *n bundle certificates. CL_ENOTFOUND when
 * none is held. */
typedef struct cl_agent_att_chain {
	uint8_t *leaf;
	size_t leaf_len;
	uint8_t *bundle;
	size_t off[CL_AGENT_ATT_BUNDLE_MAX], len[CL_AGENT_ATT_BUNDLE_MAX];
	size_t n;
} cl_agent_att_chain;
CL_MUST_CHECK cl_err cl_agent_att_chain_get(cl_agent_att *a, cl_agent_att_chain *c);
void cl_agent_att_chain_free(cl_agent_att_chain *c);

/* The attest op (agent_attest_doc.c), on the ops engine: the document of
 * enclave op->enclave — module_id its id, its registers (DATA/pcrs),
 * the leaf and bundle held, the op's public_key/user_data/nonce — signed by
 * the attestation key. Returns the op's result (new reference; NULL out of
 * memory): {"op","ok":true,"data":"<base64 COSE_Sign1>"}, or a failure;
 * reason "no_certificate" when no certificate is held yet. A measure op
 * (CL_OP_MEASURE) gets the same document with PCR5 measured from the
 * running enclave first (agent_rtm.h: paused, measured, resumed). ctx is the
 * cl_agent_att (the signature fits agent_ops.h's attest hook). */
json_t *cl_agent_att_op(void *ctx, const char *dir, const cl_agent_op *op);

/* The document itself, for the attest and measure ops and for the
 * enclave's own secure module (agent_guest.c): enclave's registers
 * (DIR/pcrs; with measure, PCR5 measured from the running enclave first),
 * the certificate held, args' nonce/user_data/public_key (absent when has_*
 * is false), signed by the attestation key. *doc is malloc'd (the caller
 * frees), *len its length. CL_ENOTFOUND when the enclave does not run here
 * or has no registers, CL_EUNAVAIL when no certificate is held yet,
 * CL_EINTERNAL when the measure failed, else the builder's or the key
 * holder's failure. */
CL_MUST_CHECK cl_err cl_agent_att_document(cl_agent_att *a, const char *dir, const char *enclave,
					   const cl_agent_att_args *args, bool measure, uint8_t **doc, size_t *len);

#endif
