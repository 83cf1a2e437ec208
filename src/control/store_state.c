/* store_state.c — suspend counters, state keys and blobs (store_state.h). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store_priv.h"
#include "control/store_state.h"

#define STATE_COLS                                                                                          \
	"enclave_id,counter,key_n,sealed_key,policy,blob_size,blob_sha384,blob_path,suspended_at,pending_n," \
	"pending_key,pending_policy,pending_at"

/* A sealed key column into out: empty (NULL) is none; any other size than
 * CTL_STATE_SEALED_LEN is a damaged row. */
static cl_err read_key(sqlite3_stmt *q, int c, uint8_t out[CTL_STATE_SEALED_LEN], size_t *len, const char *id)
{
	const void *p = sqlite3_column_blob(q, c);
	int n = sqlite3_column_bytes(q, c);
	*len = 0;
	if (!p || n == 0)
		return CL_OK;
	CL_ENSURE(n == CTL_STATE_SEALED_LEN, CL_EINTERNAL, "the stored state key of %s is malformed (%d bytes)", id, n);
	memcpy(out, p, (size_t)n);
	*len = (size_t)n;
	return CL_OK;
}

static cl_err read_state(sqlite3_stmt *q, void *o)
{
	ctl_state *s = o;
	ctl_store_col_str(q, 0, s->enclave_id, sizeof(s->enclave_id));
	s->counter = sqlite3_column_int64(q, 1);
	s->key_n = sqlite3_column_int64(q, 2);
	CL_GUARD(read_key(q, 3, s->sealed_key, &s->sealed_key_len, s->enclave_id));
	ctl_store_col_str(q, 4, s->policy, sizeof(s->policy));
	s->blob_size = (uint64_t)sqlite3_column_int64(q, 5);
	ctl_store_col_str(q, 6, s->blob_sha384, sizeof(s->blob_sha384));
	ctl_store_col_str(q, 7, s->blob_path, sizeof(s->blob_path));
	s->suspended_at = sqlite3_column_int64(q, 8);
	s->pending_n = sqlite3_column_int64(q, 9);
	CL_GUARD(read_key(q, 10, s->pending_key, &s->pending_key_len, s->enclave_id));
	ctl_store_col_str(q, 11, s->pending_policy, sizeof(s->pending_policy));
	s->pending_at = sqlite3_column_int64(q, 12);
	return CL_OK;
}

cl_err ctl_store_state_get(ctl_store *st, const char *enclave_id, ctl_state *out)
{
	sqlite3_stmt *q = NULL;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q, "SELECT " STATE_COLS " FROM enclave_state WHERE enclave_id=?", CTL_TEXT(enclave_id)));
	cl_err err = ctl_store_one(st, q, read_state, out, "no state", "enclave state");
	if (err == CL_ENOTFOUND) {
		cl_error_clear();
		memset(out, 0, sizeof(*out));
		snprintf(out->enclave_id, sizeof(out->enclave_id), "%s", enclave_id);
		return CL_OK;
	}
	return err;
}

cl_err ctl_store_state_begin(ctl_store *st, const char *enclave_id, int64_t n, const uint8_t *sealed, size_t sealed_len,
			     const char *policy, const uint8_t *doc, size_t doclen, int64_t now)
{
	sqlite3_stmt *q = NULL;
	int changed = 0;
	CL_ENSURE(sealed && sealed_len == CTL_STATE_SEALED_LEN, CL_EINVAL, "a state key must be %d sealed bytes",
		  CTL_STATE_SEALED_LEN);
	CL_ENSURE(policy && policy[0] && strlen(policy) < CTL_STATE_POLICY_MAX, CL_EINVAL,
		  "a state key's policy must be 1..%d bytes", CTL_STATE_POLICY_MAX - 1);
	CL_ENSURE(doc && doclen > 0 && doclen <= CTL_STATE_DOC_MAX, CL_EINVAL, "a suspend document must be 1..%d bytes",
		  CTL_STATE_DOC_MAX);
	CL_ENSURE(n >= 1, CL_EINVAL, "a suspend number starts at 1");
	CL_GUARD(CTL_PREP(st, &q, "INSERT OR IGNORE INTO enclave_state(enclave_id) VALUES(?)", CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_run(st, q, "enclave state", NULL));
	/* the counter moves only from n - 1 to n: a racing suspend loses */
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE enclave_state SET counter=?1, pending_n=?1, pending_key=?2, pending_policy=?3,"
			  " pending_doc=?4, pending_at=?5 WHERE enclave_id=?6 AND counter=?1 - 1",
			  CTL_INT(n), CTL_BLOB(sealed, sealed_len), CTL_TEXT(policy), CTL_BLOB(doc, doclen), CTL_INT(now),
			  CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_run(st, q, "enclave state", &changed));
	CL_ENSURE(changed == 1, CL_ECONFLICT, "suspend %lld of %s was taken by another suspend", (long long)n,
		  enclave_id);
	return CL_OK;
}

cl_err ctl_store_state_commit(ctl_store *st, const char *enclave_id, int64_t n, uint64_t blob_size,
			      const char *blob_sha384, const char *blob_path, int64_t now,
			      char old_path[CTL_STATE_PATH_MAX])
{
	sqlite3_stmt *q = NULL;
	ctl_state cur;
	int changed = 0;
	old_path[0] = '\0';
	CL_ENSURE(blob_sha384 && strlen(blob_sha384) == CTL_STATE_SHA_HEX, CL_EINVAL, "a blob's SHA-384 is 96 hex digits");
	CL_ENSURE(blob_path && blob_path[0] && strlen(blob_path) < CTL_STATE_PATH_MAX, CL_EINVAL,
		  "a blob's path must be 1..%d bytes", CTL_STATE_PATH_MAX - 1);
	CL_ENSURE(blob_size > 0 && blob_size <= INT64_MAX, CL_EINVAL, "a blob cannot be empty");
	CL_GUARD(ctl_store_state_get(st, enclave_id, &cur));
	CL_ENSURE(n >= 1 && cur.pending_n == n, CL_ECONFLICT, "suspend %lld of %s is not pending (aborted or superseded)",
		  (long long)n, enclave_id);
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE enclave_state SET key_n=pending_n, sealed_key=pending_key, policy=pending_policy,"
			  " document=pending_doc, blob_size=?1, blob_sha384=?2, blob_path=?3, suspended_at=?4,"
			  " pending_n=0, pending_key=NULL, pending_policy='', pending_doc=NULL, pending_at=0"
			  " WHERE enclave_id=?5 AND pending_n=?6",
			  CTL_INT((int64_t)blob_size), CTL_TEXT(blob_sha384), CTL_TEXT(blob_path), CTL_INT(now),
			  CTL_TEXT(enclave_id), CTL_INT(n)));
	CL_GUARD(ctl_store_run(st, q, "enclave state", &changed));
	CL_ENSURE(changed == 1, CL_ECONFLICT, "suspend %lld of %s is not pending", (long long)n, enclave_id);
	if (cur.blob_path[0] && strcmp(cur.blob_path, blob_path) != 0)
		snprintf(old_path, CTL_STATE_PATH_MAX, "%s", cur.blob_path);
	return CL_OK;
}

cl_err ctl_store_state_abort(ctl_store *st, const char *enclave_id, int64_t n)
{
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE enclave_state SET pending_n=0, pending_key=NULL, pending_policy='', pending_doc=NULL,"
			  " pending_at=0 WHERE enclave_id=? AND pending_n=? AND pending_n<>0",
			  CTL_TEXT(enclave_id), CTL_INT(n)));
	return ctl_store_run(st, q, "enclave state", NULL);
}

cl_err ctl_store_state_abort_all(ctl_store *st, int *n)
{
	sqlite3_stmt *q = NULL;
	int changed = 0;
	if (n)
		*n = 0;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE enclave_state SET pending_n=0, pending_key=NULL, pending_policy='', pending_doc=NULL,"
			  " pending_at=0 WHERE pending_n<>?",
			  CTL_INT(0)));
	CL_GUARD(ctl_store_run(st, q, "enclave state", &changed));
	if (n)
		*n = changed;
	return CL_OK;
}

cl_err ctl_store_state_unrestore_all(ctl_store *st, int *n)
{
	sqlite3_stmt *q = NULL;
	int changed = 0;
	if (n)
		*n = 0;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE enclaves SET state='suspended', desired='suspended',"
			  " error='restore interrupted by a control plane restart; run it again' WHERE desired=?",
			  CTL_TEXT("restoring")));
	CL_GUARD(ctl_store_run(st, q, "enclaves", &changed));
	if (n)
		*n = changed;
	return CL_OK;
}

cl_err ctl_store_state_for_restore(ctl_store *st, const char *enclave_id, int64_t n, ctl_state *out)
{
	CL_GUARD(ctl_store_state_get(st, enclave_id, out));
	CL_ENSURE(out->key_n > 0 && out->sealed_key_len == CTL_STATE_SEALED_LEN, CL_ENOTFOUND,
		  "%s has no suspended state", enclave_id);
	if (n != out->key_n) {
		cl_err err = cl_errorf(CL_ECONFLICT, "stale_blob: the blob is suspend %lld, the enclave's latest is %lld",
				       (long long)n, (long long)out->key_n);
		explicit_bzero(out->sealed_key, sizeof(out->sealed_key));
		explicit_bzero(out->pending_key, sizeof(out->pending_key));
		out->sealed_key_len = out->pending_key_len = 0;
		return err;
	}
	return CL_OK;
}

typedef struct doc_out {
	uint8_t *p;
	size_t n;
} doc_out;

static cl_err read_doc(sqlite3_stmt *q, void *o)
{
	doc_out *d = o;
	const void *p = sqlite3_column_blob(q, 0);
	int n = sqlite3_column_bytes(q, 0);
	CL_ENSURE(p && n > 0, CL_ENOTFOUND, "no suspend document");
	CL_ENSURE(n <= CTL_STATE_DOC_MAX, CL_EINTERNAL, "the stored suspend document is oversized (%d bytes)", n);
	d->p = malloc((size_t)n);
	if (!d->p)
		return CL_ENOMEM;
	memcpy(d->p, p, (size_t)n);
	d->n = (size_t)n;
	return CL_OK;
}

cl_err ctl_store_state_document(ctl_store *st, const char *enclave_id, uint8_t **doc, size_t *len)
{
	sqlite3_stmt *q = NULL;
	doc_out d = {0};
	*doc = NULL;
	*len = 0;
	CL_GUARD(CTL_PREP(st, &q, "SELECT document FROM enclave_state WHERE enclave_id=? AND key_n>0",
			  CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_one(st, q, read_doc, &d, "no suspend document", "enclave state"));
	*doc = d.p;
	*len = d.n;
	return CL_OK;
}

cl_err ctl_store_state_delete(ctl_store *st, const char *enclave_id, char blob_path[CTL_STATE_PATH_MAX])
{
	sqlite3_stmt *q = NULL;
	ctl_state cur;
	blob_path[0] = '\0';
	CL_GUARD(ctl_store_state_get(st, enclave_id, &cur));
	explicit_bzero(cur.sealed_key, sizeof(cur.sealed_key));
	explicit_bzero(cur.pending_key, sizeof(cur.pending_key));
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM enclave_state WHERE enclave_id=?", CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_run(st, q, "enclave state", NULL));
	CL_GUARD(CTL_PREP(st, &q, "DELETE FROM enclave_suspendable WHERE enclave_id=?", CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_run(st, q, "enclave state", NULL));
	snprintf(blob_path, CTL_STATE_PATH_MAX, "%s", cur.blob_path);
	return CL_OK;
}

cl_err ctl_store_state_set_suspendable(ctl_store *st, const char *enclave_id)
{
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q, "INSERT OR IGNORE INTO enclave_suspendable(enclave_id) VALUES(?)", CTL_TEXT(enclave_id)));
	return ctl_store_run(st, q, "enclave suspendable", NULL);
}

static cl_err read_flag(sqlite3_stmt *q, void *o)
{
	*(bool *)o = sqlite3_column_int(q, 0) != 0;
	return CL_OK;
}

cl_err ctl_store_state_suspendable(ctl_store *st, const char *enclave_id, bool *yes)
{
	sqlite3_stmt *q = NULL;
	*yes = false;
	CL_GUARD(CTL_PREP(st, &q, "SELECT EXISTS(SELECT 1 FROM enclave_suspendable WHERE enclave_id=?)",
			  CTL_TEXT(enclave_id)));
	return ctl_store_one(st, q, read_flag, yes, "", "enclave suspendable");
}
