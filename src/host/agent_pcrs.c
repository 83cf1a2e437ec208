/* agent_pcrs.c — storing an enclave's registers with its state and telling
 * the control plane about them once (agent_pcrs.h). */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/bundle.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent_pcrs.h"
#include "sandbox/sandbox.h"

#define PCRS_FILE_MAX 4096 /* 16 registers of 96 hex digits and their keys: ~1.7 KiB */

static cl_err pcrs_path(const char *dir, const char *id, char *path, size_t n)
{
	CL_ENSURE(cl_agent_valid_id(id), CL_EINVAL, "invalid enclave id");
	CL_ENSURE(snprintf(path, n, "%s/pcrs/%s.json", dir, id) < (int)n, CL_EINVAL, "data dir path too long");
	return CL_OK;
}

json_t *cl_agent_pcrs_json(const cl_pcrs *p)
{
	static const uint8_t zero[CL_PCR_LEN];
	json_t *o = json_object();
	for (int i = 0; o && i < CL_NPCRS; i++) {
		if (memcmp(p->v[i], zero, CL_PCR_LEN) == 0)
			continue;
		char key[12], hex[2 * CL_PCR_LEN + 1];
		snprintf(key, sizeof(key), "%d", i);
		cl_hex_encode(p->v[i], CL_PCR_LEN, hex);
		if (json_object_set_new(o, key, json_string(hex)) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

cl_err cl_agent_pcrs_from_json(json_t *o, cl_pcrs *p)
{
	const char *k;
	json_t *v;
	CL_ENSURE(json_is_object(o), CL_EINVAL, "pcrs: not an object");
	memset(p, 0, sizeof(*p));
	json_object_foreach(o, k, v)
	{
		const char *hex = json_string_value(v);
		int idx = -1;
		if (k[0] >= '0' && k[0] <= '9' && (k[1] == '\0' || (k[0] == '1' && k[1] >= '0' && k[1] <= '5' && !k[2])))
			idx = k[1] ? 10 + (k[1] - '0') : k[0] - '0';
		CL_ENSURE(idx >= 0 && idx < CL_NPCRS, CL_EINVAL, "pcrs: key is not a register index 0..15");
		CL_ENSURE(hex && strlen(hex) == 2 * CL_PCR_LEN, CL_EINVAL, "pcrs: register %d is not 96 hex digits", idx);
		CL_ENSURE(cl_hex_decode(hex, p->v[idx], CL_PCR_LEN) == CL_OK, CL_EINVAL, "pcrs: register %d is not hex",
			  idx);
	}
	return CL_OK;
}

cl_err cl_agent_pcrs_save(const char *dir, const char *id, const cl_pcrs *p)
{
	char path[PATH_MAX], sub[PATH_MAX];
	CL_GUARD(pcrs_path(dir, id, path, sizeof(path)));
	CL_ENSURE(snprintf(sub, sizeof(sub), "%s/pcrs", dir) < (int)sizeof(sub), CL_EINVAL, "data dir path too long");
	CL_GUARD(cl_mkdir_p(sub, 0700));
	json_t *o = cl_agent_pcrs_json(p);
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	CL_ENSURE(text, CL_ENOMEM, "out of memory");
	/* No fsync (half a millisecond off every launch): the file describes a
	 * sandbox, and no sandbox outlives a power loss; after one, adopt()
	 * destroys the dead sandboxes and prunes their files, whatever is left
	 * of them. A kill of the agent loses nothing written here. */
	cl_err err = cl_file_replace(path, text, strlen(text), 0600);
	free(text);
	return err;
}

cl_err cl_agent_pcrs_load(const char *dir, const char *id, cl_pcrs *p)
{
	char path[PATH_MAX];
	CL_GUARD(pcrs_path(dir, id, path, sizeof(path)));
	cl_buf b;
	cl_buf_init(&b, PCRS_FILE_MAX);
	cl_err err = cl_file_read(path, PCRS_FILE_MAX, &b);
	if (err == CL_OK) {
		json_t *o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
		err = o ? cl_agent_pcrs_from_json(o, p) : cl_errorf(CL_EINVAL, "%s: not JSON", path);
		json_decref(o);
	}
	cl_buf_free(&b);
	return err;
}

void cl_agent_pcrs_remove(const char *dir, const char *id)
{
	char path[PATH_MAX];
	if (pcrs_path(dir, id, path, sizeof(path)) == CL_OK && unlink(path) == 0)
		cl_debug("measurements removed id=%s", id);
	/* the provision op's marker (agent_provision.c) goes with the registers */
	if (snprintf(path, sizeof(path), "%s/provision/%s", dir, id) < (int)sizeof(path))
		(void)unlink(path);
}

/* Removes every entry of DIR/SUB not named KEEP[i] SUFFIX; how many. */
static size_t prune_dir(const char *dir, const char *sub_name, const char *suffix, char *const *keep, size_t n)
{
	char sub[PATH_MAX];
	size_t removed = 0, sl = strlen(suffix);
	if (snprintf(sub, sizeof(sub), "%s/%s", dir, sub_name) >= (int)sizeof(sub))
		return 0;
	DIR *d = opendir(sub);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		size_t len = strlen(e->d_name);
		bool kept = false;
		/* "ID<suffix>" for a listed id, or an atomic write's temporary (the
		 * agent's start removes those elsewhere: here they are stale too) */
		for (size_t i = 0; i < n && !kept; i++) {
			size_t il = strlen(keep[i]);
			kept = len == il + sl && strncmp(e->d_name, keep[i], il) == 0 && strcmp(e->d_name + il, suffix) == 0;
		}
		if (!kept && unlinkat(dirfd(d), e->d_name, 0) == 0)
			removed++;
	}
	closedir(d);
	return removed;
}

size_t cl_agent_pcrs_prune(const char *dir, char *const *keep, size_t n)
{
	(void)prune_dir(dir, "provision", "", keep, n);
	return prune_dir(dir, "pcrs", ".json", keep, n);
}

/* ---- telling the control plane ---- */

static struct cl_agent_pcrs_entry *pending_find(cl_agent_pcrs_pending *pp, const char *id)
{
	for (size_t i = 0; i < pp->n; i++)
		if (strcmp(pp->v[i].id, id) == 0)
			return &pp->v[i];
	return NULL;
}

void cl_agent_pcrs_mark(cl_agent_pcrs_pending *pp, const char *id)
{
	struct cl_agent_pcrs_entry *e = pending_find(pp, id);
	if (!e) {
		struct cl_agent_pcrs_entry *v = realloc(pp->v, (pp->n + 1) * sizeof(*v));
		if (!v)
			return;
		pp->v = v;
		e = &v[pp->n++];
		snprintf(e->id, sizeof(e->id), "%s", id);
	}
	e->sent = false;
}

void cl_agent_pcrs_unmark(cl_agent_pcrs_pending *pp, const char *id)
{
	struct cl_agent_pcrs_entry *e = pending_find(pp, id);
	if (e)
		*e = pp->v[--pp->n];
}

size_t cl_agent_pcrs_attach(const char *dir, json_t *encs, cl_agent_pcrs_pending *pp)
{
	size_t i, n = 0;
	json_t *e;
	json_array_foreach(encs, i, e)
	{
		const char *id = json_string_value(json_object_get(e, "id"));
		const char *state = json_string_value(json_object_get(e, "state"));
		struct cl_agent_pcrs_entry *pe = id ? pending_find(pp, id) : NULL;
		cl_pcrs p;
		if (!pe || !state || strcmp(state, "failed") == 0 || cl_agent_pcrs_load(dir, id, &p) != CL_OK)
			continue;
		json_t *o = cl_agent_pcrs_json(&p);
		if (!o || json_object_set_new(e, "pcrs", o) != 0)
			continue;
		pe->sent = true;
		n++;
	}
	return n;
}

void cl_agent_pcrs_delivered(cl_agent_pcrs_pending *pp)
{
	for (size_t i = 0; i < pp->n;) {
		if (pp->v[i].sent)
			pp->v[i] = pp->v[--pp->n];
		else
			i++;
	}
}

void cl_agent_pcrs_pending_free(cl_agent_pcrs_pending *pp)
{
	free(pp->v);
	pp->v = NULL;
	pp->n = 0;
}

cl_err cl_agent_pcrs_record_bundle(const char *dir, const char *id, const uint8_t sha384[48], uint8_t pcr7[CL_PCR_LEN],
				   bool *changed)
{
	static const uint8_t zero[CL_PCR_LEN];
	uint8_t want[CL_PCR_LEN] = {0};
	cl_pcrs p;
	*changed = false;
	CL_GUARD(cl_agent_pcrs_load(dir, id, &p));
	cl_pcr_extend_digest(want, sha384);
	uint8_t *reg = p.v[CL_BUNDLE_REGISTER];
	if (memcmp(reg, zero, CL_PCR_LEN) == 0) {
		memcpy(reg, want, CL_PCR_LEN);
		CL_GUARD(cl_agent_pcrs_save(dir, id, &p));
		*changed = true;
	}
	CL_ENSURE(memcmp(reg, want, CL_PCR_LEN) == 0, CL_ECONFLICT,
		  "enclave %s: its PCR7 records another bundle than the one installed", id);
	if (pcr7)
		memcpy(pcr7, reg, CL_PCR_LEN);
	return CL_OK;
}

void cl_agent_pcrs_adopt_bundle(const char *dir, const char *id)
{
	uint8_t sha[48];
	bool changed = false;
	if (cl_sandbox_bundle(dir, id, sha) != CL_OK) {
		cl_error_clear(); /* none installed (or its shim is gone): nothing to record */
		return;
	}
	if (cl_agent_pcrs_record_bundle(dir, id, sha, NULL, &changed) != CL_OK)
		cl_warn("adopted enclave's bundle not recorded id=%s err=\"%s\"", id, cl_error_detail());
	else if (changed)
		cl_info("adopted enclave's installed bundle recorded in PCR7 id=%s (the agent had not recorded it)", id);
}
