/* files.c — the FILES list (files.h). */
#include "init/files.h"

#include <dirent.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

#include "common/frame.h"
#include "init/provision.h"

static struct {
	uint8_t *out;
	size_t cap, len, n;
} l;

/* Appends path; sets the truncated flag and stops the walk (1) past a bound. */
static int add(const char *path)
{
	size_t k = strlen(path) + 1;
	if (l.n >= CL_FILES_MAX || k > l.cap - l.len) {
		l.out[0] |= CL_FILES_TRUNCATED;
		return 1;
	}
	memcpy(l.out + l.len, path, k);
	l.len += k;
	l.n++;
	return 0;
}

static int one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return add(path);
}

/* The sandbox's own names in the root: not the application's. */
static int sandbox_name(const char *name)
{
	static const char *const names[] = {".", "..", "init", "init-bundle", "proc", "dev", "tmp"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

size_t cl_init_files_list(uint8_t *out, size_t cap)
{
	char path[300];
	struct stat st;
	l.out = out;
	l.cap = cap < CL_FILES_BYTES ? cap : CL_FILES_BYTES;
	l.len = 1;
	l.n = 0;
	out[0] = 0;
	DIR *d = opendir("/");
	struct dirent *e;
	int stop = 0;
	while (d && !stop && (e = readdir(d))) {
		size_t k = strlen(e->d_name);
		if (sandbox_name(e->d_name) || k > sizeof(path) - 2)
			continue;
		path[0] = '/';
		memcpy(path + 1, e->d_name, k + 1);
		stop = nftw(path, one, 16, FTW_PHYS) > 0;
	}
	if (d)
		closedir(d);
	if (!stop && lstat(CL_INIT_BUNDLE_DIR, &st) == 0)
		nftw(CL_INIT_BUNDLE_DIR, one, 16, FTW_PHYS);
	return l.len;
}
