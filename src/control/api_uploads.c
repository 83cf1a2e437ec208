/* api_uploads.c — uploads in parts (upload.h): the /v1/uploads API and the
 * functions consumers use to take a complete upload.
 *
 * Order of durable steps (a kill at any moment loses no acknowledged state):
 *   create:   file (O_EXCL|O_NOFOLLOW, fsync, dir fsync), then the row;
 *   part:     pwrite + fsync at the part's offset, then the row's received;
 *   delete:   the row, then the file.
 * A file without a row is swept at the next start; a row whose file has
 * bytes past `received` is harmless (the next part overwrites them).
 *
 * A full disk: a part that does not fit is answered 507 (the upload keeps
 * what it had; the bytes written past `received` stay until the upload is
 * deleted). A delete runs even then (ctl_store_tx_freeing releases the
 * disk reserve if it must), and every delete puts the reserve back when
 * it freed enough. New uploads and parts count against the tenant's
 * storage quota and are refused while the reserve is in use.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "control/upload.h"
#include "control/validate.h"

#define UPLOAD_PREFIX "upl_"

bool ctl_upload_valid_id(const char *s)
{
	if (!s || strncmp(s, UPLOAD_PREFIX, 4) != 0)
		return false;
	size_t n = strlen(s + 4);
	if (n == 0 || n > 40)
		return false;
	for (const char *c = s + 4; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '2' && *c <= '7')))
			return false;
	return true;
}

static void upload_path(ctl_server *srv, const char *id, char *out, size_t n)
{
	snprintf(out, n, "%s/uploads/%s", srv->data_dir, id);
}

static cl_err fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cl_errorf(CL_EIO, "open %s: %s", dir, strerror(errno));
	int rc = fsync(fd);
	close(fd);
	return rc == 0 ? CL_OK : cl_errorf(CL_EIO, "fsync %s: %s", dir, strerror(errno));
}

/* The error for a failed upload file operation: a full disk says so and
 * what to do (CL_ENOSPACE, 507; logged), anything else is CL_EIO. */
static cl_err disk_err(ctl_server *srv, int errnum, const char *what)
{
	cl_err e = cl_errorf(cl_errno_write_err(errnum, CL_EIO), "%s: %s", what, strerror(errnum));
	return ctl_store_file_err(srv->store, e, what);
}

static const char *kind_name(enum ctl_who k)
{
	switch (k) {
	case CTL_WHO_ADMIN:
		return "admin";
	case CTL_WHO_TENANT:
		return "tenant";
	case CTL_WHO_ENGINEER:
		return "engineer";
	default:
		return "";
	}
}

static int64_t parts_of(int64_t size)
{
	return (size + CTL_UPLOAD_PART - 1) / CTL_UPLOAD_PART;
}

static cl_err delete_row(ctl_store *st, void *id)
{
	return ctl_store_upload_delete(st, id);
}

/* Deletes an upload: row (own transaction, even on a full disk), then
 * file; then the disk reserve comes back if the file left room for it. */
static cl_err delete_upload(ctl_server *srv, const char *id)
{
	char path[PATH_MAX + 96], rid[CTL_ID_MAX];
	snprintf(rid, sizeof(rid), "%s", id);
	CL_GUARD(ctl_store_tx_freeing(srv->store, delete_row, rid));
	upload_path(srv, id, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		cl_warn("upload file not removed upload=%s errno=%d", id, errno);
	ctl_store_reserve_restore(srv->store);
	return CL_OK;
}

/* Deletes uploads whose last part is older than the TTL. */
static void sweep(ctl_server *srv)
{
	char(*ids)[CTL_ID_MAX] = NULL;
	size_t n = 0;
	int64_t cutoff = (int64_t)cl_now_wall_ms() - CTL_UPLOAD_TTL_MS;
	if (ctl_store_upload_expired(srv->store, cutoff, &ids, &n) != CL_OK) {
		cl_warn("upload sweep failed: %s", cl_error_detail());
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (delete_upload(srv, ids[i]) == CL_OK)
			cl_info("upload expired upload=%s", ids[i]);
	}
	free(ids);
	cl_error_clear();
}

cl_err ctl_upload_init(ctl_server *srv)
{
	char dir[PATH_MAX + 16], path[PATH_MAX + 300];
	CL_GUARD(ctl_store_reserve_init(srv->store));
	snprintf(dir, sizeof(dir), "%s/uploads", srv->data_dir);
	CL_GUARD(cl_mkdir_p(dir, 0700));
	sweep(srv);
	DIR *d = opendir(dir);
	if (!d)
		return cl_errorf(CL_EIO, "open %s: %s", dir, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		bool exists = true;
		if (de->d_name[0] == '.')
			continue;
		if (ctl_upload_valid_id(de->d_name) && ctl_store_upload_exists(srv->store, de->d_name, &exists) != CL_OK)
			continue;
		if (ctl_upload_valid_id(de->d_name) && exists)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) == 0)
			cl_info("orphan upload file removed name=%.64s", de->d_name);
	}
	closedir(d);
	cl_error_clear();
	return ctl_images_init(srv);
}

/* Loads the upload if r's caller owns it; else CL_ENOTFOUND (no existence leak). */
static cl_err load_owned(ctl_req *r, const char *id, ctl_upload *u)
{
	if (!ctl_upload_valid_id(id) || ctl_store_upload_get(r->srv->store, id, u) != CL_OK ||
	    strcmp(u->tenant_id, r->who.tenant_id) != 0 || strcmp(u->owner_kind, kind_name(r->who.kind)) != 0)
		return cl_errorf(CL_ENOTFOUND, "upload not found");
	if (u->updated_at < (int64_t)cl_now_wall_ms() - CTL_UPLOAD_TTL_MS)
		return cl_errorf(CL_ENOTFOUND, "upload not found (expired)");
	return CL_OK;
}

static json_t *status_json(const ctl_upload *u)
{
	return json_pack("{s:s,s:I,s:I,s:b,s:I,s:I}", "id", u->id, "size", (json_int_t)u->size, "received",
			 (json_int_t)u->received, "complete", u->complete, "part_size", (json_int_t)CTL_UPLOAD_PART,
			 "parts", (json_int_t)parts_of(u->size));
}

static bool valid_sha384_hex(const char *s)
{
	if (!s || strlen(s) != 96)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

cl_err ctl_parse_upload_create(json_t *body, int64_t *size, const char **sha)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		CL_ENSURE(strcmp(k, "size") == 0 || strcmp(k, "sha384") == 0, CL_EINVAL, "unknown field \"%.64s\"", k);
	}
	json_t *js = json_object_get(body, "size"), *jh = json_object_get(body, "sha384");
	CL_ENSURE(json_is_integer(js), CL_EINVAL, "field \"size\" is required: the total size in bytes");
	CL_ENSURE(json_integer_value(js) >= 1, CL_EINVAL, "field \"size\" must be at least 1");
	CL_ENSURE((uint64_t)json_integer_value(js) <= CTL_UPLOAD_MAX, CL_ETOOBIG, "field \"size\" exceeds %llu bytes",
		  (unsigned long long)CTL_UPLOAD_MAX);
	CL_ENSURE(json_is_string(jh) && valid_sha384_hex(json_string_value(jh)), CL_EINVAL,
		  "field \"sha384\" is required: 96 lower-case hex digits");
	*size = json_integer_value(js);
	*sha = json_string_value(jh);
	return CL_OK;
}

static void create_upload(ctl_req *r)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	ctl_upload u;
	const char *sha = NULL;
	char path[PATH_MAX + 96];
	int64_t open_n = 0;
	int fd = -1;
	bool file_made = false;
	cl_err err;
	memset(&u, 0, sizeof(u));
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_upload_create(body, &u.size, &sha));
	CL_GUARD_OUT(err, ctl_store_upload_count_open(srv->store, r->who.tenant_id, kind_name(r->who.kind), &open_n));
	if (open_n >= CTL_UPLOAD_OPEN_MAX) {
		err = cl_errorf(CL_ECONFLICT, "too many uploads held (at most %d, complete or not): use or delete one",
				CTL_UPLOAD_OPEN_MAX);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_quota_check(srv->store, r->who.tenant_id, u.size));
	CL_GUARD_OUT(err, ctl_store_space_check(srv->store, 0));
	snprintf(u.sha384, sizeof(u.sha384), "%s", sha);
	snprintf(u.tenant_id, sizeof(u.tenant_id), "%s", r->who.tenant_id);
	snprintf(u.owner_kind, sizeof(u.owner_kind), "%s", kind_name(r->who.kind));
	u.created_at = u.updated_at = (int64_t)cl_now_wall_ms();
	CL_GUARD_OUT(err, cl_random_id(UPLOAD_PREFIX, u.id, sizeof(u.id)));
	upload_path(srv, u.id, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = disk_err(srv, errno, "cannot create the upload file");
		goto out;
	}
	file_made = true;
	if (fsync(fd) != 0) {
		err = disk_err(srv, errno, "cannot fsync the upload file");
		goto out;
	}
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/uploads", srv->data_dir);
	CL_GUARD_OUT(err, fsync_dir(dir));
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	err = ctl_store_upload_insert(srv->store, &u);
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	file_made = false; /* the row owns it now */
	cl_info("upload created upload=%s tenant=%s size=%lld", u.id, u.tenant_id, (long long)u.size);
	ctl_reply_json(srv, r->req, 201,
		       json_pack("{s:s,s:I,s:I,s:I}", "id", u.id, "size", (json_int_t)u.size, "part_size",
				 (json_int_t)CTL_UPLOAD_PART, "parts", (json_int_t)parts_of(u.size)));
out:
	if (fd >= 0)
		close(fd);
	if (file_made)
		unlink(path);
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	json_decref(body);
}

/* SHA-384 of the first size bytes of the file at path, lower-case hex. */
static cl_err file_sha384(const char *path, int64_t size, char hex[97])
{
	enum { CHUNK = 1 << 20 };
	uint8_t *buf = malloc(CHUNK), md[CL_SHA384_LEN];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	cl_err err = CL_OK;
	if (!buf || !ctx) {
		err = CL_ENOMEM;
		goto out;
	}
	if (fd < 0 || EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) != 1) {
		err = cl_errorf(CL_EIO, "cannot read upload file");
		goto out;
	}
	for (int64_t off = 0; off < size;) {
		size_t want = (size_t)(size - off < CHUNK ? size - off : CHUNK);
		ssize_t got = pread(fd, buf, want, off);
		if (got <= 0) {
			err = cl_errorf(CL_EIO, "upload file is short");
			goto out;
		}
		if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1) {
			err = cl_errorf(CL_EINTERNAL, "sha384 failed");
			goto out;
		}
		off += got;
	}
	unsigned mdlen = 0;
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != CL_SHA384_LEN) {
		err = cl_errorf(CL_EINTERNAL, "sha384 failed");
		goto out;
	}
	cl_hex_encode(md, sizeof(md), hex);
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return err;
}

/* True if the file holds exactly p[0..n) at off. */
static bool file_matches(const char *path, int64_t off, const uint8_t *p, size_t n)
{
	uint8_t *buf = malloc(n ? n : 1);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	bool same = buf && fd >= 0 && pread(fd, buf, n, off) == (ssize_t)n && memcmp(buf, p, n) == 0;
	if (fd >= 0)
		close(fd);
	free(buf);
	return same;
}

static cl_err write_part(ctl_server *srv, const char *path, int64_t off, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return disk_err(srv, errno, "cannot open the upload file");
	size_t done = 0;
	while (done < n) {
		ssize_t w = pwrite(fd, p + done, n - done, off + (int64_t)done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC; /* a 0-byte write makes no progress: the disk is full */
			close(fd);
			return disk_err(srv, e, "cannot store the part");
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0) {
		int e = errno;
		close(fd);
		return disk_err(srv, e, "cannot fsync the upload file");
	}
	return close(fd) == 0 ? CL_OK : disk_err(srv, errno, "cannot close the upload file");
}

static cl_err parse_part_no(const char *s, int64_t parts, int64_t *n)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	CL_ENSURE(*s >= '0' && *s <= '9' && !*end && errno == 0 && v >= 0 && v < parts, CL_EINVAL,
		  "part number must be an integer in 0..%lld", (long long)parts - 1);
	*n = v;
	return CL_OK;
}

static void put_part(ctl_req *r, const char *id, const char *part)
{
	ctl_server *srv = r->srv;
	ctl_upload u;
	int64_t n = 0;
	char path[PATH_MAX + 96], hex[97];
	cl_err err;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	const char *ct = ctl_req_header(r, "Content-Type");
	CL_GUARD_OUT(err, load_owned(r, id, &u));
	CL_GUARD_OUT(err, parse_part_no(part, parts_of(u.size), &n));
	if (!ct || strcmp(ct, "application/octet-stream") != 0) {
		err = cl_errorf(CL_EINVAL, "Content-Type must be application/octet-stream");
		goto out;
	}
	int64_t off = n * (int64_t)CTL_UPLOAD_PART;
	size_t want = (size_t)(u.size - off < (int64_t)CTL_UPLOAD_PART ? u.size - off : (int64_t)CTL_UPLOAD_PART);
	if (len > want) {
		err = cl_errorf(CL_ETOOBIG, "part %lld must be %zu bytes, got %zu", (long long)n, want, len);
		goto out;
	}
	if (len < want) {
		err = cl_errorf(CL_EINVAL, "part %lld must be %zu bytes, got %zu", (long long)n, want, len);
		goto out;
	}
	const uint8_t *p = evbuffer_pullup(in, -1);
	if (!p) {
		err = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	upload_path(srv, u.id, path, sizeof(path));
	int64_t next = u.received / (int64_t)CTL_UPLOAD_PART;
	if (n != next || u.complete) {
		/* a client retrying the part it last sent (its answer was lost) */
		bool retry = (u.complete ? n == parts_of(u.size) - 1 : n == next - 1) && file_matches(path, off, p, len);
		if (retry) {
			ctl_reply_json(srv, r->req, 200, status_json(&u));
			return;
		}
		err = cl_errorf(CL_ECONFLICT, "expected part %lld, got part %lld (parts go in order)",
				(long long)(u.complete ? parts_of(u.size) : next), (long long)n);
		goto out;
	}
	/* The quota may have been lowered since the upload was created. */
	CL_GUARD_OUT(err, ctl_store_quota_check(srv->store, u.tenant_id, 0));
	CL_GUARD_OUT(err, ctl_store_space_check(srv->store, 0));
	CL_GUARD_OUT(err, write_part(srv, path, off, p, len));
	u.received = off + (int64_t)len;
	u.updated_at = (int64_t)cl_now_wall_ms();
	if (u.received == u.size) {
		CL_GUARD_OUT(err, file_sha384(path, u.size, hex));
		if (strcmp(hex, u.sha384) != 0) {
			cl_warn("upload digest mismatch upload=%s tenant=%s: deleted", u.id, u.tenant_id);
			err = delete_upload(srv, u.id);
			if (err == CL_OK)
				err = cl_errorf(CL_EINVAL,
						"the SHA-384 of the %lld received bytes does not match the declared "
						"sha384: upload deleted, start again",
						(long long)u.size);
			goto out;
		}
		u.complete = true;
	}
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	err = ctl_store_upload_update(srv->store, &u);
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	if (u.complete)
		cl_info("upload complete upload=%s size=%lld", u.id, (long long)u.size);
	ctl_reply_json(srv, r->req, 200, status_json(&u));
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
}

void ctl_api_uploads(ctl_req *r)
{
	if (r->who.kind != CTL_WHO_ADMIN && r->who.kind != CTL_WHO_TENANT && r->who.kind != CTL_WHO_ENGINEER) {
		cl_warn("denied reason=forbidden action=upload token=%s", r->who.token_id);
		ctl_reply_error(r->srv, r->req, CL_EPERM, "host tokens may not upload");
		return;
	}
	sweep(r->srv);
	ctl_upload u;
	cl_err err;
	if (r->nseg == 2 && r->method == EVHTTP_REQ_POST) {
		create_upload(r);
	} else if (r->nseg == 5 && r->method == EVHTTP_REQ_PUT && strcmp(r->seg[3], "parts") == 0) {
		put_part(r, r->seg[2], r->seg[4]);
	} else if (r->nseg == 3 && r->method == EVHTTP_REQ_GET) {
		if ((err = load_owned(r, r->seg[2], &u)) != CL_OK)
			ctl_reply_err(r->srv, r->req, err);
		else
			ctl_reply_json(r->srv, r->req, 200, status_json(&u));
	} else if (r->nseg == 3 && r->method == EVHTTP_REQ_DELETE) {
		if ((err = load_owned(r, r->seg[2], &u)) != CL_OK || (err = delete_upload(r->srv, u.id)) != CL_OK) {
			ctl_reply_err(r->srv, r->req, err);
			return;
		}
		cl_info("upload deleted upload=%s", u.id);
		ctl_reply_json(r->srv, r->req, 200, json_pack("{s:s,s:b}", "id", u.id, "deleted", 1));
	} else {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
	}
}

/* ---- consumers ---- */

static cl_err load_complete(ctl_req *r, const char *id, size_t max, ctl_upload *u)
{
	CL_GUARD(load_owned(r, id, u));
	CL_ENSURE(u->complete, CL_ECONFLICT, "upload %s is not complete (%lld of %lld bytes)", u->id,
		  (long long)u->received, (long long)u->size);
	CL_ENSURE((uint64_t)u->size <= max, CL_ETOOBIG, "upload exceeds %zu bytes", max);
	return CL_OK;
}

cl_err ctl_upload_open(ctl_req *r, const char *id, size_t max, int *fd, size_t *size)
{
	ctl_upload u;
	char path[PATH_MAX + 96];
	struct stat st;
	CL_GUARD(load_complete(r, id, max, &u));
	upload_path(r->srv, u.id, path, sizeof(path));
	int f = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (f < 0 || fstat(f, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < u.size) {
		if (f >= 0)
			close(f);
		return cl_errorf(CL_EIO, "upload file is unreadable");
	}
	*fd = f;
	*size = (size_t)u.size;
	return CL_OK;
}

cl_err ctl_upload_read(ctl_req *r, const char *id, size_t max, cl_buf *out)
{
	int fd = -1;
	size_t size = 0;
	CL_GUARD(ctl_upload_open(r, id, max, &fd, &size));
	cl_buf_reset(out);
	cl_err err = CL_OK;
	uint8_t chunk[65536];
	size_t done = 0;
	while (done < size && err == CL_OK) {
		size_t want = size - done < sizeof(chunk) ? size - done : sizeof(chunk);
		ssize_t got = pread(fd, chunk, want, (off_t)done);
		if (got <= 0)
			err = cl_errorf(CL_EIO, "upload file is short");
		else if ((err = cl_buf_put(out, chunk, (size_t)got)) == CL_ETOOBIG)
			err = cl_errorf(CL_ETOOBIG, "upload exceeds %zu bytes", out->max);
		else
			done += (size_t)got;
	}
	close(fd);
	if (err != CL_OK)
		cl_buf_reset(out);
	return err;
}

cl_err ctl_upload_remove(ctl_req *r, const char *id)
{
	ctl_upload u;
	CL_GUARD(load_owned(r, id, &u));
	return delete_upload(r->srv, u.id);
}

cl_err ctl_upload_take(ctl_req *r, const char *id, size_t max, cl_buf *out)
{
	CL_GUARD(ctl_upload_read(r, id, max, out));
	cl_err err = ctl_upload_remove(r, id);
	if (err != CL_OK)
		cl_buf_reset(out);
	return err;
}

cl_err ctl_upload_link(ctl_req *r, const char *id, const char *dest)
{
	ctl_upload u;
	char path[PATH_MAX + 96], dir[PATH_MAX];
	CL_GUARD(load_complete(r, id, SIZE_MAX, &u));
	upload_path(r->srv, u.id, path, sizeof(path));
	if (link(path, dest) != 0)
		return disk_err(r->srv, errno, "cannot link the upload's file");
	snprintf(dir, sizeof(dir), "%s", dest);
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	cl_err err = fsync_dir(slash ? dir : ".");
	if (err != CL_OK)
		unlink(dest);
	return err;
}
