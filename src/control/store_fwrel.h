/* store_fwrel.h — firmware releases in the control plane store: the
 * provider's firmware trust chain, proposed bundles with their verified
 * signers, channel approvals, each tenant's channel, and which release was
 * queued to which host (so it is queued once). Rules as store.h. */
#ifndef CL_CONTROL_STORE_FWREL_H
#define CL_CONTROL_STORE_FWREL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "control/store.h"

typedef struct ctl_fw_release {
	char id[CTL_ID_MAX];
	char vendor[37], class_id[37];
	char component[64], version[64], channel[64];
	int64_t sequence;
	char *signers_json; /* malloc'd JSON array of hex kids */
	int64_t nsigners, threshold;
	char *channels_json; /* malloc'd JSON array of approved channels (get/list) */
	int64_t created_at, updated_at;
} ctl_fw_release;

/* Trust: one row. root: hex of the root point; docs: JSON array of base64 documents. */
CL_MUST_CHECK cl_err ctl_store_fw_trust_put(ctl_store *st, const char *root_hex, const char *docs_json,
					    int64_t version, int64_t threshold, int64_t now);
/* CL_ENOTFOUND before the first put. *root_hex and *docs_json malloc'd. */
CL_MUST_CHECK cl_err ctl_store_fw_trust_get(ctl_store *st, char **root_hex, char **docs_json, int64_t *version);

/* Releases. insert: rel->signers_json required; bundle copied. */
CL_MUST_CHECK cl_err ctl_store_fw_release_insert(ctl_store *st, const ctl_fw_release *rel, const uint8_t *bundle,
						 size_t len);
/* Replaces signers, counts and bundle of id. */
CL_MUST_CHECK cl_err ctl_store_fw_release_update(ctl_store *st, const ctl_fw_release *rel, const uint8_t *bundle,
						 size_t len);
CL_MUST_CHECK cl_err ctl_store_fw_release_get(ctl_store *st, const char *id, ctl_fw_release *out);
/* The stored bundle bytes (malloc'd). */
CL_MUST_CHECK cl_err ctl_store_fw_release_bundle(ctl_store *st, const char *id, uint8_t **out, size_t *n);
/* Releases with id > after ("" = from the first), in id order, at most
 * limit (1..1001: a page and one more, ctl_req_page). */
CL_MUST_CHECK cl_err ctl_store_fw_release_list(ctl_store *st, const char *after, int limit, ctl_fw_release **out,
					       size_t *n);
void ctl_fw_release_clear(ctl_fw_release *r);
void ctl_fw_releases_free(ctl_fw_release *r, size_t n);
/* Approves id for channel (idempotent). */
CL_MUST_CHECK cl_err ctl_store_fw_release_approve(ctl_store *st, const char *id, const char *channel, int64_t now);
/* True if some release is approved for channel. */
CL_MUST_CHECK cl_err ctl_store_fw_channel_exists(ctl_store *st, const char *channel, bool *exists);
/* A tenant's channel: get returns CL_ENOTFOUND if it never chose. */
CL_MUST_CHECK cl_err ctl_store_fw_tenant_channel_put(ctl_store *st, const char *tenant_id, const char *channel,
						     int64_t now);
CL_MUST_CHECK cl_err ctl_store_fw_tenant_channel_get(ctl_store *st, const char *tenant_id, char channel[64]);

typedef struct ctl_fw_target {
	char release_id[CTL_ID_MAX];
	char host_id[CTL_ID_MAX];
	char component[64];
} ctl_fw_target;
/* The (release, host) pairs still to queue: for each tenant (tenant_id "" =
 * all) with a channel, to each host (host_id "" = all), the newest approved release of that channel per
 * vendor/class/component, to every host running one of its enclaves, not
 * queued before. Array malloc'd (at most 10000). */
CL_MUST_CHECK cl_err ctl_store_fw_targets(ctl_store *st, const char *tenant_id, const char *host_id,
					  ctl_fw_target **out, size_t *n);
/* Records that release_id was queued to host_id as op_id. */
CL_MUST_CHECK cl_err ctl_store_fw_queued(ctl_store *st, const char *release_id, const char *host_id,
					 const char *op_id);

#endif
