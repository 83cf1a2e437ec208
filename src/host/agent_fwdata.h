/* agent_fwdata.h — firmware op data sent by reference (docs/internals.md
 * "Firmware in the sync protocol"). An op whose data is bigger than the
 * control plane sends inline carries "data_ref": {"size":N,"sha384":hex};
 * cl_agent_fw_answer_parse keeps it in op->data as the reference string
 * "ref:<size>:<sha384 hex>" (':' never occurs in base64, so it cannot be
 * mistaken for inline data). The agent fetches the bytes with
 * cl_agent_fw_fetch and runs the op with cl_agent_fw_apply_fetched;
 * cl_agent_fw_apply alone answers such an op as failed (never runs it
 * without its checked data).
 *
 * Call site (agent_loop.c fw_run_once, after the journal's begin, in place
 * of `res = cl_agent_fw_apply(ag->fw, op);` — an op already taken is never
 * fetched again):
 *     cl_buf data;
 *     cl_buf_init(&data, FWG_MAX_BUNDLE);
 *     cl_err ferr = cl_agent_fw_fetch(ag->http, ag->ident.host_id, op, &data);
 *     res = cl_agent_fw_apply_fetched(ag->fw, op, &data, ferr);
 *     cl_buf_free(&data);
 */
#ifndef CL_HOST_AGENT_FWDATA_H
#define CL_HOST_AGENT_FWDATA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "host/agent_fw.h"
#include "host/agent_proto.h"

#define CL_AGENT_FW_REF_PREFIX "ref:"
#define CL_AGENT_FW_REF_MAX 128 /* "ref:" + size + ":" + 96 hex + NUL */

struct cl_http_client;
struct fwg_host;

/* True if op->data is a data reference. */
bool cl_agent_fw_data_is_ref(const cl_agent_fw_op *op);
/* Splits a reference string into size and sha384 (97 bytes, hex). */
CL_MUST_CHECK cl_err cl_agent_fw_ref_parse(const char *data, uint64_t *size, char sha384[97]);
/* For an op whose data is a reference: GET /v1/hosts/{host_id}/fw/ops/{op}/data
 * with http (the agent's host-token client, main thread) into out (cleared
 * first; bounded by out->max, e.g. FWG_MAX_BUNDLE), then checks the length
 * and SHA-384 against the reference (CL_ECRYPTO on a mismatch, out cleared).
 * An op with inline data or none: CL_OK, out left empty, no request.
 * The caller owns out (cl_buf_init'ed; cl_buf_free after). */
CL_MUST_CHECK cl_err cl_agent_fw_fetch(struct cl_http_client *http, const char *host_id,
				       const cl_agent_fw_op *op, cl_buf *out);
/* Runs op like cl_agent_fw_apply, with the bytes cl_agent_fw_fetch got for
 * a reference op (fetched is ignored for other ops). fetch_err != CL_OK
 * answers the op as failed ("cannot fetch the op's data: ...") without
 * running it. Returns the result JSON (new reference; NULL on OOM). */
json_t *cl_agent_fw_apply_fetched(struct fwg_host *h, const cl_agent_fw_op *op, const cl_buf *fetched,
				  cl_err fetch_err);

#endif
