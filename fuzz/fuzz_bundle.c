/* Fuzzes what cloister-init parses of a provisioned bundle (src/common/
 * bundle.c): the first byte picks the tar reader (cl_tar_next over the rest,
 * every entry until the end or a refusal), the BUNDLE_END payload or the
 * EXTEND payload. An accepted entry must have a clean relative path (no
 * "..", no leading '/', no empty component, printable), a type of file or
 * directory, mode bits within 0755 and data inside the input; a refusal
 * must say why in one printable line; at most CL_BUNDLE_ENTRIES_MAX
 * entries are ever returned. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bundle.h"

static void check_entry(const cl_tar_entry *e, const uint8_t *data, size_t size)
{
	size_t n = strlen(e->path);
	if (n == 0 || n > CL_BUNDLE_PATH_MAX || e->path[0] == '/' || e->path[n - 1] == '/')
		__builtin_trap();
	for (const char *c = e->path; *c;) {
		const char *end = strchr(c, '/');
		size_t len = end ? (size_t)(end - c) : strlen(c);
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			__builtin_trap();
		c += len + (end ? 1 : 0);
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)e->path[i] < 0x20 || e->path[i] == 0x7f)
			__builtin_trap();
	if ((e->type != CL_TAR_FILE && e->type != CL_TAR_DIR) || (e->mode & ~0755u) ||
	    (e->type == CL_TAR_DIR && e->size))
		__builtin_trap();
	if (e->data < data || e->size > size || e->data + e->size > data + size)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	switch (data[0] % 3) {
	case 0: {
		cl_tar t;
		cl_tar_entry e;
		char why[CL_BUNDLE_WHY_MAX];
		bool got = true;
		unsigned count = 0;
		cl_tar_init(&t, p, n);
		for (;;) {
			cl_err err = cl_tar_next(&t, &e, &got, why);
			if (err != CL_OK) {
				if (err != CL_EINVAL || !why[0] || strlen(why) >= CL_BUNDLE_WHY_MAX)
					__builtin_trap();
				for (const char *c = why; *c; c++)
					if ((unsigned char)*c < 0x20 || *c == 0x7f)
						__builtin_trap();
				break;
			}
			if (!got)
				break;
			check_entry(&e, p, n);
			if (++count > CL_BUNDLE_ENTRIES_MAX)
				__builtin_trap();
		}
		break;
	}
	case 1: {
		uint8_t sha[48];
		uint64_t len = 0;
		if (cl_bundle_end_parse(p, n, sha, &len) == CL_OK &&
		    (n != CL_BUNDLE_END_LEN || len <= 125 || len > CL_BUNDLE_MAX + 125 || memcmp(sha, p, 48) != 0))
			__builtin_trap();
		break;
	}
	default: {
		uint8_t sha[48], reg = 0;
		if (cl_bundle_extend_parse(p, n, &reg, sha) == CL_OK &&
		    (n != CL_BUNDLE_EXTEND_LEN || reg != CL_BUNDLE_REGISTER || memcmp(sha, p + 1, 48) != 0))
			__builtin_trap();
		break;
	}
	}
	return 0;
}
