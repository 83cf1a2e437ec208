/* secmem.h — memory for secrets: locked, left out of core dumps, not
 * inherited by a fork, wiped before it is unmapped.
 *
 * Where the kernel has memfd_secret(2) (Linux >= 5.14, enabled) the pages
 * come from it: they are removed from the kernel's direct map, so not even
 * the kernel (or /proc/PID/mem of a root process) reads them through that
 * path, and they are locked implicitly. Elsewhere (or when forced) they are
 * an anonymous mapping with mlock, MADV_DONTDUMP and MADV_WIPEONFORK.
 * Either way a child after fork() sees no secret: the secretmem mapping
 * (shared by nature) is MADV_DONTFORK, so it is absent in the child; the
 * fallback one reads as zeros there.
 *
 * Sizes are rounded up to whole pages; both kinds count against
 * RLIMIT_MEMLOCK (root with CAP_IPC_LOCK is not limited), so allocate early,
 * before dropping privileges, and in few large pieces (an arena).
 */
#ifndef CL_SECMEM_H
#define CL_SECMEM_H

#include <stddef.h>

#include "common/err.h"

enum cl_secmem_kind {
	CL_SECMEM_NONE = 0,
	CL_SECMEM_SECRETMEM = 1, /* memfd_secret */
	CL_SECMEM_LOCKED = 2,    /* mmap + mlock + MADV_DONTDUMP + MADV_WIPEONFORK */
};

/* Flags for cl_secmem_alloc. */
#define CL_SECMEM_NO_SECRETMEM 0x1u /* use the fallback even if memfd_secret works */

/* One secret mapping. Owned by the caller; release with cl_secmem_free. */
typedef struct cl_secmem {
	void *ptr;                 /* zeroed, page aligned, len bytes usable */
	size_t len;                /* rounded up to the page size */
	enum cl_secmem_kind kind;
} cl_secmem;

/* Maps at least n bytes (n > 0) of zeroed secret memory into *out. Tries
 * memfd_secret first unless flags has CL_SECMEM_NO_SECRETMEM or the
 * environment has CLOISTER_SECMEM=locked; falls back when the kernel lacks
 * it (ENOSYS) or has it disabled. Fails closed: CL_ESYS if the memory cannot
 * be locked or marked (e.g. RLIMIT_MEMLOCK), CL_EINVAL for n == 0; *out is
 * then all zero. */
CL_MUST_CHECK cl_err cl_secmem_alloc(size_t n, unsigned flags, cl_secmem *out);

/* Wipes and unmaps m (safe on a zeroed or already freed cl_secmem). */
void cl_secmem_free(cl_secmem *m);

/* A name for logs: "memfd_secret", "mlock" or "none". Static string. */
const char *cl_secmem_kind_name(enum cl_secmem_kind kind);

#endif
