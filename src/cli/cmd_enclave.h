/* cmd_enclave.h — the verbs of `cloister enclave`, split over three files:
 * cmd_enclave.c (dispatch, create, list, describe), cmd_enclave_ops.c
 * (start, stop, destroy, grow, shrink: asynchronous jobs) and
 * cmd_enclave_io.c (send, recv, logs: the enclave's channel).
 * Each takes the arguments after the verb and returns an exit code. */
#ifndef CL_CLI_CMD_ENCLAVE_H
#define CL_CLI_CMD_ENCLAVE_H

#include "attest/attest.h"
#include "cli/cli.h"

int cl_enclave_create(int argc, char **argv);
int cl_enclave_list(int argc, char **argv);
int cl_enclave_describe(int argc, char **argv);
int cl_enclave_start(int argc, char **argv);
int cl_enclave_suspend(int argc, char **argv); /* cmd_enclave_ops.c */
int cl_enclave_restore(int argc, char **argv); /* cmd_enclave_ops.c */
int cl_enclave_stop(int argc, char **argv);
int cl_enclave_destroy(int argc, char **argv);
int cl_enclave_grow(int argc, char **argv);
int cl_enclave_shrink(int argc, char **argv);
int cl_enclave_send(int argc, char **argv);
int cl_enclave_recv(int argc, char **argv);
int cl_enclave_logs(int argc, char **argv);
int cl_enclave_attest(int argc, char **argv);  /* cmd_enclave_attest.c */
int cl_enclave_measure(int argc, char **argv); /* cmd_enclave_attest.c */

int cl_enclave_provision(int argc, char **argv); /* cmd_enclave_provision.c */

/* cmd_attest.c's helpers: the root certificate (PEM or DER) as DER into
 * out; "N=HEX" expectations (flag names the option in errors) into e. */
CL_MUST_CHECK cl_err cl_cli_att_load_root(const char *path, cl_buf *out);
CL_MUST_CHECK cl_err cl_cli_att_parse_pcrs(const char *const *pcrs, size_t npcrs, const char *flag,
					   cl_att_expect *e);

/* What `enclave provision` checks of a fresh document doc[0..len) before it
 * encrypts anything to it: cl_att_verify against e (root, chain, signature,
 * PCRs, nonce: e->nonce must be set), module_id == enclave_id, and a
 * public_key that is a P-384 point (into point). CL_ECRYPTO with a detail
 * naming the failed check ("pcr: ...", "nonce: ...", "module_id: ...",
 * "public_key: ..."); *check (may be NULL) gets its name. */
CL_MUST_CHECK cl_err cl_cli_provision_check(const uint8_t *doc, size_t len, const cl_att_expect *e,
					    const char *enclave_id, uint8_t point[97], const char **check);

/* Default seconds to wait for a job with --wait. */
#define CL_ENCLAVE_WAIT_DEFAULT_S 120

/* Waits (polling GET /v1/enclaves/ID) until the enclave reaches state `want`
 * or a failed/exited state, or timeout_ms passes. Returns CL_OK once reached;
 * *final (if not NULL) then gets the enclave object as last read (a new
 * reference, caller owns). */
CL_MUST_CHECK cl_err cl_enclave_wait_state(cl_cli_conn *c, const char *id, const char *want,
					   long timeout_ms, json_t **final);

#endif
