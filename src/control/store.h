/* store.h — the control plane's SQLite store (WAL, synchronous=FULL).
 *
 * One ctl_store wraps one sqlite3 connection; single-threaded use only.
 * Every state change the API makes runs between ctl_store_begin() and
 * ctl_store_commit() (or ctl_store_rollback() on any failure), so a kill at
 * any moment leaves either all of a change or none of it.
 * Row structs hold fixed-size copies: callers own them, nothing to free
 * except where a function says (lists are malloc'd arrays: free()).
 * Constraint violations (duplicate names) map to CL_ECONFLICT, a missing row
 * to CL_ENOTFOUND, a full disk to CL_ENOSPACE (507 insufficient_storage),
 * other SQLite failures to CL_EIO with a detail; the first failure of a
 * transaction is the one reported (a rollback never replaces it).
 */
#ifndef CL_CONTROL_STORE_H
#define CL_CONTROL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/proto.h"

#define CTL_ID_MAX 64
#define CTL_HASH_MAX 128
#define CTL_MSG_MAX 256
#define CTL_SCHEMA_VERSION 14

/* The built-in provider tenant that admin tokens belong to. */
#define CTL_PROVIDER_TENANT "ten-provider"

typedef struct ctl_store ctl_store;

typedef struct ctl_tenant {
	char id[CTL_ID_MAX];
	char name[CTL_ID_MAX];
	int64_t created_at; /* ms since the epoch */
} ctl_tenant;

/* kind: "admin", "tenant", "engineer", "metrics" or "host". host_id is ""
 * unless kind is "host". Times in ms since the epoch; expires_at 0 = never
 * (the bootstrap admin token and host tokens), revoked_at 0 = not revoked. */
typedef struct ctl_token {
	char id[CTL_ID_MAX];
	char kind[16];
	char tenant_id[CTL_ID_MAX];
	char host_id[CTL_ID_MAX];
	char name[CTL_ID_MAX];
	char hash[CTL_HASH_MAX]; /* cl_secret_hash of the secret part ("" in lists) */
	int64_t created_at;
	int64_t expires_at;
	int64_t revoked_at;
} ctl_token;

typedef struct ctl_host {
	char id[CTL_ID_MAX];
	char name[CTL_ID_MAX];
	char state[8]; /* "ready" | "lost" | "removed" (cloister host remove: kept for audit) */
	char level[16];
	char zone[CTL_ID_MAX];
	char rack[CTL_ID_MAX];
	int64_t memory_mib, cpus;
	int64_t last_seen; /* ms */
	int64_t generation;
	int64_t created_at;
	/* computed by get/list: */
	int64_t mem_used_mib, cpus_used, nenclaves;
	char *caps_json; /* malloc'd by get/list; ctl_host_clear() frees it */
} ctl_host;

typedef struct ctl_image {
	char id[CTL_ID_MAX];
	char tenant_id[CTL_ID_MAX];
	char name[CTL_ID_MAX * 2];
	char sha384[97];
	int64_t size;
	int64_t created_at;
} ctl_image;

#define CTL_EXPOSE_MAX CL_PROTO_EXPOSE_MAX /* ports an enclave may expose */

typedef struct ctl_enclave {
	char id[CTL_ID_MAX];
	char name[CTL_ID_MAX];
	char tenant_id[CTL_ID_MAX];
	char image_id[CTL_ID_MAX];
	char host_id[CTL_ID_MAX];
	char state[16];   /* pending|running|stopped|failed|destroying|lost */
	char desired[16]; /* running|stopped|gone */
	int64_t memory_mib, cpus;
	char min_level[16];
	uint32_t untrusted_mask; /* CTL_ACT_* bits allowed without the access key */
	char access_hash[CTL_HASH_MAX];
	char error[CTL_MSG_MAX];
	int64_t created_at, updated_at;
	bool await_bundle; /* starts no application until a bundle is provisioned (docs/provisioning.md) */
	bool suspendable;  /* created --suspendable: carries init-bundle, may be suspended (docs/suspend.md) */
	bool network;      /* created --network: a veth and an address on its host (docs/tls.md "Guests") */
	uint16_t expose[CTL_EXPOSE_MAX]; /* with network: the ports it exposes, ascending */
	uint32_t nexpose;
	char net_address[16], net_host_address[16]; /* as its host last reported them ("" until then) */
} ctl_enclave;

typedef struct ctl_job {
	char id[CTL_ID_MAX];
	char kind[16]; /* create|start|stop|destroy|resize|provision|suspend|restore|tls_enable|tls_rotate|tls_disable */
	char enclave_id[CTL_ID_MAX];
	char tenant_id[CTL_ID_MAX];
	char state[16]; /* pending|running|succeeded|failed */
	int64_t progress;
	char error[CTL_MSG_MAX];
	int64_t created_at, updated_at;
} ctl_job;

/* Opens (creating if needed, mode 0600) the database at path, enables WAL
 * and synchronous=FULL, and applies migrations. *out owned by caller. */
CL_MUST_CHECK cl_err ctl_store_open(const char *path, ctl_store **out);
/* Closes the store. NULL is fine. */
void ctl_store_close(ctl_store *st);
/* Applies every schema migration not yet recorded in schema_version.
 * Idempotent; *version (may be NULL) receives the resulting version. */
CL_MUST_CHECK cl_err ctl_store_migrate(ctl_store *st, int *version);

CL_MUST_CHECK cl_err ctl_store_begin(ctl_store *st);
CL_MUST_CHECK cl_err ctl_store_commit(ctl_store *st);
/* Rolls back the open transaction, if any. Never fails visibly and never
 * changes the thread's error detail (the caller reports the first error). */
void ctl_store_rollback(ctl_store *st);

/* ---- a full disk (store_disk.c; docs/control.md "Disk full") ----
 *
 * SQLite in WAL mode needs disk space to delete: a DELETE appends pages to
 * the WAL before it frees anything. So the store keeps DATA/reserve, a
 * CTL_STORE_RESERVE_BYTES file of allocated blocks. When a change that
 * frees space (ctl_store_tx_freeing: deleting uploads and images) fails
 * because the disk is full, the reserve is released and the change runs
 * once more; the reserve comes back as soon as the disk has room for it
 * and a margin. While it is missing, bulk writes (uploads, images) are
 * refused (ctl_store_space_check), so that the room it left is kept for
 * deletes and the small writes of the API. */
#define CTL_STORE_RESERVE_BYTES (8u << 20)

/* Starts keeping the reserve beside the database (creates it if missing
 * and the disk has room; a full disk only logs a warning). */
CL_MUST_CHECK cl_err ctl_store_reserve_init(ctl_store *st);
/* Releases the reserve (deletes the file); true if one was released. */
bool ctl_store_reserve_release(ctl_store *st);
/* Re-creates a missing reserve if the disk has room for it plus half of
 * it again. Never fails visibly (a failure leaves it missing). */
void ctl_store_reserve_restore(ctl_store *st);
/* True if the reserve file is in place (always true before reserve_init). */
bool ctl_store_reserve_held(ctl_store *st);
/* Before a bulk write of need bytes: CL_OK if the reserve is in place (or
 * could be restored) and the disk has need bytes free; else CL_ENOSPACE
 * with a message that says the disk is full and what to do. */
CL_MUST_CHECK cl_err ctl_store_space_check(ctl_store *st, uint64_t need);
/* For a file written in the data directory (uploads, images, firmware op
 * data): a CL_ENOSPACE from the write becomes "<what>: the control plane's
 * disk is full: delete uploads or images, or free space in its data
 * directory, and retry" and is logged (rate-limited: a client can repeat
 * it). Any other e is returned unchanged. */
CL_MUST_CHECK cl_err ctl_store_file_err(ctl_store *st, cl_err e, const char *what);
/* Runs fn(st, arg) in a transaction (begin, fn, commit; rolled back on any
 * failure, whose error is returned). For changes that free space: when it
 * fails with CL_ENOSPACE, the reserve is released and fn runs once more.
 * fn must be safe to run twice (its first run was rolled back). */
typedef cl_err (*ctl_store_tx_fn)(ctl_store *st, void *arg);
CL_MUST_CHECK cl_err ctl_store_tx_freeing(ctl_store *st, ctl_store_tx_fn fn, void *arg);

/* Tenants. */
CL_MUST_CHECK cl_err ctl_store_tenant_insert(ctl_store *st, const ctl_tenant *t);
CL_MUST_CHECK cl_err ctl_store_tenant_get(ctl_store *st, const char *id, ctl_tenant *out);
/* Lists by id order after `after` ("" = from the start), at most limit rows
 * (*out malloc'd: free()). */
CL_MUST_CHECK cl_err ctl_store_tenant_list(ctl_store *st, const char *after, int limit, ctl_tenant **out, size_t *n);

/* Tokens (admin, tenant, engineer, metrics and host bearer tokens). */
CL_MUST_CHECK cl_err ctl_store_token_insert(ctl_store *st, const ctl_token *t);
CL_MUST_CHECK cl_err ctl_store_token_get(ctl_store *st, const char *id, ctl_token *out);
/* Number of admin tokens usable at now_ms (not revoked, not expired), not
 * counting except_id (NULL: none). 0 at start means a new admin token is
 * made (first start, or every admin token expired or was revoked). */
CL_MUST_CHECK cl_err ctl_store_admin_count(ctl_store *st, int64_t now_ms, const char *except_id, int64_t *n);
/* (store_token.c) Lists tokens by id order after `after` ("" = from the
 * start), at most limit rows; tenant_id NULL = every tenant. Rows carry no
 * hash (hash[0] == 0). *out malloc'd: free(). */
CL_MUST_CHECK cl_err ctl_store_token_list(ctl_store *st, const char *tenant_id, const char *after, int limit,
					  ctl_token **out, size_t *n);
/* (store_token.c) Marks token id revoked at now_ms. A token already revoked
 * keeps its first revoked_at (CL_OK). CL_ENOTFOUND if there is no such token. */
CL_MUST_CHECK cl_err ctl_store_token_revoke(ctl_store *st, const char *id, int64_t now_ms);

/* Join tokens: one-time; consume fails with CL_EAUTH if the id is unknown,
 * used or expired at now_ms. hash receives the stored hash for verification
 * (consume marks it used: call inside the transaction that registers).
 * level is the highest security level the token admits (a level name,
 * "software" for tokens issued before levels existed); get copies it into
 * level (CTL_LEVEL_MAX bytes). */
#define CTL_LEVEL_MAX 16
CL_MUST_CHECK cl_err ctl_store_join_insert(ctl_store *st, const char *id, const char *hash, const char *level,
					   int64_t expires_at);
CL_MUST_CHECK cl_err ctl_store_join_get(ctl_store *st, const char *id, int64_t now_ms, char hash[CTL_HASH_MAX],
					char level[CTL_LEVEL_MAX]);
CL_MUST_CHECK cl_err ctl_store_join_consume(ctl_store *st, const char *id);

/* Hosts. insert copies caps_json (may be NULL). */
CL_MUST_CHECK cl_err ctl_store_host_insert(ctl_store *st, const ctl_host *h);
CL_MUST_CHECK cl_err ctl_store_host_get(ctl_store *st, const char *id, ctl_host *out);
/* Lists hosts by id order after `after` ("" = from the start), at most limit
 * rows (-1: all). state NULL = the fleet: every host not removed; else only
 * hosts in that state. Free with ctl_host_list_free. */
CL_MUST_CHECK cl_err ctl_store_host_list(ctl_store *st, const char *state, const char *after, int limit,
					 ctl_host **out, size_t *n);
/* Records a heartbeat: last_seen, state ready, and new capabilities if
 * caps_json, except the level: pinned at registration, never updated.
 * CL_ENOTFOUND for an unknown or removed host. */
CL_MUST_CHECK cl_err ctl_store_host_seen(ctl_store *st, const ctl_host *h);
/* Bumps the host's generation (something changed for it). */
CL_MUST_CHECK cl_err ctl_store_host_bump(ctl_store *st, const char *id);
/* Marks ready hosts not seen since before cutoff_ms lost (and their enclaves
 * lost); *n receives how many hosts changed. */
CL_MUST_CHECK cl_err ctl_store_hosts_mark_lost(ctl_store *st, int64_t cutoff_ms, int *n);
/* (store_token.c) Takes host_id out of the fleet, inside the caller's
 * transaction: its enclaves that are not being destroyed become "lost" with
 * error `reason` and their active jobs fail with it, its host token is
 * revoked at now_ms, its pending firmware ops are refused (reason
 * "host_removed"), and the host row stays with state "removed" (its audit
 * and events stay readable). *lost receives how many enclaves were marked.
 * CL_ENOTFOUND if there is no such host, CL_ECONFLICT if already removed.
 * Enclaves being destroyed are the caller's (ctl_jobs_gone) before this. */
CL_MUST_CHECK cl_err ctl_store_host_remove(ctl_store *st, const char *host_id, int64_t now_ms, const char *reason,
					   int64_t *lost);
void ctl_host_clear(ctl_host *h);
void ctl_host_list_free(ctl_host *hosts, size_t n);

/* Images (store_image.c): a row per tenant image; the bytes are stored
 * once per SHA-384 (DATA/images/by-digest/<sha384>), referenced by every
 * row with that digest: the rows are the reference count (migration 5
 * indexes images by sha384). */
CL_MUST_CHECK cl_err ctl_store_image_insert(ctl_store *st, const ctl_image *im);
/* CL_ENOTFOUND if no such id. */
CL_MUST_CHECK cl_err ctl_store_image_get(ctl_store *st, const char *id, ctl_image *out);
/* A tenant's images in id order after `after` ("" = from the start), at
 * most limit rows (malloc'd array; caller frees). */
CL_MUST_CHECK cl_err ctl_store_image_list(ctl_store *st, const char *tenant_id, const char *after, int limit,
					  ctl_image **out, size_t *n);
/* Deletes the row; CL_ENOTFOUND if no such id. */
CL_MUST_CHECK cl_err ctl_store_image_delete(ctl_store *st, const char *id);
/* How many enclaves (any state) use the image; first gets one of their
 * ids ("" if none). */
CL_MUST_CHECK cl_err ctl_store_image_users(ctl_store *st, const char *id, int64_t *n, char first[CTL_ID_MAX]);
/* How many image rows (all tenants) reference the digest. */
CL_MUST_CHECK cl_err ctl_store_image_refs(ctl_store *st, const char *sha384, int64_t *n);
/* True (in *held) if the tenant has an image with this digest already (a
 * new one costs its quota nothing). */
CL_MUST_CHECK cl_err ctl_store_image_held(ctl_store *st, const char *tenant_id, const char *sha384, bool *held);

/* Storage quotas (store_image.c): a tenant's images (each distinct digest
 * counted once, at its size) plus its held uploads (their declared sizes)
 * must stay within its limit: CTL_QUOTA_DEFAULT unless an admin set one. */
#define CTL_QUOTA_DEFAULT (1ll << 30)
#define CTL_QUOTA_MAX (1ll << 50)
typedef struct ctl_quota {
	int64_t limit_bytes;
	bool is_default; /* no limit set for the tenant: CTL_QUOTA_DEFAULT */
	int64_t images_bytes, uploads_bytes;
} ctl_quota;
CL_MUST_CHECK cl_err ctl_store_quota_get(ctl_store *st, const char *tenant_id, ctl_quota *out);
/* Sets the tenant's limit (0..CTL_QUOTA_MAX); a negative limit removes it
 * (back to the default). */
CL_MUST_CHECK cl_err ctl_store_quota_set(ctl_store *st, const char *tenant_id, int64_t limit_bytes, int64_t now_ms);
/* CL_OK if the tenant's usage plus extra bytes stays within its limit, else
 * CL_ENOSPACE "storage quota exceeded (used/limit ...)". extra 0 checks
 * that the tenant is not over its limit already (it may have been lowered). */
CL_MUST_CHECK cl_err ctl_store_quota_check(ctl_store *st, const char *tenant_id, int64_t extra);

/* Enclaves. */
CL_MUST_CHECK cl_err ctl_store_enclave_insert(ctl_store *st, const ctl_enclave *e);
CL_MUST_CHECK cl_err ctl_store_enclave_get(ctl_store *st, const char *id, ctl_enclave *out);
/* Updates state, desired, memory_mib, error and updated_at of e->id. */
CL_MUST_CHECK cl_err ctl_store_enclave_update(ctl_store *st, const ctl_enclave *e);
/* Moves enclave id to host_id (a restore placed on another host: its desired
 * set, capacity and ops are that host's from now on). CL_ENOTFOUND if no
 * such enclave. */
CL_MUST_CHECK cl_err ctl_store_enclave_move(ctl_store *st, const char *id, const char *host_id);
CL_MUST_CHECK cl_err ctl_store_enclave_delete(ctl_store *st, const char *id);
/* An enclave's exposed ports as the store keeps them: "80,8443" (at most
 * CTL_EXPOSE_MAX, as given: ascending). text -> ports (a malformed text
 * stops at what parsed); ports -> out (cap >= CTL_EXPOSE_TEXT_MAX). */
#define CTL_EXPOSE_TEXT_MAX (CTL_EXPOSE_MAX * 6 + 1)
void ctl_expose_parse(const char *text, uint16_t *ports, uint32_t *n);
void ctl_expose_text(const uint16_t *ports, uint32_t n, char *out, size_t cap);
/* Records the addresses the host reported for a networked enclave (dotted
 * quads, checked by the caller), written only when they changed; an
 * enclave created without a network is left as it is (CL_OK). */
CL_MUST_CHECK cl_err ctl_store_enclave_net_set(ctl_store *st, const char *id, const char *address,
					       const char *host_address);
/* Lists by id order after `after` ("" = from the start), at most limit rows.
 * tenant_id NULL = all tenants; require_mask != 0 keeps only rows whose
 * untrusted_mask has those bits. */
CL_MUST_CHECK cl_err ctl_store_enclave_list(ctl_store *st, const char *tenant_id, uint32_t require_mask,
					    const char *after, int limit, ctl_enclave **out, size_t *n);
/* All enclaves placed on a host. */
CL_MUST_CHECK cl_err ctl_store_enclave_by_host(ctl_store *st, const char *host_id, ctl_enclave **out, size_t *n);
/* Counts for metrics: by state, into a caller callback. */
CL_MUST_CHECK cl_err ctl_store_count_by(ctl_store *st, const char *table, const char *column,
					void (*fn)(void *arg, const char *value, int64_t count), void *arg);

/* Jobs. */
CL_MUST_CHECK cl_err ctl_store_job_insert(ctl_store *st, const ctl_job *j);
CL_MUST_CHECK cl_err ctl_store_job_get(ctl_store *st, const char *id, ctl_job *out);
CL_MUST_CHECK cl_err ctl_store_job_update(ctl_store *st, const ctl_job *j);
/* Active (pending or running) jobs of an enclave, oldest first. */
CL_MUST_CHECK cl_err ctl_store_job_active(ctl_store *st, const char *enclave_id, ctl_job **out, size_t *n);

#endif
