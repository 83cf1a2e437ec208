/* dataplane_internal.h — what the data plane's files share (not an API).
 *
 *   dataplane.c        the process: start, walls, the loop, the agent's requests
 *   dataplane_ipc.c    the wire format of the agent's requests (both sides)
 *   dataplane_guest.c  a guest: its SSL_CTX, ticket keys, listeners
 *   dataplane_conn.c   a connection: handshake, relay, deadlines, close
 *   dataplane_kh.c     the pipelined key-holder client and the async sign
 *   dataplane_key.c    the remote key of a guest (the one place that knows
 *                      which remote_key constructor and curve)
 */
#ifndef CL_TLS_DATAPLANE_INTERNAL_H
#define CL_TLS_DATAPLANE_INTERNAL_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "common/secmem.h"
#include "tls/dataplane.h"

#define DP_BUF (16384 + 5)    /* each direction's buffer: one TLS record (auto mode sniffs one) */
#define DP_SIG_MAX 96         /* r || s, P-384 today (64 for P-256) */
#define DP_SLOT_MAX 72
#define DP_MAX_PENDING 4096   /* signatures in flight */

typedef struct dp dp;
typedef struct dp_guest dp_guest;
typedef struct dp_conn dp_conn;

/* A guest's signing context: hung on its SSL_CTX (freed with it), borrowed
 * by the remote key's callback. */
typedef struct dp_signer {
	dp *d;
	char slot[DP_SLOT_MAX + 1];
	size_t sig_len; /* what the slot's curve signs: 64 (P-256) or 96 (P-384); set by dp_key_new */
} dp_signer;

/* Ticket keys: two, the newer encrypts, both decrypt; in locked memory. */
typedef struct dp_ticket_key {
	uint8_t name[16];
	uint8_t aes[32];
	uint8_t hmac[32];
	uint64_t made_ns;
} dp_ticket_key;

typedef struct dp_listener {
	int fd;
	struct event *ev;
	dp_guest *g;
} dp_listener;

struct dp_guest {
	dp_guest *next;
	dp *d;
	char id[CL_DP_ID_MAX + 1];
	uint32_t gen;
	SSL_CTX *ctx;
	struct sockaddr_storage backend;
	socklen_t backend_len;
	char header[CL_DP_HEADER_MAX + 1];
	uint8_t mode, insecure;
	dp_listener ls[CL_DP_LISTENERS_MAX];
	size_t nls;
	cl_secmem tk_mem;     /* two dp_ticket_key: [0] current, [1] previous */
	cl_dp_stats st;
	dp_conn *conns;       /* this guest's connections (doubly linked) */
	unsigned nconns;
};

/* A signature in flight (the key holder answers in order). */
typedef struct dp_pending {
	uint32_t id;
	dp_conn *c;           /* NULL: the connection went away meanwhile */
	uint64_t deadline_ns;
} dp_pending;

struct dp {
	struct event_base *base;
	cl_dp_opts o;
	int agent_fd, kh_fd;
	struct event *agent_ev, *kh_ev, *tick_ev;
	cl_ipc_server agent;
	cl_ipc_client kh;
	bool kh_dead;
	dp_guest *guests;
	unsigned nconns;
	dp_pending *pend;     /* ring of DP_MAX_PENDING */
	size_t pend_head, pend_len;
	bool async;           /* ASYNC_is_capable() */
	dp_conn *cur;         /* the connection whose SSL call is running (one thread) */
	int exit_status;
};

/* dataplane_ipc.c */
extern const cl_ipc_handler dp_handlers[];
extern const size_t dp_nhandlers;
cl_err dp_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* dataplane_guest.c */
dp_guest *dp_guest_find(dp *d, const char *id);
cl_err dp_guest_apply(dp *d, const cl_dp_guest *cfg, int *fds, size_t nfds);
void dp_guest_drop(dp *d, dp_guest *g);
void dp_guests_tick(dp *d);

/* dataplane_conn.c */
void dp_conn_accept(dp_guest *g, int lfd);
/* Closes c (counted under reason unless reason < 0) and frees it. */
void dp_conn_close(dp_conn *c, int reason, const char *detail);
/* The key holder answered c's signature (or failed it): drive it on. */
void dp_conn_resume(dp_conn *c);
dp_guest *dp_conn_guest(const dp_conn *c);
/* The connection's sign state, for dataplane_kh.c. */
typedef struct dp_sign_state {
	int state;            /* 0 idle, 1 pending, 2 done, 3 failed */
	uint8_t sig[DP_SIG_MAX];
	size_t sig_len;
} dp_sign_state;
dp_sign_state *dp_conn_sign(dp_conn *c);

/* dataplane_kh.c */
cl_err dp_kh_sign(dp *d, const char *slot, const uint8_t *digest, size_t len, uint8_t *sig, size_t sig_len);
void dp_kh_readable(evutil_socket_t fd, short what, void *arg);
/* Forgets c in the pending ring (its answer will be dropped). */
void dp_kh_forget(dp *d, dp_conn *c);
void dp_kh_expire(dp *d);

/* dataplane_key.c */
/* The remote EVP_PKEY for leaf's public key, signing through s. */
cl_err dp_key_new(X509 *leaf, dp_signer *s, EVP_PKEY **out);

#endif
