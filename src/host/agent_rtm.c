/* agent_rtm.c — the measure op's runtime measurement (agent_rtm.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "host/agent_rtm.h"
#include "sandbox/sandbox.h"

#define CHUNK CL_RTM_CHUNK
/* Set err to a failure with a detail and jump to out unless cond holds. */
#define ENSURE_OUT(err, cond, code, ...) CL_GUARD_OUT(err, (cond) ? CL_OK : cl_errorf((code), __VA_ARGS__))

cl_err cl_rtm_add(cl_rtm_set *s, const char *path, uint64_t offset, uint64_t len, const uint8_t digest[48])
{
	CL_ENSURE(s->n < CL_RTM_MAX_REGIONS, CL_ELIMIT, "measure: more than %u executable mappings",
		  (unsigned)CL_RTM_MAX_REGIONS);
	CL_ENSURE(len <= CL_RTM_MAX_BYTES && s->bytes + len <= CL_RTM_MAX_BYTES, CL_ELIMIT,
		  "measure: more than %llu MiB of executable mappings", (unsigned long long)(CL_RTM_MAX_BYTES >> 20));
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		cl_rtm_region *v = realloc(s->v, cap * sizeof(*v));
		CL_ENSURE(v != NULL, CL_ENOMEM, "out of memory");
		s->v = v;
		s->cap = cap;
	}
	char *p = strdup(path);
	CL_ENSURE(p != NULL, CL_ENOMEM, "out of memory");
	cl_rtm_region *r = &s->v[s->n++];
	r->path = p;
	r->kind = 0;
	r->offset = offset;
	r->len = len;
	memcpy(r->digest, digest, 48);
	s->bytes += len;
	return CL_OK;
}

cl_err cl_rtm_add_file(cl_rtm_set *s, const char *path, char kind, uint64_t size, const uint8_t digest[48])
{
	CL_ENSURE(s->nfiles < CL_RTM_MAX_FILES, CL_ELIMIT, "measure: more than %u reported files",
		  (unsigned)CL_RTM_MAX_FILES);
	CL_GUARD(cl_rtm_add(s, path, 0, size, digest));
	s->v[s->n - 1].kind = kind;
	s->nfiles++;
	return CL_OK;
}

void cl_rtm_set_free(cl_rtm_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].path);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static int cmp_region(const void *pa, const void *pb)
{
	const cl_rtm_region *a = pa, *b = pb;
	if ((a->kind != 0) != (b->kind != 0))
		return a->kind ? 1 : -1; /* the mappings, then the files */
	int c = strcmp(a->path, b->path); /* bytewise: strcmp compares as unsigned char */
	if (c)
		return c;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	if (a->kind != b->kind)
		return (unsigned char)a->kind < (unsigned char)b->kind ? -1 : 1;
	return memcmp(a->digest, b->digest, 48);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

void cl_rtm_register(cl_rtm_set *s, uint8_t reg[CL_PCR_LEN])
{
	uint8_t rec[2 + CL_RTM_PATH_MAX + 1 + 16 + 48];
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(s->v[0]), cmp_region);
	memset(reg, 0, CL_PCR_LEN);
	for (size_t i = 0; i < s->n; i++) {
		const cl_rtm_region *r = &s->v[i];
		size_t pl = strnlen(r->path, CL_RTM_PATH_MAX), at = 0;
		if (r->kind) {
			/* a file: each path once (a list naming one twice counts once) */
			if (i > 0 && s->v[i - 1].kind && strcmp(s->v[i - 1].path, r->path) == 0)
				continue;
			rec[at++] = 0xff;
			rec[at++] = (uint8_t)r->kind;
			memcpy(rec + at, r->path, pl);
			rec[at + pl] = 0;
			put_be64(rec + at + pl + 1, r->len);
			memcpy(rec + at + pl + 9, r->digest, 48);
			cl_pcr_extend(reg, rec, at + pl + 9 + 48);
			continue;
		}
		memcpy(rec, r->path, pl);
		rec[pl] = 0;
		put_be64(rec + pl + 1, r->offset);
		put_be64(rec + pl + 9, r->len);
		memcpy(rec + pl + 17, r->digest, 48);
		cl_pcr_extend(reg, rec, pl + 17 + 48);
	}
}

static bool hex_u64(const char **p, char stop, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	size_t n = 0;
	for (; *s && *s != stop; s++, n++) {
		int d = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
		if (d < 0 || n == 16)
			return false;
		x = x << 4 | (uint64_t)d;
	}
	if (n == 0 || *s != stop)
		return false;
	*v = x;
	*p = s + 1;
	return true;
}

/* Skips a field of non-space characters and the single space after it. */
static bool skip_field(const char **p)
{
	const char *s = *p;
	while (*s && *s != ' ')
		s++;
	if (s == *p || *s != ' ')
		return false;
	*p = s + 1;
	return true;
}

cl_err cl_rtm_parse_maps(const char *line, const char *root, uint64_t *start, uint64_t *end, char perms[5],
			 uint64_t *offset, const char **path)
{
	const char *p = line;
	CL_ENSURE(hex_u64(&p, '-', start) && hex_u64(&p, ' ', end) && *end >= *start, CL_EINVAL,
		  "maps: bad address range");
	for (int i = 0; i < 4; i++) {
		CL_ENSURE(p[i] && p[i] != ' ', CL_EINVAL, "maps: bad permissions");
		perms[i] = p[i];
	}
	perms[4] = '\0';
	CL_ENSURE(p[4] == ' ', CL_EINVAL, "maps: bad permissions");
	p += 5;
	CL_ENSURE(hex_u64(&p, ' ', offset), CL_EINVAL, "maps: bad offset");
	CL_ENSURE(skip_field(&p), CL_EINVAL, "maps: bad device"); /* dev */
	/* inode, then spaces up to the path (none: the line ends after the inode) */
	while (*p >= '0' && *p <= '9')
		p++;
	CL_ENSURE(*p == '\0' || *p == ' ', CL_EINVAL, "maps: bad inode");
	while (*p == ' ')
		p++;
	size_t rl = root ? strlen(root) : 0;
	if (rl > 1 && strncmp(p, root, rl) == 0 && p[rl] == '/')
		p += rl;
	*path = p;
	return CL_OK;
}

/* The uid and gid of process pid (/proc/PID/status "Uid:"/"Gid:", real). */
static cl_err proc_ids(pid_t pid, uid_t *uid, gid_t *gid)
{
	char path[64], line[256];
	long u = -1, g = -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return cl_errorf(CL_ESYS, "measure: open %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Uid:", 4) == 0)
			u = strtol(line + 4, NULL, 10);
		else if (strncmp(line, "Gid:", 4) == 0)
			g = strtol(line + 4, NULL, 10);
	}
	fclose(f);
	CL_ENSURE(u >= 0 && g >= 0, CL_ESYS, "measure: %s has no Uid/Gid", path);
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return CL_OK;
}

/* Opens /proc/PID/WHAT (mem; root). The agent holds no CAP_SYS_PTRACE, and an enclave's
 * user namespace belongs to the enclave's own uid: the kernel lets a
 * caller whose file-system ids are the process's own read its memory, so
 * this thread takes them (setfsuid/setfsgid: per thread, CAP_SETUID/GID)
 * for the open only and gives them back before returning. */
static cl_err open_proc(pid_t pid, const char *what, int flags, int *fd)
{
	char path[64];
	uid_t uid = 0;
	gid_t gid = 0;
	snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, what);
	if ((*fd = open(path, flags | O_CLOEXEC)) >= 0)
		return CL_OK;
	if (errno != EACCES && errno != EPERM)
		return cl_errorf(CL_ESYS, "measure: open %s: %s", path, strerror(errno));
	CL_GUARD(proc_ids(pid, &uid, &gid));
	uid_t old_uid = (uid_t)syscall(SYS_setfsuid, -1);
	gid_t old_gid = (gid_t)syscall(SYS_setfsgid, -1);
	syscall(SYS_setfsgid, gid);
	syscall(SYS_setfsuid, uid);
	*fd = open(path, flags | O_CLOEXEC);
	int e = errno;
	syscall(SYS_setfsuid, old_uid);
	syscall(SYS_setfsgid, old_gid);
	if ((uid_t)syscall(SYS_setfsuid, -1) != old_uid || (gid_t)syscall(SYS_setfsgid, -1) != old_gid) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		cl_error("measure: could not restore this thread's file-system ids");
		abort(); /* never run on with an enclave's ids */
	}
	if (*fd < 0)
		return cl_errorf(CL_ESYS, "measure: open %s: %s", path, strerror(e));
	return CL_OK;
}

/* SHA-384 of [start, end) of the process's memory (mem: /proc/PID/mem). */
static cl_err hash_range(int mem, uint64_t start, uint64_t end, uint64_t deadline_ns, uint8_t *buf,
			 uint8_t digest[48])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	cl_err err = CL_OK;
	unsigned int dl = 0;
	if (!md || EVP_DigestInit_ex(md, EVP_sha384(), NULL) != 1) {
		err = cl_errorf(CL_EINTERNAL, "measure: cannot hash");
		goto out;
	}
	for (uint64_t at = start; at < end;) {
		size_t want = end - at < CHUNK ? (size_t)(end - at) : CHUNK;
		if (cl_now_mono_ns() > deadline_ns) {
			err = cl_errorf(CL_ETIMEOUT, "measure: the pause's bound passed while reading");
			goto out;
		}
		ssize_t got = pread(mem, buf, want, (off_t)at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			err = cl_errorf(CL_ESYS, "measure: read of a mapping at offset %" PRIu64 ": %s", at - start,
					got < 0 ? strerror(errno) : "short");
			goto out;
		}
		if (EVP_DigestUpdate(md, buf, (size_t)got) != 1) {
			err = cl_errorf(CL_EINTERNAL, "measure: cannot hash");
			goto out;
		}
		at += (uint64_t)got;
	}
	if (EVP_DigestFinal_ex(md, digest, &dl) != 1 || dl != 48)
		err = cl_errorf(CL_EINTERNAL, "measure: cannot hash");
out:
	EVP_MD_CTX_free(md);
	return err;
}

/* Every executable mapping of pid into s. A process that exited in between
 * (its maps gone or empty) adds nothing. */
static cl_err measure_pid(const cl_rtm_target *t, pid_t pid, uint64_t deadline_ns, uint8_t *buf, cl_rtm_set *s)
{
	char path[64], root[CL_RTM_PATH_MAX], *line = NULL;
	size_t cap = 0;
	int mem = -1;
	FILE *maps = NULL;
	cl_err err = CL_OK;
	snprintf(path, sizeof(path), "/proc/%ld/root", (long)pid);
	ssize_t rl = readlink(path, root, sizeof(root) - 1);
	root[rl > 0 ? rl : 0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/maps", (long)pid);
	if (!(maps = fopen(path, "re"))) {
		if (errno != ENOENT && errno != ESRCH)
			err = cl_errorf(CL_ESYS, "measure: open %s: %s", path, strerror(errno));
		goto out;
	}
	ssize_t n;
	while ((n = getline(&line, &cap, maps)) > 0) {
		uint64_t start, end, off;
		char perms[5];
		const char *mpath;
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		CL_GUARD_OUT(err, cl_rtm_parse_maps(line, root, &start, &end, perms, &off, &mpath));
		if (perms[2] != 'x' || strcmp(mpath, "[vsyscall]") == 0)
			continue;
		ENSURE_OUT(err, strlen(mpath) < CL_RTM_PATH_MAX, CL_ELIMIT, "measure: a mapping's path is too long");
		if (t->fault)
			CL_GUARD_OUT(err, t->fault(t->ctx, s->n));
		if (mem < 0)
			CL_GUARD_OUT(err, open_proc(pid, "mem", O_RDONLY, &mem));
		uint8_t digest[48];
		ENSURE_OUT(err, end - start <= CL_RTM_MAX_BYTES - s->bytes, CL_ELIMIT,
			      "measure: more than %llu MiB of executable mappings",
			      (unsigned long long)(CL_RTM_MAX_BYTES >> 20));
		CL_GUARD_OUT(err, hash_range(mem, start, end, deadline_ns, buf, digest));
		CL_GUARD_OUT(err, cl_rtm_add(s, mpath, mpath[0] ? off : 0, end - start, digest));
	}
out:
	if (maps)
		fclose(maps);
	if (mem >= 0)
		close(mem);
	free(line);
	return err;
}

cl_err cl_rtm_measure(const cl_rtm_target *t, uint32_t pause_ms, uint8_t reg[CL_PCR_LEN], size_t *nregions,
		      size_t *nfiles)
{
	cl_rtm_set s = {0};
	pid_t *pids = NULL;
	uint8_t *buf = NULL, *list = NULL;
	uint32_t list_len = 0;
	char **paths = NULL, *store = NULL;
	size_t np = 0, npaths = 0;
	int root = -1;
	bool was = false, froze = false;
	cl_err err;
	CL_GUARD_OUT(err, t->is_frozen(t->ctx, &was));
	if (t->files) {
		/* init's list, before the pause (a paused init cannot answer):
		 * asked now while it runs, else (or if it does not answer in
		 * time) the last it reported */
		err = was ? CL_ETIMEOUT : t->files(t->ctx, true, &list, &list_len);
		if (err == CL_ETIMEOUT)
			err = t->files(t->ctx, false, &list, &list_len);
		if (err != CL_OK)
			goto out;
		CL_GUARD_OUT(err, cl_rtm_files_parse(list, list_len, &paths, &store, &npaths));
	}
	if (!was) {
		froze = true; /* from here on every path thaws, a failed freeze too */
		CL_GUARD_OUT(err, t->freeze(t->ctx, true));
	}
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)pause_ms * 1000000u;
	if (!(pids = malloc(CL_RTM_MAX_PROCS * sizeof(*pids))) || !(buf = malloc(CHUNK))) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, t->pids(t->ctx, pids, CL_RTM_MAX_PROCS, &np));
	for (size_t i = 0; i < np; i++)
		CL_GUARD_OUT(err, measure_pid(t, pids[i], deadline, buf, &s));
	if (npaths && np) { /* no process: no root to read the files in (the enclave has ended) */
		CL_GUARD_OUT(err, t->root(t->ctx, pids, np, &root));
		CL_GUARD_OUT(err, cl_rtm_hash_files(root, paths, npaths, deadline, buf, &s));
	}
out:
	if (froze) {
		cl_err terr = t->freeze(t->ctx, false);
		if (terr != CL_OK) {
			cl_error("measure: the enclave could not be resumed: %s", cl_error_detail());
			err = terr;
		}
	}
	if (err == CL_OK) {
		cl_rtm_register(&s, reg);
		if (nregions)
			*nregions = s.n - s.nfiles;
		if (nfiles)
			*nfiles = s.nfiles;
	}
	cl_rtm_set_free(&s);
	if (root >= 0)
		close(root);
	free(paths);
	free(store);
	free(list);
	free(pids);
	free(buf);
	return err;
}

/* ---- the sandbox as the target ---- */

/* One measure at a time (measure_mu, held for a whole measure). The
 * reconcile loop's freeze/thaw of an enclave and a measure's pause of the
 * same enclave exclude each other (paused_mu: measuring_id, loop_id); of
 * another enclave they go on side by side. */
static pthread_mutex_t measure_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t paused_mu = PTHREAD_MUTEX_INITIALIZER; /* the fields below */
static pthread_cond_t paused_cv = PTHREAD_COND_INITIALIZER;
static char measuring_id[64], loop_id[64];
static bool paused_known, paused_was;

void cl_agent_rtm_measure_begin(const char *id)
{
	pthread_mutex_lock(&measure_mu);
	pthread_mutex_lock(&paused_mu);
	while (loop_id[0] && strcmp(loop_id, id) == 0)
		pthread_cond_wait(&paused_cv, &paused_mu);
	snprintf(measuring_id, sizeof(measuring_id), "%s", id);
	paused_known = false;
	pthread_mutex_unlock(&paused_mu);
}

void cl_agent_rtm_measure_end(void)
{
	pthread_mutex_lock(&paused_mu);
	measuring_id[0] = '\0';
	paused_known = false;
	pthread_mutex_unlock(&paused_mu);
	pthread_mutex_unlock(&measure_mu);
}

bool cl_agent_rtm_loop_begin(const char *id)
{
	pthread_mutex_lock(&paused_mu);
	bool free_ = !(measuring_id[0] && strcmp(measuring_id, id) == 0);
	if (free_)
		snprintf(loop_id, sizeof(loop_id), "%s", id);
	pthread_mutex_unlock(&paused_mu);
	return free_;
}

void cl_agent_rtm_loop_end(void)
{
	pthread_mutex_lock(&paused_mu);
	loop_id[0] = '\0';
	pthread_cond_broadcast(&paused_cv);
	pthread_mutex_unlock(&paused_mu);
}

bool cl_agent_rtm_paused(const char *id, bool *frozen_before)
{
	pthread_mutex_lock(&paused_mu);
	bool yes = paused_known && measuring_id[0] && strcmp(measuring_id, id) == 0;
	if (yes)
		*frozen_before = paused_was;
	pthread_mutex_unlock(&paused_mu);
	return yes;
}

/* The state the measured enclave had before its pause (what the loop reports). */
static void set_paused(bool was)
{
	pthread_mutex_lock(&paused_mu);
	paused_was = was;
	paused_known = true;
	pthread_mutex_unlock(&paused_mu);
}

typedef struct sb_target {
	const char *dir, *id;
} sb_target;

static cl_err sb_is_frozen(void *ctx, bool *frozen)
{
	sb_target *t = ctx;
	cl_sandbox_info info;
	CL_GUARD(cl_sandbox_inspect(t->dir, t->id, &info));
	*frozen = info.frozen;
	set_paused(info.frozen); /* from here until the measure ends */
	return CL_OK;
}

static cl_err sb_freeze(void *ctx, bool frozen)
{
	sb_target *t = ctx;
	return cl_sandbox_freeze(t->dir, t->id, frozen);
}

static cl_err sb_pids(void *ctx, pid_t *out, size_t max, size_t *n)
{
	sb_target *t = ctx;
	return cl_sandbox_pids(t->dir, t->id, out, max, n);
}

static cl_err sb_files(void *ctx, bool fresh, uint8_t **list, uint32_t *len)
{
	sb_target *t = ctx;
	return cl_sandbox_files(t->dir, t->id, fresh, CL_RTM_FILES_WAIT_MS, list, len);
}

/* The enclave's root, as the first of its processes that can be opened
 * sees it (they all share it: one mount namespace, one root). */
static cl_err sb_root(void *ctx, const pid_t *pids, size_t np, int *fd)
{
	(void)ctx;
	cl_err err = cl_errorf(CL_ENOTFOUND, "measure: the enclave has no process");
	for (size_t i = 0; i < np; i++)
		if ((err = open_proc(pids[i], "root", O_PATH | O_DIRECTORY, fd)) == CL_OK)
			return CL_OK;
	return err;
}

cl_err cl_agent_rtm_enclave(const char *dir, const char *id, uint8_t reg[CL_PCR_LEN])
{
	sb_target st = {dir, id};
	cl_rtm_target t = {sb_is_frozen, sb_freeze, sb_pids, sb_files, sb_root, NULL, &st};
	size_t n = 0, nf = 0;
	uint64_t t0 = cl_now_mono_ns();
	cl_agent_rtm_measure_begin(id);
	cl_err err = cl_rtm_measure(&t, CL_RTM_PAUSE_MS, reg, &n, &nf);
	cl_agent_rtm_measure_end();
	if (err == CL_OK)
		cl_info("enclave measured id=%s regions=%zu files=%zu ms=%llu", id, n, nf,
			(unsigned long long)((cl_now_mono_ns() - t0) / 1000000u));
	return err;
}
