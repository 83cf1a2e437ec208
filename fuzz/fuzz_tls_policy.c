/* fuzz_tls_policy.c — arbitrary bytes through the TLS policy a tenant sends
 * with POST /v1/enclaves/{id}/tls (ctl_tls_parse_policy, api_tls_policy.c),
 * decoded by ctl_json_body as the server does. An accepted policy must be
 * normalized and within its documented bounds (docs/api/enclaves-tls.md):
 * every field present, a known mode and insecure rule, lists of at most 16
 * with only the mode's own list non-empty, distinct ports 1..65535, a header
 * of 1..64 token characters or null; anything else is refused without
 * crashing or leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/api_tls.h"
#include "control/validate.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = NULL, *p = NULL;
	if (ctl_json_body(data, size, &j) != CL_OK)
		return 0;
	if (ctl_tls_parse_policy(j, &p) == CL_OK) {
		check(json_object_size(p) == 6);
		const char *mode = json_string_value(json_object_get(p, "mode"));
		const char *ins = json_string_value(json_object_get(p, "insecure"));
		json_t *h = json_object_get(p, "header");
		check(mode && ins && (strcmp(ins, "allow") == 0 || strcmp(ins, "reject") == 0));
		check(json_is_null(h) || (json_is_string(h) && json_string_length(h) >= 1 && json_string_length(h) <= 64));
		static const char *const lists[] = {"ports", "ips", "adapters"};
		for (int i = 0; i < 3; i++) {
			json_t *a = json_object_get(p, lists[i]);
			check(json_is_array(a) && json_array_size(a) <= 16);
			check((json_array_size(a) > 0) == (strcmp(mode, lists[i]) == 0));
		}
		json_t *ports = json_object_get(p, "ports");
		for (size_t i = 0; i < json_array_size(ports); i++) {
			json_int_t v = json_integer_value(json_array_get(ports, i));
			check(v >= 1 && v <= 65535);
			for (size_t k = 0; k < i; k++)
				check(json_integer_value(json_array_get(ports, k)) != v);
		}
		json_decref(p);
	} else {
		check(p == NULL);
	}
	json_decref(j);
	return 0;
}
