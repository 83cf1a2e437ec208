/* state_io.h — the enclave's half of suspend and restore (docs/suspend.md),
 * linked only into cloister-init-bundle and tests: the tar of a directory tree streamed
 * through AES-256-GCM under K_n into a blob (src/common/state.h), and a
 * blob opened (tag first, nothing extracted before it verifies) and
 * extracted into a directory. Single-threaded; libcrypto and libc only. */
#ifndef CL_INIT_STATE_IO_H
#define CL_INIT_STATE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "common/state.h"

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
 * encrypted under key, to sink; *length gets its size. Its tar's first
 * entry is CL_STATE_FILE (common/state.h) listing ext[0..next) (also when
 * next is 0: an empty list). 0 on success; -1 with reason: "bad_state:
 * <path>: <why>" (a link, socket, fifo or device; too many entries; a tar
 * over CL_INIT_STATE_TAR_MAX; a top-level CL_STATE_FILE of the tree's own:
 * the name is reserved), "io: ..." (a read failed), "sink" (the sink
 * stopped it). */
int cl_init_state_seal_extends(const char *root, const char *skip, const uint8_t ext[][CL_STATE_EXTEND_LEN],
			       size_t next, const uint8_t key[CL_INIT_STATE_KEY_LEN], const char *enclave_id, uint64_t n,
			       cl_init_state_sink sink, void *ctx, uint64_t *length,
			       char reason[CL_INIT_STATE_REASON_MAX]);
/* cl_init_state_seal_extends with no extends (an enclave never provisioned). */
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

/* After cl_init_state_open into dir: reads and removes dir/CL_STATE_FILE
 * (the PCR7 extends the suspended enclave had) into ext
 * (CL_STATE_EXTENDS_MAX entries), their count into *n; a blob without the
 * file has none (0, *n = 0). 0 on success; -1 with reason "bad_state:
 * .cloister-state: <why>" (not a regular file, too large, or not the
 * format: cl_state_file_parse), the file left for the caller's cleanup. */
int cl_init_state_take_extends(const char *dir, uint8_t ext[][CL_STATE_EXTEND_LEN], size_t *n,
			       char reason[CL_INIT_STATE_REASON_MAX]);

#endif
