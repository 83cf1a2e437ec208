/* Fuzzes what the host parses of cloister-init's FILES list (the measure
 * op's code and data: src/host/agent_rtm_files.c), an enclave's word. An
 * accepted list has at most CL_RTM_MAX_FILES paths, each absolute, not
 * empty, shorter than CL_RTM_PATH_MAX and within the input; each is then
 * added as a file region and the register computed (duplicates counted
 * once). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/agent_rtm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **paths = NULL, *store = NULL;
	size_t n = 0;
	if (cl_rtm_files_parse(data, size, &paths, &store, &n) != CL_OK) {
		if (paths || store || n)
			__builtin_trap(); /* a refusal leaves nothing */
		return 0;
	}
	if (n > CL_RTM_MAX_FILES)
		__builtin_trap();
	cl_rtm_set s = {0};
	static const uint8_t d[48];
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(paths[i]);
		if (k == 0 || k >= CL_RTM_PATH_MAX || paths[i][0] != '/')
			__builtin_trap();
		total += k + 1;
		if (cl_rtm_add_file(&s, paths[i], CL_RTM_FILE_REG, k, d) != CL_OK)
			__builtin_trap(); /* within the bounds: must fit */
	}
	if (size && total != size - 1)
		__builtin_trap(); /* every byte after the flags is in a path */
	uint8_t reg[CL_PCR_LEN];
	cl_rtm_register(&s, reg);
	cl_rtm_set_free(&s);
	free(paths);
	free(store);
	return 0;
}
