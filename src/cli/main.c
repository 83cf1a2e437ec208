/* cloister — the command-line client: `cloister <noun> <verb> [options]`.
 * One file per noun (cmd_<noun>.c); this file only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/version.h"

static const struct {
	const char *noun;
	int (*fn)(int argc, char **argv);
	const char *summary;
} nouns[] = {
	{"dev", cl_cmd_dev, "run a local control plane and host for development"},
	{"image", cl_cmd_image, "build, inspect, measure and sign enclave images; list and delete stored ones"},
	{"enclave", cl_cmd_enclave, "create, run, talk to and destroy enclaves"},
	{"host", cl_cmd_host, "hosts of the fleet: list, remove, power-cycle, clear-quarantine"},
	{"token", cl_cmd_token, "API tokens: create (and tenants), list, revoke"},
	{"fw", cl_cmd_fw, "firmware releases and device updates"},
	{"attest", cl_cmd_attest, "verify attestation documents against a trusted root"},
	{"ca", cl_cmd_ca, "the provider's root certificate (attestation trust)"},
	{"secret", cl_cmd_secret, "the key broker: secrets released to attested enclaves"},
	{"tls", cl_cmd_tls, "host-terminated TLS for an enclave: enable, status, disable, rotate"},
};

static void usage(FILE *f)
{
	fputs("usage: cloister [global options] <noun> <verb> [options]\n\nnouns:\n", f);
	for (size_t i = 0; i < sizeof(nouns) / sizeof(nouns[0]); i++)
		fprintf(f, "  %-8s %s\n", nouns[i].noun, nouns[i].summary);
	fputs("\nglobal options (before the noun or after the verb):\n"
	      "  --server URL       control plane URL            (CLOISTER_SERVER)\n"
	      "  --ca FILE          CA certificate to trust      (CLOISTER_CA)\n"
	      "  --token TOKEN      API token                    (CLOISTER_TOKEN)\n"
	      "  --access-key KEY   enclave access key           (CLOISTER_ACCESS_KEY)\n"
	      "  --config FILE      JSON {server, ca, token}     (CLOISTER_CONFIG,\n"
	      "                     default ~/.config/cloister/config.json)\n"
	      "  --json             machine-readable output; a failure is then one JSON\n"
	      "                     object {\"error\":{\"code\",\"message\",\"status\"}} on stderr\n"
	      "  --version          version, revision and library versions\n"
	      "\n`cloister <noun> --help` lists a noun's verbs.\n",
	      f);
}

int main(int argc, char **argv)
{
	cl_cli_flags flags = {0};
	int i = 1;
	/* Global options before the noun: everything up to the first non-option. */
	int pre_end = 1;
	while (pre_end < argc && argv[pre_end][0] == '-') {
		if (cl_cli_is_help(argv[pre_end])) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[pre_end], "--version") == 0) {
			cl_version_print(stdout, "cloister");
			return 0;
		}
		bool takes_value = strcmp(argv[pre_end], "--json") != 0 && !strchr(argv[pre_end], '=');
		pre_end += takes_value ? 2 : 1;
	}
	if (pre_end > argc)
		pre_end = argc;
	int npre = pre_end - 1;
	cl_err err = cl_cli_extract_globals(&npre, argv + 1, &flags);
	cl_cli_set_global(&flags); /* so every error below knows about --json */
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if (npre > 0)
		return cl_cli_usage("unknown global option '%s' (see cloister --help)", argv[1]);
	i = pre_end;
	if (i >= argc) {
		if (!flags.json)
			usage(stderr);
		return cl_cli_usage("missing command");
	}
	const char *noun = argv[i];
	if (cl_cli_is_help(noun)) {
		usage(stdout);
		return 0;
	}
	/* Global options after the noun (and verb) are removed from its arguments. */
	int rest = argc - i - 1;
	char **rargv = argv + i + 1;
	err = cl_cli_extract_globals(&rest, rargv, &flags);
	cl_cli_set_global(&flags);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	for (size_t k = 0; k < sizeof(nouns) / sizeof(nouns[0]); k++)
		if (strcmp(noun, nouns[k].noun) == 0)
			return nouns[k].fn(rest, rargv);
	return cl_cli_usage("unknown command '%s' (see cloister --help)", noun);
}
