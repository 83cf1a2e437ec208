/* fwdev_internal.h — shared between the device model's files; not public. */
#ifndef CL_HOST_FWDEV_INTERNAL_H
#define CL_HOST_FWDEV_INTERNAL_H

#include <limits.h>
#include <pthread.h>

#include "fwguard/fwaudit.h"
#include "fwguard/fwguard.h"

#define FWG_NO_SLOT 0xff

/* What a slot holds (copied from the verified manifest). */
typedef struct fwg_slot {
	uint8_t valid;
	uint64_t sequence;
	uint64_t size; /* bundle bytes in the slot file */
	char version[FW_MAX_STR + 1];
} fwg_slot;

/* The persisted device state (DIR/devices/<addr>/state). */
typedef struct fwg_state {
	uint8_t active;    /* 0 = A, 1 = B, FWG_NO_SLOT = blank */
	uint8_t last_good; /* revert target, or FWG_NO_SLOT */
	uint64_t counter;
	uint64_t trust_version; /* = trust floor */
	uint64_t policy_version;
	uint64_t window_s;      /* this power-on */
	uint64_t next_window_s; /* from the next power-on */
	uint64_t generation;    /* +1 per commit */
	fwg_slot slot[2];
} fwg_state;

typedef struct fwg_dev {
	char name[16];
	char addr[FWG_ADDR_MAX + 1];
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
	uint8_t root[FW_POINT_LEN];
	fwg_state st;
	fw_trust trust;
	bool trust_ok;
	bool booted;
	bool has_devkey;                      /* devkey_pt/pem valid */
	uint8_t devkey_pt[FW_POINT_LEN];      /* public half of the device key */
	char devkey_pem[FWG_DEVKEY_PEM_MAX];  /* the same, SPKI PEM */
} fwg_dev;

struct fwg_host {
	char dir[PATH_MAX - 64];
	fwg_opts opts;
	fwg_policy policy;
	fw_ops ops;
	pthread_mutex_t mu;
	int lockfd;
	fwa_log audit;
	uint64_t power_on_ns;
	uint64_t power_cycle;               /* power-ons since manufacture (DIR/power) */
	char host_id[FWG_HOST_ID_MAX + 1];  /* fwg_host_set_id; "" until set */
	size_t ndev;
	fwg_dev dev[FWG_MAX_DEVICES];
};

/* fwdev_store.c: files. */
CL_MUST_CHECK cl_err fwg_path(const fwg_host *h, const char *addr, const char *leaf, char *out, size_t n);
CL_MUST_CHECK cl_err fwg_rom_write(const char *path, const fwg_device_spec *s, const uint8_t root[FW_POINT_LEN]);
CL_MUST_CHECK cl_err fwg_rom_read(const char *path, fwg_dev *d);
/* Commits st with one atomic rename (fsync file, rename, fsync dir). */
CL_MUST_CHECK cl_err fwg_state_commit(fwg_host *h, fwg_dev *d, const fwg_state *st);
CL_MUST_CHECK cl_err fwg_state_load(fwg_host *h, fwg_dev *d);
/* Writes a slot file (not committed until the state names it). */
CL_MUST_CHECK cl_err fwg_slot_write(fwg_host *h, fwg_dev *d, int slot, const uint8_t *p, size_t n);
CL_MUST_CHECK cl_err fwg_slot_read(fwg_host *h, fwg_dev *d, int slot, cl_buf *out);
/* Rebuilds d->trust from trust-1..trust-N (N = st.trust_version). */
CL_MUST_CHECK cl_err fwg_trust_load(fwg_host *h, fwg_dev *d);
/* Writes DIR/power: this boot, the power-on clock value and the power
 * cycle number (one atomic rename); sets h->power_on_ns and h->power_cycle. */
CL_MUST_CHECK cl_err fwg_power_write(fwg_host *h, uint64_t power_on_ns, uint64_t power_cycle);
/* Reads DIR/power; *rebooted when the boot id differs (or no file).
 * *power_cycle: the recorded power cycle (0 without a file, or in a file of
 * format 1, which did not count them). */
CL_MUST_CHECK cl_err fwg_power_read(fwg_host *h, uint64_t *power_on_ns, bool *rebooted, uint64_t *power_cycle);
size_t fwg_pending_count(fwg_host *h, const char *addr);

/* fwdev_host.c */
uint64_t fwg_boot_now(fwg_host *h);
uint64_t fwg_wall_now(fwg_host *h);
void fwg_fault(fwg_host *h, fwg_fault_point p, uint64_t arg);
fwg_dev *fwg_find(fwg_host *h, const char *addr);
bool fwg_window_open(fwg_host *h, const fwg_dev *d, uint64_t *left_s);
bool fwg_route_allowed(const fwg_host *h, fwg_source src, const char *addr);
CL_MUST_CHECK cl_err fwg_lock(fwg_host *h);
void fwg_unlock(fwg_host *h);
/* Re-verifies one slot's bundle in full (signatures under the current trust
 * state, identity, digest; use-before not applied at boot). */
fw_status fwg_verify_slot(fwg_host *h, fwg_dev *d, int slot);
/* Re-verifies the active slot (falling back to the other); audits failures. */
CL_MUST_CHECK cl_err fwg_boot_device(fwg_host *h, fwg_dev *d);

/* fwdev_devkey.c: the device key (DIR/devices/<addr>/devkey). None of
 * these logs or returns the private key outside an fw_ops. */
/* Generates the key, writes it (atomic, 0600) and fills d's public half. */
CL_MUST_CHECK cl_err fwg_devkey_create(fwg_host *h, fwg_dev *d);
/* With the lock held: loads d's public half, or, when the file is missing
 * (a host manufactured by an earlier build), generates it and audits a
 * manufacture event. */
CL_MUST_CHECK cl_err fwg_devkey_ensure(fwg_host *h, fwg_dev *d);
/* OpenSSL ops holding d's private key in *key (caller frees it with
 * fw_key_free as soon as the verification is done). On error *key = NULL
 * and ops has no device key. */
CL_MUST_CHECK cl_err fwg_devkey_ops(fwg_host *h, const fwg_dev *d, fw_ops *ops, void **key);
/* fw_verify_bundle with d's trust state and d's own device key (loaded for
 * this call only; plain ops when the device has no usable key). */
fw_status fwg_verify_with_devkey(fwg_host *h, const fwg_dev *d, const fw_device *dev, const uint8_t *bundle,
				 size_t len, uint8_t *dest, size_t dest_len, fw_result *res);

/* fwdev_audit.c: one audited outcome; applies the action policy. */
typedef struct fwg_event {
	fwg_op op;
	fwg_source src;
	fwg_result result;
	uint16_t reason;
	const char *addr;
	const uint8_t *input; /* parsed as a bundle for the identity, may be NULL */
	size_t input_len;
	const char *detail;
	const fwg_audit_rec *id_from; /* or: identity and input_len copied from this record */
} fwg_event;
CL_MUST_CHECK cl_err fwg_audit(fwg_host *h, const fwg_event *e, fwg_outcome *out);
/* Audits a refusal and returns the matching cl_err with a detail. */
CL_MUST_CHECK cl_err fwg_refuse(fwg_host *h, fwg_event *e, fwg_outcome *out);
/* Appends the intent record of an accepted change about to be committed
 * (e->op, src, addr, input identity; result forced to FWG_RES_INTENT) with
 * the detail `commit` says how recovery recognises the commit:
 *   "gen N"    the device state's generation after the commit is >= N
 *   "queue N"  DIR/pending/<addr>/<N, 20 digits>.fw exists
 *   "clear"    DIR/quarantine does not exist
 * then calls the FWG_FAULT_INTENT hook. Nothing may change before it. */
CL_MUST_CHECK cl_err fwg_intent(fwg_host *h, const fwg_event *e, const char *commit);
/* The FWG_FAULT_COMMITTED hook, then the outcome record (e->result set by
 * the caller: accepted, or event for a quarantine clear). */
CL_MUST_CHECK cl_err fwg_audit_committed(fwg_host *h, const fwg_event *e, fwg_outcome *out);

/* fwdev_recover.c: with the lock held, gives every open intent in the log
 * (the process that wrote it died before its outcome record) an outcome
 * decided from the committed state: accepted/recovered or
 * refused/interrupted. Called by fwg_lock after the states are re-read.
 * CL_EPROTO when the log is broken (nothing appended). */
CL_MUST_CHECK cl_err fwg_recover_intents(fwg_host *h);

/* fwdev_policy.c: window policies on the device (the format: fw_tools.h). */
/* Parse and verify the root's signature (low-s, aad ".../2"). */
fw_status fwg_window_policy_verify(const fwg_dev *d, const fw_ops *ops, const uint8_t *doc, size_t len,
				   fw_window_policy *p);
/* NULL if p is for device d on host h in its current power cycle, else why
 * not (static string). */
const char *fwg_window_policy_mismatch(const fwg_host *h, const fwg_dev *d, const fw_window_policy *p);

/* fwdev_update.c: the update path, shared with the power-on queue. */
CL_MUST_CHECK cl_err fwg_update_locked(fwg_host *h, fwg_source src, fwg_dev *d, const uint8_t *bundle,
				       size_t len, fwg_outcome *out);
CL_MUST_CHECK cl_err fwg_apply_pending(fwg_host *h);

#endif
