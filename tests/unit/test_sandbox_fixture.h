/* test_sandbox_fixture.h — helpers for the `process` backend's tests
 * (tests/unit/test_sandbox*.c): finding the build, the probe image, enclave
 * ids that carry the test's pid, talking to the probe inside an enclave, and
 * checking that nothing of an enclave is left. Header-only (static) because
 * each test file is its own binary. Needs root. */
#ifndef CL_TEST_SANDBOX_FIXTURE_H
#define CL_TEST_SANDBOX_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/frame.h"
#include "common/util.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_internal.h"
#include "image/image.h"

__attribute__((unused)) static char build_dir[PATH_MAX], host_exe[PATH_MAX + 32], init_exe[PATH_MAX + 32],
	probe_exe[PATH_MAX + 32];
__attribute__((unused)) static char tmp_dir[64], data_dir[128], probe_img[160], script_img[160];
/* A copy of cloister-init at another path: a spec naming it does not fit the
 * sandboxes spare shims prepared (with init_exe), so it is built from the start. */
__attribute__((unused)) static char init_copy[160];

/* Enclave ids carry our pid: cgroups are named by id alone, and several
 * builds may run this suite at once. Returns a static buffer (a ring). */
__attribute__((unused)) static const char *ID(const char *name)
{
	static char ring[64][64];
	static unsigned next;
	char *b = ring[next++ % 64];
	snprintf(b, 64, "%s-%d", name, (int)getpid());
	return b;
}

__attribute__((unused)) static void find_build(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	char *slash = strrchr(self, '/'); /* BUILD/tests/test_sandbox */
	assert_non_null(slash);
	*slash = '\0';
	slash = strrchr(self, '/');
	assert_non_null(slash);
	*slash = '\0';
	snprintf(build_dir, sizeof(build_dir), "%s", self);
	snprintf(host_exe, sizeof(host_exe), "%s/bin/cloister-host", build_dir);
	snprintf(init_exe, sizeof(init_exe), "%s/bin/cloister-init", build_dir);
	snprintf(probe_exe, sizeof(probe_exe), "%s/examples/probe", build_dir);
}

__attribute__((unused)) static int group_setup(void **state)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_sandbox needs root\n");
		return -1;
	}
	find_build();
	if (access(host_exe, X_OK) || access(init_exe, X_OK) || access(probe_exe, X_OK)) {
		fprintf(stderr, "build %s, %s and %s first\n", host_exe, init_exe, probe_exe);
		return -1;
	}
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/cl-sandbox-test.XXXXXX");
	if (!mkdtemp(tmp_dir))
		return -1;
	snprintf(data_dir, sizeof(data_dir), "%s/data", tmp_dir);
	snprintf(probe_img, sizeof(probe_img), "%s/probe.img", tmp_dir);
	snprintf(script_img, sizeof(script_img), "%s/script.img", tmp_dir);
	snprintf(init_copy, sizeof(init_copy), "%s/cloister-init-copy", tmp_dir);
	cl_buf bin;
	cl_buf_init(&bin, 64u << 20);
	bool copied = cl_file_read(init_exe, 64u << 20, &bin) == CL_OK &&
		      cl_file_write_atomic(init_copy, bin.data, bin.len, 0755) == CL_OK;
	cl_buf_free(&bin);
	if (!copied)
		return -1;
	static const char *const serve[] = {"serve", NULL};
	cl_image_input in = {probe_exe, "probe"};
	cl_image_spec spec = {"probe", "1", "/probe", serve, &in, 1};
	if (cl_image_build(&spec, probe_img) != CL_OK)
		return -1;
	/* An entrypoint whose interpreter does not exist in the enclave. */
	char script[200];
	snprintf(script, sizeof(script), "%s/app.sh", tmp_dir);
	FILE *f = fopen(script, "w");
	if (!f)
		return -1;
	fputs("#!/bin/sh\necho never\n", f);
	fclose(f);
	chmod(script, 0755);
	cl_image_input sin = {script, "app.sh"};
	cl_image_spec sspec = {"script", "1", "/app.sh", NULL, &sin, 1};
	return cl_image_build(&sspec, script_img) == CL_OK ? 0 : -1;
}

__attribute__((unused)) static int group_teardown(void **state)
{
	/* A failed test may have left enclaves running: destroy whatever is there. */
	char **ids;
	size_t n;
	if (data_dir[0] && cl_sandbox_list(data_dir, &ids, &n) == CL_OK) {
		for (size_t i = 0; i < n; i++)
			if (cl_sandbox_destroy(data_dir, ids[i]) != CL_OK)
				fprintf(stderr, "destroy %s: %s\n", ids[i], cl_error_detail());
		cl_sandbox_ids_free(ids, n);
	}
	if (tmp_dir[0] && cl_rm_rf(tmp_dir) != CL_OK)
		return -1;
	return 0;
}

__attribute__((unused)) static cl_sandbox_spec make_spec(const char *id, const char *img, uint64_t mem, uint32_t pids)
{
	cl_sandbox_spec s = {.id = id, .image_path = img, .init_path = init_exe,
	                    .memory_bytes = mem, .cpus = 1, .pids_max = pids};
	return s;
}

__attribute__((unused)) static void launch_ok(const char *id, uint64_t mem, uint32_t pids, cl_sandbox_info *info)
{
	cl_sandbox_spec spec = make_spec(id, probe_img, mem, pids);
	cl_err e = cl_sandbox_launch(host_exe, data_dir, &spec, info);
	if (e != CL_OK)
		fail_msg("launch %s: %s: %s", id, cl_err_name(e), cl_error_detail());
	assert_true(info->init_pid > 0);
	assert_true(info->shim_pid > 0);
}

__attribute__((unused)) static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

__attribute__((unused)) static void send_line(int fd, const char *line)
{
	uint8_t type, reply[256];
	uint32_t n;
	assert_int_equal(cl_sandbox_call(fd, CL_FRAME_DATA, line, (uint32_t)strlen(line), &type, reply,
					 sizeof(reply), &n),
			 CL_OK);
	assert_int_equal(type, CL_FRAME_OK);
}

/* RECV once; returns the number of bytes appended to acc. */
__attribute__((unused)) static size_t recv_once(int fd, uint32_t wait_ms, char *acc, size_t *len, size_t cap)
{
	static uint8_t reply[CL_FRAME_MAX];
	uint8_t req[8], type;
	uint32_t n;
	put_be32(req, 65536);
	put_be32(req + 4, wait_ms);
	assert_int_equal(cl_sandbox_call(fd, CL_FRAME_RECV, req, 8, &type, reply, sizeof(reply), &n), CL_OK);
	assert_int_equal(type, CL_FRAME_DATA);
	size_t k = n < cap - 1 - *len ? n : cap - 1 - *len;
	memcpy(acc + *len, reply, k);
	*len += k;
	acc[*len] = '\0';
	return n;
}

/* Receives until a line starting with prefix arrives; returns it (static buffer). */
__attribute__((unused)) static const char *recv_line(int fd, const char *prefix)
{
	static char acc[1 << 20];
	static char line[8192];
	size_t len = 0;
	uint64_t deadline = cl_now_mono_ns() + 20ull * 1000 * 1000 * 1000;
	while (cl_now_mono_ns() < deadline) {
		recv_once(fd, 500, acc, &len, sizeof(acc));
		char *p = acc;
		char *nl;
		while ((nl = strchr(p, '\n'))) {
			if (strncmp(p, prefix, strlen(prefix)) == 0) {
				size_t k = (size_t)(nl - p) < sizeof(line) - 1 ? (size_t)(nl - p) : sizeof(line) - 1;
				memcpy(line, p, k);
				line[k] = '\0';
				return line;
			}
			p = nl + 1;
		}
	}
	fail_msg("no line starting with '%s' (got %zu bytes)", prefix, len);
	return NULL;
}

/* Sends a probe command and returns its answer line. */
__attribute__((unused)) static const char *ask(int fd, const char *cmd, const char *prefix)
{
	char line[256];
	snprintf(line, sizeof(line), "%s\n", cmd);
	send_line(fd, line);
	return recv_line(fd, prefix);
}

__attribute__((unused)) static int connect_ok(const char *id)
{
	int fd;
	assert_int_equal(cl_sandbox_connect(data_dir, id, &fd), CL_OK);
	return fd;
}

/* Alive = exists and is not a zombie (a reparented shim may wait for its reaper). */
__attribute__((unused)) static bool process_alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *rp = strrchr(buf, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

__attribute__((unused)) static void assert_gone(const char *id, const cl_sandbox_info *info)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/sandboxes/%s", data_dir, id);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_false(cl_cgroup_exists(id));
	if (info) {
		assert_false(process_alive(info->init_pid));
		assert_false(process_alive(info->shim_pid));
	}
}

/* True if pid is listed in /sys/fs/cgroup/CTL/cloister/NAME/cgroup.procs. */
__attribute__((unused)) static bool cgroup_holds(const char *ctl, const char *name, pid_t pid)
{
	char path[300], line[32];
	snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/cloister/%s/cgroup.procs", ctl, name);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strtol(line, NULL, 10) == (long)pid;
	fclose(f);
	return found;
}

/* Counts cloister/spare-* cgroup directories (v1 memory controller). */
__attribute__((unused)) static size_t count_spare_dirs(void)
{
	size_t n = 0;
	static const char *const ctls[] = {"memory", "cpu", "pids", "freezer"};
	for (size_t i = 0; i < 4; i++) {
		char parent[128];
		snprintf(parent, sizeof(parent), "/sys/fs/cgroup/%s/cloister", ctls[i]);
		DIR *d = opendir(parent);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d)))
			n += strncmp(de->d_name, "spare-", 6) == 0;
		closedir(d);
	}
	return n;
}

/* Waits (up to 30 s) until this process's pool holds `want` spares that
 * prepared a sandbox; their shim pids go to pids[want]. */
__attribute__((unused)) static void wait_pool_prepared(size_t want, pid_t *pids)
{
	uint64_t deadline = cl_now_mono_ns() + 30ull * 1000 * 1000 * 1000;
	size_t prepared = 0, held = 0;
	pid_t got[CL_SANDBOX_POOL_SIZE];
	while ((held = cl_sandbox_pool_list(got, CL_SANDBOX_POOL_SIZE, &prepared)) < want || prepared < want) {
		if (cl_now_mono_ns() > deadline)
			fail_msg("pool: %zu spares, %zu prepared; wanted %zu prepared", held, prepared, want);
		usleep(2000);
	}
	for (size_t i = 0; pids && i < want; i++)
		pids[i] = got[i];
}

/* Launches and destroys an enclave with init_exe, then waits until the pool
 * is full of sandboxes prepared for it: the next launch with init_exe takes
 * one (shim.log: "prepared=1"); one with init_copy builds its own ("prepared=0"). */
__attribute__((unused)) static void warm_pool(void)
{
	char id[64];
	cl_sandbox_info info;
	snprintf(id, sizeof(id), "warm-%d", (int)getpid());
	cl_sandbox_spec spec = {.id = id, .image_path = probe_img, .init_path = init_exe,
	                       .memory_bytes = 64 << 20, .cpus = 1};
	if (cl_sandbox_launch(host_exe, data_dir, &spec, &info) != CL_OK)
		fail_msg("launch %s: %s", id, cl_error_detail());
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);
	wait_pool_prepared(CL_SANDBOX_POOL_SIZE, NULL);
}

/* True if DIR/sandboxes/ID/shim.log has a line containing needle. */
__attribute__((unused)) static bool shim_log_has(const char *id, const char *needle)
{
	char path[600];
	cl_buf text;
	cl_buf_init(&text, 1u << 20);
	bool found = cl_sandbox_path(path, sizeof(path), data_dir, id, "shim.log") == CL_OK &&
		     cl_file_read(path, 1u << 20, &text) == CL_OK && memmem(text.data, text.len, needle, strlen(needle));
	cl_buf_free(&text);
	return found;
}

/* The mount at `where` in /proc/PID/mountinfo: its mount options and its
 * superblock options ("rw,size=16384k,..."). False if there is none. */
__attribute__((unused)) static bool mount_options(pid_t pid, const char *where, char *mnt, size_t mn, char *super,
						  size_t sn)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER */
		char *save = NULL, *tok[6];
		size_t n = 0;
		while (n < 6 && (tok[n] = strtok_r(n ? NULL : line, " \n", &save)))
			n++;
		if (n < 6 || strcmp(tok[4], where) != 0)
			continue;
		char *rest = strtok_r(NULL, "\n", &save);
		char *dash = rest ? strstr(rest, "- ") : NULL;
		if (rest && strncmp(rest, "- ", 2) != 0 && dash)
			dash = strstr(rest, " - ") ? strstr(rest, " - ") + 1 : NULL;
		char fstype[64], source[256], sup[512];
		if (!dash || sscanf(dash, "- %63s %255s %511s", fstype, source, sup) != 3)
			continue;
		snprintf(mnt, mn, "%s", tok[5]);
		snprintf(super, sn, "%s", sup);
		found = true; /* the last one wins: mounts stacked on one point */
	}
	fclose(f);
	return found;
}

/* True if the comma-separated list has the item. */
__attribute__((unused)) static bool has_opt(const char *list, const char *item)
{
	size_t n = strlen(item);
	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, item, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

#endif
