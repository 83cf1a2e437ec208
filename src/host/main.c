/* cloister-host — the host agent. `--shim DIR ID` runs one enclave's shim
 * (spawned by the agent itself); anything else runs the agent. */
#include <stdio.h>
#include <string.h>

#include "common/version.h"
#include "host/agent.h"
#include "sandbox/sandbox.h"

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		cl_version_print(stdout, "cloister-host");
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "--shim") == 0)
		return cl_sandbox_shim_main(argv[2], argv[3]);
	return cl_agent_main(argc, argv);
}
