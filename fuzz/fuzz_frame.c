/* Fuzzes the channel frame decoder with arbitrary byte streams in arbitrary chunks. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t store[4096];
	cl_frame_dec d;
	if (size < 1)
		return 0;
	/* First byte chooses the chunk size so splits are explored too. */
	size_t chunk = (size_t)data[0] % 64 + 1;
	cl_frame_dec_init(&d, store, sizeof(store), 1024);
	data++;
	size--;
	while (size) {
		size_t n = chunk < size ? chunk : size;
		if (n > cl_frame_dec_space(&d))
			return 0;
		memcpy(cl_frame_dec_tail(&d), data, n);
		cl_frame_dec_commit(&d, n);
		data += n;
		size -= n;
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		bool got;
		cl_err e;
		while ((e = cl_frame_pull(&d, &got, &type, &p, &len)) == CL_OK && got)
			if (len > 1024 || p < store || p + len > store + sizeof(store))
				__builtin_trap();
		if (e != CL_OK)
			return 0;
	}
	return 0;
}
