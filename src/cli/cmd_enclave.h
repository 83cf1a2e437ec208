/* cmd_enclave.h — the verbs of `cloister enclave`, split over three files:
 * cmd_enclave.c (dispatch, create, list, describe), cmd_enclave_ops.c
 * (start, stop, destroy, grow, shrink: asynchronous jobs) and
 * cmd_enclave_io.c (send, recv, logs: the enclave's channel).
 * Each takes the arguments after the verb and returns an exit code. */
#ifndef CL_CLI_CMD_ENCLAVE_H
#define CL_CLI_CMD_ENCLAVE_H

#include "cli/cli.h"

int cl_enclave_create(int argc, char **argv);
int cl_enclave_list(int argc, char **argv);
int cl_enclave_describe(int argc, char **argv);
int cl_enclave_start(int argc, char **argv);
int cl_enclave_stop(int argc, char **argv);
int cl_enclave_destroy(int argc, char **argv);
int cl_enclave_grow(int argc, char **argv);
int cl_enclave_shrink(int argc, char **argv);
int cl_enclave_send(int argc, char **argv);
int cl_enclave_recv(int argc, char **argv);
int cl_enclave_logs(int argc, char **argv);
int cl_enclave_attest(int argc, char **argv); /* cmd_enclave_attest.c */
/* Default seconds to wait for a job with --wait. */
#define CL_ENCLAVE_WAIT_DEFAULT_S 120

/* Waits (polling GET /v1/enclaves/ID) until the enclave reaches state `want`
 * or a failed/exited state, or timeout_ms passes. Returns CL_OK once reached;
 * *final (if not NULL) then gets the enclave object as last read (a new
 * reference, caller owns). */
CL_MUST_CHECK cl_err cl_enclave_wait_state(cl_cli_conn *c, const char *id, const char *want,
					   long timeout_ms, json_t **final);

#endif
