/* Unit tests for the key holder as cloister-host's supervisor starts it
 * (src/keyholder/kh_migrate.c, cl_kh_main_opts.switch_user): as root, a real
 * hardened key holder (KILL-mode seccomp) that
 *   - gives the key directory to its own uid (0700, key files 0600), also a
 *     directory an earlier root-run left, and runs as that uid with no
 *     capability;
 *   - moves a device key of the firmware device model
 *     (DATA/fw/devices/<addr>/devkey) into dev/<addr>.key: the same key
 *     (same public point), the old file gone;
 *   - finishes a move a kill interrupted (both files present): the old file
 *     goes, the committed key stays;
 *   - refuses to move a key file that is a symbolic link (and exits 1).
 * Needs root (the suite runs as root); skipped otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "fw/fw_tools.h"
#include "host/supervisor.h"
#include "keyholder/keyholder.h"

#define NIC "0000:03:00.0"
#define GPU "0000:65:00.0"

static size_t plen; /* cl_kh_get_public's point length */
static char dir[64], keys[96], devices[128], logpath[96];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/cl-khm.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	snprintf(devices, sizeof(devices), "%s/fw/devices", dir);
	snprintf(logpath, sizeof(logpath), "%s/kh.log", dir);
	return 0;
}

static int teardown(void **state)
{
	return cl_rm_rf(dir) == CL_OK ? 0 : -1;
}

typedef struct kh_proc {
	pid_t pid;
	int fd;
	cl_kh_client agent;
} kh_proc;

static void kh_start(kh_proc *p)
{
	int a[2];
	assert_int_equal(cl_ipc_pair(a), CL_OK);
	fflush(NULL);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		cl_kh_main_opts o = {.switch_user = true, .uid = CL_HOST_KEYHOLDER_UID, .gid = CL_HOST_KEYHOLDER_UID,
				     .legacy_devices = devices};
		int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (log < 0 || dup2(log, 2) != 2)
			_exit(99);
		cl_log_init("keyholder", CL_LOG_INFO);
		_exit(cl_keyholder_main(a[1], keys, &o));
	}
	close(a[1]);
	p->fd = a[0];
	cl_kh_client_init(&p->agent, a[0], 10000);
}

/* Closes the channel; returns the key holder's wait status. */
static int kh_stop(kh_proc *p)
{
	int st;
	close(p->fd);
	assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
	return st;
}

static void assert_exit(int st, int code)
{
	if (!WIFEXITED(st))
		fail_msg("key holder died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	assert_int_equal(WEXITSTATUS(st), code);
}

/* A device model's key file: DATA/fw/devices/<addr>/devkey; *pt its point. */
static void legacy_key(const char *addr, uint8_t pt[FW_POINT_LEN])
{
	char path[256];
	void *k = NULL;
	snprintf(path, sizeof(path), "%s/%s", devices, addr);
	assert_int_equal(cl_mkdir_p(path, 0700), CL_OK);
	snprintf(path, sizeof(path), "%s/%s/devkey", devices, addr);
	assert_int_equal(fw_key_generate(&k), CL_OK);
	assert_int_equal(fw_key_save_private(k, path), CL_OK);
	assert_int_equal(fw_key_point(k, pt), CL_OK);
	fw_key_free(k);
}

static void assert_owned(const char *path, mode_t mode)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_uid, CL_HOST_KEYHOLDER_UID);
	assert_int_equal(st.st_gid, CL_HOST_KEYHOLDER_UID);
	assert_int_equal(st.st_mode & 07777, mode);
}

/* "Uid:" and "CapEff:" of /proc/pid/status. */
static void status_of(pid_t pid, char *uid, char *capeff, size_t n)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "Uid:", 4) == 0)
			snprintf(uid, n, "%s", line + 4);
		if (strncmp(line, "CapEff:", 7) == 0)
			snprintf(capeff, n, "%s", line + 7);
	}
	fclose(f);
}

static void moves_device_keys(void **state)
{
	uint8_t nic[FW_POINT_LEN], gpu[FW_POINT_LEN], got[FW_POINT_LEN];
	enum cl_kh_purpose purpose;
	char path[256], uid[128] = "", cap[128] = "";
	if (geteuid() != 0)
		skip();
	legacy_key(NIC, nic);
	legacy_key(GPU, gpu);
	/* a key directory an earlier run left as root, with a key of its own */
	kh_proc p;
	assert_int_equal(mkdir(keys, 0700), 0);
	kh_start(&p);
	assert_int_equal(cl_kh_get_public(&p.agent, "dev/" NIC, &purpose, got, &plen), CL_OK);
	assert_int_equal(purpose, CL_KH_PURPOSE_ECDH);
	assert_memory_equal(got, nic, FW_POINT_LEN); /* the device keeps its key */
	assert_int_equal(cl_kh_get_public(&p.agent, "dev/" GPU, &purpose, got, &plen), CL_OK);
	assert_memory_equal(got, gpu, FW_POINT_LEN);
	assert_int_equal(cl_kh_generate(&p.agent, "dev/" NIC, got), CL_ECONFLICT); /* never replaced */
	status_of(p.pid, uid, cap, sizeof(uid));
	char want[64];
	snprintf(want, sizeof(want), "\t%u\t%u\t%u\t%u\n", CL_HOST_KEYHOLDER_UID, CL_HOST_KEYHOLDER_UID,
		 CL_HOST_KEYHOLDER_UID, CL_HOST_KEYHOLDER_UID);
	assert_string_equal(uid, want);
	assert_string_equal(cap, "\t0000000000000000\n");
	assert_exit(kh_stop(&p), 0);
	/* the old files are gone, the new ones are the key holder's */
	snprintf(path, sizeof(path), "%s/%s/devkey", devices, NIC);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/%s/devkey", devices, GPU);
	assert_int_equal(access(path, F_OK), -1);
	assert_owned(keys, 0700);
	snprintf(path, sizeof(path), "%s/dev", keys);
	assert_owned(path, 0700);
	snprintf(path, sizeof(path), "%s/dev/%s.key", keys, NIC);
	assert_owned(path, 0600);
	/* a second start has nothing to move and keeps the keys */
	kh_start(&p);
	assert_int_equal(cl_kh_get_public(&p.agent, "dev/" NIC, &purpose, got, &plen), CL_OK);
	assert_memory_equal(got, nic, FW_POINT_LEN);
	assert_exit(kh_stop(&p), 0);
}

static void finishes_interrupted_move(void **state)
{
	uint8_t nic[FW_POINT_LEN], other[FW_POINT_LEN], got[FW_POINT_LEN];
	enum cl_kh_purpose purpose;
	char from[256], to[256];
	if (geteuid() != 0)
		skip();
	/* killed after the link, before the old file was removed: both exist */
	legacy_key(NIC, nic);
	snprintf(from, sizeof(from), "%s/%s/devkey", devices, NIC);
	snprintf(to, sizeof(to), "%s/dev/%s.key", keys, NIC);
	assert_int_equal(cl_kh_dir_prepare(keys, CL_HOST_KEYHOLDER_UID, CL_HOST_KEYHOLDER_UID), CL_OK);
	assert_int_equal(link(from, to), 0);
	assert_int_equal(chown(to, CL_HOST_KEYHOLDER_UID, CL_HOST_KEYHOLDER_UID), 0);
	/* ... and another device's file that is no longer what the key file says */
	legacy_key(GPU, other);
	kh_proc p;
	kh_start(&p);
	assert_int_equal(cl_kh_get_public(&p.agent, "dev/" NIC, &purpose, got, &plen), CL_OK);
	assert_memory_equal(got, nic, FW_POINT_LEN);
	assert_exit(kh_stop(&p), 0);
	assert_int_equal(access(from, F_OK), -1);
}

static void refuses_a_link(void **state)
{
	uint8_t nic[FW_POINT_LEN];
	char from[256], to[256];
	if (geteuid() != 0)
		skip();
	legacy_key(NIC, nic);
	/* the devkey is a link to a file elsewhere: not moved, the start fails */
	snprintf(from, sizeof(from), "%s/%s/devkey", devices, NIC);
	snprintf(to, sizeof(to), "%s/elsewhere.pem", dir);
	assert_int_equal(rename(from, to), 0);
	assert_int_equal(symlink(to, from), 0);
	kh_proc p;
	kh_start(&p);
	assert_exit(kh_stop(&p), 1);
	snprintf(to, sizeof(to), "%s/dev/%s.key", keys, NIC);
	assert_int_equal(access(to, F_OK), -1);
}

static int reset(void **state)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/fw", dir);
	if (cl_rm_rf(path) != CL_OK || cl_rm_rf(keys) != CL_OK)
		return -1;
	return 0;
}

int main(void)
{
	cl_log_init("test_keyholder_migrate", CL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(moves_device_keys, reset),
		cmocka_unit_test_setup(finishes_interrupted_move, reset),
		cmocka_unit_test_setup(refuses_a_link, reset),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
