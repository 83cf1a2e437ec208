/* api_images.c — the /v1/images API (docs/api/images-*.md) and the image
 * store on disk.
 *
 * POST takes either the image itself (application/octet-stream, at most
 * CTL_BODY_MAX) or {"upload":"upl_..."} naming a complete upload of up to
 * CTL_IMAGE_MAX. Every image is a row of its tenant; the bytes are stored
 * once per SHA-384 in DATA/images/by-digest/<sha384> and referenced by every
 * row with that digest, so two tenants (or one tenant twice) uploading the
 * same bytes store them once. Order of durable steps:
 *   create: the digest file (written atomically, or hard-linked from the
 *           upload), then the row, then (from an upload) the upload's row;
 *   delete: the row, then the digest file if no row references it.
 * A kill in between leaves a file no row references (swept at start by
 * ctl_images_init), never a row without its file.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "control/control.h"
#include "control/upload.h"
#include "control/validate.h"
#include "image/image.h"

static json_t *image_json(const ctl_image *im)
{
	return json_pack("{s:s,s:s,s:s,s:I,s:o}", "id", im->id, "name", im->name, "sha384", im->sha384, "size",
			 (json_int_t)im->size, "created_at", ctl_json_time(im->created_at));
}

static void digest_dir(ctl_server *srv, char *out, size_t n)
{
	snprintf(out, n, "%s/images/by-digest", srv->data_dir);
}

static void digest_path(ctl_server *srv, const char *sha384, char *out, size_t n)
{
	snprintf(out, n, "%s/images/by-digest/%s", srv->data_dir, sha384);
}

static bool is_sha384_hex(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == 96;
}

/* True if the digest's file is in place with the image's size. */
static bool digest_stored(ctl_server *srv, const char *sha384, int64_t size)
{
	char path[PATH_MAX + 160];
	struct stat sb;
	digest_path(srv, sha384, path, sizeof(path));
	return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == size;
}

/* Removes the digest's file if no image row references it any more. */
static void digest_drop_unused(ctl_server *srv, const char *sha384)
{
	char path[PATH_MAX + 160];
	int64_t refs = 1;
	if (ctl_store_image_refs(srv->store, sha384, &refs) != CL_OK || refs > 0) {
		cl_error_clear();
		return; /* still referenced, or unknown: the start-up sweep decides */
	}
	digest_path(srv, sha384, path, sizeof(path));
	if (unlink(path) == 0)
		cl_info("image file removed (no image uses it) sha384=%.16s", sha384);
	else if (errno != ENOENT)
		cl_warn("image file not removed sha384=%.16s errno=%d", sha384, errno);
}


static cl_err insert_row(ctl_store *st, void *im)
{
	return ctl_store_image_insert(st, im);
}

/* Commits the row of an image whose digest file is in place (made now if
 * file_made: removed again on failure), then removes the upload it came
 * from (if any), and replies. */
static void store_image(ctl_req *r, ctl_image *im, bool file_made, const char *upload_id)
{
	ctl_server *srv = r->srv;
	cl_err err = ctl_store_begin(srv->store);
	if (err == CL_OK) {
		err = insert_row(srv->store, im);
		if (err == CL_OK)
			err = ctl_store_commit(srv->store);
		if (err != CL_OK)
			ctl_store_rollback(srv->store);
	}
	if (err != CL_OK) {
		if (file_made)
			digest_drop_unused(srv, im->sha384);
		ctl_reply_err(srv, r->req, err);
		return;
	}
	if (upload_id && ctl_upload_remove(r, upload_id) != CL_OK)
		cl_warn("upload not removed after its image was stored (it expires) upload=%s", upload_id);
	cl_info("image stored image=%s tenant=%s size=%lld sha384=%.16s new_file=%d", im->id, im->tenant_id,
		(long long)im->size, im->sha384, file_made ? 1 : 0);
	ctl_reply_json(srv, r->req, 201, image_json(im));
}

/* Fills the row fields every image gets from its parsed manifest. */
static cl_err image_row(ctl_req *r, const cl_image *img, size_t len, ctl_image *im)
{
	CL_GUARD(cl_random_id("img-", im->id, sizeof(im->id)));
	snprintf(im->tenant_id, sizeof(im->tenant_id), "%s", r->who.tenant_id);
	if (!im->name[0])
		snprintf(im->name, sizeof(im->name), "%s", img->name ? img->name : "");
	cl_hex_encode(img->digest, sizeof(img->digest), im->sha384);
	im->size = (int64_t)len;
	im->created_at = (int64_t)cl_now_wall_ms();
	return CL_OK;
}

/* Raw body: a small image (at most CTL_BODY_MAX) in the request itself. */
static void upload_raw(ctl_req *r)
{
	ctl_server *srv = r->srv;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	cl_image *img = NULL;
	ctl_image im = {0};
	char path[PATH_MAX + 160];
	bool held = false, file_made = false;
	cl_err err;
	if (len > CTL_BODY_MAX) {
		ctl_reply_error(srv, r->req, CL_ETOOBIG, "a raw image body is at most 1 MiB: send bigger ones as an upload");
		return;
	}
	const uint8_t *data = len ? evbuffer_pullup(in, -1) : NULL;
	if (len == 0 || !data) {
		ctl_reply_error(srv, r->req, len ? CL_ENOMEM : CL_EINVAL, len ? "out of memory" : "empty image");
		return;
	}
	CL_GUARD_OUT(err, cl_image_parse(data, len, &img));
	CL_GUARD_OUT(err, image_row(r, img, len, &im));
	CL_GUARD_OUT(err, ctl_store_image_held(srv->store, im.tenant_id, im.sha384, &held));
	CL_GUARD_OUT(err, ctl_store_quota_check(srv->store, im.tenant_id, held ? 0 : (int64_t)len));
	if (!digest_stored(srv, im.sha384, im.size)) {
		CL_GUARD_OUT(err, ctl_store_space_check(srv->store, len));
		digest_path(srv, im.sha384, path, sizeof(path));
		CL_GUARD_OUT(err, ctl_store_file_err(srv->store, cl_file_write_atomic(path, data, len, 0600),
						     "cannot store the image"));
		file_made = true;
	}
	store_image(r, &im, file_made, NULL);
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	cl_image_free(img);
}

/* Maps the complete upload and validates it as an image; an upload that is
 * not one is deleted (nothing else changes). */
static cl_err check_uploaded_image(ctl_req *r, const char *upload_id, cl_image **img, size_t *len)
{
	int fd = -1;
	CL_GUARD(ctl_upload_open(r, upload_id, CTL_IMAGE_MAX, &fd, len));
	void *map = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	CL_ENSURE(map != MAP_FAILED, CL_ENOMEM, "cannot map upload");
	cl_err err = cl_image_parse(map, *len, img);
	munmap(map, *len);
	if (err != CL_OK && err != CL_ENOMEM) {
		/* Not an image: the upload is deleted, so a retry cannot make the
		 * event loop hash the same 256 MiB again and again. */
		char why[512];
		snprintf(why, sizeof(why), "%s", cl_error_detail());
		if (ctl_upload_remove(r, upload_id) != CL_OK)
			cl_warn("refused upload not removed (it expires) upload=%s", upload_id);
		return cl_errorf(err, "%s (the upload was deleted)", why);
	}
	return err;
}

/* Checks an image "name": 1..127 printable ASCII characters without spaces. */
static cl_err check_name(json_t *jn)
{
	bool ok = json_is_string(jn) && json_string_length(jn) >= 1 && json_string_length(jn) <= 127 &&
		  strlen(json_string_value(jn)) == json_string_length(jn);
	for (const char *c = ok ? json_string_value(jn) : ""; *c && ok; c++)
		ok = *c > 0x20 && *c < 0x7f;
	CL_ENSURE(ok, CL_EINVAL, "field \"name\" must be 1..127 printable ASCII characters without spaces");
	return CL_OK;
}

cl_err ctl_parse_image_upload(json_t *body, const char **upload_id, const char **name)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		CL_ENSURE(strcmp(k, "upload") == 0 || strcmp(k, "name") == 0, CL_EINVAL, "unknown field \"%.64s\"", k);
	}
	json_t *ju = json_object_get(body, "upload"), *jn = json_object_get(body, "name");
	CL_ENSURE(json_is_string(ju) && ctl_upload_valid_id(json_string_value(ju)), CL_EINVAL,
		  "field \"upload\" is required: the id of a complete upload (upl_...)");
	*upload_id = json_string_value(ju);
	*name = NULL;
	if (jn) {
		CL_GUARD(check_name(jn));
		*name = json_string_value(jn);
	}
	return CL_OK;
}

/* {"upload":"upl_...","name"?:...}: an image of up to CTL_IMAGE_MAX sent as
 * an upload. A digest not stored yet gets the upload's file (a hard link,
 * no copy); the upload is removed once the row is committed. The upload
 * already counted against the quota, so this never adds to it. */
static void upload_ref(ctl_req *r)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	const char *upload_id = NULL, *name = NULL;
	cl_image *img = NULL;
	ctl_image im = {0};
	size_t len = 0;
	char path[PATH_MAX + 160], tmp[PATH_MAX + 200];
	bool file_made = false;
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_image_upload(body, &upload_id, &name));
	CL_GUARD_OUT(err, check_uploaded_image(r, upload_id, &img, &len));
	if (name)
		snprintf(im.name, sizeof(im.name), "%s", name);
	CL_GUARD_OUT(err, image_row(r, img, len, &im));
	if (!digest_stored(srv, im.sha384, im.size)) {
		/* link under a temp name, then rename: replaces a torn file too */
		digest_path(srv, im.sha384, path, sizeof(path));
		snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
		unlink(tmp);
		CL_GUARD_OUT(err, ctl_upload_link(r, upload_id, tmp));
		if (rename(tmp, path) != 0) {
			err = cl_errorf(CL_EIO, "cannot store the image file: %s", strerror(errno));
			unlink(tmp);
			goto out;
		}
		file_made = true;
	}
	store_image(r, &im, file_made, upload_id);
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	cl_image_free(img);
	json_decref(body);
}

static void upload(ctl_req *r)
{
	const char *ct = ctl_req_header(r, "Content-Type");
	if (ct && strcmp(ct, "application/octet-stream") == 0)
		upload_raw(r);
	else if (ct && strncmp(ct, "application/json", 16) == 0)
		upload_ref(r);
	else
		ctl_reply_error(r->srv, r->req, CL_EINVAL,
				"Content-Type must be application/octet-stream (an image of at most 1 MiB) or "
				"application/json ({\"upload\":\"upl_...\"})");
}

static void list_images(ctl_req *r)
{
	ctl_page pg;
	ctl_image *ims = NULL;
	size_t n = 0;
	cl_err err = ctl_req_page(r, &pg);
	if (err == CL_OK)
		err = ctl_store_image_list(r->srv->store, r->who.tenant_id, pg.after, pg.limit + 1, &ims, &n);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *items = json_array();
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	for (size_t i = 0; items && i < shown; i++)
		json_array_append_new(items, image_json(&ims[i]));
	json_t *page = ctl_page_json(items, n > shown ? ims[shown - 1].id : NULL);
	free(ims);
	ctl_reply_json(r->srv, r->req, 200, page);
}

/* Loads an image of the caller's tenant; anything else is CL_ENOTFOUND. */
static cl_err load_owned(ctl_req *r, const char *id, ctl_image *im)
{
	if (!ctl_valid_id(id) || ctl_store_image_get(r->srv->store, id, im) != CL_OK ||
	    strcmp(im->tenant_id, r->who.tenant_id) != 0)
		return cl_errorf(CL_ENOTFOUND, "image not found");
	return CL_OK;
}

static cl_err delete_row(ctl_store *st, void *arg)
{
	const ctl_image *im = arg;
	int64_t users = 0;
	char first[CTL_ID_MAX];
	CL_GUARD(ctl_store_image_users(st, im->id, &users, first));
	CL_ENSURE(users == 0, CL_ECONFLICT, "image %s is used by %lld enclave%s (%s%s): destroy %s first", im->id,
		  (long long)users, users == 1 ? "" : "s", first, users > 1 ? ", ..." : "", users == 1 ? "it" : "them");
	return ctl_store_image_delete(st, im->id);
}

static void delete_image(ctl_req *r, const char *id)
{
	ctl_server *srv = r->srv;
	ctl_image im;
	cl_err err = load_owned(r, id, &im);
	if (err == CL_OK)
		err = ctl_store_tx_freeing(srv->store, delete_row, &im);
	if (err != CL_OK) {
		ctl_reply_err(srv, r->req, err);
		return;
	}
	digest_drop_unused(srv, im.sha384);
	ctl_store_reserve_restore(srv->store);
	cl_info("image deleted image=%s tenant=%s", im.id, im.tenant_id);
	ctl_reply_json(srv, r->req, 200, json_pack("{s:s,s:b}", "id", im.id, "deleted", 1));
}

/* ---- quotas: GET/PUT /v1/images/quota[?tenant=ID] ---- */

/* The tenant a quota request is about: ?tenant= (admins: any tenant; a
 * tenant: only its own), else the caller's. */
static cl_err quota_tenant(ctl_req *r, const char **tenant)
{
	const char *t = evhttp_find_header(&r->query, "tenant");
	*tenant = r->who.tenant_id;
	if (!t)
		return CL_OK;
	CL_ENSURE(ctl_valid_id(t), CL_EINVAL, "tenant must be a tenant id");
	ctl_tenant ten;
	if ((r->who.kind != CTL_WHO_ADMIN && strcmp(t, r->who.tenant_id) != 0) ||
	    ctl_store_tenant_get(r->srv->store, t, &ten) != CL_OK)
		return cl_errorf(CL_ENOTFOUND, "tenant not found");
	*tenant = t;
	return CL_OK;
}

static void quota_reply(ctl_req *r, const char *tenant, int status)
{
	ctl_quota q;
	cl_err err = ctl_store_quota_get(r->srv->store, tenant, &q);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	ctl_reply_json(r->srv, r->req, status,
		       json_pack("{s:s,s:I,s:I,s:I,s:I,s:b}", "tenant_id", tenant, "limit_bytes",
				 (json_int_t)q.limit_bytes, "used_bytes", (json_int_t)(q.images_bytes + q.uploads_bytes),
				 "images_bytes", (json_int_t)q.images_bytes, "uploads_bytes",
				 (json_int_t)q.uploads_bytes, "default", q.is_default));
}

cl_err ctl_parse_quota(json_t *body, int64_t *limit)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		CL_ENSURE(strcmp(k, "limit_bytes") == 0, CL_EINVAL, "unknown field \"%.64s\"", k);
	}
	json_t *jl = json_object_get(body, "limit_bytes");
	CL_ENSURE(jl, CL_EINVAL, "field \"limit_bytes\" is required: bytes, or null for the default");
	if (json_is_null(jl)) {
		*limit = -1;
		return CL_OK;
	}
	CL_ENSURE(json_is_integer(jl) && json_integer_value(jl) >= 0 && json_integer_value(jl) <= CTL_QUOTA_MAX,
		  CL_EINVAL, "field \"limit_bytes\" must be an integer in 0..%lld, or null for the default",
		  (long long)CTL_QUOTA_MAX);
	*limit = json_integer_value(jl);
	return CL_OK;
}

static void quota_put(ctl_req *r, const char *tenant)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	int64_t limit = 0;
	cl_err err;
	if (r->who.kind != CTL_WHO_ADMIN) {
		cl_warn("denied reason=forbidden action=set-quota token=%s", r->who.token_id);
		ctl_reply_error(srv, r->req, CL_EPERM, "only an admin may set a storage quota");
		return;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, ctl_parse_quota(body, &limit));
	CL_GUARD_OUT(err, ctl_store_begin(srv->store));
	err = ctl_store_quota_set(srv->store, tenant, limit, (int64_t)cl_now_wall_ms());
	if (err == CL_OK)
		err = ctl_store_commit(srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(srv->store);
		goto out;
	}
	cl_info("quota set tenant=%s limit_bytes=%lld", tenant, (long long)limit);
	quota_reply(r, tenant, 200);
out:
	if (err != CL_OK)
		ctl_reply_err(srv, r->req, err);
	json_decref(body);
}

static void quota(ctl_req *r)
{
	const char *tenant = NULL;
	cl_err err = quota_tenant(r, &tenant);
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	else if (r->method == EVHTTP_REQ_GET)
		quota_reply(r, tenant, 200);
	else if (r->method == EVHTTP_REQ_PUT)
		quota_put(r, tenant);
	else {
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "GET, PUT");
		ctl_reply_error(r->srv, r->req, CL_EMETHOD, "allowed here: GET, PUT");
	}
}

/* ---- hosts fetch the bytes ---- */

/* A host may fetch an image only if one of its enclaves uses it. */
static bool host_uses(ctl_server *srv, const char *host_id, const char *image_id)
{
	ctl_enclave *es = NULL;
	size_t n = 0;
	bool used = false;
	if (ctl_store_enclave_by_host(srv->store, host_id, &es, &n) != CL_OK)
		return false;
	for (size_t i = 0; i < n && !used; i++)
		used = strcmp(es[i].image_id, image_id) == 0;
	free(es);
	return used;
}

static void get_image(ctl_req *r, const char *id)
{
	ctl_server *srv = r->srv;
	ctl_image im;
	if (!ctl_valid_id(id) || ctl_store_image_get(srv->store, id, &im) != CL_OK) {
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "image not found");
		return;
	}
	if (r->who.kind != CTL_WHO_HOST) {
		if (strcmp(im.tenant_id, r->who.tenant_id) != 0)
			ctl_reply_error(srv, r->req, CL_ENOTFOUND, "image not found");
		else
			ctl_reply_json(srv, r->req, 200, image_json(&im));
		return;
	}
	if (!host_uses(srv, r->who.host_id, id)) {
		cl_warn("denied reason=image-not-placed host=%s image=%s", r->who.host_id, id);
		ctl_reply_error(srv, r->req, CL_ENOTFOUND, "image not found");
		return;
	}
	char path[PATH_MAX + 160];
	digest_path(srv, im.sha384, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	struct evbuffer *out = evbuffer_new();
	if (fd < 0 || fstat(fd, &st) != 0 || !out || st.st_size != im.size ||
	    evbuffer_add_file(out, fd, 0, st.st_size) != 0) {
		if (fd >= 0)
			close(fd); /* evbuffer_add_file failed or was never called: we still own fd */
		if (out)
			evbuffer_free(out);
		cl_error("image file unreadable image=%s sha384=%.16s", id, im.sha384);
		ctl_reply_error(srv, r->req, CL_EIO, "image file is unreadable");
		return;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	evhttp_add_header(h, "X-Cloister-Image-Sha384", im.sha384);
	ctl_count_status(srv, 200);
	evhttp_send_reply(r->req, 200, "OK", out);
	evbuffer_free(out);
}

void ctl_api_images(ctl_req *r)
{
	bool tenantish = r->who.kind == CTL_WHO_TENANT || r->who.kind == CTL_WHO_ADMIN;
	bool is_quota = r->nseg == 3 && strcmp(r->seg[2], "quota") == 0;
	if (r->nseg == 2 && r->method == EVHTTP_REQ_POST && tenantish)
		upload(r);
	else if (r->nseg == 2 && r->method == EVHTTP_REQ_GET && tenantish)
		list_images(r);
	else if (is_quota && tenantish)
		quota(r);
	else if (r->nseg == 3 && r->method == EVHTTP_REQ_GET && !is_quota)
		get_image(r, r->seg[2]);
	else if (r->nseg == 3 && r->method == EVHTTP_REQ_DELETE && tenantish && !is_quota)
		delete_image(r, r->seg[2]);
	else if (!tenantish)
		ctl_reply_error(r->srv, r->req, CL_EPERM, "host tokens may only fetch images");
	else
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
}

/* ---- start-up ---- */

/* Moves DATA/images/<id>.img files (the layout before images were stored
 * by digest) to their digest; removes those no row names. */
static void migrate_legacy(ctl_server *srv, const char *dir)
{
	char from[PATH_MAX + 300], to[PATH_MAX + 160], id[CTL_ID_MAX];
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		ctl_image im;
		if (de->d_name[0] == '.' || de->d_type == DT_DIR)
			continue;
		snprintf(from, sizeof(from), "%s/%s", dir, de->d_name);
		bool legacy = n > 4 && n - 4 < sizeof(id) && strcmp(de->d_name + n - 4, ".img") == 0;
		if (legacy)
			snprintf(id, sizeof(id), "%.*s", (int)(n - 4), de->d_name);
		if (legacy && ctl_valid_id(id) && ctl_store_image_get(srv->store, id, &im) == CL_OK &&
		    !digest_stored(srv, im.sha384, im.size)) {
			digest_path(srv, im.sha384, to, sizeof(to));
			if (rename(from, to) == 0)
				cl_info("image file moved to its digest image=%s sha384=%.16s", id, im.sha384);
			else
				cl_warn("image file not moved image=%s errno=%d", id, errno);
			continue;
		}
		/* a copy whose digest is stored already, an orphan, or a temp file */
		if (unlink(from) == 0)
			cl_info("image file removed (stored by digest, or no image uses it) name=%.80s", de->d_name);
	}
	if (d)
		closedir(d);
	cl_error_clear();
}

cl_err ctl_images_init(ctl_server *srv)
{
	char dir[PATH_MAX + 16], ddir[PATH_MAX + 32], path[PATH_MAX + 300];
	snprintf(dir, sizeof(dir), "%s/images", srv->data_dir);
	digest_dir(srv, ddir, sizeof(ddir));
	CL_GUARD(cl_mkdir_p(ddir, 0700));
	migrate_legacy(srv, dir);
	DIR *d = opendir(ddir);
	if (!d)
		return cl_errorf(CL_EIO, "open %s: %s", ddir, strerror(errno));
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		int64_t refs = 1;
		if (de->d_name[0] == '.')
			continue;
		if (is_sha384_hex(de->d_name) && (ctl_store_image_refs(srv->store, de->d_name, &refs) != CL_OK || refs > 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", ddir, de->d_name);
		if (unlink(path) == 0)
			cl_info("orphan image file removed name=%.100s", de->d_name);
	}
	closedir(d);
	cl_error_clear();
	return CL_OK;
}
