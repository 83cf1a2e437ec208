/* Fuzzes the measure op's /proc/PID/maps line parser (src/host/agent_rtm.c):
 * the path part of a line is an enclave-chosen file name. Each input is
 * split into lines; the first line is the root to strip, the rest are parsed
 * and, when they parse, added to a region set whose register is computed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/agent_rtm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	cl_rtm_set s = {0};
	char *save = NULL, *root = strtok_r(buf, "\n", &save);
	for (char *line = root ? strtok_r(NULL, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		uint64_t start, end, off;
		char perms[5];
		const char *path;
		static const uint8_t d[48];
		if (cl_rtm_parse_maps(line, root, &start, &end, perms, &off, &path) != CL_OK)
			continue;
		if (end < start || strlen(perms) != 4 || strlen(path) >= CL_RTM_PATH_MAX)
			continue;
		if (cl_rtm_add(&s, path, off, (end - start) & 0xffff, d) != CL_OK)
			break;
	}
	uint8_t reg[CL_PCR_LEN];
	cl_rtm_register(&s, reg);
	cl_rtm_set_free(&s);
	free(buf);
	return 0;
}
