/* Tests of the launcher's pool of prepared sandboxes (src/sandbox/sandbox_pool.c,
 * shim.c, shim_prep.c; docs/sandbox.md "Launch latency"). Needs root, like
 * test_sandbox: real spare shims prepare real sandboxes.
 *   - the pool refills to CL_SANDBOX_POOL_SIZE prepared spares after
 *     launches back to back, each holding one parked child in its own
 *     spare-<pid> cgroups;
 *   - a prepared sandbox is walled off from a running enclave: other user,
 *     pid, mount, net, ipc, uts and cgroup namespaces, another host uid,
 *     other cgroups;
 *   - an enclave's cgroups hold the enclave only (the shim never enters them),
 *     with its exact pids.max;
 *   - prepared sandboxes never used are removed when their launcher exits,
 *     and the cgroups of a killed spare are removed by the next spare (the
 *     end-to-end test cannot tell which spare did it: any spare on the host
 *     cleans, other builds' included; stale_spare_cgroups_removed checks
 *     the cleaning itself, gone, zombie and live pids).
 * The cgroup checks read v1 paths (this project's hosts); elsewhere they skip.
 */
#include "test_sandbox_fixture.h"

static const char *const ctls[] = {"memory", "cpu", "pids", "freezer"};

/* The tasks of cloister/NAME (v1 freezer): up to max pids; returns the count. */
static size_t cgroup_tasks(const char *name, pid_t *pids, size_t max)
{
	char path[300], line[32];
	snprintf(path, sizeof(path), "/sys/fs/cgroup/freezer/cloister/%s/cgroup.procs", name);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (n < max)
			pids[n] = (pid_t)strtol(line, NULL, 10);
		n++;
	}
	fclose(f);
	return n;
}

/* True if any controller still has cloister/NAME. */
static bool cgroup_dir_exists(const char *name)
{
	for (size_t i = 0; i < 4; i++) {
		char path[300];
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/cloister/%s", ctls[i], name);
		if (access(path, F_OK) == 0)
			return true;
	}
	return false;
}

/* The parked child of the spare shim `shim`: the one task of spare-<shim>,
 * in every controller, whose parent is the shim. */
static pid_t parked_child(pid_t shim)
{
	char name[32], path[64], line[256];
	pid_t pid = -1;
	snprintf(name, sizeof(name), "spare-%d", (int)shim);
	assert_int_equal(cgroup_tasks(name, &pid, 1), 1);
	for (size_t i = 0; i < 4; i++)
		assert_true(cgroup_holds(ctls[i], name, pid));
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	long ppid = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "PPid:\t%ld", &ppid) == 1)
			break;
	fclose(f);
	assert_int_equal(ppid, shim);
	return pid;
}

static unsigned host_uid(pid_t pid)
{
	char path[64], line[256];
	unsigned uid = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid:\t%u", &uid) == 1)
			break;
	fclose(f);
	return uid;
}

/* The inode of /proc/PID/ns/NS. */
static ino_t ns_of(pid_t pid, const char *ns)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, ns);
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

static void launch_destroy(const char *id)
{
	cl_sandbox_info info;
	launch_ok(id, 64 << 20, 0, &info);
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);
	assert_gone(id, &info);
}

/* After launches back to back the pool is full again, every spare with a
 * sandbox prepared: one parked child in spare-<shim pid>, in every controller. */
static void pool_refills(void **state)
{
	if (cl_cgroup_layout() != CL_CG_V1)
		skip();
	for (int round = 0; round < 3; round++) {
		char name[32];
		snprintf(name, sizeof(name), "refill-%d", round);
		launch_destroy(ID(name));
		pid_t shims[CL_SANDBOX_POOL_SIZE];
		wait_pool_prepared(CL_SANDBOX_POOL_SIZE, shims);
		for (size_t i = 0; i < CL_SANDBOX_POOL_SIZE; i++)
			(void)parked_child(shims[i]);
	}
}

/* A prepared sandbox shares nothing with a running enclave. */
static void prepared_sandbox_walled_off(void **state)
{
	if (cl_cgroup_layout() != CL_CG_V1)
		skip();
	cl_sandbox_info a;
	launch_ok(ID("walls"), 64 << 20, 0, &a);
	pid_t shims[CL_SANDBOX_POOL_SIZE];
	wait_pool_prepared(CL_SANDBOX_POOL_SIZE, shims);
	static const char *const nss[] = {"user", "pid", "mnt", "net", "ipc", "uts", "cgroup"};
	for (size_t i = 0; i < CL_SANDBOX_POOL_SIZE; i++) {
		pid_t c = parked_child(shims[i]);
		assert_int_not_equal(shims[i], a.shim_pid);
		/* its own host uid, not the enclave's */
		assert_int_equal(host_uid(c), CL_SANDBOX_UID_BASE + (unsigned)shims[i]);
		assert_int_not_equal(host_uid(c), host_uid(a.init_pid));
		/* its own namespaces: neither the enclave's nor the host's */
		for (size_t k = 0; k < sizeof(nss) / sizeof(nss[0]); k++) {
			if (ns_of(c, nss[k]) == ns_of(a.init_pid, nss[k]) || ns_of(c, nss[k]) == ns_of(getpid(), nss[k]))
				fail_msg("the prepared sandbox shares the %s namespace", nss[k]);
		}
		/* its own cgroups: the enclave's hold the enclave only */
		for (size_t k = 0; k < 4; k++)
			assert_false(cgroup_holds(ctls[k], ID("walls"), c));
	}
	int fd = connect_ok(ID("walls"));
	assert_string_equal(ask(fd, "pids", "pids"), "pids 2");
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("walls")), CL_OK);
	assert_gone(ID("walls"), &a);
}

/* The shim is never in its enclave's cgroups: right after the launch they
 * hold the enclave's processes only, pids.max is the limit itself. */
static void enclave_cgroups_hold_enclave_only(void **state)
{
	if (cl_cgroup_layout() != CL_CG_V1)
		skip();
	for (int round = 0; round < 2; round++) { /* the second certainly from a prepared sandbox */
		cl_sandbox_info info;
		launch_ok(ID("only"), 64 << 20, 0, &info);
		/* init and the probe, both of the enclave's uid */
		pid_t pids[4];
		assert_int_equal(cgroup_tasks(ID("only"), pids, 4), 2);
		for (size_t i = 0; i < 2; i++)
			assert_int_equal(host_uid(pids[i]), CL_SANDBOX_UID_BASE + (unsigned)info.shim_pid);
		for (size_t i = 0; i < 4; i++) {
			assert_true(cgroup_holds(ctls[i], ID("only"), info.init_pid));
			assert_false(cgroup_holds(ctls[i], ID("only"), info.shim_pid));
		}
		char val[64], pmax[300];
		snprintf(pmax, sizeof(pmax), "/sys/fs/cgroup/pids/cloister/%s/pids.max", ID("only"));
		FILE *f = fopen(pmax, "re");
		assert_non_null(f);
		assert_non_null(fgets(val, sizeof(val), f));
		fclose(f);
		assert_int_equal(strtol(val, NULL, 10), CL_SANDBOX_DEFAULT_PIDS);
		assert_int_equal(cl_sandbox_destroy(data_dir, ID("only")), CL_OK);
		assert_gone(ID("only"), &info);
		wait_pool_prepared(1, NULL);
	}
}

/* A launcher of its own (a forked child starts with an empty pool) launches,
 * waits for its pool to be prepared, reports its spares and exits: their
 * shims, parked children and spare cgroups must all go. */
static void unused_sandboxes_removed_with_launcher(void **state)
{
	if (cl_cgroup_layout() != CL_CG_V1)
		skip();
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(p[0]);
		pid_t got[2 * CL_SANDBOX_POOL_SIZE];
		size_t prepared = 99;
		bool empty = cl_sandbox_pool_list(NULL, 0, &prepared) == 0 && prepared == 0;
		cl_sandbox_spec spec = make_spec(ID("own-launcher"), probe_img, 64 << 20, 0);
		cl_sandbox_info li;
		if (!empty || cl_sandbox_launch(host_exe, data_dir, &spec, &li) != CL_OK ||
		    cl_sandbox_destroy(data_dir, ID("own-launcher")) != CL_OK)
			_exit(1);
		uint64_t deadline = cl_now_mono_ns() + 30ull * 1000 * 1000 * 1000;
		while (cl_sandbox_pool_list(got, CL_SANDBOX_POOL_SIZE, &prepared) < CL_SANDBOX_POOL_SIZE ||
		       prepared < CL_SANDBOX_POOL_SIZE)
			if (cl_now_mono_ns() > deadline)
				_exit(2);
			else
				usleep(2000);
		for (size_t i = 0; i < CL_SANDBOX_POOL_SIZE; i++) {
			char name[32];
			snprintf(name, sizeof(name), "spare-%d", (int)got[i]);
			if (cgroup_tasks(name, &got[CL_SANDBOX_POOL_SIZE + i], 1) != 1)
				_exit(3);
		}
		_exit(write(p[1], got, sizeof(got)) == (ssize_t)sizeof(got) ? 0 : 4);
	}
	close(p[1]);
	pid_t got[2 * CL_SANDBOX_POOL_SIZE];
	assert_int_equal(read(p[0], got, sizeof(got)), (ssize_t)sizeof(got));
	close(p[0]);
	int st;
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	uint64_t deadline = cl_now_mono_ns() + 10ull * 1000 * 1000 * 1000;
	for (size_t i = 0; i < CL_SANDBOX_POOL_SIZE; i++) {
		char name[32];
		snprintf(name, sizeof(name), "spare-%d", (int)got[i]);
		while (process_alive(got[i]) || process_alive(got[CL_SANDBOX_POOL_SIZE + i]) || cgroup_dir_exists(name)) {
			if (cl_now_mono_ns() > deadline)
				fail_msg("spare %d (parked child %d) or its cgroups outlived its launcher", (int)got[i],
					 (int)got[CL_SANDBOX_POOL_SIZE + i]);
			usleep(2000);
		}
	}
}

/* A spare killed outright takes its parked child with it (PDEATHSIG); its
 * spare cgroups, which it could not remove, go when the next spare starts. */
static void killed_spare_cleaned_by_next(void **state)
{
	if (cl_cgroup_layout() != CL_CG_V1)
		skip();
	launch_destroy(ID("before-kill"));
	pid_t shims[CL_SANDBOX_POOL_SIZE];
	wait_pool_prepared(CL_SANDBOX_POOL_SIZE, shims);
	pid_t c = parked_child(shims[0]);
	char name[32];
	snprintf(name, sizeof(name), "spare-%d", (int)shims[0]);
	assert_int_equal(kill(shims[0], SIGKILL), 0);
	uint64_t deadline = cl_now_mono_ns() + 10ull * 1000 * 1000 * 1000;
	while (process_alive(c) || process_alive(shims[0])) {
		if (cl_now_mono_ns() > deadline)
			fail_msg("the parked child %d outlived its spare shim", (int)c);
		usleep(2000);
	}
	/* (its cgroups may already be gone: any spare that starts removes them) */
	/* the pool notices the dead spare, the launch and the refill go on */
	launch_destroy(ID("after-kill"));
	wait_pool_prepared(CL_SANDBOX_POOL_SIZE, NULL);
	deadline = cl_now_mono_ns() + 10ull * 1000 * 1000 * 1000;
	while (cgroup_dir_exists(name)) {
		if (cl_now_mono_ns() > deadline)
			fail_msg("the cgroups of a killed spare (%s) were not removed", name);
		usleep(2000);
	}
}

/* Makes (or, mk false, removes) cloister/NAME in every controller. */
static void fake_cgroup(const char *name, bool mk)
{
	for (size_t i = 0; i < 4; i++) {
		char path[300];
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s/cloister/%s", ctls[i], name);
		if (mk)
			assert_int_equal(mkdir(path, 0755), 0);
		else
			rmdir(path);
	}
}

/* What a starting spare removes: spare-<pid> cgroups whose pid is gone or a
 * zombie (a killed spare waiting for its reaper), never those of a live pid. */
static void stale_spare_cgroups_removed(void **state)
{
	if (cl_cgroup_layout() != CL_CG_V1)
		skip();
	launch_destroy(ID("stale")); /* cloister/ exists */
	pid_t gone = fork(), zombie = fork(), live;
	if (gone == 0 || zombie == 0)
		_exit(0);
	assert_int_equal(waitpid(gone, NULL, 0), gone);
	if ((live = fork()) == 0) {
		pause();
		_exit(0);
	}
	char n_gone[32], n_zombie[32], n_live[32], mine[32];
	snprintf(n_gone, sizeof(n_gone), "spare-%d", (int)gone);
	snprintf(n_zombie, sizeof(n_zombie), "spare-%d", (int)zombie);
	snprintf(n_live, sizeof(n_live), "spare-%d", (int)live);
	uint64_t deadline = cl_now_mono_ns() + 5ull * 1000 * 1000 * 1000;
	while (process_alive(zombie)) { /* until it is a zombie (not reaped: we have not waited) */
		assert_true(cl_now_mono_ns() < deadline);
		usleep(1000);
	}
	fake_cgroup(n_gone, true);
	fake_cgroup(n_zombie, true);
	fake_cgroup(n_live, true);
	assert_int_equal(cl_cgroup_create_spare(mine, sizeof(mine)), CL_OK);
	bool removed_gone = !cgroup_dir_exists(n_gone), removed_zombie = !cgroup_dir_exists(n_zombie),
	     kept_live = cgroup_dir_exists(n_live), made_mine = cgroup_dir_exists(mine);
	fake_cgroup(n_gone, false);
	fake_cgroup(n_zombie, false);
	fake_cgroup(n_live, false);
	assert_int_equal(cl_cgroup_remove(mine), CL_OK);
	kill(live, SIGKILL);
	assert_int_equal(waitpid(live, NULL, 0), live);
	assert_int_equal(waitpid(zombie, NULL, 0), zombie);
	assert_true(removed_gone);
	assert_true(removed_zombie);
	assert_true(kept_live);
	assert_true(made_mine);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pool_refills),
		cmocka_unit_test(prepared_sandbox_walled_off),
		cmocka_unit_test(enclave_cgroups_hold_enclave_only),
		cmocka_unit_test(unused_sandboxes_removed_with_launcher),
		cmocka_unit_test(killed_spare_cleaned_by_next),
		cmocka_unit_test(stale_spare_cgroups_removed),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
