/* agent_args.h — the `cloister-host` command line (agent_args.c): the configuration, ids and
 * names, and where the join token comes from.
 */
#ifndef CL_HOST_AGENT_ARGS_H
#define CL_HOST_AGENT_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/proto.h"

#define CL_AGENT_ID_MAX (CL_PROTO_ID_LEN_MAX + 1) /* ids and names: at most 63 chars + NUL */
#define CL_AGENT_MAX_LATENCY 32

typedef struct cl_agent_latency {
	char resource[CL_AGENT_ID_MAX];
	uint32_t latency_us;
	uint32_t hops;
} cl_agent_latency;

typedef struct cl_agent_config {
	/* Strings point into argv (not copied). NULL when not given. */
	const char *control, *ca, *data, *join_token, *name, *zone, *rack, *init;
	cl_agent_latency latency[CL_AGENT_MAX_LATENCY];
	size_t nlatency;
	uint64_t memory_mib;      /* 0 = what the machine has */
	uint32_t cpus;            /* 0 = what the machine has */
	uint32_t poll_timeout_ms; /* long-poll wait asked of the control plane */
	const char *fw_root;      /* --fw-root PUB.pem: run the firmware guard (NULL = none) */
	const char *join_token_file; /* --join-token-file PATH (NULL = none) */
	const char *guest_pool;   /* --guest-pool CIDR: networked enclaves' addresses (NULL = 10.77.0.0/16) */
	const char *tls_listen;   /* --tls-listen ADDR: the guests' public TLS endpoints (NULL = 127.0.0.1) */
	bool help;
} cl_agent_config;

/* Parses `cloister-host` flags (argv[0] is the program). Accepts `--flag value`
 * and `--flag=value`. On success *cfg is filled (defaults for what is not
 * given); with --help, cfg->help is set and the other checks are skipped.
 * On failure returns CL_EINVAL with a detail naming the flag; *cfg is then
 * unspecified. Never echoes the join token in a detail. */
CL_MUST_CHECK cl_err cl_agent_parse_args(int argc, char **argv, cl_agent_config *cfg);
/* Parses one `RESOURCE=US[:HOPS]` latency entry into *out. */
CL_MUST_CHECK cl_err cl_agent_parse_latency(const char *s, cl_agent_latency *out);
/* True if s is 1..63 chars of [a-z0-9-]: enclave, image, op and host ids
 * (the control plane's id rule). */
bool cl_agent_valid_id(const char *s);
/* True if s matches [a-z0-9][a-z0-9-]{0,62}: host name, zone, rack and
 * latency resource names (the control plane's name rule). */
bool cl_agent_valid_name(const char *s);
/* The --help text. Static string. */
const char *cl_agent_usage(void);

/* The join token reaches the agent in a file or the environment: never on
 * the command line, where every user sees it (ps, /proc/PID/cmdline) and
 * could race the host to register with it. --join-token still works, with
 * a warning; the agent wipes it from its argv. */
#define CL_AGENT_JOIN_ENV "CLOISTER_JOIN_TOKEN"
#define CL_AGENT_JOIN_TOKEN_MAX 256  /* incl. NUL */
#define CL_AGENT_JOIN_FILE_MAX 4096
/* Checks the text of a join token (a token file's content, or the
 * environment variable's value): surrounding whitespace (a trailing newline)
 * is ignored, the rest must be 1..255 printable ASCII characters without
 * spaces. Copies it into out (outlen >= CL_AGENT_JOIN_TOKEN_MAX). Pure.
 * CL_EINVAL with a detail that never quotes the text. */
CL_MUST_CHECK cl_err cl_agent_join_token_parse(const char *text, size_t len, char *out, size_t outlen);
/* The join token from the one source given: cfg->join_token_file (a regular
 * file owned by this user or root that no other user may read or write, at
 * most CL_AGENT_JOIN_FILE_MAX bytes: anything else is refused), env_value
 * (CL_AGENT_JOIN_ENV; NULL or "" = not given) or cfg->join_token. out[0] ==
 * 0 when none is given. More than one source: CL_EINVAL. The token is never
 * in a detail; the caller wipes out. Reads the file: the one function of
 * agent_args.c with I/O. */
CL_MUST_CHECK cl_err cl_agent_join_token_resolve(const cl_agent_config *cfg, const char *env_value, char *out,
						 size_t outlen);

#endif
