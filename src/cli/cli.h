/* cli.h — shared plumbing for the `cloister` command-line client.
 *
 * main.c parses the global options (--server, --ca, --token, --access-key,
 * --config, --json) wherever they appear before the noun or after the verb,
 * removes them from argv and stores them here; each noun's cl_cmd_<noun>()
 * then reads them with cl_cli_global() and talks to the control plane through
 * cl_cli_connect()/cl_cli_call().
 *
 * Exit codes: 0 success, 1 failure, 2 usage error. On failure a command prints
 * exactly one "error: <message>" line on stderr (cl_cli_fail / cl_cli_usage)
 * and returns the code they return; under --json that line is one JSON
 * object instead: {"error":{"code":"...","message":"...","status":N}}.
 *
 * Every cap the control plane also enforces comes from common/proto.h: the
 * CLI refuses what the server would refuse before sending anything, and its
 * --help texts print the same numbers.
 */
#ifndef CL_CLI_H
#define CL_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/proto.h"

#define CL_CLI_EXIT_FAIL 1
#define CL_CLI_EXIT_USAGE 2

/* ---- global options and configuration (cli_config.c) ---- */

/* Global options as given on the command line. Pointers into argv (not owned). */
typedef struct cl_cli_flags {
	const char *server;
	const char *ca;
	const char *token;
	const char *access_key;
	const char *config;
	bool json;
} cl_cli_flags;

/* Where a setting came from. */
enum cl_cli_source { CL_CLI_FROM_NONE, CL_CLI_FROM_FLAG, CL_CLI_FROM_ENV, CL_CLI_FROM_FILE };

/* The effective connection settings. All strings malloc'd (NULL if unset);
 * free with cl_cli_config_free, which wipes the token and access key. */
typedef struct cl_cli_config {
	char *server;
	char *ca;
	char *token;
	char *access_key;
	char *config_path; /* the config file used, or NULL */
	enum cl_cli_source token_from;
} cl_cli_config;

typedef const char *(*cl_cli_getenv_fn)(const char *name);

/* Removes the global options from argv[0..*argc) in place (stopping at "--"),
 * storing them in *flags (later occurrences win). Unknown options are left
 * alone. Fails with CL_EINVAL if a value option has no value. */
CL_MUST_CHECK cl_err cl_cli_extract_globals(int *argc, char **argv, cl_cli_flags *flags);

/* Resolves the settings, each field independently: flag, then environment
 * (CLOISTER_SERVER, CLOISTER_CA, CLOISTER_TOKEN, CLOISTER_ACCESS_KEY), then the
 * config file {server, ca, token}. The config file is flags->config, else
 * $CLOISTER_CONFIG, else HOME/.config/cloister/config.json if it exists (an
 * explicitly named file must exist). A relative "ca" in a config file is
 * relative to the file's directory. The access key never comes from a file.
 * A flag or variable that is consulted but set to "" (a pipeline that failed
 * to produce a token, say) is an error (CL_EINVAL, "CLOISTER_TOKEN is set but
 * empty"), never a silent fall-back to the next source; so is an empty string
 * in the config file. env may be NULL (no environment), home may be NULL. On
 * failure *out is empty. */
CL_MUST_CHECK cl_err cl_cli_config_resolve(const cl_cli_flags *flags, cl_cli_getenv_fn env,
					   const char *home, cl_cli_config *out);
/* Frees and wipes a resolved config; it is empty afterwards. */
void cl_cli_config_free(cl_cli_config *c);

/* The public part of an API token "clt_<id>_<secret>" — its id — into out
 * (n bytes). Returns false (out = "") if the token does not have that shape.
 * Never copies any of the secret. */
bool cl_cli_token_id(const char *token, char *out, size_t n);

/* The process-wide global options (set once by main). Never NULL. */
const cl_cli_flags *cl_cli_global(void);
/* Replaces the process-wide global options (main only; copied). */
void cl_cli_set_global(const cl_cli_flags *flags);

/* ---- argument parsing (cli_args.c) ---- */

enum cl_cli_opt_kind {
	CL_OPT_FLAG,  /* --name: sets *flag = true */
	CL_OPT_VALUE, /* --name VALUE or --name=VALUE: sets *value (last wins) */
	CL_OPT_MULTI, /* repeatable value: appended to values[] (at most max_values) */
	CL_OPT_LIST,  /* CL_OPT_MULTI whose values may also be comma-separated lists
		       * (the value's commas are overwritten with NULs) */
};

typedef struct cl_cli_option {
	const char *name; /* without the leading "--" */
	enum cl_cli_opt_kind kind;
	bool *flag;
	const char **value;
	const char **values;
	size_t max_values;
	size_t *count;
	char short_name; /* also accepted as -c (e.g. -o for --out); 0: none */
} cl_cli_option;

/* Parses argv[0..argc) against opts (NULL-name terminated, at most 64) with
 * getopt_long: "--name VALUE", "--name=VALUE", "-c VALUE" for a short name,
 * options and positionals in any order, "--" ends option parsing (the rest
 * is positional), only full option names (no prefixes). Positional arguments
 * go to pos[0..maxpos) and their number to *npos. "-h"/"--help" sets *help
 * (and parsing still checks the rest). Fails with CL_EINVAL and a detail
 * naming the option on unknown options, missing values, a value given to a
 * flag, too many positionals or too many repeats; CL_ENOMEM. Stores pointers
 * into argv. Not reentrant (getopt's state). */
CL_MUST_CHECK cl_err cl_cli_parse_opts(int argc, char **argv, const cl_cli_option *opts,
				       const char **pos, size_t maxpos, size_t *npos, bool *help);
/* cl_cli_parse_opts for a command handler: on a usage error prints the one
 * error line (*rc = 2), on --help prints usage to stdout (*rc = 0); in both
 * cases returns true and the handler returns *rc. False: go on. */
bool cl_cli_parse_or_help(int argc, char **argv, const cl_cli_option *opts, const char **pos,
			  size_t maxpos, size_t *npos, const char *usage, int *rc);
/* cl_cli_parse_opts for a command whose dispatcher already answered --help
 * (`cloister fw VERB --help`): 0, or a usage error printed as one line and
 * its exit code (2) returned. */
int cl_cli_parse_or_usage(int argc, char **argv, const cl_cli_option *opts, const char **pos, size_t maxpos,
			  size_t *npos);

/* Parses a memory size into MiB: "64M", "64MiB", "1G", "1GiB", "2048K" (a
 * whole number of MiB) or a bare number of MiB. Range 1 MiB .. 1 TiB. */
CL_MUST_CHECK cl_err cl_cli_parse_size_mib(const char *s, uint64_t *mib);
/* cl_cli_parse_size_mib, then the enclave memory range of proto.h
 * (CL_PROTO_MEMORY_MIN_MIB..CL_PROTO_MEMORY_MAX_MIB); what names the option
 * in the error ("--memory"). */
CL_MUST_CHECK cl_err cl_cli_parse_enclave_memory(const char *s, const char *what, uint64_t *mib);

/* A byte count for people, into buf: "512 KiB", "1 MiB", "64 GiB", or
 * "1000 bytes" when it is not a whole number of KiB. Returns buf. */
const char *cl_cli_fmt_bytes(uint64_t bytes, char *buf, size_t n);

/* Parses a proximity constraint "RESOURCE[:N(us|ms|hops)]" into a new JSON
 * object {resource, latency_us?|hops?} (caller owns *out). The resource is a
 * name (cl_proto_valid_name); the latency at most CL_PROTO_LATENCY_US_MAX
 * microseconds, the hops at most CL_PROTO_HOPS_MAX. */
CL_MUST_CHECK cl_err cl_cli_parse_proximity(const char *s, json_t **out);

/* Parses a comma-separated list of enclave operations (describe, list, start,
 * stop, destroy, resize, send, recv, logs, attest, provision) into a new JSON array of
 * unique names (caller owns *out). */
CL_MUST_CHECK cl_err cl_cli_parse_ops(const char *s, json_t **out);

/* Parses a non-negative decimal integer <= max. */
CL_MUST_CHECK cl_err cl_cli_parse_uint(const char *s, uint64_t max, uint64_t *out);
/* Parses --expose's "8080[,8443...]": 1..max distinct ports 1..65535 into
 * ports (in the order given), their count into *n. CL_EINVAL with a detail
 * naming the bad item. */
CL_MUST_CHECK cl_err cl_cli_parse_ports(const char *s, uint16_t *ports, size_t max, size_t *n);

/* True if s is a plausible object id: 1..128 chars of [A-Za-z0-9._-]. Used
 * before putting an id into a URL path. */
bool cl_cli_valid_id(const char *s);

/* ---- talking to the control plane (cli_api.c) ---- */

typedef struct cl_cli_conn cl_cli_conn;

/* Resolves the global config and opens a client. Fails (with a detail telling
 * how to configure) if no server is set. When the token comes from a config
 * file (no --token, no CLOISTER_TOKEN), says once per process on stderr
 * which token (its id, never the secret) and which file, unless --json.
 * *out owned by the caller. */
CL_MUST_CHECK cl_err cl_cli_connect(cl_cli_conn **out);
/* Opens a client for explicit settings, ignoring flags, environment and
 * config files (used by `cloister dev` for its own instance). ca, token and
 * access_key may be NULL. Strings are copied. An http:// server is refused
 * (CL_EINVAL, "the control plane speaks HTTPS: use https://HOST:PORT")
 * before any connection. */
CL_MUST_CHECK cl_err cl_cli_connect_to(const char *server, const char *ca, const char *token,
				       const char *access_key, cl_cli_conn **out);
/* Frees a connection (wiping credentials). NULL is fine. */
void cl_cli_conn_free(cl_cli_conn *c);
/* Sets the per-request timeout in ms (default 30000). */
void cl_cli_conn_set_timeout(cl_cli_conn *c, long ms);
/* The server URL of the connection (owned by it). */
const char *cl_cli_conn_server(const cl_cli_conn *c);

/* Performs a JSON request. body (borrowed) may be NULL. On a 2xx answer *out
 * (if out is not NULL) receives the parsed body (a new reference; JSON null
 * for an empty body). On an HTTP error, returns the error matching the
 * server's code with the server's message as the detail ("<message> (HTTP
 * <status>)"); transport errors are returned as is. *status (if not NULL)
 * gets the HTTP status, 0 on transport failure. */
CL_MUST_CHECK cl_err cl_cli_call(cl_cli_conn *c, const char *method, const char *path, json_t *body,
				 json_t **out, long *status);
/* GET path whose 2xx answer is not JSON (a certificate): its body into out
 * (reset first, bounded by out->max: CL_ETOOBIG beyond). Errors as
 * cl_cli_call. */
CL_MUST_CHECK cl_err cl_cli_get_bytes(cl_cli_conn *c, const char *path, cl_buf *out);
/* Like cl_cli_call with a raw application/octet-stream body. */
CL_MUST_CHECK cl_err cl_cli_call_raw(cl_cli_conn *c, const char *method, const char *path,
				     const void *data, size_t len, json_t **out, long *status);

/* Sends data as an upload in parts (POST /v1/uploads with its size and
 * SHA-384, then PUT every part in order, retrying a part once on a transport
 * error), then the request that consumes it: `method path` with a copy of
 * body (borrowed; NULL = {}) plus "upload": the upload's id. *out (if not
 * NULL) gets the consumer's answer as cl_cli_call gives it.
 * The upload never outlives a failure: when a part, the consumer's request
 * or anything else fails, the upload is deleted before this returns (the
 * detail says whether that worked). SIGINT, SIGTERM and SIGHUP are deferred
 * meanwhile: one that arrives stops the upload between requests, deletes
 * it, prints "error: ..." and is then raised again (the process ends as the
 * signal would have ended it). data is borrowed. */
#define CL_CLI_UPLOAD_ID_MAX 64
CL_MUST_CHECK cl_err cl_cli_upload_submit(cl_cli_conn *c, const void *data, size_t len, const char *method,
					  const char *path, json_t *body, json_t **out);

/* Polls GET /v1/jobs/ID until it succeeds or fails, or timeout_ms passes.
 * Shows progress on stderr (a spinner when stderr is a terminal, otherwise one
 * line per change) labelled with label. *final (if not NULL) gets the last job
 * object. A failed job returns CL_ECONFLICT with the job's error as detail. */
CL_MUST_CHECK cl_err cl_cli_follow_job(cl_cli_conn *c, const char *job_id, const char *label,
				       long timeout_ms, json_t **final);

/* While on, SIGINT and SIGTERM end cl_cli_follow_job and the enclave waits
 * early (CL_ETIMEOUT, "interrupted") instead of killing the process, so a
 * command can still print what it must not lose (a new access key). Off
 * restores the default dispositions. */
void cl_cli_catch_interrupts(bool on);
/* True once SIGINT/SIGTERM arrived while catching was on. */
bool cl_cli_interrupted(void);

/* Wipes the bytes of the string member key of obj in place (a secret about to
 * be freed with its JSON document). Missing or non-string members are ignored. */
void cl_cli_json_wipe(json_t *obj, const char *key);

/* ---- output (cli_output.c) ---- */

/* Sets the detail to "<fmt...>: <previous detail>" (the previous detail is
 * copied first, so it may be an argument) and returns e. */
cl_err cl_cli_error_context(cl_err e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "error: <fmt...>" on stderr and returns CL_CLI_EXIT_USAGE. Under
 * --json: {"error":{"code":"invalid","message":"<fmt...>"}} instead. */
int cl_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "error: <detail of e>" (or the generic description of e when no
 * detail is set) on stderr and returns CL_CLI_EXIT_FAIL; CL_OK returns 0.
 * Under --json prints one JSON object on one line instead:
 * {"error":{"code":"<name>","message":"<detail>","status":N}} — code and
 * status are the server's when the failure is its answer (the message then
 * without the " (HTTP N)" suffix), else cl_err_name(e) and no status. */
int cl_cli_fail(cl_err e);
/* Like cl_cli_fail, but a CL_EINVAL from argument parsing is a usage error (2). */
int cl_cli_fail_usage(cl_err e);

/* Records the control plane's error answer (HTTP status, its error code,
 * and the detail as formatted for people) for cl_cli_fail's JSON form.
 * cli_api.c calls it for every error answer. code may be NULL. */
void cl_cli_note_http_error(long status, const char *code, const char *detail);

/* Prints a JSON value to stdout, indented, with a newline. */
void cl_cli_print_json(const json_t *v);
/* A JSON value as display text into buf ("-" for missing, null or ""). Returns buf. */
const char *cl_cli_json_text(const json_t *v, char *buf, size_t n);
/* Prints an object as aligned "key: value" lines; keys named "access_key",
 * "token" or ending in "_key" are shown as "(hidden)". */
void cl_cli_print_object(const json_t *obj);

/* A simple text table: add rows of up to CL_CLI_TABLE_COLS cells, then print
 * with columns aligned. Cells are copied. */
#define CL_CLI_TABLE_COLS 12
typedef struct cl_cli_table cl_cli_table;
CL_MUST_CHECK cl_err cl_cli_table_new(size_t ncols, const char *const *header, cl_cli_table **out);
CL_MUST_CHECK cl_err cl_cli_table_add(cl_cli_table *t, const char *const *cells);
void cl_cli_table_print(const cl_cli_table *t);
void cl_cli_table_free(cl_cli_table *t);

/* A paginated collection's list command (cli_list.c). Strings borrowed. */
typedef struct cl_cli_list {
	const char *what;   /* "token": "cloister token list", messages */
	const char *path;   /* "/v1/tokens" */
	const char *filter; /* more query, e.g. "&tenant=ten-..." (checked by the caller), or NULL */
	const char *limit;  /* --limit as typed (1..500), or NULL */
	const char *after;  /* --after as typed (an id), or NULL */
	uint64_t page_size; /* items a page without --limit; 0: 100 */
	size_t ncols;
	const char *const *header;
	/* Adds one item's row to the table (the item is borrowed). */
	cl_err (*add_row)(cl_cli_table *t, const json_t *item);
} cl_cli_list;
/* Runs a list command: GET path?limit=N[filter][&after=C] page after page
 * until "next" is null, or, with --limit or --after, that one page; prints
 * the table (and, for one page with more, a "more: cloister WHAT list
 * --limit N --after C" line on stderr) or, with --json, {"items": [...],
 * "next": cursor-or-null}. A --limit outside 1..500 or a --after that is
 * not an id is a usage error; a page without items or with a cursor that is
 * not an id is CL_EPROTO. Returns the exit code (0, 1 failure, 2 usage),
 * the error printed. */
int cl_cli_list_pages(const cl_cli_list *l);

/* True if s is "-h", "--help" or "help". */
bool cl_cli_is_help(const char *s);

#endif
