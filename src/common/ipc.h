/* ipc.h — typed, length-checked request/answer messages between the parts of
 * a privilege-separated program (the OpenSSH monitor pattern).
 *
 * Transport: an AF_UNIX SOCK_SEQPACKET socket (a socketpair made before the
 * fork): one message is one datagram, so there is no framing state that a
 * hostile peer could desynchronise. A message is a 12-byte header followed by
 * the payload; all integers are big-endian:
 *
 *     u16 type | u16 flags | u32 request id | u32 payload length | payload
 *
 * A request has flags 0 and the id after the last one the server consumed on
 * that channel (1, 2, 3 ... mod 2^32): a replayed, duplicated or reordered
 * request is refused. A request with a sound header consumes its id even if
 * it is then refused, so an honest client stays in step; one client object
 * per channel. Its answer repeats type and id and has flag ANSWER;
 * a refusal also has flag ERROR and a 4-byte payload, the cl_err code. Nothing
 * else (no message text) crosses back: the server logs the detail.
 *
 * Payloads are built and read with the cl_buf cursor (common/buf.h) plus the
 * helpers below: every get fails instead of over-reading, strings and byte
 * strings carry their length and a hard maximum.
 *
 * Server side: a table of handlers, one per request type, each a pure
 * `decode` (payload -> a small typed argument struct, no side effect) and a
 * `run` (acts, writes the answer payload). The dispatcher refuses a message
 * longer than the channel's maximum, a bad header, an unknown type, a payload
 * over the handler's maximum, an out-of-order id, and a payload that decode
 * did not consume exactly — all before `run` sees anything.
 *
 * Neither side is thread-safe: one channel per thread, or a lock around it.
 */
#ifndef CL_IPC_H
#define CL_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "common/err.h"

#define CL_IPC_HDR 12
#define CL_IPC_F_ANSWER 0x0001u
#define CL_IPC_F_ERROR 0x0002u
#define CL_IPC_MSG_MAX (64u * 1024) /* hard ceiling of any channel's maximum */
#define CL_IPC_ARGS_MAX 512         /* size of the decode scratch for one request */
#define CL_IPC_STR_MAX 1024         /* longest string cl_ipc_get_str accepts */
#define CL_IPC_FDS_MAX 4            /* descriptors one request may carry (SCM_RIGHTS) */

/* Creates a connected SOCK_SEQPACKET pair (close-on-exec) into fds[2]. */
CL_MUST_CHECK cl_err cl_ipc_pair(int fds[2]);

/* ---------------------------------------------------------------- payload helpers */

/* Appends u16 length + the bytes of s (no NUL). Fails CL_ETOOBIG if strlen(s)
 * > CL_IPC_STR_MAX or the buffer's max is reached. */
CL_MUST_CHECK cl_err cl_ipc_put_str(cl_buf *b, const char *s);
/* Reads a string written by cl_ipc_put_str into out[outsz] (NUL-terminated).
 * Fails CL_EINVAL if truncated, if it holds a NUL byte, or if it does not fit
 * out (outsz - 1 characters at most); the cursor is then unspecified. */
CL_MUST_CHECK cl_err cl_ipc_get_str(cl_buf *b, char *out, size_t outsz);
/* Appends u32 length + n bytes. */
CL_MUST_CHECK cl_err cl_ipc_put_bytes(cl_buf *b, const void *p, size_t n);
/* Reads a byte string written by cl_ipc_put_bytes whose length must be <= max:
 * *p points into b (no copy), *n is its length. Fails CL_EINVAL if truncated
 * or longer than max. */
CL_MUST_CHECK cl_err cl_ipc_get_bytes(cl_buf *b, size_t max, const uint8_t **p, size_t *n);
/* Reads a byte string that must be exactly n bytes long into out. */
CL_MUST_CHECK cl_err cl_ipc_get_fixed(cl_buf *b, void *out, size_t n);
/* CL_OK if every byte of b was read, else CL_EPROTO ("trailing bytes"). */
CL_MUST_CHECK cl_err cl_ipc_get_end(const cl_buf *b);

/* ---------------------------------------------------------------- client */

typedef struct cl_ipc_client {
	int fd;              /* borrowed: the caller closes it */
	uint32_t last_id;    /* id of the last request sent */
	uint32_t max_answer; /* payload cap of an answer, <= CL_IPC_MSG_MAX - CL_IPC_HDR */
	int timeout_ms;      /* per call, > 0 */
} cl_ipc_client;

/* Initialises a client over fd (not owned). max_answer caps answer payloads. */
void cl_ipc_client_init(cl_ipc_client *c, int fd, uint32_t max_answer, int timeout_ms);

/* Sends one request (type, payload req: its whole contents) and waits for its
 * answer at most c->timeout_ms. On success the answer's payload is in ans
 * (reset first, bounded by ans->max; the caller frees it — it may hold a
 * derived key: cl_buf_free wipes). Returns the server's error code when it
 * refused, CL_ETIMEOUT when no answer came in time, CL_EUNAVAIL when the
 * peer closed or died, CL_EPROTO when the answer breaks the protocol. An
 * answer to an earlier, timed-out request is dropped. */
CL_MUST_CHECK cl_err cl_ipc_call(cl_ipc_client *c, uint16_t type, const cl_buf *req, cl_buf *ans);
/* cl_ipc_call that also passes nfds (<= CL_IPC_FDS_MAX) descriptors with the
 * request (SCM_RIGHTS; the caller keeps its own copies). Only a request type
 * whose handler declares max_fds accepts them; any other is refused. */
CL_MUST_CHECK cl_err cl_ipc_call_fds(cl_ipc_client *c, uint16_t type, const cl_buf *req, const int *fds,
				     size_t nfds, cl_buf *ans);

/* Pipelined use (one event loop, several requests in flight on one channel;
 * the server answers them in order). Never mixed with cl_ipc_call on the
 * same client. cl_ipc_send_request sends one request without waiting and
 * gives its id in *id. cl_ipc_recv_answer reads one answer datagram (call it
 * when c->fd is readable: it blocks otherwise) and gives its type and id; the
 * payload is in ans (reset first; the caller frees it) and *refusal is CL_OK,
 * or the server's refusal code for that request. Returns CL_EUNAVAIL when the
 * peer closed, CL_EPROTO when the answer breaks the protocol (the channel is
 * then unusable), CL_ESYS on an I/O error. */
CL_MUST_CHECK cl_err cl_ipc_send_request(cl_ipc_client *c, uint16_t type, const cl_buf *req, uint32_t *id);
CL_MUST_CHECK cl_err cl_ipc_recv_answer(cl_ipc_client *c, uint16_t *type, uint32_t *id, cl_err *refusal,
					cl_buf *ans);

/* ---------------------------------------------------------------- server */

/* Who is at the other end: SO_PEERCRED of the channel. For a socketpair this
 * is the process that created the pair (the parent before its fork), so a
 * server must bind a channel's role to the descriptor it was given, not to
 * these numbers; they are for logs and for sockets that were connect()ed. */
typedef struct cl_ipc_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
} cl_ipc_peer;

/* Decodes a payload into args (CL_IPC_ARGS_MAX bytes of zeroed scratch):
 * reads only, no side effect. The dispatcher then checks nothing was left. */
typedef cl_err (*cl_ipc_decode_fn)(cl_buf *req, void *args);
/* Acts on decoded args; appends the answer payload to ans. ctx is the
 * server's ctx. A returned error becomes a refusal (logged, code sent). */
typedef cl_err (*cl_ipc_run_fn)(void *ctx, const cl_ipc_peer *peer, const void *args, cl_buf *ans);

typedef struct cl_ipc_handler {
	uint16_t type;
	const char *name;    /* for logs */
	uint32_t max_len;    /* payload cap for this type */
	cl_ipc_decode_fn decode;
	cl_ipc_run_fn run;
	uint8_t max_fds;     /* descriptors this type may carry (0: any is refused) */
} cl_ipc_handler;

typedef struct cl_ipc_server {
	int fd;                          /* borrowed */
	const char *name;                /* channel name for logs, e.g. "keyholder/agent" */
	const cl_ipc_handler *handlers;  /* borrowed table */
	size_t nhandlers;
	uint32_t max_msg;                /* whole-message cap (header included) */
	void *ctx;                       /* handed to every run */
	cl_ipc_peer peer;
	uint32_t last_id;                /* highest id accepted so far (0: none yet) */
	uint64_t refused;                /* refusals so far */
	int fds[CL_IPC_FDS_MAX];         /* descriptors of the request being run (-1: none/taken) */
	size_t nfds;
} cl_ipc_server;

/* Initialises a server over fd (not owned) and reads SO_PEERCRED (if fd is not
 * a socket, peer is all -1 and init still succeeds: the fuzzers use that).
 * max_msg is clamped to [CL_IPC_HDR, CL_IPC_MSG_MAX]. */
void cl_ipc_server_init(cl_ipc_server *s, int fd, const char *name, const cl_ipc_handler *handlers,
			size_t nhandlers, uint32_t max_msg, void *ctx);

/* Validates and runs one request given as bytes (no I/O): the decoder the
 * fuzzers drive. Always leaves a complete answer message (header included) in
 * out (reset first) — a refusal if anything was wrong — and returns CL_OK if
 * the request was served, else the refusal's code. A refusal is logged
 * (warn) with the channel, type and reason; never with payload bytes. */
cl_err cl_ipc_server_dispatch(cl_ipc_server *s, const uint8_t *msg, size_t len, cl_buf *out);

/* Blocks until one message arrives on s->fd, dispatches it and sends the
 * answer. Returns CL_OK if it was served or refused-and-answered (the
 * channel stays usable), CL_EUNAVAIL when the peer closed its end, CL_ESYS on
 * an I/O error. Descriptors attached to a message are refused (and closed)
 * unless its type's handler declares max_fds; a run takes the ones it keeps
 * with cl_ipc_server_take_fd, the others are closed after it. */
CL_MUST_CHECK cl_err cl_ipc_server_serve_one(cl_ipc_server *s);

/* Inside a run: takes ownership of the i-th descriptor that came with the
 * request (the caller closes it). -1 if there is none (or it was taken). */
int cl_ipc_server_take_fd(cl_ipc_server *s, size_t i);

#endif
