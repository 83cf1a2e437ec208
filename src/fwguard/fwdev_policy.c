/* fwdev_policy.c — window policy documents on the device: verified
 * against the ROM root and matched to this device, host and power cycle.
 * The format itself (build, strict parse) is libcloister-fw's host side
 * (src/fw/fw_policy.c, fw/fw_tools.h).
 */
#include <string.h>

#include "fw/fw_internal.h"
#include "fwguard/fwdev_internal.h"

fw_status fwg_window_policy_verify(const fwg_dev *d, const fw_ops *ops, const uint8_t *doc, size_t len,
				   fw_window_policy *p)
{
	uint8_t hash[FW_DIGEST_LEN];
	fw_status s = fw_window_policy_parse(doc, len, p);
	if (s != FW_OK)
		return s;
	/* Authenticate: the block's kid must be the ROM root's, and verify. */
	if (!fw_ct_equal(p->sig.kid, d->trust.root_kid, FW_KID_LEN))
		return FW_E_UNKNOWN_SIGNER;
	if ((s = fw_sign1_hash(ops, &p->sig, FW_POLICY_AAD, p->body, p->body_len, hash)) != FW_OK)
		return s;
	return fw_sig_verify(ops, d->root, hash, p->sig.sig);
}

const char *fwg_window_policy_mismatch(const fwg_host *h, const fwg_dev *d, const fw_window_policy *p)
{
	if (p->power_cycle && p->power_cycle != h->power_cycle)
		return "one-shot policy for another power cycle";
	if (p->any)
		return NULL;
	uint8_t kid[FW_KID_LEN];
	if (!fw_ct_equal(p->vendor, d->vendor, FW_UUID_LEN) || !fw_ct_equal(p->class_id, d->class_id, FW_UUID_LEN) ||
	    strcmp(p->component, d->addr) != 0)
		return "policy for another device (vendor, class or bus address)";
	if (!d->has_devkey || fw_point_kid(&h->ops, d->devkey_pt, kid) != FW_OK ||
	    !fw_ct_equal(p->device_kid, kid, FW_KID_LEN))
		return "policy for another device (device key)";
	if (!h->host_id[0] || strcmp(p->host_id, h->host_id) != 0)
		return h->host_id[0] ? "policy for another host" : "policy names a host; this host's id is not set";
	return NULL;
}
