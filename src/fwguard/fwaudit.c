/* fwaudit.c — the audit record codec, the chain walk and the appender.
 * Fixed-layout big-endian body: one record has one encoding, so the bytes
 * hashed are the bytes decoded. Limits come from the format, never from a
 * count in the input. */
#include <errno.h>
#include <openssl/evp.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/util.h"
#include "fwguard/fwaudit.h"

static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static cl_err put_str8(cl_buf *b, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);
	CL_ENSURE(n <= max && printable(s, n), CL_EINVAL, "audit string too long or not printable");
	CL_GUARD(cl_buf_put_u8(b, (uint8_t)n));
	return n ? cl_buf_put(b, s, n) : CL_OK;
}

cl_err fwa_encode(const fwg_audit_rec *r, cl_buf *b)
{
	static const uint8_t zero[FW_UUID_LEN];
	CL_GUARD(cl_buf_put_u8(b, FWA_FORMAT));
	CL_GUARD(cl_buf_put_be64(b, r->seq));
	CL_GUARD(cl_buf_put_be64(b, r->time_ms));
	CL_GUARD(cl_buf_put_u8(b, r->op));
	CL_GUARD(cl_buf_put_u8(b, r->source));
	CL_GUARD(cl_buf_put_u8(b, r->result));
	CL_GUARD(cl_buf_put_u8(b, r->action));
	CL_GUARD(cl_buf_put_be16(b, r->reason));
	CL_GUARD(put_str8(b, r->addr, sizeof(r->addr) - 1));
	CL_GUARD(cl_buf_put_u8(b, r->has_id ? 1 : 0));
	CL_GUARD(cl_buf_put(b, r->has_id ? r->vendor : zero, FW_UUID_LEN));
	CL_GUARD(cl_buf_put(b, r->has_id ? r->class_id : zero, FW_UUID_LEN));
	CL_GUARD(cl_buf_put_be64(b, r->has_id ? r->sequence : 0));
	CL_GUARD(put_str8(b, r->has_id ? r->version : "", FW_MAX_STR));
	CL_GUARD(cl_buf_put(b, r->has_id ? r->digest8 : zero, 8));
	CL_GUARD(cl_buf_put_be32(b, r->input_len));
	return put_str8(b, r->detail, FWA_DETAIL_MAX);
}

static cl_err get_str8(cl_buf *b, char *out, size_t max)
{
	uint8_t n;
	CL_GUARD(cl_buf_get_u8(b, &n));
	CL_ENSURE(n <= max, CL_EINVAL, "audit string too long");
	CL_GUARD(cl_buf_get(b, out, n));
	out[n] = '\0';
	CL_ENSURE(printable(out, n), CL_EINVAL, "audit string not printable");
	return CL_OK;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

cl_err fwa_decode(const uint8_t *body, size_t len, fwg_audit_rec *r)
{
	cl_buf b;
	uint8_t fmt, has;
	memset(r, 0, sizeof(*r));
	CL_ENSURE(len <= FWA_BODY_MAX, CL_EINVAL, "audit record too long");
	cl_buf_wrap(&b, body, len);
	CL_GUARD(cl_buf_get_u8(&b, &fmt));
	CL_ENSURE(fmt == FWA_FORMAT, CL_EINVAL, "unknown audit record format %u", fmt);
	CL_GUARD(cl_buf_get_be64(&b, &r->seq));
	CL_GUARD(cl_buf_get_be64(&b, &r->time_ms));
	CL_GUARD(cl_buf_get_u8(&b, &r->op));
	CL_GUARD(cl_buf_get_u8(&b, &r->source));
	CL_GUARD(cl_buf_get_u8(&b, &r->result));
	CL_GUARD(cl_buf_get_u8(&b, &r->action));
	CL_GUARD(cl_buf_get_be16(&b, &r->reason));
	CL_GUARD(get_str8(&b, r->addr, sizeof(r->addr) - 1));
	CL_GUARD(cl_buf_get_u8(&b, &has));
	CL_ENSURE(has <= 1, CL_EINVAL, "bad identity flag");
	r->has_id = has;
	CL_GUARD(cl_buf_get(&b, r->vendor, FW_UUID_LEN));
	CL_GUARD(cl_buf_get(&b, r->class_id, FW_UUID_LEN));
	CL_GUARD(cl_buf_get_be64(&b, &r->sequence));
	CL_GUARD(get_str8(&b, r->version, FW_MAX_STR));
	CL_GUARD(cl_buf_get(&b, r->digest8, 8));
	CL_GUARD(cl_buf_get_be32(&b, &r->input_len));
	CL_GUARD(get_str8(&b, r->detail, FWA_DETAIL_MAX));
	CL_ENSURE(cl_buf_remaining(&b) == 0, CL_EINVAL, "trailing bytes in audit record");
	if (!has) {
		uint8_t seqb[8] = {0};
		memcpy(seqb, &r->sequence, 8);
		CL_ENSURE(all_zero(r->vendor, FW_UUID_LEN) && all_zero(r->class_id, FW_UUID_LEN) &&
				  all_zero(seqb, 8) && r->version[0] == '\0' && all_zero(r->digest8, 8),
			  CL_EINVAL, "identity fields set without the identity flag");
	}
	return CL_OK;
}

static cl_err chain_hash(const uint8_t prev[FWA_HASH_LEN], const uint8_t *body, size_t n,
			 uint8_t out[FWA_HASH_LEN])
{
	uint8_t tmp[FWA_HASH_LEN + FWA_BODY_MAX];
	if (n > FWA_BODY_MAX)
		return CL_EINVAL;
	memcpy(tmp, prev, FWA_HASH_LEN);
	memcpy(tmp + FWA_HASH_LEN, body, n);
	return cl_sha256(tmp, FWA_HASH_LEN + n, out);
}

static void bad(fwa_report *rep, uint64_t off, const char *why)
{
	rep->ok = false;
	rep->first_bad = rep->last_seq + 1;
	rep->bad_offset = off;
	snprintf(rep->why, sizeof(rep->why), "%s", why);
}

/* Called with each good record and its byte offset in the walked data. */
typedef int (*walk_fn)(const fwg_audit_rec *r, uint64_t off, void *ctx);

/* Walks records starting at `off` after a record with (rep->last_seq,
 * rep->head). */
static void walk_from(const uint8_t *data, size_t len, size_t off, fwa_report *rep, walk_fn each, void *ctx)
{
	fwg_audit_rec r;
	rep->ok = true;
	rep->good_len = off;
	while (off < len) {
		uint8_t h[FWA_HASH_LEN];
		if (len - off < 2)
			return bad(rep, off, "truncated record length");
		size_t n = ((size_t)data[off] << 8) | data[off + 1];
		if (n > FWA_BODY_MAX)
			return bad(rep, off, "record length over the limit");
		if (len - off - 2 < n + FWA_HASH_LEN)
			return bad(rep, off, "truncated record");
		const uint8_t *body = data + off + 2;
		if (fwa_decode(body, n, &r) != CL_OK)
			return bad(rep, off, "record does not decode");
		if (r.seq != rep->last_seq + 1)
			return bad(rep, off, "sequence number out of order (deleted or reordered record)");
		if (chain_hash(rep->head, body, n, h) != CL_OK)
			return bad(rep, off, "hash failed");
		if (!cl_ct_equal(h, body + n, FWA_HASH_LEN))
			return bad(rep, off, "hash chain broken (edited, deleted or reordered record)");
		memcpy(r.hash, h, FWA_HASH_LEN);
		memcpy(r.prev, rep->head, FWA_HASH_LEN);
		memcpy(rep->head, h, FWA_HASH_LEN);
		rep->last_seq = r.seq;
		rep->records++;
		size_t at = off;
		off += 2 + n + FWA_HASH_LEN;
		rep->good_len = off;
		if (each && each(&r, at, ctx))
			return;
	}
}

typedef struct plain_ctx {
	fwa_each_fn each;
	void *ctx;
} plain_ctx;

static int plain_each(const fwg_audit_rec *r, uint64_t off, void *vctx)
{
	plain_ctx *c = vctx;
	(void)off;
	return c->each(r, c->ctx);
}

/* fwa_walk with offsets. */
static void walk_file(const uint8_t *data, size_t len, fwa_report *rep, walk_fn each, void *ctx)
{
	memset(rep, 0, sizeof(*rep));
	if (len < FWA_MAGIC_LEN || memcmp(data, FWA_MAGIC, FWA_MAGIC_LEN) != 0) {
		bad(rep, 0, "missing file magic");
		return;
	}
	walk_from(data, len, FWA_MAGIC_LEN, rep, each, ctx);
}

void fwa_walk(const uint8_t *data, size_t len, fwa_report *rep, fwa_each_fn each, void *ctx)
{
	plain_ctx c = {.each = each, .ctx = ctx};
	walk_file(data, len, rep, each ? plain_each : NULL, &c);
}

typedef struct anchor_ctx {
	uint64_t seq;
	const uint8_t *hash;
	bool seen, match;
} anchor_ctx;

static int check_anchor(const fwg_audit_rec *r, void *ctx)
{
	anchor_ctx *a = ctx;
	if (r->seq == a->seq) {
		a->seen = true;
		a->match = cl_ct_equal(r->hash, a->hash, FWA_HASH_LEN);
	}
	return 0;
}

cl_err fwa_verify(const char *path, uint64_t anchor_seq, const uint8_t *anchor_hash, fwa_report *rep)
{
	cl_buf file;
	anchor_ctx a = {.seq = anchor_seq, .hash = anchor_hash};
	cl_buf_init(&file, (size_t)1 << 31);
	cl_err err = cl_file_read(path, file.max, &file);
	if (err != CL_OK) {
		cl_buf_free(&file);
		return err;
	}
	fwa_walk(file.data ? file.data : (const uint8_t *)"", file.len, rep, anchor_seq ? check_anchor : NULL, &a);
	if (rep->ok && anchor_seq && (!a.seen || !a.match)) {
		rep->ok = false;
		rep->first_bad = a.seen ? anchor_seq : rep->last_seq + 1;
		rep->bad_offset = rep->good_len;
		snprintf(rep->why, sizeof(rep->why), "%s",
			 a.seen ? "anchor record differs (log replaced)" : "log ends before the anchor (truncated)");
	}
	cl_buf_free(&file);
	return CL_OK;
}

cl_err fwa_open(const char *path, fwa_log *log)
{
	memset(log, 0, sizeof(*log));
	log->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (log->fd < 0)
		return cl_errorf(CL_EIO, "open %s: %s", path, strerror(errno));
	if (!(log->path = strdup(path))) {
		fwa_close(log);
		return CL_ENOMEM;
	}
	struct stat st;
	if (fstat(log->fd, &st) == 0 && st.st_size == 0) {
		if (pwrite(log->fd, FWA_MAGIC, FWA_MAGIC_LEN, 0) != FWA_MAGIC_LEN || fsync(log->fd) != 0) {
			fwa_close(log);
			return cl_errorf(CL_EIO, "init %s: %s", path, strerror(errno));
		}
	}
	log->off = 0; /* nothing verified yet: the first check walks it all */
	return CL_OK;
}

void fwa_close(fwa_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
	free(log->hashes);
	free(log->offs);
	free(log->path);
	log->path = NULL;
	EVP_MD_CTX_free(log->pctx);
	log->hashes = NULL;
	log->offs = NULL;
	log->pctx = NULL;
	log->cap = 0;
}

void fwa_anchor(fwa_log *log, uint64_t seq, const uint8_t hash[FWA_HASH_LEN])
{
	log->anchor_seq = seq;
	if (seq)
		memcpy(log->anchor_hash, hash, FWA_HASH_LEN);
	else
		memset(log->anchor_hash, 0, FWA_HASH_LEN);
}

static cl_err read_range(int fd, uint64_t off, size_t n, cl_buf *out)
{
	cl_buf_reset(out);
	uint8_t chunk[8192];
	while (n) {
		size_t want = n < sizeof(chunk) ? n : sizeof(chunk);
		ssize_t r = pread(fd, chunk, want, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return cl_errorf(CL_EIO, "audit read: %s", r < 0 ? strerror(errno) : "short");
		CL_GUARD(cl_buf_put(out, chunk, (size_t)r));
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	return CL_OK;
}

/* Open-intent bookkeeping: a record for an address closes that address's
 * open intent; an intent record opens one. Result 4 = FWG_RES_INTENT
 * (fwguard.h; this file does not include the model's header). */
#define RES_INTENT 4

static void track_intent(fwa_log *log, const fwg_audit_rec *r)
{
	for (size_t i = 0; i < log->nopen; i++) {
		if (strcmp(log->open[i].addr, r->addr) == 0) {
			memmove(&log->open[i], &log->open[i + 1], (log->nopen - i - 1) * sizeof(log->open[0]));
			log->nopen--;
			break;
		}
	}
	if (r->result != RES_INTENT)
		return;
	if (log->nopen == FWA_OPEN_MAX) {
		log->open_overflow = true;
		return;
	}
	log->open[log->nopen++] = *r;
}

/* Remembers record r (hash, offset) as verified. */
static cl_err remember(fwa_log *log, const fwg_audit_rec *r, uint64_t off)
{
	if (r->seq > log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 256;
		while (cap < r->seq)
			cap *= 2;
		uint8_t(*h)[FWA_HASH_LEN] = realloc(log->hashes, cap * FWA_HASH_LEN);
		if (h)
			log->hashes = h;
		uint64_t *o = realloc(log->offs, cap * sizeof(*o));
		if (o)
			log->offs = o;
		if (!h || !o)
			return cl_errorf(CL_ENOMEM, "audit: out of memory");
		log->cap = cap;
	}
	memcpy(log->hashes[r->seq - 1], r->hash, FWA_HASH_LEN);
	log->offs[r->seq - 1] = off;
	return CL_OK;
}

typedef struct learn_ctx {
	fwa_log *log;
	cl_err err;
} learn_ctx;

static int learn_each(const fwg_audit_rec *r, uint64_t off, void *vctx)
{
	learn_ctx *c = vctx;
	track_intent(c->log, r);
	c->err = remember(c->log, r, off);
	return c->err != CL_OK;
}

/* Marks the log tampered (sticky) and returns CL_EPROTO. */
static cl_err tamper(fwa_log *log, uint64_t bad_seq, const char *why)
{
	if (!log->tampered) {
		log->tampered = true;
		log->bad_seq = bad_seq;
		snprintf(log->why, sizeof(log->why), "%.95s", why);
	}
	return cl_errorf(CL_EPROTO, "audit log tampered with at seq %llu: %s", (unsigned long long)log->bad_seq,
			 log->why);
}

typedef struct diff_ctx {
	const fwa_log *log;
	uint64_t first; /* first record that differs from what was verified (0 = none yet) */
} diff_ctx;

static int diff_each(const fwg_audit_rec *r, void *vctx)
{
	diff_ctx *c = vctx;
	if (r->seq > c->log->seq)
		return 1; /* past what was verified */
	if (!cl_ct_equal(r->hash, c->log->hashes[r->seq - 1], FWA_HASH_LEN)) {
		c->first = r->seq;
		return 1;
	}
	return 0;
}

/* The verified bytes changed: walks the file as it is now and names the
 * first record that differs from the one verified (edited, deleted,
 * reordered, cut off or replaced). */
static cl_err changed(fwa_log *log, const uint8_t *data, size_t len)
{
	fwa_report rep;
	diff_ctx c = {.log = log};
	char why[160];
	fwa_walk(data, len, &rep, diff_each, &c);
	if (c.first) {
		snprintf(why, sizeof(why), "record %llu differs from the one verified (edited or replaced)",
			 (unsigned long long)c.first);
		return tamper(log, c.first, why);
	}
	if (!rep.ok && rep.first_bad <= log->seq) {
		snprintf(why, sizeof(why), "record %llu: %.70s", (unsigned long long)rep.first_bad, rep.why);
		return tamper(log, rep.first_bad, why);
	}
	if (rep.last_seq < log->seq) {
		snprintf(why, sizeof(why), "the log ends at seq %llu, %llu records were verified (cut)",
			 (unsigned long long)rep.last_seq, (unsigned long long)log->seq);
		return tamper(log, rep.last_seq + 1, why);
	}
	/* The same records, other bytes (e.g. a changed magic). */
	return tamper(log, 1, "the verified bytes changed");
}

/* SHA-256 of data[0..n) into out; *ctx (new, or NULL on failure) holds the
 * state at n so that appends extend it. */
static cl_err prefix_hash(const uint8_t *data, size_t n, EVP_MD_CTX **ctx, uint8_t out[FWA_HASH_LEN])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new(), *tmp = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok = c && tmp && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 && EVP_DigestUpdate(c, data, n) == 1 &&
		 EVP_MD_CTX_copy_ex(tmp, c) == 1 && EVP_DigestFinal_ex(tmp, out, &len) == 1 && len == FWA_HASH_LEN;
	EVP_MD_CTX_free(tmp);
	if (!ok) {
		EVP_MD_CTX_free(c);
		*ctx = NULL;
		return cl_errorf(CL_ENOMEM, "audit: SHA-256 failed");
	}
	*ctx = c;
	return CL_OK;
}

/* Extends log->pctx with p[0..n) and sets log->prefix to its digest. */
static cl_err prefix_extend(fwa_log *log, const uint8_t *p, size_t n)
{
	EVP_MD_CTX *tmp = EVP_MD_CTX_new();
	unsigned int len = 0;
	int ok = tmp && log->pctx && EVP_DigestUpdate(log->pctx, p, n) == 1 && EVP_MD_CTX_copy_ex(tmp, log->pctx) == 1 &&
		 EVP_DigestFinal_ex(tmp, log->prefix, &len) == 1 && len == FWA_HASH_LEN;
	EVP_MD_CTX_free(tmp);
	if (!ok) {
		/* Unknown digest: the next check walks the whole file again. */
		EVP_MD_CTX_free(log->pctx);
		log->pctx = NULL;
		log->off = 0;
		log->seq = 0;
		memset(log->head, 0, FWA_HASH_LEN);
		return cl_errorf(CL_ENOMEM, "audit: SHA-256 failed");
	}
	return CL_OK;
}

/* The check behind fwa_sync and fwa_append: the verified prefix unchanged
 * (one SHA-256 over it), what was appended since walked (a torn final
 * record cut), the anchor held. *file receives the file's bytes. */
static cl_err check(fwa_log *log, cl_buf *file)
{
	struct stat st;
	fwa_report rep;
	uint8_t digest[FWA_HASH_LEN];
	EVP_MD_CTX *ctx = NULL;
	char why[160];
	cl_err err = CL_OK;
	if (log->tampered)
		return cl_errorf(CL_EPROTO, "audit log tampered with at seq %llu: %s", (unsigned long long)log->bad_seq,
				 log->why);
	if (fstat(log->fd, &st) != 0)
		return cl_errorf(CL_EIO, "audit stat: %s", strerror(errno));
	/* Another file renamed over the log's name: what readers of the name
	 * see is no longer what this handle appends to. */
	struct stat named;
	bool gone = log->path && stat(log->path, &named) != 0;
	if (gone || (log->path && (named.st_ino != st.st_ino || named.st_dev != st.st_dev))) {
		if (gone || cl_file_read(log->path, (size_t)1 << 31, file) != CL_OK)
			return tamper(log, log->seq + 1, "the log file was removed or replaced");
		cl_err verdict = changed(log, file->data ? file->data : (const uint8_t *)"", file->len);
		if (strcmp(log->why, "the verified bytes changed") == 0)
			snprintf(log->why, sizeof(log->why), "the log file was replaced (same records)");
		return verdict;
	}
	uint64_t size = (uint64_t)st.st_size;
	CL_GUARD(read_range(log->fd, 0, (size_t)size, file));
	const uint8_t *data = file->data ? file->data : (const uint8_t *)"";
	if (size < log->off)
		return changed(log, data, file->len); /* shorter than verified: a cut, whatever regrew */
	if (log->off) {
		CL_GUARD(prefix_hash(data, (size_t)log->off, &ctx, digest));
		if (!cl_ct_equal(digest, log->prefix, FWA_HASH_LEN)) {
			EVP_MD_CTX_free(ctx);
			return changed(log, data, file->len);
		}
	}
	/* What was appended since (by this or another process). */
	memset(&rep, 0, sizeof(rep));
	learn_ctx lc = {.log = log};
	if (log->off == 0) {
		log->nopen = 0;
		log->open_overflow = false;
		walk_file(data, file->len, &rep, learn_each, &lc);
	} else {
		rep.last_seq = log->seq;
		memcpy(rep.head, log->head, FWA_HASH_LEN);
		walk_from(data, file->len, (size_t)log->off, &rep, learn_each, &lc);
	}
	CL_GUARD_OUT(err, lc.err);
	uint64_t good_end = rep.good_len;
	if (!rep.ok) {
		/* Only an incomplete final record is a torn write we may cut. */
		bool torn = strstr(rep.why, "truncated") != NULL && rep.bad_offset == good_end &&
			    good_end >= FWA_MAGIC_LEN;
		if (!torn) {
			snprintf(why, sizeof(why), "record %llu: %.70s", (unsigned long long)rep.first_bad, rep.why);
			err = tamper(log, rep.first_bad, why);
			goto out;
		}
		if (ftruncate(log->fd, (off_t)good_end) != 0 || fsync(log->fd) != 0) {
			err = cl_errorf(CL_EIO, "audit truncate: %s", strerror(errno));
			goto out;
		}
		file->len = (size_t)good_end;
	}
	if (!ctx || good_end != log->off) {
		EVP_MD_CTX_free(ctx);
		CL_GUARD_OUT(err, prefix_hash(data, (size_t)good_end, &ctx, log->prefix));
	}
	EVP_MD_CTX_free(log->pctx);
	log->pctx = ctx;
	ctx = NULL;
	log->off = good_end;
	log->seq = rep.last_seq;
	memcpy(log->head, rep.head, FWA_HASH_LEN);
	/* The control plane's copy: the log must still hold its last record. */
	if (log->anchor_seq > log->seq) {
		snprintf(why, sizeof(why), "the log ends at seq %llu before the control plane's record %llu (cut)",
			 (unsigned long long)log->seq, (unsigned long long)log->anchor_seq);
		err = tamper(log, log->seq + 1, why);
	} else if (log->anchor_seq && !cl_ct_equal(log->hashes[log->anchor_seq - 1], log->anchor_hash, FWA_HASH_LEN)) {
		snprintf(why, sizeof(why), "record %llu differs from the control plane's copy (replaced)",
			 (unsigned long long)log->anchor_seq);
		err = tamper(log, log->anchor_seq, why);
	}
out:
	EVP_MD_CTX_free(ctx);
	return err;
}

cl_err fwa_append(fwa_log *log, fwg_audit_rec *r)
{
	cl_buf rec, file;
	cl_err err = CL_OK;
	uint8_t h[FWA_HASH_LEN];
	cl_buf_init(&file, (size_t)1 << 31);
	cl_buf_init(&rec, 2 + FWA_BODY_MAX + FWA_HASH_LEN);
	CL_GUARD_OUT(err, check(log, &file));
	r->seq = log->seq + 1;
	CL_GUARD_OUT(err, cl_buf_put_be16(&rec, 0));
	CL_GUARD_OUT(err, fwa_encode(r, &rec));
	size_t n = rec.len - 2;
	if (n > FWA_BODY_MAX) {
		err = cl_errorf(CL_EINTERNAL, "audit body too long");
		goto out;
	}
	rec.data[0] = (uint8_t)(n >> 8);
	rec.data[1] = (uint8_t)n;
	CL_GUARD_OUT(err, chain_hash(log->head, rec.data + 2, n, h));
	CL_GUARD_OUT(err, cl_buf_put(&rec, h, FWA_HASH_LEN));
	memcpy(r->hash, h, FWA_HASH_LEN);
	memcpy(r->prev, log->head, FWA_HASH_LEN);
	CL_GUARD_OUT(err, remember(log, r, log->off)); /* before the write: an OOM appends nothing */
	size_t done = 0;
	while (done < rec.len) {
		ssize_t w = pwrite(log->fd, rec.data + done, rec.len - done, (off_t)(log->off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* A partial record may be on disk: the next check cuts it (torn). */
			err = cl_errorf(CL_EIO, "audit write: %s", strerror(errno));
			goto out;
		}
		done += (size_t)w;
	}
	if (fsync(log->fd) != 0) {
		err = cl_errorf(CL_EIO, "audit fsync: %s", strerror(errno));
		goto out;
	}
	/* What was just written is verified: the watch moves past it. */
	log->off += rec.len;
	log->seq = r->seq;
	memcpy(log->head, h, FWA_HASH_LEN);
	track_intent(log, r);
	err = prefix_extend(log, rec.data, rec.len);
out:
	cl_buf_free(&rec);
	cl_buf_free(&file);
	return err;
}

cl_err fwa_sync(fwa_log *log)
{
	cl_buf file;
	cl_buf_init(&file, (size_t)1 << 31);
	cl_err err = check(log, &file);
	cl_buf_free(&file);
	CL_GUARD(err);
	CL_ENSURE(!log->open_overflow, CL_EPROTO, "audit log has more than %d open intents", FWA_OPEN_MAX);
	return CL_OK;
}

typedef struct after_ctx {
	fwa_each_fn each;
	void *ctx;
	size_t max, n;
	uint64_t upto;
} after_ctx;

static int after_each(const fwg_audit_rec *r, uint64_t off, void *vctx)
{
	after_ctx *c = vctx;
	(void)off;
	if (r->seq > c->upto)
		return 1; /* beyond what was verified */
	if (c->each && c->each(r, c->ctx))
		return 1;
	return ++c->n >= c->max;
}

cl_err fwa_each_after(fwa_log *log, uint64_t after, size_t max, fwa_each_fn each, void *ctx)
{
	cl_buf tail;
	fwa_report rep;
	cl_err err = CL_OK;
	CL_ENSURE(!log->tampered, CL_EPROTO, "audit log tampered with at seq %llu: %s", (unsigned long long)log->bad_seq,
		  log->why);
	if (after >= log->seq || max == 0)
		return CL_OK;
	uint64_t from = log->offs[after]; /* record after + 1 */
	CL_ENSURE(from >= FWA_MAGIC_LEN && from < log->off, CL_EINTERNAL, "audit: bad record offset");
	cl_buf_init(&tail, (size_t)1 << 31);
	CL_GUARD_OUT(err, read_range(log->fd, from, (size_t)(log->off - from), &tail));
	memset(&rep, 0, sizeof(rep));
	rep.last_seq = after;
	if (after)
		memcpy(rep.head, log->hashes[after - 1], FWA_HASH_LEN);
	after_ctx c = {.each = each, .ctx = ctx, .max = max, .upto = log->seq};
	walk_from(tail.data, tail.len, 0, &rep, after_each, &c);
	/* Verified a moment ago: a record that no longer reads is tampering. */
	if (!rep.ok)
		err = tamper(log, rep.first_bad, "a verified record changed while it was read");
out:
	cl_buf_free(&tail);
	return err;
}
