/* buf.h — the one buffer type: bounded, growable, with a read cursor.
 *
 * A cl_buf never grows past its `max`; writes past it fail with CL_ETOOBIG.
 * Reads advance `pos` and fail with CL_EINVAL instead of overrunning.
 * cl_buf_free() wipes the contents before freeing (buffers may hold secrets).
 */
#ifndef CL_BUF_H
#define CL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct cl_buf {
	uint8_t *data;
	size_t len; /* bytes written */
	size_t pos; /* read cursor, <= len */
	size_t cap; /* allocated */
	size_t max; /* hard limit on len */
} cl_buf;

/* Initialises an empty buffer that may grow to max bytes. Allocates nothing. */
void cl_buf_init(cl_buf *b, size_t max);
/* Wipes and frees the storage; the buffer is empty and reusable afterwards. */
void cl_buf_free(cl_buf *b);
/* Drops contents (wiped) but keeps storage and max. */
void cl_buf_reset(cl_buf *b);
/* Wraps caller memory for reading only: no copy, must not be written or freed. */
void cl_buf_wrap(cl_buf *b, const void *data, size_t len);

CL_MUST_CHECK cl_err cl_buf_put(cl_buf *b, const void *p, size_t n);
CL_MUST_CHECK cl_err cl_buf_put_u8(cl_buf *b, uint8_t v);
CL_MUST_CHECK cl_err cl_buf_put_be16(cl_buf *b, uint16_t v);
CL_MUST_CHECK cl_err cl_buf_put_be32(cl_buf *b, uint32_t v);
CL_MUST_CHECK cl_err cl_buf_put_be64(cl_buf *b, uint64_t v);
CL_MUST_CHECK cl_err cl_buf_put_str(cl_buf *b, const char *s);
/* Appends printf-formatted text (no NUL stored). */
CL_MUST_CHECK cl_err cl_buf_printf(cl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ensures a NUL follows the contents (not counted in len); returns data as char*. */
CL_MUST_CHECK cl_err cl_buf_cstr(cl_buf *b, const char **out);

/* Bytes left to read. */
size_t cl_buf_remaining(const cl_buf *b);
CL_MUST_CHECK cl_err cl_buf_get(cl_buf *b, void *p, size_t n);
/* Points *p at the next n bytes (inside b) and advances; no copy. */
CL_MUST_CHECK cl_err cl_buf_get_ref(cl_buf *b, const uint8_t **p, size_t n);
CL_MUST_CHECK cl_err cl_buf_get_u8(cl_buf *b, uint8_t *v);
CL_MUST_CHECK cl_err cl_buf_get_be16(cl_buf *b, uint16_t *v);
CL_MUST_CHECK cl_err cl_buf_get_be32(cl_buf *b, uint32_t *v);
CL_MUST_CHECK cl_err cl_buf_get_be64(cl_buf *b, uint64_t *v);

#endif
