/* fw.h — transitional alias for fw_tools.h (the host-side half of
 * libcloister-fw, which also includes the verifier's fw_verify.h).
 *
 * Kept only for files being reworked on other branches at the time of the
 * header split (src/host/agent_fw.c, tests/unit/test_keyholder.c,
 * test_remote_key.c, bench/bench_keyholder.c). New code includes
 * fw_verify.h (checks bundles only) or fw_tools.h (signs, loads keys, needs
 * the OpenSSL ops).
 * Remove once nothing includes it.
 */
#ifndef CL_FW_H
#define CL_FW_H

#include "fw/fw_tools.h"

#endif
