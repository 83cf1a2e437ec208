/* ops_priv.h — an op in flight (ops.c), shared with the files that serve
 * a job op's host-token routes (api_suspend.c) only. */
#ifndef CL_CONTROL_OPS_PRIV_H
#define CL_CONTROL_OPS_PRIV_H

#include "control/control.h"
#include "control/state_blob.h"

struct ctl_op {
	ctl_op *next;
	ctl_server *srv;
	char id[CTL_ID_MAX];
	char host_id[CTL_ID_MAX];
	char enclave_id[CTL_ID_MAX];
	char tenant_id[CTL_ID_MAX];
	char kind[16];
	char *data_b64; /* send only */
	json_t *fields; /* attest: the op's parameters (nonce, user_data, public_key), or NULL */
	size_t data_len;
	int64_t max, wait_ms;
	uint64_t deadline_ns; /* monotonic: 504 then */
	bool delivered;       /* sent at least once, awaiting the result */
	bool cancelled;       /* tombstone: the caller went away (req is NULL) */
	bool cancel_sent;     /* the tombstone's id went out in a "cancel" at least once */
	struct evhttp_request *req;
	struct evhttp_connection *conn; /* req's connection, watched (closecb), or NULL */
	struct event *close_ev;         /* watches conn's socket for the caller closing */
	struct event *timer;
	char job_id[CTL_ID_MAX];        /* a job op: its job ("" for a request op) */
	int data_fd;                    /* a job op's data (read-only, unlinked), -1 if none */
	int64_t data_size;
	char data_sha384[97];
	int64_t state_n;        /* suspend/restore: the n of the state key handed out (0: none yet) */
	ctl_state_blob_w *blob; /* suspend: the blob being received (the op's), or NULL */
	bool job_ended;         /* its job already finished (a suspend's at its commit): the op
				 * only awaits the host's result and no longer makes the enclave busy */
};

/* The job op op_id of host_id still in flight (not cancelled), or NULL:
 * borrowed, valid until the op ends (the current callback's end at most). */
ctl_op *ctl_op_job_find(ctl_server *srv, const char *host_id, const char *op_id);
/* The op of job job_id in flight, or NULL (borrowed, as above). */
ctl_op *ctl_op_by_job(ctl_server *srv, const char *job_id);

#endif
