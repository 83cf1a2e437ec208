/* cloister-host — the host agent. `--shim DIR ID` runs one enclave's shim
 * (spawned by the agent itself); anything else runs the agent. */
#include <string.h>

#include "host/agent.h"
#include "host/sandbox.h"

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--shim") == 0)
		return cl_sandbox_shim_main(argv[2], argv[3]);
	return cl_agent_main(argc, argv);
}
