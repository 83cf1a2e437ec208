/* agent_measure.c — registers at launch (agent_measure.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/util.h"
#include "host/agent_measure.h"
#include "image/image.h"

struct cl_agent_measure {
	uint8_t *init, *helper; /* cloister-init and cloister-init-bundle, read at start */
	size_t init_len, helper_len;
	struct {
		char sha[97];
		cl_pcrs pcrs;
		uint64_t used; /* the least recently used entry is replaced */
	} cache[CL_AGENT_MEASURE_CACHE];
	uint64_t tick;
	unsigned measured;
};

/* The whole file at path into *data (malloc'd), *len. */
static cl_err read_binary(const char *path, uint8_t **data, size_t *len)
{
	cl_buf b;
	cl_buf_init(&b, CL_AGENT_INIT_MAX);
	cl_err err = cl_file_read(path, CL_AGENT_INIT_MAX, &b);
	if (err != CL_OK) {
		cl_buf_free(&b);
		return cl_errorf(err, "init binary %s: %s", path, cl_error_detail());
	}
	*data = b.data; /* taken over from the buffer */
	*len = b.len;
	return CL_OK;
}

cl_err cl_agent_measure_new(const char *init_path, const char *helper_path, cl_agent_measure **out)
{
	*out = NULL;
	cl_agent_measure *m = calloc(1, sizeof(*m));
	CL_ENSURE(m, CL_ENOMEM, "out of memory");
	cl_err err;
	CL_GUARD_OUT(err, read_binary(init_path, &m->init, &m->init_len));
	CL_GUARD_OUT(err, read_binary(helper_path, &m->helper, &m->helper_len));
	*out = m;
	m = NULL;
out:
	cl_agent_measure_free(m);
	return err;
}

void cl_agent_measure_free(cl_agent_measure *m)
{
	if (!m)
		return;
	free(m->init);
	free(m->helper);
	free(m);
}

unsigned cl_agent_measure_count(const cl_agent_measure *m)
{
	return m->measured;
}

/* Maps the file, parses and measures it; it must be the image sha names. */
static cl_err measure_file(cl_agent_measure *m, const char *path, const char *sha, cl_pcrs *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	CL_ENSURE(fd >= 0, CL_ESYS, "image %s: %s", path, strerror(errno));
	struct stat st;
	void *map = MAP_FAILED;
	cl_image *img = NULL;
	cl_err err = CL_OK;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > CL_IMAGE_MAX_SIZE) {
		err = cl_errorf(CL_EINVAL, "image %s: not a regular file of 1..%llu bytes", path,
				(unsigned long long)CL_IMAGE_MAX_SIZE);
		goto out;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		err = cl_errorf(CL_ESYS, "image %s: mmap: %s", path, strerror(errno));
		goto out;
	}
	CL_GUARD_OUT(err, cl_image_parse(map, (size_t)st.st_size, &img));
	char hex[97];
	cl_hex_encode(img->digest, sizeof(img->digest), hex);
	if (strcmp(hex, sha) != 0) {
		err = cl_errorf(CL_EINVAL, "image %s changed since its digest was checked", path);
		goto out;
	}
	memset(out, 0, sizeof(*out));
	cl_boot_files boot = {m->init, m->init_len, m->helper, m->helper_len};
	CL_GUARD_OUT(err, cl_image_measure(img, map, (size_t)st.st_size, &boot, out));
	m->measured++;
out:
	cl_image_free(img);
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	close(fd);
	return err;
}

cl_err cl_agent_measure_image(cl_agent_measure *m, const char *path, const char *sha384_hex, cl_pcrs *out)
{
	CL_ENSURE(strlen(sha384_hex) == 96, CL_EINVAL, "image digest is not 96 hex digits");
	size_t victim = 0;
	for (size_t i = 0; i < CL_AGENT_MEASURE_CACHE; i++) {
		if (m->cache[i].used && strcmp(m->cache[i].sha, sha384_hex) == 0) {
			m->cache[i].used = ++m->tick;
			*out = m->cache[i].pcrs;
			return CL_OK;
		}
		if (m->cache[i].used < m->cache[victim].used)
			victim = i;
	}
	CL_GUARD(measure_file(m, path, sha384_hex, out));
	memcpy(m->cache[victim].sha, sha384_hex, 97);
	m->cache[victim].pcrs = *out;
	m->cache[victim].used = ++m->tick;
	return CL_OK;
}

bool cl_agent_measure_launch(cl_pcrs *p, const char *tenant, const char *name, const char *host_id)
{
	if (tenant && tenant[0] && name && name[0]) {
		cl_pcrs_launch(p, tenant, name, host_id);
		return true;
	}
	cl_pcr_extend(p->v[4], host_id, strlen(host_id));
	return false;
}
