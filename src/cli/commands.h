/* commands.h — the CLI's command table: `cloister <noun> <verb> ...`.
 * Each noun lives in its own file (cmd_<noun>.c) and exports one function
 * taking the arguments after the noun (argv[0] is the verb). Returns the
 * process exit code; on failure it has printed exactly one "error: ..." line. */
#ifndef CL_CLI_COMMANDS_H
#define CL_CLI_COMMANDS_H

int cl_cmd_dev(int argc, char **argv);
int cl_cmd_image(int argc, char **argv);
int cl_cmd_enclave(int argc, char **argv);
int cl_cmd_host(int argc, char **argv);
int cl_cmd_token(int argc, char **argv);
int cl_cmd_fw(int argc, char **argv);
int cl_cmd_attest(int argc, char **argv);
int cl_cmd_ca(int argc, char **argv);
int cl_cmd_secret(int argc, char **argv);
int cl_cmd_tls(int argc, char **argv);

/* `cloister image measure` and `cloister image sign` (cmd_image_measure.c);
 * dispatched from cl_cmd_image. */
int cl_cmd_image_measure(int argc, char **argv);
int cl_cmd_image_sign(int argc, char **argv);

/* Verbs that talk to a host's firmware guard through the control plane
 * (cmd_fw_host.c); dispatched from cl_cmd_fw and cl_cmd_host. */
int cl_cmd_fw_push(int argc, char **argv);
int cl_cmd_fw_status(int argc, char **argv);
int cl_cmd_fw_audit(int argc, char **argv);
int cl_cmd_host_power_cycle(int argc, char **argv);
int cl_cmd_host_clear_quarantine(int argc, char **argv);

#endif
