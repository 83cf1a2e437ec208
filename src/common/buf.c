#include "common/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cl_buf_init(cl_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void cl_buf_free(cl_buf *b)
{
	if (b->cap) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	size_t max = b->max;
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void cl_buf_reset(cl_buf *b)
{
	if (b->cap)
		explicit_bzero(b->data, b->cap);
	b->len = b->pos = 0;
}

void cl_buf_wrap(cl_buf *b, const void *data, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->data = (uint8_t *)data;
	b->len = b->max = len;
}

/* Grows storage so that `extra` more bytes (+1 for a NUL) fit. */
static cl_err reserve(cl_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return cl_errorf(CL_ETOOBIG, "buffer limit of %zu bytes exceeded", b->max);
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return CL_OK;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	uint8_t *n = malloc(ncap);
	if (!n)
		return CL_ENOMEM;
	if (b->cap) {
		memcpy(n, b->data, b->len);
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = n;
	b->cap = ncap;
	return CL_OK;
}

cl_err cl_buf_put(cl_buf *b, const void *p, size_t n)
{
	CL_GUARD(reserve(b, n));
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return CL_OK;
}

cl_err cl_buf_put_u8(cl_buf *b, uint8_t v)
{
	return cl_buf_put(b, &v, 1);
}

cl_err cl_buf_put_be16(cl_buf *b, uint16_t v)
{
	uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	return cl_buf_put(b, t, 2);
}

cl_err cl_buf_put_be32(cl_buf *b, uint32_t v)
{
	uint8_t t[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	return cl_buf_put(b, t, 4);
}

cl_err cl_buf_put_be64(cl_buf *b, uint64_t v)
{
	CL_GUARD(cl_buf_put_be32(b, (uint32_t)(v >> 32)));
	return cl_buf_put_be32(b, (uint32_t)v);
}

cl_err cl_buf_put_str(cl_buf *b, const char *s)
{
	return cl_buf_put(b, s, strlen(s));
}

cl_err cl_buf_printf(cl_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return CL_EINVAL;
	CL_GUARD(reserve(b, (size_t)n));
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return CL_OK;
}

cl_err cl_buf_cstr(cl_buf *b, const char **out)
{
	CL_GUARD(reserve(b, 0));
	b->data[b->len] = '\0';
	*out = (const char *)b->data;
	return CL_OK;
}

size_t cl_buf_remaining(const cl_buf *b)
{
	return b->len - b->pos;
}

cl_err cl_buf_get_ref(cl_buf *b, const uint8_t **p, size_t n)
{
	if (n > cl_buf_remaining(b))
		return cl_errorf(CL_EINVAL, "truncated input: need %zu bytes, have %zu", n,
				 cl_buf_remaining(b));
	*p = b->data + b->pos;
	b->pos += n;
	return CL_OK;
}

cl_err cl_buf_get(cl_buf *b, void *p, size_t n)
{
	const uint8_t *src = NULL;
	CL_GUARD(cl_buf_get_ref(b, &src, n));
	if (n)
		memcpy(p, src, n);
	return CL_OK;
}

cl_err cl_buf_get_u8(cl_buf *b, uint8_t *v)
{
	return cl_buf_get(b, v, 1);
}

cl_err cl_buf_get_be16(cl_buf *b, uint16_t *v)
{
	const uint8_t *p = NULL;
	CL_GUARD(cl_buf_get_ref(b, &p, 2));
	*v = (uint16_t)(p[0] << 8 | p[1]);
	return CL_OK;
}

cl_err cl_buf_get_be32(cl_buf *b, uint32_t *v)
{
	const uint8_t *p = NULL;
	CL_GUARD(cl_buf_get_ref(b, &p, 4));
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return CL_OK;
}

cl_err cl_buf_get_be64(cl_buf *b, uint64_t *v)
{
	const uint8_t *p = NULL;
	CL_GUARD(cl_buf_get_ref(b, &p, 8)); /* all or nothing: the cursor moves only on success */
	uint64_t r = 0;
	for (int i = 0; i < 8; i++)
		r = r << 8 | p[i];
	*v = r;
	return CL_OK;
}
