/* System tests for suspendable enclaves in the `process` backend
 * (docs/suspend.md): KEYGEN, SUSPEND and RESTORE through the shim to
 * cloister-init and cloister-init-bundle, with real sandboxes (needs root,
 * as test_sandbox, whose fixture it shares). The test plays the control
 * plane: it wraps the state key to the enclave's answer itself.
 */
/* the enclave's half of suspend, no library (as test_init_state); before
 * cmocka, whose fail() macro its own fail() would meet */
#include "init/state_io.c"
#include "test_sandbox_fixture.h"

#include <openssl/evp.h>

#include "common/wrap.h"

/* A suspendable enclave (docs/suspend.md) gets /init-bundle too, but runs
 * its application at once and makes no key until asked: KEYGEN starts the
 * helper, whose fresh key the shim keeps (and shows in STATUS, without
 * "awaiting_bundle"); each KEYGEN a new key. An enclave not launched
 * suspendable answers KEYGEN not_suspendable. */
static void suspendable_keygen(void **state)
{
	char helper[PATH_MAX + 64], inside[96];
	snprintf(helper, sizeof(helper), "%s/bin/cloister-init-bundle", build_dir);
	warm_pool();
	cl_sandbox_info info;
	cl_sandbox_spec spec = {.id = ID("susp"), .image_path = probe_img, .init_path = init_exe,
	                       .memory_bytes = 64 << 20, .cpus = 1, .suspendable = true};
	assert_int_equal(cl_sandbox_launch(host_exe, data_dir, &spec, &info), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "helper_path"));
	spec.helper_path = helper;
	if (cl_sandbox_launch(host_exe, data_dir, &spec, &info) != CL_OK)
		fail_msg("launch: %s", cl_error_detail());
	snprintf(inside, sizeof(inside), "/proc/%d/root/init-bundle", (int)info.init_pid);
	assert_int_equal(access(inside, X_OK), 0);
	uint8_t p1[97], p2[97], shown[97];
	assert_int_equal(cl_sandbox_key(data_dir, ID("susp"), shown), CL_ENOTFOUND); /* none until asked */
	int fd = connect_ok(ID("susp"));
	assert_string_equal(ask(fd, "echo before", "before"), "before");
	assert_int_equal(cl_sandbox_keygen(data_dir, ID("susp"), 10000, p1), CL_OK);
	assert_int_equal(p1[0], 0x04);
	assert_int_equal(cl_sandbox_key(data_dir, ID("susp"), shown), CL_OK);
	assert_memory_equal(shown, p1, 97);
	uint8_t type, reply[1024];
	uint32_t n;
	assert_int_equal(cl_sandbox_call(fd, CL_FRAME_STATUS, NULL, 0, &type, reply, sizeof(reply) - 1, &n), CL_OK);
	reply[n] = 0;
	assert_null(strstr((char *)reply, "awaiting_bundle"));
	assert_int_equal(cl_sandbox_keygen(data_dir, ID("susp"), 10000, p2), CL_OK);
	assert_memory_not_equal(p1, p2, 97);
	assert_int_equal(cl_sandbox_key(data_dir, ID("susp"), shown), CL_OK);
	assert_memory_equal(shown, p2, 97);
	assert_string_equal(ask(fd, "echo after", "after"), "after"); /* the application ran on */
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("susp")), CL_OK);
	/* not suspendable: refused by init */
	launch_ok(ID("nosusp"), 64 << 20, 0, &info);
	assert_int_equal(cl_sandbox_keygen(data_dir, ID("nosusp"), 10000, p1), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "not_suspendable"));
	assert_int_equal(cl_sandbox_key(data_dir, ID("nosusp"), shown), CL_ENOTFOUND);
	assert_int_equal(cl_sandbox_destroy(data_dir, ID("nosusp")), CL_OK);
}

static pid_t sandbox_init_pid; /* the enclave as_enclave writes into */

static cl_err buf_sink(void *ctx, const uint8_t *p, size_t n)
{
	return cl_buf_put(ctx, p, n);
}

static int buf_sink_int(void *ctx, const uint8_t *p, size_t n)
{
	return cl_buf_put(ctx, p, n) == CL_OK ? 0 : -1;
}

/* The application's pid: init's (first) child. */
static pid_t app_pid(pid_t init_pid)
{
	char kids[64];
	snprintf(kids, sizeof(kids), "/proc/%d/task/%d/children", (int)init_pid, (int)init_pid);
	FILE *f = fopen(kids, "r");
	assert_non_null(f);
	int v = 0;
	assert_int_equal(fscanf(f, "%d", &v), 1);
	fclose(f);
	return v;
}

/* The application's process state letter (/proc/PID/stat's third field). */
static char proc_state(pid_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	char *r = fgets(line, sizeof(line), f);
	fclose(f);
	char *close_paren = r ? strrchr(line, ')') : NULL;
	return close_paren && close_paren[1] == ' ' ? close_paren[2] : '?';
}

/* KEYGEN, wrap key to the answer, SUSPEND: the blob into *blob. */
static cl_err suspend_with(const char *id, const char *label, const uint8_t key[32], uint64_t n, cl_buf *blob,
			   uint8_t sha[48], uint64_t *len)
{
	uint8_t point[97];
	cl_buf wrapped, payload;
	cl_buf_init(&wrapped, 4096);
	cl_buf_init(&payload, 4096);
	assert_int_equal(cl_sandbox_keygen(data_dir, id, 10000, point), CL_OK);
	assert_int_equal(cl_wrap_seal_label(label, point, key, 32, &wrapped), CL_OK);
	uint8_t nb[8];
	for (int i = 0; i < 8; i++)
		nb[i] = (uint8_t)(n >> (56 - 8 * i));
	assert_int_equal(cl_buf_put(&payload, nb, 8), CL_OK);
	assert_int_equal(cl_buf_put(&payload, wrapped.data, wrapped.len), CL_OK);
	cl_buf_reset(blob);
	cl_err e = cl_sandbox_suspend(data_dir, id, payload.data, (uint32_t)payload.len, 30000, buf_sink, blob, sha, len);
	cl_buf_free(&wrapped);
	cl_buf_free(&payload);
	return e;
}

/* The enclave's /tmp (a directory fd, opened as root: init is not dumpable). */
static int enclave_tmp(pid_t init_pid)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/root/tmp", (int)init_pid);
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	return fd;
}

/* Makes name under the enclave's /tmp as the enclave's root (its host uid,
 * from uid_map: host root is not mapped there): a directory when p is NULL,
 * a fifo when p is "" and n 0, else a file of p[0..n). */
static void as_enclave(int tmp, const char *name, const void *p, size_t n)
{
	char path[96], line[128];
	unsigned inside = 0, host = 0;
	/* the shim's map: "0 <host uid> 1" (the same for gid) */
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)sandbox_init_pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(sscanf(line, "%u %u", &inside, &host), 2);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int ok = setresgid(host, host, host) == 0 && setresuid(host, host, host) == 0;
		if (ok && !p)
			ok = mkdirat(tmp, name, 0755) == 0;
		else if (ok && n == 0 && !((const char *)p)[0])
			ok = mkfifoat(tmp, name, 0644) == 0;
		else if (ok) {
			int fd = openat(tmp, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
			ok = fd >= 0 && write(fd, p, n) == (ssize_t)n;
		}
		_exit(ok ? 0 : 1);
	}
	int st = 0;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("cannot make %s in the enclave's /tmp", name);
}

/* SUSPEND (docs/suspend.md): after a KEYGEN, the state key wrapped to its
 * answer seals the enclave's /tmp into a blob streamed out (STATE frames,
 * STATE_END with its SHA-384 and length) that opens under that key into the
 * same files; the application is stopped meanwhile and a resume lets it run
 * on. Refusals leave it running: a key wrapped under another label
 * (decrypt_failed), a SUSPEND without a fresh KEYGEN (no_key), a fifo in
 * /tmp (bad_state). */
static void suspend_streams_state(void **state)
{
	char helper[PATH_MAX + 64], root[96], path[PATH_MAX + 64], dest[PATH_MAX], staging[PATH_MAX];
	const char *id = ID("sust");
	snprintf(helper, sizeof(helper), "%s/bin/cloister-init-bundle", build_dir);
	warm_pool();
	cl_sandbox_info info;
	cl_sandbox_spec spec = {.id = id, .image_path = probe_img, .init_path = init_exe,
	                       .memory_bytes = 64 << 20, .cpus = 1, .suspendable = true, .helper_path = helper};
	if (cl_sandbox_launch(host_exe, data_dir, &spec, &info) != CL_OK)
		fail_msg("launch: %s", cl_error_detail());
	sandbox_init_pid = info.init_pid;
	/* the state: a small file in /tmp/state, 3 MiB of noise beside it */
	snprintf(root, sizeof(root), "/proc/%d/root/tmp", (int)info.init_pid);
	size_t big_len = 3u << 20;
	uint8_t *big = malloc(big_len), key[32];
	assert_non_null(big);
	assert_int_equal(cl_random(big, big_len), CL_OK);
	assert_int_equal(cl_random(key, sizeof(key)), CL_OK);
	int tmp = enclave_tmp(info.init_pid);
	as_enclave(tmp, "state", NULL, 0);
	as_enclave(tmp, "state/a.txt", "hello state\n", 12);
	as_enclave(tmp, "big.bin", big, big_len);
	int fd = connect_ok(id);
	assert_string_equal(ask(fd, "echo before", "before"), "before");
	pid_t app = app_pid(info.init_pid);
	cl_buf blob;
	cl_buf_init(&blob, 128u << 20);
	uint8_t sha[48], got_sha[48];
	uint64_t len = 0;
	assert_int_equal(suspend_with(id, "cloister-state-wrap-v1", key, 7, &blob, sha, &len), CL_OK);
	assert_int_equal(proc_state(app), 'T'); /* stopped while its state is out */
	assert_int_equal(len, blob.len);
	assert_true(blob.len > big_len);
	unsigned dl = 0;
	assert_int_equal(EVP_Digest(blob.data, blob.len, got_sha, &dl, EVP_sha384(), NULL), 1);
	assert_memory_equal(got_sha, sha, 48);
	/* it opens under the key, for this enclave and number, into the same files */
	snprintf(dest, sizeof(dest), "%s/open", tmp_dir);
	snprintf(staging, sizeof(staging), "%s/open.tar", tmp_dir);
	assert_int_equal(mkdir(dest, 0700), 0);
	char why[CL_INIT_STATE_REASON_MAX];
	if (cl_init_state_open(blob.data, blob.len, key, id, 7, staging, dest, why) != 0)
		fail_msg("the blob does not open: %s", why);
	cl_buf f;
	cl_buf_init(&f, 8u << 20);
	snprintf(path, sizeof(path), "%s/state/a.txt", dest);
	assert_int_equal(cl_file_read(path, 8u << 20, &f), CL_OK);
	assert_int_equal(f.len, 12);
	assert_memory_equal(f.data, "hello state\n", 12);
	snprintf(path, sizeof(path), "%s/big.bin", dest);
	assert_int_equal(cl_file_read(path, 8u << 20, &f), CL_OK);
	assert_int_equal(f.len, big_len);
	assert_memory_equal(f.data, big, big_len);
	/* resumed: the application runs on */
	assert_int_equal(cl_sandbox_resume(data_dir, id), CL_OK);
	assert_string_equal(ask(fd, "echo after", "after"), "after");
	/* refusals: the application runs on after each */
	assert_int_equal(suspend_with(id, "cloister-broker-wrap-v1", key, 8, &blob, sha, &len), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "decrypt_failed"));
	assert_string_equal(ask(fd, "echo r1", "r1"), "r1");
	uint8_t nokey[8 + (97 + 12 + 32 + 16)] = {0};
	nokey[7] = 9;
	assert_int_equal(cl_sandbox_suspend(data_dir, id, nokey, sizeof(nokey), 10000, buf_sink, &blob, sha, &len),
			 CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "no_key"));
	assert_string_equal(ask(fd, "echo r2", "r2"), "r2");
	as_enclave(tmp, "state/pipe", "", 0);
	close(tmp);
	assert_int_equal(suspend_with(id, "cloister-state-wrap-v1", key, 10, &blob, sha, &len), CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "bad_state"));
	assert_string_equal(ask(fd, "echo r3", "r3"), "r3");
	assert_int_not_equal(proc_state(app), 'T');
	close(fd);
	cl_buf_free(&f);
	cl_buf_free(&blob);
	free(big);
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);
}

/* RESTORE (docs/suspend.md): a sandbox launched await_restore runs
 * nothing, has its key at once, and takes a blob (RESTORE, STATE, STATE_END)
 * only if it opens under the key wrapped to that key, for this enclave and
 * number: a flipped byte is decrypt_failed, another number bad_blob (each
 * leaving /tmp without the state, a KEYGEN making the next key); then the
 * state is in /tmp and the entrypoint runs; a second restore is
 * not_awaiting_restore. */
static void restore_brings_state_back(void **state)
{
	char helper[PATH_MAX + 64], src[PATH_MAX], path[PATH_MAX + 64];
	const char *id = ID("rest");
	snprintf(helper, sizeof(helper), "%s/bin/cloister-init-bundle", build_dir);
	/* the blob: a tree sealed here as init-bundle seals /tmp */
	snprintf(src, sizeof(src), "%s/rest-src", tmp_dir);
	snprintf(path, sizeof(path), "%s/state", src);
	assert_int_equal(mkdir(src, 0755), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/state/counter", src);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("41\n", f);
	fclose(f);
	uint8_t key[32], sha[48], point[97];
	assert_int_equal(cl_random(key, sizeof(key)), CL_OK);
	cl_buf blob, payload, wrapped;
	cl_buf_init(&blob, 8u << 20);
	cl_buf_init(&payload, 4096);
	cl_buf_init(&wrapped, 4096);
	uint64_t blen = 0;
	char why[CL_INIT_STATE_REASON_MAX];
	if (cl_init_state_seal(src, NULL, key, id, 3, buf_sink_int, &blob, &blen, why) != 0)
		fail_msg("seal: %s", why);
	unsigned dl = 0;
	assert_int_equal(EVP_Digest(blob.data, blob.len, sha, &dl, EVP_sha384(), NULL), 1);
	warm_pool();
	cl_sandbox_info info;
	cl_sandbox_spec spec = {.id = id, .image_path = probe_img, .init_path = init_exe, .memory_bytes = 64 << 20,
	                       .cpus = 1, .suspendable = true, .await_restore = true, .helper_path = helper};
	if (cl_sandbox_launch(host_exe, data_dir, &spec, &info) != CL_OK)
		fail_msg("launch: %s", cl_error_detail());
	assert_int_equal(cl_sandbox_key(data_dir, id, point), CL_OK); /* its key at once */
	snprintf(path, sizeof(path), "/proc/%d/root/tmp/state", (int)info.init_pid);
	/* a restore with the key wrapped to point, n, and blob b */
#define RESTORE(pt, n, b, blen_)                                                                            \
	do {                                                                                                \
		cl_buf_reset(&wrapped);                                                                     \
		cl_buf_reset(&payload);                                                                     \
		assert_int_equal(cl_wrap_seal_label("cloister-state-wrap-v1", pt, key, 32, &wrapped), CL_OK); \
		assert_int_equal(cl_buf_put_be64(&payload, n), CL_OK);                                      \
		assert_int_equal(cl_buf_put(&payload, wrapped.data, wrapped.len), CL_OK);                   \
		assert_int_equal(EVP_Digest(b, blen_, sha, &dl, EVP_sha384(), NULL), 1);                    \
		rc = cl_sandbox_restore(data_dir, id, payload.data, (uint32_t)payload.len, b, blen_, sha, 30000); \
	} while (0)
	cl_err rc;
	/* a flipped byte: refused, nothing in /tmp */
	uint8_t *bad = malloc(blob.len);
	assert_non_null(bad);
	memcpy(bad, blob.data, blob.len);
	bad[blob.len / 2] ^= 1;
	RESTORE(point, 3, bad, blob.len);
	assert_int_equal(rc, CL_ECONFLICT);
	if (!strstr(cl_error_detail(), "decrypt_failed"))
		fail_msg("flipped: %s", cl_error_detail());
	assert_int_not_equal(access(path, F_OK), 0);
	/* another number than the blob's: bad_blob */
	assert_int_equal(cl_sandbox_keygen(data_dir, id, 10000, point), CL_OK);
	RESTORE(point, 4, blob.data, blob.len);
	assert_int_equal(rc, CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "bad_blob"));
	assert_int_not_equal(access(path, F_OK), 0);
	/* the real one: the state is back and the entrypoint runs */
	assert_int_equal(cl_sandbox_keygen(data_dir, id, 10000, point), CL_OK);
	RESTORE(point, 3, blob.data, blob.len);
	if (rc != CL_OK)
		fail_msg("restore: %s", cl_error_detail());
	snprintf(path, sizeof(path), "/proc/%d/root/tmp/state/counter", (int)info.init_pid);
	cl_buf got;
	cl_buf_init(&got, 4096);
	assert_int_equal(cl_file_read(path, 4096, &got), CL_OK);
	assert_int_equal(got.len, 3);
	assert_memory_equal(got.data, "41\n", 3);
	int fd = connect_ok(id);
	assert_string_equal(ask(fd, "echo restored", "restored"), "restored");
	close(fd);
	/* once: it runs now */
	assert_int_equal(cl_sandbox_keygen(data_dir, id, 10000, point), CL_OK);
	RESTORE(point, 3, blob.data, blob.len);
	assert_int_equal(rc, CL_ECONFLICT);
	assert_non_null(strstr(cl_error_detail(), "not_awaiting_restore"));
#undef RESTORE
	free(bad);
	cl_buf_free(&got);
	cl_buf_free(&blob);
	cl_buf_free(&payload);
	cl_buf_free(&wrapped);
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);
}

/* One raw frame out on fd (blocking). */
static void frame_out(int fd, uint8_t type, const uint8_t *p, uint32_t n)
{
	uint8_t hdr[CL_FRAME_HDR];
	assert_int_equal(cl_frame_put_header(hdr, type, n), CL_OK);
	assert_int_equal(send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
	for (uint32_t off = 0; off < n;) {
		ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
		assert_true(w > 0);
		off += (uint32_t)w;
	}
}

/* One raw frame in from fd (blocking): its type; the payload is dropped. */
static uint8_t frame_in(int fd)
{
	uint8_t hdr[CL_FRAME_HDR], sink[4096];
	assert_int_equal(recv(fd, hdr, sizeof(hdr), MSG_WAITALL), (ssize_t)sizeof(hdr));
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	while (n) {
		ssize_t r = recv(fd, sink, n < sizeof(sink) ? n : sizeof(sink), 0);
		assert_true(r > 0);
		n -= (uint32_t)r;
	}
	return hdr[4];
}

/* Waits (10 s at most) until pid is not stopped. */
static bool runs_again(pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		if (proc_state(pid) != 'T')
			return true;
		usleep(10000);
	}
	return false;
}

/* Waits (10 s at most) until pid is stopped. */
static bool stops_soon(pid_t pid)
{
	for (int i = 0; i < 1000; i++) {
		if (proc_state(pid) == 'T')
			return true;
		usleep(10000);
	}
	return false;
}

/* Waits (10 s at most) until path does not exist. */
static bool gone_soon(const char *path)
{
	for (int i = 0; i < 1000; i++) {
		if (access(path, F_OK) != 0)
			return true;
		usleep(10000);
	}
	return false;
}

/* The agent killed mid-transfer (its connection closes): a suspend whose
 * receiver goes away before STATE_END resumes the application by itself
 * (the shim sends the empty SUSPEND), and the next suspend works; a
 * restore whose sender goes away mid-blob is dropped by init-bundle
 * (staging removed, still awaiting), and the next one works. */
static void sender_gone_mid_transfer(void **state)
{
	char helper[PATH_MAX + 64], path[PATH_MAX + 64];
	const char *id = ID("gone");
	snprintf(helper, sizeof(helper), "%s/bin/cloister-init-bundle", build_dir);
	warm_pool();
	cl_sandbox_info info;
	cl_sandbox_spec spec = {.id = id, .image_path = probe_img, .init_path = init_exe,
	                       .memory_bytes = 64 << 20, .cpus = 1, .suspendable = true, .helper_path = helper};
	if (cl_sandbox_launch(host_exe, data_dir, &spec, &info) != CL_OK)
		fail_msg("launch: %s", cl_error_detail());
	sandbox_init_pid = info.init_pid;
	size_t big_len = 4u << 20;
	uint8_t *big = malloc(big_len), key[32], point[97], sha[48];
	assert_non_null(big);
	assert_int_equal(cl_random(big, big_len), CL_OK);
	assert_int_equal(cl_random(key, sizeof(key)), CL_OK);
	int tmp = enclave_tmp(info.init_pid);
	as_enclave(tmp, "big.bin", big, big_len);
	close(tmp);
	int fd = connect_ok(id);
	assert_string_equal(ask(fd, "echo before", "before"), "before");
	pid_t app = app_pid(info.init_pid);
	/* a suspend read for one chunk, then its receiver is gone */
	cl_buf wrapped, payload, blob;
	cl_buf_init(&wrapped, 4096);
	cl_buf_init(&payload, 4096);
	cl_buf_init(&blob, 16u << 20);
	assert_int_equal(cl_sandbox_keygen(data_dir, id, 10000, point), CL_OK);
	assert_int_equal(cl_wrap_seal_label("cloister-state-wrap-v1", point, key, 32, &wrapped), CL_OK);
	assert_int_equal(cl_buf_put_be64(&payload, 1), CL_OK);
	assert_int_equal(cl_buf_put(&payload, wrapped.data, wrapped.len), CL_OK);
	int raw = -1;
	assert_int_equal(cl_sandbox_connect(data_dir, id, &raw), CL_OK);
	frame_out(raw, CL_FRAME_SUSPEND, payload.data, (uint32_t)payload.len);
	assert_int_equal(frame_in(raw), CL_FRAME_STATE);
	assert_int_equal(proc_state(app), 'T');
	close(raw);
	if (!runs_again(app))
		fail_msg("the application stays stopped after its suspend's receiver went away");
	assert_string_equal(ask(fd, "echo resumed", "resumed"), "resumed");
	uint64_t len = 0;
	assert_int_equal(suspend_with(id, "cloister-state-wrap-v1", key, 2, &blob, sha, &len), CL_OK);
	assert_int_equal(cl_sandbox_resume(data_dir, id), CL_OK);
	close(fd);
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);

	/* that blob restored into a sandbox awaiting it: the first sender goes
	 * away after one chunk */
	spec.await_restore = true;
	if (cl_sandbox_launch(host_exe, data_dir, &spec, &info) != CL_OK)
		fail_msg("launch awaiting a restore: %s", cl_error_detail());
	assert_int_equal(cl_sandbox_key(data_dir, id, point), CL_OK);
	cl_buf_reset(&wrapped);
	cl_buf_reset(&payload);
	assert_int_equal(cl_wrap_seal_label("cloister-state-wrap-v1", point, key, 32, &wrapped), CL_OK);
	assert_int_equal(cl_buf_put_be64(&payload, 2), CL_OK);
	assert_int_equal(cl_buf_put(&payload, wrapped.data, wrapped.len), CL_OK);
	assert_int_equal(cl_sandbox_connect(data_dir, id, &raw), CL_OK);
	frame_out(raw, CL_FRAME_RESTORE, payload.data, (uint32_t)payload.len);
	assert_int_equal(frame_in(raw), CL_FRAME_OK);
	frame_out(raw, CL_FRAME_STATE, blob.data, CL_FRAME_MAX);
	assert_int_equal(frame_in(raw), CL_FRAME_OK);
	snprintf(path, sizeof(path), "/proc/%d/root/tmp/.cloister-staging", (int)info.init_pid);
	for (int i = 0; i < 1000 && access(path, F_OK) != 0; i++)
		usleep(10000); /* staged */
	close(raw);
	if (!gone_soon(path))
		fail_msg("the staging of an aborted restore is still there");
	snprintf(path, sizeof(path), "/proc/%d/root/tmp/big.bin", (int)info.init_pid);
	assert_int_not_equal(access(path, F_OK), 0);
	/* a fresh key and the whole blob: restored */
	assert_int_equal(cl_sandbox_keygen(data_dir, id, 10000, point), CL_OK);
	cl_buf_reset(&wrapped);
	cl_buf_reset(&payload);
	assert_int_equal(cl_wrap_seal_label("cloister-state-wrap-v1", point, key, 32, &wrapped), CL_OK);
	assert_int_equal(cl_buf_put_be64(&payload, 2), CL_OK);
	assert_int_equal(cl_buf_put(&payload, wrapped.data, wrapped.len), CL_OK);
	if (cl_sandbox_restore(data_dir, id, payload.data, (uint32_t)payload.len, blob.data, blob.len, sha, 30000) !=
	    CL_OK)
		fail_msg("restore after an abort: %s", cl_error_detail());
	cl_buf got;
	cl_buf_init(&got, 8u << 20);
	assert_int_equal(cl_file_read(path, 8u << 20, &got), CL_OK);
	assert_int_equal(got.len, big_len);
	assert_memory_equal(got.data, big, big_len);
	cl_buf_free(&got);
	cl_buf_free(&wrapped);
	cl_buf_free(&payload);
	cl_buf_free(&blob);
	free(big);
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);
}

/* An empty SUSPEND resumes only what a suspend stopped (the agent sends one
 * to every sandbox it adopts at start, for a suspend that stopped the
 * application and never committed): a process the application stopped
 * itself stays stopped; one a suspend stopped runs on. */
static void resume_only_what_a_suspend_stopped(void **state)
{
	char helper[PATH_MAX + 64];
	const char *id = ID("rsme");
	snprintf(helper, sizeof(helper), "%s/bin/cloister-init-bundle", build_dir);
	warm_pool();
	cl_sandbox_info info;
	cl_sandbox_spec spec = {.id = id, .image_path = probe_img, .init_path = init_exe,
	                       .memory_bytes = 64 << 20, .cpus = 1, .suspendable = true, .helper_path = helper};
	if (cl_sandbox_launch(host_exe, data_dir, &spec, &info) != CL_OK)
		fail_msg("launch: %s", cl_error_detail());
	sandbox_init_pid = info.init_pid;
	int fd = connect_ok(id);
	assert_string_equal(ask(fd, "echo before", "before"), "before");
	pid_t app = app_pid(info.init_pid);
	uint8_t key[32], point[97], sha[48];
	assert_int_equal(cl_random(key, sizeof(key)), CL_OK);
	/* stopped by itself (as its own job control would): a resume leaves it so */
	assert_int_equal(kill(app, SIGSTOP), 0);
	if (!stops_soon(app))
		fail_msg("the application does not stop on SIGSTOP");
	assert_int_equal(cl_sandbox_resume(data_dir, id), CL_OK);
	/* init takes frames in order: a KEYGEN answered means the resume was handled */
	assert_int_equal(cl_sandbox_keygen(data_dir, id, 10000, point), CL_OK);
	assert_int_equal(proc_state(app), 'T');
	assert_int_equal(kill(app, SIGCONT), 0);
	if (!runs_again(app))
		fail_msg("the application does not run after its own SIGCONT");
	/* stopped by a suspend: a resume lets it run on */
	cl_buf blob;
	cl_buf_init(&blob, 16u << 20);
	uint64_t len = 0;
	assert_int_equal(suspend_with(id, "cloister-state-wrap-v1", key, 1, &blob, sha, &len), CL_OK);
	assert_int_equal(proc_state(app), 'T');
	assert_int_equal(cl_sandbox_resume(data_dir, id), CL_OK);
	if (!runs_again(app))
		fail_msg("the application stays stopped after a resume");
	assert_string_equal(ask(fd, "echo after", "after"), "after");
	close(fd);
	cl_buf_free(&blob);
	assert_int_equal(cl_sandbox_destroy(data_dir, id), CL_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suspendable_keygen),
		cmocka_unit_test(suspend_streams_state),
		cmocka_unit_test(restore_brings_state_back),
		cmocka_unit_test(sender_gone_mid_transfer),
		cmocka_unit_test(resume_only_what_a_suspend_stopped),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
