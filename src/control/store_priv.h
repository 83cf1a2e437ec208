/* store_priv.h — internals shared by the store's files (store*.c) only. */
#ifndef CL_CONTROL_STORE_PRIV_H
#define CL_CONTROL_STORE_PRIV_H

#include <sqlite3.h>

#include "control/store.h"

#include <limits.h>

/* Prepared statements kept for the next use of the same SQL (store.c):
 * parsing and planning a statement costs more than running most of ours. */
#define CTL_STMT_CACHE 64
typedef struct ctl_stmt_slot {
	sqlite3_stmt *q; /* NULL: free */
	uint64_t hash;   /* of its SQL text */
	bool busy;       /* handed out: not to be handed out again until finished */
} ctl_stmt_slot;

struct ctl_store {
	sqlite3 *db;
	ctl_stmt_slot stmts[CTL_STMT_CACHE];
	unsigned stmt_victim; /* the next slot a new statement may take when all are used */
	int in_tx;
	bool unsynced;               /* the open transaction commits without its fsync (store_jobwait.c) */
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
/* Puts the connection back to synchronous=FULL after a commit that was not
 * fsynced by itself (store_jobwait.c); aborts if it cannot (every later
 * commit would silently lose its durability). */
void ctl_store_sync_restore(ctl_store *st);

/* ---- the one SQL binder (store.c) ----
 *
 * A statement's parameters are an array of typed values, built with the
 * constructors below; the compiler checks each value against its type (no
 * format string, no varargs casts):
 *
 *   CL_GUARD(CTL_PREP(st, &q, "SELECT .. WHERE id=? AND seq>?", CTL_TEXT(id), CTL_INT(seq)));
 *
 * The NULL rule, the only one: a NULL pointer (CTL_TEXT(NULL),
 * CTL_BLOB(NULL, n)) binds SQL NULL, as CTL_NULL does; a column that must
 * not be NULL then refuses the row (CL_ECONFLICT). A caller that means the
 * empty string passes "". An empty blob with a non-NULL pointer is a
 * zero-length blob. */
typedef enum ctl_sql_type {
	CTL_SQL_NULL,
	CTL_SQL_TEXT, /* v.text: NUL-terminated, copied by SQLite */
	CTL_SQL_INT,  /* v.i */
	CTL_SQL_BLOB, /* v.blob: n bytes at p, copied by SQLite */
} ctl_sql_type;

typedef struct ctl_sql_arg {
	ctl_sql_type type;
	union {
		const char *text;
		int64_t i;
		struct {
			const void *p;
			size_t n;
		} blob;
	} v;
} ctl_sql_arg;

#define CTL_TEXT(s) ((ctl_sql_arg){.type = CTL_SQL_TEXT, .v.text = (s)})
#define CTL_INT(x) ((ctl_sql_arg){.type = CTL_SQL_INT, .v.i = (x)})
#define CTL_BLOB(ptr, len) ((ctl_sql_arg){.type = CTL_SQL_BLOB, .v.blob = {.p = (ptr), .n = (len)}})
#define CTL_NULL ((ctl_sql_arg){.type = CTL_SQL_NULL})

/* Prepares sql on the store's connection and binds args[0..n) to its
 * parameters 1..n, taking the statement from the store's cache when the
 * same SQL text was prepared before and is not in use. On failure *q is
 * NULL (nothing to finish) and the result is ctl_store_sqlerr's. On success
 * the caller owns *q until it steps it through ctl_store_run/_one/_ids or
 * ends it with ctl_store_finish (never sqlite3_finalize). */
CL_MUST_CHECK cl_err ctl_store_prepare(ctl_store *st, sqlite3_stmt **q, const char *sql, const ctl_sql_arg *args,
				       size_t n);
/* ctl_store_prepare with the arguments listed in place (at least one; with
 * none, call ctl_store_prepare(st, q, sql, NULL, 0)). */
#define CTL_PREP(st, q, sql, ...)                                                                                      \
	ctl_store_prepare((st), (q), (sql), (const ctl_sql_arg[]){__VA_ARGS__},                                        \
			  sizeof((const ctl_sql_arg[]){__VA_ARGS__}) / sizeof(ctl_sql_arg))

/* Ends the use of a statement from ctl_store_prepare: a cached one is reset
 * (its bindings cleared) for the next ctl_store_prepare of the same SQL,
 * any other finalized. Every statement from ctl_store_prepare ends here,
 * never in sqlite3_finalize. NULL is fine. */
void ctl_store_finish(ctl_store *st, sqlite3_stmt *q);

/* ---- the row readers (store.c), each finishing q whatever happens ---- */

/* Steps a statement without rows to completion. changes (may be NULL) gets
 * the number of rows it changed. A step failure is ctl_store_sqlerr(what). */
CL_MUST_CHECK cl_err ctl_store_run(ctl_store *st, sqlite3_stmt *q, const char *what, int *changes);
/* Fills out from one row (memory it allocates is the caller's); may fail,
 * e.g. on allocation. */
typedef cl_err (*ctl_store_reader)(sqlite3_stmt *q, void *out);
/* Steps a single-row query: the row goes through read; no row is
 * CL_ENOTFOUND with detail notfound; a step failure is ctl_store_sqlerr(what). */
CL_MUST_CHECK cl_err ctl_store_one(ctl_store *st, sqlite3_stmt *q, ctl_store_reader read, void *out,
				   const char *notfound, const char *what);
/* Steps q, collecting the first column of at most limit rows into *ids
 * (malloc'd, caller frees; *n rows). */
CL_MUST_CHECK cl_err ctl_store_ids(ctl_store *st, sqlite3_stmt *q, size_t limit, const char *what,
				   char (**ids)[CTL_ID_MAX], size_t *n);
/* Column c as text into out (n bytes, truncated; NULL reads as ""). */
void ctl_store_col_str(sqlite3_stmt *q, int c, char *out, size_t n);
/* Column c as a malloc'd string (NULL reads as ""); NULL when out of memory. */
char *ctl_store_col_dup(sqlite3_stmt *q, int c);

#endif
