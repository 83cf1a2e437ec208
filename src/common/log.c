#include "common/log.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "cloister";
static enum cl_log_level log_min = CL_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void cl_log_init(const char *prog, enum cl_log_level min)
{
	log_prog = prog;
	log_min = min;
	const char *env = getenv("CLOISTER_LOG");
	if (!env)
		return;
	for (int i = 0; i < 4; i++)
		if (strcmp(env, level_names[i]) == 0)
			log_min = (enum cl_log_level)i;
}

__attribute__((format(printf, 2, 0))) static void log_line(enum cl_log_level lvl, const char *fmt, va_list ap)
{
	char ts[40];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000); /* milliseconds */
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One write per line so concurrent processes do not interleave. */
	fprintf(stderr, "%s level=%s prog=%s msg=\"%s\"\n", ts, level_names[lvl], log_prog, msg);
}

void cl_log(enum cl_log_level lvl, const char *fmt, ...)
{
	if (lvl < log_min)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_line(lvl, fmt, ap);
	va_end(ap);
}

/* The part of a format string before its first conversion or quote: names
 * the class of the dropped lines without their (peer-controlled) values. */
static int fmt_prefix_len(const char *fmt)
{
	size_t n = strcspn(fmt, "%\"");
	while (n > 0 && fmt[n - 1] == ' ')
		n--;
	return n > 60 ? 60 : (int)n;
}

int cl_log_limited(cl_log_limit *lim, enum cl_log_level lvl, const char *fmt, ...)
{
	if (lvl < log_min)
		return 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (lim->window_ns == 0 || now - lim->window_ns >= 1000000000u) {
		lim->window_ns = now;
		lim->count = 0;
	}
	if (lim->count >= CL_LOG_BURST) {
		lim->suppressed++;
		return 0;
	}
	lim->count++;
	if (lim->suppressed) {
		cl_log(lvl, "suppressed %llu similar lines (%.*s)", (unsigned long long)lim->suppressed,
		       fmt_prefix_len(fmt), fmt);
		lim->suppressed = 0;
	}
	va_list ap;
	va_start(ap, fmt);
	log_line(lvl, fmt, ap);
	va_end(ap);
	return 1;
}

/* libevent's messages: several come from sockets a peer controls (accept
 * errors, bad requests), so each severity has its own limiter. */
static void on_libevent_log(int severity, const char *msg)
{
	static cl_log_limit limits[4];
	enum cl_log_level lvl = severity <= EVENT_LOG_DEBUG ? CL_LOG_DEBUG
				: severity == EVENT_LOG_MSG ? CL_LOG_INFO
				: severity == EVENT_LOG_WARN ? CL_LOG_WARN
							      : CL_LOG_ERROR;
	(void)cl_log_limited(&limits[lvl], lvl, "libevent: %s", msg);
}

void cl_log_route_libevent(void)
{
	event_set_log_callback(on_libevent_log);
}
