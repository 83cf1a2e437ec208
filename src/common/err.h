/* err.h — Cloister's one error convention.
 *
 * Every fallible function returns a cl_err (0 = CL_OK). The numbers are
 * stable and documented in docs/errors.md; never renumber, only append.
 * A function that fails may attach a human detail with cl_errorf(); the
 * detail is thread-local and valid until the next cl_errorf() on the thread.
 * Details must never contain secret input.
 */
#ifndef CL_ERR_H
#define CL_ERR_H

#define CL_MUST_CHECK __attribute__((warn_unused_result))

typedef enum cl_err {
	CL_OK = 0,
	CL_EINVAL = 1,     /* malformed or out-of-range input */
	CL_ENOMEM = 2,     /* allocation failed */
	CL_EIO = 3,        /* read/write/fsync failed */
	CL_ENOTFOUND = 4,  /* no such object */
	CL_EPERM = 5,      /* caller not allowed */
	CL_EAUTH = 6,      /* missing or wrong credential */
	CL_ECONFLICT = 7,  /* object exists or is in the wrong state */
	CL_ETOOBIG = 8,    /* input exceeds a limit */
	CL_ECRYPTO = 9,    /* signature, digest or key operation failed */
	CL_ESYS = 10,      /* a system call failed */
	CL_EPROTO = 11,    /* peer broke the protocol */
	CL_EUNAVAIL = 12,  /* no capacity / service unavailable */
	CL_ETIMEOUT = 13,  /* operation timed out */
	CL_EINTERNAL = 14, /* broken internal invariant */
	CL_ENOSPACE = 15,  /* the disk (or a storage quota) is full */
	CL_EMEDIA = 16,    /* request body of a media type the endpoint does not take */
	CL_EMETHOD = 17,   /* known path, method it does not serve */
	CL_ELIMIT = 18,    /* a rate or in-flight budget is exhausted: retry later */
	CL_EHEADERS = 19,  /* request headers exceed the server's limit */
	CL_ENOTIMPL = 20,  /* a request method the server implements for no path */
} cl_err;
/* The highest code (append-only: a new code moves this to it). */
#define CL_ERR_LAST CL_ENOTIMPL

/* Stable lower-case name of an error ("invalid", "not_found", ...). Static. */
const char *cl_err_name(cl_err e);
/* One-line English description of an error code. Static string. */
const char *cl_err_str(cl_err e);
/* Sets the thread's error detail (printf-style) and returns e unchanged. An
 * argument may be cl_error_detail() itself (a detail wrapped in a longer one). */
cl_err cl_errorf(cl_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The thread's last detail, or cl_err_str of nothing ("") if none. Never NULL. */
const char *cl_error_detail(void);
/* Clears the thread's detail. */
void cl_error_clear(void);

/* Return the error if the expression fails. */
#define CL_GUARD(expr)                                                                             \
	do {                                                                                       \
		cl_err guard_err_ = (expr);                                                        \
		if (guard_err_ != CL_OK)                                                           \
			return guard_err_;                                                         \
	} while (0)
/* Set `err` and jump to `out` if the expression fails. */
#define CL_GUARD_OUT(err, expr)                                                                    \
	do {                                                                                       \
		(err) = (expr);                                                                    \
		if ((err) != CL_OK)                                                                \
			goto out;                                                                  \
	} while (0)
/* Fail with code and detail unless cond holds. */
#define CL_ENSURE(cond, code, ...)                                                                 \
	do {                                                                                       \
		if (!(cond))                                                                       \
			return cl_errorf((code), __VA_ARGS__);                                     \
	} while (0)

#endif
