/* agent_image.c — fetching, checking and caching enclave images.
 *
 * An image is used only after its SHA-384 matched the digest the control
 * plane put in the desired set, both when it is downloaded and every time a
 * cached copy is about to be launched (the cache is not trusted blindly):
 * the file is hashed again unless it is the very file this process hashed
 * before (same device, inode, size, mtime and ctime; any write to it or
 * rename over it changes one of them), which keeps the hash off the launch
 * path of an image launched again. A file is remembered only if its ctime
 * was over a second old when the hash began (as git treats "racily clean"
 * files): a change in the same timestamp tick could not be told apart. The
 * one exception is a download: its digest is known as it is written, and
 * the file is remembered as the rename left it (only this process writes
 * the cache directory, 0700).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/http_client.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent_image.h"
#include "host/agent_proto.h"
#include "image/image.h"

/* Files hashed before, by identity (a few: images launched in turn). */
#define HASHED_MAX 4
static struct hashed {
	char path[PATH_MAX];
	struct stat st;
	uint8_t digest[CL_SHA384_LEN];
} hashed[HASHED_MAX];
static unsigned hashed_next;
static pthread_mutex_t hashed_lock = PTHREAD_MUTEX_INITIALIZER;

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* True (digest in out) if the file at path, as st shows it, was hashed before unchanged. */
static bool hashed_before(const char *path, const struct stat *st, uint8_t out[static CL_SHA384_LEN])
{
	bool found = false;
	pthread_mutex_lock(&hashed_lock);
	for (size_t i = 0; i < HASHED_MAX && !found; i++)
		if (strcmp(hashed[i].path, path) == 0 && same_file(&hashed[i].st, st)) {
			memcpy(out, hashed[i].digest, CL_SHA384_LEN);
			found = true;
		}
	pthread_mutex_unlock(&hashed_lock);
	return found;
}

static void remember_hash(const char *path, const struct stat *st, const uint8_t digest[static CL_SHA384_LEN])
{
	if (strlen(path) >= sizeof(hashed[0].path))
		return;
	pthread_mutex_lock(&hashed_lock);
	struct hashed *h = &hashed[hashed_next++ % HASHED_MAX];
	memcpy(h->path, path, strlen(path) + 1);
	h->st = *st;
	memcpy(h->digest, digest, CL_SHA384_LEN);
	pthread_mutex_unlock(&hashed_lock);
}

/* SHA-384 of a file, streamed (or remembered, see the top of this file).
 * CL_ENOTFOUND if it does not exist. */
static cl_err hash_file(const char *path, uint8_t out[static CL_SHA384_LEN])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cl_errorf(errno == ENOENT ? CL_ENOTFOUND : CL_ESYS, "open %s: %s", path, strerror(errno));
	struct stat before = {0}, after;
	struct timespec began;
	clock_gettime(CLOCK_REALTIME, &began);
	if (fstat(fd, &before) == 0 && S_ISREG(before.st_mode) && hashed_before(path, &before, out)) {
		close(fd);
		return CL_OK;
	}
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	cl_err err = CL_OK;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) != 1) {
		err = cl_errorf(CL_EINTERNAL, "sha384: init failed");
		goto out;
	}
	uint8_t chunk[65536];
	uint64_t total = 0;
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = cl_errorf(CL_ESYS, "read %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		total += (uint64_t)r;
		if (total > CL_IMAGE_MAX_SIZE) {
			err = cl_errorf(CL_ETOOBIG, "%s is larger than an image may be", path);
			goto out;
		}
		if (EVP_DigestUpdate(ctx, chunk, (size_t)r) != 1) {
			err = cl_errorf(CL_EINTERNAL, "sha384: update failed");
			goto out;
		}
	}
	unsigned int mdlen = 0;
	if (EVP_DigestFinal_ex(ctx, out, &mdlen) != 1 || mdlen != CL_SHA384_LEN)
		err = cl_errorf(CL_EINTERNAL, "sha384: final failed");
	/* remembered only if the file did not change while it was read and had
	 * not changed for a second before */
	else if (S_ISREG(before.st_mode) && fstat(fd, &after) == 0 && same_file(&before, &after) &&
		 before.st_ctim.tv_sec + 1 < began.tv_sec)
		remember_hash(path, &before, out);
out:
	EVP_MD_CTX_free(ctx);
	close(fd);
	return err;
}

/* A local file failure: a full disk says so first (the control plane keeps
 * 255 bytes of a launch error), anything else is CL_ESYS, so that it is not
 * taken for a transient fetch failure (CL_EIO) and retried silently. */
static cl_err local_err(const char *image, cl_err e)
{
	if (e == CL_OK)
		return CL_OK;
	char why[256];
	snprintf(why, sizeof(why), "%s", cl_error_detail());
	if (e == CL_ENOSPACE)
		return cl_errorf(CL_ENOSPACE, "the host's disk is full: cannot store image %s (%s)", image, why);
	return cl_errorf(CL_ESYS, "cannot store image %s: %s", image, why);
}

cl_err cl_agent_image_ensure(struct cl_http_client *http, const char *dir, const char *image,
			     const char *sha384_hex, char *path, size_t pathlen)
{
	uint8_t want[CL_SHA384_LEN], got[CL_SHA384_LEN];
	CL_ENSURE(cl_agent_valid_id(image), CL_EINVAL, "image id is invalid");
	CL_ENSURE(cl_hex_decode(sha384_hex, want, sizeof(want)) == CL_OK, CL_EINVAL,
		  "image %s: digest is not SHA-384 hex", image);
	char imgdir[PATH_MAX];
	CL_ENSURE(snprintf(imgdir, sizeof(imgdir), "%s/images", dir) < (int)sizeof(imgdir), CL_EINVAL,
		  "data dir path too long");
	CL_ENSURE(snprintf(path, pathlen, "%s/%s.img", imgdir, image) < (int)pathlen, CL_EINVAL,
		  "data dir path too long");
	CL_GUARD(local_err(image, cl_mkdir_p(imgdir, 0700)));

	cl_err err = hash_file(path, got);
	if (err == CL_OK && cl_ct_equal(got, want, sizeof(want)))
		return CL_OK;
	if (err == CL_OK || err == CL_ETOOBIG) {
		cl_warn("cached image does not match its digest; fetching it again image=%s", image);
		if (unlink(path) != 0 && errno != ENOENT)
			return cl_errorf(CL_ESYS, "remove %s: %s", path, strerror(errno));
	} else if (err != CL_ENOTFOUND) {
		return err;
	}

	char url[256];
	CL_ENSURE(snprintf(url, sizeof(url), "/v1/images/%s", image) < (int)sizeof(url), CL_EINVAL,
		  "image id too long");
	cl_buf body;
	cl_buf_init(&body, CL_IMAGE_MAX_SIZE);
	long status = 0;
	cl_http_client_set_timeout(http, 300000);
	err = cl_http_request(http, "GET", url, NULL, NULL, 0, NULL, &status, &body);
	if (err != CL_OK) {
		char why[256];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		err = cl_errorf(err, "fetch image %s: %s", image, why);
		goto out;
	}
	if (status != 200) {
		char msg[200];
		cl_agent_error_message((const char *)body.data, body.len, msg, sizeof(msg));
		err = cl_errorf(status == 404 ? CL_ENOTFOUND : status >= 500 ? CL_EUNAVAIL : CL_EPROTO,
				"fetch image %s: HTTP %ld: %s", image, status, msg);
		goto out;
	}
	CL_GUARD_OUT(err, cl_sha384(body.data, body.len, got));
	if (!cl_ct_equal(got, want, sizeof(want))) {
		err = cl_errorf(CL_ECRYPTO, "image %s: SHA-384 of the downloaded image does not match image_sha384",
				image);
		goto out;
	}
	CL_GUARD_OUT(err, local_err(image, cl_file_write_atomic(path, body.data, body.len, 0600)));
	/* Hashed just now, as written: the launch that follows (and those in
	 * the next second, which hash_file would not trust) need not hash it again. */
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == body.len)
		remember_hash(path, &st, got);
	cl_info("image cached image=%s bytes=%zu", image, body.len);
out:
	cl_buf_free(&body);
	return err;
}

size_t cl_agent_image_prune(const char *dir, const char *const *keep, size_t n)
{
	char imgdir[PATH_MAX], name[CL_AGENT_ID_MAX + 8];
	size_t removed = 0;
	if (snprintf(imgdir, sizeof(imgdir), "%s/images", dir) >= (int)sizeof(imgdir))
		return 0;
	DIR *d = opendir(imgdir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len <= 4 || strcmp(e->d_name + len - 4, ".img") != 0 || len - 4 >= CL_AGENT_ID_MAX)
			continue;
		bool kept = false;
		for (size_t i = 0; i < n && !kept; i++) {
			snprintf(name, sizeof(name), "%s.img", keep[i]);
			kept = strcmp(name, e->d_name) == 0;
		}
		if (!kept && unlinkat(dirfd(d), e->d_name, 0) == 0) {
			cl_info("cached image removed to make room file=%s", e->d_name);
			removed++;
		}
	}
	closedir(d);
	return removed;
}
