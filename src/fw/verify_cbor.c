/* verify_cbor.c — the verifier's CBOR reader: a strict canonical subset,
 * allocation-free and non-recursive. Every length is checked against the
 * bytes actually left before it is used, so a declared count never drives
 * an allocation or a read past the input. */
#include <string.h>

#include "verify_internal.h"

void fw_cbor_init(fw_cbor *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->pos = 0;
}

size_t fw_cbor_left(const fw_cbor *c)
{
	return c->len - c->pos;
}

fw_status fw_cbor_head(fw_cbor *c, uint8_t *major, uint64_t *arg)
{
	if (fw_cbor_left(c) < 1)
		return FW_E_TRUNCATED;
	uint8_t ib = c->p[c->pos];
	uint8_t ai = ib & 0x1f;
	size_t extra;
	*major = ib >> 5;
	if (ai < 24)
		extra = 0;
	else if (ai <= 27)
		extra = (size_t)1 << (ai - 24);
	else
		return FW_E_MALFORMED; /* reserved or indefinite length */
	if (fw_cbor_left(c) < 1 + extra)
		return FW_E_TRUNCATED;
	uint64_t v = ai < 24 ? ai : 0;
	for (size_t i = 0; i < extra; i++)
		v = (v << 8) | c->p[c->pos + 1 + i];
	/* Shortest form only: one value, one encoding. */
	if ((ai == 24 && v < 24) || (ai == 25 && v <= 0xff) || (ai == 26 && v <= 0xffff) ||
	    (ai == 27 && v <= 0xffffffffu))
		return FW_E_MALFORMED;
	if (*major == FW_CBOR_TAG)
		return FW_E_MALFORMED; /* no tags in the formats */
	if (*major == FW_CBOR_SIMPLE && !(ai == 22))
		return FW_E_MALFORMED; /* only null; no floats, booleans or undefined */
	c->pos += 1 + extra;
	*arg = v;
	return FW_OK;
}

static fw_status expect(fw_cbor *c, uint8_t want, uint64_t *arg)
{
	uint8_t major;
	size_t save = c->pos;
	fw_status s = fw_cbor_head(c, &major, arg);
	if (s != FW_OK)
		return s;
	if (major != want) {
		c->pos = save;
		return FW_E_MALFORMED;
	}
	return FW_OK;
}

fw_status fw_cbor_uint(fw_cbor *c, uint64_t *v)
{
	return expect(c, FW_CBOR_UINT, v);
}

fw_status fw_cbor_expect_nint(fw_cbor *c, uint64_t n)
{
	uint64_t v;
	fw_status s = expect(c, FW_CBOR_NINT, &v);
	if (s != FW_OK)
		return s;
	return v == n ? FW_OK : FW_E_MALFORMED;
}

static fw_status string(fw_cbor *c, uint8_t major, const uint8_t **p, size_t *n)
{
	uint64_t len;
	fw_status s = expect(c, major, &len);
	if (s != FW_OK)
		return s;
	if (len > fw_cbor_left(c))
		return FW_E_TRUNCATED;
	*p = c->p + c->pos;
	*n = (size_t)len;
	c->pos += (size_t)len;
	return FW_OK;
}

fw_status fw_cbor_bstr(fw_cbor *c, const uint8_t **p, size_t *n)
{
	return string(c, FW_CBOR_BSTR, p, n);
}

fw_status fw_cbor_tstr(fw_cbor *c, const uint8_t **p, size_t *n)
{
	return string(c, FW_CBOR_TSTR, p, n);
}

fw_status fw_cbor_array(fw_cbor *c, uint64_t *n)
{
	return expect(c, FW_CBOR_ARRAY, n);
}

fw_status fw_cbor_map(fw_cbor *c, uint64_t *n)
{
	return expect(c, FW_CBOR_MAP, n);
}

fw_status fw_cbor_null(fw_cbor *c)
{
	uint64_t v;
	fw_status s = expect(c, FW_CBOR_SIMPLE, &v);
	return s; /* fw_cbor_head admits only null (22) as a simple value */
}

fw_status fw_cbor_skip(fw_cbor *c, uint64_t max_items)
{
	/* `pending` counts items still to read: no stack, no recursion. Each
	 * container adds its declared count, but the count is only trusted up to
	 * max_items, and every item costs at least one input byte, so the loop
	 * ends within min(max_items, input length) rounds. */
	uint64_t pending = 1, seen = 0;
	while (pending > 0) {
		uint8_t major;
		uint64_t arg;
		if (++seen > max_items)
			return FW_E_OVERSIZED;
		fw_status s = fw_cbor_head(c, &major, &arg);
		if (s != FW_OK)
			return s;
		pending--;
		switch (major) {
		case FW_CBOR_BSTR:
		case FW_CBOR_TSTR:
			if (arg > fw_cbor_left(c))
				return FW_E_TRUNCATED;
			c->pos += (size_t)arg;
			break;
		case FW_CBOR_ARRAY:
		case FW_CBOR_MAP: {
			uint64_t add = arg;
			if (add > max_items || (major == FW_CBOR_MAP && add > max_items / 2))
				return FW_E_OVERSIZED;
			if (major == FW_CBOR_MAP)
				add *= 2;
			if (add > fw_cbor_left(c))
				return FW_E_TRUNCATED;
			pending += add;
			break;
		}
		default:
			break;
		}
	}
	return FW_OK;
}

fw_status fw_cbor_bstr_fixed(fw_cbor *c, const uint8_t **p, size_t n)
{
	size_t got;
	fw_status s = fw_cbor_bstr(c, p, &got);
	if (s != FW_OK)
		return s;
	return got == n ? FW_OK : FW_E_MALFORMED;
}

fw_status fw_cbor_text_copy(fw_cbor *c, char *out, size_t max)
{
	const uint8_t *p;
	size_t n;
	fw_status s = fw_cbor_tstr(c, &p, &n);
	if (s != FW_OK)
		return s;
	if (n == 0 || n > max)
		return FW_E_MALFORMED;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return FW_E_MALFORMED; /* printable ASCII only: no NUL, no escapes */
	memcpy(out, p, n);
	out[n] = '\0';
	return FW_OK;
}

bool fw_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= (uint8_t)(a[i] ^ b[i]);
	return acc == 0;
}

void fw_wipe(void *p, size_t n)
{
	if (n == 0)
		return;
	memset(p, 0, n);
	/* The barrier makes the stores observable, so they are not elided. */
	__asm__ __volatile__("" : : "r"(p) : "memory");
}
