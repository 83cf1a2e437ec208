/* state_blob.c — the blob store for suspended state (state_blob.h). */
#include "control/state_blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#define TMP_SUFFIX ".tmp"

static bool id_ok(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 63 || id[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

static cl_err disk(int e, const char *what, const char *path)
{
	return cl_errorf(e == ENOSPC || e == EDQUOT ? CL_ENOSPACE : CL_EIO, "%s %s: %s", what, path, strerror(e));
}

static cl_err fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return disk(errno, "cannot open", dir);
	int rc = fsync(fd), e = errno;
	close(fd);
	return rc == 0 ? CL_OK : disk(e, "cannot fsync", dir);
}

cl_err ctl_state_blob_open(const char *datadir, const char *enclave_id, int64_t n, uint64_t max, ctl_state_blob_w *w)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	CL_ENSURE(id_ok(enclave_id) && n >= 1, CL_EINVAL, "a blob needs an enclave id and a suspend number");
	int a = snprintf(w->dir, sizeof(w->dir), "%s/state", datadir);
	int b = snprintf(w->rel, sizeof(w->rel), "state/%s.%lld.blob", enclave_id, (long long)n);
	int c = snprintf(w->final, sizeof(w->final), "%s/%s", datadir, w->rel);
	int d = snprintf(w->tmp, sizeof(w->tmp), "%s" TMP_SUFFIX, w->final);
	CL_ENSURE(a > 0 && (size_t)a < sizeof(w->dir) && b > 0 && (size_t)b < sizeof(w->rel) && c > 0 &&
		  (size_t)c < sizeof(w->final) && d > 0 && (size_t)d < sizeof(w->tmp),
		  CL_EINVAL, "the data directory's path is too long");
	CL_GUARD(cl_mkdir_p(w->dir, 0700));
	if (unlink(w->tmp) != 0 && errno != ENOENT)
		return disk(errno, "cannot remove", w->tmp);
	w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return disk(errno, "cannot create", w->tmp);
	w->max = max;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	if (!sha || EVP_DigestInit_ex(sha, EVP_sha384(), NULL) != 1) {
		EVP_MD_CTX_free(sha);
		ctl_state_blob_abort(w);
		return cl_errorf(CL_EINTERNAL, "no SHA-384");
	}
	w->sha = sha;
	return CL_OK;
}

cl_err ctl_state_blob_write(ctl_state_blob_w *w, const uint8_t *p, size_t len)
{
	CL_ENSURE(w->fd >= 0, CL_EINVAL, "the blob is not open");
	if (len > w->max - w->written) {
		ctl_state_blob_abort(w);
		return cl_errorf(CL_ETOOBIG, "the state blob is larger than %llu bytes", (unsigned long long)w->max);
	}
	if (EVP_DigestUpdate(w->sha, p, len) != 1) {
		ctl_state_blob_abort(w);
		return cl_errorf(CL_EINTERNAL, "SHA-384 failed");
	}
	while (len) {
		ssize_t k = write(w->fd, p, len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			cl_err err = disk(k < 0 ? errno : EIO, "cannot write", w->tmp);
			ctl_state_blob_abort(w);
			return err;
		}
		p += k;
		len -= (size_t)k;
		w->written += (uint64_t)k;
	}
	return CL_OK;
}

cl_err ctl_state_blob_finish(ctl_state_blob_w *w, uint64_t want_len, const char *want_sha384,
			     char sha_hex[CTL_STATE_SHA_HEX + 1])
{
	uint8_t md[48];
	unsigned mdlen = 0;
	cl_err err = CL_OK;
	sha_hex[0] = '\0';
	CL_ENSURE(w->fd >= 0, CL_EINVAL, "the blob is not open");
	if (EVP_DigestFinal_ex(w->sha, md, &mdlen) != 1 || mdlen != sizeof(md)) {
		err = cl_errorf(CL_EINTERNAL, "SHA-384 failed");
		goto out;
	}
	cl_hex_encode(md, sizeof(md), sha_hex);
	if (w->written != want_len) {
		err = cl_errorf(CL_EINVAL, "the state blob is %llu bytes, the enclave announced %llu",
				(unsigned long long)w->written, (unsigned long long)want_len);
		goto out;
	}
	if (!want_sha384 || strcmp(sha_hex, want_sha384) != 0) {
		err = cl_errorf(CL_EINVAL, "the state blob's SHA-384 is not the one the enclave announced");
		goto out;
	}
	if (fsync(w->fd) != 0) {
		err = disk(errno, "cannot fsync", w->tmp);
		goto out;
	}
	if (rename(w->tmp, w->final) != 0) {
		err = disk(errno, "cannot rename", w->tmp);
		goto out;
	}
	err = fsync_dir(w->dir);
out:
	if (err != CL_OK)
		sha_hex[0] = '\0';
	ctl_state_blob_abort(w); /* closes; the temporary file is gone after a rename */
	return err;
}

void ctl_state_blob_abort(ctl_state_blob_w *w)
{
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
		(void)unlink(w->tmp);
	}
	EVP_MD_CTX_free(w->sha);
	w->sha = NULL;
}

cl_err ctl_state_blob_remove(const char *datadir, const char *rel)
{
	char path[PATH_MAX];
	CL_ENSURE(rel && !strncmp(rel, "state/", 6) && !strchr(rel + 6, '/') && rel[6] && rel[6] != '.', CL_EINVAL,
		  "not a state blob's path");
	int k = snprintf(path, sizeof(path), "%s/%s", datadir, rel);
	CL_ENSURE(k > 0 && (size_t)k < sizeof(path), CL_EINVAL, "the data directory's path is too long");
	if (unlink(path) != 0 && errno != ENOENT)
		return disk(errno, "cannot remove", path);
	return CL_OK;
}

/* Whether DATA/state/<name> is to be removed (*drop); an error stops the walk. */
typedef cl_err (*reap_pick_fn)(const char *name, void *ctx, bool *drop);

/* Removes each entry of DATA/state that pick drops; *n = how many (may be
 * NULL). what names them in an error ("a temporary blob"). */
static cl_err reap_walk(const char *datadir, reap_pick_fn pick, void *ctx, const char *what, int *n)
{
	char dir[PATH_MAX];
	int removed = 0;
	cl_err err = CL_OK;
	if (n)
		*n = 0;
	int k = snprintf(dir, sizeof(dir), "%s/state", datadir);
	CL_ENSURE(k > 0 && (size_t)k < sizeof(dir), CL_EINVAL, "the data directory's path is too long");
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? CL_OK : disk(errno, "cannot open", dir);
	struct dirent *e;
	bool drop = false;
	while (err == CL_OK && (e = readdir(d))) {
		if ((err = pick(e->d_name, ctx, &drop)) != CL_OK || !drop)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) != 0 && errno != ENOENT) {
			char msg[96];
			snprintf(msg, sizeof(msg), "cannot remove %s in", what);
			err = disk(errno, msg, dir);
			break;
		}
		removed++;
	}
	closedir(d);
	if (n)
		*n = removed;
	return err;
}

static cl_err pick_tmp(const char *name, void *ctx, bool *drop)
{
	(void)ctx;
	size_t len = strlen(name), tl = strlen(TMP_SUFFIX);
	*drop = len > tl && strcmp(name + len - tl, TMP_SUFFIX) == 0;
	return CL_OK;
}

cl_err ctl_state_blob_reap(const char *datadir, int *n)
{
	return reap_walk(datadir, pick_tmp, NULL, "a temporary blob", n);
}

typedef struct orphan_ctx {
	ctl_store *st;
	ctl_state row;
} orphan_ctx;

/* <enclave_id>.<n>.blob: kept only if it is its enclave's committed blob */
static cl_err pick_orphan(const char *name, void *ctx, bool *drop)
{
	orphan_ctx *o = ctx;
	char id[CTL_ID_MAX], rel[CTL_STATE_PATH_MAX];
	size_t len = strlen(name);
	*drop = false;
	if (len <= 5 || strcmp(name + len - 5, ".blob") != 0)
		return CL_OK;
	const char *dot = memrchr(name, '.', len - 5);
	if (!dot || (size_t)(dot - name) >= sizeof(id))
		return CL_OK; /* not a name ctl_state_blob_open makes: left alone */
	memcpy(id, name, (size_t)(dot - name));
	id[dot - name] = '\0';
	if (!id_ok(id))
		return CL_OK;
	snprintf(rel, sizeof(rel), "state/%.200s", name);
	CL_GUARD(ctl_store_state_get(o->st, id, &o->row));
	*drop = !(o->row.key_n > 0 && strcmp(o->row.blob_path, rel) == 0);
	return CL_OK;
}

cl_err ctl_state_blob_reap_orphans(const char *datadir, ctl_store *st, int *n)
{
	orphan_ctx *o = calloc(1, sizeof(*o));
	if (!o) {
		if (n)
			*n = 0;
		return CL_ENOMEM;
	}
	o->st = st;
	cl_err err = reap_walk(datadir, pick_orphan, o, "an orphan blob", n);
	free(o);
	return err;
}
