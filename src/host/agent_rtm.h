/* agent_rtm.h — measuring a running enclave's code on demand (agent_rtm.c):
 * the measure op's PCR5, "runtime code" (docs/measurements.md).
 *
 * The enclave is paused (cgroup freezer) for at most CL_RTM_PAUSE_MS; every
 * executable mapping of every process in it (/proc/PID/maps entries with
 * 'x' in their permissions, anonymous ones included, [vsyscall] excepted:
 * the kernel's, the same page in every process of the host) is read
 * through /proc/PID/mem and hashed; the enclave is thawed — on every path,
 * failures included, unless it was already paused (a stopped enclave stays
 * stopped) — and the register is computed from the regions in a canonical
 * order that holds no address or pid:
 *
 *   region = path inside the enclave ("" for anonymous memory), offset in
 *            the file (0 for anonymous), length, SHA-384 of the bytes
 *   sorted by path (bytewise), then offset, then length, then digest
 *   PCR5 = zeros, extended once per region with
 *          path || 0x00 || offset (u64 BE) || length (u64 BE) || SHA-384
 *
 * then once per file init reports (its application's code and data: the
 * image's files, the bundle's tree), sorted by path, each path once, read
 * through the enclave's root while it is paused:
 *          0xff || type || path || 0x00 || size (u64 BE) || SHA-384
 *
 * ASLR moves mappings, not their contents: the same unchanged enclave
 * measured twice gives the same PCR5; code loaded, replaced or unmapped
 * changes it.
 */
#ifndef CL_HOST_AGENT_RTM_H
#define CL_HOST_AGENT_RTM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/frame.h"
#include "image/measure.h"

#define CL_RTM_PCR 5
#define CL_RTM_MAX_PROCS 256                     /* processes measured at most */
#define CL_RTM_MAX_REGIONS 8192                  /* executable mappings at most */
#define CL_RTM_MAX_BYTES (1024ull << 20)         /* bytes hashed at most */
#define CL_RTM_PAUSE_MS 10000u                   /* the pause's bound */
#define CL_RTM_PATH_MAX 4096

#define CL_RTM_MAX_FILES CL_FILES_MAX            /* reported files measured at most */
#define CL_RTM_FILES_WAIT_MS 2000                /* init's answer to FILES_REQ, at most */

/* Kinds of a reported file's region (the type byte of its record). */
#define CL_RTM_FILE_REG 'f'     /* a regular file: its bytes */
#define CL_RTM_FILE_DIR 'd'     /* a directory */
#define CL_RTM_FILE_LNK 'l'     /* a symbolic link (not followed): its target */
#define CL_RTM_FILE_OTHER 'o'   /* a fifo, socket or device: not opened */
#define CL_RTM_FILE_MISSING 'm' /* no such path (any more) */
#define CL_RTM_FILE_REFUSED 'r' /* its resolution would leave the root or cross a magic link */

/* One executable mapping (kind 0), or one reported file (kind: CL_RTM_FILE_*). */
typedef struct cl_rtm_region {
	char *path; /* malloc'd; inside the enclave, "" for anonymous memory */
	char kind;
	uint64_t offset, len; /* a file: offset 0, len its size (a link: its target's) */
	uint8_t digest[48];
} cl_rtm_region;

typedef struct cl_rtm_set {
	cl_rtm_region *v; /* malloc'd */
	size_t n, cap, nfiles;
	uint64_t bytes; /* sum of len */
} cl_rtm_set;

/* Adds a region (path copied). CL_ELIMIT past CL_RTM_MAX_REGIONS or
 * CL_RTM_MAX_BYTES, CL_ENOMEM. */
CL_MUST_CHECK cl_err cl_rtm_add(cl_rtm_set *s, const char *path, uint64_t offset, uint64_t len,
				const uint8_t digest[48]);
/* Adds a reported file's region (kind CL_RTM_FILE_*): CL_ELIMIT past
 * CL_RTM_MAX_FILES or CL_RTM_MAX_BYTES, CL_ENOMEM. */
CL_MUST_CHECK cl_err cl_rtm_add_file(cl_rtm_set *s, const char *path, char kind, uint64_t size,
				     const uint8_t digest[48]);
void cl_rtm_set_free(cl_rtm_set *s);
/* Sorts s canonically and sets reg (reset first) from it (see above). */
void cl_rtm_register(cl_rtm_set *s, uint8_t reg[CL_PCR_LEN]);

/* One line of /proc/PID/maps ("start-end perms offset dev inode [path]",
 * without its newline). *path points into line ("" when none); a path
 * under root (the process's root as the reader sees it, "/" or NULL for
 * none) is given relative to it ("/app/x"). CL_EINVAL if malformed. */
CL_MUST_CHECK cl_err cl_rtm_parse_maps(const char *line, const char *root, uint64_t *start, uint64_t *end,
				       char perms[5], uint64_t *offset, const char **path);

/* A FILES payload (from an enclave: hostile input) into paths: *paths
 * (malloc'd array pointing into *store, malloc'd; free both) of *n
 * absolute paths. CL_EINVAL if malformed (no flags byte, a path that is
 * empty, relative, too long or not NUL-terminated), CL_ELIMIT if init
 * said it truncated the list or it holds more than CL_RTM_MAX_FILES. An
 * empty payload is an empty list. */
CL_MUST_CHECK cl_err cl_rtm_files_parse(const uint8_t *p, size_t len, char ***paths, char **store, size_t *n);
/* Hashes each path, resolved inside the directory root (openat2 with
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: ".." and symbolic links never
 * lead out of it; the last component is never followed), into s as file
 * regions: a regular file's bytes (its size, read at most), a link's
 * target, a type for anything else (not opened), "missing" or "refused"
 * for a path that does not resolve. CL_ETIMEOUT past deadline_ns, CL_ELIMIT
 * past the set's bounds, CL_ESYS on a read error. buf: CL_RTM_CHUNK bytes. */
CL_MUST_CHECK cl_err cl_rtm_hash_files(int root, char *const *paths, size_t n, uint64_t deadline_ns, uint8_t *buf,
				       cl_rtm_set *s);
#define CL_RTM_CHUNK (256u << 10)

/* How the measurement reaches the enclave: the sandbox (cl_agent_rtm_enclave)
 * or a test's fake. */
typedef struct cl_rtm_target {
	cl_err (*is_frozen)(void *ctx, bool *frozen);
	cl_err (*freeze)(void *ctx, bool frozen); /* waits (bounded) for the state */
	cl_err (*pids)(void *ctx, pid_t *out, size_t max, size_t *n);
	/* The FILES payload of the enclave's init (*list malloc'd, NULL when
	 * *len is 0): fresh (asked now, bounded) while it runs, the last one
	 * reported when it is paused. NULL: no files are measured. */
	cl_err (*files)(void *ctx, bool fresh, uint8_t **list, uint32_t *len);
	/* Opens the enclave's root directory (O_PATH) given its pids. */
	cl_err (*root)(void *ctx, const pid_t *pids, size_t np, int *fd);
	/* Tests only (NULL otherwise): called before each region is read; a
	 * failure aborts the measurement there. */
	cl_err (*fault)(void *ctx, size_t region);
	void *ctx;
} cl_rtm_target;

/* Asks t for its files (before the pause), pauses t (unless already
 * paused), measures its processes' executable mappings and its files,
 * resumes it and sets reg (PCR5). The pause lasts at most
 * pause_ms of reading (CL_ETIMEOUT past it). Every failure — pids, maps,
 * mem, a limit, the deadline — resumes t before returning; if resuming
 * itself fails that is the error returned (and logged). *nregions, *nfiles
 * (may be NULL): mappings and files measured. reg is untouched on failure. */
CL_MUST_CHECK cl_err cl_rtm_measure(const cl_rtm_target *t, uint32_t pause_ms, uint8_t reg[CL_PCR_LEN],
				    size_t *nregions, size_t *nfiles);

/* The agent's other freezer user, the reconcile loop, must neither undo a
 * measure's pause nor report it as a stop, and must not wait for a measure
 * of another enclave (a measure runs for seconds, beside the loop):
 *  - cl_agent_rtm_measure_begin/end bracket a measure of enclave id: one
 *    measure at a time; begin waits while the loop is changing id's freezer;
 *  - cl_agent_rtm_loop_begin(id) before the loop freezes or thaws id: false
 *    while id is being measured (the change waits for the next reconcile:
 *    nothing is applied), else true and cl_agent_rtm_loop_end after it. It
 *    never waits for a measure;
 *  - cl_agent_rtm_paused(id, &frozen): true while enclave id is paused by a
 *    measure, with the state it had before (what the loop reports). */
void cl_agent_rtm_measure_begin(const char *id);
void cl_agent_rtm_measure_end(void);
bool cl_agent_rtm_loop_begin(const char *id);
void cl_agent_rtm_loop_end(void);
bool cl_agent_rtm_paused(const char *id, bool *frozen_before);

/* cl_rtm_measure on the sandbox of enclave id under the agent's data
 * directory dir (CL_RTM_PAUSE_MS). CL_ENOTFOUND if it has no sandbox. */
CL_MUST_CHECK cl_err cl_agent_rtm_enclave(const char *dir, const char *id, uint8_t reg[CL_PCR_LEN]);

#endif
