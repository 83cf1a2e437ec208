/* Fuzzes the guest interface's request parser (src/guestif/guestif_proto.c)
 * the way the server feeds it: the input is split at '\n' into lines of at
 * most CL_GUESTIF_LINE_MAX bytes, each parsed on its own; a parsed request
 * must satisfy the parser's contract, and every answer must format as one
 * line. The input is copied to a buffer of exactly its size so ASan catches
 * any read past a line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guestif/guestif.h"

static void check(const cl_guestif_req *r)
{
	if (r->verb == CL_GUESTIF_LIST)
		return;
	size_t n = strlen(r->addr);
	if (n == 0 || n > FWG_ADDR_MAX)
		abort();
	if (r->verb == CL_GUESTIF_READ)
		return;
	if (r->verb != CL_GUESTIF_WRITE || r->len == 0 || r->len > CL_GUESTIF_WRITE_MAX ||
	    r->len - 1 > UINT64_MAX - r->offset || strcmp(cl_guestif_region_name(r->region), "?") == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cl_buf out;
	cl_buf_init(&out, 4096);
	while (size > 0) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;
		char *line = malloc(n ? n : 1);
		if (!line)
			break;
		memcpy(line, data, n);
		cl_guestif_req r;
		if (cl_guestif_parse(line, n, &r) == CL_OK) {
			if (n >= CL_GUESTIF_LINE_MAX)
				abort();
			check(&r);
		} else if (cl_guestif_format_err("bad_request", cl_error_detail(), &out) != CL_OK ||
			   memchr(out.data, '\n', out.len - 1) != NULL) {
			abort();
		}
		cl_buf_reset(&out);
		free(line);
		data += nl ? n + 1 : n;
		size -= nl ? n + 1 : n;
	}
	cl_buf_free(&out);
	return 0;
}
