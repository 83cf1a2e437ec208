/* agent_proto_fw.c — the firmware part of a sync answer: "firmware_ops" and
 * "firmware_audit_ack" (docs/internals.md "Firmware in the sync protocol").
 * Pure: no I/O. Every field is checked before anything acts on it; the
 * device model checks the bundles themselves. An op's data comes inline
 * ("data", base64) or by reference ("data_ref" {size, sha384}: kept in
 * op->data as a reference string, see agent_fwdata.h).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "host/agent_fwdata.h"
#include "fwguard/fwguard.h"

_Static_assert(CL_AGENT_FW_ADDR_MAX == FWG_ADDR_MAX + 1, "bus address size");

/* base64 of the largest bundle a device accepts */
#define FW_DATA_B64_MAX (((size_t)FWG_MAX_BUNDLE / 3 + 1) * 4)

static bool valid_addr(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > FWG_ADDR_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F') ||
		      s[i] == ':' || s[i] == '.'))
			return false;
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s >= 0x7f)
			return false;
	return true;
}

/* "data_ref": {"size": 1..FWG_MAX_BUNDLE, "sha384": 96 lower-case hex} (no
 * other keys) into op->data as the reference string of agent_fwdata.h. */
static cl_err parse_data_ref(json_t *ref, cl_agent_fw_op *op)
{
	const char *k;
	json_t *v;
	CL_ENSURE(json_is_object(ref), CL_EINVAL, "data_ref is not an object");
	json_object_foreach(ref, k, v)
	{
		CL_ENSURE(strcmp(k, "size") == 0 || strcmp(k, "sha384") == 0, CL_EINVAL, "data_ref: unknown key");
	}
	json_t *size = json_object_get(ref, "size");
	const char *sha = json_string_value(json_object_get(ref, "sha384"));
	CL_ENSURE(json_is_integer(size) && json_integer_value(size) >= 1 &&
			  json_integer_value(size) <= (json_int_t)FWG_MAX_BUNDLE,
		  CL_EINVAL, "data_ref: size out of range");
	CL_ENSURE(sha && strlen(sha) == 96 && strspn(sha, "0123456789abcdef") == 96, CL_EINVAL,
		  "data_ref: sha384 must be 96 lower-case hex digits");
	char buf[CL_AGENT_FW_REF_MAX];
	int n = snprintf(buf, sizeof(buf), "%s%lld:%s", CL_AGENT_FW_REF_PREFIX, (long long)json_integer_value(size), sha);
	CL_ENSURE(n > 0 && (size_t)n < sizeof(buf), CL_EINVAL, "data_ref too long");
	op->data = strdup(buf);
	CL_ENSURE(op->data, CL_ENOMEM, "out of memory");
	return CL_OK;
}

static const struct {
	const char *name;
	enum cl_agent_fw_kind kind;
	bool device, data;
} kinds[] = {
	{"update", CL_FWOP_UPDATE, true, true},
	{"queue", CL_FWOP_QUEUE, true, true},
	{"window", CL_FWOP_WINDOW, true, true},
	{"trust", CL_FWOP_TRUST, true, true},
	{"revert", CL_FWOP_REVERT, true, false},
	{"power_cycle", CL_FWOP_POWER_CYCLE, false, false},
	{"clear_quarantine", CL_FWOP_CLEAR_QUARANTINE, false, false},
};

/* 1 = parsed, 0 = malformed but op id usable, -1 = unusable. */
static int parse_fw_op(json_t *e, cl_agent_fw_op *op)
{
	memset(op, 0, sizeof(*op));
	const char *id = json_string_value(json_object_get(e, "op"));
	if (!id || !cl_agent_valid_id(id))
		return -1;
	memcpy(op->op, id, strlen(id) + 1);
	const char *kind = json_string_value(json_object_get(e, "kind"));
	size_t k = 0;
	while (kind && k < sizeof(kinds) / sizeof(kinds[0]) && strcmp(kinds[k].name, kind) != 0)
		k++;
	if (!kind || k == sizeof(kinds) / sizeof(kinds[0]))
		return 0;
	op->kind = kinds[k].kind;
	json_t *dev = json_object_get(e, "device"), *data = json_object_get(e, "data"),
	       *why = json_object_get(e, "reason");
	if (kinds[k].device) {
		const char *d = json_string_value(dev);
		if (!d || !valid_addr(d))
			return 0;
		memcpy(op->device, d, strlen(d) + 1);
	}
	if (kinds[k].data) {
		json_t *ref = json_object_get(e, "data_ref");
		const char *s = json_string_value(data);
		if (ref && !data) {
			/* big data by reference: fetched by cl_agent_fw_fetch */
			if (parse_data_ref(ref, op) != CL_OK)
				return 0;
		} else {
			if (ref || !s || s[0] == '\0' || json_string_length(data) > FW_DATA_B64_MAX ||
			    strlen(s) != json_string_length(data))
				return 0;
			op->data = strdup(s);
			if (!op->data)
				return 0;
		}
	}
	if (why && !json_is_null(why)) {
		const char *r = json_string_value(why);
		if (!r || strlen(r) >= sizeof(op->reason) || !printable(r)) {
			free(op->data);
			op->data = NULL;
			return 0;
		}
		memcpy(op->reason, r, strlen(r) + 1);
	}
	if (op->kind == CL_FWOP_CLEAR_QUARANTINE && op->reason[0] == '\0')
		return 0; /* an operator clears a quarantine only with a reason */
	return 1;
}

cl_err cl_agent_fw_answer_parse(json_t *root, cl_agent_answer *out)
{
	json_t *ack = json_object_get(root, "firmware_audit_ack");
	if (ack && !json_is_null(ack)) {
		CL_ENSURE(json_is_integer(ack) && json_integer_value(ack) >= 0, CL_EINVAL,
			  "sync answer: firmware_audit_ack must be an integer >= 0");
		out->has_fw_ack = true;
		out->fw_audit_ack = json_integer_value(ack);
	}
	/* The control plane's copy of this host's audit head: the log must keep
	 * holding it (fwaudit.h). */
	json_t *anchor = json_object_get(root, "firmware_audit_anchor");
	if (anchor && !json_is_null(anchor)) {
		json_t *seq = json_object_get(anchor, "seq");
		const char *hash = json_string_value(json_object_get(anchor, "hash"));
		CL_ENSURE(json_is_object(anchor) && json_object_size(anchor) == 2 && json_is_integer(seq) &&
				  json_integer_value(seq) >= 0 && hash && strlen(hash) == 64 &&
				  strspn(hash, "0123456789abcdef") == 64,
			  CL_EINVAL, "sync answer: firmware_audit_anchor must be {\"seq\": >= 0, \"hash\": 64 hex}");
		CL_ENSURE(cl_hex_decode(hash, out->fw_anchor_hash, sizeof(out->fw_anchor_hash)) == CL_OK, CL_EINVAL,
			  "sync answer: firmware_audit_anchor.hash is not hex");
		out->has_fw_anchor = true;
		out->fw_anchor_seq = (uint64_t)json_integer_value(seq);
	}
	json_t *ops = json_object_get(root, "firmware_ops");
	if (!ops || json_is_null(ops))
		return CL_OK;
	CL_ENSURE(json_is_array(ops), CL_EINVAL, "sync answer: firmware_ops is not an array");
	size_t n = json_array_size(ops);
	CL_ENSURE(n <= CL_AGENT_FW_OPS_MAX, CL_ETOOBIG, "sync answer: more than %d firmware ops",
		  CL_AGENT_FW_OPS_MAX);
	if (n == 0)
		return CL_OK;
	out->fw_ops = calloc(n, sizeof(*out->fw_ops));
	char **bad = realloc(out->bad_ops, (out->nbad_ops + n) * sizeof(*bad));
	if (bad)
		out->bad_ops = bad;
	if (!out->fw_ops || !bad)
		return cl_errorf(CL_ENOMEM, "sync answer: out of memory");
	for (size_t i = 0; i < n; i++) {
		cl_agent_fw_op op;
		int r = parse_fw_op(json_array_get(ops, i), &op);
		if (r == 1) {
			out->fw_ops[out->nfw_ops++] = op;
			continue;
		}
		free(op.data);
		if (r == 0) {
			if (!(out->bad_ops[out->nbad_ops] = strdup(op.op)))
				return cl_errorf(CL_ENOMEM, "sync answer: out of memory");
			out->nbad_ops++;
		}
	}
	return CL_OK;
}
