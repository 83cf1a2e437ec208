/* api_fw_releases.c — firmware releases (docs/firmware-releases.md):
 *   POST /v1/fw/trust                      admin: root key PEM + trust-root documents
 *   GET  /v1/fw/trust                      engineer|admin
 *   POST /v1/fw/releases                   engineer|admin: propose a bundle (octet-stream)
 *   POST /v1/fw/releases/{id}/signatures   engineer|admin: the same bundle, more signature blocks
 *   GET  /v1/fw/releases[/{id}[/bundle]]   engineer|admin
 *   POST /v1/fw/releases/{id}/approve      admin: {channels:[...]}, 409 unless releasable
 *   PUT|GET /v1/fw/channel                 tenant: its own channel
 * Every signature is checked with src/fw against the stored trust chain; the
 * server never holds a signer's private key (engineers co-sign with
 * `cloister fw cosign` on their machine). Engineer tokens may do everything
 * here except POST /v1/fw/trust and approve; admin tokens may do all. */
#include <event2/buffer.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/util.h"
#include "control/fw.h"
#include "control/store_fwrel.h"
#include "control/upload.h"
#include "fw/fw_tools.h"

#define CTL_FW_MAX_DOCS 64
#define CTL_FW_MAX_CHANNELS 8

/* Rejects a key of body not in the NULL-terminated allowed list. */
static cl_err only_fields(json_t *body, const char *const *allowed)
{
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] && !ok; i++)
			ok = strcmp(k, allowed[i]) == 0;
		CL_ENSURE(ok, CL_EINVAL, "unknown field \"%.64s\"", k);
	}
	return CL_OK;
}

/* Rebuilds the verified trust state from the stored root and documents. */
static cl_err load_trust(ctl_server *srv, fw_trust *t, fw_trust *scratch)
{
	char *root_hex = NULL, *docs_json = NULL;
	int64_t version;
	uint8_t root[FW_POINT_LEN];
	fw_ops ops;
	cl_err err;
	CL_GUARD(ctl_store_fw_trust_get(srv->store, &root_hex, &docs_json, &version));
	fw_openssl_ops(&ops, NULL);
	json_t *docs = json_loads(docs_json, 0, NULL);
	cl_buf raw;
	cl_buf_init(&raw, 64 * 1024);
	err = strlen(root_hex) == 2 * FW_POINT_LEN ? cl_hex_decode(root_hex, root, sizeof(root))
						    : cl_errorf(CL_EIO, "stored trust root is damaged");
	if (err == CL_OK && (!json_is_array(docs) || fw_trust_init(t, root, &ops) != FW_OK))
		err = cl_errorf(CL_EIO, "stored trust chain is damaged");
	size_t i;
	json_t *v;
	json_array_foreach(docs, i, v)
	{
		if (err != CL_OK)
			break;
		fw_status fs = FW_E_MALFORMED;
		if ((err = cl_base64_decode(json_string_value(v) ? json_string_value(v) : "!", &raw)) == CL_OK &&
		    (fs = fw_trust_apply(t, scratch, raw.data, raw.len, &ops)) != FW_OK)
			err = cl_errorf(CL_EIO, "stored trust document %zu no longer applies: %s", i + 1, fw_status_name(fs));
	}
	cl_buf_free(&raw);
	json_decref(docs);
	free(root_hex);
	free(docs_json);
	return err;
}

typedef struct verified {
	fw_bundle_view v;
	char kids[FW_MAX_SIGNERS][2 * FW_KID_LEN + 1];
	size_t nkids;
	int64_t threshold;
} verified;

/* Verifies every signature block of a bundle against the stored trust chain
 * (every block must be a valid signature of a current signer) and counts the
 * distinct signers. The image digest and size are checked too. */
static cl_err verify_release(ctl_server *srv, const uint8_t *data, size_t len, verified *out)
{
	fw_trust *t = calloc(3, sizeof(fw_trust));
	uint8_t *dest = NULL;
	fw_ops ops;
	fw_result res;
	cl_err err = CL_OK;
	memset(out, 0, sizeof(*out));
	if (!t)
		return CL_ENOMEM;
	CL_GUARD_OUT(err, load_trust(srv, &t[0], &t[1]));
	fw_status fs = fw_bundle_parse(data, len, &out->v);
	if (fs != FW_OK) {
		err = cl_errorf(CL_EINVAL, "not a firmware bundle: %s (%s)", fw_status_name(fs), fw_status_str(fs));
		goto out;
	}
	if (out->v.m.encrypted) {
		err = cl_errorf(CL_EINVAL, "encrypted bundles are made for one device and cannot be released");
		goto out;
	}
	/* The device checks the counter and its own identity; here: the
	 * signatures (threshold 1 so every block is checked and counted; the
	 * real k is compared by the caller), the expiry and the image digest. */
	t[2] = t[0];
	t[2].threshold = 1;
	fw_device dev = {.component = out->v.m.component, .counter = 0, .now = (uint64_t)time(NULL)};
	memcpy(dev.vendor, out->v.m.vendor, FW_UUID_LEN);
	memcpy(dev.class_id, out->v.m.class_id, FW_UUID_LEN);
	dest = malloc(out->v.image_len + 1);
	if (!dest) {
		err = CL_ENOMEM;
		goto out;
	}
	fw_openssl_ops(&ops, NULL);
	fs = fw_verify_bundle(&t[2], &dev, &ops, data, len, dest, out->v.image_len + 1, &res);
	if (fs != FW_OK) {
		err = cl_errorf(CL_EINVAL, "bundle refused: %s (%s)", fw_status_name(fs), fw_status_str(fs));
		goto out;
	}
	for (size_t i = 0; i < out->v.nsig; i++) {
		char hex[2 * FW_KID_LEN + 1];
		cl_hex_encode(out->v.sig[i].kid, FW_KID_LEN, hex);
		bool dup = false;
		for (size_t k = 0; k < out->nkids && !dup; k++)
			dup = strcmp(out->kids[k], hex) == 0;
		if (!dup)
			memcpy(out->kids[out->nkids++], hex, sizeof(hex));
	}
	out->threshold = (int64_t)t[0].threshold;
out:
	free(dest);
	free(t);
	return err;
}

static json_t *kids_json(const verified *vb)
{
	json_t *a = json_array();
	for (size_t i = 0; i < vb->nkids; i++)
		json_array_append_new(a, json_string(vb->kids[i]));
	return a;
}

static json_t *release_json(const ctl_fw_release *r)
{
	json_t *signers = json_loads(r->signers_json, 0, NULL), *chans = json_loads(r->channels_json ? r->channels_json : "[]", 0, NULL);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:o,s:I,s:b,s:o,s:o,s:o}", "id", r->id, "vendor", r->vendor,
			 "class", r->class_id, "component", r->component, "version", r->version, "sequence",
			 (json_int_t)r->sequence, "channel", r->channel, "signers", signers ? signers : json_array(),
			 "threshold", (json_int_t)r->threshold, "releasable", r->nsigners >= r->threshold,
			 "approved_channels", chans ? chans : json_array(), "created_at", ctl_json_time(r->created_at),
			 "updated_at", ctl_json_time(r->updated_at));
}

/* The bundle of a propose or co-sign: either the raw octet-stream body (at
 * most CTL_BODY_MAX), or {"upload":"upl_..."} naming a complete upload of
 * the caller (at most CTL_FW_BUNDLE_LIMIT), read into *buf. done_body
 * removes the upload once the bundle was stored or refused. */
typedef struct bundle_body {
	cl_buf buf;
	const uint8_t *data;
	size_t len;
	char upload[CTL_ID_MAX];
} bundle_body;

static cl_err read_body(ctl_req *r, bundle_body *b)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	const char *ct = ctl_req_header(r, "Content-Type");
	cl_buf_init(&b->buf, CTL_FW_BUNDLE_LIMIT);
	b->upload[0] = '\0';
	if (ct && strcmp(ct, "application/json") == 0) {
		json_t *body = NULL;
		CL_GUARD(ctl_req_json(r, &body));
		const char *id = json_string_value(json_object_get(body, "upload"));
		cl_err err = CL_OK;
		if (json_object_size(body) != 1 || !id || !ctl_upload_valid_id(id))
			err = cl_errorf(CL_EINVAL, "expected {\"upload\": \"upl_...\"} (or the bundle as application/octet-stream)");
		else
			snprintf(b->upload, sizeof(b->upload), "%s", id);
		json_decref(body);
		CL_GUARD(err);
		CL_GUARD(ctl_upload_read(r, b->upload, CTL_FW_BUNDLE_LIMIT, &b->buf));
		b->data = b->buf.data;
		b->len = b->buf.len;
	} else {
		CL_ENSURE(ct && strcmp(ct, "application/octet-stream") == 0, CL_EINVAL,
			  "Content-Type must be application/octet-stream (the bundle bytes) or application/json "
			  "({\"upload\": ...})");
		b->len = evbuffer_get_length(in);
		CL_ENSURE(b->len <= CTL_BODY_MAX, CL_ETOOBIG, "bundle body exceeds %u bytes: send it as an upload",
			  CTL_BODY_MAX);
		b->data = evbuffer_pullup(in, -1);
		CL_ENSURE(b->data || b->len == 0, CL_ENOMEM, "out of memory");
	}
	CL_ENSURE(b->len > 0, CL_EINVAL, "empty bundle");
	return CL_OK;
}

/* The upload is consumed once its bundle was stored or refused for what it
 * is (so a retry cannot make the event loop re-verify 64 MiB again and
 * again); kept after transient failures (store, memory). */
static void done_body(ctl_req *r, bundle_body *b, cl_err outcome)
{
	bool consumed = outcome == CL_OK || outcome == CL_EINVAL || outcome == CL_ECRYPTO || outcome == CL_ECONFLICT ||
			outcome == CL_EPROTO || outcome == CL_ETOOBIG;
	if (b->len > 0 && consumed && b->upload[0] && ctl_upload_remove(r, b->upload) != CL_OK)
		cl_warn("upload %s not removed (it expires): %s", b->upload, cl_error_detail());
	cl_buf_free(&b->buf);
}

static void reply_release(ctl_req *r, int status, const char *id)
{
	ctl_fw_release rel;
	cl_err err = ctl_store_fw_release_get(r->srv->store, id, &rel);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *o = release_json(&rel);
	ctl_fw_release_clear(&rel);
	ctl_reply_json(r->srv, r->req, o ? status : 500, o);
}

static void propose(ctl_req *r)
{
	bundle_body b = {0};
	verified *vb = malloc(sizeof(*vb));
	ctl_fw_release rel = {0};
	char uuid[37];
	cl_err err;
	if (!vb) {
		ctl_reply_err(r->srv, r->req, CL_ENOMEM);
		return;
	}
	CL_GUARD_OUT(err, read_body(r, &b));
	CL_GUARD_OUT(err, verify_release(r->srv, b.data, b.len, vb));
	CL_GUARD_OUT(err, cl_random_id("rel-", rel.id, sizeof(rel.id)));
	fw_uuid_format(vb->v.m.vendor, uuid);
	snprintf(rel.vendor, sizeof(rel.vendor), "%s", uuid);
	fw_uuid_format(vb->v.m.class_id, uuid);
	snprintf(rel.class_id, sizeof(rel.class_id), "%s", uuid);
	snprintf(rel.component, sizeof(rel.component), "%s", vb->v.m.component);
	snprintf(rel.version, sizeof(rel.version), "%s", vb->v.m.version);
	snprintf(rel.channel, sizeof(rel.channel), "%s", vb->v.m.channel);
	rel.sequence = (int64_t)vb->v.m.sequence; /* <= FW_SEQ_MAX = INT64_MAX: the parse checked */
	rel.nsigners = (int64_t)vb->nkids;
	rel.threshold = vb->threshold;
	rel.created_at = rel.updated_at = (int64_t)cl_now_wall_ms();
	json_t *kids = kids_json(vb);
	rel.signers_json = kids ? json_dumps(kids, JSON_COMPACT) : NULL;
	json_decref(kids);
	if (!rel.signers_json) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	err = ctl_store_fw_release_insert(r->srv->store, &rel, b.data, b.len);
	if (err == CL_OK)
		err = ctl_store_commit(r->srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(r->srv->store);
		goto out;
	}
	cl_info("release proposed release=%s component=%s version=%s signers=%lld threshold=%lld token=%s", rel.id,
		rel.component, rel.version, (long long)rel.nsigners, (long long)rel.threshold, r->who.token_id);
	reply_release(r, 201, rel.id);
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	done_body(r, &b, err);
	free(rel.signers_json);
	free(vb);
}

/* POST /v1/fw/releases/{id}/signatures: the same manifest, a superset of
 * the stored signers (co-sign the bundle from GET .../bundle). */
static void add_signatures(ctl_req *r, const char *id)
{
	bundle_body b = {0};
	size_t olen = 0;
	uint8_t *old = NULL;
	verified *vb = malloc(sizeof(*vb));
	fw_bundle_view *ov = malloc(sizeof(*ov));
	ctl_fw_release rel = {0};
	cl_err err;
	if (!vb || !ov) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_fw_release_get(r->srv->store, id, &rel));
	CL_GUARD_OUT(err, ctl_store_fw_release_bundle(r->srv->store, id, &old, &olen));
	CL_GUARD_OUT(err, read_body(r, &b));
	CL_GUARD_OUT(err, verify_release(r->srv, b.data, b.len, vb));
	if (fw_bundle_parse(old, olen, ov) != FW_OK) {
		err = cl_errorf(CL_EIO, "stored bundle of %s is damaged", id);
		goto out;
	}
	if (ov->manifest_len != vb->v.manifest_len || memcmp(ov->manifest, vb->v.manifest, ov->manifest_len) != 0) {
		err = cl_errorf(CL_EINVAL, "the manifest differs from release %s: co-sign its bundle", id);
		goto out;
	}
	json_t *oldk = json_loads(rel.signers_json, 0, NULL);
	size_t i;
	json_t *v;
	json_array_foreach(oldk, i, v)
	{
		bool found = false;
		for (size_t k = 0; k < vb->nkids && !found; k++)
			found = json_string_value(v) && strcmp(vb->kids[k], json_string_value(v)) == 0;
		if (!found) {
			err = cl_errorf(CL_ECONFLICT, "the bundle drops signer %.16s...: co-sign the stored bundle "
						      "(GET /v1/fw/releases/%s/bundle)", json_string_value(v), id);
			break;
		}
	}
	json_decref(oldk);
	if (err != CL_OK)
		goto out;
	json_t *kids = kids_json(vb);
	free(rel.signers_json);
	rel.signers_json = kids ? json_dumps(kids, JSON_COMPACT) : NULL;
	json_decref(kids);
	if (!rel.signers_json) {
		err = CL_ENOMEM;
		goto out;
	}
	rel.nsigners = (int64_t)vb->nkids;
	rel.threshold = vb->threshold;
	rel.updated_at = (int64_t)cl_now_wall_ms();
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	err = ctl_store_fw_release_update(r->srv->store, &rel, b.data, b.len);
	if (err == CL_OK)
		err = ctl_store_commit(r->srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(r->srv->store);
		goto out;
	}
	cl_info("release co-signed release=%s signers=%lld threshold=%lld token=%s", id, (long long)rel.nsigners,
		(long long)rel.threshold, r->who.token_id);
	reply_release(r, 200, id);
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	done_body(r, &b, err);
	ctl_fw_release_clear(&rel);
	free(old);
	free(vb);
	free(ov);
}

static void wake_targets(ctl_server *srv, const ctl_fw_target *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ctl_sync_wake(srv, t[i].host_id);
}

static void approve(ctl_req *r, const char *id)
{
	json_t *body = NULL;
	ctl_fw_release rel = {0};
	ctl_fw_target *targets = NULL;
	size_t nt = 0;
	bool in_tx = false;
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	static const char *const allowed[] = {"channels", NULL};
	json_t *v, *chans = json_object_get(body, "channels");
	CL_GUARD_OUT(err, only_fields(body, allowed));
	if (!json_is_array(chans) || json_array_size(chans) < 1 || json_array_size(chans) > CTL_FW_MAX_CHANNELS) {
		err = cl_errorf(CL_EINVAL, "field \"channels\" must be an array of 1..%d channel names", CTL_FW_MAX_CHANNELS);
		goto out;
	}
	size_t i;
	json_array_foreach(chans, i, v)
	{
		if (!json_is_string(v) || !ctl_valid_name(json_string_value(v))) {
			err = cl_errorf(CL_EINVAL, "channels must match [a-z0-9][a-z0-9-]{0,62}");
			goto out;
		}
	}
	CL_GUARD_OUT(err, ctl_store_fw_release_get(r->srv->store, id, &rel));
	if (rel.nsigners < rel.threshold) {
		err = cl_errorf(CL_ECONFLICT, "release %s is not releasable: %lld of %lld signatures", id,
				(long long)rel.nsigners, (long long)rel.threshold);
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	in_tx = true;
	int64_t now = (int64_t)cl_now_wall_ms();
	json_array_foreach(chans, i, v)
	{
		CL_GUARD_OUT(err, ctl_store_fw_release_approve(r->srv->store, id, json_string_value(v), now));
	}
	CL_GUARD_OUT(err, ctl_fw_queue_releases(r->srv, "", "", &targets, &nt));
	CL_GUARD_OUT(err, ctl_store_commit(r->srv->store));
	in_tx = false;
	cl_info("release approved release=%s queued=%zu token=%s", id, nt, r->who.token_id);
	wake_targets(r->srv, targets, nt);
	reply_release(r, 200, id);
out:
	if (in_tx)
		ctl_store_rollback(r->srv->store);
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	free(targets);
	ctl_fw_release_clear(&rel);
	json_decref(body);
}

static void list_releases(ctl_req *r)
{
	ctl_fw_release *rs = NULL;
	ctl_page pg;
	size_t n = 0;
	cl_err err = ctl_req_page(r, &pg);
	if (err == CL_OK)
		err = ctl_store_fw_release_list(r->srv->store, pg.after, pg.limit + 1, &rs, &n);
	if (err != CL_OK) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	size_t shown = n > (size_t)pg.limit ? (size_t)pg.limit : n;
	json_t *items = json_array();
	for (size_t i = 0; items && i < shown; i++)
		json_array_append_new(items, release_json(&rs[i]));
	json_t *page = ctl_page_json(items, n > shown ? rs[shown - 1].id : NULL);
	ctl_fw_releases_free(rs, n);
	ctl_reply_json(r->srv, r->req, page ? 200 : 500, page);
}

static void get_bundle(ctl_req *r, const char *id)
{
	uint8_t *b = NULL;
	size_t n = 0;
	cl_err err = ctl_store_fw_release_bundle(r->srv->store, id, &b, &n);
	struct evbuffer *out = err == CL_OK ? evbuffer_new() : NULL;
	if (err != CL_OK || !out || evbuffer_add(out, b, n) != 0) {
		free(b);
		if (out)
			evbuffer_free(out);
		ctl_reply_err(r->srv, r->req, err != CL_OK ? err : CL_ENOMEM);
		return;
	}
	free(b);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Type", "application/octet-stream");
	ctl_count_status(r->srv, 200);
	evhttp_send_reply(r->req, 200, "OK", out);
	evbuffer_free(out);
}

/* POST /v1/fw/trust {"root": PEM, "documents": [base64 CBOR, ...]} */
static void put_trust(ctl_req *r)
{
	json_t *body = NULL;
	fw_trust *t = calloc(2, sizeof(fw_trust));
	uint8_t point[FW_POINT_LEN];
	char root_hex[2 * FW_POINT_LEN + 1];
	char *docs_json = NULL, *old_root = NULL, *old_docs = NULL;
	void *key = NULL;
	fw_ops ops;
	cl_buf raw;
	cl_err err;
	cl_buf_init(&raw, 64 * 1024);
	fw_openssl_ops(&ops, NULL);
	if (!t) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	static const char *const allowed[] = {"root", "documents", NULL};
	json_t *v, *pem = json_object_get(body, "root"), *docs = json_object_get(body, "documents");
	CL_GUARD_OUT(err, only_fields(body, allowed));
	if (!json_is_string(pem) || json_string_length(pem) > 4096) {
		err = cl_errorf(CL_EINVAL, "field \"root\" must be the root public key in PEM");
		goto out;
	}
	if (!json_is_array(docs) || json_array_size(docs) < 1 || json_array_size(docs) > CTL_FW_MAX_DOCS) {
		err = cl_errorf(CL_EINVAL, "field \"documents\" must be an array of 1..%d base64 trust-root documents",
				CTL_FW_MAX_DOCS);
		goto out;
	}
	BIO *bio = BIO_new_mem_buf(json_string_value(pem), (int)json_string_length(pem));
	key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!key || fw_key_point(key, point) != CL_OK) {
		err = cl_errorf(CL_EINVAL, "field \"root\" is not a P-384 public key in PEM");
		goto out;
	}
	if (fw_trust_init(&t[0], point, &ops) != FW_OK) {
		err = cl_errorf(CL_EINVAL, "field \"root\" is not a usable P-384 point");
		goto out;
	}
	size_t i;
	json_array_foreach(docs, i, v)
	{
		fw_status fs;
		if (!json_is_string(v) || cl_base64_decode(json_string_value(v), &raw) != CL_OK) {
			err = cl_errorf(CL_EINVAL, "documents[%zu] is not base64 of at most 64 KiB", i);
			goto out;
		}
		if ((fs = fw_trust_apply(&t[0], &t[1], raw.data, raw.len, &ops)) != FW_OK) {
			err = cl_errorf(CL_EINVAL, "documents[%zu] refused: %s (%s)", i, fw_status_name(fs),
					fw_status_str(fs));
			goto out;
		}
	}
	/* Only the current version's expiry counts (older ones may have
	 * expired): a chain whose current document has already expired would
	 * refuse every release until the next rotation. */
	uint64_t now = cl_now_wall_ms() / 1000;
	if (t[0].has_expires && now >= t[0].expires) {
		err = cl_errorf(CL_EINVAL, "the current trust-root document (version %llu) expired at %llu",
				(unsigned long long)t[0].version, (unsigned long long)t[0].expires);
		goto out;
	}
	cl_hex_encode(point, FW_POINT_LEN, root_hex);
	int64_t old_version = 0;
	err = ctl_store_fw_trust_get(r->srv->store, &old_root, &old_docs, &old_version);
	if (err == CL_OK && (strcmp(old_root, root_hex) != 0 || (int64_t)t[0].version < old_version)) {
		err = cl_errorf(CL_ECONFLICT, "the trust chain may only move forward from the same root (stored: v%lld)",
				(long long)old_version);
		goto out;
	}
	if (err != CL_OK && err != CL_ENOTFOUND)
		goto out;
	err = CL_OK;
	if (!(docs_json = json_dumps(docs, JSON_COMPACT))) {
		err = CL_ENOMEM;
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	err = ctl_store_fw_trust_put(r->srv->store, root_hex, docs_json, (int64_t)t[0].version,
				     (int64_t)t[0].threshold, (int64_t)cl_now_wall_ms());
	if (err == CL_OK)
		err = ctl_store_commit(r->srv->store);
	if (err != CL_OK) {
		ctl_store_rollback(r->srv->store);
		goto out;
	}
	json_t *kids = json_array();
	for (size_t n = 0; n < t[0].nkeys; n++) {
		char hex[2 * FW_KID_LEN + 1];
		cl_hex_encode(t[0].kids[n], FW_KID_LEN, hex);
		json_array_append_new(kids, json_string(hex));
	}
	cl_info("firmware trust chain stored version=%llu threshold=%llu", (unsigned long long)t[0].version,
		(unsigned long long)t[0].threshold);
	ctl_reply_json(r->srv, r->req, 201,
		       json_pack("{s:I,s:I,s:o}", "version", (json_int_t)t[0].version, "threshold",
				 (json_int_t)t[0].threshold, "signers", kids));
out:
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	fw_key_free(key);
	cl_buf_free(&raw);
	free(docs_json);
	free(old_root);
	free(old_docs);
	free(t);
	json_decref(body);
}

static void get_trust(ctl_req *r)
{
	fw_trust *t = calloc(2, sizeof(fw_trust));
	cl_err err = t ? load_trust(r->srv, &t[0], &t[1]) : CL_ENOMEM;
	if (err != CL_OK) {
		free(t);
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	json_t *kids = json_array();
	for (size_t n = 0; n < t[0].nkeys; n++) {
		char hex[2 * FW_KID_LEN + 1];
		cl_hex_encode(t[0].kids[n], FW_KID_LEN, hex);
		json_array_append_new(kids, json_string(hex));
	}
	ctl_reply_json(r->srv, r->req, 200,
		       json_pack("{s:I,s:I,s:o}", "version", (json_int_t)t[0].version, "threshold",
				 (json_int_t)t[0].threshold, "signers", kids));
	free(t);
}

/* PUT /v1/fw/channel {"channel": name} (tenant, its own) */
static void put_channel(ctl_req *r)
{
	json_t *body = NULL;
	ctl_fw_target *targets = NULL;
	size_t nt = 0;
	bool in_tx = false, exists = false;
	cl_err err;
	CL_GUARD_OUT(err, ctl_req_json(r, &body));
	static const char *const allowed[] = {"channel", NULL};
	json_t *ch = json_object_get(body, "channel");
	CL_GUARD_OUT(err, only_fields(body, allowed));
	if (!json_is_string(ch) || !ctl_valid_name(json_string_value(ch))) {
		err = cl_errorf(CL_EINVAL, "field \"channel\" must match [a-z0-9][a-z0-9-]{0,62}");
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_fw_channel_exists(r->srv->store, json_string_value(ch), &exists));
	if (!exists) {
		err = cl_errorf(CL_ECONFLICT, "channel %s has no approved release", json_string_value(ch));
		goto out;
	}
	CL_GUARD_OUT(err, ctl_store_begin(r->srv->store));
	in_tx = true;
	CL_GUARD_OUT(err, ctl_store_fw_tenant_channel_put(r->srv->store, r->who.tenant_id, json_string_value(ch),
							  (int64_t)cl_now_wall_ms()));
	CL_GUARD_OUT(err, ctl_fw_queue_releases(r->srv, r->who.tenant_id, "", &targets, &nt));
	CL_GUARD_OUT(err, ctl_store_commit(r->srv->store));
	in_tx = false;
	cl_info("tenant firmware channel set tenant=%s channel=%s queued=%zu", r->who.tenant_id, json_string_value(ch),
		nt);
	wake_targets(r->srv, targets, nt);
	ctl_reply_json(r->srv, r->req, 200, json_pack("{s:s,s:s}", "tenant_id", r->who.tenant_id, "channel",
						      json_string_value(ch)));
out:
	if (in_tx)
		ctl_store_rollback(r->srv->store);
	if (err != CL_OK)
		ctl_reply_err(r->srv, r->req, err);
	free(targets);
	json_decref(body);
}

static void get_channel(ctl_req *r)
{
	char ch[64];
	cl_err err = ctl_store_fw_tenant_channel_get(r->srv->store, r->who.tenant_id, ch);
	if (err != CL_OK && err != CL_ENOTFOUND) {
		ctl_reply_err(r->srv, r->req, err);
		return;
	}
	ctl_reply_json(r->srv, r->req, 200,
		       json_pack("{s:s,s:o}", "tenant_id", r->who.tenant_id, "channel",
				 err == CL_OK ? json_string(ch) : json_null()));
}

void ctl_api_fw(ctl_req *r)
{
	bool get = r->method == EVHTTP_REQ_GET, post = r->method == EVHTTP_REQ_POST;
	const char *s2 = r->nseg >= 3 ? r->seg[2] : "";
	if (r->nseg == 3 && strcmp(s2, "channel") == 0 && (get || r->method == EVHTTP_REQ_PUT)) {
		if (r->who.kind != CTL_WHO_TENANT) {
			cl_warn("denied reason=forbidden action=fw-channel token=%s", r->who.token_id);
			ctl_reply_error(r->srv, r->req, CL_EPERM, "only a tenant token chooses its firmware channel");
			return;
		}
		if (get)
			get_channel(r);
		else
			put_channel(r);
		return;
	}
	bool trust = r->nseg == 3 && strcmp(s2, "trust") == 0 && (get || post);
	bool rel = strcmp(s2, "releases") == 0 &&
		   ((r->nseg == 3 && (get || post)) || (r->nseg == 4 && get) ||
		    (r->nseg == 5 && get && strcmp(r->seg[4], "bundle") == 0) ||
		    (r->nseg == 5 && post && (strcmp(r->seg[4], "signatures") == 0 || strcmp(r->seg[4], "approve") == 0)));
	if (!trust && !rel) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "no such endpoint");
		return;
	}
	/* Engineers propose, co-sign and read; only the provider's admins set
	 * the trust chain and approve releases into channels. */
	bool admin_only = (trust && post) || (r->nseg == 5 && strcmp(r->seg[4], "approve") == 0);
	if (r->who.kind != CTL_WHO_ADMIN && (r->who.kind != CTL_WHO_ENGINEER || admin_only)) {
		cl_warn("denied reason=forbidden action=fw-releases token=%s", r->who.token_id);
		ctl_reply_error(r->srv, r->req, CL_EPERM,
				admin_only ? "only an admin token may set the trust chain or approve a release"
					   : "only an admin or engineer token may manage firmware releases");
		return;
	}
	if (trust) {
		if (get)
			get_trust(r);
		else
			put_trust(r);
		return;
	}
	if (r->nseg == 3) {
		if (get)
			list_releases(r);
		else
			propose(r);
		return;
	}
	const char *id = r->seg[3];
	if (!ctl_valid_id(id)) {
		ctl_reply_error(r->srv, r->req, CL_ENOTFOUND, "release not found");
		return;
	}
	if (r->nseg == 4)
		reply_release(r, 200, id);
	else if (get)
		get_bundle(r, id);
	else if (strcmp(r->seg[4], "signatures") == 0)
		add_signatures(r, id);
	else
		approve(r, id);
}
