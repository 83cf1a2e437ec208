/* fuzz_agent_answer.c — the agent's sync-answer parser
 * (cl_agent_answer_parse, incl. firmware_ops and firmware_audit_ack). What
 * it accepts must hold its invariants: ids valid (ops, their tenant, the
 * "cancel" list), deadlines within their cap, bounded counts, device
 * addresses and reasons within their buffers, ops of a known kind with the
 * fields that kind needs (a TLS op's generation, host id, chain and policy
 * within their bounds); a refusal leaves nothing allocated. */
#include <stdint.h>
#include <string.h>

#include "host/agent_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cl_agent_answer a;
	if (cl_agent_answer_parse((const char *)data, size, &a) != CL_OK) {
		if (a.desired || a.ops || a.fw_ops || a.bad_ops || a.cancel || a.ndesired || a.nops || a.nfw_ops ||
		    a.nbad_ops || a.ncancel)
			__builtin_trap();
		return 0;
	}
	if (a.generation < 0 || (a.has_fw_ack && a.fw_audit_ack < 0) || a.nfw_ops > CL_AGENT_FW_OPS_MAX)
		__builtin_trap();
	for (size_t i = 0; i < a.ndesired; i++)
		if (!cl_agent_valid_id(a.desired[i].id) || a.desired[i].memory_mib < 16)
			__builtin_trap();
	for (size_t i = 0; i < a.nops; i++)
		if (!cl_agent_valid_id(a.ops[i].op) || !cl_agent_valid_id(a.ops[i].enclave) ||
		    (a.ops[i].tenant[0] && !cl_agent_valid_id(a.ops[i].tenant)) ||
		    a.ops[i].deadline_ms > CL_AGENT_OP_DEADLINE_MAX)
			__builtin_trap();
	for (size_t i = 0; i < a.nops; i++) {
		const cl_agent_op *o = &a.ops[i];
		if (o->kind != CL_OP_TLS_GENERATE && o->kind != CL_OP_TLS_INSTALL && o->kind != CL_OP_TLS_REMOVE) {
			if (o->tls)
				__builtin_trap();
			continue;
		}
		const cl_agent_tls_args *t = o->tls;
		if (!t || (o->kind != CL_OP_TLS_REMOVE && t->gen == 0) ||
		    (o->kind == CL_OP_TLS_GENERATE && !cl_agent_valid_id(t->host_id)))
			__builtin_trap();
		if (o->kind != CL_OP_TLS_INSTALL)
			continue;
		const cl_agent_tls_policy *p = &t->policy;
		if (!t->chain || strlen(t->chain) != t->chain_len || t->chain_len == 0 ||
		    t->chain_len > CL_AGENT_TLS_CHAIN_MAX || p->mode > CL_AGENT_TLS_AUTO ||
		    p->nports > CL_AGENT_TLS_LIST_MAX || p->nips > CL_AGENT_TLS_LIST_MAX ||
		    p->nadapters > CL_AGENT_TLS_LIST_MAX || strnlen(p->header, sizeof(p->header)) == sizeof(p->header) ||
		    (p->mode == CL_AGENT_TLS_PORTS) != (p->nports > 0) || (p->mode == CL_AGENT_TLS_IPS) != (p->nips > 0) ||
		    (p->mode == CL_AGENT_TLS_ADAPTERS) != (p->nadapters > 0))
			__builtin_trap();
		for (size_t k = 0; k < p->nports; k++)
			if (p->ports[k] == 0)
				__builtin_trap();
	}
	for (size_t i = 0; i < a.ncancel; i++)
		if (!cl_agent_valid_id(a.cancel[i]))
			__builtin_trap();
	for (size_t i = 0; i < a.nfw_ops; i++) {
		const cl_agent_fw_op *o = &a.fw_ops[i];
		bool needs_dev = o->kind == CL_FWOP_UPDATE || o->kind == CL_FWOP_QUEUE || o->kind == CL_FWOP_WINDOW ||
				 o->kind == CL_FWOP_TRUST || o->kind == CL_FWOP_REVERT;
		bool needs_data = needs_dev && o->kind != CL_FWOP_REVERT;
		if (!cl_agent_valid_id(o->op) || o->kind < CL_FWOP_UPDATE || o->kind > CL_FWOP_REVERT ||
		    strnlen(o->device, sizeof(o->device)) == sizeof(o->device) ||
		    strnlen(o->reason, sizeof(o->reason)) == sizeof(o->reason) || (needs_dev && !o->device[0]) ||
		    (needs_data && (!o->data || !o->data[0])) ||
		    (o->kind == CL_FWOP_CLEAR_QUARANTINE && !o->reason[0]))
			__builtin_trap();
	}
	for (size_t i = 0; i < a.nbad_ops; i++)
		if (!cl_agent_valid_id(a.bad_ops[i]))
			__builtin_trap();
	cl_agent_answer_free(&a);
	return 0;
}
