/* state_blob.h — the control plane's blob store for suspended state
 * (state_blob.c; docs/suspend.md): DATA/state/<enclave_id>.<n>.blob,
 * written like uploads — a temporary file, its size capped as it grows,
 * checked against the SHA-384 and length the enclave announced, fsynced,
 * renamed into place, the directory fsynced — and only then committed in
 * the store (ctl_store_state_commit). A temporary file left by a kill is
 * removed at start-up (ctl_state_blob_reap). */
#ifndef CL_CONTROL_STATE_BLOB_H
#define CL_CONTROL_STATE_BLOB_H

#include <limits.h>
#include <stdint.h>

#include "common/err.h"
#include "control/store_state.h"

/* A blob being written: the caller's, opened by ctl_state_blob_open and
 * ended by ctl_state_blob_finish or ctl_state_blob_abort. */
typedef struct ctl_state_blob_w {
	int fd;
	char tmp[PATH_MAX], final[PATH_MAX], dir[PATH_MAX];
	char rel[CTL_STATE_PATH_MAX]; /* the final path relative to the data dir (the store's) */
	uint64_t written, max;
	void *sha; /* EVP_MD_CTX */
} ctl_state_blob_w;

/* Starts blob n of enclave_id (1..63 bytes of [A-Za-z0-9_.-], not starting
 * with '.') under datadir/state (made 0700 if missing), at most max bytes.
 * A leftover temporary file of the same blob is replaced. CL_EINVAL for a
 * bad id or n; CL_EIO/CL_ENOSPACE from the disk. */
CL_MUST_CHECK cl_err ctl_state_blob_open(const char *datadir, const char *enclave_id, int64_t n, uint64_t max,
					 ctl_state_blob_w *w);
/* Appends p[0..len). CL_ETOOBIG past max (the blob is then aborted: its
 * temporary file removed); disk errors likewise abort it. */
CL_MUST_CHECK cl_err ctl_state_blob_write(ctl_state_blob_w *w, const uint8_t *p, size_t len);
/* Ends the blob: its length must be want_len and its SHA-384 want_sha384
 * (96 lower-case hex), else CL_EINVAL saying which (aborted); then fsync,
 * rename to w->rel's place, fsync of the directory. Its SHA-384 hex goes to
 * sha_hex. Whatever the outcome, w is closed. */
CL_MUST_CHECK cl_err ctl_state_blob_finish(ctl_state_blob_w *w, uint64_t want_len, const char *want_sha384,
					   char sha_hex[CTL_STATE_SHA_HEX + 1]);
/* Closes w and removes its temporary file (a no-op on a closed w). */
void ctl_state_blob_abort(ctl_state_blob_w *w);
/* Removes the committed blob rel (relative to datadir, as the store names
 * it: "state/..."), e.g. the previous one after a commit. A missing file is
 * fine; CL_EINVAL for a path outside state/. */
CL_MUST_CHECK cl_err ctl_state_blob_remove(const char *datadir, const char *rel);
/* Removes every temporary blob file under datadir/state (start-up: no
 * suspend is in flight then). *n (may be NULL): how many. */
CL_MUST_CHECK cl_err ctl_state_blob_reap(const char *datadir, int *n);
/* Removes every blob file under datadir/state that is not its enclave's
 * committed blob in st (a destroyed enclave's, or a previous one whose
 * unlink a kill prevented; start-up: no suspend in flight). Files of other
 * names are left alone. *n (may be NULL): how many. */
CL_MUST_CHECK cl_err ctl_state_blob_reap_orphans(const char *datadir, ctl_store *st, int *n);

#endif
