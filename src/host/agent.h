/* agent.h — the host agent: registration, the sync loop, reconciliation. */
#ifndef CL_HOST_AGENT_H
#define CL_HOST_AGENT_H

/* Runs the agent with the command line of `cloister-host` (see --help).
 * Returns the process exit code. */
int cl_agent_main(int argc, char **argv);

#endif
