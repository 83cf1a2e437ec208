/* fwguard.h — the firmware guard's device model, run by cloister-host.
 *
 * A host has a few devices (default: NIC 0000:03:00.0, GPU 0000:65:00.0,
 * BMC 0000:01:00.0), persisted under DIR:
 *
 *   DIR/devices/<addr>/rom       root public key + vendor/class, written once
 *                                at manufacture (fwg_host_create), never again
 *   DIR/devices/<addr>/devkey    the device's own P-384 private key (PEM,
 *                                0600), written once at manufacture (or at
 *                                the first open by a build that has device
 *                                keys); image encryption targets its public
 *                                half. The model's stand-in for a fused key:
 *                                it never leaves the device model. With
 *                                fwg_opts.keys (cloister-host: the key
 *                                holder) there is no such file
 *   DIR/devices/<addr>/state     active slot, counter, trust floor, window
 *                                policy; replaced by one atomic rename
 *   DIR/devices/<addr>/slot-a|b  the A/B flash slots (whole signed bundles)
 *   DIR/devices/<addr>/trust-N   accepted trust-root documents v1..vN
 *   DIR/pending/<addr>/NNN.fw    approved updates queued for the next power-on
 *   DIR/power                    boot id + clock value of the last power-on
 *   DIR/audit.log                hash-chained audit trail (fwaudit.h)
 *   DIR/quarantine               present = host halted for tenants
 *   DIR/lock                     flock serialising every change
 *
 * Every change (update, trust root, window policy, revert) must come from
 * the management source through the I/O hub's routing policy, inside the
 * device's mutability window. Every attempt, refused or not, is audited;
 * every refusal changes nothing but the audit log (and, by action policy,
 * the alarm list or the quarantine flag). Every accepted change appends an
 * intent record before it changes anything and its outcome after the
 * commit; an intent a killed process left without outcome is resolved
 * (accepted/recovered or refused/interrupted, from the committed state) the
 * next time any handle takes the host lock, fwg_host_open included.
 * Verification is src/fw's.
 * Formats and the proposed wiring: docs/firmware-guard.md.
 *
 * Thread safety: one fwg_host may be shared by threads (a mutex) and several
 * processes may open the same DIR (flock); each change re-reads the device
 * state under both locks.
 */
#ifndef CL_HOST_FWGUARD_H
#define CL_HOST_FWGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/proto.h"
#include "fw/fw_tools.h" /* the OpenSSL fw_ops and device key files */

#define FWG_ADDR_MAX FW_MAX_ADDR /* bus address length (fw/fw_limits.h) */
#define FWG_MAX_DEVICES 8
#define FWG_MAX_BUNDLE FW_MAX_BUNDLE /* largest bundle a device accepts (fw/fw_limits.h) */
_Static_assert(FW_MAX_BUNDLE == CL_PROTO_FW_BUNDLE_MAX, "one bundle cap for the device and the wire");
#define FWG_DEFAULT_WINDOW_S 60
#define FWG_MAX_WINDOW_S FW_MAX_WINDOW_S
#define FWG_MAX_PENDING FW_MAX_PENDING
#define FWG_HOST_ID_MAX FW_MAX_HOST_ID /* the control plane's host id, [a-z0-9-] */
#define FWG_REASON_LIMIT 128
#define FWG_DEVKEY_PEM_MAX 256 /* a P-384 SPKI PEM is 215 bytes */

/* Who sent a request. Only FWG_SRC_MGMT (the control plane's management
 * path, arriving on the NIC's management port) can change firmware, and
 * only where the routing policy lets it reach the target. */
typedef enum fwg_source {
	FWG_SRC_MGMT = 1,     /* control plane via the management port */
	FWG_SRC_GUEST = 2,    /* a tenant guest or enclave */
	FWG_SRC_HOST = 3,     /* a local host process (CPU side) */
	FWG_SRC_OPERATOR = 4, /* an operator action (power cycle, clear) */
} fwg_source;

/* What was attempted (audit record `op`). */
typedef enum fwg_op {
	FWG_OP_UPDATE = 1,
	FWG_OP_TRUST = 2,       /* trust-root document */
	FWG_OP_WINDOW = 3,      /* window policy document */
	FWG_OP_REVERT = 4,
	FWG_OP_GUEST_WRITE = 5,
	FWG_OP_POWER_ON = 6,
	FWG_OP_BOOT = 7,
	FWG_OP_QUEUE = 8,       /* update queued for the next power-on */
	FWG_OP_CLEAR = 9,       /* quarantine cleared */
	FWG_OP_MANUFACTURE = 10,
} fwg_op;

typedef enum fwg_result {
	FWG_RES_ACCEPTED = 1,
	FWG_RES_REFUSED = 2,
	FWG_RES_EVENT = 3, /* power-on, boot, clear: neither allowed nor refused */
	FWG_RES_INTENT = 4, /* an accepted change about to be committed; an outcome
			     * record (accepted/refused/event) for the same device
			     * follows, written at recovery if the process died */
} fwg_result;

/* Why. 0..63 are fw_status values (the verifier's reasons, same numbers);
 * 64.. are the device model's. Stable: append only. */
typedef enum fwg_reason {
	FWG_R_OK = 0,
	FWG_R_WINDOW_CLOSED = 64,  /* outside the mutability window */
	FWG_R_NO_MAPPING = 65,     /* guest write to a region it has no mapping of */
	FWG_R_ROUTE_DENIED = 66,   /* routing policy forbids (source, target) */
	FWG_R_NO_DEVICE = 67,      /* no device at that bus address */
	FWG_R_POLICY_REPLAY = 68,  /* window policy version not above the current */
	FWG_R_IO = 69,             /* storage failed; nothing committed */
	FWG_R_NO_REVERT = 70,      /* no last good slot that still verifies */
	FWG_R_BOOT_FALLBACK = 71,  /* active slot failed verification; booted the other */
	FWG_R_BOOT_FAILED = 72,    /* no slot verifies */
	FWG_R_TOO_BIG = 73,        /* larger than FWG_MAX_BUNDLE */
	FWG_R_NOT_ALLOWED = 74,    /* source may not perform this operation */
	FWG_R_INTERRUPTED = 75,    /* killed after its intent, before the commit: nothing changed */
	FWG_R_RECOVERED = 76,      /* killed after the commit, before its record: it took effect */
	FWG_R_WRONG_TARGET = 77,   /* a window policy bound to another device, host or power cycle */
} fwg_reason;

typedef enum fwg_action {
	FWG_ACT_LOG = 0,
	FWG_ACT_ALARM = 1,      /* listed by fwg_alarms() */
	FWG_ACT_QUARANTINE = 2, /* alarm + host halted for tenants until cleared */
} fwg_action;

/* Stable lower-case names ("window_closed", "route_denied", "mgmt", ...). */
const char *fwg_reason_name(uint16_t reason);
const char *fwg_source_name(uint8_t source);
const char *fwg_op_name(uint8_t op);
const char *fwg_result_name(uint8_t result);
const char *fwg_action_name(uint8_t action);

/* Action per reason, applied to refusals and events (an accepted change is
 * always logged). fwg_policy_default: signature/trust/rollback refusals and
 * guest writes alarm, boot failures quarantine, the rest log. */
typedef struct fwg_policy {
	uint8_t by_reason[FWG_REASON_LIMIT]; /* fwg_action */
} fwg_policy;
void fwg_policy_default(fwg_policy *p);

/* One I/O hub rule: `source` may reach the device at `addr` ("*" = any). */
typedef struct fwg_route {
	fwg_source source;
	const char *addr;
} fwg_route;

/* What a device is, for manufacture. Strings borrowed. */
typedef struct fwg_device_spec {
	const char *name; /* "nic", "gpu", "bmc" */
	const char *addr; /* "0000:03:00.0" */
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
} fwg_device_spec;

/* The three default devices (static storage; n = 3). */
const fwg_device_spec *fwg_default_devices(size_t *n);

/* Fault-injection points passed to fwg_opts.fault (a test seam; production
 * passes NULL). */
typedef enum fwg_fault_point {
	FWG_FAULT_SLOT_BYTES = 1,    /* after each flash write; arg = bytes written so far */
	FWG_FAULT_SLOT_SYNCED = 2,   /* slot written and fsynced */
	FWG_FAULT_STATE_TMP = 3,     /* new state written to its temp file, fsynced */
	FWG_FAULT_STATE_RENAMED = 4, /* new state renamed into place (committed) */
	FWG_FAULT_INTENT = 5,        /* intent record appended, nothing changed yet; arg = fwg_op */
	FWG_FAULT_COMMITTED = 6,     /* change durable, outcome record not yet appended; arg = fwg_op */
} fwg_fault_point;

/* Where the devices' own keys live (docs/keyholder.md). NULL in fwg_opts:
 * in the model's files, DIR/devices/<addr>/devkey (tools and tests).
 * cloister-host passes the key holder: slot "dev/<addr>", and the private
 * key never enters this process. Each call returns CL_OK or an error;
 * outputs only on success. */
typedef struct fwg_keys {
	/* A new key for addr (CL_ECONFLICT if one exists); its public point. */
	cl_err (*generate)(void *ctx, const char *addr, uint8_t point[FW_POINT_LEN]);
	/* The public point of addr's key; CL_ENOTFOUND if it has none. */
	cl_err (*get_public)(void *ctx, const char *addr, uint8_t point[FW_POINT_LEN]);
	/* The image key of an encrypted bundle (fw_ops.image_key); key[32] is
	 * wiped by the caller. */
	cl_err (*image_key)(void *ctx, const char *addr, const uint8_t enc_point[FW_POINT_LEN], uint8_t key[32]);
	void *ctx;
} fwg_keys;

/* Open options. Zero-initialised = production: real clocks (CLOCK_BOOTTIME
 * for the window, CLOCK_REALTIME for use-before/expiry), default routing
 * (management source to every device, nothing else), default policy.
 * The clock and fault hooks are test seams: production never sets them; they
 * cannot be reached from any request. Pointers are borrowed and must outlive
 * the host handle. */
typedef struct fwg_opts {
	uint64_t (*boot_ns)(void *ctx); /* monotonic ns since (power-on) boot */
	uint64_t (*wall_s)(void *ctx);  /* unix seconds */
	void *clock_ctx;
	const fwg_route *routes; /* NULL = default routing */
	size_t nroutes;
	const fwg_policy *policy; /* NULL = fwg_policy_default */
	void (*fault)(void *ctx, fwg_fault_point point, uint64_t arg);
	void *fault_ctx;
	const fwg_keys *keys; /* NULL = device keys in DIR/devices/<addr>/devkey */
} fwg_opts;

typedef struct fwg_host fwg_host;

/* Manufacture: creates DIR with the given devices (NULL/0 = defaults), each
 * with `root` (uncompressed P-384 point) burnt into its ROM, blank flash,
 * counter 0, 60 s window, and powers the host on (the window opens now).
 * Refuses (CL_ECONFLICT) if DIR already holds devices. */
CL_MUST_CHECK cl_err fwg_host_create(const char *dir, const uint8_t root[FW_POINT_LEN],
				     const fwg_device_spec *specs, size_t nspecs, const fwg_opts *opts);

/* Opens a manufactured host. If the machine rebooted since the last
 * power-on (boot id changed), this is a power-on: the window is measured
 * from the kernel's boot (CLOCK_BOOTTIME 0) and pending updates are applied.
 * Otherwise the devices boot (re-verify their active slot) and the window
 * keeps its original deadline. First of all, open intents in the audit log
 * get their outcome records. *out is freed with fwg_host_close. */
CL_MUST_CHECK cl_err fwg_host_open(const char *dir, const fwg_opts *opts, fwg_host **out);
void fwg_host_close(fwg_host *h);

/* Power cycle (`cloister host power-cycle`): reopens every device's window
 * now, with the window length its last accepted policy set, boots each
 * device and applies the pending queue inside the window. Only
 * FWG_SRC_OPERATOR or FWG_SRC_MGMT; refusals audited. The power-on record
 * is appended before anything changes: if it cannot be written, the
 * window stays as it was (closed) and the error is returned. */
CL_MUST_CHECK cl_err fwg_host_power_cycle(fwg_host *h, fwg_source src);

/* Tells the model which host it is (the control plane's host id, 1..63 of
 * [a-z0-9-]; the agent calls it once it knows its identity): window
 * policies bound to a host are accepted only on that host. Until it is set,
 * they are refused (wrong_target). CL_EINVAL for a malformed id. */
CL_MUST_CHECK cl_err fwg_host_set_id(fwg_host *h, const char *host_id);

/* What a management request did. reason is an fwg_reason (0 = accepted). */
typedef struct fwg_outcome {
	uint16_t reason;
	uint8_t action;
	uint64_t audit_seq;
} fwg_outcome;

/* The management port. Every function: route check (src, addr), device
 * exists, window open, then its own checks; refusals return CL_EPERM (policy),
 * CL_ECRYPTO (verification) or CL_EIO, with out->reason, and change nothing.
 * out may be NULL. Input is borrowed. */

/* Installs a bundle: fw_verify_bundle against the device's trust state,
 * counter and identity, decrypting an encrypted image with this device's
 * own key (a bundle encrypted to another device: decrypt_failed), then
 * writes the inactive slot (fsync) and commits active slot + counter with
 * one rename. */
CL_MUST_CHECK cl_err fwg_mgmt_update(fwg_host *h, fwg_source src, const char *addr, const uint8_t *bundle,
				     size_t len, fwg_outcome *out);
/* Applies the next trust-root document (fw_trust_apply) and raises the floor. */
CL_MUST_CHECK cl_err fwg_mgmt_trust(fwg_host *h, fwg_source src, const char *addr, const uint8_t *doc,
				    size_t len, fwg_outcome *out);
/* Sets the window length from a root-signed window policy document whose
 * version exceeds the current one and which is bound to this device (its
 * vendor, class, bus address and device key) on this host (fwg_host_set_id)
 * or explicitly to any; a one-shot policy only in the power cycle it
 * names. Effective from the next power-on. A policy for another target is
 * refused wrong_target, an old-format policy malformed. */
CL_MUST_CHECK cl_err fwg_mgmt_window(fwg_host *h, fwg_source src, const char *addr, const uint8_t *doc,
				     size_t len, fwg_outcome *out);
/* Switches back to the last good slot (re-verified first); counter unchanged. */
CL_MUST_CHECK cl_err fwg_mgmt_revert(fwg_host *h, fwg_source src, const char *addr, fwg_outcome *out);
/* Queues an approved update for the next power-on (allowed outside the
 * window; it changes no device). Checked structurally now, verified in full
 * when applied. */
CL_MUST_CHECK cl_err fwg_mgmt_queue(fwg_host *h, fwg_source src, const char *addr, const uint8_t *bundle,
				    size_t len, fwg_outcome *out);

/* ---- the guest interface: what a tenant's guest maps ---- */

typedef struct fwg_identity {
	char addr[FWG_ADDR_MAX + 1];
	char name[16];
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
	char version[FW_MAX_STR + 1]; /* "" when blank */
	bool locked;
} fwg_identity;

typedef enum fwg_region {
	FWG_REGION_FIRMWARE = 1,
	FWG_REGION_CONFIG = 2,
	FWG_REGION_ROM = 3,
} fwg_region;

/* Reads the device's identity (immutable regions only). */
CL_MUST_CHECK cl_err fwg_guest_read(fwg_host *h, const char *addr, fwg_identity *out);
/* Any write: no mapping exists. Always CL_EPERM, reason no_mapping, audited. */
CL_MUST_CHECK cl_err fwg_guest_write(fwg_host *h, const char *addr, fwg_region region, uint64_t offset,
				     const uint8_t *data, size_t len, fwg_outcome *out);

/* ---- status ---- */

typedef struct fwg_dev_status {
	char addr[FWG_ADDR_MAX + 1];
	char name[16];
	uint8_t vendor[FW_UUID_LEN];
	uint8_t class_id[FW_UUID_LEN];
	char version[FW_MAX_STR + 1];
	uint64_t sequence;   /* of the active slot (0 = blank) */
	int active_slot;     /* 0 = A, 1 = B, -1 = blank */
	uint64_t counter;    /* security counter */
	uint64_t trust_version;
	uint64_t window_s;      /* this power-on's window */
	uint64_t next_window_s; /* from the next power-on */
	uint64_t policy_version; /* last accepted window policy (0 = none) */
	bool window_open;
	uint64_t window_left_s; /* rounded up; 0 when closed */
	size_t pending;
	bool booted;  /* active slot verified at boot (or blank) */
	bool locked;  /* window closed and nothing pending */
	/* The device key's public half, SPKI PEM ("-----BEGIN PUBLIC KEY-----
	 * ..."), what `cloister fw sign --encrypt-to` takes; "" if none. */
	char device_key[FWG_DEVKEY_PEM_MAX];
} fwg_dev_status;

/* The audit log as last verified (fwg_audit_check). */
typedef struct fwg_audit_state {
	uint64_t seq;           /* head record (0 = empty log) */
	uint8_t head[32];       /* its hash */
	bool tampered;          /* edited, cut, or diverged from the anchor: fail closed */
	uint64_t bad_seq;       /* first record that differs (when tampered) */
	char why[96];           /* how (when tampered) */
} fwg_audit_state;

typedef struct fwg_host_status {
	size_t ndev;
	fwg_dev_status dev[FWG_MAX_DEVICES];
	bool quarantined; /* the quarantine flag, or the audit log tampered with */
	bool any_window_open;
	bool eligible; /* for tenant placement: not quarantined, every device locked and booted */
	uint64_t power_cycle; /* power-ons since manufacture (what one-shot policies name) */
	fwg_audit_state audit;
} fwg_host_status;

/* Reads every device's state fresh from disk. */
CL_MUST_CHECK cl_err fwg_host_status_get(fwg_host *h, fwg_host_status *out);

/* ---- alarms and quarantine ---- */

/* Up to max of the most recent audit records whose action was alarm or
 * quarantine, oldest first, into out (caller's array). Type in fwaudit.h. */
struct fwg_audit_rec;
CL_MUST_CHECK cl_err fwg_alarms(fwg_host *h, struct fwg_audit_rec *out, size_t max, size_t *n);
bool fwg_quarantined(fwg_host *h);
/* Clears the quarantine (operator only); audited. */
CL_MUST_CHECK cl_err fwg_quarantine_clear(fwg_host *h, fwg_source src, const char *why);

/* ---- window policy documents ----
 * The format (build, parse, inspect) is libcloister-fw's host side:
 * fw_window_policy_build and friends in fw/fw_tools.h. The model verifies
 * and applies one with fwg_mgmt_window. */

/* ---- the audit log's anchor and check (fwaudit.h) ----
 *
 * The control plane holds the last record it stored of this host's log
 * (seq, hash) and sends it with every sync answer; the agent passes it here.
 * From then on every check (each append, fwg_audit_check) also requires the
 * log to hold that record unchanged. seq 0 = no anchor. */
void fwg_audit_anchor(fwg_host *h, uint64_t seq, const uint8_t hash[32]);
/* Verifies the audit log (the bytes verified before unchanged, new records
 * chained, the anchor held) and calls each(rec, ctx) for at most max
 * records with seq > after, in order, from the verified bytes. CL_EPROTO
 * with the reason in *st when the log was tampered with: the model then
 * fails closed (every change refused, status quarantined) for the life of
 * the handle. st (may be NULL) gets the head and the tamper state. */
struct fwg_audit_rec;
CL_MUST_CHECK cl_err fwg_audit_check(fwg_host *h, uint64_t after, size_t max,
				     int (*each)(const struct fwg_audit_rec *r, void *ctx), void *ctx,
				     fwg_audit_state *st);

#endif
