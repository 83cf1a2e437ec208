/* state_key.c — a suspend's state key: policy, checks, wrap (state_key.h). */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "control/state_key.h"
#include "control/store_cert.h"

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

cl_err ctl_state_policy(const cl_att_doc *d, char out[CTL_STATE_POLICY_MAX])
{
	static const int regs[] = {0, 1, 2, 3, 8};
	size_t o = 0;
	int w = snprintf(out, CTL_STATE_POLICY_MAX, "{\"pcrs\":{");
	o = (size_t)w;
	bool first = true;
	for (size_t k = 0; k < sizeof(regs) / sizeof(regs[0]); k++) {
		int i = regs[k];
		if (i == 8 && all_zero(d->f.pcrs[i], CL_ATT_PCR_LEN))
			continue;
		char hex[2 * CL_ATT_PCR_LEN + 1];
		cl_hex_encode(d->f.pcrs[i], CL_ATT_PCR_LEN, hex);
		w = snprintf(out + o, CTL_STATE_POLICY_MAX - o, "%s\"%d\":\"%s\"", first ? "" : ",", i, hex);
		CL_ENSURE(w > 0 && (size_t)w < CTL_STATE_POLICY_MAX - o, CL_EINTERNAL, "a state policy does not fit");
		o += (size_t)w;
		first = false;
	}
	w = snprintf(out + o, CTL_STATE_POLICY_MAX - o, "}}");
	CL_ENSURE(w > 0 && (size_t)w < CTL_STATE_POLICY_MAX - o, CL_EINTERNAL, "a state policy does not fit");
	return CL_OK;
}

cl_err ctl_state_policy_check(const char *policy, const cl_att_doc *d)
{
	cl_err err = CL_OK;
	json_t *pol = json_loads(policy, 0, NULL), *pcrs = json_object_get(pol, "pcrs"), *v;
	const char *k;
	if (!json_is_object(pcrs) || json_object_size(pcrs) == 0) {
		json_decref(pol);
		return cl_errorf(CL_EINTERNAL, "the state key's stored policy is unreadable");
	}
	json_object_foreach(pcrs, k, v)
	{
		uint8_t want[CL_ATT_PCR_LEN];
		char *end = NULL;
		long i = strtol(k, &end, 10);
		if (!end || *end || i < 0 || i >= CL_ATT_NPCRS || !json_string_value(v) ||
		    strlen(json_string_value(v)) != 2 * CL_ATT_PCR_LEN ||
		    cl_hex_decode(json_string_value(v), want, sizeof(want)) != CL_OK) {
			err = cl_errorf(CL_EINTERNAL, "the state key's stored policy is unreadable");
			break;
		}
		if (CRYPTO_memcmp(want, d->f.pcrs[i], sizeof(want)) != 0) {
			err = cl_errorf(CL_EPERM, "PCR%ld differs from the suspended enclave's", i);
			break;
		}
	}
	json_decref(pol);
	return err;
}

void ctl_state_seal_aad(const char *tenant_id, const char *enclave_id, int64_t n, char out[CTL_MON_SEAL_AAD_MAX + 1])
{
	snprintf(out, CTL_MON_SEAL_AAD_MAX + 1, "state/%s/%s/%lld", tenant_id, enclave_id, (long long)n);
}

cl_err ctl_state_wrap_key(const uint8_t point[CL_WRAP_POINT_LEN], const uint8_t *key, cl_buf *out)
{
	return cl_wrap_seal_label(CTL_STATE_WRAP_LABEL, point, key, CTL_STATE_KEY_LEN, out);
}

cl_err ctl_state_check_suspend_doc(ctl_store *st, const uint8_t *root_der, size_t root_len, const uint8_t *doc,
				   size_t len, const char *enclave_id, const char *policy, int64_t suspended_at_ms)
{
	cl_att_doc *d = NULL;
	cl_att_expect ex = {0};
	enum cl_att_check failed = CL_ATT_CHECK_NONE;
	char serial[41];
	ctl_cert_row c;
	cl_err err = CL_OK;
	if (cl_att_parse(doc, len, &d) != CL_OK)
		return cl_errorf(CL_EPERM, "suspend document: does not parse: %s", cl_error_detail());
	ex.root_der = root_der;
	ex.root_len = root_len;
	ex.now = (time_t)(suspended_at_ms / 1000);
	if (cl_att_verify(d, &ex, &failed) != CL_OK) {
		err = cl_errorf(CL_EPERM, "suspend document: %s: %s", cl_att_check_name(failed), cl_error_detail());
		goto out;
	}
	if (strcmp(d->module_id, enclave_id) != 0) {
		err = cl_errorf(CL_EPERM, "suspend document: it is enclave %.64s's, not %s's", d->module_id, enclave_id);
		goto out;
	}
	if (cl_att_leaf_serial(d, serial) != CL_OK || ctl_store_cert_get(st, serial, &c) != CL_OK) {
		err = cl_errorf(CL_EPERM, "suspend document: its certificate was not issued by this control plane");
		goto out;
	}
	if (c.revoked_at != 0 && c.revoked_at * 1000 <= suspended_at_ms) {
		err = cl_errorf(CL_EPERM, "suspend document: its certificate %s was revoked (%s) before the suspend", serial,
				c.reason);
		goto out;
	}
	err = ctl_state_policy_check(policy, d);
	if (err == CL_EPERM)
		err = cl_errorf(CL_EPERM, "suspend document: %s", cl_error_detail());
out:
	cl_att_doc_free(d);
	return err;
}
