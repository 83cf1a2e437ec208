/* util.h — small helpers several components share: encodings, randomness,
 * constant-time comparison, durable file writes, time.
 */
#ifndef CL_UTIL_H
#define CL_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Lower-case hex of n bytes into out (2n+1 bytes incl. NUL). */
void cl_hex_encode(const uint8_t *in, size_t n, char *out);
/* The value of one hex digit (either case), or -1. */
int cl_hex_digit(char c);
/* Decodes exactly n bytes of hex; fails on wrong length or bad digit. */
CL_MUST_CHECK cl_err cl_hex_decode(const char *hex, uint8_t *out, size_t n);
/* Standard base64 (with padding) of in; result malloc'd, caller frees. */
CL_MUST_CHECK cl_err cl_base64_encode(const uint8_t *in, size_t n, char **out);
/* Decodes standard base64 into out (cleared first, bounded by out->max). */
CL_MUST_CHECK cl_err cl_base64_decode(const char *in, cl_buf *out);
/* Fills p with n bytes from the kernel CSPRNG (getrandom). */
CL_MUST_CHECK cl_err cl_random(void *p, size_t n);
/* Random identifier: prefix + 20 lower-case base32 chars, e.g. "enc-..." into out (>= 32 bytes). */
CL_MUST_CHECK cl_err cl_random_id(const char *prefix, char *out, size_t outlen);
/* Constant-time equality of n bytes. */
bool cl_ct_equal(const void *a, const void *b, size_t n);

/* The cl_err for a failed file write's errno: CL_ENOSPACE for ENOSPC and
 * EDQUOT (the disk, or a disk quota, is full), else fallback. */
cl_err cl_errno_write_err(int errnum, cl_err fallback);
/* Writes data to path durably: temp file, fsync, rename, fsync directory. mode e.g. 0600.
 * A full disk is CL_ENOSPACE (nothing is left behind), other failures CL_EIO. */
CL_MUST_CHECK cl_err cl_file_write_atomic(const char *path, const void *data, size_t n, unsigned mode);
/* As cl_file_write_atomic without the fsyncs: a reader sees the old or the new
 * content whenever this process is killed, but a power loss may leave either,
 * or an empty file. Only for state that does not outlive the machine's uptime
 * (what describes a running sandbox). */
CL_MUST_CHECK cl_err cl_file_replace(const char *path, const void *data, size_t n, unsigned mode);
/* Reads a whole file of at most max bytes into out (cleared first). */
CL_MUST_CHECK cl_err cl_file_read(const char *path, size_t max, cl_buf *out);
/* Opens /dev/null on any of descriptors 0, 1, 2 that is closed, so that no
 * socket or file a program opens later lands on one of them (a process
 * that keeps "stdio" when it closes the rest, as the key holder does, would
 * otherwise keep a channel's other end). For each program's main, first. */
void cl_stdio_ensure(void);
/* mkdir -p with mode for created directories (CL_ENOSPACE on a full disk). */
CL_MUST_CHECK cl_err cl_mkdir_p(const char *path, unsigned mode);
/* Removes a directory tree (does not cross mount points). Missing path is OK. */
CL_MUST_CHECK cl_err cl_rm_rf(const char *path);
/* Closes every descriptor above stderr except keep[0..n) (close_range):
 * what a part forked from a bigger process does before it serves, so it
 * holds none of its parent's sockets, files or pipes. CL_ESYS on failure. */
CL_MUST_CHECK cl_err cl_close_fds_except(const int *keep, size_t n);

/* Monotonic clock in nanoseconds / wall clock in milliseconds since the epoch. */
uint64_t cl_now_mono_ns(void);
uint64_t cl_now_wall_ms(void);

#endif
