/* sniff.c — the TLS ClientHello sniffer (sniff.h). The parser follows the
 * structures of RFC 8446 4.1.2 (ClientHello), RFC 6066 3 (server_name),
 * RFC 7301 3.1 (ALPN) and RFC 8446 4.2.1 (supported_versions) in order. Every
 * read goes through the cursor below, which checks what is left first; a
 * failed read makes the whole hello malformed (NOT_TLS). */
#include "tls/sniff.h"

#include <string.h>

#define HS_CLIENT_HELLO 1
#define CT_HANDSHAKE 22
#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define EXT_SUPPORTED_VERSIONS 43
#define SNI_HOST_NAME 0
/* The smallest ClientHello body: version, random, empty session id, one
 * cipher suite, one compression method. */
#define HELLO_MIN (2 + 32 + 1 + 2 + 2 + 1 + 1)
/* The longest ClientHello OpenSSL itself accepts (CLIENT_HELLO_MAX_LENGTH). */
#define HELLO_MAX 131396

/* A bounded read cursor over [p, p + left). */
typedef struct rd {
	const uint8_t *p;
	size_t left;
} rd;

static int rd_u8(rd *r, unsigned *v)
{
	if (r->left < 1)
		return 0;
	*v = r->p[0];
	r->p++;
	r->left--;
	return 1;
}

static int rd_u16(rd *r, unsigned *v)
{
	if (r->left < 2)
		return 0;
	*v = (unsigned)r->p[0] << 8 | r->p[1];
	r->p += 2;
	r->left -= 2;
	return 1;
}

/* Takes n bytes as a sub-cursor. */
static int rd_sub(rd *r, size_t n, rd *sub)
{
	if (r->left < n)
		return 0;
	sub->p = r->p;
	sub->left = n;
	r->p += n;
	r->left -= n;
	return 1;
}

/* A u8- or u16-length-prefixed vector as a sub-cursor. */
static int rd_vec8(rd *r, rd *sub)
{
	unsigned n;
	return rd_u8(r, &n) && rd_sub(r, n, sub);
}

static int rd_vec16(rd *r, rd *sub)
{
	unsigned n;
	return rd_u16(r, &n) && rd_sub(r, n, sub);
}

static unsigned version_bit(unsigned v)
{
	switch (v) {
	case 0x0301:
		return CL_TLS_V10;
	case 0x0302:
		return CL_TLS_V11;
	case 0x0303:
		return CL_TLS_V12;
	case 0x0304:
		return CL_TLS_V13;
	default:
		return 0;
	}
}

static int host_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
	       c == '_';
}

/* server_name (RFC 6066 3): ServerNameList, at most one host_name. */
static const char *parse_sni(rd ext, cl_tls_hello *h)
{
	rd list;
	if (!rd_vec16(&ext, &list) || ext.left != 0 || list.left == 0)
		return "server_name: bad list length";
	while (list.left > 0) {
		unsigned type;
		rd name;
		if (!rd_u8(&list, &type) || !rd_vec16(&list, &name))
			return "server_name: truncated entry";
		if (type != SNI_HOST_NAME)
			continue;
		if (h->sni_len != 0)
			return "server_name: two host_names";
		if (name.left == 0 || name.left > CL_TLS_SNI_MAX)
			return "server_name: host_name length";
		for (size_t i = 0; i < name.left; i++)
			if (!host_char(name.p[i]))
				return "server_name: not a host name";
		memcpy(h->sni, name.p, name.left);
		h->sni[name.left] = '\0';
		h->sni_len = name.left;
	}
	return NULL;
}

/* application_layer_protocol_negotiation (RFC 7301 3.1): non-empty list of
 * non-empty names. */
static const char *parse_alpn(rd ext, cl_tls_hello *h)
{
	rd list;
	if (!rd_vec16(&ext, &list) || ext.left != 0 || list.left < 2)
		return "alpn: bad list length";
	h->alpn = list.p;
	h->alpn_len = list.left;
	while (list.left > 0) {
		rd name;
		if (!rd_vec8(&list, &name) || name.left == 0)
			return "alpn: bad protocol name";
		h->alpn_count++;
	}
	return NULL;
}

/* supported_versions in a ClientHello (RFC 8446 4.2.1): u8-length list of
 * 1..127 versions. */
static const char *parse_versions(rd ext, cl_tls_hello *h)
{
	rd list;
	if (!rd_vec8(&ext, &list) || ext.left != 0 || list.left < 2 || list.left % 2 != 0)
		return "supported_versions: bad list length";
	h->has_versions = 1;
	while (list.left > 0) {
		unsigned v = 0;
		(void)rd_u16(&list, &v); /* cannot fail: even length */
		h->versions |= version_bit(v);
		if (version_bit(v) && v > h->max_version)
			h->max_version = (uint16_t)v;
	}
	return NULL;
}

/* The extensions block: each extension read whole; the three we use at most
 * once each (RFC 8446 4.2: no duplicate extension types). */
static const char *parse_extensions(rd *body, cl_tls_hello *h)
{
	rd exts;
	int seen_sni = 0, seen_alpn = 0, seen_versions = 0;
	if (body->left == 0)
		return NULL; /* a ClientHello may end before the extensions */
	if (!rd_vec16(body, &exts) || body->left != 0)
		return "extensions: bad block length";
	while (exts.left > 0) {
		unsigned type;
		rd ext;
		const char *why = NULL;
		if (!rd_u16(&exts, &type) || !rd_vec16(&exts, &ext))
			return "extensions: truncated extension";
		if (type == EXT_SERVER_NAME) {
			if (seen_sni++)
				return "extensions: server_name twice";
			why = parse_sni(ext, h);
		} else if (type == EXT_ALPN) {
			if (seen_alpn++)
				return "extensions: alpn twice";
			why = parse_alpn(ext, h);
		} else if (type == EXT_SUPPORTED_VERSIONS) {
			if (seen_versions++)
				return "extensions: supported_versions twice";
			why = parse_versions(ext, h);
		}
		if (why)
			return why;
	}
	return NULL;
}

/* The ClientHello body (RFC 8446 4.1.2), exactly the handshake message. */
static const char *parse_client_hello(rd body, cl_tls_hello *h)
{
	unsigned version;
	rd random, session_id, suites, compression;
	if (!rd_u16(&body, &version) || !rd_sub(&body, 32, &random))
		return "client_hello: truncated";
	if (version < 0x0301 || version > 0x0303)
		return "client_hello: legacy_version not TLS 1.0-1.2";
	h->legacy_version = (uint16_t)version;
	if (!rd_vec8(&body, &session_id) || session_id.left > 32)
		return "client_hello: bad session id";
	if (!rd_vec16(&body, &suites) || suites.left < 2 || suites.left % 2 != 0)
		return "client_hello: bad cipher suites";
	if (!rd_vec8(&body, &compression) || compression.left < 1)
		return "client_hello: bad compression methods";
	const char *why = parse_extensions(&body, h);
	if (why)
		return why;
	if (!h->has_versions)
		h->max_version = h->legacy_version;
	return NULL;
}

static cl_tls_sniff_verdict not_tls(cl_tls_hello *h, const char *reason)
{
	memset(h, 0, sizeof(*h));
	h->reason = reason;
	return CL_TLS_SNIFF_NOT_TLS;
}

static cl_tls_sniff_verdict need_more(cl_tls_hello *h, size_t need)
{
	h->need = need;
	return CL_TLS_SNIFF_NEED_MORE;
}

cl_tls_sniff_verdict cl_tls_sniff(const uint8_t *data, size_t len, cl_tls_hello *h)
{
	memset(h, 0, sizeof(*h));
	/* The record header, judged byte by byte as it arrives so that plain
	 * text (an HTTP method, an SSH banner) is told apart at its first byte. */
	if (len < 1)
		return need_more(h, CL_TLS_RECORD_HEADER);
	if (data[0] != CT_HANDSHAKE)
		return not_tls(h, "record: not a handshake record");
	if (len < 2)
		return need_more(h, CL_TLS_RECORD_HEADER);
	if (data[1] != 3)
		return not_tls(h, "record: not a TLS version");
	if (len < 3)
		return need_more(h, CL_TLS_RECORD_HEADER);
	if (data[2] < 1 || data[2] > 4)
		return not_tls(h, "record: version not TLS 1.0-1.3");
	if (len < CL_TLS_RECORD_HEADER)
		return need_more(h, CL_TLS_RECORD_HEADER);
	size_t body_len = (size_t)data[3] << 8 | data[4];
	if (body_len < 4 || body_len > CL_TLS_RECORD_MAX)
		return not_tls(h, "record: length out of range");
	size_t record_len = CL_TLS_RECORD_HEADER + body_len;
	/* The handshake header: a ClientHello of a plausible size. */
	if (len < CL_TLS_RECORD_HEADER + 1)
		return need_more(h, record_len);
	if (data[5] != HS_CLIENT_HELLO)
		return not_tls(h, "handshake: not a ClientHello");
	if (len < CL_TLS_RECORD_HEADER + 4)
		return need_more(h, record_len);
	size_t msg_len = (size_t)data[6] << 16 | (size_t)data[7] << 8 | data[8];
	if (msg_len < HELLO_MIN)
		return not_tls(h, "handshake: ClientHello too short");
	if (msg_len > HELLO_MAX)
		return not_tls(h, "handshake: ClientHello too long");
	if (msg_len + 4 < body_len)
		return not_tls(h, "handshake: bytes after the ClientHello");
	if (len < record_len)
		return need_more(h, record_len);

	h->record_len = record_len;
	h->record_version = (uint16_t)(0x0300 | data[2]);
	if (msg_len + 4 > body_len) {
		/* Continued in the next record: TLS by its shape. A hello that long
		 * is rare (large key shares); its fields are left to OpenSSL. */
		h->fragmented = 1;
		return CL_TLS_SNIFF_HANDSHAKE;
	}
	rd body = {data + CL_TLS_RECORD_HEADER + 4, msg_len};
	const char *why = parse_client_hello(body, h);
	if (why)
		return not_tls(h, why);
	return CL_TLS_SNIFF_HANDSHAKE;
}

const char *cl_tls_sniff_verdict_name(cl_tls_sniff_verdict v)
{
	switch (v) {
	case CL_TLS_SNIFF_NEED_MORE:
		return "need_more";
	case CL_TLS_SNIFF_HANDSHAKE:
		return "tls_handshake";
	case CL_TLS_SNIFF_NOT_TLS:
		return "not_tls";
	}
	return "unknown";
}

const char *cl_tls_version_name(uint16_t version)
{
	switch (version) {
	case 0x0301:
		return "TLSv1.0";
	case 0x0302:
		return "TLSv1.1";
	case 0x0303:
		return "TLSv1.2";
	case 0x0304:
		return "TLSv1.3";
	default:
		return "unknown";
	}
}
