/* fuzz_api_json.c — arbitrary bytes through the control plane's request-body
 * validation (src/control/validate.c), no network: the first byte picks the
 * parser (create-enclave, resize, register, sync, op result, send, recv,
 * or 7: the bearer-token splitter on the raw bytes), the rest is the body.
 * Every decoded body also goes through the sync's firmware report parser
 * (ctl_parse_fw_report, as the top-level object and as a sync's "firmware")
 * and the join-token parser, and the attestation parsers (attestation-key,
 * attestation request, an enclave report's pcrs). Every accepted request must satisfy the
 * documented ranges; anything else must be rejected without crashing or
 * leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/control.h"
#include "control/suspend.h"
#include "control/validate.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

/* The attestation parsers on any body; an accepted request is within its caps. */
static void check_attest(json_t *j)
{
	uint8_t point[97], proof[96];
	json_t *f = NULL;
	(void)!ctl_parse_attest_key(j, point, proof);
	if (ctl_parse_attest_req(j, &f) == CL_OK) {
		check(json_object_size(f) <= 3);
		const char *k;
		json_t *v;
		json_object_foreach(f, k, v)
			check(json_is_string(v) && json_string_length(v) <= 4 * ((CTL_ATT_PUBKEY_MAX + 2) / 3));
		json_decref(f);
	} else {
		check(f == NULL);
	}
	if (ctl_parse_pcrs(j) == CL_OK)
		check(json_object_size(j) <= 16);
}

/* ctl_parse_fw_report on fw; an accepted report must respect its bounds. */
static void check_fw(json_t *fw)
{
	static ctl_fw_report rep; /* ~10 KiB: not on the stack */
	if (!fw || ctl_parse_fw_report(fw, &rep) != CL_OK)
		return;
	check(json_is_array(rep.devices) && json_array_size(rep.devices) <= CTL_FW_DEVICES_MAX);
	check(rep.naudit <= CTL_FW_AUDIT_MAX);
	for (size_t i = 0; i < rep.naudit; i++) {
		check(ctl_valid_hex64(rep.audit[i].hash) && ctl_valid_hex64(rep.audit[i].prev));
		check(i == 0 || rep.audit[i].seq > rep.audit[i - 1].seq);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t which = data[0] % 8;
	json_t *j = NULL;
	if (which == 7) {
		char tok[512], buf[256];
		const char *id, *secret;
		size_t n = size - 1 < sizeof(tok) - 1 ? size - 1 : sizeof(tok) - 1;
		memcpy(tok, data + 1, n);
		tok[n] = '\0';
		if (ctl_token_split(tok, "clt", buf, sizeof(buf), &id, &secret) == CL_OK)
			check(ctl_valid_id(id) && secret[0] != '\0');
		return 0;
	}
	if (ctl_json_body(data + 1, size - 1, &j) != CL_OK)
		return 0;
	check_fw(j);
	const char *level;
	int rank;
	if (ctl_parse_join_token(j, &level, &rank) == CL_OK)
		check(rank >= 0 && rank == cl_level_rank(level));
	check_attest(j);
	const char *host = NULL; /* a restore's body (api_restore.c) */
	if (ctl_parse_restore(j, &host) == CL_OK)
		check(!host || ctl_valid_id(host));
	switch (which) {
	case 0: {
		ctl_create_req r;
		if (ctl_parse_create_enclave(j, &r) == CL_OK) {
			check(r.memory_mib >= 16 && r.memory_mib <= 65536 && r.cpus >= 1 && r.cpus <= 64);
			check(ctl_valid_name(r.name) && ctl_valid_id(r.image_id) && r.min_level_rank >= 0);
			check(r.ncons <= 2 * CTL_MAX_CONSTRAINTS);
			for (size_t i = 0; i < r.ncons; i++)
				check(ctl_valid_name(r.cons[i].resource));
		}
		break;
	}
	case 1: {
		int64_t mem = 0;
		if (ctl_parse_resize(j, &mem) == CL_OK)
			check(mem >= 16 && mem <= 65536);
		break;
	}
	case 2: {
		ctl_register_req r;
		if (ctl_parse_register(j, &r) == CL_OK)
			check(ctl_valid_name(r.name) && r.caps.nlatency <= CTL_MAX_LATENCY && r.caps.level_rank >= 0);
		break;
	}
	case 3: {
		ctl_sync_req s;
		if (ctl_parse_sync(j, &s) == CL_OK) {
			check(s.nenclaves <= CTL_MAX_SYNC_ENCLAVES && s.nresults <= CTL_MAX_SYNC_RESULTS);
			for (size_t i = 0; i < s.nenclaves; i++)
				check(ctl_valid_id(s.enclaves[i].id));
			for (size_t i = 0; i < s.nresults; i++)
				check(s.results[i].op != NULL);
			check_fw(s.firmware);
			ctl_sync_req_free(&s);
		}
		break;
	}
	case 4: {
		ctl_sync_result r;
		(void)!ctl_parse_op_result(j, &r);
		break;
	}
	case 5: {
		const char *d;
		size_t n;
		if (ctl_parse_send(j, &d, &n) == CL_OK)
			check(n <= CTL_SEND_MAX);
		break;
	}
	default: {
		int64_t max, wait;
		if (ctl_parse_recv(j, &max, &wait) == CL_OK)
			check(max >= 1 && max <= CTL_RECV_MAX && wait >= 0 && wait <= CTL_WAIT_MAX_MS);
		break;
	}
	}
	json_decref(j);
	return 0;
}
