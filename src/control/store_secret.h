/* store_secret.h — the key broker's secrets, release challenges and audit
 * trail in the control plane's store (store_secret.c; migration 8). Times
 * are ms since the epoch. A secret's value is stored only sealed by the
 * monitor (monitor.h ctl_seal, aad "secret/<tenant_id>/<name>"): this layer
 * stores and returns the blob, it never sees the value. */
#ifndef CL_CONTROL_STORE_SECRET_H
#define CL_CONTROL_STORE_SECRET_H

#include <stdint.h>

#include "common/err.h"
#include "control/store.h"

#define CTL_SECRET_VALUE_MAX 4096
/* the value sealed: + version, nonce and tag (CTL_SEAL_OVERHEAD, monitor.h) */
#define CTL_SECRET_SEALED_MAX (CTL_SECRET_VALUE_MAX + 29)
#define CTL_SECRET_POLICY_MAX 2048 /* policy JSON text */
#define CTL_SECRET_NONCE_HEX 64    /* 32 bytes */
#define CTL_SECRET_REASON_MAX 32

typedef struct ctl_secret {
	char name[CTL_ID_MAX];
	char tenant_id[CTL_ID_MAX];
	char enclave_id[CTL_ID_MAX];
	uint8_t sealed[CTL_SECRET_SEALED_MAX]; /* the sealed value: filled only by get with want_sealed */
	size_t sealed_len;
	char policy[CTL_SECRET_POLICY_MAX]; /* {"pcrs":{"0":"<96 hex>",...}} */
	int64_t created_at, updated_at;
} ctl_secret;

typedef struct ctl_secret_event {
	int64_t id;
	char kind[16];                       /* created|policy|deleted|challenge|released|refused */
	char reason[CTL_SECRET_REASON_MAX];  /* a refusal's code, else "" */
	char detail[CTL_MSG_MAX];
	int64_t created_at;
} ctl_secret_event;

/* Inserts s (inside the caller's transaction). CL_ECONFLICT if the name is
 * taken (by any tenant). */
CL_MUST_CHECK cl_err ctl_store_secret_insert(ctl_store *st, const ctl_secret *s);
/* The secret named name into *out; its sealed value only with want_sealed
 * (CL_EINTERNAL if the stored blob is empty or longer than
 * CTL_SECRET_SEALED_MAX). tenant_id NULL: any tenant's. CL_ENOTFOUND if none
 * (or another tenant's). */
CL_MUST_CHECK cl_err ctl_store_secret_get(ctl_store *st, const char *name, const char *tenant_id, bool want_sealed,
					  ctl_secret *out);
/* At most limit of tenant_id's secrets with names after `after` ("" for the
 * first), by name, values not read: *out malloc'd (the caller frees), *n. */
CL_MUST_CHECK cl_err ctl_store_secret_list(ctl_store *st, const char *tenant_id, const char *after, int limit,
					   ctl_secret **out, size_t *n);
/* Replaces the policy (inside the caller's transaction). CL_ENOTFOUND if none. */
CL_MUST_CHECK cl_err ctl_store_secret_set_policy(ctl_store *st, const char *name, const char *policy, int64_t now);
/* Deletes the secret and its challenges (inside the caller's transaction). */
CL_MUST_CHECK cl_err ctl_store_secret_delete(ctl_store *st, const char *name);

/* Records a challenge nonce (hex) for secret valid until expires_at, after
 * dropping challenges that expired before now. *live (may be NULL): the
 * secret's unexpired unused challenges before this one. */
CL_MUST_CHECK cl_err ctl_store_secret_challenge_add(ctl_store *st, const char *secret, const char *nonce_hex,
						    int64_t expires_at, int64_t now, int *live);
/* Consumes the challenge nonce_hex of secret (inside the caller's
 * transaction): CL_OK if it existed, was unused and unexpired at now (it is
 * used now); CL_ENOTFOUND with a detail saying which otherwise. */
CL_MUST_CHECK cl_err ctl_store_secret_challenge_take(ctl_store *st, const char *secret, const char *nonce_hex,
						     int64_t now);

/* Appends an audit event for secret of tenant_id. */
CL_MUST_CHECK cl_err ctl_store_secret_event(ctl_store *st, const char *secret, const char *tenant_id, const char *kind,
					    const char *reason, const char *detail, int64_t now);
/* How many events of kind released|refused secret has since `since`. */
CL_MUST_CHECK cl_err ctl_store_secret_attempts(ctl_store *st, const char *secret, int64_t since, int *n);
/* At most limit of the events of secret (tenant_id's) with ids > after, in
 * order: *out malloc'd (the caller frees), *n. */
CL_MUST_CHECK cl_err ctl_store_secret_events(ctl_store *st, const char *secret, const char *tenant_id, int64_t after,
					     int limit, ctl_secret_event **out, size_t *n);

#endif
