/* cmd_fw.h — shared plumbing of the `cloister fw` commands (cmd_fw*.c). */
#ifndef CL_CLI_CMD_FW_H
#define CL_CLI_CMD_FW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* One option: --name VALUE (value), repeatable --name V (vals, split on
 * commas too), or --name (flag). Pointers into argv. */
typedef struct fw_cli_opt {
	const char *name;
	const char **value;
	const char **vals;
	size_t max;
	size_t *n;
	bool *flag;
} fw_cli_opt;

/* Parses argv[0..argc) (after the verb). Positionals go to pos (at most
 * maxpos). Returns 0, or prints one error line and returns 2. */
int fw_cli_parse(int argc, char **argv, const fw_cli_opt *opts, const char **pos, size_t maxpos, size_t *npos);
/* Prints "error: <detail>" for e and returns 1. */
int fw_cli_fail(cl_err e);
/* Prints "error: <msg>" and returns 2 (usage). */
int fw_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses a decimal u64 ("what" names it in the error). */
CL_MUST_CHECK cl_err fw_cli_u64(const char *s, const char *what, uint64_t *out);

int cl_cmd_fw_trust_root(int argc, char **argv);
int cl_cmd_fw_window_policy(int argc, char **argv);
int cl_cmd_fw_inspect(int argc, char **argv);
int cl_cmd_fw_verify(int argc, char **argv);

#endif
