/* validate_fw.c — strict validation of the "firmware" object a host sends in
 * its sync request (docs/internals.md "Firmware in the sync protocol").
 * Pure: no I/O, no allocation (arrays are bounded before they are walked).
 *
 * An audit record's op, source, result, reason and action are the host's
 * stable names (docs/firmware-guard.md, "Audit log"): checked for their
 * shape ([a-z0-9_], 1..63), not against a fixed list, so that a name a newer
 * host adds — result "intent", reasons "interrupted" and "recovered" came
 * that way — or a host's "unknown" for a value it cannot name never makes
 * a host's whole sync fail (the record would be resent, and refused, for
 * ever). */
#include <stdio.h>
#include <string.h>

#include "control/validate.h"
#include "fw/fw_limits.h"

bool ctl_valid_hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* F_INT: an integer 0..max. F_U64: a uint64 of the firmware formats:
 * an integer 0..FW_UINT_MAX (all a device can hold since the formats cap
 * it, fw/fw_limits.h), or, for a value a device or log written before that
 * cap may still hold, its exact decimal string above it (never wrapped or
 * masked, so it is shown as the host holds it). */
typedef enum { F_STR, F_INT, F_U64, F_BOOL, F_PEM } ftype;
typedef struct field {
	const char *key;
	ftype type;
	bool required;
	size_t maxlen; /* F_STR, F_PEM */
	int64_t min, max; /* F_INT */
} field;

/* A decimal string of a uint64 above INT64_MAX, canonical (no sign, no
 * leading zero). */
static bool legacy_u64(const char *s, size_t n)
{
	static const char umax[] = "18446744073709551615", imax[] = "9223372036854775807";
	if (n < sizeof(imax) - 1 || n > sizeof(umax) - 1 || s[0] == '0' || strspn(s, "0123456789") != n)
		return false;
	if (n == sizeof(umax) - 1 && strcmp(s, umax) > 0)
		return false;
	return n > sizeof(imax) - 1 || strcmp(s, imax) > 0;
}

/* Checks o against the field table: no unknown keys, types, string bounds
 * (printable ASCII only), integers in range. */
static cl_err check_fields(json_t *o, const char *what, const field *fs, size_t nf)
{
	const char *k;
	json_t *v;
	CL_ENSURE(json_is_object(o), CL_EINVAL, "%s: entries must be objects", what);
	json_object_foreach(o, k, v)
	{
		const field *f = NULL;
		for (size_t i = 0; i < nf && !f; i++)
			if (strcmp(k, fs[i].key) == 0)
				f = &fs[i];
		CL_ENSURE(f, CL_EINVAL, "%s: unknown field \"%.64s\"", what, k);
		switch (f->type) {
		case F_STR: {
			CL_ENSURE(json_is_string(v), CL_EINVAL, "%s.%s must be a string", what, k);
			const char *s = json_string_value(v);
			size_t n = json_string_length(v);
			CL_ENSURE(n <= f->maxlen && strlen(s) == n, CL_EINVAL, "%s.%s is too long (max %zu)", what, k,
				  f->maxlen);
			for (size_t i = 0; i < n; i++)
				CL_ENSURE(s[i] >= 0x20 && s[i] < 0x7f, CL_EINVAL, "%s.%s must be printable ASCII", what,
					  k);
			break;
		}
		case F_PEM: {
			/* A PEM public key: printable ASCII lines, nothing else. */
			static const char begin[] = "-----BEGIN PUBLIC KEY-----\n", end[] = "-----END PUBLIC KEY-----\n";
			CL_ENSURE(json_is_string(v), CL_EINVAL, "%s.%s must be a string", what, k);
			const char *s = json_string_value(v);
			size_t n = json_string_length(v);
			CL_ENSURE(n <= f->maxlen && strlen(s) == n, CL_EINVAL, "%s.%s is too long (max %zu)", what, k,
				  f->maxlen);
			for (size_t i = 0; i < n; i++)
				CL_ENSURE((s[i] >= 0x20 && s[i] < 0x7f) || s[i] == '\n', CL_EINVAL,
					  "%s.%s must be printable ASCII lines", what, k);
			CL_ENSURE(n >= sizeof(begin) - 1 + sizeof(end) - 1 && strncmp(s, begin, sizeof(begin) - 1) == 0 &&
					  strcmp(s + n - (sizeof(end) - 1), end) == 0,
				  CL_EINVAL, "%s.%s must be a PEM public key", what, k);
			break;
		}
		case F_INT:
			CL_ENSURE(json_is_integer(v) && json_integer_value(v) >= f->min && json_integer_value(v) <= f->max,
				  CL_EINVAL, "%s.%s must be an integer in %lld..%lld", what, k, (long long)f->min,
				  (long long)f->max);
			break;
		case F_U64:
			CL_ENSURE((json_is_integer(v) && json_integer_value(v) >= 0) ||
					  (json_is_string(v) && legacy_u64(json_string_value(v), json_string_length(v))),
				  CL_EINVAL, "%s.%s must be an integer in 0..%lld (or a larger one's decimal string)", what,
				  k, (long long)FW_UINT_MAX);
			break;
		case F_BOOL:
			CL_ENSURE(json_is_boolean(v), CL_EINVAL, "%s.%s must be a boolean", what, k);
			break;
		}
	}
	for (size_t i = 0; i < nf; i++)
		CL_ENSURE(!fs[i].required || json_object_get(o, fs[i].key), CL_EINVAL, "%s: field \"%s\" is required",
			  what, fs[i].key);
	return CL_OK;
}

#define STR(k, req, n) {k, F_STR, req, n, 0, 0}
#define INT(k, req, lo, hi) {k, F_INT, req, 0, lo, hi}
#define U64(k) {k, F_U64, false, 0, 0, 0}
#define BOOL(k, req) {k, F_BOOL, req, 0, 0, 0}

static const field dev_fields[] = {
	STR("addr", true, 31),
	STR("name", false, 63),
	STR("vendor", false, 36),
	STR("class", false, 36),
	STR("version", false, FW_MAX_STR),
	U64("sequence"),
	STR("active_slot", false, 1),
	U64("counter"),
	U64("trust_version"),
	U64("policy_version"),
	BOOL("window_open", false),
	INT("window_left_s", false, 0, FW_MAX_WINDOW_S),
	INT("window_s", false, 0, FW_MAX_WINDOW_S),
	INT("next_window_s", false, 0, FW_MAX_WINDOW_S),
	INT("pending", false, 0, FW_MAX_PENDING),
	BOOL("booted", false),
	BOOL("locked", false),
	{"device_key", F_PEM, false, 300, 0, 0},
};

static const field audit_fields[] = {
	INT("seq", true, 1, INT64_MAX),
	U64("time"),
	STR("source", false, 63),
	STR("op", false, 63),
	STR("device", false, 31),
	STR("version", false, FW_MAX_STR),
	U64("sequence"),
	STR("digest", false, 96),
	STR("result", false, 63),
	STR("reason", false, 63),
	STR("action", false, 63),
	STR("hash", true, 64),
	STR("prev", true, 64),
};

static const field head_fields[] = {
	INT("seq", true, 0, INT64_MAX),
	STR("hash", true, 64),
};

static const field tamper_fields[] = {
	INT("seq", true, 0, INT64_MAX),
	STR("why", true, 127),
};

/* The audit fields that carry a name. */
static const char *const audit_names[] = {"op", "source", "result", "reason", "action"};

static bool valid_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* The scalar fields of the firmware object (the arrays and objects are
 * checked on their own below). */
static const field fw_fields[] = {
	BOOL("eligible", true),
	BOOL("quarantined", true),
	BOOL("window_open", true),
	INT("power_cycle", false, 0, INT64_MAX),
};

static bool is_compound(const char *k)
{
	return strcmp(k, "devices") == 0 || strcmp(k, "audit") == 0 || strcmp(k, "audit_head") == 0 ||
	       strcmp(k, "audit_tampered") == 0;
}

cl_err ctl_parse_fw_report(json_t *fw, ctl_fw_report *out)
{
	memset(out, 0, sizeof(*out));
	CL_ENSURE(json_is_object(fw), CL_EINVAL, "field \"firmware\" must be an object");
	json_t *devs = json_object_get(fw, "devices"), *aud = json_object_get(fw, "audit");
	json_t *head = json_object_get(fw, "audit_head"), *tam = json_object_get(fw, "audit_tampered");
	/* the scalar fields without the compound ones */
	const char *k;
	json_t *v;
	json_t *scalars = json_object();
	CL_ENSURE(scalars, CL_ENOMEM, "out of memory");
	json_object_foreach(fw, k, v)
	{
		if (!is_compound(k) && json_object_set(scalars, k, v) != 0) {
			json_decref(scalars);
			return cl_errorf(CL_ENOMEM, "out of memory");
		}
	}
	cl_err err = check_fields(scalars, "firmware", fw_fields, sizeof(fw_fields) / sizeof(fw_fields[0]));
	json_decref(scalars);
	CL_GUARD(err);
	out->eligible = json_is_true(json_object_get(fw, "eligible"));
	out->quarantined = json_is_true(json_object_get(fw, "quarantined"));
	out->window_open = json_is_true(json_object_get(fw, "window_open"));
	out->power_cycle = json_integer_value(json_object_get(fw, "power_cycle"));
	if (head) {
		CL_GUARD(check_fields(head, "firmware.audit_head", head_fields, 2));
		out->has_head = true;
		out->head_seq = json_integer_value(json_object_get(head, "seq"));
		out->head_hash = json_string_value(json_object_get(head, "hash"));
		CL_ENSURE(ctl_valid_hex64(out->head_hash), CL_EINVAL,
			  "firmware.audit_head.hash must be 64 lower-case hex digits");
	}
	if (tam) {
		CL_GUARD(check_fields(tam, "firmware.audit_tampered", tamper_fields, 2));
		out->tampered = true;
		out->tampered_seq = json_integer_value(json_object_get(tam, "seq"));
		out->tampered_why = json_string_value(json_object_get(tam, "why"));
	}
	size_t i;
	if (devs) {
		CL_ENSURE(json_is_array(devs) && json_array_size(devs) <= CTL_FW_DEVICES_MAX, CL_EINVAL,
			  "firmware.devices must be an array of at most %d", CTL_FW_DEVICES_MAX);
		json_array_foreach(devs, i, v)
		{
			CL_GUARD(check_fields(v, "firmware.devices", dev_fields,
					      sizeof(dev_fields) / sizeof(dev_fields[0])));
			const char *slot = json_string_value(json_object_get(v, "active_slot"));
			CL_ENSURE(!slot || strcmp(slot, "A") == 0 || strcmp(slot, "B") == 0, CL_EINVAL,
				  "firmware.devices.active_slot must be A or B");
		}
	}
	out->devices = devs;
	if (aud) {
		CL_ENSURE(json_is_array(aud) && json_array_size(aud) <= CTL_FW_AUDIT_MAX, CL_EINVAL,
			  "firmware.audit must be an array of at most %d", CTL_FW_AUDIT_MAX);
		json_array_foreach(aud, i, v)
		{
			CL_GUARD(check_fields(v, "firmware.audit", audit_fields,
					      sizeof(audit_fields) / sizeof(audit_fields[0])));
			for (size_t n = 0; n < sizeof(audit_names) / sizeof(audit_names[0]); n++) {
				const char *name = json_string_value(json_object_get(v, audit_names[n]));
				CL_ENSURE(!name || valid_name(name), CL_EINVAL,
					  "firmware.audit.%s must be a name of [a-z0-9_]", audit_names[n]);
			}
			ctl_fw_audit_in *a = &out->audit[i];
			a->seq = json_integer_value(json_object_get(v, "seq"));
			a->hash = json_string_value(json_object_get(v, "hash"));
			a->prev = json_string_value(json_object_get(v, "prev"));
			a->rec = v;
			CL_ENSURE(ctl_valid_hex64(a->hash) && ctl_valid_hex64(a->prev), CL_EINVAL,
				  "firmware.audit hash and prev must be 64 lower-case hex digits");
			CL_ENSURE(i == 0 || a->seq > out->audit[i - 1].seq, CL_EINVAL,
				  "firmware.audit records must be in increasing seq order");
			out->naudit++;
		}
	}
	return CL_OK;
}
