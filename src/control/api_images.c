/* api_images.c — POST/GET /v1/images and GET /v1/images/{id}.
 * POST takes either the image itself (application/octet-stream, at most
 * CTL_BODY_MAX) or {"upload":"upl_..."} naming a complete upload of up to
 * CTL_IMAGE_MAX (docs/api/images-upload.md). */
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

/* Stores the row for an image whose file is already at path; on failure
 * removes the file. Replies. */
static void store_image(ctl_req *r, ctl_image *im, const char *path)
{
	ctl_server *srv = r->srv;
	cl_err err = ctl_store_begin(srv->store);
	if (err == CL_OK) {
		err = ctl_store_image_insert(srv->store, im);
		if (err == CL_OK)
			err = ctl_store_commit(srv->store);
		if (err != CL_OK)
			ctl_store_rollback(srv->store);
	}
	if (err != CL_OK) {
		unlink(path);
		ctl_reply_err(srv, r->req, err);
		return;
	}
	cl_info("image stored image=%s tenant=%s size=%lld", im->id, im->tenant_id, (long long)im->size);
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
	char path[PATH_MAX + 96];
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
	/* File first, then the row: a kill in between leaves an unreferenced
	 * file, never a row without its file. */
	snprintf(path, sizeof(path), "%s/images/%s.img", srv->data_dir, im.id);
	CL_GUARD_OUT(err, cl_file_write_atomic(path, data, len, 0600));
	store_image(r, &im, path);
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

static cl_err parse_image_json(json_t *body, const char **upload_id, const char **name)
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
		bool ok = json_is_string(jn) && json_string_length(jn) >= 1 && json_string_length(jn) <= 127 &&
			  strlen(json_string_value(jn)) == json_string_length(jn);
		for (const char *c = ok ? json_string_value(jn) : ""; *c && ok; c++)
			ok = *c > 0x20 && *c < 0x7f;
		CL_ENSURE(ok, CL_EINVAL, "field \"name\" must be 1..127 printable ASCII characters without spaces");
		*name = json_string_value(jn);
	}
	return CL_OK;
}

/* {"upload":"upl_...","name"?:...}: an image of up to CTL_IMAGE_MAX sent as
 * an upload; the upload's file becomes the image file (no copy). */
static void upload_ref(ctl_req *r)
{
	ctl_server *srv = r->srv;
	json_t *body = NULL;
	const char *upload_id = NULL, *name = NULL;
	cl_image *img = NULL;
	ctl_image im = {0};
	size_t len = 0;
	char path[PATH_MAX + 96];
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	CL_GUARD_OUT(err, parse_image_json(body, &upload_id, &name));
	CL_GUARD_OUT(err, check_uploaded_image(r, upload_id, &img, &len));
	if (name)
		snprintf(im.name, sizeof(im.name), "%s", name);
	CL_GUARD_OUT(err, image_row(r, img, len, &im));
	snprintf(path, sizeof(path), "%s/images/%s.img", srv->data_dir, im.id);
	CL_GUARD_OUT(err, ctl_upload_take_file(r, upload_id, path));
	store_image(r, &im, path);
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
	ctl_image *ims = NULL;
	size_t n = 0;
	cl_err err = ctl_store_image_list(r->srv->store, r->who.tenant_id, &ims, &n);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, image_json(&ims[i]));
	free(ims);
	ctl_reply_json(r->srv, r->req, 200, json_pack("{s:o}", "items", items));
}

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
	char path[PATH_MAX + 96];
	snprintf(path, sizeof(path), "%s/images/%s.img", srv->data_dir, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	struct evbuffer *out = evbuffer_new();
	if (fd < 0 || fstat(fd, &st) != 0 || !out || st.st_size != im.size ||
	    evbuffer_add_file(out, fd, 0, st.st_size) != 0) {
		if (fd >= 0)
			close(fd); /* evbuffer_add_file failed or was never called: we still own fd */
		if (out)
			evbuffer_free(out);
		cl_error("image file unreadable image=%s", id);
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
	if (r->nseg == 2 && r->method == EVHTTP_REQ_POST && tenantish)
		upload(r);
	else if (r->nseg == 2 && r->method == EVHTTP_REQ_GET && tenantish)
		list_images(r);
	else if (r->nseg == 3 && r->method == EVHTTP_REQ_GET)
		get_image(r, r->seg[2]);
	else if (r->nseg == 2 && !tenantish)
		ctl_reply_error(r->srv, r->req, CL_EPERM, "host tokens may only fetch images");
	else
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
}
