#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *log_prog = "cloister";
static enum cl_log_level log_min = CL_LOG_INFO;

void cl_log_init(const char *prog, enum cl_log_level min)
{
	log_prog = prog;
	log_min = min;
	const char *env = getenv("CLOISTER_LOG");
	if (!env)
		return;
	static const char *names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(env, names[i]) == 0)
			log_min = (enum cl_log_level)i;
}

void cl_log(enum cl_log_level lvl, const char *fmt, ...)
{
	static const char *names[] = {"debug", "info", "warn", "error"};
	if (lvl < log_min)
		return;
	char ts[40];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000); /* milliseconds */
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One write per line so concurrent processes do not interleave. */
	fprintf(stderr, "%s level=%s prog=%s msg=\"%s\"\n", ts, names[lvl], log_prog, msg);
}
