/* Fuzzes the key broker's wrap parsers (src/common/wrap.c) with arbitrary
 * bytes: the first byte picks cl_wrap_point (a document's public_key: raw
 * point or DER SubjectPublicKeyInfo) or cl_wrap_open (a wrapped secret,
 * opened with a fixed key). A refusal is CL_ECRYPTO with a one-line detail
 * and an empty output; an accepted point must be 97 bytes starting 0x04 and
 * a wrap to it must open with nothing else than a crash-free refusal. */
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/wrap.h"

static void one_line(void)
{
	for (const char *c = cl_error_detail(); *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static EVP_PKEY *key;
	uint8_t point[CL_WRAP_POINT_LEN];
	cl_buf out;
	if (size < 1)
		return 0;
	if (!key && !(key = EVP_EC_gen("secp384r1")))
		__builtin_trap();
	cl_buf_init(&out, CL_WRAP_MSG_MAX);
	if (data[0] & 1) {
		cl_err e = cl_wrap_open(key, data + 1, size - 1, &out);
		if (e != CL_OK && (e != CL_ECRYPTO || out.len != 0))
			__builtin_trap();
		if (e != CL_OK)
			one_line();
	} else {
		cl_err e = cl_wrap_point(data + 1, size - 1, point);
		if (e == CL_OK) {
			if (point[0] != 0x04)
				__builtin_trap();
			if (cl_wrap_seal(point, data, size > 64 ? 64 : size, &out) != CL_OK ||
			    out.len != (size > 64 ? 64 : size) + CL_WRAP_OVERHEAD)
				__builtin_trap();
		} else if (e != CL_ECRYPTO) {
			__builtin_trap();
		} else {
			one_line();
		}
	}
	cl_buf_free(&out);
	return 0;
}
