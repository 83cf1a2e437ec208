/* cmd_host.c — `cloister host list`: the fleet's hosts, as the control plane
 * sees them (state, security level, location, capacity, heartbeat);
 * power-cycle and clear-quarantine are in cmd_fw_host.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"

static const char host_usage[] = "usage: cloister host list [--json]\n"
				 "\n"
				 "Lists the hosts registered with the control plane: id, name, state\n"
				 "(ready, lost, ...), security level, zone/rack, memory (free/total),\n"
				 "CPUs, number of enclaves and the time of the last heartbeat.\n";

static const char host_verbs[] = "usage: cloister host VERB ...\n"
				 "\n"
				 "verbs:\n"
				 "  list               the fleet's hosts (cloister host list)\n"
				 "  power-cycle        power-cycle a host's devices (cloister host power-cycle HOST)\n"
				 "  clear-quarantine   clear a host's firmware quarantine\n"
				 "                     (cloister host clear-quarantine HOST --reason TEXT)\n";

/* cmd_fw_host.c */

static int host_list(int argc, char **argv)
{
	static const cl_cli_option opts[] = {{0}};
	const char *pos[1];
	size_t npos;
	bool help;
	cl_err err = cl_cli_parse_opts(argc, argv, opts, pos, 0, &npos, &help);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if (help) {
		fputs(host_usage, stdout);
		return 0;
	}
	cl_cli_conn *c = NULL;
	json_t *resp = NULL;
	cl_cli_table *t = NULL;
	CL_GUARD_OUT(err, cl_cli_connect(&c));
	CL_GUARD_OUT(err, cl_cli_call(c, "GET", "/v1/hosts", NULL, &resp, NULL));
	if (cl_cli_global()->json) {
		cl_cli_print_json(resp);
		goto out;
	}
	json_t *items = json_object_get(resp, "items");
	if (!json_is_array(items)) {
		err = cl_errorf(CL_EPROTO, "server sent a host list without items");
		goto out;
	}
	static const char *const header[] = {"ID",     "NAME",     "STATE", "LEVEL", "ZONE",
					     "RACK",   "MEM_MIB", "CPUS",  "ENCLAVES", "LAST_SEEN"};
	CL_GUARD_OUT(err, cl_cli_table_new(10, header, &t));
	size_t i;
	json_t *h;
	json_array_foreach(items, i, h)
	{
		char b[10][160], mem[64];
		static const char *const keys[] = {"id",   "name", "state", "level", "zone",
						   "rack", NULL,   "cpus",  "enclaves", "last_seen"};
		const char *row[10];
		for (int k = 0; k < 10; k++)
			row[k] = keys[k] ? cl_cli_json_text(json_object_get(h, keys[k]), b[k], sizeof(b[k]))
					 : NULL;
		char fr[32], tot[32];
		snprintf(mem, sizeof(mem), "%s/%s",
			 cl_cli_json_text(json_object_get(h, "memory_free_mib"), fr, sizeof(fr)),
			 cl_cli_json_text(json_object_get(h, "memory_mib"), tot, sizeof(tot)));
		row[6] = mem;
		CL_GUARD_OUT(err, cl_cli_table_add(t, row));
	}
	cl_cli_table_print(t);
out:
	cl_cli_table_free(t);
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_cmd_host(int argc, char **argv)
{
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		fputs(host_verbs, argc < 1 ? stderr : stdout);
		return argc < 1 ? cl_cli_usage("missing verb (list, power-cycle, clear-quarantine)") : 0;
	}
	if (strcmp(argv[0], "list") == 0)
		return host_list(argc - 1, argv + 1);
	if (strcmp(argv[0], "power-cycle") == 0)
		return cl_cmd_host_power_cycle(argc - 1, argv + 1);
	if (strcmp(argv[0], "clear-quarantine") == 0)
		return cl_cmd_host_clear_quarantine(argc - 1, argv + 1);
	return cl_cli_usage("unknown verb 'host %s' (expected: list, power-cycle, clear-quarantine)", argv[0]);
}
