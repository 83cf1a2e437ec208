/* cmd_host.c — `cloister host list`: the fleet's hosts, as the control plane
 * sees them (state, security level, location, capacity, heartbeat), and
 * `cloister host remove`: a host out of the fleet; power-cycle and
 * clear-quarantine are in cmd_fw_host.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char host_usage[] = "usage: cloister host list [--state ready|lost|removed] [--json]\n"
				 "\n"
				 "Lists the hosts registered with the control plane: id, name, state\n"
				 "(ready, lost), security level, zone/rack, memory (free/total),\n"
				 "CPUs, number of enclaves and the time of the last heartbeat. Removed\n"
				 "hosts are listed only with --state removed.\n";

static const char remove_usage[] =
	"usage: cloister host remove HOST_ID [--yes] [--json]\n"
	"\n"
	"Removes a host from the fleet: its host token is revoked (its agent destroys\n"
	"its enclaves and stops), its enclaves are marked lost with their jobs\n"
	"failed, and it is never placed on again. Its firmware audit and events stay\n"
	"readable. Asks for confirmation on a terminal; --yes skips the question\n"
	"(and is required when stdin is not a terminal).\n";

static const char host_verbs[] = "usage: cloister host VERB ...\n"
				 "\n"
				 "verbs:\n"
				 "  list               the fleet's hosts (cloister host list)\n"
				 "  remove             take a host out of the fleet (cloister host remove HOST)\n"
				 "  power-cycle        power-cycle a host's devices (cloister host power-cycle HOST)\n"
				 "  clear-quarantine   clear a host's firmware quarantine\n"
				 "                     (cloister host clear-quarantine HOST --reason TEXT)\n";

/* cmd_fw_host.c */

static cl_err add_host_row(cl_cli_table *t, const json_t *h)
{
	char b[11][160], mem[64], fr[32], tot[32];
	static const char *const keys[] = {"id",   "name",     "state",     "level", "zone", "rack", NULL, "cpus",
					   "enclaves", "last_seen", "attestation_serial"};
	const char *row[11];
	for (int k = 0; k < 11; k++)
		row[k] = keys[k] ? cl_cli_json_text(json_object_get(h, keys[k]), b[k], sizeof(b[k])) : NULL;
	snprintf(mem, sizeof(mem), "%s/%s", cl_cli_json_text(json_object_get(h, "memory_free_mib"), fr, sizeof(fr)),
		 cl_cli_json_text(json_object_get(h, "memory_mib"), tot, sizeof(tot)));
	row[6] = mem;
	return cl_cli_table_add(t, row);
}

static int host_list(int argc, char **argv)
{
	const char *state = NULL;
	const cl_cli_option opts[] = {{"state", CL_OPT_VALUE, .value = &state}, {0}};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, host_usage, &rc))
		return rc;
	if (state && strcmp(state, "ready") != 0 && strcmp(state, "lost") != 0 && strcmp(state, "removed") != 0)
		return cl_cli_usage("host list: --state must be ready, lost or removed");
	char filter[32] = "";
	if (state)
		snprintf(filter, sizeof(filter), "&state=%s", state);
	static const char *const header[] = {"ID",   "NAME",    "STATE", "LEVEL",    "ZONE",      "RACK",
					     "MEM_MIB", "CPUS", "ENCLAVES", "LAST_SEEN", "ATTEST_SERIAL"};
	/* every page, always: host list has no --limit/--after */
	const cl_cli_list l = {.what = "host", .path = "/v1/hosts", .filter = filter, .page_size = 500,
			       .ncols = 11, .header = header, .add_row = add_host_row};
	return cl_cli_list_pages(&l);
}

/* Asks "remove host H? [y/N]" on the terminal; true for y/yes. */
static bool confirm(const char *host)
{
	char line[16];
	fprintf(stderr, "remove host %s from the fleet? its enclaves become lost and its agent stops [y/N] ", host);
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = '\0';
	return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

static int host_remove(int argc, char **argv)
{
	bool yes = false;
	const cl_cli_option opts[] = {{"yes", CL_OPT_FLAG, .flag = &yes}, {0}};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, remove_usage, &rc))
		return rc;
	if (npos != 1)
		return cl_cli_usage("host remove: missing HOST_ID (see cloister host list)");
	if (!cl_cli_valid_id(pos[0]))
		return cl_cli_usage("host remove: invalid host id '%s'", pos[0]);
	if (!yes && !isatty(STDIN_FILENO))
		return cl_cli_usage("host remove: stdin is not a terminal: add --yes to confirm removing %s", pos[0]);
	if (!yes && !confirm(pos[0])) {
		fputs("not removed\n", stderr);
		return CL_CLI_EXIT_FAIL;
	}
	cl_cli_conn *c = NULL;
	json_t *resp = NULL;
	char path[256];
	cl_err err;
	snprintf(path, sizeof(path), "/v1/hosts/%s", pos[0]);
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "DELETE", path, NULL, &resp, NULL));
	if (cl_cli_global()->json) {
		cl_cli_print_json(resp);
	} else {
		char id[160], lost[32], gone[32];
		printf("removed: %s (enclaves lost: %s, destroys finished: %s; its token is revoked)\n",
		       cl_cli_json_text(json_object_get(resp, "id"), id, sizeof(id)),
		       cl_cli_json_text(json_object_get(resp, "enclaves_lost"), lost, sizeof(lost)),
		       cl_cli_json_text(json_object_get(resp, "enclaves_destroyed"), gone, sizeof(gone)));
	}
out:
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_cmd_host(int argc, char **argv)
{
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		fputs(host_verbs, argc < 1 ? stderr : stdout);
		return argc < 1 ? cl_cli_usage("missing verb (list, remove, power-cycle, clear-quarantine)") : 0;
	}
	if (strcmp(argv[0], "list") == 0)
		return host_list(argc - 1, argv + 1);
	if (strcmp(argv[0], "remove") == 0)
		return host_remove(argc - 1, argv + 1);
	if (strcmp(argv[0], "power-cycle") == 0)
		return cl_cmd_host_power_cycle(argc - 1, argv + 1);
	if (strcmp(argv[0], "clear-quarantine") == 0)
		return cl_cmd_host_clear_quarantine(argc - 1, argv + 1);
	return cl_cli_usage("unknown verb 'host %s' (expected: list, remove, power-cycle, clear-quarantine)", argv[0]);
}
