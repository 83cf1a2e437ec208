/* agent_state.c — the host's identity file, its capabilities and the actual
 * state of its sandboxes as reported to the control plane. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "host/agent_rtm.h"
#include "host/agent_state.h"
#include "sandbox/sandbox.h"

#define MIB (UINT64_C(1) << 20)

static cl_err identity_path(const char *dir, char *path, size_t n)
{
	if (snprintf(path, n, "%s/host.json", dir) >= (int)n)
		return cl_errorf(CL_EINVAL, "data dir path too long");
	return CL_OK;
}

cl_err cl_agent_identity_load(const char *dir, cl_agent_identity *id)
{
	char path[PATH_MAX];
	CL_GUARD(identity_path(dir, path, sizeof(path)));
	cl_buf b;
	cl_buf_init(&b, 16384);
	cl_err err = cl_file_read(path, 16384, &b);
	if (err != CL_OK) {
		cl_buf_free(&b);
		return err;
	}
	memset(id, 0, sizeof(*id));
	json_t *root = json_loadb((const char *)b.data, b.len, 0, NULL);
	const char *hid = json_string_value(json_object_get(root, "host_id"));
	const char *tok = json_string_value(json_object_get(root, "host_token"));
	if (!hid || !cl_agent_valid_id(hid) || strlen(hid) >= sizeof(id->host_id) || !tok || !tok[0] ||
	    strlen(tok) >= sizeof(id->host_token) || strpbrk(tok, "\r\n")) {
		err = cl_errorf(CL_EINVAL, "%s is malformed (expected host_id and host_token)", path);
	} else {
		memcpy(id->host_id, hid, strlen(hid) + 1);
		memcpy(id->host_token, tok, strlen(tok) + 1);
	}
	if (tok)
		explicit_bzero((char *)tok, strlen(tok));
	json_decref(root);
	cl_buf_free(&b); /* wipes the file's copy of the token */
	return err;
}

cl_err cl_agent_identity_save(const char *dir, const cl_agent_identity *id)
{
	char path[PATH_MAX];
	CL_GUARD(identity_path(dir, path, sizeof(path)));
	/* Both values were validated: host_id is [A-Za-z0-9._-], the token has no
	 * control characters, but it may hold any other byte: let jansson quote it. */
	json_t *root = json_pack("{s:s, s:s}", "host_id", id->host_id, "host_token", id->host_token);
	char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	const char *copy = json_string_value(json_object_get(root, "host_token"));
	if (copy) /* jansson's copy of the token: not left in freed memory */
		explicit_bzero((char *)copy, strlen(copy));
	json_decref(root);
	cl_err err;
	if (!text) {
		err = cl_errorf(CL_ENOMEM, "host.json: cannot encode");
	} else {
		size_t n = strlen(text);
		err = cl_file_write_atomic(path, text, n, 0600);
		explicit_bzero(text, n);
		free(text);
	}
	return err;
}

cl_err cl_agent_collect_actual(const char *dir, cl_agent_actual **out, size_t *n)
{
	return cl_agent_collect_actual_known(dir, NULL, 0, out, n);
}

/* DIR/sandboxes/ID/LEAF into path; false if it does not fit. */
static bool sandbox_file(char *path, size_t n, const char *dir, const char *id, const char *leaf)
{
	int w = snprintf(path, n, "%s/sandboxes/%s/%s", dir, id, leaf); /* as sandbox.c names them */
	return w > 0 && (size_t)w < n;
}

cl_err cl_agent_sandbox_mark_suspended(const char *dir, const char *id)
{
	char path[PATH_MAX];
	CL_ENSURE(sandbox_file(path, sizeof(path), dir, id, "suspended"), CL_ETOOBIG, "path too long");
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	CL_ENSURE(fd >= 0, CL_EIO, "cannot mark %s suspended: %s", id, strerror(errno));
	close(fd);
	return CL_OK;
}

bool cl_agent_sandbox_suspended(const char *dir, const char *id)
{
	char path[PATH_MAX];
	return sandbox_file(path, sizeof(path), dir, id, "suspended") && access(path, F_OK) == 0;
}

bool cl_agent_sandbox_await_restore(const char *dir, const char *id)
{
	char path[PATH_MAX];
	if (!sandbox_file(path, sizeof(path), dir, id, "spec.json") || cl_agent_sandbox_suspended(dir, id))
		return false; /* a sandbox whose state was suspended awaits nothing */
	json_t *o = json_load_file(path, 0, NULL);
	bool yes = json_is_true(json_object_get(o, "await_restore"));
	json_decref(o);
	return yes;
}

static const cl_agent_actual *known_find(const cl_agent_actual *known, size_t nknown, const char *id)
{
	for (size_t i = 0; i < nknown; i++)
		if (strcmp(known[i].id, id) == 0)
			return &known[i];
	return NULL;
}

cl_err cl_agent_collect_actual_known(const char *dir, const cl_agent_actual *known, size_t nknown,
				     cl_agent_actual **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	char **ids = NULL;
	size_t nids = 0;
	CL_GUARD(cl_sandbox_list(dir, &ids, &nids));
	if (nids == 0) {
		cl_sandbox_ids_free(ids, nids);
		return CL_OK;
	}
	cl_agent_actual *a = calloc(nids, sizeof(*a));
	if (!a) {
		cl_sandbox_ids_free(ids, nids);
		return cl_errorf(CL_ENOMEM, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < nids; i++) {
		if (!ids[i] || strlen(ids[i]) >= sizeof(a[k].id))
			continue; /* cannot be one of ours: the sandbox layer bounds ids */
		cl_agent_actual *x = &a[k++];
		const cl_agent_actual *kn = known_find(known, nknown, ids[i]);
		if (kn) { /* just launched: its READY is fresher than a STATUS round trip */
			*x = *kn;
			x->await_restore = cl_agent_sandbox_await_restore(dir, ids[i]);
			continue;
		}
		memcpy(x->id, ids[i], strlen(ids[i]) + 1);
		cl_sandbox_info info;
		memset(&info, 0, sizeof(info));
		if (cl_sandbox_inspect(dir, ids[i], &info) != CL_OK)
			continue; /* alive=false: shim gone (or unreachable) */
		x->alive = true;
		x->running = info.running;
		x->frozen = info.frozen;
		cl_agent_rtm_paused(ids[i], &x->frozen); /* a measure's pause is not a stop */
		x->exit_status = info.exit_status;
		x->await_restore = cl_agent_sandbox_await_restore(dir, ids[i]);
		x->memory_bytes = info.memory_bytes;
	}
	cl_sandbox_ids_free(ids, nids);
	*out = a;
	*n = k;
	return CL_OK;
}

json_t *cl_agent_capabilities(const cl_agent_config *cfg, uint64_t memory_mib, uint32_t cpus)
{
	cl_sandbox_caps caps;
	memset(&caps, 0, sizeof(caps));
	cl_sandbox_probe(&caps);
	json_t *features = json_object(), *lat = json_array();
	json_t *c = json_object();
	if (!features || !lat || !c)
		goto fail;
	const struct {
		bool on;
		const char *name;
	} f[] = {{caps.cgroup_v1, "cgroup_v1"}, {caps.cgroup_v2, "cgroup_v2"},     {caps.userns, "userns"},
		 {caps.seccomp, "seccomp"},     {caps.landlock, "landlock"},       {caps.memfd_secret, "memfd_secret"}};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (json_object_set_new(features, f[i].name, json_boolean(f[i].on)))
			goto fail;
	for (size_t i = 0; i < cfg->nlatency; i++) {
		json_t *e = json_pack("{s:s, s:I, s:I}", "resource", cfg->latency[i].resource, "latency_us",
				      (json_int_t)cfg->latency[i].latency_us, "hops", (json_int_t)cfg->latency[i].hops);
		if (!e || json_array_append_new(lat, e))
			goto fail;
	}
	/* The process backend cannot keep root on the host out of enclave memory:
	 * its level is "software", never more. */
	if (json_object_set_new(c, "backends", json_pack("[s]", "process")) ||
	    json_object_set_new(c, "level", json_string("software")) || json_object_set_new(c, "features", features) ||
	    json_object_set_new(c, "memory_mib", json_integer((json_int_t)memory_mib)) ||
	    json_object_set_new(c, "cpus", json_integer((json_int_t)cpus)) || json_object_set_new(c, "latency", lat)) {
		json_decref(c);
		return NULL;
	}
	if (cfg->zone && json_object_set_new(c, "zone", json_string(cfg->zone)))
		goto fail_c;
	if (cfg->rack && json_object_set_new(c, "rack", json_string(cfg->rack)))
		goto fail_c;
	return c;
fail:
	json_decref(features);
	json_decref(lat);
fail_c:
	json_decref(c);
	return NULL;
}

static const char *state_name(const cl_agent_actual *a)
{
	if (!a->alive)
		return "failed";
	if (!a->running)
		return "exited";
	return a->frozen ? "stopped" : "running";
}

json_t *cl_agent_enclaves_json(const cl_agent_actual *a, size_t n, const cl_agent_failure *f, size_t nf)
{
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_pack("{s:s, s:s, s:I}", "id", a[i].id, "state", state_name(&a[i]), "memory_mib",
				      (json_int_t)(a[i].memory_bytes / MIB));
		if (!e || json_array_append_new(arr, e))
			goto fail;
		if (a[i].alive && !a[i].running &&
		    json_object_set_new(e, "exit_status", json_integer(a[i].exit_status)))
			goto fail;
		if (!a[i].alive && json_object_set_new(e, "error", json_string("the enclave's shim is gone")))
			goto fail;
		for (size_t j = 0; j < nf; j++)
			if (!f[j].launch && strcmp(f[j].id, a[i].id) == 0 &&
			    json_object_set_new(e, "error", json_string(f[j].error)))
				goto fail;
	}
	for (size_t j = 0; j < nf; j++) {
		if (!f[j].launch)
			continue;
		bool present = false;
		for (size_t i = 0; i < n && !present; i++)
			present = strcmp(f[j].id, a[i].id) == 0;
		if (present)
			continue;
		json_t *e = json_pack("{s:s, s:s, s:s}", "id", f[j].id, "state", "failed", "error", f[j].error);
		if (!e || json_array_append_new(arr, e))
			goto fail;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}
