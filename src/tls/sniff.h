/* sniff.h — the TLS ClientHello sniffer of the host's TLS data plane
 * (docs/tls.md, "Auto-detect").
 *
 * Under `--mode auto` the data plane looks at the first bytes a peer sends on
 * a new connection and decides: a TLS ClientHello (terminate it with the
 * guest's credentials), not TLS (the guest's insecure rule applies), or not
 * enough bytes yet (read more, up to one record). When it is a ClientHello,
 * the server name, the ALPN list and the offered versions are read out for
 * the log line, the metrics and the header marking.
 *
 * The input is hostile network bytes: every length is checked against what
 * is left before anything is read, nothing is allocated, and nothing is read
 * past data[len - 1]. Only the first TLS record is examined (at most
 * CL_TLS_SNIFF_MAX bytes); a ClientHello continued in a later record is
 * recognised as TLS without its fields. A record that has the shape of TLS
 * but whose ClientHello is malformed in any field the sniffer reads is
 * NOT_TLS, with the reason.
 */
#ifndef CL_TLS_SNIFF_H
#define CL_TLS_SNIFF_H

#include <stddef.h>
#include <stdint.h>

#define CL_TLS_RECORD_HEADER 5
#define CL_TLS_RECORD_MAX 16384 /* largest plaintext record body (RFC 8446 5.1) */
/* The most bytes the sniffer ever asks for: one whole record. */
#define CL_TLS_SNIFF_MAX (CL_TLS_RECORD_HEADER + CL_TLS_RECORD_MAX)
#define CL_TLS_SNI_MAX 255 /* longest host_name kept (a DNS name is at most 253) */

/* Bits of cl_tls_hello.versions. */
#define CL_TLS_V10 0x01u
#define CL_TLS_V11 0x02u
#define CL_TLS_V12 0x04u
#define CL_TLS_V13 0x08u

typedef enum cl_tls_sniff_verdict {
	CL_TLS_SNIFF_NEED_MORE = 0, /* call again with at least hello->need bytes */
	CL_TLS_SNIFF_HANDSHAKE = 1, /* a TLS handshake record carrying a ClientHello */
	CL_TLS_SNIFF_NOT_TLS = 2,   /* anything else; hello->reason says why */
} cl_tls_sniff_verdict;

/* What the sniffer found. Set by cl_tls_sniff; which fields mean something
 * depends on the verdict (see each one). */
typedef struct cl_tls_hello {
	/* NEED_MORE: the total input length to call again with (> len given,
	 * <= CL_TLS_SNIFF_MAX). The same bytes must be passed again, extended. */
	size_t need;
	/* NOT_TLS: why, a static string for a log line (never input bytes). */
	const char *reason;
	/* HANDSHAKE: bytes of the first record, header included (<= len given). */
	size_t record_len;
	uint16_t record_version; /* HANDSHAKE: record layer version, 0x0301..0x0304 */
	/* HANDSHAKE: the ClientHello goes on in a later record: the fields below
	 * were not read (they are zero). */
	int fragmented;
	uint16_t legacy_version; /* ClientHello.legacy_version, 0x0301..0x0303 */
	/* server_name's host_name, NUL-terminated, [A-Za-z0-9._-] only; sni_len 0
	 * when the client sent none. */
	char sni[CL_TLS_SNI_MAX + 1];
	size_t sni_len;
	/* The ALPN ProtocolNameList as on the wire (u8 length + name, repeated:
	 * the format SSL_select_next_proto takes), pointing INTO the caller's
	 * data (valid while it is); NULL/0 when the client sent no ALPN. */
	const uint8_t *alpn;
	size_t alpn_len;
	unsigned alpn_count;
	/* supported_versions: has_versions when the extension was sent; versions
	 * = CL_TLS_V1x bits of the known versions it lists (GREASE and unknown
	 * values ignored). max_version = the highest known version offered: from
	 * the extension when sent, else legacy_version. */
	int has_versions;
	unsigned versions;
	uint16_t max_version;
} cl_tls_hello;

/* Classifies the first len bytes a peer sent (data may be NULL when len is
 * 0). Returns the verdict and fills *hello (always fully reset first). A
 * NOT_TLS verdict on a prefix is final: no longer input starting with the
 * same bytes is ever a ClientHello. It cannot fail; reads nothing past
 * data[len - 1] and allocates nothing. */
__attribute__((warn_unused_result)) cl_tls_sniff_verdict cl_tls_sniff(const uint8_t *data, size_t len,
								    cl_tls_hello *hello);

/* "need_more", "tls_handshake" or "not_tls" (static). */
const char *cl_tls_sniff_verdict_name(cl_tls_sniff_verdict v);

/* "TLSv1.0" .. "TLSv1.3" for 0x0301..0x0304, else "unknown" (static). */
const char *cl_tls_version_name(uint16_t version);

#endif
