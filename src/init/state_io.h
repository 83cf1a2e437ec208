/* state_io.h — the enclave's half of suspend and restore (docs/suspend.md),
 * linked only into cloister-init-bundle (not yet called by it: the frames
 * are the next step) and tests: the tar of a directory tree streamed
 * through AES-256-GCM under K_n into a blob (src/common/state.h), and a
 * blob opened (tag first, nothing extracted before it verifies) and
 * extracted into a directory. Single-threaded; libcrypto and libc only. */
#ifndef CL_INIT_STATE_IO_H
#define CL_INIT_STATE_IO_H

#include <stddef.h>
#include <stdint.h>

#define CL_INIT_STATE_REASON_MAX 240
#define CL_INIT_STATE_KEY_LEN 32
/* The largest tar of state: 64 MiB of file data (CL_BUNDLE_MAX, also the
 * cap of one file) plus each of at most 1024 entries' header block and
 * padding, and the end marker. */
#define CL_INIT_STATE_TAR_MAX ((64ull << 20) + 1024ull * 1024ull + 1024ull)

/* Receives the blob's bytes in order; returns 0, or -1 to stop the seal. */
typedef int (*cl_init_state_sink)(void *ctx, const uint8_t *p, size_t n);

/* Writes the blob of the tree under root (regular files and directories;
 * the top-level entry skip, if not NULL, is left out) for enclave_id and n,
 * encrypted under key, to sink; *length gets its size. 0 on success; -1
 * with reason: "bad_state: <path>: <why>" (a link, socket, fifo or device;
 * too many entries; a tar over CL_INIT_STATE_TAR_MAX), "io: ..." (a read failed), "sink"
 * (the sink stopped it). */
int cl_init_state_seal(const char *root, const char *skip, const uint8_t key[CL_INIT_STATE_KEY_LEN],
		       const char *enclave_id, uint64_t n, cl_init_state_sink sink, void *ctx, uint64_t *length,
		       char reason[CL_INIT_STATE_REASON_MAX]);

/* Opens blob[0..len) for enclave_id and n under key and extracts its tree
 * into the directory dest (which must exist and be empty; the caller moves
 * it into place), using the file staging for the plaintext tar (created,
 * removed afterwards). 0 on success; -1 with reason: "bad_blob: ..." (the
 * header does not parse, or names another enclave or number),
 * "decrypt_failed" (the tag: any change, or another key), "bad_state:
 * <entry>: <why>" (the tar), "no_space: ..." (staging). Nothing is
 * extracted unless the tag verifies. */
int cl_init_state_open(const uint8_t *blob, size_t len, const uint8_t key[CL_INIT_STATE_KEY_LEN],
		       const char *enclave_id, uint64_t n, const char *staging, const char *dest,
		       char reason[CL_INIT_STATE_REASON_MAX]);

#endif
