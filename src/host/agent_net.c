/* agent_net.c — guests' networks on this host: the pool, its journal
 * DATA/net.json and the plumbing at launch, destroy and start (agent_net.h).
 *
 * The journal: {"pool": "10.77.0.0/16", "guests": {"<enclave id>": <slot>}},
 * written whole (temp, fsync, rename, fsync of the directory) on every
 * change.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent_args.h"
#include "host/agent_net.h"
#include "host/agent_state.h"
#include "sandbox/sandbox.h"

#define JOURNAL_MAX (4u << 20) /* 16,384 entries of at most ~80 bytes */

typedef struct net_entry {
	char id[CL_AGENT_ID_MAX];
	uint32_t slot;
} net_entry;

struct cl_agent_net {
	char path[4096];   /* DATA/net.json */
	char cidr[32];     /* the configured pool */
	char had_cidr[32]; /* the journal's pool ("" without a journal) */
	cl_net_pool pool;
	net_entry *e; /* malloc'd */
	size_t n, cap;
};

static net_entry *find(const cl_agent_net *n, const char *id)
{
	for (size_t i = 0; i < n->n; i++)
		if (strcmp(n->e[i].id, id) == 0)
			return &n->e[i];
	return NULL;
}

static cl_err add(cl_agent_net *n, const char *id, uint32_t slot)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 16;
		net_entry *e = realloc(n->e, cap * sizeof(*e));
		CL_ENSURE(e, CL_ENOMEM, "out of memory");
		n->e = e;
		n->cap = cap;
	}
	snprintf(n->e[n->n].id, sizeof(n->e[n->n].id), "%s", id);
	n->e[n->n].slot = slot;
	n->n++;
	return CL_OK;
}

static void drop(cl_agent_net *n, net_entry *x)
{
	*x = n->e[--n->n];
}

static cl_err save(const cl_agent_net *n)
{
	json_t *g = json_object(), *o = json_pack("{s:s,s:O}", "pool", n->cidr, "guests", g);
	cl_err err = o ? CL_OK : CL_ENOMEM;
	for (size_t i = 0; err == CL_OK && i < n->n; i++)
		if (json_object_set_new(g, n->e[i].id, json_integer(n->e[i].slot)) != 0)
			err = CL_ENOMEM;
	char *text = err == CL_OK ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(g);
	json_decref(o);
	if (!text)
		return cl_errorf(CL_ENOMEM, "out of memory");
	err = cl_file_write_atomic(n->path, text, strlen(text), 0600);
	free(text);
	return err;
}

static cl_err load(cl_agent_net *n)
{
	cl_buf b;
	cl_buf_init(&b, JOURNAL_MAX);
	cl_err err = cl_file_read(n->path, JOURNAL_MAX, &b);
	if (err == CL_ENOTFOUND) {
		cl_error_clear();
		cl_buf_free(&b);
		return CL_OK;
	}
	json_t *o = err == CL_OK ? json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL) : NULL;
	cl_buf_free(&b);
	CL_GUARD(err);
	const char *pool = json_string_value(json_object_get(o, "pool"));
	json_t *g = json_object_get(o, "guests"), *v;
	const char *id;
	cl_net_pool check;
	if (!pool || strlen(pool) >= sizeof(n->had_cidr) || cl_net_pool_init(&check, pool) != CL_OK ||
	    !json_is_object(g)) {
		json_decref(o);
		return cl_errorf(CL_EINVAL, "%s: not a guest network journal (move it away to start afresh)",
				 n->path);
	}
	snprintf(n->had_cidr, sizeof(n->had_cidr), "%s", pool);
	json_object_foreach(g, id, v)
	{
		json_int_t slot = json_integer_value(v);
		if (!cl_agent_valid_id(id) || !json_is_integer(v) || slot < 0 || slot >= (json_int_t)check.nslots)
			err = cl_errorf(CL_EINVAL, "%s: bad entry for %.64s (move it away to start afresh)", n->path, id);
		else
			err = add(n, id, (uint32_t)slot);
		if (err != CL_OK) {
			json_decref(o); /* id is o's: the detail is written above */
			return err;
		}
	}
	json_decref(o);
	return CL_OK;
}

cl_err cl_agent_net_open(const char *dir, const char *cidr, cl_agent_net **out)
{
	*out = NULL;
	cl_agent_net *n = calloc(1, sizeof(*n));
	CL_ENSURE(n, CL_ENOMEM, "out of memory");
	cl_err err = CL_OK;
	if (!cidr)
		cidr = CL_NET_POOL_DEFAULT;
	if (snprintf(n->path, sizeof(n->path), "%s/net.json", dir) >= (int)sizeof(n->path) ||
	    snprintf(n->cidr, sizeof(n->cidr), "%s", cidr) >= (int)sizeof(n->cidr)) {
		err = cl_errorf(CL_EINVAL, "guest network: path or pool too long");
		goto out;
	}
	CL_GUARD_OUT(err, cl_net_pool_init(&n->pool, cidr));
	CL_GUARD_OUT(err, load(n));
	*out = n;
	return CL_OK;
out:
	cl_agent_net_free(n);
	return err;
}

void cl_agent_net_free(cl_agent_net *n)
{
	if (!n)
		return;
	free(n->e);
	free(n);
}

/* The link of slot in pool cidr (the journal's pool, for one being dropped). */
static bool link_in(const char *cidr, uint32_t slot, cl_net_link *l)
{
	cl_net_pool p;
	return cl_net_pool_init(&p, cidr) == CL_OK && cl_net_pool_link(&p, slot, l) == CL_OK;
}

cl_err cl_agent_net_adopt(cl_agent_net *n, char *const *ids, const pid_t *pids, size_t count)
{
	const char *had = n->had_cidr[0] ? n->had_cidr : n->cidr;
	bool same_pool = strcmp(had, n->cidr) == 0, changed = !same_pool && n->n == 0;
	for (size_t i = 0; !same_pool && i < n->n; i++) /* refused before anything changes */
		for (size_t k = 0; k < count; k++)
			if (strcmp(ids[k], n->e[i].id) == 0)
				return cl_errorf(CL_ECONFLICT,
						 "enclave %s holds an address of guest pool %s (DATA/net.json), not of "
						 "--guest-pool %s: start with --guest-pool %s, or destroy the networked "
						 "enclaves first",
						 n->e[i].id, had, n->cidr, had);
	for (size_t i = 0; i < n->n;) {
		net_entry *x = &n->e[i];
		size_t k = 0;
		while (k < count && strcmp(ids[k], x->id) != 0)
			k++;
		cl_net_link l;
		if (k < count && cl_net_pool_claim(&n->pool, x->slot, &l) == CL_OK) {
			if (if_nametoindex(l.host_if) == 0) { /* killed between the journal and the plumbing */
				if (cl_net_plumb(pids[k], &l) == CL_OK)
					cl_info("guest network plumbed again id=%s address=%s", x->id, inet_ntoa(l.guest_addr));
				else
					cl_warn("guest network: cannot plumb %s again: %s", x->id, cl_error_detail());
			}
			i++;
			continue;
		}
		/* its enclave is gone (or the slot is claimed twice: keep the first) */
		if (k < count)
			cl_warn("guest network: slot %u claimed twice; enclave %s keeps no address", x->slot, x->id);
		if (link_in(had, x->slot, &l) && cl_net_unplumb(&l) != CL_OK)
			cl_warn("guest network: cannot delete %s: %s", l.host_if, cl_error_detail());
		cl_info("guest network released id=%s (the enclave is gone)", x->id);
		drop(n, x);
		changed = true;
	}
	n->had_cidr[0] = '\0';
	if (changed)
		CL_GUARD(save(n));
	return CL_OK;
}

cl_err cl_agent_net_adopt_sandboxes(cl_agent_net *n, const char *dir)
{
	cl_agent_actual *a = NULL;
	size_t count = 0, k = 0;
	CL_GUARD(cl_agent_collect_actual(dir, &a, &count));
	char **ids = calloc(count + 1, sizeof(*ids));
	pid_t *pids = calloc(count + 1, sizeof(*pids));
	cl_err err = ids && pids ? CL_OK : cl_errorf(CL_ENOMEM, "out of memory");
	for (size_t i = 0; err == CL_OK && i < count; i++) {
		cl_sandbox_info info;
		if (!a[i].alive || cl_sandbox_inspect(dir, a[i].id, &info) != CL_OK || info.init_pid <= 0) {
			cl_error_clear();
			continue;
		}
		ids[k] = a[i].id;
		pids[k++] = info.init_pid;
	}
	if (err == CL_OK)
		err = cl_agent_net_adopt(n, ids, pids, k);
	free(ids);
	free(pids);
	free(a);
	return err;
}

cl_err cl_agent_net_reserve(cl_agent_net *n, const char *id, cl_net_link *out)
{
	net_entry *x = find(n, id);
	if (x)
		return cl_net_pool_link(&n->pool, x->slot, out);
	CL_GUARD(cl_net_pool_alloc(&n->pool, out));
	cl_err err = add(n, id, out->slot);
	if (err == CL_OK && (err = save(n)) != CL_OK)
		drop(n, find(n, id));
	if (err != CL_OK && cl_net_pool_release(&n->pool, out->slot) != CL_OK)
		cl_error_clear();
	return err;
}

cl_err cl_agent_net_plumb(cl_agent_net *n, const char *id, pid_t pid)
{
	cl_net_link l;
	CL_ENSURE(cl_agent_net_get(n, id, &l), CL_ENOTFOUND, "enclave %s holds no guest address", id);
	return cl_net_plumb(pid, &l);
}

cl_err cl_agent_net_release(cl_agent_net *n, const char *id)
{
	net_entry *x = find(n, id);
	cl_net_link l;
	if (!x)
		return CL_OK;
	CL_GUARD(cl_net_pool_link(&n->pool, x->slot, &l));
	CL_GUARD(cl_net_unplumb(&l));
	if (cl_net_pool_release(&n->pool, x->slot) != CL_OK)
		cl_error_clear(); /* not claimed (a failed adoption): nothing to give back */
	drop(n, x);
	if (save(n) != CL_OK) /* the next start drops the entry: its enclave is gone */
		cl_warn("guest network: journal not written after releasing %s: %s", id, cl_error_detail());
	return CL_OK;
}

bool cl_agent_net_get(const cl_agent_net *n, const char *id, cl_net_link *out)
{
	const net_entry *x = n ? find(n, id) : NULL;
	cl_net_link l;
	if (!x || cl_net_pool_link(&n->pool, x->slot, out ? out : &l) != CL_OK)
		return false;
	return true;
}

void cl_agent_net_attach(const cl_agent_net *n, json_t *enclaves)
{
	size_t i;
	json_t *o;
	if (!n || n->n == 0)
		return;
	json_array_foreach(enclaves, i, o)
	{
		const char *id = json_string_value(json_object_get(o, "id"));
		cl_net_link l;
		char a[INET_ADDRSTRLEN], h[INET_ADDRSTRLEN];
		if (!id || !cl_agent_net_get(n, id, &l) || !inet_ntop(AF_INET, &l.guest_addr, a, sizeof(a)) ||
		    !inet_ntop(AF_INET, &l.host_addr, h, sizeof(h)))
			continue;
		json_object_set_new(o, "network", json_pack("{s:s,s:s}", "address", a, "host_address", h));
	}
}

size_t cl_agent_net_count(const cl_agent_net *n)
{
	return n ? n->n : 0;
}
