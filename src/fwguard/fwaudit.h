/* fwaudit.h — the firmware guard's audit trail: an append-only,
 * hash-chained file, one fsync per record. Byte layout in
 * docs/firmware-guard.md ("Audit log").
 *
 *   file   = "CLFWAUD1" record*
 *   record = u16 BE body_len | body | hash[32]
 *   hash   = SHA-256(prev_hash || body), prev_hash of record 1 = 32 zero bytes
 *
 * The chain proves edits, deletions, reorders and cuts in the middle; a
 * cut at the very end is only visible against an anchor (a (seq, hash)
 * seen earlier, e.g. by the control plane), which fwa_verify accepts.
 *
 * An open log (fwa_log) is a watch over the file as well as its appender:
 * before every append and every fwa_sync it checks that the bytes it
 * verified before are unchanged (one SHA-256 over them, compared with the
 * digest kept when they were verified), walks only what was appended since,
 * and checks the anchor. Anything else (an edit in place, a deletion, a
 * reorder, a cut, a cut and regrowth, a log that no longer holds the
 * anchor) marks the log tampered for the life of the handle: nothing is
 * appended any more, and the first record that differs from what was
 * verified is reported.
 */
#ifndef CL_HOST_FWAUDIT_H
#define CL_HOST_FWAUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "fw/fw_verify.h"

#define FWA_MAGIC "CLFWAUD1"
#define FWA_MAGIC_LEN 8
#define FWA_HASH_LEN 32
#define FWA_DETAIL_MAX 127
#define FWA_BODY_MAX 320
#define FWA_FORMAT 1

/* One decoded record. Strings NUL-terminated. */
typedef struct fwg_audit_rec {
	uint64_t seq;     /* 1, 2, ... */
	uint64_t time_ms; /* wall clock */
	uint8_t op;       /* fwg_op */
	uint8_t source;   /* fwg_source */
	uint8_t result;   /* fwg_result */
	uint8_t action;   /* fwg_action taken */
	uint16_t reason;  /* fwg_reason */
	char addr[32];    /* device bus address, "" for host-level events */
	bool has_id;      /* the input parsed as a bundle: identity below (as claimed) */
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
	uint64_t sequence;
	char version[FW_MAX_STR + 1];
	uint8_t digest8[8]; /* first 8 bytes of the manifest's SHA-384 image digest */
	uint32_t input_len;
	char detail[FWA_DETAIL_MAX + 1];
	uint8_t hash[FWA_HASH_LEN]; /* filled by walk/append (not encoded) */
	uint8_t prev[FWA_HASH_LEN]; /* the previous record's hash, likewise */
} fwg_audit_rec;

/* Canonical body bytes of r (hash not included) appended to out. Refuses
 * non-printable or over-long strings (CL_EINVAL). */
CL_MUST_CHECK cl_err fwa_encode(const fwg_audit_rec *r, cl_buf *out);
/* Strictly decodes exactly one body (len bytes); trailing bytes, unknown
 * format, bad strings or non-zero identity fields without has_id refuse. */
CL_MUST_CHECK cl_err fwa_decode(const uint8_t *body, size_t len, fwg_audit_rec *r);

/* Walks a whole log image in memory, checking framing, decoding, seq = 1,2,..
 * and the hash chain. Calls each(rec, ctx) for every good record (may be
 * NULL; a non-zero return stops the walk with CL_OK). */
typedef struct fwa_report {
	bool ok;
	uint64_t records;        /* good records before the first bad one */
	uint64_t first_bad;      /* seq expected at the first bad record (0 if ok) */
	uint64_t bad_offset;     /* its byte offset */
	char why[96];
	uint64_t last_seq;       /* of the last good record */
	uint8_t head[FWA_HASH_LEN]; /* its hash (zeros if none) */
	uint64_t good_len;       /* bytes of the file up to the last good record */
} fwa_report;
typedef int (*fwa_each_fn)(const fwg_audit_rec *r, void *ctx);
void fwa_walk(const uint8_t *data, size_t len, fwa_report *rep, fwa_each_fn each, void *ctx);

/* Verifies the file at path. With an anchor (anchor_seq > 0), the log must
 * contain record anchor_seq with exactly anchor_hash (detects truncation of
 * the tail and substitution of the whole file). CL_OK with rep->ok = false
 * when the chain is broken; errors only for I/O. */
CL_MUST_CHECK cl_err fwa_verify(const char *path, uint64_t anchor_seq, const uint8_t *anchor_hash,
				fwa_report *rep);

/* Intents (result FWG_RES_INTENT) not yet followed by another record for
 * the same device address: the change they announce has no outcome yet.
 * One per address; a log with more distinct open addresses than this is
 * treated as broken (the model never writes one). */
#define FWA_OPEN_MAX 16

/* An open log for appending, and the watch over its file. Caller
 * serialises (the host's lock). */
typedef struct fwa_log {
	int fd;
	char *path;    /* malloc'd: a file renamed over it is a replacement */
	uint64_t off;  /* bytes verified: [0, off) */
	uint64_t seq;  /* last verified seq */
	uint8_t head[FWA_HASH_LEN];
	uint8_t prefix[FWA_HASH_LEN];   /* SHA-256 of the file's bytes [0, off) when verified */
	void *pctx;                      /* EVP_MD_CTX at off (appends extend it) */
	uint8_t (*hashes)[FWA_HASH_LEN]; /* hash of record i + 1, i < seq (malloc'd) */
	uint64_t *offs;                  /* byte offset of record i + 1 (malloc'd) */
	size_t cap;                      /* entries allocated in both */
	uint64_t anchor_seq;             /* 0 = none */
	uint8_t anchor_hash[FWA_HASH_LEN];
	bool tampered;                   /* sticky: nothing is appended any more */
	uint64_t bad_seq;                /* first record that differs */
	char why[96];
	size_t nopen;                      /* open intents, in log order */
	fwg_audit_rec open[FWA_OPEN_MAX];
	bool open_overflow;                /* more than FWA_OPEN_MAX: fwa_sync refuses */
} fwa_log;

/* Opens (creating with the magic if missing) the log at path. Nothing is
 * read until the first append or sync. fwa_close frees. */
CL_MUST_CHECK cl_err fwa_open(const char *path, fwa_log *log);
void fwa_close(fwa_log *log);
/* Sets the anchor (seq 0 = none): from the next check on, the log must hold
 * record seq with exactly hash. */
void fwa_anchor(fwa_log *log, uint64_t seq, const uint8_t hash[FWA_HASH_LEN]);
/* Appends r (seq, hash and prev assigned here, written back into *r) and
 * fsyncs, after the check fwa_sync does. A torn final record (crash
 * mid-append) is cut off first. Tampering refuses (CL_EPROTO): nothing is
 * appended after it. */
CL_MUST_CHECK cl_err fwa_append(fwa_log *log, fwg_audit_rec *r);
/* Checks the file (the verified bytes unchanged, new records chained, the
 * anchor held), brings log up to its end (what other processes appended; a
 * torn final record is cut) so that log->open lists the intents that have
 * no outcome record yet. CL_EPROTO when tampered (log->why, log->bad_seq)
 * or with too many open intents; CL_EIO on read errors. One SHA-256 pass
 * over the verified bytes plus a walk of the new ones. */
CL_MUST_CHECK cl_err fwa_sync(fwa_log *log);
/* Calls each(rec, ctx) for the verified records with seq > after, in
 * order, at most max of them (each's non-zero return stops). Reads from
 * the record after `after` on; call right after a successful fwa_sync.
 * CL_EPROTO if the bytes no longer decode as verified. */
CL_MUST_CHECK cl_err fwa_each_after(fwa_log *log, uint64_t after, size_t max, fwa_each_fn each, void *ctx);

#endif
