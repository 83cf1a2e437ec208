/* fwaudit.c — the audit record codec, the chain walk and the appender.
 * Fixed-layout big-endian body: one record has one encoding, so the bytes
 * hashed are the bytes decoded. Limits come from the format, never from a
 * count in the input. */
#include <errno.h>
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

/* Walks records starting at `off` after a record with (seq, head). */
static void walk_from(const uint8_t *data, size_t len, size_t off, fwa_report *rep, fwa_each_fn each, void *ctx)
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
		memcpy(rep->head, h, FWA_HASH_LEN);
		rep->last_seq = r.seq;
		rep->records++;
		off += 2 + n + FWA_HASH_LEN;
		rep->good_len = off;
		if (each && each(&r, ctx))
			return;
	}
}

void fwa_walk(const uint8_t *data, size_t len, fwa_report *rep, fwa_each_fn each, void *ctx)
{
	memset(rep, 0, sizeof(*rep));
	if (len < FWA_MAGIC_LEN || memcmp(data, FWA_MAGIC, FWA_MAGIC_LEN) != 0) {
		bad(rep, 0, "missing file magic");
		return;
	}
	walk_from(data, len, FWA_MAGIC_LEN, rep, each, ctx);
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
	struct stat st;
	if (fstat(log->fd, &st) == 0 && st.st_size == 0) {
		if (pwrite(log->fd, FWA_MAGIC, FWA_MAGIC_LEN, 0) != FWA_MAGIC_LEN || fsync(log->fd) != 0) {
			fwa_close(log);
			return cl_errorf(CL_EIO, "init %s: %s", path, strerror(errno));
		}
	}
	log->off = 0; /* unknown: the first append scans */
	return CL_OK;
}

void fwa_close(fwa_log *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
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

static int track_each(const fwg_audit_rec *r, void *ctx)
{
	track_intent(ctx, r);
	return 0;
}

/* Brings (off, seq, head) up to the end of the file: walks what was appended
 * since (by another process), cuts a torn final record. */
static cl_err catch_up(fwa_log *log)
{
	struct stat st;
	cl_buf tail;
	fwa_report rep;
	cl_err err = CL_OK;
	if (fstat(log->fd, &st) != 0)
		return cl_errorf(CL_EIO, "audit stat: %s", strerror(errno));
	uint64_t size = (uint64_t)st.st_size;
	if (log->off == 0 || size < log->off) { /* first use, or the file shrank: rescan all */
		log->off = 0;
		log->seq = 0;
		memset(log->head, 0, sizeof(log->head));
		log->nopen = 0;
		log->open_overflow = false;
	}
	if (size == log->off && log->off)
		return CL_OK;
	cl_buf_init(&tail, (size_t)1 << 31);
	CL_GUARD_OUT(err, read_range(log->fd, log->off, (size_t)(size - log->off), &tail));
	memset(&rep, 0, sizeof(rep));
	if (log->off == 0) {
		fwa_walk(tail.data, tail.len, &rep, track_each, log);
	} else {
		rep.last_seq = log->seq;
		memcpy(rep.head, log->head, FWA_HASH_LEN);
		walk_from(tail.data, tail.len, 0, &rep, track_each, log);
	}
	uint64_t good_end = log->off + rep.good_len;
	if (!rep.ok) {
		/* Only an incomplete final record is a torn write we may cut. */
		bool torn = strstr(rep.why, "truncated") != NULL && log->off + rep.bad_offset == good_end &&
			    good_end >= FWA_MAGIC_LEN;
		if (!torn) {
			err = cl_errorf(CL_EPROTO, "audit log broken at seq %llu: %s",
					(unsigned long long)rep.first_bad, rep.why);
			goto out;
		}
		if (ftruncate(log->fd, (off_t)good_end) != 0 || fsync(log->fd) != 0) {
			err = cl_errorf(CL_EIO, "audit truncate: %s", strerror(errno));
			goto out;
		}
	}
	log->off = good_end;
	log->seq = rep.last_seq;
	memcpy(log->head, rep.head, FWA_HASH_LEN);
out:
	cl_buf_free(&tail);
	return err;
}

cl_err fwa_append(fwa_log *log, fwg_audit_rec *r)
{
	cl_buf rec;
	cl_err err = CL_OK;
	uint8_t h[FWA_HASH_LEN];
	CL_GUARD(catch_up(log));
	r->seq = log->seq + 1;
	cl_buf_init(&rec, 2 + FWA_BODY_MAX + FWA_HASH_LEN);
	CL_GUARD_OUT(err, cl_buf_put_be16(&rec, 0));
	CL_GUARD_OUT(err, fwa_encode(r, &rec));
	size_t n = rec.len - 2;
	CL_ENSURE(n <= FWA_BODY_MAX, CL_EINTERNAL, "audit body too long");
	rec.data[0] = (uint8_t)(n >> 8);
	rec.data[1] = (uint8_t)n;
	CL_GUARD_OUT(err, chain_hash(log->head, rec.data + 2, n, h));
	CL_GUARD_OUT(err, cl_buf_put(&rec, h, FWA_HASH_LEN));
	size_t done = 0;
	while (done < rec.len) {
		ssize_t w = pwrite(log->fd, rec.data + done, rec.len - done, (off_t)(log->off + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = cl_errorf(CL_EIO, "audit write: %s", strerror(errno));
			goto out;
		}
		done += (size_t)w;
	}
	if (fsync(log->fd) != 0) {
		err = cl_errorf(CL_EIO, "audit fsync: %s", strerror(errno));
		goto out;
	}
	log->off += rec.len;
	log->seq = r->seq;
	memcpy(log->head, h, FWA_HASH_LEN);
	memcpy(r->hash, h, FWA_HASH_LEN);
	track_intent(log, r);
out:
	cl_buf_free(&rec);
	return err;
}

cl_err fwa_sync(fwa_log *log)
{
	CL_GUARD(catch_up(log));
	CL_ENSURE(!log->open_overflow, CL_EPROTO, "audit log has more than %d open intents", FWA_OPEN_MAX);
	return CL_OK;
}
