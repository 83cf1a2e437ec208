/* cloister-host — the host agent. `--shim DIR ID` runs one enclave's shim
 * (spawned by the agent itself); `--destroy-all --data DIR` destroys every
 * enclave of a data directory and exits (`cloister dev` stops with it, so
 * the CLI never touches sandboxes itself); anything else runs the service:
 * the supervisor and its parts (supervisor.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "common/version.h"
#include "host/agent.h"
#include "host/supervisor.h"
#include "host/agent_net.h"
#include "sandbox/sandbox.h"

static const char destroy_usage[] =
	"usage: cloister-host --destroy-all --data DIR\n"
	"\n"
	"Destroys every enclave sandbox under DIR (processes, cgroups, DIR/sandboxes/ID)\n"
	"and exits: 0 when none is left. Refused while a cloister-host agent uses DIR.\n";

/* `--destroy-all --data DIR`: the agent leaves enclaves running when it
 * stops (the next start adopts them); this mode is for when none should
 * survive. It takes DIR/agent.lock like the agent, so it never destroys
 * behind a running agent's back. */
static int destroy_all(int argc, char **argv)
{
	static const struct option opts[] = {
		{"destroy-all", no_argument, NULL, 'x'},
		{"data", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'd') {
			dir = optarg;
		} else if (c == 'h') {
			fputs(destroy_usage, stdout);
			return 0;
		} else if (c != 'x') {
			fprintf(stderr, "error: --destroy-all takes only --data DIR (see --destroy-all --help)\n");
			return 2;
		}
	}
	if (optind < argc || !dir || !*dir) {
		fprintf(stderr, "error: --destroy-all needs --data DIR and nothing else\n");
		return 2;
	}
	struct stat st;
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "error: --data %s: not a directory\n", dir);
		return 1;
	}
	if (cl_agent_check_privileges() != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		return 1;
	}
	char lock[PATH_MAX];
	if (snprintf(lock, sizeof(lock), "%s/agent.lock", dir) >= (int)sizeof(lock)) {
		fprintf(stderr, "error: --data: path too long\n");
		return 2;
	}
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "error: %s\n",
			fd < 0 ? strerror(errno) : "another cloister-host is using this data directory: stop it first");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	char **ids = NULL;
	size_t n = 0;
	int rc = 0;
	if (cl_sandbox_list(dir, &ids, &n) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		rc = 1;
	}
	for (size_t i = 0; i < n; i++) {
		if (cl_sandbox_destroy(dir, ids[i]) == CL_OK) {
			printf("destroyed %s\n", ids[i]);
		} else {
			fprintf(stderr, "error: cannot destroy sandbox %s: %s\n", ids[i], cl_error_detail());
			rc = 1;
		}
	}
	cl_sandbox_ids_free(ids, n);
	/* their networks: every link of the journal deleted, the journal emptied */
	cl_agent_net *net = NULL;
	if (rc == 0 && (cl_agent_net_open(dir, NULL, &net) != CL_OK || cl_agent_net_adopt(net, NULL, NULL, 0) != CL_OK)) {
		fprintf(stderr, "error: guest networks: %s\n", cl_error_detail());
		rc = 1;
	}
	cl_agent_net_free(net);
	close(fd); /* releases the lock */
	return rc;
}

int main(int argc, char **argv)
{
	cl_stdio_ensure(); /* before any descriptor is opened */
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		cl_version_print(stdout, "cloister-host");
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "--shim") == 0)
		return cl_sandbox_shim_main(argv[2], argv[3]);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--destroy-all") == 0)
			return destroy_all(argc, argv);
	/* Ends with _exit, as every hardened process must: the supervisor is
	 * undumpable and has no CAP_SYS_PTRACE, so LeakSanitizer's exit pass
	 * (a ptrace of itself) cannot run in ASan builds. */
	int rc = cl_supervisor_main(argc, argv);
	fflush(NULL);
	_exit(rc);
}
