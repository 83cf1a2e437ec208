/* state.c — the suspend blob's header (state.h). libc only. */
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
