/* sdk_internal.h — what the files of libcloister-enclave share (not public). */
#ifndef CL_SDK_INTERNAL_H
#define CL_SDK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cloister/enclave.h"

/* Sets this thread's detail (printf-style) and returns e. */
cle_err cle_fail(cle_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears the detail and returns CLE_OK. */
cle_err cle_ok(void);
/* One secure-module exchange: req[0..n) is a whole request frame; the
 * body of a status-0 answer goes to out (*len capacity in, length out). */
cle_err cle_nsm_call(const uint8_t *req, size_t n, uint8_t *out, size_t *len);

#endif
