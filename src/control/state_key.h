/* state_key.h — the control plane's checks and crypto around a suspend's
 * state key K_n (state_key.c; docs/suspend.md "The state key"): the policy
 * made from the suspend's verified document, its comparison with a
 * restoring enclave's document, the stored suspend document's re-check,
 * the monitor's aad, and the wrap to the enclave's key. The routes and
 * jobs that use them are the next step (docs/suspend.md, planned). */
#ifndef CL_CONTROL_STATE_KEY_H
#define CL_CONTROL_STATE_KEY_H

#include <stdint.h>
#include <time.h>

#include "attest/attest.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/wrap.h"
#include "control/monitor.h"
#include "control/store.h"
#include "control/store_state.h"

#define CTL_STATE_WRAP_LABEL "cloister-state-wrap-v1"

/* The policy of a state key from the suspend's verified document d into
 * out: {"pcrs":{"0":hex,"1":hex,"2":hex,"3":hex}} plus "8" when d's PCR8 is
 * not all zero (a signed image). Never PCR4 (the host: a restore may move)
 * nor PCR7 (replayed from inside the blob, docs/suspend.md "PCR7"). */
CL_MUST_CHECK cl_err ctl_state_policy(const cl_att_doc *d, char out[CTL_STATE_POLICY_MAX]);

/* Compares every register of policy with d's, in constant time. CL_EPERM
 * with the detail "PCR<i> differs from the suspended enclave's" at the
 * first that differs (the refusal pcr_mismatch); CL_EINTERNAL if the
 * stored policy is unreadable. */
CL_MUST_CHECK cl_err ctl_state_policy_check(const char *policy, const cl_att_doc *d);

/* The monitor's aad for K_n: "state/<tenant_id>/<enclave_id>/<n>". */
void ctl_state_seal_aad(const char *tenant_id, const char *enclave_id, int64_t n,
			char out[CTL_MON_SEAL_AAD_MAX + 1]);

/* Wraps key (CTL_STATE_KEY_LEN bytes) to point under CTL_STATE_WRAP_LABEL
 * into out (reset first; the caller's buffer, at least CTL_STATE_KEY_LEN +
 * CL_WRAP_OVERHEAD). cl_wrap_seal_label's errors. */
CL_MUST_CHECK cl_err ctl_state_wrap_key(const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *key, cl_buf *out);

/* Re-checks a stored suspend document doc[0..len) at restore: it parses,
 * verifies against the root root_der (chain and certificates as valid at
 * suspended_at_ms: a leaf that expired since does not spoil the blob), names
 * enclave_id, its leaf was issued by this control plane (st) and not revoked
 * before suspended_at_ms (a host removed after the suspend does not), and
 * its registers match policy. CL_EPERM (or cl_att_verify's CL_ECRYPTO) with
 * a detail starting "suspend document: " (the refusal bad_document);
 * other codes are the server's. */
CL_MUST_CHECK cl_err ctl_state_check_suspend_doc(ctl_store *st, const uint8_t *root_der, size_t root_len,
						 const uint8_t *doc, size_t len, const char *enclave_id,
						 const char *policy, int64_t suspended_at_ms);

/* The monitor's SEAL and UNSEAL (ctl_mon_seal/ctl_mon_unseal on the worker's
 * client; tests pass ctl_seal/ctl_unseal over a local key). */
typedef struct ctl_state_sealer {
	cl_err (*seal)(void *ctx, const char *aad, const uint8_t *pt, size_t n, cl_buf *out);
	cl_err (*unseal)(void *ctx, const char *aad, const uint8_t *blob, size_t n, cl_buf *out);
	void *ctx;
} ctl_state_sealer;

/* What a state-key request is checked against: from the op (suspend or
 * restore) the host token's route named. */
typedef struct ctl_state_req {
	const char *tenant_id;
	const char *enclave_id;
	const char *host_id;      /* the host the op runs on (a restore's new host) */
	const uint8_t *nonce;     /* the op's 32-byte challenge */
	const uint8_t *root_der;  /* the control plane's root (DER) */
	size_t root_len;
	int64_t now_ms;
} ctl_state_req;

/* Suspend: checks doc[0..len) (the refusals, *reason: bad_document (it does
 * not parse or verify), stale_nonce (not the op's), wrong_enclave,
 * host_revoked (leaf not issued here or revoked; host not ready),
 * wrong_host, no_public_key, bad_public_key: CL_EPERM or CL_ECRYPTO with a
 * detail), then makes K_n (n = the counter + 1, into *n), has it sealed,
 * stores it pending with the policy of doc and doc itself (its own
 * transaction), and wraps it to doc's public key into wrapped (the
 * caller's, CTL_STATE_KEY_LEN + CL_WRAP_OVERHEAD). K_n is wiped. Other
 * codes (*reason NULL) are the server's. */
CL_MUST_CHECK cl_err ctl_state_issue(ctl_store *st, const ctl_state_sealer *s, const ctl_state_req *rq,
				     const uint8_t *doc, size_t len, int64_t *n, cl_buf *wrapped, const char **reason);

/* Restore of blob n: the checks of ctl_state_issue, then n is the committed
 * suspend (stale_blob, naming both numbers), doc's registers are the policy
 * (pcr_mismatch: PCR<i>), the stored suspend document re-checks
 * (bad_document: suspend document: ...); then the committed K_n is unsealed
 * and wrapped to doc's key into wrapped. A sealed key that does not open is
 * CL_EINTERNAL (not the caller's fault). */
CL_MUST_CHECK cl_err ctl_state_release(ctl_store *st, const ctl_state_sealer *s, const ctl_state_req *rq,
				       const uint8_t *doc, size_t len, int64_t n, cl_buf *wrapped,
				       const char **reason);

#endif
