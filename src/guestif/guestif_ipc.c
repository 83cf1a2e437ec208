/* guestif_ipc.c — the messages between the guest interface process and the
 * agent's gate (common/ipc.h framing; the types and layouts are in
 * guestif.h). Pure: no I/O, no allocation; every reader checks lengths and
 * syntax before it copies, because either side may be the compromised one:
 * the gate decodes what a process that parses enclave bytes sent, and the
 * process decodes identities it then shows to guests. Fuzzed by
 * fuzz/fuzz_guestif_ipc.c (the gate's side, through the ipc dispatcher). */
#include <string.h>

#include "common/ipc.h"
#include "guestif/guestif.h"

bool cl_guestif_id_valid(const char *id)
{
	size_t n = id ? strnlen(id, CL_GUESTIF_ID_MAX + 1) : 0;
	if (n == 0 || n > CL_GUESTIF_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-'))
			return false;
	return true;
}

/* Printable ASCII without '"' or '\\' (names and versions end up in JSON
 * and in log lines; the device model only ever holds such strings). */
static bool text_ok(const char *s, bool empty_ok)
{
	if (!*s)
		return empty_ok;
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return false;
	return true;
}

cl_err cl_guestif_q_encode(const cl_guestif_q *q, cl_buf *out)
{
	cl_buf_reset(out);
	CL_ENSURE(cl_guestif_id_valid(q->enclave), CL_EINVAL, "guest interface: bad enclave id");
	CL_GUARD(cl_ipc_put_str(out, q->enclave));
	if (q->req.verb == CL_GUESTIF_LIST)
		return CL_OK;
	CL_GUARD(cl_ipc_put_str(out, q->req.addr));
	if (q->req.verb == CL_GUESTIF_READ)
		return CL_OK;
	CL_ENSURE(q->req.verb == CL_GUESTIF_WRITE && q->req.len >= 1 && q->req.len <= CL_GUESTIF_WRITE_MAX,
		  CL_EINVAL, "guest interface: bad query");
	CL_GUARD(cl_buf_put_u8(out, (uint8_t)q->req.region));
	CL_GUARD(cl_buf_put_be64(out, q->req.offset));
	return cl_ipc_put_bytes(out, q->req.data, q->req.len);
}

cl_err cl_guestif_q_decode(uint16_t type, cl_buf *in, cl_guestif_q *q)
{
	const uint8_t *data = NULL;
	size_t len = 0;
	uint8_t region = 0;
	memset(q, 0, sizeof(*q));
	CL_ENSURE(type >= CL_GUESTIF_Q_LIST && type <= CL_GUESTIF_Q_WRITE, CL_EINVAL, "unknown query");
	q->req.verb = (cl_guestif_verb)type;
	CL_GUARD(cl_ipc_get_str(in, q->enclave, sizeof(q->enclave)));
	CL_ENSURE(cl_guestif_id_valid(q->enclave), CL_EINVAL, "bad enclave id");
	if (type == CL_GUESTIF_Q_LIST)
		return CL_OK;
	CL_GUARD(cl_ipc_get_str(in, q->req.addr, sizeof(q->req.addr)));
	CL_ENSURE(cl_guestif_addr_valid(q->req.addr), CL_EINVAL, "bad device address");
	if (type == CL_GUESTIF_Q_READ)
		return CL_OK;
	CL_GUARD(cl_buf_get_u8(in, &region));
	CL_ENSURE(region >= FWG_REGION_FIRMWARE && region <= FWG_REGION_ROM, CL_EINVAL, "bad region");
	q->req.region = (fwg_region)region;
	CL_GUARD(cl_buf_get_be64(in, &q->req.offset));
	CL_GUARD(cl_ipc_get_bytes(in, CL_GUESTIF_WRITE_MAX, &data, &len));
	CL_ENSURE(len >= 1, CL_EINVAL, "empty write");
	CL_ENSURE(q->req.offset <= UINT64_MAX - (len - 1), CL_EINVAL, "offset + length overflows");
	memcpy(q->req.data, data, len);
	q->req.len = len;
	return CL_OK;
}

cl_err cl_guestif_identity_put(cl_buf *out, const fwg_identity *id)
{
	CL_GUARD(cl_ipc_put_str(out, id->addr));
	CL_GUARD(cl_ipc_put_str(out, id->name));
	CL_GUARD(cl_ipc_put_bytes(out, id->vendor, sizeof(id->vendor)));
	CL_GUARD(cl_ipc_put_bytes(out, id->class_id, sizeof(id->class_id)));
	CL_GUARD(cl_ipc_put_str(out, id->version));
	return cl_buf_put_u8(out, id->locked ? 1 : 0);
}

cl_err cl_guestif_identity_get(cl_buf *in, fwg_identity *id)
{
	uint8_t locked = 0;
	memset(id, 0, sizeof(*id));
	CL_GUARD(cl_ipc_get_str(in, id->addr, sizeof(id->addr)));
	CL_ENSURE(cl_guestif_addr_valid(id->addr), CL_EINVAL, "identity: bad address");
	CL_GUARD(cl_ipc_get_str(in, id->name, sizeof(id->name)));
	CL_ENSURE(text_ok(id->name, false), CL_EINVAL, "identity: bad name");
	CL_GUARD(cl_ipc_get_fixed(in, id->vendor, sizeof(id->vendor)));
	CL_GUARD(cl_ipc_get_fixed(in, id->class_id, sizeof(id->class_id)));
	CL_GUARD(cl_ipc_get_str(in, id->version, sizeof(id->version)));
	CL_ENSURE(text_ok(id->version, true), CL_EINVAL, "identity: bad version");
	CL_GUARD(cl_buf_get_u8(in, &locked));
	CL_ENSURE(locked <= 1, CL_EINVAL, "identity: bad locked flag");
	id->locked = locked == 1;
	return CL_OK;
}

cl_err cl_guestif_write_res_put(cl_buf *out, const cl_guestif_write_res *r)
{
	CL_GUARD(cl_buf_put_u8(out, (uint8_t)r->verdict));
	CL_GUARD(cl_buf_put_be64(out, r->audit_seq));
	CL_GUARD(cl_buf_put_be32(out, r->rate));
	return cl_buf_put_be32(out, r->burst);
}

cl_err cl_guestif_write_res_get(cl_buf *in, cl_guestif_write_res *r)
{
	uint8_t v = 0;
	memset(r, 0, sizeof(*r));
	CL_GUARD(cl_buf_get_u8(in, &v));
	CL_ENSURE(v >= CL_GUESTIF_AUDITED && v <= CL_GUESTIF_NOT_AUDITED, CL_EINVAL, "bad write verdict");
	r->verdict = (cl_guestif_verdict)v;
	CL_GUARD(cl_buf_get_be64(in, &r->audit_seq));
	CL_GUARD(cl_buf_get_be32(in, &r->rate));
	return cl_buf_get_be32(in, &r->burst);
}

cl_err cl_guestif_stats_put(cl_buf *out, const cl_guestif_stats *st)
{
	const uint64_t v[] = {st->requests,       st->writes_audited, st->writes_suppressed,
			      st->conns_accepted, st->conns_refused,  st->idle_closed};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CL_GUARD(cl_buf_put_be64(out, v[i]));
	return CL_OK;
}

cl_err cl_guestif_stats_get_wire(cl_buf *in, cl_guestif_stats *st)
{
	uint64_t *v[] = {&st->requests,       &st->writes_audited, &st->writes_suppressed,
			 &st->conns_accepted, &st->conns_refused,  &st->idle_closed};
	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		CL_GUARD(cl_buf_get_be64(in, v[i]));
	return CL_OK;
}
