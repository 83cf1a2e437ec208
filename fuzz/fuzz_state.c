/* Fuzzes the suspend blob's pieces (docs/suspend.md "The blob"). The first
 * byte picks:
 *  - 0: cl_state_header_parse over the rest. An accepted header must have
 *    a clean id, n >= 1, room for the tag after it, aad_len = len - 12, and
 *    cl_state_header_put of what it parsed must give back the same bytes.
 *  - 1: the tar writer's round trip. The rest is a list of entries, each
 *    u8 type selector, u8 mode low byte, u8 size, u8 path length, the path
 *    bytes; each entry cl_tar_header_put accepts is written with `size`
 *    bytes of data, and cl_tar_next must read back exactly the accepted
 *    entries (path, type, mode within 0755, size, data), then the end.
 *  - 2 (exactly): cl_state_file_parse over the rest (.cloister-state, the
 *    PCR7 extends). An accepted file has at most CL_STATE_EXTENDS_MAX
 *    extends of register 7, and cl_state_file_put of them gives back the
 *    same bytes (the format has one spelling); a refused one says why and
 *    leaves no extend. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/bundle.h"
#include "common/state.h"

#define MAX_ENTRIES 32u

typedef struct written {
	char path[CL_BUNDLE_PATH_MAX + 1];
	int type;
	uint32_t mode;
	size_t size;
	uint8_t fill;
} written;

static void header(const uint8_t *p, size_t n)
{
	cl_state_header h;
	if (cl_state_header_parse(p, n, &h) != CL_OK)
		return;
	size_t idlen = strlen(h.enclave_id);
	if (h.n == 0 || idlen == 0 || idlen > CL_STATE_ID_MAX || h.len + CL_STATE_TAG_LEN > n ||
	    h.aad_len + CL_STATE_IV_LEN != h.len)
		__builtin_trap();
	uint8_t out[CL_STATE_HEADER_MAX];
	size_t len = 0;
	if (cl_state_header_put(out, h.enclave_id, h.n, h.iv, &len) != CL_OK || len != h.len || memcmp(out, p, len) != 0)
		__builtin_trap();
}

static void tar_round_trip(const uint8_t *p, size_t n)
{
	static written w[MAX_ENTRIES];
	size_t cap = MAX_ENTRIES * (2 * CL_TAR_BLOCK) + CL_TAR_END_LEN;
	uint8_t *t = calloc(1, cap);
	size_t o = 0, nw = 0, i = 0;
	char why[CL_BUNDLE_WHY_MAX];
	if (!t)
		return;
	while (nw < MAX_ENTRIES && n - i >= 4) {
		int type = (p[i] & 1) ? CL_TAR_DIR : CL_TAR_FILE;
		uint32_t mode = p[i + 1] | ((uint32_t)(p[i] & 0x0e) << 7);
		size_t size = type == CL_TAR_DIR ? 0 : p[i + 2];
		size_t plen = p[i + 3];
		i += 4;
		if (plen > n - i)
			break;
		char path[CL_BUNDLE_PATH_MAX + 2];
		memcpy(path, p + i, plen);
		path[plen] = '\0';
		i += plen;
		if (strlen(path) != plen)
			continue; /* a NUL inside: not a path */
		if (cl_tar_header_put(t + o, path, type, mode, size, why) != CL_OK) {
			if (!why[0])
				__builtin_trap();
			continue;
		}
		/* the same path twice is the reader's business (it refuses it
		 * only by the extractor); keep it: the reader returns both */
		o += CL_TAR_BLOCK;
		memset(t + o, (int)(nw + 1), size);
		o += size + cl_tar_pad(size);
		memcpy(w[nw].path, path, plen + 1);
		w[nw].type = type;
		w[nw].mode = mode & 0755u;
		w[nw].size = size;
		w[nw].fill = (uint8_t)(nw + 1);
		nw++;
	}
	o += CL_TAR_END_LEN;
	cl_tar r;
	cl_tar_entry e;
	bool got = false;
	cl_tar_init(&r, t, o);
	for (size_t k = 0; k < nw; k++) {
		if (cl_tar_next(&r, &e, &got, why) != CL_OK || !got || strcmp(e.path, w[k].path) != 0 ||
		    e.type != w[k].type || e.mode != w[k].mode || e.size != w[k].size)
			__builtin_trap();
		for (size_t b = 0; b < e.size; b++)
			if (e.data[b] != w[k].fill)
				__builtin_trap();
	}
	if (cl_tar_next(&r, &e, &got, why) != CL_OK || got)
		__builtin_trap();
	free(t);
}

static void pcr7_file(const uint8_t *p, size_t n)
{
	uint8_t ext[CL_STATE_EXTENDS_MAX][CL_STATE_EXTEND_LEN], out[CL_STATE_FILE_MAX];
	size_t k = 99, len = 0;
	const char *why = NULL;
	if (cl_state_file_parse(p, n, ext, &k, &why) != CL_OK) {
		if (k != 0 || !why || !why[0])
			__builtin_trap();
		return;
	}
	if (k > CL_STATE_EXTENDS_MAX)
		__builtin_trap();
	for (size_t i = 0; i < k; i++)
		if (ext[i][0] != CL_STATE_EXTEND_REGISTER)
			__builtin_trap();
	if (cl_state_file_put((const uint8_t(*)[CL_STATE_EXTEND_LEN])ext, k, out, &len) != CL_OK || len != n ||
	    memcmp(out, p, n) != 0)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] == 2)
		pcr7_file(data + 1, size - 1);
	else if (data[0] % 2 == 0)
		header(data + 1, size - 1);
	else
		tar_round_trip(data + 1, size - 1);
	return 0;
}
