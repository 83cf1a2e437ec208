/* agent_proto.h — the JSON of the register and sync requests and answers (agent_proto.c,
 * agent_proto_fw.c). Pure.
 */
#ifndef CL_HOST_AGENT_PROTO_H
#define CL_HOST_AGENT_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "host/agent_args.h"
#include "host/agent_reconcile.h"

enum cl_agent_op_kind { CL_OP_SEND = 1, CL_OP_RECV, CL_OP_LOGS, CL_OP_EOF, CL_OP_ATTEST, CL_OP_MEASURE, CL_OP_PROVISION,
		       CL_OP_SUSPEND, CL_OP_RESTORE, CL_OP_TLS_GENERATE, CL_OP_TLS_INSTALL, CL_OP_TLS_REMOVE };

/* Caps of an attest op's fields (decoded bytes): attest/attest.h's. */
#define CL_AGENT_ATT_NONCE_MAX 512
#define CL_AGENT_ATT_USER_DATA_MAX 512
#define CL_AGENT_ATT_PUBKEY_MAX 1024

/* An attest op's inputs, decoded from base64 (has_* false = absent). */
typedef struct cl_agent_att_args {
	bool has_nonce, has_user_data, has_public_key;
	size_t nonce_len, user_data_len, public_key_len;
	uint8_t nonce[CL_AGENT_ATT_NONCE_MAX];
	uint8_t user_data[CL_AGENT_ATT_USER_DATA_MAX];
	uint8_t public_key[CL_AGENT_ATT_PUBKEY_MAX];
} cl_agent_att_args;

/* A provision op's inputs (docs/provisioning.md): the ciphertext's size and
 * SHA-384 (what GET /v1/hosts/{id}/ops/{op}/data must serve) and the
 * SHA-384 of the plaintext tar (for cloister-init's BUNDLE_END). */
typedef struct cl_agent_prov_args {
	uint64_t size;
	char data_sha384[97]; /* lower-case hex */
	uint8_t sha384[48];
} cl_agent_prov_args;

/* A suspend or restore op's inputs (docs/suspend.md): the control plane's
 * 32-byte challenge; a restore's also the blob's n, size and SHA-384 (what
 * GET /v1/hosts/{id}/ops/{op}/data must serve). */
#define CL_AGENT_STATE_NONCE_LEN 32
typedef struct cl_agent_state_args {
	uint8_t nonce[CL_AGENT_STATE_NONCE_LEN];
	int64_t n;      /* restore: >= 1 */
	uint64_t size;  /* restore: the blob's bytes */
	char sha384[97]; /* restore: lower-case hex */
} cl_agent_state_args;

/* The TLS ops' inputs (docs/tls.md "Credentials: the job and its steps",
 * docs/api/hosts-sync.md): a generation (key holder slot
 * tls/<enclave>:<gen>), and per kind: tls_generate the host id the proof
 * names; tls_install the certificate chain (PEM, leaf first) and the
 * policy; tls_remove an optional generation (absent: every one). */
#define CL_AGENT_TLS_GEN_MAX 4294967295u /* the key holder's slot grammar */
#define CL_AGENT_TLS_CHAIN_MAX (48u * 1024) /* PEM bytes (the data plane's CL_DP_CHAIN_MAX) */
#define CL_AGENT_TLS_LIST_MAX 16         /* ports, ips, adapters: each */
#define CL_AGENT_TLS_CIDR_MAX 52         /* "ADDR[/PREFIX]" + NUL (IPv6: 45 + 4) */
#define CL_AGENT_TLS_ADAPTER_MAX 16      /* [a-z][a-z0-9]{0,14} + NUL (IFNAMSIZ) */
#define CL_AGENT_TLS_HEADER_MAX 64       /* an RFC 9110 token (the control plane's bound) */

/* Values as the data plane's enum cl_dp_mode (src/tls/dataplane.h). */
enum cl_agent_tls_mode {
	CL_AGENT_TLS_ALL = 0,
	CL_AGENT_TLS_PORTS = 1,
	CL_AGENT_TLS_IPS = 2,
	CL_AGENT_TLS_ADAPTERS = 3,
	CL_AGENT_TLS_AUTO = 4,
};

/* {"mode","ports","ips","adapters","insecure","header"} as the control
 * plane validated it, checked again field by field. */
typedef struct cl_agent_tls_policy {
	enum cl_agent_tls_mode mode;
	bool insecure_allow; /* "insecure": "allow" (default "reject") */
	uint16_t ports[CL_AGENT_TLS_LIST_MAX];
	size_t nports;
	char ips[CL_AGENT_TLS_LIST_MAX][CL_AGENT_TLS_CIDR_MAX];
	size_t nips;
	char adapters[CL_AGENT_TLS_LIST_MAX][CL_AGENT_TLS_ADAPTER_MAX];
	size_t nadapters;
	char header[CL_AGENT_TLS_HEADER_MAX + 1]; /* "" = no marking */
} cl_agent_tls_policy;

typedef struct cl_agent_tls_args {
	uint32_t gen;                  /* 1..CL_AGENT_TLS_GEN_MAX; 0 = absent (tls_remove only) */
	char host_id[CL_AGENT_ID_MAX]; /* tls_generate */
	char *chain;                   /* tls_install: PEM, NUL-terminated (malloc'd) */
	size_t chain_len;
	cl_agent_tls_policy policy;    /* tls_install */
} cl_agent_tls_args;

typedef struct cl_agent_op {
	char op[CL_AGENT_ID_MAX];
	char enclave[CL_AGENT_ID_MAX];
	char tenant[CL_AGENT_ID_MAX]; /* whose budget it counts against ("" = not given) */
	enum cl_agent_op_kind kind;
	char *data;        /* base64 text for send (malloc'd, may be NULL) */
	uint32_t max;      /* recv/logs: byte cap, <= CL_FRAME_MAX */
	uint32_t wait_ms;  /* recv: wait, <= CL_AGENT_OP_WAIT_MAX */
	uint32_t deadline_ms; /* ms left, when the answer was built, until the result is useless */
	cl_agent_att_args *att; /* attest, measure: its inputs (malloc'd, wiped on free), else NULL */
	cl_agent_prov_args *prov; /* provision: its inputs (malloc'd), else NULL */
	cl_agent_state_args *state; /* suspend, restore: its inputs (malloc'd), else NULL */
	cl_agent_tls_args *tls; /* tls_*: its inputs (malloc'd, chain too), else NULL */
} cl_agent_op;

/* Frees what an op owns (data, att: wiped first) and sets them to NULL. */
void cl_agent_op_clear(cl_agent_op *op);
/* The TLS fields of op object e into op->tls (allocated here; freed by
 * cl_agent_op_clear) for op->kind CL_OP_TLS_*: false if anything is
 * missing, of the wrong type or out of bounds (agent_proto_tls.c). */
bool cl_agent_tls_args_parse(json_t *e, cl_agent_op *op);
/* The policy object into *out (zeroed first): every field checked; an
 * unknown field, a list that does not go with the mode, or an empty one
 * that does, is refused. CL_EINVAL with a detail. */
CL_MUST_CHECK cl_err cl_agent_tls_policy_parse(json_t *v, cl_agent_tls_policy *out);

/* The agent's names for proto.h's caps (common/proto.h). */
#define CL_AGENT_OP_WAIT_MAX CL_PROTO_WAIT_MAX_MS
/* "deadline_ms" is capped at this; an op without one gets wait_ms + CL_AGENT_OP_GRACE_MS. */
#define CL_AGENT_OP_DEADLINE_MAX 600000u
#define CL_AGENT_OP_GRACE_MS 15000u
/* Bytes of data one recv/logs op returns at most: its base64 must fit, with
 * the JSON around it, in the control plane's request-body limit. */
#define CL_AGENT_OP_DATA_MAX CL_PROTO_RECV_MAX

/* Firmware op kinds of the sync answer's "firmware_ops" (docs/internals.md). */
enum cl_agent_fw_kind {
	CL_FWOP_UPDATE = 1,
	CL_FWOP_QUEUE,
	CL_FWOP_POWER_CYCLE,
	CL_FWOP_CLEAR_QUARANTINE,
	CL_FWOP_WINDOW, /* root-signed window policy document */
	CL_FWOP_TRUST,  /* trust-root document */
	CL_FWOP_REVERT,
};

#define CL_AGENT_FW_ADDR_MAX 32  /* bus address incl. NUL (FWG_ADDR_MAX + 1) */
#define CL_AGENT_FW_REASON_MAX 128
#define CL_AGENT_FW_OPS_MAX 4096 /* firmware ops per answer (more rejects the answer) */
#define CL_AGENT_FW_AUDIT_MAX 256 /* audit records shipped per sync */

typedef struct cl_agent_fw_op {
	char op[CL_AGENT_ID_MAX]; /* "fw-..." */
	enum cl_agent_fw_kind kind;
	char device[CL_AGENT_FW_ADDR_MAX]; /* "" for power_cycle / clear_quarantine */
	char *data;                        /* base64 (update, queue, window, trust); malloc'd or NULL */
	char reason[CL_AGENT_FW_REASON_MAX]; /* clear_quarantine: the operator's reason */
} cl_agent_fw_op;

/* The sync answer's "attestation_serial" (docs/internals.md). */
enum cl_agent_att_serial {
	CL_ATT_SERIAL_ABSENT = 0, /* a control plane without attestation: keep what we hold */
	CL_ATT_SERIAL_NULL,       /* no valid certificate for this host: ask for one */
	CL_ATT_SERIAL_SET,        /* att_serial names the newest valid one */
};
#define CL_AGENT_SERIAL_MAX 41 /* lower-case hex, at most 40 digits, + NUL */

typedef struct cl_agent_answer {
	int64_t generation;
	enum cl_agent_att_serial att_serial_state;
	char att_serial[CL_AGENT_SERIAL_MAX];
	bool has_fw_ack;
	int64_t fw_audit_ack; /* firmware_audit_ack: highest audit seq the control plane stored */
	bool has_fw_anchor;   /* firmware_audit_anchor: that record's (seq, hash); seq 0 = none */
	uint64_t fw_anchor_seq;
	uint8_t fw_anchor_hash[32];
	cl_agent_fw_op *fw_ops; /* malloc'd; each op's data malloc'd */
	size_t nfw_ops;
	cl_agent_desired *desired; /* malloc'd */
	size_t ndesired;
	cl_agent_op *ops; /* malloc'd; each op's data malloc'd */
	size_t nops;
	char **bad_ops; /* ids of ops (channel or firmware) that were malformed (answer them with an error) */
	size_t nbad_ops;
	char **cancel; /* ids of channel ops whose caller went away (malloc'd, valid ids only) */
	size_t ncancel;
} cl_agent_answer;

/* Parses a sync answer. The desired set is all-or-nothing: any malformed
 * enclave entry rejects the whole answer (CL_EINVAL, nothing to apply), so a
 * bad answer can never make the agent destroy what runs. A malformed op (in
 * "ops" or "firmware_ops") with a usable id lands in bad_ops; without one it
 * is dropped. An op's "tenant" must be an id when present; its
 * "deadline_ms" an integer >= 0 (capped at CL_AGENT_OP_DEADLINE_MAX). In
 * "cancel" (op ids), entries that are not ids are skipped; a "cancel" that
 * is not an array of at most 4096 rejects the answer. A firmware_audit_ack
 * that is present must be an integer >= 0, a firmware_audit_anchor
 * {"seq": >= 0, "hash": 64 lower-case hex}. An enclave entry's optional
 * "tenant" (an id) and "name" (a name) must be valid when present. An
 * "attestation_serial" that is present must be null or 1..40 hex digits
 * (kept lower-case, leading zeros dropped). An attest op's "nonce" is an
 * optional base64 string within the cap above; an op that carries
 * "user_data" or "public_key" is malformed (only the enclave sets them,
 * through its secure-module socket). */
CL_MUST_CHECK cl_err cl_agent_answer_parse(const char *json, size_t len, cl_agent_answer *out);
/* The firmware part of a parsed answer object (root): firmware_audit_ack and
 * firmware_ops into out (called by cl_agent_answer_parse; appends to
 * out->bad_ops). Errors leave partial allocations in out for
 * cl_agent_answer_free. */
CL_MUST_CHECK cl_err cl_agent_fw_answer_parse(json_t *root, cl_agent_answer *out);
/* Frees what cl_agent_answer_parse allocated and zeroes *a. */
void cl_agent_answer_free(cl_agent_answer *a);
/* Parses the register answer into host_id / host_token (caller buffers). */
CL_MUST_CHECK cl_err cl_agent_register_parse(const char *json, size_t len, char *host_id, size_t idlen,
					     char *token, size_t toklen);
/* Extracts "error.message" (or the raw text, truncated) of an error answer into out. */
void cl_agent_error_message(const char *json, size_t len, char *out, size_t outlen);

#endif
