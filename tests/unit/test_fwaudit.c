/* The audit log: codec strictness, the hash chain catching edits,
 * deletions, reorders and cuts (with the first bad record reported), tail
 * truncation against an anchor, torn-tail recovery, and refusal to append
 * after tampering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crypto.h"
#include "common/util.h"
#include "fwguard/fwaudit.h"
#include "fwguard/fwguard.h"

typedef struct lx {
	char dir[64];
	char path[96];
	size_t off[7]; /* byte offset of record i (1-based), off[6] = end */
	uint8_t hash[6][FWA_HASH_LEN];
} lx;

static void rec_fill(fwg_audit_rec *r, int i)
{
	memset(r, 0, sizeof(*r));
	r->time_ms = 1700000000000ull + (uint64_t)i;
	r->op = FWG_OP_UPDATE;
	r->source = FWG_SRC_MGMT;
	r->result = i % 2 ? FWG_RES_ACCEPTED : FWG_RES_REFUSED;
	r->reason = i % 2 ? 0 : FWG_R_WINDOW_CLOSED;
	snprintf(r->addr, sizeof(r->addr), "0000:03:00.0");
	r->has_id = true;
	r->vendor[0] = (uint8_t)i;
	r->sequence = (uint64_t)i;
	snprintf(r->version, sizeof(r->version), "1.%d", i);
	r->input_len = 1000 + (uint32_t)i;
	snprintf(r->detail, sizeof(r->detail), "record %d", i);
}

static int setup(void **state)
{
	lx *l = calloc(1, sizeof(*l));
	fwa_log log;
	if (!l)
		return -1;
	snprintf(l->dir, sizeof(l->dir), "/tmp/fwaudit.XXXXXX");
	if (!mkdtemp(l->dir))
		return -1;
	snprintf(l->path, sizeof(l->path), "%s/audit.log", l->dir);
	assert_int_equal(fwa_open(l->path, &log), CL_OK);
	l->off[1] = FWA_MAGIC_LEN;
	for (int i = 1; i <= 5; i++) {
		fwg_audit_rec r;
		rec_fill(&r, i);
		assert_int_equal(fwa_append(&log, &r), CL_OK);
		assert_int_equal(r.seq, (uint64_t)i);
		memcpy(l->hash[i], r.hash, FWA_HASH_LEN);
		l->off[i + 1] = (size_t)log.off;
	}
	fwa_close(&log);
	*state = l;
	return 0;
}

static int teardown(void **state)
{
	lx *l = *state;
	assert_int_equal(cl_rm_rf(l->dir), CL_OK);
	free(l);
	return 0;
}

static void load(lx *l, cl_buf *b)
{
	cl_buf_init(b, 1 << 20);
	assert_int_equal(cl_file_read(l->path, b->max, b), CL_OK);
}

static void store(lx *l, const uint8_t *p, size_t n)
{
	assert_int_equal(cl_file_write_atomic(l->path, p, n, 0600), CL_OK);
}

/* Rewrites the log in place (same file, as an editor with write access
 * would): what a handle holding the file open sees. */
static void store_inplace(lx *l, const uint8_t *p, size_t n)
{
	int fd = open(l->path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, 0), (ssize_t)n);
	assert_int_equal(ftruncate(fd, (off_t)n), 0);
	close(fd);
}

static fwa_report verify(lx *l)
{
	fwa_report rep;
	assert_int_equal(fwa_verify(l->path, 0, NULL, &rep), CL_OK);
	return rep;
}

static void intact_chain_verifies(void **state)
{
	lx *l = *state;
	fwa_report rep = verify(l);
	assert_true(rep.ok);
	assert_int_equal(rep.records, 5);
	assert_int_equal(rep.last_seq, 5);
	assert_memory_equal(rep.head, l->hash[5], FWA_HASH_LEN);
	assert_int_equal(fwa_verify(l->path, 3, l->hash[3], &rep), CL_OK);
	assert_true(rep.ok);
}

static void detects_edit(void **state)
{
	lx *l = *state;
	cl_buf b;
	load(l, &b);
	b.data[l->off[3] + 2 + 60] ^= 0x01; /* inside record 3's body */
	store(l, b.data, b.len);
	fwa_report rep = verify(l);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 3);
	assert_int_equal(rep.bad_offset, l->off[3]);
	assert_int_equal(rep.records, 2);
	cl_buf_free(&b);
}

static void detects_edit_with_recomputed_hash(void **state)
{
	lx *l = *state;
	cl_buf b;
	load(l, &b);
	/* Change record 2's result and re-hash it: record 3 then no longer chains. */
	size_t body = l->off[2] + 2, n = l->off[3] - l->off[2] - 2 - FWA_HASH_LEN;
	uint8_t tmp[FWA_HASH_LEN + FWA_BODY_MAX];
	b.data[body + 1 + 8 + 8 + 2] = FWG_RES_ACCEPTED;
	memcpy(tmp, l->hash[1], FWA_HASH_LEN);
	memcpy(tmp + FWA_HASH_LEN, b.data + body, n);
	assert_int_equal(cl_sha256(tmp, FWA_HASH_LEN + n, b.data + body + n), CL_OK);
	store(l, b.data, b.len);
	fwa_report rep = verify(l);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 3);
	cl_buf_free(&b);
}

static void detects_deletion(void **state)
{
	lx *l = *state;
	cl_buf b, c;
	load(l, &b);
	cl_buf_init(&c, 1 << 20);
	assert_int_equal(cl_buf_put(&c, b.data, l->off[2]), CL_OK);
	assert_int_equal(cl_buf_put(&c, b.data + l->off[3], b.len - l->off[3]), CL_OK); /* drop record 2 */
	store(l, c.data, c.len);
	fwa_report rep = verify(l);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 2);
	assert_int_equal(rep.bad_offset, l->off[2]);
	cl_buf_free(&b);
	cl_buf_free(&c);
}

static void detects_reorder(void **state)
{
	lx *l = *state;
	cl_buf b, c;
	load(l, &b);
	cl_buf_init(&c, 1 << 20);
	assert_int_equal(cl_buf_put(&c, b.data, l->off[3]), CL_OK);
	assert_int_equal(cl_buf_put(&c, b.data + l->off[4], l->off[5] - l->off[4]), CL_OK); /* 4 */
	assert_int_equal(cl_buf_put(&c, b.data + l->off[3], l->off[4] - l->off[3]), CL_OK); /* 3 */
	assert_int_equal(cl_buf_put(&c, b.data + l->off[5], b.len - l->off[5]), CL_OK);
	store(l, c.data, c.len);
	fwa_report rep = verify(l);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 3);
	cl_buf_free(&b);
	cl_buf_free(&c);
}

static void detects_cut_in_the_middle(void **state)
{
	lx *l = *state;
	cl_buf b, c;
	load(l, &b);
	cl_buf_init(&c, 1 << 20);
	assert_int_equal(cl_buf_put(&c, b.data, l->off[2] + 10), CL_OK); /* 10 bytes of record 2, */
	assert_int_equal(cl_buf_put(&c, b.data + l->off[4], b.len - l->off[4]), CL_OK); /* then 4, 5 */
	store(l, c.data, c.len);
	fwa_report rep = verify(l);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 2);
	cl_buf_free(&b);
	cl_buf_free(&c);
}

static void detects_tail_truncation_against_anchor(void **state)
{
	lx *l = *state;
	cl_buf b;
	fwa_report rep;
	load(l, &b);
	store(l, b.data, l->off[4]); /* records 4 and 5 gone, cleanly */
	assert_true(verify(l).ok);   /* the chain alone cannot see it... */
	assert_int_equal(fwa_verify(l->path, 5, l->hash[5], &rep), CL_OK);
	assert_false(rep.ok); /* ...the anchor does */
	assert_int_equal(rep.first_bad, 4);
	/* A different log with a record 3 of other content fails its anchor. */
	assert_int_equal(fwa_verify(l->path, 3, l->hash[2], &rep), CL_OK);
	assert_false(rep.ok);
	cl_buf_free(&b);
}

static void torn_tail_is_cut_on_append(void **state)
{
	lx *l = *state;
	cl_buf b;
	fwa_log log;
	fwg_audit_rec r;
	load(l, &b);
	store(l, b.data, l->off[5] + 7); /* a crash in the middle of appending record 5 */
	fwa_report rep = verify(l);
	assert_false(rep.ok);
	assert_int_equal(rep.first_bad, 5);
	assert_int_equal(fwa_open(l->path, &log), CL_OK);
	rec_fill(&r, 9);
	assert_int_equal(fwa_append(&log, &r), CL_OK);
	assert_int_equal(r.seq, 5);
	fwa_close(&log);
	rep = verify(l);
	assert_true(rep.ok);
	assert_int_equal(rep.records, 5);
	cl_buf_free(&b);
}

static void append_refuses_after_tampering(void **state)
{
	lx *l = *state;
	cl_buf b;
	fwa_log log;
	fwg_audit_rec r;
	load(l, &b);
	b.data[l->off[4] + 20] ^= 0x20;
	store(l, b.data, b.len);
	assert_int_equal(fwa_open(l->path, &log), CL_OK);
	rec_fill(&r, 9);
	assert_int_equal(fwa_append(&log, &r), CL_EPROTO);
	fwa_close(&log);
	cl_buf c;
	load(l, &c);
	assert_int_equal(c.len, b.len); /* nothing appended */
	cl_buf_free(&b);
	cl_buf_free(&c);
}

static void codec_round_trip_and_strictness(void **state)
{
	(void)state;
	fwg_audit_rec r, back;
	cl_buf b;
	rec_fill(&r, 7);
	r.seq = 7;
	cl_buf_init(&b, FWA_BODY_MAX);
	assert_int_equal(fwa_encode(&r, &b), CL_OK);
	assert_int_equal(fwa_decode(b.data, b.len, &back), CL_OK);
	assert_int_equal(back.seq, 7);
	assert_string_equal(back.version, "1.7");
	assert_string_equal(back.detail, "record 7");
	assert_int_equal(back.input_len, 1007);
	assert_int_equal(fwa_decode(b.data, b.len - 1, &back), CL_EINVAL); /* truncated */
	assert_int_equal(cl_buf_put_u8(&b, 0), CL_OK);
	assert_int_equal(fwa_decode(b.data, b.len, &back), CL_EINVAL); /* trailing */
	b.len--;
	b.data[0] = 2;
	assert_int_not_equal(fwa_decode(b.data, b.len, &back), CL_OK); /* unknown format */
	b.data[0] = 1;
	/* Non-printable detail is refused by the encoder. */
	cl_buf_reset(&b);
	r.detail[0] = '\n';
	assert_int_equal(fwa_encode(&r, &b), CL_EINVAL);
	/* Identity bytes without the flag are not canonical. */
	rec_fill(&r, 7);
	r.has_id = false;
	cl_buf_reset(&b);
	assert_int_equal(fwa_encode(&r, &b), CL_OK);
	size_t vend = 1 + 8 + 8 + 4 + 2 + 1 + strlen(r.addr) + 1;
	b.data[vend] = 1;
	assert_int_equal(fwa_decode(b.data, b.len, &back), CL_EINVAL);
	cl_buf_free(&b);
}

/* Open intents: seen by a second handle (another process), closed by the
 * next record for the same device whoever appends it, kept apart per device. */
static void open_intents_tracked_across_handles(void **state)
{
	lx *l = *state;
	fwa_log a, b;
	fwg_audit_rec r;
	assert_int_equal(fwa_open(l->path, &a), CL_OK);
	assert_int_equal(fwa_open(l->path, &b), CL_OK);
	assert_int_equal(fwa_sync(&a), CL_OK);
	assert_int_equal(a.nopen, 0);
	rec_fill(&r, 6);
	r.result = FWG_RES_INTENT;
	snprintf(r.detail, sizeof(r.detail), "gen 7");
	assert_int_equal(fwa_append(&a, &r), CL_OK);
	assert_int_equal(a.nopen, 1);
	rec_fill(&r, 7);
	snprintf(r.addr, sizeof(r.addr), "0000:65:00.0");
	r.result = FWG_RES_INTENT;
	assert_int_equal(fwa_append(&a, &r), CL_OK);
	assert_int_equal(a.nopen, 2);
	/* b catches up: both intents open, in log order. */
	assert_int_equal(fwa_sync(&b), CL_OK);
	assert_int_equal(b.nopen, 2);
	assert_int_equal(b.open[0].seq, 6);
	assert_string_equal(b.open[0].detail, "gen 7");
	assert_string_equal(b.open[1].addr, "0000:65:00.0");
	/* An outcome for the NIC (appended through b) closes only the NIC's. */
	rec_fill(&r, 8);
	r.result = FWG_RES_REFUSED;
	assert_int_equal(fwa_append(&b, &r), CL_OK);
	assert_int_equal(b.nopen, 1);
	assert_string_equal(b.open[0].addr, "0000:65:00.0");
	assert_int_equal(fwa_sync(&a), CL_OK);
	assert_int_equal(a.nopen, 1);
	assert_int_equal(a.open[0].seq, 7);
	/* A fresh handle rebuilds the same from the file. */
	fwa_close(&b);
	assert_int_equal(fwa_open(l->path, &b), CL_OK);
	assert_int_equal(fwa_sync(&b), CL_OK);
	assert_int_equal(b.nopen, 1);
	assert_int_equal(b.open[0].seq, 7);
	fwa_close(&a);
	fwa_close(&b);
}

/* ---- the watch: a handle that verified the log notices every way of
 * changing it behind its back, and names the first record that differs ---- */

/* A handle that has verified records 1..5 (the running agent's view). */
static void watching(lx *l, fwa_log *a)
{
	assert_int_equal(fwa_open(l->path, a), CL_OK);
	assert_int_equal(fwa_sync(a), CL_OK);
	assert_int_equal(a->seq, 5);
	assert_false(a->tampered);
}

/* a's next check fails closed at bad_seq: sync refused, nothing appended,
 * nothing listed; sticky. */
static void caught(lx *l, fwa_log *a, uint64_t bad_seq)
{
	fwg_audit_rec r;
	cl_buf before, after;
	load(l, &before);
	assert_int_equal(fwa_sync(a), CL_EPROTO);
	assert_true(a->tampered);
	assert_int_equal(a->bad_seq, bad_seq);
	rec_fill(&r, 42);
	assert_int_equal(fwa_append(a, &r), CL_EPROTO);
	assert_int_equal(fwa_each_after(a, 0, 100, NULL, NULL), CL_EPROTO);
	load(l, &after);
	assert_int_equal(after.len, before.len);
	assert_memory_equal(after.data, before.data, after.len);
	assert_int_equal(fwa_sync(a), CL_EPROTO); /* sticky */
	cl_buf_free(&before);
	cl_buf_free(&after);
	fwa_close(a);
}

/* Cuts the log after record keep and appends n new records through a fresh
 * handle (which sees nothing wrong: it never saw the old ones). */
static void cut_and_regrow(lx *l, int keep, int n)
{
	cl_buf b;
	fwa_log w;
	load(l, &b);
	store_inplace(l, b.data, l->off[keep + 1]);
	cl_buf_free(&b);
	assert_int_equal(fwa_open(l->path, &w), CL_OK);
	for (int i = 0; i < n; i++) {
		fwg_audit_rec r;
		rec_fill(&r, 20 + i);
		assert_int_equal(fwa_append(&w, &r), CL_OK);
	}
	fwa_close(&w);
}

static void watch_catches_edit(void **state)
{
	lx *l = *state;
	fwa_log a;
	cl_buf b;
	watching(l, &a);
	load(l, &b);
	b.data[l->off[3] + 2 + 60] ^= 0x01;
	store_inplace(l, b.data, b.len);
	caught(l, &a, 3);
	cl_buf_free(&b);
}

/* A forger who re-chains every record after the edit leaves a consistent
 * chain: the running handle still sees that record 3 is not the one it
 * verified; a fresh handle needs the anchor. */
static void watch_catches_edit_with_rehashed_chain(void **state)
{
	lx *l = *state;
	fwa_log a, fresh;
	cl_buf b;
	watching(l, &a);
	load(l, &b);
	uint8_t prev[FWA_HASH_LEN];
	memcpy(prev, l->hash[2], FWA_HASH_LEN);
	b.data[l->off[3] + 2 + 1 + 8 + 8 + 2] = FWG_RES_EVENT; /* record 3 (accepted) now says event */
	for (int i = 3; i <= 5; i++) {
		size_t body = l->off[i] + 2, n = l->off[i + 1] - l->off[i] - 2 - FWA_HASH_LEN;
		uint8_t tmp[FWA_HASH_LEN + FWA_BODY_MAX];
		memcpy(tmp, prev, FWA_HASH_LEN);
		memcpy(tmp + FWA_HASH_LEN, b.data + body, n);
		assert_int_equal(cl_sha256(tmp, FWA_HASH_LEN + n, b.data + body + n), CL_OK);
		memcpy(prev, b.data + body + n, FWA_HASH_LEN);
	}
	store_inplace(l, b.data, b.len);
	assert_true(verify(l).ok); /* the chain alone is fine */
	caught(l, &a, 3);
	assert_int_equal(fwa_open(l->path, &fresh), CL_OK);
	assert_int_equal(fwa_sync(&fresh), CL_OK); /* a fresh handle cannot tell ... */
	fwa_close(&fresh);
	assert_int_equal(fwa_open(l->path, &fresh), CL_OK);
	fwa_anchor(&fresh, 5, l->hash[5]);
	assert_int_equal(fwa_sync(&fresh), CL_EPROTO); /* ... the anchor can */
	assert_int_equal(fresh.bad_seq, 5);
	fwa_close(&fresh);
	cl_buf_free(&b);
}

static void watch_catches_deletion(void **state)
{
	lx *l = *state;
	fwa_log a;
	cl_buf b, c;
	watching(l, &a);
	load(l, &b);
	cl_buf_init(&c, 1 << 20);
	assert_int_equal(cl_buf_put(&c, b.data, l->off[3]), CL_OK);
	assert_int_equal(cl_buf_put(&c, b.data + l->off[4], b.len - l->off[4]), CL_OK);
	store_inplace(l, c.data, c.len);
	caught(l, &a, 3);
	cl_buf_free(&b);
	cl_buf_free(&c);
}

static void watch_catches_reorder(void **state)
{
	lx *l = *state;
	fwa_log a;
	cl_buf b, c;
	watching(l, &a);
	load(l, &b);
	cl_buf_init(&c, 1 << 20);
	assert_int_equal(cl_buf_put(&c, b.data, l->off[2]), CL_OK);
	assert_int_equal(cl_buf_put(&c, b.data + l->off[3], l->off[4] - l->off[3]), CL_OK); /* 3 */
	assert_int_equal(cl_buf_put(&c, b.data + l->off[2], l->off[3] - l->off[2]), CL_OK); /* 2 */
	assert_int_equal(cl_buf_put(&c, b.data + l->off[4], b.len - l->off[4]), CL_OK);
	store_inplace(l, c.data, c.len);
	caught(l, &a, 2);
	cl_buf_free(&b);
	cl_buf_free(&c);
}

static void watch_catches_truncation(void **state)
{
	lx *l = *state;
	fwa_log a, fresh;
	cl_buf b;
	watching(l, &a);
	load(l, &b);
	store_inplace(l, b.data, l->off[4]); /* records 4 and 5 gone, cleanly */
	caught(l, &a, 4);
	/* A fresh handle with the control plane's anchor. */
	assert_int_equal(fwa_open(l->path, &fresh), CL_OK);
	fwa_anchor(&fresh, 5, l->hash[5]);
	assert_int_equal(fwa_sync(&fresh), CL_EPROTO);
	assert_int_equal(fresh.bad_seq, 4);
	fwa_close(&fresh);
	cl_buf_free(&b);
}

/* Cut after record 2 and regrown past the old end: a chain that verifies,
 * longer than before, with new records 3.. — the running handle names
 * record 3; a fresh one with the anchor (5) sees record 5 replaced. */
static void watch_catches_truncation_and_regrowth(void **state)
{
	lx *l = *state;
	fwa_log a, fresh;
	watching(l, &a);
	cut_and_regrow(l, 2, 4);
	fwa_report rep = verify(l);
	assert_true(rep.ok);
	assert_int_equal(rep.last_seq, 6);
	caught(l, &a, 3);
	assert_int_equal(fwa_open(l->path, &fresh), CL_OK);
	fwa_anchor(&fresh, 5, l->hash[5]);
	assert_int_equal(fwa_sync(&fresh), CL_EPROTO);
	assert_int_equal(fresh.bad_seq, 5);
	fwa_close(&fresh);
}

/* Another file renamed over the log (the handle's file is no longer what
 * the name shows): a replacement, even of identical records; a
 * replacement with other records names the first that differs. */
static void watch_catches_replacement(void **state)
{
	lx *l = *state;
	fwa_log a;
	cl_buf b;
	watching(l, &a);
	load(l, &b);
	store(l, b.data, b.len); /* same bytes, new file */
	assert_int_equal(fwa_sync(&a), CL_EPROTO);
	assert_string_equal(a.why, "the log file was replaced (same records)");
	fwa_close(&a);
	watching(l, &a);
	b.data[l->off[4] + 2 + 60] ^= 0x01;
	store(l, b.data, b.len);
	caught(l, &a, 4);
	cl_buf_free(&b);
}

/* What is not tampering: appends by another handle, a torn final record, an
 * anchor the log holds. Records after a seq come with their prev. */
static int count_each(const fwg_audit_rec *r, void *ctx)
{
	uint64_t *seen = ctx;
	assert_int_equal(r->seq, seen[0] + 1);
	assert_memory_equal(r->prev, (const uint8_t *)&seen[1], FWA_HASH_LEN);
	seen[0] = r->seq;
	memcpy(&seen[1], r->hash, FWA_HASH_LEN);
	return 0;
}

static void watch_accepts_appends_torn_tail_and_anchor(void **state)
{
	lx *l = *state;
	fwa_log a, w;
	fwg_audit_rec r;
	cl_buf b;
	watching(l, &a);
	fwa_anchor(&a, 5, l->hash[5]);
	assert_int_equal(fwa_open(l->path, &w), CL_OK);
	rec_fill(&r, 6);
	assert_int_equal(fwa_append(&w, &r), CL_OK);
	fwa_close(&w);
	assert_int_equal(fwa_sync(&a), CL_OK);
	assert_int_equal(a.seq, 6);
	load(l, &b); /* a crash halfway through appending record 7 */
	assert_int_equal(cl_buf_put(&b, "\x00\x40\x01\x02\x03", 5), CL_OK);
	store_inplace(l, b.data, b.len);
	rec_fill(&r, 7);
	assert_int_equal(fwa_append(&a, &r), CL_OK);
	assert_int_equal(r.seq, 7);
	assert_true(verify(l).ok);
	/* the records after 3, in order, each with the previous one's hash */
	uint64_t seen[1 + FWA_HASH_LEN / 8];
	seen[0] = 3;
	memcpy(&seen[1], l->hash[3], FWA_HASH_LEN);
	assert_int_equal(fwa_each_after(&a, 3, 100, count_each, seen), CL_OK);
	assert_int_equal(seen[0], 7);
	seen[0] = 3;
	memcpy(&seen[1], l->hash[3], FWA_HASH_LEN);
	assert_int_equal(fwa_each_after(&a, 3, 2, count_each, seen), CL_OK);
	assert_int_equal(seen[0], 5);
	/* an anchor the log does not hold */
	uint8_t other[FWA_HASH_LEN];
	memcpy(other, l->hash[5], FWA_HASH_LEN);
	other[0] ^= 1;
	fwa_anchor(&a, 5, other);
	assert_int_equal(fwa_sync(&a), CL_EPROTO);
	assert_int_equal(a.bad_seq, 5);
	fwa_close(&a);
	cl_buf_free(&b);
}

/* More open intents than any device set could leave is a broken log. */
static void too_many_open_intents_refused(void **state)
{
	lx *l = *state;
	fwa_log a, b;
	fwg_audit_rec r;
	assert_int_equal(fwa_open(l->path, &a), CL_OK);
	for (int i = 0; i <= FWA_OPEN_MAX; i++) {
		rec_fill(&r, 6 + i);
		snprintf(r.addr, sizeof(r.addr), "0000:%02x:00.0", i);
		r.result = FWG_RES_INTENT;
		assert_int_equal(fwa_append(&a, &r), CL_OK);
	}
	assert_int_equal(fwa_sync(&a), CL_EPROTO);
	assert_int_equal(fwa_open(l->path, &b), CL_OK);
	assert_int_equal(fwa_sync(&b), CL_EPROTO);
	fwa_close(&a);
	fwa_close(&b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(intact_chain_verifies),
		T(detects_edit),
		T(detects_edit_with_recomputed_hash),
		T(detects_deletion),
		T(detects_reorder),
		T(detects_cut_in_the_middle),
		T(detects_tail_truncation_against_anchor),
		T(torn_tail_is_cut_on_append),
		T(append_refuses_after_tampering),
		T(open_intents_tracked_across_handles),
		T(too_many_open_intents_refused),
		T(watch_catches_edit),
		T(watch_catches_edit_with_rehashed_chain),
		T(watch_catches_deletion),
		T(watch_catches_reorder),
		T(watch_catches_truncation),
		T(watch_catches_truncation_and_regrowth),
		T(watch_catches_replacement),
		T(watch_accepts_appends_torn_tail_and_anchor),
		cmocka_unit_test(codec_round_trip_and_strictness),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
