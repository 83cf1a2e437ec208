/* fuzz_fw_policy.c — the window policy reader (src/fw/fw_policy.c):
 * the strict CBOR parse of a policy document, its target ("any" or the
 * five-element device binding) and the one-shot power cycle, on arbitrary
 * input. An accepted document's fields must be in their ranges and its
 * strings bounded and terminated; nothing is verified (no key here). */
#include <stdint.h>
#include <string.h>

#include "fw/fw_limits.h"
#include "fw/fw_tools.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fw_policy_info pi;
	fw_status s = fw_window_policy_inspect(data, size, &pi);
	if (s != FW_OK)
		return 0;
	if (pi.version < 1 || pi.version > FW_UINT_MAX || pi.seconds < 1 || pi.seconds > FW_MAX_WINDOW_S ||
	    pi.power_cycle > FW_UINT_MAX)
		__builtin_trap();
	if (strnlen(pi.component, sizeof(pi.component)) == sizeof(pi.component) ||
	    strnlen(pi.host_id, sizeof(pi.host_id)) == sizeof(pi.host_id))
		__builtin_trap();
	if (pi.any && (pi.component[0] || pi.host_id[0]))
		__builtin_trap();
	if (!pi.any && (!pi.component[0] || !pi.host_id[0]))
		__builtin_trap();
	return 0;
}
