/* proto.h — the caps and rules both sides of a wire must agree on.
 *
 * One source for every limit that the CLI, the control plane and the host
 * agent each enforce: the control plane rejects what exceeds them, the CLI
 * refuses it before sending anything and prints them in its --help texts,
 * the agent sizes its answers by them. Change a value here and every side
 * follows; the API and CLI pages under docs/ quote them (tests check some).
 *
 * Components keep older names as aliases where other files still use them
 * (CTL_SEND_MAX, CL_AGENT_OP_DATA_MAX, ...). Depends only on libc.
 */
#ifndef CL_COMMON_PROTO_H
#define CL_COMMON_PROTO_H

#include <stdbool.h>

/* ---- request bodies ---- */

/* Largest request body the control plane takes: a JSON body or one upload
 * part. Bigger objects travel as uploads in parts (docs/api/uploads.md). */
#define CL_PROTO_BODY_MAX (1u << 20)
/* Largest upload (an image, a firmware bundle or release). */
#define CL_PROTO_UPLOAD_MAX (256ull << 20)
/* Largest firmware bundle a device, the control plane and the CLI accept. */
#define CL_PROTO_FW_BUNDLE_MAX (64u << 20)

/* ---- enclave channel: send, recv, logs ---- */

/* Decoded bytes one send carries (its base64 fits a CL_PROTO_BODY_MAX body). */
#define CL_PROTO_SEND_MAX (512u * 1024)
/* Bytes one recv (or logs) returns at most: the agent's answer carries them
 * base64-encoded in a sync body capped at CL_PROTO_BODY_MAX. */
#define CL_PROTO_RECV_MAX (720u * 1024)
/* Bytes a recv asks for when it names no "max". */
#define CL_PROTO_RECV_DEFAULT 65536u
/* Longest a recv may wait for output, in ms. */
#define CL_PROTO_WAIT_MAX_MS 30000u

/* ---- enclaves ---- */

/* Memory of one enclave, in MiB (create and resize). */
#define CL_PROTO_MEMORY_MIN_MIB 16u
#define CL_PROTO_MEMORY_MAX_MIB 65536u
/* CPUs of one enclave. */
#define CL_PROTO_CPUS_MAX 64u
/* Ports an enclave created with a network may expose ("expose", docs/tls.md). */
#define CL_PROTO_EXPOSE_MAX 8u
/* Proximity constraints per list ("near" and "far" each). */
#define CL_PROTO_CONSTRAINTS_MAX 16u
/* A constraint's latency bound (microseconds) and hop bound. */
#define CL_PROTO_LATENCY_US_MAX 60000000u
#define CL_PROTO_HOPS_MAX 255u

/* ---- ids and names ---- */

/* Object ids in paths and bodies: [a-z0-9-]{1,63}. */
#define CL_PROTO_ID_LEN_MAX 63u
/* Names (enclaves, hosts, zones, racks, resources): [a-z0-9][a-z0-9-]{0,62}. */
#define CL_PROTO_NAME_LEN_MAX 63u

/* True if s is an id: 1..CL_PROTO_ID_LEN_MAX characters of [a-z0-9-]. */
bool cl_proto_valid_id(const char *s);
/* True if s is a name: [a-z0-9][a-z0-9-]{0,62}. */
bool cl_proto_valid_name(const char *s);

#endif
