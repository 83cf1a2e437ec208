/* store_priv.h — internals shared by store.c and store_migrate.c only. */
#ifndef CL_CONTROL_STORE_PRIV_H
#define CL_CONTROL_STORE_PRIV_H

#include <sqlite3.h>

#include "control/store.h"

#include <limits.h>

struct ctl_store {
	sqlite3 *db;
	int in_tx;
	char dir[PATH_MAX];          /* the database's directory (the data dir) */
	bool reserve_on;             /* ctl_store_reserve_init was called */
	uint64_t log_last_ms;        /* failure log rate limit: last failure (monotonic ms), */
	uint64_t log_credit_ms;      /* the lines it may still log (1000 per line), */
	unsigned log_suppressed;     /* and the failures not logged since the last line */
};

/* Maps a SQLite result code to a cl_err with a detail naming what failed:
 * constraint -> CL_ECONFLICT; a full disk (SQLITE_FULL, or an I/O error
 * whose errno is ENOSPC/EDQUOT) -> CL_ENOSPACE saying so and what to do;
 * anything else -> CL_EIO. Every failure but a constraint is logged
 * (ctl_store_log_failure: rate-limited, a peer can trigger them). */
cl_err ctl_store_sqlerr(ctl_store *st, int rc, const char *what);
/* One log line for a failure (SQLite's rc, or 0 for a file): a burst of 5,
 * then at most one a second per store; the count of those skipped meanwhile
 * rides the next line. */
void ctl_store_log_failure(ctl_store *st, const char *what, int rc, const char *msg);
/* True if rc (with the connection's errno) means the disk is full. */
bool ctl_store_rc_full(ctl_store *st, int rc);
/* Runs SQL without results. */
CL_MUST_CHECK cl_err ctl_store_exec(ctl_store *st, const char *sql);

/* store_fw.c helpers shared with store_fwrel.c: prepare sql binding fmt
 * ('s' const char *, 'i' int64_t); step a row-less statement and finalize. */
CL_MUST_CHECK cl_err ctl_store_fw_prep(ctl_store *st, sqlite3_stmt **q, const char *sql, const char *fmt, ...);
CL_MUST_CHECK cl_err ctl_store_fw_run(ctl_store *st, sqlite3_stmt *q, const char *what);
/* Steps a single-row query and finalizes it: the row goes through read (which
 * may fail, e.g. on allocation); no row is CL_ENOTFOUND with detail notfound. */
/* Column c as text into out (n bytes, truncated; NULL reads as ""). */
void ctl_store_col_str(sqlite3_stmt *q, int c, char *out, size_t n);
/* Column c as a malloc'd string (NULL reads as ""); NULL when out of memory. */
char *ctl_store_col_dup(sqlite3_stmt *q, int c);
/* Steps q (finalized here), collecting the first column of at most limit
 * rows into *ids (malloc'd, caller frees; *n rows). */
CL_MUST_CHECK cl_err ctl_store_ids(ctl_store *st, sqlite3_stmt *q, size_t limit, const char *what,
				   char (**ids)[CTL_ID_MAX], size_t *n);
typedef cl_err (*ctl_store_fw_reader)(sqlite3_stmt *q, void *out);
CL_MUST_CHECK cl_err ctl_store_fw_one(ctl_store *st, sqlite3_stmt *q, ctl_store_fw_reader read, void *out,
				      const char *notfound, const char *what);

#endif
