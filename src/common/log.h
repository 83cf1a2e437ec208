/* log.h — structured, leveled logging to stderr.
 *
 * Lines look like: `2026-11-23T07:00:00Z level=info prog=cloister-host msg="..." k=v`.
 * Never pass secrets: no keys, tokens, access keys or enclave data.
 *
 * A line that a remote peer can trigger at will (a denied request, a refused
 * connection, a libevent complaint about a socket) goes through a rate
 * limiter: cl_warn_rl() and friends log at most CL_LOG_BURST lines per
 * second from one call site, then one "suppressed N similar lines" line when
 * that site logs again in a later second. A flood then costs a few lines a
 * second, not hundreds of megabytes a minute.
 */
#ifndef CL_LOG_H
#define CL_LOG_H

#include <stdint.h>

enum cl_log_level { CL_LOG_DEBUG, CL_LOG_INFO, CL_LOG_WARN, CL_LOG_ERROR };

/* Lines one rate-limited call site may log per second. */
#define CL_LOG_BURST 10

/* One call site's rate limiter (static storage, zero-initialised). */
typedef struct cl_log_limit {
	uint64_t window_ns;    /* monotonic start of the current one-second window */
	unsigned count;        /* lines logged in this window */
	uint64_t suppressed;   /* lines dropped since the last one logged */
} cl_log_limit;

/* Sets the program name and minimum level (CLOISTER_LOG=debug|info|warn|error overrides). */
void cl_log_init(const char *prog, enum cl_log_level min);
/* Logs one line; fmt is the message followed by optional " k=v" pairs the caller formats. */
void cl_log(enum cl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As cl_log, but through lim: at most CL_LOG_BURST lines a second; the
 * first line logged after dropped ones is preceded by a line counting them.
 * Returns 1 if the line was logged, 0 if it was dropped (or below the level). */
int cl_log_limited(cl_log_limit *lim, enum cl_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Routes libevent's own messages (event_set_log_callback) into cl_log,
 * prefixed "libevent:", rate-limited per severity. Call once at start. */
void cl_log_route_libevent(void);

#define cl_debug(...) cl_log(CL_LOG_DEBUG, __VA_ARGS__)
#define cl_info(...) cl_log(CL_LOG_INFO, __VA_ARGS__)
#define cl_warn(...) cl_log(CL_LOG_WARN, __VA_ARGS__)
#define cl_error(...) cl_log(CL_LOG_ERROR, __VA_ARGS__)

/* Rate-limited variants: one limiter per call site. */
#define cl_log_rl(lvl, ...)                                                                        \
	do {                                                                                       \
		static cl_log_limit cl_rl_site_;                                                   \
		(void)cl_log_limited(&cl_rl_site_, (lvl), __VA_ARGS__);                            \
	} while (0)
#define cl_info_rl(...) cl_log_rl(CL_LOG_INFO, __VA_ARGS__)
#define cl_warn_rl(...) cl_log_rl(CL_LOG_WARN, __VA_ARGS__)

#endif
