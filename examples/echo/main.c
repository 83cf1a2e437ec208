/* echo — the example bundle application (docs/provisioning.md): answers
 * each line it reads on stdin with "echo: <line>" on stdout (flushed at
 * once). At start it reads /tmp/bundle/marker.txt, if the bundle has one,
 * and keeps it in memory without ever writing it out: a secret that only
 * the enclave holds (tests/integration/host_provision.sh looks for it in
 * every host-side process). Static, libc only.
 */
#include <stdio.h>
#include <string.h>

static char secret[4096];

int main(void)
{
	char line[2048];
	FILE *f = fopen("/tmp/bundle/marker.txt", "r");
	size_t n = f ? fread(secret, 1, sizeof(secret) - 1, f) : 0;
	if (f)
		fclose(f);
	secret[n] = '\0';
	printf("echo ready (%zu bytes of secret held)\n", n);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		printf("echo: %s\n", line);
		fflush(stdout);
	}
	return 0;
}
