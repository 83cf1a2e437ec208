/* bundle.h — what cloister-init reads of a provisioned bundle
 * (docs/provisioning.md): the tar (a ustar subset) and the BUNDLE_END and
 * EXTEND frame payloads.
 *
 * Depends only on libc: cloister-init links this file statically, as it does
 * frame.c, so its functions return cl_err codes without a detail; the reason
 * for a refused tar entry is written to the caller's `why` buffer instead.
 * Fuzzed by fuzz/fuzz_bundle.c.
 */
#ifndef CL_COMMON_BUNDLE_H
#define CL_COMMON_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CL_BUNDLE_MAX (64ull << 20)   /* largest plaintext tar */
#define CL_BUNDLE_ENTRIES_MAX 1024u   /* entries in a tar (files and directories) */
#define CL_BUNDLE_PATH_MAX 255u       /* bytes of an entry's path (prefix/name) */
#define CL_BUNDLE_WHY_MAX 160u        /* a refusal's reason, with its terminator */
#define CL_BUNDLE_END_LEN 56u         /* SHA-384 (48) + u64 BE ciphertext length */
#define CL_BUNDLE_EXTEND_LEN 49u      /* u8 register + SHA-384 (48) */
#define CL_BUNDLE_REGISTER 7u         /* the register an install extends */

enum cl_tar_type { CL_TAR_FILE = 1, CL_TAR_DIR = 2 };

/* One entry, pointing into the tar: path is normalised (no "./" prefix, no
 * trailing '/'), relative, without "." or ".." components. */
typedef struct cl_tar_entry {
	char path[CL_BUNDLE_PATH_MAX + 1];
	int type;           /* CL_TAR_FILE or CL_TAR_DIR */
	uint32_t mode;      /* permission bits, masked to 0755 */
	uint64_t size;      /* 0 for a directory */
	const uint8_t *data;
} cl_tar_entry;

typedef struct cl_tar {
	const uint8_t *p;
	size_t len, off;
	unsigned n;   /* entries returned so far */
	bool done;    /* the end marker (a zero block) was read */
} cl_tar;

/* Starts reading the tar p[0..len) (the caller keeps it alive). */
void cl_tar_init(cl_tar *t, const uint8_t *p, size_t len);
/* The next entry into *e: CL_OK with *got true; CL_OK with *got false at the
 * end marker (two zero blocks, or one at the very end). Anything else is
 * CL_EINVAL with why[CL_BUNDLE_WHY_MAX] saying which entry and why (a link,
 * a device, an absolute path, a ".." component, a bad checksum, a size past
 * the end, more than CL_BUNDLE_ENTRIES_MAX entries, no end marker, ...).
 * Entry "." (the root) is skipped. */
CL_MUST_CHECK cl_err cl_tar_next(cl_tar *t, cl_tar_entry *e, bool *got, char why[CL_BUNDLE_WHY_MAX]);

/* ---- the writer (a suspend's state, docs/suspend.md) ----
 *
 * Writes what cl_tar_next reads back: ustar ("ustar\0" "00"), owner 0,
 * mtime 0 (the same files give the same bytes), a path over 100 bytes split
 * into prefix/name. A writer emits, per entry, cl_tar_header_put's block,
 * then the data, then cl_tar_pad(size) zero bytes; then CL_TAR_END_LEN zero
 * bytes. */
#define CL_TAR_BLOCK 512u
#define CL_TAR_END_LEN 1024u

/* One header block into out for path (already clean: relative, no "." or
 * ".." or empty component, no leading "./", no trailing '/', no control
 * byte, at most CL_BUNDLE_PATH_MAX bytes and splittable at a '/' into at
 * most 155 + 100), type CL_TAR_FILE or CL_TAR_DIR (size 0), mode within
 * 0755 (other bits dropped), size at most CL_BUNDLE_MAX. CL_EINVAL with
 * why saying what otherwise (out then unspecified). */
CL_MUST_CHECK cl_err cl_tar_header_put(uint8_t out[CL_TAR_BLOCK], const char *path, int type, uint32_t mode,
				       uint64_t size, char why[CL_BUNDLE_WHY_MAX]);
/* The zero bytes that follow size bytes of data (0..511). */
size_t cl_tar_pad(uint64_t size);

/* BUNDLE_END: p[0..n) is SHA-384 || u64 BE length (n == 56). CL_EINVAL for
 * any other size, or a length of 0 or over CL_BUNDLE_MAX + 125 (the wrap's
 * overhead). */
CL_MUST_CHECK cl_err cl_bundle_end_parse(const uint8_t *p, size_t n, uint8_t sha384[48], uint64_t *length);
/* Writes a BUNDLE_END payload into out. */
void cl_bundle_end_put(uint8_t out[CL_BUNDLE_END_LEN], const uint8_t sha384[48], uint64_t length);
/* EXTEND: u8 register || SHA-384 (n == 49). CL_EINVAL for any other size or
 * a register other than CL_BUNDLE_REGISTER. */
CL_MUST_CHECK cl_err cl_bundle_extend_parse(const uint8_t *p, size_t n, uint8_t *reg, uint8_t sha384[48]);

#endif
