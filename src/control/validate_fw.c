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

bool ctl_valid_hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

typedef enum { F_STR, F_INT, F_BOOL, F_PEM } ftype;
typedef struct field {
	const char *key;
	ftype type;
	bool required;
	size_t maxlen; /* F_STR */
} field;

/* Checks o against the field table: no unknown keys, types, string bounds
 * (printable ASCII only), integers >= 0. */
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
			CL_ENSURE(json_is_integer(v) && json_integer_value(v) >= 0 &&
					  json_integer_value(v) <= INT64_MAX / 2,
				  CL_EINVAL, "%s.%s must be a non-negative integer", what, k);
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

static const field dev_fields[] = {
	{"addr", F_STR, true, 31},	    {"name", F_STR, false, 63},	      {"vendor", F_STR, false, 36},
	{"class", F_STR, false, 36},	    {"version", F_STR, false, 63},    {"sequence", F_INT, false, 0},
	{"active_slot", F_STR, false, 1},   {"counter", F_INT, false, 0},     {"trust_version", F_INT, false, 0},
	{"window_open", F_BOOL, false, 0},  {"window_left_s", F_INT, false, 0}, {"pending", F_INT, false, 0},
	{"booted", F_BOOL, false, 0},	    {"locked", F_BOOL, false, 0},     {"device_key", F_PEM, false, 300},
};

static const field audit_fields[] = {
	{"seq", F_INT, true, 0},	  {"time", F_INT, false, 0},	  {"source", F_STR, false, 63},
	{"op", F_STR, false, 63},	  {"device", F_STR, false, 31},	  {"version", F_STR, false, 63},
	{"sequence", F_INT, false, 0},	  {"digest", F_STR, false, 96},	  {"result", F_STR, false, 63},
	{"reason", F_STR, false, 63},	  {"action", F_STR, false, 63},	  {"hash", F_STR, true, 64},
	{"prev", F_STR, true, 64},
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

static const field fw_fields[] = {
	{"eligible", F_BOOL, true, 0},
	{"quarantined", F_BOOL, true, 0},
	{"window_open", F_BOOL, true, 0},
	{"devices", F_BOOL, false, 0}, /* type checked below */
	{"audit", F_BOOL, false, 0},   /* type checked below */
};

cl_err ctl_parse_fw_report(json_t *fw, ctl_fw_report *out)
{
	memset(out, 0, sizeof(*out));
	CL_ENSURE(json_is_object(fw), CL_EINVAL, "field \"firmware\" must be an object");
	json_t *devs = json_object_get(fw, "devices"), *aud = json_object_get(fw, "audit");
	/* check the scalar fields without the two arrays */
	const char *k;
	json_t *v;
	json_object_foreach(fw, k, v)
	{
		if (strcmp(k, "devices") == 0 || strcmp(k, "audit") == 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < 3; i++)
			known |= strcmp(k, fw_fields[i].key) == 0;
		CL_ENSURE(known, CL_EINVAL, "firmware: unknown field \"%.64s\"", k);
		CL_ENSURE(json_is_boolean(v), CL_EINVAL, "firmware.%s must be a boolean", k);
	}
	for (size_t i = 0; i < 3; i++)
		CL_ENSURE(json_object_get(fw, fw_fields[i].key), CL_EINVAL, "firmware: field \"%s\" is required",
			  fw_fields[i].key);
	out->eligible = json_is_true(json_object_get(fw, "eligible"));
	out->quarantined = json_is_true(json_object_get(fw, "quarantined"));
	out->window_open = json_is_true(json_object_get(fw, "window_open"));
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
			CL_ENSURE(a->seq >= 1, CL_EINVAL, "firmware.audit.seq starts at 1");
			CL_ENSURE(ctl_valid_hex64(a->hash) && ctl_valid_hex64(a->prev), CL_EINVAL,
				  "firmware.audit hash and prev must be 64 lower-case hex digits");
			CL_ENSURE(i == 0 || a->seq > out->audit[i - 1].seq, CL_EINVAL,
				  "firmware.audit records must be in increasing seq order");
			out->naudit++;
		}
	}
	return CL_OK;
}
