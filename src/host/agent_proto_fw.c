/* agent_proto_fw.c — the firmware part of a sync answer: "firmware_ops" and
 * "firmware_audit_ack" (docs/internals.md "Firmware in the sync protocol").
 * Pure: no I/O. Every field is checked before anything acts on it; the
 * device model checks the bundles themselves.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "host/agent.h"
#include "host/fwguard.h"

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
		const char *s = json_string_value(data);
		if (!s || s[0] == '\0' || json_string_length(data) > FW_DATA_B64_MAX || strlen(s) != json_string_length(data))
			return 0;
		op->data = strdup(s);
		if (!op->data)
			return 0;
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
