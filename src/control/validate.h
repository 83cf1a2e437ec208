/* validate.h — request-body validation for the control plane API.
 *
 * Every parser takes a JSON object already decoded by ctl_json_body (which
 * rejects non-objects, duplicate keys and bodies over CTL_JSON_MAX), rejects
 * unknown fields, wrong types and out-of-range values with CL_EINVAL and a
 * detail naming the field (never echoing a secret value), and fills a
 * struct whose string pointers borrow from the JSON object: keep the object
 * alive while using them. Pure functions, no I/O: the fuzz harness drives them.
 */
#ifndef CL_CONTROL_VALIDATE_H
#define CL_CONTROL_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/proto.h"
#include "control/placement.h"

/* The caps both sides of the API agree on live in common/proto.h; these are
 * the control plane's names for them (kept for the files that use them). */
#define CTL_JSON_MAX CL_PROTO_BODY_MAX
#define CTL_MAX_CONSTRAINTS CL_PROTO_CONSTRAINTS_MAX
#define CTL_SEND_MAX CL_PROTO_SEND_MAX     /* decoded bytes per send */
#define CTL_RECV_MAX CL_PROTO_RECV_MAX     /* bytes one recv may ask for */
#define CTL_WAIT_MAX_MS CL_PROTO_WAIT_MAX_MS
#define CTL_MAX_LATENCY 64
#define CTL_MAX_SYNC_ENCLAVES 4096
#define CTL_MAX_SYNC_RESULTS 1024

/* Actions on an enclave; a policy lists those allowed without the access key. */
enum {
	CTL_ACT_DESCRIBE = 1u << 0,
	CTL_ACT_LIST = 1u << 1,
	CTL_ACT_START = 1u << 2,
	CTL_ACT_STOP = 1u << 3,
	CTL_ACT_DESTROY = 1u << 4,
	CTL_ACT_RESIZE = 1u << 5,
	CTL_ACT_SEND = 1u << 6,
	CTL_ACT_RECV = 1u << 7,
	CTL_ACT_LOGS = 1u << 8,
	CTL_ACT_ATTEST = 1u << 9,  /* POST /v1/enclaves/{id}/attestation */
	CTL_ACT_MEASURE = 1u << 10, /* POST /v1/enclaves/{id}/measure (pauses it: never a default) */
	CTL_ACT_PROVISION = 1u << 11, /* POST /v1/enclaves/{id}/provision */
	CTL_ACT_SUSPEND = 1u << 12,   /* POST /v1/enclaves/{id}/suspend */
	CTL_ACT_RESTORE = 1u << 13,   /* POST /v1/enclaves/{id}/restore */
	CTL_ACT_TLS = 1u << 14,       /* POST/DELETE /v1/enclaves/{id}/tls, POST .../tls/rotate */
};
#define CTL_ACT_LAST CTL_ACT_TLS
/* A new enclave's policy when it names none: attestation is public. */
#define CTL_ACT_DEFAULT (CTL_ACT_DESCRIBE | CTL_ACT_LIST | CTL_ACT_ATTEST)

/* Bit for an action name ("describe", "send", ...), 0 if unknown. */
uint32_t ctl_action_bit(const char *name);
/* Name of a single action bit, or "unknown". */
const char *ctl_action_name(uint32_t bit);

/* Names: [a-z0-9][a-z0-9-]{0,62}. */
bool ctl_valid_name(const char *s);
/* Object ids as they appear in paths: [a-z0-9-]{1,63}. */
bool ctl_valid_id(const char *s);

/* Decodes a request body: must be one JSON object of at most CTL_JSON_MAX
 * bytes (CL_ETOOBIG beyond), no duplicate keys. *out owned by caller. */
CL_MUST_CHECK cl_err ctl_json_body(const void *data, size_t len, json_t **out);

typedef struct ctl_create_req {
	const char *name, *image_id, *min_level, *zone, *rack; /* zone/rack NULL if absent */
	int64_t memory_mib, cpus;
	int min_level_rank;
	cl_place_constraint cons[2 * CTL_MAX_CONSTRAINTS];
	size_t ncons;
	uint32_t untrusted_mask;
	bool await_bundle; /* "await_bundle": true */
	bool suspendable;  /* "suspendable": true */
	bool network;      /* "network": true */
	uint16_t expose[CL_PROTO_EXPOSE_MAX]; /* "expose": with network, ascending, distinct */
	uint32_t nexpose;
} ctl_create_req;
CL_MUST_CHECK cl_err ctl_parse_create_enclave(json_t *body, ctl_create_req *out);
CL_MUST_CHECK cl_err ctl_parse_resize(json_t *body, int64_t *memory_mib);

typedef struct ctl_caps {
	const char *level, *zone, *rack; /* zone/rack "" if absent */
	int level_rank;
	int64_t memory_mib, cpus;
	cl_place_latency latency[CTL_MAX_LATENCY];
	size_t nlatency;
} ctl_caps;
/* Validates a capabilities object (see docs/api/hosts-register.md). */
CL_MUST_CHECK cl_err ctl_parse_caps(json_t *caps, ctl_caps *out);

/* POST /v1/hosts/join-tokens: {"level"?: a security level ("software")},
 * the highest level a host registering with the token may claim. *level
 * borrows from body (or is a static "software"); *rank its cl_level_rank. */
CL_MUST_CHECK cl_err ctl_parse_join_token(json_t *body, const char **level, int *rank);

typedef struct ctl_register_req {
	const char *join_token, *name;
	json_t *caps_json; /* borrowed */
	ctl_caps caps;
} ctl_register_req;
CL_MUST_CHECK cl_err ctl_parse_register(json_t *body, ctl_register_req *out);

typedef struct ctl_sync_enclave {
	const char *id, *state, *error; /* error NULL if absent */
	json_t *pcrs; /* borrowed, NULL if absent: checked by ctl_parse_pcrs */
	const char *net_address, *net_host_address; /* "network": dotted quads, NULL if absent */
	int64_t memory_mib, exit_status;
	bool has_exit;
} ctl_sync_enclave;
typedef struct ctl_sync_result {
	const char *op, *data, *error; /* data/error NULL if absent */
	bool ok;
	const char *reason; /* firmware ops: fwg reason name, NULL if absent */
	int64_t audit_seq;  /* firmware ops: the host's audit record, 0 if absent */
} ctl_sync_result;
typedef struct ctl_sync_req {
	int64_t generation, wait_ms;
	json_t *caps_json; /* borrowed, NULL if absent */
	ctl_caps caps;
	ctl_sync_enclave *enclaves; /* malloc'd (bounded by the decoded array) */
	size_t nenclaves;
	ctl_sync_result *results; /* malloc'd */
	size_t nresults;
	json_t *firmware; /* borrowed, NULL if absent; check with ctl_parse_fw_report */
} ctl_sync_req;
CL_MUST_CHECK cl_err ctl_parse_sync(json_t *body, ctl_sync_req *out);
void ctl_sync_req_free(ctl_sync_req *r);

/* {"ok":bool, "data"?:base64 string, "error"?:string, "reason"?:string,
 * "audit_seq"?:int} ("reason"/"audit_seq" are sent for firmware ops). */
CL_MUST_CHECK cl_err ctl_parse_op_result(json_t *body, ctl_sync_result *out);
/* ---- attestation (api_attest.c) ---- */
#define CTL_ATT_NONCE_MAX 512     /* decoded bytes */
#define CTL_ATT_USER_DATA_MAX 512
#define CTL_ATT_PUBKEY_MAX 1024
#define CTL_PCR_INDEX_MAX 15
/* An enclave report's "pcrs": an object of at most 16 keys "0".."15"
 * (decimal, no leading zero), each 96 lower-case hex digits. */
CL_MUST_CHECK cl_err ctl_parse_pcrs(json_t *pcrs);
/* POST /v1/hosts/{id}/attestation-key {"public_key": base64 of 97 bytes,
 * "proof": base64 of 96 bytes}: decoded into point and proof. */
CL_MUST_CHECK cl_err ctl_parse_attest_key(json_t *body, uint8_t point[97], uint8_t proof[96]);
/* POST /v1/enclaves/{id}/attestation {"nonce"?: hex of at most 512 bytes}:
 * the op's fields (nonce as base64; absent: absent) into a new object
 * *fields (the caller's). "public_key" or "user_data" is CL_EINVAL: only
 * the enclave sets them (its secure-module socket). */
CL_MUST_CHECK cl_err ctl_parse_attest_req(json_t *body, json_t **fields);

/* {"data": base64} of at most CTL_SEND_MAX decoded bytes; *n = decoded length. */
CL_MUST_CHECK cl_err ctl_parse_send(json_t *body, const char **data_b64, size_t *n);
/* {"max"?: 1..CTL_RECV_MAX (default CL_PROTO_RECV_DEFAULT), "wait_ms"?: 0..CTL_WAIT_MAX_MS (0)}. */
CL_MUST_CHECK cl_err ctl_parse_recv(json_t *body, int64_t *max, int64_t *wait_ms);
/* {"name": name}. */
CL_MUST_CHECK cl_err ctl_parse_tenant(json_t *body, const char **name);
/* Token lifetimes (POST /v1/tokens "ttl"): the default and the longest. */
#define CTL_TOKEN_TTL_DEFAULT_S (90ll * 86400)
#define CTL_TOKEN_TTL_MAX_S (365ll * 86400)
/* {"tenant_id": id, "name": name, "kind"?: "admin"|"tenant"|"engineer"|"metrics",
 * "ttl"?: a lifetime for ctl_parse_ttl}; *kind is NULL when absent (the
 * tenant decides: provider = admin), *ttl_s 0 when absent (the default). */
CL_MUST_CHECK cl_err ctl_parse_token_req(json_t *body, const char **tenant_id, const char **name,
					 const char **kind, int64_t *ttl_s);
/* A token lifetime "<N><unit>": N decimal digits without a leading zero, unit
 * s, m, h or d ("90s", "12h", "30d"); 1 s .. CTL_TOKEN_TTL_MAX_S (365 d).
 * *seconds receives it. CL_EINVAL with a detail otherwise. */
CL_MUST_CHECK cl_err ctl_parse_ttl(const char *s, int64_t *seconds);

/* ---- validate_fw.c: the sync request's "firmware" object ---- */
#define CTL_FW_DEVICES_MAX 64
#define CTL_FW_AUDIT_MAX 256 /* records per sync; the host sends the rest next time */

typedef struct ctl_fw_audit_in {
	int64_t seq;
	const char *hash, *prev; /* 64 lower-case hex each */
	json_t *rec;             /* borrowed: the whole record object */
} ctl_fw_audit_in;

typedef struct ctl_fw_report {
	bool eligible, quarantined, window_open;
	int64_t power_cycle; /* 0 if absent (an agent before power cycle counts) */
	json_t *devices; /* borrowed array (validated), never NULL after success */
	ctl_fw_audit_in audit[CTL_FW_AUDIT_MAX];
	size_t naudit; /* audit[] in strictly increasing seq order */
	bool has_head;        /* "audit_head": the host's verified head */
	int64_t head_seq;
	const char *head_hash; /* 64 lower-case hex, borrowed */
	bool tampered;        /* "audit_tampered": the host found its log tampered with */
	int64_t tampered_seq; /* first record that differs */
	const char *tampered_why; /* printable, borrowed */
} ctl_fw_report;
/* Validates the firmware object of a sync (docs/internals.md "Firmware in the
 * sync protocol"): known keys only, bounded strings and arrays (at most
 * CTL_FW_DEVICES_MAX devices, CTL_FW_AUDIT_MAX audit records), seq strictly
 * increasing, every number in its range (fw/fw_limits.h: what a device can
 * hold is accepted exactly; a legacy uint64 above 2^63 - 1 comes as its
 * decimal string). Fills *out, borrowing from fw. */
CL_MUST_CHECK cl_err ctl_parse_fw_report(json_t *fw, ctl_fw_report *out);
/* True if s is exactly 64 lower-case hex digits. */
bool ctl_valid_hex64(const char *s);

#endif
