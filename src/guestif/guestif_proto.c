/* guestif_proto.c — the guest interface's wire format: request parser,
 * response formatter and the write rate limiter's token bucket. Pure: no
 * I/O, no allocation in the parser (it is fuzzed: fuzz/fuzz_guestif.c).
 *
 *   request = verb *( SP token ) [CR]        (without its LF, <= 511 bytes)
 *   verb    = "LIST" / "READ" SP addr / "WRITE" SP addr SP region SP offset SP hex
 *   addr    = 1*31 ( ALPHA / DIGIT / ":" / "." / "-" )
 *   region  = "firmware" / "config" / "rom"
 *   offset  = 1*20 DIGIT / "0x" 1*16 HEXDIG    (offset + len - 1 < 2^64)
 *   hex     = 2*480 HEXDIG, even count
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "guestif/guestif.h"

#define ERR_MSG_MAX 200

/* One token of the line: [*pos, next space or end). Refuses empty tokens
 * (two spaces in a row, leading or trailing space). */
static cl_err next_token(const char *line, size_t len, size_t *pos, const char **tok, size_t *tlen)
{
	size_t p = *pos;
	CL_ENSURE(p < len, CL_EINVAL, "missing argument");
	size_t s = p;
	while (p < len && line[p] != ' ')
		p++;
	CL_ENSURE(p > s, CL_EINVAL, "empty argument (one space between arguments)");
	*tok = line + s;
	*tlen = p - s;
	if (p < len) {
		p++; /* the separator */
		CL_ENSURE(p < len, CL_EINVAL, "trailing space");
	}
	*pos = p;
	return CL_OK;
}

static bool tok_is(const char *tok, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(tok, word, n) == 0;
}

static cl_err parse_addr(const char *tok, size_t n, char *out)
{
	CL_ENSURE(n >= 1 && n <= FWG_ADDR_MAX, CL_EINVAL, "device address must be 1..%d characters", FWG_ADDR_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = tok[i];
		bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == ':' ||
			  c == '.' || c == '-';
		CL_ENSURE(ok, CL_EINVAL, "device address may hold only letters, digits, ':', '.', '-'");
	}
	memcpy(out, tok, n);
	out[n] = '\0';
	return CL_OK;
}

static cl_err parse_region(const char *tok, size_t n, fwg_region *out)
{
	if (tok_is(tok, n, "firmware"))
		*out = FWG_REGION_FIRMWARE;
	else if (tok_is(tok, n, "config"))
		*out = FWG_REGION_CONFIG;
	else if (tok_is(tok, n, "rom"))
		*out = FWG_REGION_ROM;
	else
		return cl_errorf(CL_EINVAL, "region must be firmware, config or rom");
	return CL_OK;
}

/* Decimal (1..20 digits) or 0x + 1..16 hex digits, no sign, no overflow. */
static cl_err parse_offset(const char *tok, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	if (n > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X')) {
		CL_ENSURE(n - 2 <= 16, CL_EINVAL, "offset does not fit in 64 bits");
		for (size_t i = 2; i < n; i++) {
			int d = cl_hex_digit(tok[i]);
			CL_ENSURE(d >= 0, CL_EINVAL, "offset: bad hex digit");
			v = v << 4 | (uint64_t)d;
		}
	} else {
		CL_ENSURE(n >= 1 && n <= 20, CL_EINVAL, "offset must be a decimal or 0x-hex number");
		for (size_t i = 0; i < n; i++) {
			CL_ENSURE(tok[i] >= '0' && tok[i] <= '9', CL_EINVAL, "offset must be a decimal or 0x-hex number");
			uint64_t d = (uint64_t)(tok[i] - '0');
			CL_ENSURE(v <= (UINT64_MAX - d) / 10, CL_EINVAL, "offset does not fit in 64 bits");
			v = v * 10 + d;
		}
	}
	*out = v;
	return CL_OK;
}

static cl_err parse_hex(const char *tok, size_t n, uint8_t *out, size_t *len)
{
	CL_ENSURE(n >= 2, CL_EINVAL, "data: at least one byte (two hex digits)");
	CL_ENSURE(n % 2 == 0, CL_EINVAL, "data: odd number of hex digits");
	CL_ENSURE(n / 2 <= CL_GUESTIF_WRITE_MAX, CL_ETOOBIG, "data: more than %d bytes", CL_GUESTIF_WRITE_MAX);
	for (size_t i = 0; i < n; i += 2) {
		int hi = cl_hex_digit(tok[i]), lo = cl_hex_digit(tok[i + 1]);
		CL_ENSURE(hi >= 0 && lo >= 0, CL_EINVAL, "data: bad hex digit");
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return CL_OK;
}

cl_err cl_guestif_parse(const char *line, size_t len, cl_guestif_req *out)
{
	CL_ENSURE(line && out, CL_EINVAL, "no request");
	memset(out, 0, sizeof(*out));
	if (len > 0 && line[len - 1] == '\r')
		len--;
	CL_ENSURE(len < CL_GUESTIF_LINE_MAX, CL_ETOOBIG, "request line longer than %d bytes", CL_GUESTIF_LINE_MAX);
	CL_ENSURE(len > 0, CL_EINVAL, "empty request");
	for (size_t i = 0; i < len; i++)
		CL_ENSURE(line[i] >= 0x20 && line[i] <= 0x7e, CL_EINVAL, "request holds a non-printable byte");
	size_t pos = 0, n;
	const char *tok;
	CL_GUARD(next_token(line, len, &pos, &tok, &n));
	if (tok_is(tok, n, "LIST")) {
		out->verb = CL_GUESTIF_LIST;
	} else if (tok_is(tok, n, "READ")) {
		out->verb = CL_GUESTIF_READ;
		CL_GUARD(next_token(line, len, &pos, &tok, &n));
		CL_GUARD(parse_addr(tok, n, out->addr));
	} else if (tok_is(tok, n, "WRITE")) {
		out->verb = CL_GUESTIF_WRITE;
		CL_GUARD(next_token(line, len, &pos, &tok, &n));
		CL_GUARD(parse_addr(tok, n, out->addr));
		CL_GUARD(next_token(line, len, &pos, &tok, &n));
		CL_GUARD(parse_region(tok, n, &out->region));
		CL_GUARD(next_token(line, len, &pos, &tok, &n));
		CL_GUARD(parse_offset(tok, n, &out->offset));
		CL_GUARD(next_token(line, len, &pos, &tok, &n));
		CL_GUARD(parse_hex(tok, n, out->data, &out->len));
		CL_ENSURE(out->len - 1 <= UINT64_MAX - out->offset, CL_EINVAL, "offset + length overflows 64 bits");
	} else {
		return cl_errorf(CL_EINVAL, "unknown request (LIST, READ, WRITE)");
	}
	CL_ENSURE(pos == len, CL_EINVAL, "too many arguments");
	return CL_OK;
}

bool cl_guestif_addr_valid(const char *s)
{
	char tmp[FWG_ADDR_MAX + 1];
	size_t n = strnlen(s, FWG_ADDR_MAX + 1);
	return parse_addr(s, n, tmp) == CL_OK;
}

const char *cl_guestif_region_name(fwg_region r)
{
	switch (r) {
	case FWG_REGION_FIRMWARE:
		return "firmware";
	case FWG_REGION_CONFIG:
		return "config";
	case FWG_REGION_ROM:
		return "rom";
	}
	return "?";
}

json_t *cl_guestif_identity_json(const fwg_identity *id)
{
	char vendor[40], cls[40];
	fw_uuid_format(id->vendor, vendor);
	fw_uuid_format(id->class_id, cls);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "addr", id->addr, "name", id->name, "vendor", vendor,
			 "class", cls, "version", id->version, "locked", id->locked ? 1 : 0);
}

cl_err cl_guestif_format_ok(const json_t *body, cl_buf *out)
{
	char *text = json_dumps(body, JSON_COMPACT);
	CL_ENSURE(text, CL_ENOMEM, "response: cannot encode");
	cl_err e = cl_buf_printf(out, "OK %s\n", text);
	free(text);
	return e;
}

cl_err cl_guestif_format_err(const char *code, const char *msg, cl_buf *out)
{
	char clean[ERR_MSG_MAX + 1];
	size_t n = 0;
	CL_ENSURE(code && *code && strspn(code, "abcdefghijklmnopqrstuvwxyz_") == strlen(code), CL_EINTERNAL,
		  "response: bad error code");
	for (const char *p = msg ? msg : ""; *p && n < ERR_MSG_MAX; p++)
		clean[n++] = (*p >= 0x20 && *p <= 0x7e) ? *p : '?';
	clean[n] = '\0';
	return n ? cl_buf_printf(out, "ERR %s %s\n", code, clean) : cl_buf_printf(out, "ERR %s\n", code);
}

bool cl_guestif_bucket_take(cl_guestif_bucket *b, uint64_t now_ns, uint32_t rate, uint32_t burst)
{
	const uint64_t unit = 1000000000u;
	if (rate == 0)
		rate = 1;
	if (burst == 0)
		burst = 1;
	if (burst > 1000000u)
		burst = 1000000u;
	uint64_t full = (uint64_t)burst * unit;
	if (!b->started) {
		b->started = true;
		b->nano_tokens = full;
		b->last_ns = now_ns;
	} else if (now_ns > b->last_ns) {
		/* elapsed is capped at what refills an empty bucket, so the product cannot overflow */
		uint64_t elapsed = now_ns - b->last_ns, cap = full / rate + 1;
		uint64_t add = (elapsed > cap ? cap : elapsed) * rate;
		b->nano_tokens = b->nano_tokens + add > full ? full : b->nano_tokens + add;
		b->last_ns = now_ns;
	}
	if (b->nano_tokens < unit)
		return false;
	b->nano_tokens -= unit;
	return true;
}
