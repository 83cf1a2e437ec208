/* cmd_fw.h — shared plumbing of the `cloister fw` commands (cmd_fw*.c). */
#ifndef CL_CLI_CMD_FW_H
#define CL_CLI_CMD_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli.h"
#include "common/err.h"

/* Options are parsed with cl_cli_parse_or_usage (cli.h); errors are
 * printed with cl_cli_fail / cl_cli_usage. */

/* Parses a decimal u64 ("what" names it in the error): CL_EINVAL with a
 * detail "<what> must be a non-negative integer". */
CL_MUST_CHECK cl_err cl_cli_fw_u64(const char *s, const char *what, uint64_t *out);

int cl_cmd_fw_trust_root(int argc, char **argv);
int cl_cmd_fw_window_policy(int argc, char **argv);
int cl_cmd_fw_inspect(int argc, char **argv);
int cl_cmd_fw_verify(int argc, char **argv);

#endif
