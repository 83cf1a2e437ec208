/* store_state.h — suspend and restore in the control plane's store
 * (store_state.c; migration 11; docs/suspend.md "Store"). Per enclave: the
 * suspend counter (only grows), the one committed state key (sealed by the
 * monitor, aad "state/<tenant_id>/<enclave_id>/<n>") with its policy, the
 * suspend document and the blob it opens, and at most one suspend in
 * flight (its pending key, policy and document). This layer stores and
 * returns sealed keys; it never sees a key in clear. Times are ms since
 * the epoch. */
#ifndef CL_CONTROL_STORE_STATE_H
#define CL_CONTROL_STORE_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "control/monitor.h"
#include "control/store.h"

#define CTL_STATE_KEY_LEN 32                                  /* K_n */
#define CTL_STATE_SEALED_LEN (CTL_STATE_KEY_LEN + CTL_SEAL_OVERHEAD) /* K_n sealed */
#define CTL_STATE_POLICY_MAX 2048                             /* {"pcrs":{"0":"<96 hex>",...}} */
#define CTL_STATE_DOC_MAX 16384                               /* a suspend document (CBOR) */
#define CTL_STATE_SHA_HEX 96                                  /* SHA-384 in hex */
#define CTL_STATE_PATH_MAX 256                                /* a blob's path, relative to the data dir */

/* One enclave's row, without its documents. */
typedef struct ctl_state {
	char enclave_id[CTL_ID_MAX];
	int64_t counter; /* the highest n ever handed out (0: never suspended) */
	/* the committed suspend: key, policy and blob belong together (key_n 0: none) */
	int64_t key_n;
	uint8_t sealed_key[CTL_STATE_SEALED_LEN];
	size_t sealed_key_len;
	char policy[CTL_STATE_POLICY_MAX];
	uint64_t blob_size;
	char blob_sha384[CTL_STATE_SHA_HEX + 1];
	char blob_path[CTL_STATE_PATH_MAX];
	int64_t suspended_at;
	/* the suspend in flight (pending_n 0: none) */
	int64_t pending_n;
	uint8_t pending_key[CTL_STATE_SEALED_LEN];
	size_t pending_key_len;
	char pending_policy[CTL_STATE_POLICY_MAX];
	int64_t pending_at;
} ctl_state;

/* The row of enclave_id into *out. An enclave never suspended reads as a
 * zeroed row with its id (CL_OK), so the caller can take counter + 1.
 * CL_EINTERNAL if a stored key has the wrong size. */
CL_MUST_CHECK cl_err ctl_store_state_get(ctl_store *st, const char *enclave_id, ctl_state *out);

/* Starts suspend n of enclave_id (inside the caller's transaction): n must
 * be the counter + 1 (CL_ECONFLICT otherwise: another suspend took it), the
 * counter becomes n, and sealed (the new key sealed, CTL_STATE_SEALED_LEN
 * bytes), policy and the document doc[0..doclen) are kept pending,
 * replacing any earlier pending suspend (whose key is thereby discarded).
 * CL_EINVAL for a sealed key of another size, an empty or oversized policy
 * or document. */
CL_MUST_CHECK cl_err ctl_store_state_begin(ctl_store *st, const char *enclave_id, int64_t n, const uint8_t *sealed,
					   size_t sealed_len, const char *policy, const uint8_t *doc, size_t doclen,
					   int64_t now);

/* Commits suspend n (inside the caller's transaction): its pending key,
 * policy and document become the committed ones, replacing (deleting) the
 * previous key, and the blob (size, SHA-384 hex, path) is recorded. The
 * previous blob's path goes to old_path ("" if none or the same) for the
 * caller to unlink after the commit. CL_ECONFLICT if n is not the pending
 * suspend (aborted, or superseded by a later one). */
CL_MUST_CHECK cl_err ctl_store_state_commit(ctl_store *st, const char *enclave_id, int64_t n, uint64_t blob_size,
					    const char *blob_sha384, const char *blob_path, int64_t now,
					    char old_path[CTL_STATE_PATH_MAX]);

/* Drops pending suspend n (its key is gone): CL_OK also when n is not
 * pending (nothing to do). The counter keeps n. */
CL_MUST_CHECK cl_err ctl_store_state_abort(ctl_store *st, const char *enclave_id, int64_t n);

/* Drops every pending suspend (start-up: none is in flight then). *n (may
 * be NULL): how many. */
CL_MUST_CHECK cl_err ctl_store_state_abort_all(ctl_store *st, int *n);

/* Puts every enclave being restored (desired "restoring") back to
 * suspended (start-up: no restore is in flight then; their hosts remove
 * the sandboxes). *n (may be NULL): how many. */
CL_MUST_CHECK cl_err ctl_store_state_unrestore_all(ctl_store *st, int *n);

/* For a restore of the blob numbered n: the row into *out when n is the
 * committed suspend. CL_ENOTFOUND ("no suspended state") if the enclave
 * has none; CL_ECONFLICT with the detail "stale_blob: the blob is suspend
 * <n>, the enclave's latest is <key_n>" for any other n (an older blob put
 * back in place: its key no longer exists). */
CL_MUST_CHECK cl_err ctl_store_state_for_restore(ctl_store *st, const char *enclave_id, int64_t n, ctl_state *out);

/* The committed suspend document of enclave_id: *doc malloc'd (the caller
 * frees), *len. CL_ENOTFOUND if none. */
CL_MUST_CHECK cl_err ctl_store_state_document(ctl_store *st, const char *enclave_id, uint8_t **doc, size_t *len);

/* Deletes enclave_id's row (inside the caller's transaction; none is fine):
 * its blob path (committed) goes to blob_path ("" if none) for the caller
 * to unlink after the commit. */
CL_MUST_CHECK cl_err ctl_store_state_delete(ctl_store *st, const char *enclave_id, char blob_path[CTL_STATE_PATH_MAX]);

/* Marks enclave_id suspendable (created with "suspendable": true). */
CL_MUST_CHECK cl_err ctl_store_state_set_suspendable(ctl_store *st, const char *enclave_id);
/* Whether enclave_id was created suspendable, into *yes. */
CL_MUST_CHECK cl_err ctl_store_state_suspendable(ctl_store *st, const char *enclave_id, bool *yes);

#endif
