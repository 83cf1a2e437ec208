/* fuzz_upload_json.c — arbitrary bytes through the request-body parsers of
 * uploads and images (src/control/upload.h), no network: the first byte
 * picks the parser (0: POST /v1/uploads, 1: POST /v1/images as JSON, 2: PUT
 * /v1/images/quota), the rest is the body, decoded by ctl_json_body as the
 * server does. Every accepted body must satisfy the documented ranges;
 * anything else must be rejected without crashing or leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control/upload.h"
#include "control/validate.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

static int is_lower_hex96(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return 0;
	return n == 96;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = NULL;
	if (size < 1 || ctl_json_body(data + 1, size - 1, &j) != CL_OK)
		return 0;
	switch (data[0] % 3) {
	case 0: {
		int64_t n = 0;
		const char *sha = NULL;
		if (ctl_parse_upload_create(j, &n, &sha) == CL_OK)
			check(n >= 1 && (uint64_t)n <= CTL_UPLOAD_MAX && sha && is_lower_hex96(sha));
		break;
	}
	case 1: {
		const char *up = NULL, *name = NULL;
		if (ctl_parse_image_upload(j, &up, &name) == CL_OK) {
			check(up && ctl_upload_valid_id(up));
			if (name) {
				size_t len = strlen(name);
				check(len >= 1 && len <= 127);
				for (size_t i = 0; i < len; i++)
					check(name[i] > 0x20 && name[i] < 0x7f);
			}
		}
		break;
	}
	default: {
		int64_t limit = 0;
		if (ctl_parse_quota(j, &limit) == CL_OK)
			check(limit == -1 || (limit >= 0 && limit <= CTL_QUOTA_MAX));
		break;
	}
	}
	json_decref(j);
	return 0;
}
