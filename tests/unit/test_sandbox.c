/* Unit/system tests for the `process` backend (src/host/sandbox*.c, shim*.c,
 * src/init). Needs root: launches real enclaves with BUILD/bin/cloister-host
 * (BUILD is found from this binary's own path, BUILD/tests/test_sandbox) and
 * runs the isolation suite from inside them with the static probe
 * (examples/probe): what the enclave can see, what it cannot do, and that the
 * limits hold. Every wait polls a condition with a deadline.
 */
#include "test_sandbox_fixture.h"

/* ---- tests ---- */

static void echo_roundtrip(void **state)
{
	cl_sandbox_info info;
	launch_ok(ID("echo"), 64 << 20, 0, &info);
	int fd = connect_ok(ID("echo"));
	assert_string_equal(ask(fd, "echo hello enclave", "hello"), "hello enclave");
	/* stderr lands in the log ring */
	ask(fd, "stderr a-log-line", "stderr");
	uint8_t req[4], type, reply[4096];
	uint32_t n;
	put_be32(req, sizeof(reply));
	assert_int_equal(cl_sandbox_call(fd, CL_FRAME_LOGS, req, 4, &type, reply, sizeof(reply), &n), CL_OK);
	assert_int_equal(type, CL_FRAME_LOG);
	assert_non_null(memmem(reply, n, "a-log-line", 10));
	cl_sandbox_info now;
	assert_int_equal(cl_sandbox_inspect(data_dir, ID("echo"), &now), CL_OK);
	assert_true(now.running);
	assert_int_equal(now.init_pid, info.init_pid);
	assert_int_equal(now.memory_bytes, 64 << 20);
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("echo")), CL_OK);
	assert_gone(ID("echo"), &info);
}

/* The walls, checked from inside an enclave launched with init (see
 * isolation_prepared and isolation_fresh for the two launch paths). */
static void isolation_suite(const char *iso, const char *init, const char *way)
{
	cl_sandbox_info info;
	cl_sandbox_spec spec = {.id = iso, .image_path = probe_img, .init_path = init,
	                       .memory_bytes = 64 << 20, .cpus = 1};
	cl_err e = cl_sandbox_launch(host_exe, data_dir, &spec, &info);
	if (e != CL_OK)
		fail_msg("launch %s: %s", iso, cl_error_detail());
	if (!shim_log_has(iso, way))
		fail_msg("%s: the launch did not take the path '%s'", iso, way);
	int fd = connect_ok(iso);
	/* processes: only the enclave's own; init (non-dumpable) is hidden by hidepid=2 */
	assert_string_equal(ask(fd, "pids", "pids"), "pids 2");
	/* init's memory is out of the application's reach, and it cannot turn dumping back on */
	assert_string_not_equal(ask(fd, "open /proc/1/mem", "open"), "open /proc/1/mem 0");
	assert_string_not_equal(ask(fd, "open /proc/1/environ", "open"), "open /proc/1/environ 0");
	char dumpable[64];
	snprintf(dumpable, sizeof(dumpable), "dumpable %d 1", EPERM);
	assert_string_equal(ask(fd, "dumpable", "dumpable"), dumpable);
	/* /proc shows processes only: nothing host-wide */
	assert_string_equal(ask(fd, "open /proc/self/status", "open"), "open /proc/self/status 0");
	const char *masked[] = {"/proc/meminfo", "/proc/loadavg", "/proc/stat", "/proc/interrupts", "/proc/kcore",
				"/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list", "/proc/sys/kernel/hostname"};
	for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
		char cmd2[96], ok[112];
		snprintf(cmd2, sizeof(cmd2), "open %s", masked[i]);
		snprintf(ok, sizeof(ok), "open %s 0", masked[i]);
		assert_string_not_equal(ask(fd, cmd2, "open"), ok);
	}
	assert_string_equal(ask(fd, "exists /proc/sys", "exists"), "exists /proc/sys no");
	/* files: only the image, /init and the mount points */
	assert_string_equal(ask(fd, "ls /", "ls"), "ls dev init probe proc tmp");
	assert_string_equal(ask(fd, "ls /dev", "ls"), "ls null urandom zero");
	const char *host_paths[] = {"/etc/passwd", "/bin/sh", "/work", "/sys", "/root", "/usr", tmp_dir};
	for (size_t i = 0; i < sizeof(host_paths) / sizeof(host_paths[0]); i++) {
		char cmd[128], want[160];
		snprintf(cmd, sizeof(cmd), "exists %s", host_paths[i]);
		snprintf(want, sizeof(want), "exists %s no", host_paths[i]);
		assert_string_equal(ask(fd, cmd, "exists"), want);
	}
	/* network: loopback only; a host listener is unreachable */
	assert_string_equal(ask(fd, "netifs", "netifs"), "netifs lo");
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(ls, 4), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
	char cmd[64], want[64];
	snprintf(cmd, sizeof(cmd), "connect %d", ntohs(sa.sin_port));
	snprintf(want, sizeof(want), "connect %d", ECONNREFUSED);
	assert_string_equal(ask(fd, cmd, "connect"), want);
	close(ls);
	/* forbidden syscalls: every one EPERM */
	const char *deny = ask(fd, "deny", "deny");
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", deny + 5);
	int count = 0;
	for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " "), count++) {
		char *eq = strchr(tok, '=');
		assert_non_null(eq);
		if (strcmp(eq + 1, "1") != 0)
			fail_msg("syscall %s was not denied with EPERM", tok);
	}
	assert_true(count >= 30);
	/* privileges: nothing left, no_new_privs, seccomp filter mode */
	const char *st = ask(fd, "status", "status");
	const char *need[] = {"CapInh=0000000000000000", "CapPrm=0000000000000000", "CapEff=0000000000000000",
			      "CapBnd=0000000000000000", "CapAmb=0000000000000000", "NoNewPrivs=1", "Seccomp=2"};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!strstr(st, need[i]))
			fail_msg("missing %s in %s", need[i], st);
	assert_string_equal(ask(fd, "uid", "uid"), "uid 0 0");
	assert_string_equal(ask(fd, "hostname", "hostname"), "hostname enclave");
	/* cgroups: its own is the root of its view, and it cannot reach or mount cgroupfs */
	const char *cg = ask(fd, "cgroup", "cgroup ");
	snprintf(copy, sizeof(copy), "%s", cg + 7);
	for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " ")) {
		size_t l = strlen(tok);
		if (l < 2 || strcmp(tok + l - 2, ":/") != 0)
			fail_msg("cgroup line %s is not the namespace root", tok);
	}
	char esc[64];
	snprintf(esc, sizeof(esc), "cgroupesc open=%d mount=%d mount_v1=%d", ENOENT, EPERM, EPERM);
	assert_string_equal(ask(fd, "cgroupesc", "cgroupesc"), esc);
	/* host side: the enclave's root is an unprivileged host uid unique to it */
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)info.init_pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	unsigned uid = 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Uid:\t%u", &uid) == 1)
			break;
	fclose(f);
	assert_int_equal(uid, CL_SANDBOX_UID_BASE + (unsigned)info.shim_pid);
	/* mounts, from the host: / read-only and sized for the image (779 KiB
	 * probe + 779 KiB init + 4 MiB; 1 file: 80 inodes), /tmp a quarter of
	 * the memory limit, /proc read-only */
	char mnt[256], sup[512];
	assert_true(mount_options(info.init_pid, "/", mnt, sizeof(mnt), sup, sizeof(sup)));
	if (!has_opt(mnt, "ro") || !has_opt(mnt, "nosuid") || !has_opt(sup, "nr_inodes=80"))
		fail_msg("/ is mounted %s (%s)", mnt, sup);
	struct stat ist, pst;
	assert_int_equal(stat(init_exe, &ist), 0);
	assert_int_equal(stat(probe_img, &pst), 0);
	char want_size[64];
	snprintf(want_size, sizeof(want_size), "size=%lluk",
		 (unsigned long long)(((uint64_t)pst.st_size + (uint64_t)ist.st_size + (4u << 20) + 4095) / 4096 * 4));
	if (!has_opt(sup, want_size))
		fail_msg("/ is %s, not %s", sup, want_size);
	assert_true(mount_options(info.init_pid, "/tmp", mnt, sizeof(mnt), sup, sizeof(sup)));
	if (!has_opt(sup, "size=16384k") || !has_opt(mnt, "nosuid") || !has_opt(mnt, "nodev"))
		fail_msg("/tmp is mounted %s (%s)", mnt, sup);
	assert_true(mount_options(info.init_pid, "/proc", mnt, sizeof(mnt), sup, sizeof(sup)));
	assert_true(has_opt(mnt, "ro"));
	assert_false(mount_options(info.init_pid, "/dev/cloister", mnt, sizeof(mnt), sup, sizeof(sup)));
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, iso), CL_OK);
	assert_gone(iso, &info);
}

/* A sandbox a spare shim prepared ahead (the pool is warm after the first launches). */
static void isolation_prepared(void **state)
{
	warm_pool();
	isolation_suite(ID("iso-p"), init_exe, "prepared=1");
}

/* A sandbox built from the start: the spec's init is not the one the spares prepared with. */
static void isolation_fresh(void **state)
{
	warm_pool();
	isolation_suite(ID("iso-f"), init_copy, "prepared=0");
}

/* /dev/cloister: the launch's guest directory, read-only, nosuid, nodev,
 * noexec, on both launch paths; its files are seen, a missing one fails. */
static void guest_dir_mounted(const char *id, const char *init, const char *way)
{
	char gdir[200], marker[240];
	snprintf(gdir, sizeof(gdir), "%s/guest-%s", tmp_dir, id);
	snprintf(marker, sizeof(marker), "%s/marker", gdir);
	assert_int_equal(mkdir(gdir, 0755), 0);
	FILE *f = fopen(marker, "w");
	assert_non_null(f);
	fclose(f);
	cl_sandbox_info info;
	cl_sandbox_spec spec = {.id = id, .image_path = probe_img, .init_path = init,
	                       .memory_bytes = 64 << 20, .cpus = 1};
	cl_err e = cl_sandbox_launch_guest(host_exe, data_dir, &spec, gdir, &info);
	if (e != CL_OK)
		fail_msg("launch %s: %s", id, cl_error_detail());
	if (!shim_log_has(id, way))
		fail_msg("%s: the launch did not take the path '%s'", id, way);
	int fd = connect_ok(id);
	assert_string_equal(ask(fd, "ls /dev", "ls"), "ls cloister null urandom zero");
	assert_string_equal(ask(fd, "exists /dev/cloister/marker", "exists"), "exists /dev/cloister/marker yes");
	char mnt[256], sup[512];
	assert_true(mount_options(info.init_pid, "/dev/cloister", mnt, sizeof(mnt), sup, sizeof(sup)));
	if (!has_opt(mnt, "ro") || !has_opt(mnt, "nosuid") || !has_opt(mnt, "nodev") || !has_opt(mnt, "noexec"))
		fail_msg("/dev/cloister is mounted %s", mnt);
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);
	assert_gone(id, &info);
	/* a symlink where the guest directory should be is not followed: step "guest" */
	assert_int_equal(unlink(marker), 0);
	assert_int_equal(rmdir(gdir), 0);
	assert_int_equal(symlink("/tmp", gdir), 0); /* not followed */
	spec.id = ID("guest-missing");
	assert_int_not_equal(cl_sandbox_launch_guest(host_exe, data_dir, &spec, gdir, &info), CL_OK);
	assert_non_null(strstr(cl_error_detail(), "guest"));
	assert_gone(ID("guest-missing"), NULL);
	assert_int_equal(unlink(gdir), 0);
}

static void guest_dir_prepared(void **state)
{
	warm_pool();
	guest_dir_mounted(ID("guest-p"), init_exe, "prepared=1");
}

static void guest_dir_fresh(void **state)
{
	warm_pool();
	guest_dir_mounted(ID("guest-f"), init_copy, "prepared=0");
}

/* An enclave that awaits a bundle gets /init-bundle (the provisioning
 * helper, byte for byte) on both launch paths: init runs it and the key it
 * makes reaches the shim. A spec without helper_path is refused. Ordinary
 * launches get no /init-bundle (isolation_suite's `ls /`). */
static void await_bundle_gets_helper(const char *id, const char *init, const char *way)
{
	char helper[PATH_MAX + 64], inside[96];
	snprintf(helper, sizeof(helper), "%s/bin/cloister-init-bundle", build_dir);
	cl_sandbox_info info;
	cl_sandbox_spec spec = {.id = id, .image_path = probe_img, .init_path = init,
	                       .memory_bytes = 64 << 20, .cpus = 1, .await_bundle = true};
	assert_int_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "helper_path"));
	spec.helper_path = helper;
	cl_err e = cl_sandbox_launch(host_exe, data_dir, &spec, &info);
	if (e != CL_OK)
		fail_msg("launch %s: %s", id, cl_error_detail());
	if (!shim_log_has(id, way))
		fail_msg("%s: the launch did not take the path '%s'", id, way);
	uint8_t point[97];
	assert_int_equal(cl_sandbox_key(data_dir, id, point), CL_OK);
	assert_int_equal(point[0], 0x04);
	cl_buf want, got;
	cl_buf_init(&want, 64u << 20);
	cl_buf_init(&got, 64u << 20);
	snprintf(inside, sizeof(inside), "/proc/%d/root/init-bundle", (int)info.init_pid);
	assert_int_equal(cl_file_read(helper, 64u << 20, &want), CL_OK);
	assert_int_equal(cl_file_read(inside, 64u << 20, &got), CL_OK);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	cl_buf_free(&want);
	cl_buf_free(&got);
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);
}

static void await_bundle_prepared(void **state)
{
	warm_pool();
	await_bundle_gets_helper(ID("await-p"), init_exe, "prepared=1");
}

static void await_bundle_fresh(void **state)
{
	warm_pool();
	await_bundle_gets_helper(ID("await-f"), init_copy, "prepared=0");
}

static void limits_memory_and_pids(void **state)
{
	cl_sandbox_info info;
	launch_ok(ID("limits"), 32 << 20, 16, &info);
	int fd = connect_ok(ID("limits"));
	assert_string_equal(ask(fd, "mem 4", "mem"), "mem exit 0");
	assert_string_equal(ask(fd, "mem 64", "mem"), "mem signal 9"); /* OOM-killed at 32 MiB */
	/* fork bomb: stopped by pids.max, the enclave and host carry on */
	const char *fb = ask(fd, "forkbomb", "forkbomb");
	unsigned long n;
	int err;
	assert_int_equal(sscanf(fb, "forkbomb %lu %d", &n, &err), 2);
	assert_true(n < 16);
	assert_int_equal(err, EAGAIN);
	assert_string_equal(ask(fd, "echo still-alive", "still"), "still-alive");
	pid_t p = fork();
	if (p == 0)
		_exit(0);
	assert_true(p > 0);
	assert_int_equal(waitpid(p, NULL, 0), p);
	/* grow: always fine, and really usable */
	assert_int_equal(cl_sandbox_set_memory(data_dir, ID("limits"), 96 << 20), CL_OK);
	cl_sandbox_info now;
	assert_int_equal(cl_sandbox_inspect(data_dir, ID("limits"), &now), CL_OK);
	assert_int_equal(now.memory_bytes, 96 << 20);
	assert_string_equal(ask(fd, "mem 64", "mem"), "mem exit 0");
	/* shrink below usage: refused, limit unchanged */
	uint64_t limit, usage;
	assert_int_equal(cl_cgroup_memory(ID("limits"), &limit, &usage), CL_OK);
	assert_int_equal(cl_sandbox_set_memory(data_dir, ID("limits"), usage > (16u << 20) ? usage - 4096 : 16 << 20),
			 usage > (16u << 20) ? CL_ECONFLICT : CL_OK);
	assert_int_equal(cl_sandbox_set_memory(data_dir, ID("limits"), 1 << 20), CL_EINVAL);
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("limits")), CL_OK);
	assert_gone(ID("limits"), &info);
}

static void freeze_and_thaw(void **state)
{
	static char acc[1 << 20];
	size_t len = 0;
	cl_sandbox_info info;
	launch_ok(ID("freeze"), 64 << 20, 0, &info);
	int fd = connect_ok(ID("freeze"));
	ask(fd, "tick start", "tick 0");
	assert_int_equal(cl_sandbox_freeze(data_dir, ID("freeze"), true), CL_OK);
	cl_sandbox_info now;
	assert_int_equal(cl_sandbox_inspect(data_dir, ID("freeze"), &now), CL_OK);
	assert_true(now.frozen);
	/* drain what was produced before the freeze, then nothing more may come */
	while (recv_once(fd, 200, acc, &len, sizeof(acc)) > 0)
		len = 0;
	assert_int_equal(recv_once(fd, 300, acc, &len, sizeof(acc)), 0);
	assert_int_equal(cl_sandbox_freeze(data_dir, ID("freeze"), false), CL_OK);
	assert_int_equal(cl_sandbox_inspect(data_dir, ID("freeze"), &now), CL_OK);
	assert_false(now.frozen);
	len = 0;
	recv_once(fd, 5000, acc, &len, sizeof(acc));
	if (!strstr(acc, "tick ")) {
		assert_int_equal(cl_sandbox_inspect(data_dir, ID("freeze"), &now), CL_OK);
		uint8_t req[4], type, reply[4096];
		uint32_t n = 0;
		put_be32(req, sizeof(reply) - 1);
		assert_int_equal(cl_sandbox_call(fd, CL_FRAME_LOGS, req, 4, &type, reply, sizeof(reply) - 1, &n), CL_OK);
		reply[n] = 0;
		fail_msg("no tick after thaw: %zu bytes '%.64s' running=%d status=%d logs=%s", len, acc, now.running,
			 now.exit_status, reply);
	}
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("freeze")), CL_OK);
	assert_gone(ID("freeze"), &info);
}

static void backpressure_and_exit(void **state)
{
	static char acc[1 << 20];
	cl_sandbox_info info;
	launch_ok(ID("flow"), 64 << 20, 0, &info);
	int fd = connect_ok(ID("flow"));
	send_line(fd, "spam 3000000\n");
	/* The shim holds at most CL_SHIM_OUT_MAX; the app is blocked meanwhile, yet the shim answers. */
	size_t total = 0, len = 0;
	uint64_t deadline = cl_now_mono_ns() + 20ull * 1000 * 1000 * 1000;
	while (total < 3000000 + 8 && cl_now_mono_ns() < deadline) {
		cl_sandbox_info now;
		assert_int_equal(cl_sandbox_inspect(data_dir, ID("flow"), &now), CL_OK);
		len = 0;
		total += recv_once(fd, 500, acc, &len, sizeof(acc));
	}
	assert_int_equal(total, 3000000 + strlen("spammed\n"));
	/* the application's exit status is reported and kept until destroy */
	send_line(fd, "exit 7\n");
	cl_sandbox_info now = {0};
	deadline = cl_now_mono_ns() + 10ull * 1000 * 1000 * 1000;
	do
		assert_int_equal(cl_sandbox_inspect(data_dir, ID("flow"), &now), CL_OK);
	while (now.running && cl_now_mono_ns() < deadline);
	assert_false(now.running);
	assert_true(WIFEXITED(now.exit_status));
	assert_int_equal(WEXITSTATUS(now.exit_status), 7);
	uint8_t type, reply[256];
	uint32_t n;
	assert_int_equal(cl_sandbox_call(fd, CL_FRAME_DATA, "x", 1, &type, reply, sizeof(reply), &n), CL_OK);
	assert_int_equal(type, CL_FRAME_ERROR);
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("flow")), CL_OK);
	assert_gone(ID("flow"), &info);
}

static void launch_failures_leave_nothing(void **state)
{
	cl_sandbox_info info;
	/* entrypoint that cannot run inside (its interpreter is not in the image) */
	cl_sandbox_spec spec = make_spec(ID("bad-entry"), script_img, 64 << 20, 0);
	assert_int_not_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_OK);
	assert_non_null(strstr(cl_error_detail(), "entrypoint"));
	assert_gone(ID("bad-entry"), NULL);
	/* impossible memory limit */
	spec = make_spec(ID("bad-mem"), probe_img, 1 << 20, 0);
	assert_int_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "memory"));
	assert_gone(ID("bad-mem"), NULL);
	/* a limit that cannot even hold the image: the setup is OOM-killed, launch says so */
	char big[200], bigimg[200];
	snprintf(big, sizeof(big), "%s/big.bin", tmp_dir);
	snprintf(bigimg, sizeof(bigimg), "%s/big.img", tmp_dir);
	FILE *bf = fopen(big, "w");
	assert_non_null(bf);
	static char chunk[1 << 20];
	memset(chunk, 0x42, sizeof(chunk));
	for (int i = 0; i < 24; i++)
		assert_int_equal(fwrite(chunk, 1, sizeof(chunk), bf), sizeof(chunk));
	fclose(bf);
	static const char *const serve[] = {"serve", NULL};
	cl_image_input bin[2] = {{probe_exe, "probe"}, {big, "big.bin"}};
	cl_image_spec bspec = {"big", "1", "/probe", serve, bin, 2};
	assert_int_equal(cl_image_build(&bspec, bigimg), CL_OK);
	spec = make_spec(ID("too-small"), bigimg, 16 << 20, 0);
	assert_int_not_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_OK);
	if (!strstr(cl_error_detail(), "memory") && !strstr(cl_error_detail(), "image"))
		fail_msg("unclear error: %s", cl_error_detail());
	assert_gone(ID("too-small"), NULL);
	/* bad id, missing image, missing init */
	spec = make_spec("../x", probe_img, 64 << 20, 0);
	assert_int_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_EINVAL);
	spec = make_spec(ID("no-image"), "/nonexistent.img", 64 << 20, 0);
	assert_int_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_ENOTFOUND);
	assert_gone(ID("no-image"), NULL);
	/* a corrupt image fails in the shim's "image" step and leaves nothing */
	char bad[200];
	snprintf(bad, sizeof(bad), "%s/corrupt.img", tmp_dir);
	FILE *f = fopen(bad, "w");
	assert_non_null(f);
	fputs("CLIMAGE1 this is not an image", f);
	fclose(f);
	spec = make_spec(ID("corrupt"), bad, 64 << 20, 0);
	assert_int_not_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_OK);
	assert_non_null(strstr(cl_error_detail(), "image"));
	assert_gone(ID("corrupt"), NULL);
	/* same id twice: the second is refused, the first is untouched */
	launch_ok(ID("twice"), 64 << 20, 0, &info);
	spec = make_spec(ID("twice"), probe_img, 64 << 20, 0);
	cl_sandbox_info other;
	assert_int_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &other), CL_ECONFLICT);
	int fd = connect_ok(ID("twice"));
	assert_string_equal(ask(fd, "echo ok", "ok"), "ok");
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("twice")), CL_OK);
	assert_gone(ID("twice"), &info);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("twice")), CL_OK); /* idempotent */
	assert_int_equal(cl_sandbox_inspect(data_dir, ID("twice"), &other), CL_ENOTFOUND);
}

/* The spare shim verifies the last image ahead of time; a file replaced at the
 * same path must be read afresh (the stale, preloaded one is never used). */
static void replaced_image_is_reloaded(void **state)
{
	char path[200];
	cl_sandbox_info info;
	snprintf(path, sizeof(path), "%s/swap.img", tmp_dir);
	static const char *const serve[] = {"serve", NULL};
	cl_image_input in = {probe_exe, "probe"};
	cl_image_spec good = {"probe", "1", "/probe", serve, &in, 1};
	assert_int_equal(cl_image_build(&good, path), CL_OK);
	cl_sandbox_spec spec = make_spec(ID("swap-a"), path, 64 << 20, 0);
	assert_int_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_OK); /* spare now preloads path */
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("swap-a")), CL_OK);
	/* replace it (by rename, as the agent does) with the script image */
	char script[200];
	snprintf(script, sizeof(script), "%s/app.sh", tmp_dir);
	cl_image_input sin = {script, "app.sh"};
	cl_image_spec bad = {"script", "1", "/app.sh", NULL, &sin, 1};
	assert_int_equal(cl_image_build(&bad, path), CL_OK);
	spec = make_spec(ID("swap-b"), path, 64 << 20, 0);
	assert_int_not_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_OK);
	assert_non_null(strstr(cl_error_detail(), "entrypoint"));
	assert_gone(ID("swap-b"), NULL);
	/* and back: the good image launches again */
	assert_int_equal(cl_image_build(&good, path), CL_OK);
	spec = make_spec(ID("swap-c"), path, 64 << 20, 0);
	assert_int_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_OK);
	int fd = connect_ok(ID("swap-c"));
	assert_string_equal(ask(fd, "echo fresh", "fresh"), "fresh");
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("swap-c")), CL_OK);
	assert_gone(ID("swap-c"), &info);
}

/* The enclave dies with its shim (its uid is only unique while the shim lives). */
static void enclave_dies_with_shim(void **state)
{
	cl_sandbox_info info;
	launch_ok(ID("orphan"), 64 << 20, 0, &info);
	assert_int_equal(kill(info.shim_pid, SIGKILL), 0);
	/* wait for both: the enclave's init gets its death signal while the
	 * shim is still exiting, before the shim shows as a zombie */
	uint64_t deadline = cl_now_mono_ns() + 10ull * 1000 * 1000 * 1000;
	while ((process_alive(info.init_pid) || process_alive(info.shim_pid)) && cl_now_mono_ns() < deadline)
		usleep(1000);
	assert_false(process_alive(info.init_pid));
	cl_sandbox_info now;
	assert_int_equal(cl_sandbox_inspect(data_dir, ID("orphan"), &now), CL_ENOTFOUND);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("orphan")), CL_OK);
	assert_gone(ID("orphan"), &info);
}

/* A stale shim.pid that now names another enclave's shim (pid reuse; every
 * shim started as a spare has the same command line) must not make destroy
 * kill that shim. */
static void destroy_spares_other_shim(void **state)
{
	cl_sandbox_info a, b;
	launch_ok(ID("reuse-a"), 64 << 20, 0, &a);
	launch_ok(ID("reuse-b"), 64 << 20, 0, &b);
	assert_int_equal(kill(a.shim_pid, SIGKILL), 0);
	uint64_t deadline = cl_now_mono_ns() + 10ull * 1000 * 1000 * 1000;
	while ((process_alive(a.shim_pid) || process_alive(a.init_pid)) && cl_now_mono_ns() < deadline)
		usleep(1000);
	assert_false(process_alive(a.shim_pid));
	/* A's shim.pid now names B's shim, as after a pid reuse */
	char path[600], tmp[640], pid[32];
	assert_int_equal(cl_sandbox_path(path, sizeof(path), data_dir, ID("reuse-a"), "shim.pid"), CL_OK);
	snprintf(tmp, sizeof(tmp), "%s.test", path);
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)b.shim_pid);
	int f = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(f >= 0);
	assert_int_equal(write(f, pid, (size_t)n), n);
	close(f);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("reuse-a")), CL_OK);
	assert_gone(ID("reuse-a"), NULL);
	assert_true(process_alive(b.shim_pid));
	int fd = connect_ok(ID("reuse-b"));
	assert_string_equal(ask(fd, "echo still here", "still"), "still here");
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("reuse-b")), CL_OK);
	assert_gone(ID("reuse-b"), &b);
}

/* An image of deep paths (15 parent directories each) fits the root tmpfs's inodes. */
static void deep_image_launches(void **state)
{
	enum { DEEP = 8 };
	char script[200], dest[DEEP][96], path[200];
	snprintf(script, sizeof(script), "%s/app.sh", tmp_dir);
	snprintf(path, sizeof(path), "%s/deep.img", tmp_dir);
	cl_image_input in[DEEP + 1] = {{probe_exe, "probe"}};
	for (int i = 0; i < DEEP; i++) {
		snprintf(dest[i], sizeof(dest[i]), "d%d/a/b/c/d/e/f/g/h/i/j/k/l/m/n/file", i);
		in[i + 1].src = script;
		in[i + 1].dest = dest[i];
	}
	static const char *const serve[] = {"serve", NULL};
	cl_image_spec spec = {"deep", "1", "/probe", serve, in, DEEP + 1};
	assert_int_equal(cl_image_build(&spec, path), CL_OK);
	cl_sandbox_spec sb = make_spec(ID("deep"), path, 64 << 20, 0);
	cl_sandbox_info info;
	cl_err e = cl_sandbox_launch(host_exe, data_dir, &sb, &info);
	if (e != CL_OK)
		fail_msg("launch deep: %s", cl_error_detail());
	int fd = connect_ok(ID("deep"));
	char cmd[128], want[140];
	snprintf(cmd, sizeof(cmd), "exists /%s", dest[DEEP - 1]);
	snprintf(want, sizeof(want), "exists /%s yes", dest[DEEP - 1]);
	assert_string_equal(ask(fd, cmd, "exists"), want);
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("deep")), CL_OK);
	assert_gone(ID("deep"), &info);
}

/* The enclave's memory cgroup is kept out of swap (v1: swappiness 0; v2: swap.max 0). */
static void memory_kept_out_of_swap(void **state)
{
	cl_sandbox_info info;
	launch_ok(ID("noswap"), 64 << 20, 0, &info);
	char path[300], buf[64] = "";
	/* checked where this machine has it: a v1 memory controller with swappiness */
	if (cl_cgroup_layout() == CL_CG_V1 && access("/sys/fs/cgroup/memory/memory.swappiness", F_OK) == 0) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/memory/cloister/%s/memory.swappiness", ID("noswap"));
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
		close(fd);
		assert_int_equal(strtol(buf, NULL, 10), 0);
	}
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("noswap")), CL_OK);
	assert_gone(ID("noswap"), &info);
}

static int raw_connect(const char *id)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_int_equal(cl_sandbox_path(sa.sun_path, sizeof(sa.sun_path), data_dir, id, "shim.sock"), CL_OK);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* The shim drops a connection that breaks the protocol, and keeps serving. */
static void shim_rejects_malformed_frames(void **state)
{
	cl_sandbox_info info;
	launch_ok(ID("proto"), 64 << 20, 0, &info);
	static const uint8_t bad[][13] = {
		{0, 0, 0, 0, 200},                   /* unknown type */
		{0, 0x10, 0, 1, CL_FRAME_DATA},      /* length over 1 MiB */
		{0, 0, 0, 3, CL_FRAME_RECV, 1, 2, 3}, /* RECV with a short payload */
		{0, 0, 0, 0, CL_FRAME_READY},        /* not a request */
		{0, 0, 0, 1, CL_FRAME_STATUS, 9},    /* STATUS with a payload */
		{0, 0, 0, 8, CL_FRAME_RECV, 0, 0, 0, 0, 0, 0, 0, 0}, /* RECV of 0 bytes */
	};
	static const size_t lens[] = {5, 5, 8, 5, 6, 13};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = raw_connect(ID("proto"));
		assert_int_equal(send(fd, bad[i], lens[i], MSG_NOSIGNAL), (ssize_t)lens[i]);
		char c;
		struct timeval tv = {10, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		assert_int_equal(recv(fd, &c, 1, 0), 0); /* closed by the shim */
		close(fd);
	}
	int fd = connect_ok(ID("proto"));
	assert_string_equal(ask(fd, "echo survived", "survived"), "survived");
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("proto")), CL_OK);
	assert_gone(ID("proto"), &info);
}

/* The filter itself: syscalls that would otherwise succeed or fail differently get EPERM. */
static void seccomp_filter_blocks(void **state)
{
	/* control, unfiltered: setns(-1) is EBADF, bpf(-1) is EINVAL */
	errno = 0;
	assert_int_equal(syscall(SYS_setns, -1, 0), -1);
	assert_int_equal(errno, EBADF);
	pid_t p = fork();
	if (p == 0) {
		int bad = 0;
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || cl_sandbox_seccomp_install() != CL_OK)
			_exit(100);
		errno = 0;
		bad |= !(syscall(SYS_setns, -1, 0) == -1 && errno == EPERM) << 0;
		bad |= !(syscall(SYS_bpf, -1, NULL, 0) == -1 && errno == EPERM) << 1;
		bad |= !(syscall(SYS_unshare, CLONE_NEWUSER) == -1 && errno == EPERM) << 2;
		bad |= !(syscall(SYS_keyctl, 0, -3, 0) == -1 && errno == EPERM) << 3;
		bad |= !(syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS) << 4;
		bad |= !(socket(AF_NETLINK, SOCK_RAW, 0) == -1 && errno == EPERM) << 5;
		bad |= !(syscall(SYS_ptrace, 0, 0, 0, 0) == -1 && errno == EPERM) << 6;
		bad |= !(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0) == -1 && errno == EPERM) << 7;
		bad |= !(getpid() > 0 && write(-1, "", 0) == -1 && errno == EBADF) << 8; /* allowed ones work */
		bad |= !(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == -1 && errno == EPERM) << 9;
		bad |= !(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0) << 10;
		_exit(bad > 255 ? 255 : bad); /* bits 8 and up would wrap to 0 */
	}
	int st;
	assert_int_equal(waitpid(p, &st, 0), p);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void probe_reports_kernel(void **state)
{
	cl_sandbox_caps caps;
	cl_sandbox_probe(&caps);
	assert_true(caps.userns);
	assert_true(caps.seccomp);
	assert_true(caps.cgroup_v1 || caps.cgroup_v2);
	assert_int_equal(caps.cgroup_v1, access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0);
}

static void list_and_bad_ids(void **state)
{
	cl_sandbox_info info;
	launch_ok(ID("listed"), 64 << 20, 0, &info);
	char **ids;
	size_t n;
	assert_int_equal(cl_sandbox_list(data_dir, &ids, &n), CL_OK);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= strcmp(ids[i], ID("listed")) == 0;
	cl_sandbox_ids_free(ids, n);
	assert_true(found);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("listed")), CL_OK);
	assert_int_equal(cl_sandbox_destroy(data_dir, "../etc"), CL_EINVAL);
	assert_int_equal(cl_sandbox_freeze(data_dir, ID("missing"), true), CL_ENOTFOUND);
	assert_int_equal(cl_sandbox_set_memory(data_dir, ID("missing"), 64 << 20), CL_ENOTFOUND);
	int fd;
	assert_int_equal(cl_sandbox_connect(data_dir, ID("missing"), &fd), CL_ENOTFOUND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seccomp_filter_blocks),
		cmocka_unit_test(probe_reports_kernel),
		cmocka_unit_test(echo_roundtrip),
		cmocka_unit_test(isolation_prepared),
		cmocka_unit_test(isolation_fresh),
		cmocka_unit_test(guest_dir_prepared),
		cmocka_unit_test(guest_dir_fresh),
		cmocka_unit_test(await_bundle_prepared),
		cmocka_unit_test(await_bundle_fresh),
		cmocka_unit_test(limits_memory_and_pids),
		cmocka_unit_test(freeze_and_thaw),
		cmocka_unit_test(backpressure_and_exit),
		cmocka_unit_test(launch_failures_leave_nothing),
		cmocka_unit_test(shim_rejects_malformed_frames),
		cmocka_unit_test(replaced_image_is_reloaded),
		cmocka_unit_test(enclave_dies_with_shim),
		cmocka_unit_test(destroy_spares_other_shim),
		cmocka_unit_test(deep_image_launches),
		cmocka_unit_test(memory_kept_out_of_swap),
		cmocka_unit_test(list_and_bad_ids),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
