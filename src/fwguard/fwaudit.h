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
 */
#ifndef CL_HOST_FWAUDIT_H
#define CL_HOST_FWAUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "fw/fw.h"

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
	uint8_t hash[FWA_HASH_LEN]; /* filled by parse/append */
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

/* An open log for appending. Caller serialises (the host's lock). */
typedef struct fwa_log {
	int fd;
	uint64_t off;  /* bytes known good */
	uint64_t seq;  /* last seq */
	uint8_t head[FWA_HASH_LEN];
	size_t nopen;                      /* open intents, in log order */
	fwg_audit_rec open[FWA_OPEN_MAX];
	bool open_overflow;                /* more than FWA_OPEN_MAX: fwa_sync refuses */
} fwa_log;

/* Opens (creating with the magic if missing) the log at path. */
CL_MUST_CHECK cl_err fwa_open(const char *path, fwa_log *log);
void fwa_close(fwa_log *log);
/* Appends r (seq and hash assigned here, written back into *r) and fsyncs.
 * Catches up with records other processes appended; a torn final record
 * (crash mid-append) is cut off first. A broken chain refuses (CL_EPROTO):
 * nothing is appended after tampering. */
CL_MUST_CHECK cl_err fwa_append(fwa_log *log, fwg_audit_rec *r);
/* Brings log up to the end of the file (what other processes appended; a
 * torn final record is cut) so that log->open lists the intents that have
 * no outcome record yet. CL_EPROTO on a broken chain or too many open
 * intents; CL_EIO on read errors. Cheap when nothing was appended. */
CL_MUST_CHECK cl_err fwa_sync(fwa_log *log);

#endif
