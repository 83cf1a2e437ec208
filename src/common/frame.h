/* frame.h — the host <-> enclave channel framing.
 *
 * A frame on the wire: u32 big-endian payload length, u8 type, payload.
 * Payload length is capped at CL_FRAME_MAX; a larger declared length is a
 * protocol error and the channel must be closed (never allocate from it).
 * Depends only on libc: cloister-init links this file statically, so its
 * functions return cl_err codes (err.h's enum) without a detail (no
 * cl_errorf, which is not linked there).
 */
#ifndef CL_FRAME_H
#define CL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CL_FRAME_HDR 5
#define CL_FRAME_MAX (1u << 20) /* 1 MiB payload cap */
#define CL_FILES_MAX 4096            /* paths in a FILES list at most */
#define CL_FILES_BYTES (192u << 10)  /* a FILES payload at most (it fits init's output queue) */
#define CL_FILES_TRUNCATED 0x01      /* FILES flags: more than the bounds above; the list is partial */

enum cl_frame_type {
	CL_FRAME_DATA = 1,  /* application data, either direction */
	CL_FRAME_LOG = 2,   /* enclave -> host: application stderr */
	CL_FRAME_EXIT = 3,  /* enclave -> host: payload is i32 BE wait status */
	CL_FRAME_READY = 4, /* enclave -> host: application started (payload empty) */
	CL_FRAME_EOF = 5,   /* host -> enclave: close application stdin */
	/* Agent <-> shim requests and replies (see docs/internals.md). */
	CL_FRAME_RECV = 6,   /* agent -> shim: u32 max bytes, u32 wait ms; reply DATA */
	CL_FRAME_LOGS = 7,   /* agent -> shim: u32 max bytes; reply LOG */
	CL_FRAME_STATUS = 8, /* agent -> shim: empty; reply STATUS with a JSON object */
	CL_FRAME_ERROR = 9,  /* shim -> agent: UTF-8 message */
	CL_FRAME_OK = 10,    /* shim -> agent: request done */
	/* Provisioning (docs/provisioning.md). */
	CL_FRAME_KEY = 11,        /* init -> shim: the enclave's P-384 public point (97 bytes) */
	CL_FRAME_BUNDLE = 12,     /* agent -> shim -> init: a ciphertext chunk (1..1 MiB) */
	CL_FRAME_BUNDLE_END = 13, /* agent -> shim -> init: SHA-384 of the tar (48) + u64 BE ciphertext
				     length; empty: abort (the shim's, when its sender went away) */
	CL_FRAME_EXTEND = 14,     /* init -> shim -> agent: u8 register + SHA-384 (49): installed */
	/* Suspend and restore (docs/suspend.md). */
	CL_FRAME_SUSPEND = 15,   /* agent -> shim -> init: u64 BE n + the wrapped state key */
	CL_FRAME_STATE = 16,     /* a state blob chunk (1..1 MiB): init -> agent (suspend), agent -> init (restore) */
	CL_FRAME_STATE_END = 17, /* as STATE: SHA-384 of the blob (48) + u64 BE length; empty: abort */
	CL_FRAME_RESTORE = 18,   /* agent -> shim -> init: u64 BE n + the wrapped state key */
	CL_FRAME_KEYGEN = 19,    /* agent -> shim -> init: empty; a suspendable enclave's init starts
				    init-bundle and answers KEY (or ERROR with the reason) */
	/* Measure on demand: the application's code and data (docs/measurements.md, PCR5). */
	CL_FRAME_FILES_REQ = 20, /* agent -> shim: u8 1 = ask init now, 0 = the last list; shim -> init: empty */
	CL_FRAME_FILES = 21,     /* init -> shim -> agent: u8 flags (bit 0: truncated) + NUL-terminated paths */
	CL_FRAME_TYPE_MAX = CL_FRAME_FILES,
};

/* Incremental decoder: feed bytes as they arrive, pull whole frames out.
 * The caller owns `buf` (at least CL_FRAME_HDR + CL_FRAME_MAX bytes, or less
 * with a smaller `max`). */
typedef struct cl_frame_dec {
	uint8_t *buf;
	size_t cap;
	size_t off; /* start of unconsumed bytes */
	size_t len; /* end of received bytes */
	uint32_t max; /* payload cap, <= CL_FRAME_MAX */
} cl_frame_dec;

/* Initialises a decoder over caller storage buf[cap]; max = payload cap. */
void cl_frame_dec_init(cl_frame_dec *d, uint8_t *buf, size_t cap, uint32_t max);
/* Space the caller may write into at cl_frame_dec_tail(); then cl_frame_dec_commit(n). */
size_t cl_frame_dec_space(const cl_frame_dec *d);
uint8_t *cl_frame_dec_tail(cl_frame_dec *d);
void cl_frame_dec_commit(cl_frame_dec *d, size_t n);
/* Extracts the next whole frame: CL_OK with *got true and *type, *payload
 * (points into the decoder, valid until the next call), *len set; CL_OK
 * with *got false if more bytes are needed; on a protocol error (the
 * channel must then be closed) CL_ETOOBIG for a declared length over the
 * decoder's max, CL_EPROTO for an unknown type. Call repeatedly until it
 * yields no frame. */
CL_MUST_CHECK cl_err cl_frame_pull(cl_frame_dec *d, bool *got, uint8_t *type, const uint8_t **payload,
				   uint32_t *len);
/* Writes a frame header for a payload of len bytes into hdr. CL_ETOOBIG if
 * len > CL_FRAME_MAX (hdr untouched). */
CL_MUST_CHECK cl_err cl_frame_put_header(uint8_t hdr[CL_FRAME_HDR], uint8_t type, uint32_t len);
/* Blocking helper: writes one whole frame to fd (handles EINTR and short
 * writes). CL_ETOOBIG as above (nothing written), CL_ESYS if a write fails
 * (errno says why; part of the frame may have been written). */
CL_MUST_CHECK cl_err cl_frame_send_fd(int fd, uint8_t type, const void *payload, uint32_t len);

#endif
