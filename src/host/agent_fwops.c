/* agent_fwops.c — the firmware op journal (DATA/fw/ops.journal).
 *
 * The control plane resends a firmware op until it receives the result, so
 * the agent must recognise an op id it has already taken, also after a
 * restart: a power cycle or an update must never run twice. The journal is
 * one small JSON document, rewritten whole with cl_file_write_atomic (temp
 * file, fsync, rename, fsync dir) before and after each op:
 *
 *   {"format": 1,
 *    "ops": [{"op": "fw-...", "state": "started"},
 *            {"op": "fw-...", "state": "done", "result": {"op": "fw-...", "ok": true, ...}}]}
 *
 * oldest first, at most CL_AGENT_FWOPS_MAX entries. A kill leaves either the
 * old or the new file. jansson parses it; every field is checked, and a file
 * that does not check out is an error, never silently dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "host/agent_fw.h"
#include "host/agent_fwops.h"

#define JOURNAL_FORMAT 1

typedef struct fwops_entry {
	char op[CL_AGENT_ID_MAX];
	json_t *result; /* NULL = started, not finished */
} fwops_entry;

struct cl_agent_fwops {
	char path[PATH_MAX];
	size_t n;
	fwops_entry e[CL_AGENT_FWOPS_MAX]; /* oldest first */
};

size_t cl_agent_fwops_count(const cl_agent_fwops *j)
{
	return j ? j->n : 0;
}

void cl_agent_fwops_free(cl_agent_fwops *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++)
		json_decref(j->e[i].result);
	free(j);
}

static fwops_entry *find(cl_agent_fwops *j, const char *op)
{
	for (size_t i = 0; i < j->n; i++)
		if (strcmp(j->e[i].op, op) == 0)
			return &j->e[i];
	return NULL;
}

/* A stored result must be what cl_agent_fw_apply makes: an object naming
 * the op, with a boolean "ok". */
static bool result_valid(json_t *r, const char *op)
{
	const char *rop = json_string_value(json_object_get(r, "op"));
	return json_is_object(r) && rop && strcmp(rop, op) == 0 && json_is_boolean(json_object_get(r, "ok"));
}

static cl_err save(cl_agent_fwops *j)
{
	json_t *ops = json_array(), *doc = NULL;
	char *text = NULL;
	cl_err err = CL_OK;
	for (size_t i = 0; ops && i < j->n; i++) {
		json_t *o = j->e[i].result
				    ? json_pack("{s:s, s:s, s:O}", "op", j->e[i].op, "state", "done", "result", j->e[i].result)
				    : json_pack("{s:s, s:s}", "op", j->e[i].op, "state", "started");
		if (!o || json_array_append_new(ops, o) != 0) {
			json_decref(ops);
			ops = NULL;
		}
	}
	if (ops)
		doc = json_pack("{s:i, s:o}", "format", JOURNAL_FORMAT, "ops", ops);
	if (doc)
		text = json_dumps(doc, JSON_COMPACT);
	if (!text) {
		err = cl_errorf(CL_ENOMEM, "firmware op journal: out of memory");
		goto out;
	}
	size_t len = strlen(text);
	if (len > CL_AGENT_FWOPS_FILE_MAX) {
		err = cl_errorf(CL_ETOOBIG, "firmware op journal: %zu bytes over the %u limit", len,
				CL_AGENT_FWOPS_FILE_MAX);
		goto out;
	}
	err = cl_file_write_atomic(j->path, text, len, 0600);
out:
	free(text);
	json_decref(doc);
	return err;
}

/* Fills j from the document text; any deviation is CL_EPROTO. */
static cl_err parse(cl_agent_fwops *j, const cl_buf *b)
{
	json_error_t jerr;
	cl_err err = CL_OK;
	json_t *doc = json_loadb((const char *)b->data, b->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc)
		return cl_errorf(CL_EPROTO, "not JSON (line %d: %.80s)", jerr.line, jerr.text);
	json_t *ops = json_object_get(doc, "ops"), *v;
	json_t *fmt = json_object_get(doc, "format");
	size_t i;
	if (!json_is_object(doc) || json_object_size(doc) != 2 || !json_is_integer(fmt) ||
	    json_integer_value(fmt) != JOURNAL_FORMAT || !json_is_array(ops)) {
		err = cl_errorf(CL_EPROTO, "not a format %d journal {\"format\", \"ops\"}", JOURNAL_FORMAT);
		goto out;
	}
	if (json_array_size(ops) > CL_AGENT_FWOPS_MAX) {
		err = cl_errorf(CL_EPROTO, "%zu entries, more than %d", json_array_size(ops), CL_AGENT_FWOPS_MAX);
		goto out;
	}
	json_array_foreach(ops, i, v)
	{
		const char *op = json_string_value(json_object_get(v, "op"));
		const char *state = json_string_value(json_object_get(v, "state"));
		json_t *res = json_object_get(v, "result");
		bool done = state && strcmp(state, "done") == 0;
		if (!json_is_object(v) || !op || !cl_agent_valid_id(op) || !state ||
		    (!done && strcmp(state, "started") != 0) || json_object_size(v) != (done ? 3u : 2u) ||
		    (done && !result_valid(res, op))) {
			err = cl_errorf(CL_EPROTO, "entry %zu is malformed", i);
			goto out;
		}
		if (find(j, op)) {
			err = cl_errorf(CL_EPROTO, "op %s is listed twice", op);
			goto out;
		}
		fwops_entry *e = &j->e[j->n++];
		snprintf(e->op, sizeof(e->op), "%s", op);
		e->result = done ? json_incref(res) : NULL;
	}
out:
	json_decref(doc);
	return err;
}

/* Removes "<name>.tmp.*" beside path: an atomic write a kill interrupted. */
static void remove_temps(const char *path)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 8];
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;
	size_t dl = slash ? (size_t)(slash - path) : 1;
	if (dl >= sizeof(dir) || snprintf(prefix, sizeof(prefix), "%s.tmp.", name) >= (int)sizeof(prefix))
		return;
	memcpy(dir, slash ? path : ".", dl);
	dir[dl] = '\0';
	DIR *d = opendir(dl ? dir : "/");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

static json_t *interrupted_result(const char *op)
{
	return json_pack("{s:s, s:b, s:s, s:s}", "op", op, "ok", 0, "error", CL_AGENT_FWOPS_INTERRUPTED, "reason",
			 "interrupted");
}

cl_err cl_agent_fwops_open(const char *path, cl_agent_fwops **out)
{
	*out = NULL;
	cl_buf b;
	cl_err err;
	cl_agent_fwops *j = calloc(1, sizeof(*j));
	CL_ENSURE(j, CL_ENOMEM, "out of memory");
	if (snprintf(j->path, sizeof(j->path), "%s", path) >= (int)sizeof(j->path)) {
		free(j);
		return cl_errorf(CL_EINVAL, "firmware op journal path too long");
	}
	remove_temps(path);
	cl_buf_init(&b, CL_AGENT_FWOPS_FILE_MAX);
	err = cl_file_read(path, b.max, &b);
	if (err == CL_ENOTFOUND) {
		err = CL_OK; /* first start: nothing ran yet */
		goto out;
	}
	if (err == CL_OK)
		err = parse(j, &b);
	if (err != CL_OK) {
		char why[128];
		snprintf(why, sizeof(why), "%s", cl_error_detail()); /* the detail buffer is rewritten below */
		err = cl_errorf(CL_EPROTO,
				"firmware op journal %s unusable (%s): ops could run twice; check `cloister fw status`, "
				"then move it aside",
				path, why);
		goto out;
	}
	/* Ops a killed agent left running: answered as interrupted, never rerun. */
	bool changed = false;
	for (size_t i = 0; i < j->n; i++) {
		if (j->e[i].result)
			continue;
		if (!(j->e[i].result = interrupted_result(j->e[i].op))) {
			err = cl_errorf(CL_ENOMEM, "out of memory");
			goto out;
		}
		changed = true;
	}
	if (changed)
		err = save(j);
out:
	cl_buf_free(&b);
	if (err != CL_OK) {
		cl_agent_fwops_free(j);
		return err;
	}
	*out = j;
	return CL_OK;
}

cl_err cl_agent_fwops_begin(cl_agent_fwops *j, const char *op, json_t **result)
{
	*result = NULL;
	CL_ENSURE(op && cl_agent_valid_id(op), CL_EINVAL, "bad firmware op id");
	fwops_entry *e = find(j, op);
	if (e) {
		/* started in this very process and not finished: cannot happen
		 * (ops run one at a time); answer as interrupted all the same */
		*result = e->result ? json_incref(e->result) : interrupted_result(op);
		CL_ENSURE(*result, CL_ENOMEM, "out of memory");
		return CL_OK;
	}
	fwops_entry evicted = {{0}, NULL};
	if (j->n == CL_AGENT_FWOPS_MAX) {
		evicted = j->e[0];
		memmove(&j->e[0], &j->e[1], (j->n - 1) * sizeof(j->e[0]));
		j->n--;
	}
	e = &j->e[j->n++];
	snprintf(e->op, sizeof(e->op), "%s", op);
	e->result = NULL;
	cl_err err = save(j);
	if (err != CL_OK) { /* undo: nothing recorded, so the op must not run */
		j->n--;
		if (evicted.op[0]) {
			memmove(&j->e[1], &j->e[0], j->n * sizeof(j->e[0]));
			j->e[0] = evicted;
			j->n++;
		}
		return err;
	}
	json_decref(evicted.result);
	return CL_OK;
}

cl_err cl_agent_fwops_finish(cl_agent_fwops *j, const char *op, json_t *result)
{
	fwops_entry *e = find(j, op);
	CL_ENSURE(e, CL_ENOTFOUND, "firmware op %s was not begun", op);
	CL_ENSURE(result_valid(result, op), CL_EINVAL, "firmware op result must name the op and say ok");
	json_t *copy = json_deep_copy(result);
	CL_ENSURE(copy, CL_ENOMEM, "out of memory");
	json_decref(e->result);
	e->result = copy;
	return save(j);
}
