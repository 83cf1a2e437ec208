#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char detail[512];

static const struct {
	const char *name;
	const char *str;
} table[] = {
	[CL_OK] = {"ok", "success"},
	[CL_EINVAL] = {"invalid", "invalid input"},
	[CL_ENOMEM] = {"no_memory", "out of memory"},
	[CL_EIO] = {"io", "input/output error"},
	[CL_ENOTFOUND] = {"not_found", "not found"},
	[CL_EPERM] = {"forbidden", "operation not permitted"},
	[CL_EAUTH] = {"unauthorized", "missing or invalid credentials"},
	[CL_ECONFLICT] = {"conflict", "conflicts with current state"},
	[CL_ETOOBIG] = {"too_large", "input too large"},
	[CL_ECRYPTO] = {"crypto", "cryptographic check failed"},
	[CL_ESYS] = {"system", "system call failed"},
	[CL_EPROTO] = {"protocol", "protocol error"},
	[CL_EUNAVAIL] = {"unavailable", "no capacity or service unavailable"},
	[CL_ETIMEOUT] = {"timeout", "timed out"},
	[CL_EINTERNAL] = {"internal", "internal error"},
	[CL_ENOSPACE] = {"insufficient_storage", "the disk or the storage quota is full"},
	[CL_EMEDIA] = {"unsupported_media_type", "unsupported media type"},
	[CL_EMETHOD] = {"method_not_allowed", "method not allowed on this path"},
	[CL_ELIMIT] = {"too_many_requests", "too many requests in flight: retry later"},
	[CL_EHEADERS] = {"headers_too_large", "request headers too large"},
	[CL_ENOTIMPL] = {"not_implemented", "request method not implemented"},
};

const char *cl_err_name(cl_err e)
{
	if ((unsigned)e >= sizeof(table) / sizeof(table[0]) || !table[e].name)
		return "unknown";
	return table[e].name;
}

const char *cl_err_str(cl_err e)
{
	if ((unsigned)e >= sizeof(table) / sizeof(table[0]) || !table[e].str)
		return "unknown error";
	return table[e].str;
}

cl_err cl_errorf(cl_err e, const char *fmt, ...)
{
	/* Formatted aside first: an argument may be cl_error_detail() itself. */
	char next[sizeof(detail)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(next, sizeof(next), fmt, ap);
	va_end(ap);
	memcpy(detail, next, sizeof(detail));
	return e;
}

const char *cl_error_detail(void)
{
	return detail;
}

void cl_error_clear(void)
{
	detail[0] = '\0';
}
