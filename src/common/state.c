/* state.c — the suspend blob's header and its PCR7 file (state.h). libc only. */
#include "common/state.h"

#include <stdbool.h>
#include <string.h>

static bool id_ok(const char *id, size_t n)
{
	if (n == 0 || n > CL_STATE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

cl_err cl_state_header_put(uint8_t out[CL_STATE_HEADER_MAX], const char *enclave_id, uint64_t n,
			   const uint8_t iv[CL_STATE_IV_LEN], size_t *len)
{
	size_t idlen = strlen(enclave_id);
	if (!id_ok(enclave_id, idlen) || n == 0)
		return CL_EINVAL;
	size_t o = 0;
	memcpy(out, CL_STATE_MAGIC, CL_STATE_MAGIC_LEN);
	o += CL_STATE_MAGIC_LEN;
	out[o++] = (uint8_t)idlen;
	memcpy(out + o, enclave_id, idlen);
	o += idlen;
	for (int i = 0; i < 8; i++)
		out[o++] = (uint8_t)(n >> (56 - 8 * i));
	memcpy(out + o, iv, CL_STATE_IV_LEN);
	*len = o + CL_STATE_IV_LEN;
	return CL_OK;
}

cl_err cl_state_header_parse(const uint8_t *p, size_t plen, cl_state_header *h)
{
	memset(h, 0, sizeof(*h));
	if (plen < CL_STATE_MAGIC_LEN + 1 || memcmp(p, CL_STATE_MAGIC, CL_STATE_MAGIC_LEN) != 0)
		return CL_EINVAL;
	size_t idlen = p[CL_STATE_MAGIC_LEN];
	size_t o = CL_STATE_MAGIC_LEN + 1;
	if (idlen == 0 || idlen > CL_STATE_ID_MAX || plen - o < idlen + 8 + CL_STATE_IV_LEN + CL_STATE_TAG_LEN)
		return CL_EINVAL;
	if (!id_ok((const char *)p + o, idlen))
		return CL_EINVAL;
	memcpy(h->enclave_id, p + o, idlen);
	h->enclave_id[idlen] = '\0';
	o += idlen;
	uint64_t n = 0;
	for (int i = 0; i < 8; i++)
		n = n << 8 | p[o++];
	if (n == 0) {
		memset(h, 0, sizeof(*h));
		return CL_EINVAL;
	}
	h->n = n;
	h->aad_len = o;
	memcpy(h->iv, p + o, CL_STATE_IV_LEN);
	h->len = o + CL_STATE_IV_LEN;
	return CL_OK;
}

static const char hexd[] = "0123456789abcdef";

/* A lower-case hex digit's value, or -1. */
static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 2 * n lower-case hex digits at p into out[0..n); false on any other byte. */
static bool unhex(const uint8_t *p, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

cl_err cl_state_file_put(const uint8_t ext[][CL_STATE_EXTEND_LEN], size_t n, uint8_t out[CL_STATE_FILE_MAX],
			 size_t *len)
{
	size_t o = sizeof(CL_STATE_FILE_MAGIC) - 1;
	*len = 0;
	if (n > CL_STATE_EXTENDS_MAX)
		return CL_EINVAL;
	memcpy(out, CL_STATE_FILE_MAGIC, o);
	for (size_t i = 0; i < n; i++) {
		if (ext[i][0] != CL_STATE_EXTEND_REGISTER)
			return CL_EINVAL;
		out[o++] = '7';
		out[o++] = ' ';
		for (size_t b = 1; b < CL_STATE_EXTEND_LEN; b++) {
			out[o++] = (uint8_t)hexd[ext[i][b] >> 4];
			out[o++] = (uint8_t)hexd[ext[i][b] & 15];
		}
		out[o++] = '\n';
	}
	*len = o;
	return CL_OK;
}

cl_err cl_state_file_parse(const uint8_t *p, size_t plen, uint8_t ext[][CL_STATE_EXTEND_LEN], size_t *n,
			   const char **why)
{
	const size_t ml = sizeof(CL_STATE_FILE_MAGIC) - 1, ll = 2u + 96u + 1u;
	size_t o = ml;
	*n = 0;
	*why = "";
	if (plen < ml || memcmp(p, CL_STATE_FILE_MAGIC, ml) != 0) {
		*why = "not a cloister-pcr7/1 file";
		return CL_EINVAL;
	}
	while (o < plen) {
		if (plen - o < ll) {
			*why = "a truncated line";
			goto bad;
		}
		if (*n == CL_STATE_EXTENDS_MAX) {
			*why = "more extends than an enclave can have";
			goto bad;
		}
		if (p[o] != '7' || p[o + 1] != ' ') {
			*why = "a line that does not extend register 7";
			goto bad;
		}
		if (!unhex(p + o + 2, 48, ext[*n] + 1)) {
			*why = "a digest that is not 96 lower-case hex digits";
			goto bad;
		}
		if (p[o + ll - 1] != '\n') {
			*why = "a line that does not end after its digest";
			goto bad;
		}
		ext[*n][0] = CL_STATE_EXTEND_REGISTER;
		(*n)++;
		o += ll;
	}
	return CL_OK;
bad:
	*n = 0;
	return CL_EINVAL;
}

cl_err cl_state_extend_from_hex(const char *hex, uint8_t ext[CL_STATE_EXTEND_LEN])
{
	if (strlen(hex) != 2 * CL_STATE_EXTEND_LEN || !unhex((const uint8_t *)hex, CL_STATE_EXTEND_LEN, ext) ||
	    ext[0] != CL_STATE_EXTEND_REGISTER)
		return CL_EINVAL;
	return CL_OK;
}
