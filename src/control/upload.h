/* upload.h — uploads in parts: how objects larger than one request (the
 * control plane caps every request body at CTL_BODY_MAX = 1 MiB) reach it.
 *
 *   POST   /v1/uploads                 {"size":N,"sha384":"<96 hex>"} -> 201 {id, part_size, parts}
 *   PUT    /v1/uploads/{id}/parts/{n}  octet-stream part n (in order)  -> 200 {id, size, received, complete}
 *   GET    /v1/uploads/{id}            -> 200 {id, size, received, complete}
 *   DELETE /v1/uploads/{id}            -> 200 {id, deleted}
 *
 * An upload belongs to its creator's tenant and token kind; host tokens may
 * not upload. The bytes live in DATA/uploads/<id> (0600), the metadata in
 * the store's uploads table (schema v3). An upload counts against its
 * tenant's storage quota (its declared size) from its creation until it is
 * consumed, deleted or expires; a full disk answers 507 (CL_ENOSPACE). A part is written and fsynced
 * before the row that counts it commits, so a kill loses no acknowledged
 * part. An upload expires CTL_UPLOAD_TTL_MS after its last part (or its
 * creation) and is then deleted by the next sweep (lazy, on any uploads
 * call, and at start, which also removes files no row references).
 * Consumers (images, firmware pushes and releases) read a complete upload
 * through the functions below. Single-threaded like the rest of control.h.
 */
#ifndef CL_CONTROL_UPLOAD_H
#define CL_CONTROL_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/proto.h"
#include "control/control.h"
#include "control/store.h"

#define CTL_BODY_MAX CL_PROTO_BODY_MAX      /* largest body any handler accepts */
#define CTL_BODY_TRANSPORT_MAX (CTL_BODY_MAX + 16384) /* evhttp's cap, read before any check */
#define CTL_UPLOAD_PART CL_PROTO_BODY_MAX   /* part size: one request body */
#define CTL_UPLOAD_MAX CL_PROTO_UPLOAD_MAX  /* largest upload */
#define CTL_UPLOAD_OPEN_MAX 4               /* uploads held per tenant and token kind */
#define CTL_UPLOAD_TTL_MS (3600ll * 1000)   /* expiry after the last part */

typedef struct ctl_upload {
	char id[CTL_ID_MAX];       /* "upl_" + 20 base32 */
	char tenant_id[CTL_ID_MAX];
	char owner_kind[16];       /* "admin" | "tenant" | "engineer" */
	int64_t size;              /* declared total */
	char sha384[97];           /* declared, lower-case hex */
	int64_t received;          /* bytes stored so far */
	bool complete;             /* received == size and the digest matched */
	int64_t created_at, updated_at; /* ms; updated_at = last part */
} ctl_upload;

/* ---- api_uploads.c ---- */
/* /v1/uploads... (replies itself). */
void ctl_api_uploads(ctl_req *r);
/* At start: keeps the disk reserve (ctl_store_reserve_init), creates
 * DATA/uploads, deletes expired uploads and files no row references (left
 * by a kill between a file and its row), then opens the image store
 * (ctl_images_init). */
CL_MUST_CHECK cl_err ctl_upload_init(ctl_server *srv);

/* Takes the complete upload `id` owned by the caller of r: reads its bytes
 * into out (bounded by max; CL_ETOOBIG beyond), then deletes the upload.
 * CL_ENOTFOUND if unknown or owned by another tenant (no existence leak),
 * CL_ECONFLICT if not complete. out must be cl_buf_init'ed by the caller,
 * who frees it. */
CL_MUST_CHECK cl_err ctl_upload_take(ctl_req *r, const char *id, size_t max, cl_buf *out);
/* As ctl_upload_take without deleting: a consumer that may still refuse the
 * content reads it first and calls ctl_upload_remove once it has kept it,
 * so bad content changes nothing. */
CL_MUST_CHECK cl_err ctl_upload_read(ctl_req *r, const char *id, size_t max, cl_buf *out);
/* Opens the complete upload's file read-only for a consumer that maps it
 * instead of copying (images up to 256 MiB): *fd (caller closes) and *size.
 * Same errors as ctl_upload_take; nothing is deleted. */
CL_MUST_CHECK cl_err ctl_upload_open(ctl_req *r, const char *id, size_t max, int *fd, size_t *size);
/* Hard-links the complete upload's file to dest (a path under the data
 * dir, same file system; must not exist) and fsyncs dest's directory. The
 * upload is unchanged: the consumer commits its own row first, then
 * removes the upload (a kill in between leaves both, never neither). On
 * failure dest does not exist. */
CL_MUST_CHECK cl_err ctl_upload_link(ctl_req *r, const char *id, const char *dest);
/* Deletes the upload (row, then file) if owned by r's caller; CL_ENOTFOUND
 * otherwise. Works on a full disk (ctl_store_tx_freeing). */
CL_MUST_CHECK cl_err ctl_upload_remove(ctl_req *r, const char *id);
/* True if s looks like an upload id ("upl_" + [a-z2-7]{1,40}). */
bool ctl_upload_valid_id(const char *s);

/* ---- request bodies (fuzzed by fuzz/fuzz_upload_json.c) ---- */
/* POST /v1/uploads: {"size": 1..CTL_UPLOAD_MAX, "sha384": 96 lower-case hex
 * digits}, nothing else. *sha points into body. */
CL_MUST_CHECK cl_err ctl_parse_upload_create(json_t *body, int64_t *size, const char **sha);
/* POST /v1/images as JSON: {"upload": an upload id, "name"?: 1..127
 * printable ASCII characters without spaces}. *name is NULL when absent;
 * both point into body. */
CL_MUST_CHECK cl_err ctl_parse_image_upload(json_t *body, const char **upload_id, const char **name);
/* PUT /v1/images/quota: {"limit_bytes": 0..CTL_QUOTA_MAX, or null for the
 * default (*limit = -1)}. */
CL_MUST_CHECK cl_err ctl_parse_quota(json_t *body, int64_t *limit);

/* ---- api_images.c ---- */
/* At start: creates DATA/images/by-digest, moves image files of the
 * one-file-per-image layout (DATA/images/<id>.img) to their digest, and
 * removes digest files no image row references (a kill between a file
 * and its row, or between a row's deletion and its file's). */
CL_MUST_CHECK cl_err ctl_images_init(ctl_server *srv);

/* ---- store_upload.c (inside ctl_store_begin/commit for changes) ---- */
CL_MUST_CHECK cl_err ctl_store_upload_insert(ctl_store *st, const ctl_upload *u);
/* CL_ENOTFOUND if no such id. */
CL_MUST_CHECK cl_err ctl_store_upload_get(ctl_store *st, const char *id, ctl_upload *out);
/* Sets received, complete and updated_at of u->id. */
CL_MUST_CHECK cl_err ctl_store_upload_update(ctl_store *st, const ctl_upload *u);
CL_MUST_CHECK cl_err ctl_store_upload_delete(ctl_store *st, const char *id);
/* Uploads a tenant's tokens of one kind hold, complete or not (a complete
 * upload holds disk until it is consumed, deleted or expires). */
CL_MUST_CHECK cl_err ctl_store_upload_count_open(ctl_store *st, const char *tenant_id, const char *owner_kind,
						 int64_t *n);
/* Ids of uploads whose updated_at is before cutoff_ms (malloc'd array of
 * CTL_ID_MAX strings; caller frees), at most 256 per call. */
CL_MUST_CHECK cl_err ctl_store_upload_expired(ctl_store *st, int64_t cutoff_ms, char (**ids)[CTL_ID_MAX],
					      size_t *n);
/* True (CL_OK, *exists) if a row with this id exists. */
CL_MUST_CHECK cl_err ctl_store_upload_exists(ctl_store *st, const char *id, bool *exists);

#endif
