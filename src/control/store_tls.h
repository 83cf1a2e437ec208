/* store_tls.h — host-terminated TLS in the store (migration 13,
 * docs/tls.md "Credentials: the job and its steps"): the steps of a job and
 * each enclave's TLS credential. The store holds public material only
 * (policy, certificate chain, serial); a guest's private key never leaves
 * its host's key holder. Call inside the caller's transaction where a
 * function changes rows; rows are fixed-size copies unless said. */
#ifndef CL_CONTROL_STORE_TLS_H
#define CL_CONTROL_STORE_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "control/store.h"

/* ---- job steps ---- */
#define CTL_STEP_NAME_MAX 32
#define CTL_STEP_DETAIL_MAX 256
#define CTL_JOB_STEPS_MAX 32 /* a job records at most this many; more is CL_ELIMIT */

typedef struct ctl_job_step {
	int64_t seq; /* 1, 2, ... in the order recorded */
	char name[CTL_STEP_NAME_MAX];
	char state[8]; /* "done" | "failed" */
	char detail[CTL_STEP_DETAIL_MAX];
	int64_t at; /* ms */
} ctl_job_step;

/* Appends a step to job_id (seq = the count so far + 1). failed marks the
 * step that did not happen (detail: why). CL_ELIMIT past CTL_JOB_STEPS_MAX. */
CL_MUST_CHECK cl_err ctl_store_step_add(ctl_store *st, const char *job_id, const char *name, bool failed,
					const char *detail, int64_t at_ms);
/* The steps of job_id in order: *out malloc'd (caller frees; NULL with
 * *n 0 for none). */
CL_MUST_CHECK cl_err ctl_store_step_list(ctl_store *st, const char *job_id, ctl_job_step **out, size_t *n);
/* How many steps job_id has. */
CL_MUST_CHECK cl_err ctl_store_step_count(ctl_store *st, const char *job_id, int64_t *n);

/* ---- credentials ---- */
#define CTL_TLS_POLICY_MAX 2048 /* a policy's JSON text (validated: api_tls_policy.c) */
#define CTL_TLS_SANS_MAX 1025   /* comma-separated names, the monitor's bound (1024) */
#define CTL_TLS_CHAIN_MAX 16384 /* a chain's PEM text: leaf, then the CA certificates */

/* state: "enabling" (the first job runs), "enabled", "failed" (the enable
 * failed: nothing serves), "disabled". A row with state "disabled" and no
 * certificate is what an enclave without a row reads as. */
#define CTL_TLS_ENDPOINTS_MAX 256

typedef struct ctl_tls_cred {
	char enclave_id[CTL_ID_MAX];
	char tenant_id[CTL_ID_MAX];
	char state[16];
	char policy[CTL_TLS_POLICY_MAX]; /* JSON object text; "" before any enable */
	int64_t generation;              /* served (0: none) */
	char serial[41];                 /* lower-case hex, "" none */
	char subject[CTL_MSG_MAX];
	char sans[CTL_TLS_SANS_MAX];
	char issuer[CTL_MSG_MAX];
	int64_t not_after; /* unix seconds, 0 none */
	char chain[CTL_TLS_CHAIN_MAX];
	/* the last generation a job tried (generations only grow: a slot name
	 * is never reused), and the job in flight's policy and certificate
	 * ("" when none is in flight) */
	int64_t pending_gen;
	char pending_policy[CTL_TLS_POLICY_MAX];
	char pending_chain[CTL_TLS_CHAIN_MAX];
	char pending_serial[41];
	int64_t pending_not_after;
	char job_id[CTL_ID_MAX]; /* the last job ("" none) */
	char error[CTL_MSG_MAX]; /* why the last job failed ("" none) */
	int64_t updated_at;      /* ms */
	char endpoints[CTL_TLS_ENDPOINTS_MAX]; /* "ADDR:PORT,..." the host serves it on ("" none) */
} ctl_tls_cred;

/* The credential of enclave_id into *out (~40 KiB: callers heap-allocate
 * it). CL_ENOTFOUND if the enclave never had TLS. */
CL_MUST_CHECK cl_err ctl_store_tls_get(ctl_store *st, const char *enclave_id, ctl_tls_cred *out);
/* Inserts or replaces c (every column) and its endpoints (table tls_endpoints). */
CL_MUST_CHECK cl_err ctl_store_tls_put(ctl_store *st, const ctl_tls_cred *c);
/* Deletes enclave_id's credential (none is fine): the enclave is destroyed. */
CL_MUST_CHECK cl_err ctl_store_tls_delete(ctl_store *st, const char *enclave_id);
/* At start: the TLS jobs of the previous worker died with their ops: an
 * "enabling" credential becomes "failed" ("interrupted by a control plane
 * restart"), every pending policy and certificate is dropped (a served one
 * stays; pending_gen stays: the generations tried are never reused). */
CL_MUST_CHECK cl_err ctl_store_tls_interrupted(ctl_store *st, int64_t now_ms);

/* Whether enclave_id was created with a network (a row in migration 12's
 * enclave_network; docs/tls.md "Guests") — an enclave without a network
 * cannot have TLS. address (n bytes) gets the guest's address once its host
 * has reported it, else "".
 * CL_ENOTFOUND for an unknown enclave. */
CL_MUST_CHECK cl_err ctl_store_enclave_network(ctl_store *st, const char *enclave_id, bool *network, char *address,
					       size_t n);

#endif
