/* fw_limits.h — the one range of every number the firmware guard carries.
 *
 * A value passes through the signed formats (src/fw, docs/firmware-bundle.md),
 * the device model (src/fwguard), the agent's sync JSON (src/host/agent_fw.c),
 * the control plane's validation (src/control/validate_fw.c, fw_sync.c) and
 * the audit records (src/fwguard/fwaudit.c). Each of them takes its bounds
 * from here, so anything a device can hold the control plane accepts and
 * shows exactly, and anything a device would refuse the signing tools and the
 * control plane refuse first (docs/firmware-bundle.md "Numeric ranges").
 *
 * Counters and times are capped at 2^63 - 1 in the formats themselves: JSON
 * integers are int64 (jansson, SQLite), so a larger uint64 could not be
 * reported exactly. Nothing here needs more than <stdint.h>: the device-side
 * verifier includes it.
 */
#ifndef CL_FW_LIMITS_H
#define CL_FW_LIMITS_H

#include <stdint.h>

/* Every uint64 of the formats: bundle sequence, use-before, trust-root
 * version and expiry, window policy version and power cycle, device counter,
 * audit seq and time. */
#define FW_UINT_MAX ((uint64_t)INT64_MAX)

/* Bundle sequence number (anti-rollback): 1..FW_SEQ_MAX. 0 can never be
 * installed (it is never above a counter), so no tool writes it. */
#define FW_SEQ_MIN 1u
#define FW_SEQ_MAX FW_UINT_MAX

/* Whole bundle bytes: what a device, the control plane and the tools take. */
#define FW_MAX_BUNDLE (64u << 20)
/* Manifest, signature blocks and CBOR framing around the image: at most
 * ~3.4 KiB with 16 signers; 64 KiB leaves room for the format to grow. */
#define FW_BUNDLE_OVERHEAD (64u << 10)
/* Image bytes: 1..FW_MAX_IMAGE (an empty image is refused everywhere), so
 * that any bundle of a valid image fits FW_MAX_BUNDLE. */
#define FW_MAX_IMAGE (FW_MAX_BUNDLE - FW_BUNDLE_OVERHEAD)

/* Mutability window length, seconds: 1..FW_MAX_WINDOW_S (a day). */
#define FW_MAX_WINDOW_S 86400u
/* Signers in a trust root, blocks in a bundle; threshold 1..this. */
#define FW_MAX_SIGNERS 16
/* Text fields (component, version, channel): 1..FW_MAX_STR printable ASCII. */
#define FW_MAX_STR 63
/* Firmware updates queued per device for the next power-on. */
#define FW_MAX_PENDING 16
/* A device's bus address ("0000:03:00.0"): 1..FW_MAX_ADDR characters. */
#define FW_MAX_ADDR 31
/* The control plane's host id ([a-z0-9-]) a window policy names: 1..this. */
#define FW_MAX_HOST_ID 63

#endif
