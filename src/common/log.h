/* log.h — structured, leveled logging to stderr.
 *
 * Lines look like: `2026-11-23T07:00:00Z level=info prog=cloister-host msg="..." k=v`.
 * Never pass secrets: no keys, tokens, access keys or enclave data.
 */
#ifndef CL_LOG_H
#define CL_LOG_H

enum cl_log_level { CL_LOG_DEBUG, CL_LOG_INFO, CL_LOG_WARN, CL_LOG_ERROR };

/* Sets the program name and minimum level (CLOISTER_LOG=debug|info|warn|error overrides). */
void cl_log_init(const char *prog, enum cl_log_level min);
/* Logs one line; fmt is the message followed by optional " k=v" pairs the caller formats. */
void cl_log(enum cl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define cl_debug(...) cl_log(CL_LOG_DEBUG, __VA_ARGS__)
#define cl_info(...) cl_log(CL_LOG_INFO, __VA_ARGS__)
#define cl_warn(...) cl_log(CL_LOG_WARN, __VA_ARGS__)
#define cl_error(...) cl_log(CL_LOG_ERROR, __VA_ARGS__)

#endif
