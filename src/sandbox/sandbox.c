/* sandbox.c — the agent's side of the `process` backend: launching a shim,
 * talking to it, inspecting, freezing, resizing and destroying enclaves, and
 * probing what the kernel offers. The containment itself is in shim.c
 * (host side) and sandbox_child.c (inside the new namespaces).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/frame.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_internal.h"

#define LAUNCH_TIMEOUT_MS 30000
#define SHIM_EXIT_WAIT_MS 5000
#define CALL_TIMEOUT_MS 70000

cl_err cl_sandbox_check_id(const char *id)
{
	CL_ENSURE(id && *id, CL_EINVAL, "id: empty");
	size_t n = strlen(id);
	CL_ENSURE(n <= 63, CL_EINVAL, "id: longer than 63 characters");
	for (size_t i = 0; i < n; i++)
		CL_ENSURE((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9') || id[i] == '-',
			  CL_EINVAL, "id: only [a-z0-9-] allowed");
	return CL_OK;
}

cl_err cl_sandbox_path(char *out, size_t n, const char *dir, const char *id, const char *leaf)
{
	CL_ENSURE(dir && *dir, CL_EINVAL, "data directory missing");
	int w = leaf ? snprintf(out, n, "%s/sandboxes/%s/%s", dir, id, leaf) : snprintf(out, n, "%s/sandboxes/%s", dir, id);
	CL_ENSURE(w > 0 && (size_t)w < n, CL_ETOOBIG, "path under %s too long", dir);
	return CL_OK;
}

static cl_err check_spec(const cl_sandbox_spec *spec, const char *guest_dir, uint32_t *pids)
{
	CL_ENSURE(spec, CL_EINVAL, "spec missing");
	CL_GUARD(cl_sandbox_check_id(spec->id));
	CL_ENSURE(spec->image_path && spec->image_path[0] == '/', CL_EINVAL, "image_path must be absolute");
	CL_ENSURE(spec->init_path && spec->init_path[0] == '/', CL_EINVAL, "init_path must be absolute");
	CL_ENSURE(!(spec->await_bundle || spec->suspendable) || (spec->helper_path && spec->helper_path[0] == '/'),
		  CL_EINVAL,
		  "helper_path must be absolute (an enclave awaiting a bundle or suspendable needs cloister-init-bundle)");
	CL_ENSURE(!spec->await_restore || spec->suspendable, CL_EINVAL, "await_restore goes with suspendable");
	CL_ENSURE(spec->memory_bytes >= CL_SANDBOX_MIN_MEMORY && spec->memory_bytes <= CL_SANDBOX_MAX_MEMORY,
		  CL_EINVAL, "memory: %" PRIu64 " bytes is outside %llu..%llu", spec->memory_bytes,
		  CL_SANDBOX_MIN_MEMORY, CL_SANDBOX_MAX_MEMORY);
	CL_ENSURE(spec->cpus >= 1 && spec->cpus <= CL_SANDBOX_MAX_CPUS, CL_EINVAL, "cpus: %" PRIu32 " is outside 1..%u",
		  spec->cpus, CL_SANDBOX_MAX_CPUS);
	if (guest_dir) {
		struct stat st;
		CL_ENSURE(guest_dir[0] == '/' && strlen(guest_dir) < 1024, CL_EINVAL,
			  "guest: directory must be an absolute path under 1024 bytes");
		CL_ENSURE(lstat(guest_dir, &st) == 0 && S_ISDIR(st.st_mode), CL_ENOTFOUND, "guest: %s is not a directory",
			  guest_dir);
	}
	*pids = spec->pids_max ? spec->pids_max : CL_SANDBOX_DEFAULT_PIDS;
	CL_ENSURE(*pids >= 2 && *pids <= CL_SANDBOX_MAX_PIDS, CL_EINVAL, "pids_max: %" PRIu32 " is outside 2..%u",
		  *pids, CL_SANDBOX_MAX_PIDS);
	return CL_OK;
}

/* spec.json: what the shim is started with (runtime state; no fsync). */
static cl_err write_spec(const char *dir, const cl_sandbox_spec *spec, const char *guest_dir, uint32_t pids)
{
	char path[1200];
	CL_GUARD(cl_sandbox_path(path, sizeof(path), dir, spec->id, "spec.json"));
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "id", spec->id, "image_path", spec->image_path,
			      "init_path", spec->init_path, "memory_bytes", (json_int_t)spec->memory_bytes, "cpus",
			      (json_int_t)spec->cpus, "pids_max", (json_int_t)pids);
	CL_ENSURE(o, CL_ENOMEM, "spec: cannot encode");
	if ((guest_dir && json_object_set_new(o, "guest_dir", json_string(guest_dir)) != 0) ||
	    (spec->await_bundle && json_object_set_new(o, "await_bundle", json_true()) != 0) ||
	    (spec->suspendable && json_object_set_new(o, "suspendable", json_true()) != 0) ||
	    (spec->await_restore && json_object_set_new(o, "await_restore", json_true()) != 0) ||
	    ((spec->await_bundle || spec->suspendable) &&
	     json_object_set_new(o, "helper_path", json_string(spec->helper_path)) != 0)) {
		json_decref(o);
		return cl_errorf(CL_ENOMEM, "spec: cannot encode");
	}
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	CL_ENSURE(text, CL_ENOMEM, "spec: cannot encode");
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	cl_err e = CL_OK;
	if (fd < 0) {
		e = cl_errorf(CL_EIO, "open %s: %s", path, strerror(errno));
	} else {
		size_t n = strlen(text);
		if (write(fd, text, n) != (ssize_t)n)
			e = cl_errorf(CL_EIO, "write %s: %s", path, strerror(errno));
		close(fd);
	}
	free(text);
	return e;
}

/* Reads the shim's one status line: "OK <init_pid> <shim_pid>" or "ERR <code> <detail>". */
static cl_err read_status(int fd, cl_sandbox_info *out)
{
	char line[1024];
	size_t got = 0;
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)LAUNCH_TIMEOUT_MS * 1000000u;
	while (got < sizeof(line) - 1 && !memchr(line, '\n', got)) {
		uint64_t now = cl_now_mono_ns();
		CL_ENSURE(now < deadline, CL_ETIMEOUT, "shim: no launch status within %d ms", LAUNCH_TIMEOUT_MS);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int rc = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		CL_ENSURE(rc >= 0, CL_ESYS, "shim: poll: %s", strerror(errno));
		if (rc == 0)
			continue;
		ssize_t r = read(fd, line + got, sizeof(line) - 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		CL_ENSURE(r > 0, CL_EINTERNAL, "shim: exited without reporting a launch status");
		got += (size_t)r;
	}
	line[got] = '\0';
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	if (strncmp(line, "OK ", 3) == 0) {
		int ipid, spid;
		CL_ENSURE(sscanf(line + 3, "%d %d", &ipid, &spid) == 2 && ipid > 0 && spid > 0, CL_EPROTO,
			  "shim: bad status line");
		out->init_pid = ipid;
		out->shim_pid = spid;
		return CL_OK;
	}
	char *end;
	long code = strtol(line + (strncmp(line, "ERR ", 4) == 0 ? 4 : 0), &end, 10);
	CL_ENSURE(strncmp(line, "ERR ", 4) == 0 && end != line + 4 && code > 0 && code <= CL_EINTERNAL, CL_EPROTO,
		  "shim: bad status line");
	return cl_errorf((cl_err)code, "%s", *end == ' ' ? end + 1 : end);
}

cl_err cl_sandbox_launch(const char *self_exe, const char *dir, const cl_sandbox_spec *spec, cl_sandbox_info *out)
{
	return cl_sandbox_launch_guest(self_exe, dir, spec, NULL, out);
}

cl_err cl_sandbox_launch_guest(const char *self_exe, const char *dir, const cl_sandbox_spec *spec,
			       const char *guest_dir, cl_sandbox_info *out)
{
	char path[1200], base[1100];
	uint32_t pids = 0;
	int status_fd = -1;
	bool created = false;
	cl_err e;

	CL_ENSURE(self_exe && self_exe[0] == '/', CL_EINVAL, "self_exe must be an absolute path");
	CL_ENSURE(out, CL_EINVAL, "out missing");
	CL_GUARD(check_spec(spec, guest_dir, &pids));
	CL_ENSURE(access(spec->image_path, R_OK) == 0, CL_ENOTFOUND, "image: %s: %s", spec->image_path, strerror(errno));
	CL_ENSURE(access(spec->init_path, R_OK) == 0, CL_ENOTFOUND, "init: %s: %s", spec->init_path, strerror(errno));
	CL_ENSURE(!(spec->await_bundle || spec->suspendable) || access(spec->helper_path, R_OK) == 0, CL_ENOTFOUND, "init-bundle: %s: %s",
		  spec->helper_path, strerror(errno));
	CL_ENSURE(snprintf(base, sizeof(base), "%s/sandboxes", dir) < (int)sizeof(base), CL_ETOOBIG, "dir too long");
	CL_GUARD(cl_mkdir_p(base, 0700));
	CL_GUARD(cl_sandbox_path(path, sizeof(path), dir, spec->id, NULL));
	if (mkdir(path, 0700) != 0)
		return cl_errorf(errno == EEXIST ? CL_ECONFLICT : CL_ESYS, "sandbox %s: %s", spec->id,
				 errno == EEXIST ? "already exists" : strerror(errno));
	created = true;
	CL_GUARD_OUT(e, write_spec(dir, spec, guest_dir, pids));
	CL_GUARD_OUT(e, cl_sandbox_pool_start(self_exe, dir, spec->id, spec->image_path, &status_fd));
	if (spec->while_starting)
		spec->while_starting(spec->while_starting_arg);
	memset(out, 0, sizeof(*out));
	e = read_status(status_fd, out);
	/* the next spares (off this launch's path: a thread spawns them) */
	cl_sandbox_pool_refill(self_exe, dir, spec->image_path, spec->init_path);
	if (e != CL_OK)
		goto out;
	snprintf(out->id, sizeof(out->id), "%s", spec->id);
	out->running = true;
	out->memory_bytes = spec->memory_bytes;
	created = false;
out:
	if (status_fd >= 0)
		close(status_fd);
	if (created) {
		char keep[512];
		snprintf(keep, sizeof(keep), "%s", cl_error_detail());
		if (cl_sandbox_destroy(dir, spec->id) != CL_OK)
			cl_warn("launch of %s failed and cleanup failed too: %s", spec->id, cl_error_detail());
		cl_errorf(e, "%s", keep);
	}
	return e;
}

static cl_err connect_shim(const char *dir, const char *id, int flags, int *fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	CL_GUARD(cl_sandbox_check_id(id));
	CL_GUARD(cl_sandbox_path(sa.sun_path, sizeof(sa.sun_path), dir, id, "shim.sock"));
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	CL_ENSURE(s >= 0, CL_ESYS, "socket: %s", strerror(errno));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(s);
		cl_err code = CL_ESYS;
		if (e == ENOENT || e == ECONNREFUSED)
			code = CL_ENOTFOUND;
		else if (e == EAGAIN) /* non-blocking: the shim's listen backlog is full */
			code = CL_EUNAVAIL;
		return cl_errorf(code, "sandbox %s: shim: %s", id, strerror(e));
	}
	*fd = s;
	return CL_OK;
}

cl_err cl_sandbox_connect(const char *dir, const char *id, int *fd)
{
	return connect_shim(dir, id, 0, fd);
}

cl_err cl_sandbox_connect_nonblock(const char *dir, const char *id, int *fd)
{
	return connect_shim(dir, id, SOCK_NONBLOCK, fd);
}

static cl_err io_all_ms(int fd, uint8_t *p, size_t n, bool sending, int ms)
{
	while (n) {
		struct pollfd pf = {.fd = fd, .events = sending ? POLLOUT : POLLIN};
		int rc = poll(&pf, 1, ms);
		if (rc < 0 && errno == EINTR)
			continue;
		CL_ENSURE(rc > 0, rc == 0 ? CL_ETIMEOUT : CL_ESYS, "shim: %s", rc == 0 ? "no answer" : strerror(errno));
		ssize_t r = sending ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		CL_ENSURE(r > 0, CL_EIO, "shim: connection %s", r == 0 ? "closed" : strerror(errno));
		p += r;
		n -= (size_t)r;
	}
	return CL_OK;
}

/* ms left until deadline (mono ns), at least 1 so poll does not spin on 0 */
static int remaining_ms(uint64_t deadline)
{
	uint64_t now = cl_now_mono_ns();
	return now >= deadline ? 1 : (int)((deadline - now) / 1000000u + 1);
}

static cl_err io_all(int fd, uint8_t *p, size_t n, bool sending)
{
	return io_all_ms(fd, p, n, sending, CALL_TIMEOUT_MS);
}

/* The shim's STATUS object (1 s bound). *o: the caller's (json_decref). */
static cl_err status_json(const char *dir, const char *id, json_t **o)
{
	int fd;
	uint8_t hdr[CL_FRAME_HDR], reply[1024];
	*o = NULL;
	CL_GUARD(cl_sandbox_connect(dir, id, &fd));
	cl_err e = CL_OK;
	if (cl_frame_put_header(hdr, CL_FRAME_STATUS, 0) != CL_OK) {
		e = cl_errorf(CL_EINTERNAL, "frame header");
		goto out;
	}
	CL_GUARD_OUT(e, io_all_ms(fd, hdr, sizeof(hdr), true, 1000));
	CL_GUARD_OUT(e, io_all_ms(fd, hdr, sizeof(hdr), false, 1000));
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (hdr[4] != CL_FRAME_STATUS || n >= sizeof(reply)) {
		e = cl_errorf(CL_EPROTO, "shim: unexpected reply to STATUS");
		goto out;
	}
	CL_GUARD_OUT(e, io_all_ms(fd, reply, n, false, 1000));
	if (!(*o = json_loadb((const char *)reply, n, 0, NULL)))
		e = cl_errorf(CL_EPROTO, "shim: malformed STATUS");
out:
	close(fd);
	return e;
}

/* The hex string field `name` of the shim's STATUS, decoded into out (n
 * bytes; partly written on CL_EPROTO). CL_ENOTFOUND "enclave ID has
 * <missing>" when STATUS has no such string, CL_EPROTO when it is not
 * exactly 2n hex digits, or status_json's error. */
static cl_err status_hex(const char *dir, const char *id, const char *name, const char *missing, uint8_t *out,
			 size_t n)
{
	json_t *o;
	CL_GUARD(status_json(dir, id, &o));
	cl_err e = CL_OK;
	const char *k = json_string_value(json_object_get(o, name));
	if (!k)
		e = cl_errorf(CL_ENOTFOUND, "enclave %s has %s", id, missing);
	else if (strlen(k) != 2 * n || cl_hex_decode(k, out, n) != CL_OK)
		e = cl_errorf(CL_EPROTO, "shim: malformed %s in STATUS", name);
	json_decref(o);
	return e;
}

cl_err cl_sandbox_key(const char *dir, const char *id, uint8_t point[97])
{
	CL_GUARD(status_hex(dir, id, "public_key", "no key of its own (it does not await a bundle)", point, 97));
	CL_ENSURE(point[0] == 0x04, CL_EPROTO, "shim: malformed public_key in STATUS");
	return CL_OK;
}

cl_err cl_sandbox_bundle(const char *dir, const char *id, uint8_t sha384[48])
{
	return status_hex(dir, id, "bundle_sha384", "no bundle installed", sha384, 48);
}

cl_err cl_sandbox_files(const char *dir, const char *id, bool fresh, int wait_ms, uint8_t **out, uint32_t *len)
{
	int fd;
	uint8_t hdr[CL_FRAME_HDR + 1], *p = NULL;
	*out = NULL;
	*len = 0;
	CL_GUARD(cl_sandbox_connect(dir, id, &fd));
	cl_err e = CL_OK;
	if (cl_frame_put_header(hdr, CL_FRAME_FILES_REQ, 1) != CL_OK) {
		e = cl_errorf(CL_EINTERNAL, "frame header");
		goto out;
	}
	hdr[CL_FRAME_HDR] = fresh ? 1 : 0;
	CL_GUARD_OUT(e, io_all_ms(fd, hdr, sizeof(hdr), true, 1000));
	CL_GUARD_OUT(e, io_all_ms(fd, hdr, CL_FRAME_HDR, false, wait_ms));
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (hdr[4] != CL_FRAME_FILES || n > CL_FILES_BYTES) {
		e = cl_errorf(CL_EPROTO, "shim: unexpected reply to FILES_REQ");
		goto out;
	}
	if (n && !(p = malloc(n))) {
		e = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	if (n)
		CL_GUARD_OUT(e, io_all_ms(fd, p, n, false, 1000));
	*out = p;
	*len = n;
	p = NULL;
out:
	free(p);
	close(fd);
	return e;
}

cl_err cl_sandbox_keygen(const char *dir, const char *id, uint32_t timeout_ms, uint8_t point[97])
{
	int fd;
	uint8_t hdr[CL_FRAME_HDR], reply[512];
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	CL_GUARD(cl_sandbox_connect(dir, id, &fd));
	cl_err e = CL_OK;
	if (cl_frame_put_header(hdr, CL_FRAME_KEYGEN, 0) != CL_OK) {
		e = cl_errorf(CL_EINTERNAL, "frame header");
		goto out;
	}
	CL_GUARD_OUT(e, io_all_ms(fd, hdr, sizeof(hdr), true, remaining_ms(deadline)));
	CL_GUARD_OUT(e, io_all_ms(fd, hdr, sizeof(hdr), false, remaining_ms(deadline)));
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if ((hdr[4] != CL_FRAME_KEY && hdr[4] != CL_FRAME_ERROR) || n >= sizeof(reply)) {
		e = cl_errorf(CL_EPROTO, "shim: unexpected reply to KEYGEN");
		goto out;
	}
	CL_GUARD_OUT(e, io_all_ms(fd, reply, n, false, remaining_ms(deadline)));
	if (hdr[4] == CL_FRAME_ERROR)
		e = cl_errorf(CL_ECONFLICT, "%.*s", (int)n, (const char *)reply);
	else if (n != 97 || reply[0] != 0x04)
		e = cl_errorf(CL_EPROTO, "shim: malformed KEY");
	else
		memcpy(point, reply, 97);
out:
	close(fd);
	return e;
}

cl_err cl_sandbox_suspend(const char *dir, const char *id, const uint8_t *payload, uint32_t len,
			  uint32_t timeout_ms, cl_sandbox_state_sink sink, void *ctx, uint8_t sha384[48],
			  uint64_t *length)
{
	int fd;
	uint8_t hdr[CL_FRAME_HDR], *buf = NULL;
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	CL_ENSURE(len > 0, CL_EINVAL, "suspend: empty payload (that is a resume)");
	CL_GUARD(cl_sandbox_connect(dir, id, &fd));
	cl_err e = CL_OK;
	if (!(buf = malloc(CL_FRAME_MAX))) {
		e = cl_errorf(CL_ENOMEM, "out of memory");
		goto out;
	}
	if (cl_frame_put_header(hdr, CL_FRAME_SUSPEND, len) != CL_OK) {
		e = cl_errorf(CL_EINVAL, "suspend: payload too large");
		goto out;
	}
	CL_GUARD_OUT(e, io_all_ms(fd, hdr, sizeof(hdr), true, remaining_ms(deadline)));
	CL_GUARD_OUT(e, io_all_ms(fd, (uint8_t *)payload, len, true, remaining_ms(deadline)));
	for (;;) {
		CL_GUARD_OUT(e, io_all_ms(fd, hdr, sizeof(hdr), false, remaining_ms(deadline)));
		uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
		uint8_t t = hdr[4];
		if (n > CL_FRAME_MAX || (t != CL_FRAME_STATE && t != CL_FRAME_STATE_END && t != CL_FRAME_ERROR) ||
		    (t == CL_FRAME_STATE && n == 0) || (t == CL_FRAME_STATE_END && n != 56)) {
			e = cl_errorf(CL_EPROTO, "shim: unexpected reply to SUSPEND");
			goto out;
		}
		CL_GUARD_OUT(e, io_all_ms(fd, buf, n, false, remaining_ms(deadline)));
		if (t == CL_FRAME_ERROR) {
			e = cl_errorf(CL_ECONFLICT, "%.*s", (int)(n < 400 ? n : 400), (const char *)buf);
			goto out;
		}
		if (t == CL_FRAME_STATE_END) {
			memcpy(sha384, buf, 48);
			*length = 0;
			for (int i = 0; i < 8; i++)
				*length = *length << 8 | buf[48 + i];
			break;
		}
		CL_GUARD_OUT(e, sink(ctx, buf, n));
	}
out:
	free(buf);
	close(fd);
	return e;
}

/* One request on fd within deadline: CL_OK when answered want; ERROR is
 * CL_ECONFLICT with its text. */
static cl_err call_until(int fd, uint8_t type, const uint8_t *p, uint32_t n, uint8_t want, uint64_t deadline)
{
	uint8_t hdr[CL_FRAME_HDR], reply[512];
	CL_ENSURE(cl_frame_put_header(hdr, type, n) == CL_OK, CL_ETOOBIG, "request over %u bytes", CL_FRAME_MAX);
	CL_GUARD(io_all_ms(fd, hdr, sizeof(hdr), true, remaining_ms(deadline)));
	if (n)
		CL_GUARD(io_all_ms(fd, (uint8_t *)p, n, true, remaining_ms(deadline)));
	CL_GUARD(io_all_ms(fd, hdr, sizeof(hdr), false, remaining_ms(deadline)));
	uint32_t rn = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	CL_ENSURE((hdr[4] == want || hdr[4] == CL_FRAME_ERROR) && rn < sizeof(reply), CL_EPROTO,
		  "shim: unexpected reply (type %u)", hdr[4]);
	CL_GUARD(io_all_ms(fd, reply, rn, false, remaining_ms(deadline)));
	CL_ENSURE(hdr[4] == want, CL_ECONFLICT, "%.*s", (int)rn, (const char *)reply);
	return CL_OK;
}

cl_err cl_sandbox_restore(const char *dir, const char *id, const uint8_t *payload, uint32_t plen, const uint8_t *blob,
			  size_t len, const uint8_t sha384[48], uint32_t timeout_ms)
{
	int fd;
	uint8_t end[56];
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	CL_ENSURE(plen > 0 && len > 0, CL_EINVAL, "restore: empty key or blob");
	memcpy(end, sha384, 48);
	for (int i = 0; i < 8; i++)
		end[48 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	CL_GUARD(cl_sandbox_connect(dir, id, &fd));
	cl_err e = call_until(fd, CL_FRAME_RESTORE, payload, plen, CL_FRAME_OK, deadline);
	for (size_t off = 0; e == CL_OK && off < len; off += CL_FRAME_MAX) {
		uint32_t n = len - off < CL_FRAME_MAX ? (uint32_t)(len - off) : CL_FRAME_MAX;
		e = call_until(fd, CL_FRAME_STATE, blob + off, n, CL_FRAME_OK, deadline);
	}
	if (e == CL_OK)
		e = call_until(fd, CL_FRAME_STATE_END, end, sizeof(end), CL_FRAME_STATE_END, deadline);
	close(fd);
	return e;
}

cl_err cl_sandbox_resume(const char *dir, const char *id)
{
	int fd;
	uint8_t type, reply[512];
	uint32_t n = 0;
	CL_GUARD(cl_sandbox_connect(dir, id, &fd));
	cl_err e = cl_sandbox_call(fd, CL_FRAME_SUSPEND, NULL, 0, &type, reply, sizeof(reply), &n);
	close(fd);
	CL_GUARD(e);
	CL_ENSURE(type == CL_FRAME_OK, CL_EUNAVAIL, "resume: %.*s", (int)n, (const char *)reply);
	return CL_OK;
}

cl_err cl_sandbox_call(int fd, uint8_t type, const void *payload, uint32_t len, uint8_t *reply_type, uint8_t *reply,
		       uint32_t reply_max, uint32_t *reply_len)
{
	uint8_t hdr[CL_FRAME_HDR];
	CL_ENSURE(cl_frame_put_header(hdr, type, len) == CL_OK, CL_ETOOBIG, "request over %u bytes", CL_FRAME_MAX);
	CL_GUARD(io_all(fd, hdr, sizeof(hdr), true));
	if (len)
		CL_GUARD(io_all(fd, (uint8_t *)payload, len, true));
	CL_GUARD(io_all(fd, hdr, sizeof(hdr), false));
	uint32_t n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	CL_ENSURE(n <= CL_FRAME_MAX && hdr[4] >= CL_FRAME_DATA && hdr[4] <= CL_FRAME_TYPE_MAX, CL_EPROTO,
		  "shim: malformed reply");
	/* A reply larger than the caller's buffer leaves the connection unusable: close it. */
	CL_ENSURE(n <= reply_max, CL_ETOOBIG, "shim: reply of %" PRIu32 " bytes exceeds %" PRIu32, n, reply_max);
	if (n)
		CL_GUARD(io_all(fd, reply, n, false));
	*reply_type = hdr[4];
	*reply_len = n;
	return CL_OK;
}

cl_err cl_sandbox_list(const char *dir, char ***ids, size_t *n)
{
	char base[1100];
	*ids = NULL;
	*n = 0;
	CL_ENSURE(snprintf(base, sizeof(base), "%s/sandboxes", dir) < (int)sizeof(base), CL_ETOOBIG, "dir too long");
	DIR *d = opendir(base);
	if (!d)
		return errno == ENOENT ? CL_OK : cl_errorf(CL_ESYS, "opendir %s: %s", base, strerror(errno));
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	cl_err e = CL_OK;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (cl_sandbox_check_id(de->d_name) != CL_OK)
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = realloc(v, nc * sizeof(*nv));
			if (!nv) {
				e = cl_errorf(CL_ENOMEM, "list: out of memory");
				break;
			}
			v = nv, cap = nc;
		}
		if (!(v[cnt] = strdup(de->d_name))) {
			e = cl_errorf(CL_ENOMEM, "list: out of memory");
			break;
		}
		cnt++;
	}
	closedir(d);
	cl_error_clear();
	if (e != CL_OK) {
		cl_sandbox_ids_free(v, cnt);
		return cl_errorf(e, "list: out of memory");
	}
	*ids = v;
	*n = cnt;
	return CL_OK;
}

void cl_sandbox_ids_free(char **ids, size_t n)
{
	for (size_t i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids);
}

static pid_t read_pid_file(const char *dir, const char *id)
{
	char path[1200], buf[32];
	if (cl_sandbox_path(path, sizeof(path), dir, id, "shim.pid") != CL_OK)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	char *end;
	long pid = strtol(buf, &end, 10);
	return (end != buf && pid > 1 && pid < (1L << 30)) ? (pid_t)pid : -1;
}

cl_err cl_sandbox_inspect(const char *dir, const char *id, cl_sandbox_info *out)
{
	int fd;
	uint8_t type, reply[1024];
	uint32_t n;
	CL_GUARD(cl_sandbox_connect(dir, id, &fd));
	cl_err e = cl_sandbox_call(fd, CL_FRAME_STATUS, NULL, 0, &type, reply, sizeof(reply) - 1, &n);
	close(fd);
	if (e != CL_OK)
		return e;
	CL_ENSURE(type == CL_FRAME_STATUS, CL_EPROTO, "shim: unexpected reply to STATUS");
	json_t *o = json_loadb((const char *)reply, n, 0, NULL);
	const char *state = json_string_value(json_object_get(o, "state"));
	json_t *ip = json_object_get(o, "init_pid"), *es = json_object_get(o, "exit_status");
	if (!state || !json_is_integer(ip) || !json_is_integer(es)) {
		json_decref(o);
		return cl_errorf(CL_EPROTO, "shim: malformed STATUS");
	}
	memset(out, 0, sizeof(*out));
	snprintf(out->id, sizeof(out->id), "%s", id);
	out->running = strcmp(state, "running") == 0;
	out->init_pid = (pid_t)json_integer_value(ip);
	out->exit_status = (int)json_integer_value(es);
	json_decref(o);
	out->shim_pid = read_pid_file(dir, id);
	uint64_t usage;
	if (cl_cgroup_memory(id, &out->memory_bytes, &usage) != CL_OK)
		out->memory_bytes = 0;
	if (cl_cgroup_is_frozen(id, &out->frozen) != CL_OK)
		out->frozen = false;
	cl_error_clear();
	return CL_OK;
}

static cl_err check_exists(const char *dir, const char *id)
{
	char path[1200];
	CL_GUARD(cl_sandbox_check_id(id));
	CL_GUARD(cl_sandbox_path(path, sizeof(path), dir, id, NULL));
	CL_ENSURE(access(path, F_OK) == 0 && cl_cgroup_exists(id), CL_ENOTFOUND, "sandbox %s: not found", id);
	return CL_OK;
}

cl_err cl_sandbox_freeze(const char *dir, const char *id, bool frozen)
{
	CL_GUARD(check_exists(dir, id));
	return cl_cgroup_freeze(id, frozen);
}

cl_err cl_sandbox_pids(const char *dir, const char *id, pid_t *out, size_t max, size_t *n)
{
	CL_GUARD(check_exists(dir, id));
	return cl_cgroup_pids(id, out, max, n);
}

cl_err cl_sandbox_set_memory(const char *dir, const char *id, uint64_t bytes)
{
	CL_ENSURE(bytes >= CL_SANDBOX_MIN_MEMORY && bytes <= CL_SANDBOX_MAX_MEMORY, CL_EINVAL,
		  "memory: %" PRIu64 " bytes is outside %llu..%llu", bytes, CL_SANDBOX_MIN_MEMORY, CL_SANDBOX_MAX_MEMORY);
	CL_GUARD(check_exists(dir, id));
	return cl_cgroup_set_memory(id, bytes);
}

/* True if fd 2 of pid is the file DIR/sandboxes/ID/shim.log (same inode). */
static bool stderr_is_log(pid_t pid, const char *dir, const char *id)
{
	char log[1200], fd2[64];
	struct stat a, b;
	if (cl_sandbox_path(log, sizeof(log), dir, id, "shim.log") != CL_OK)
		return false;
	snprintf(fd2, sizeof(fd2), "/proc/%d/fd/2", (int)pid);
	return stat(log, &a) == 0 && stat(fd2, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Whether pid is the process listening on DIR/sandboxes/ID/shim.sock
 * (SO_PEERCRED: the listener's credentials). The spare's other identity
 * for callers that cannot read its /proc/PID/fd: cloister-host's agent has
 * no CAP_SYS_PTRACE and shims are undumpable (docs/internals.md,
 * "Processes on a host"). */
static bool listens_for(pid_t pid, const char *dir, const char *id)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int fd = -1;
	if (connect_shim(dir, id, SOCK_NONBLOCK, &fd) != CL_OK)
		return false;
	bool ok = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && len == sizeof(cr) && cr.pid == pid;
	close(fd);
	return ok;
}

/* A pidfd for the shim of (dir, id), only if /proc shows that exact command
 * line and, for a shim started as a spare, its stderr is this enclave's log
 * (or, when its /proc/PID/fd is closed to us, it listens on its socket). */
static int open_shim(const char *dir, const char *id, pid_t *pid_out)
{
	pid_t pid = read_pid_file(dir, id);
	*pid_out = pid;
	if (pid <= 0)
		return -1;
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return -1;
	char path[64], cmd[4096];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, cmd, sizeof(cmd)) : -1;
	if (fd >= 0)
		close(fd);
	/* argv: EXE --shim DIR ID, or EXE --shim DIR - for a shim started as a spare */
	size_t off = n > 0 ? strnlen(cmd, (size_t)n) + 1 : 0;
	size_t dl = strlen(dir), il = strlen(id);
	bool head = n > 0 && off + 7 + dl + 1 < (size_t)n && memcmp(cmd + off, "--shim", 7) == 0 &&
		    memcmp(cmd + off + 7, dir, dl + 1) == 0;
	const char *last = cmd + off + 7 + dl + 1;
	bool named = head && off + 7 + dl + 1 + il + 1 == (size_t)n && memcmp(last, id, il + 1) == 0;
	bool spare_cmd = head && off + 7 + dl + 1 + 2 == (size_t)n && memcmp(last, "-", 2) == 0;
	/* Every spare keeps the command line `... -`, so after a pid reuse it
	 * would match the shim of another enclave: a spare's identity is its
	 * stderr, which it points at DIR/sandboxes/ID/shim.log (a file of this
	 * enclave's own directory, hence an inode no other shim holds) before
	 * it writes shim.pid. */
	bool ok = named || (spare_cmd && (stderr_is_log(pid, dir, id) || listens_for(pid, dir, id)));
	if (!ok) {
		close(pfd);
		return -1;
	}
	return pfd;
}

static bool wait_pidfd(int pfd, int ms)
{
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	uint64_t deadline = cl_now_mono_ns() + (uint64_t)ms * 1000000u;
	for (;;) {
		uint64_t now = cl_now_mono_ns();
		if (now >= deadline)
			return false;
		int rc = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
		if (rc > 0)
			return true;
		if (rc < 0 && errno != EINTR)
			return false;
	}
}

cl_err cl_sandbox_destroy(const char *dir, const char *id)
{
	char path[1200];
	cl_err first = CL_OK, e;
	CL_GUARD(cl_sandbox_check_id(id));
	CL_GUARD(cl_sandbox_path(path, sizeof(path), dir, id, NULL));
	/* 1. every task of the enclave: freeze, SIGKILL, thaw, wait until empty
	 *    (the shim is never in its enclave's cgroups) */
	pid_t shim_pid = -1;
	int pfd = open_shim(dir, id, &shim_pid);
	if (cl_cgroup_exists(id) && (e = cl_cgroup_kill_all(id)) != CL_OK)
		first = e;
	/* 2. the shim: SIGTERM, bounded wait, then SIGKILL */
	if (pfd >= 0) {
		syscall(SYS_pidfd_send_signal, pfd, SIGTERM, NULL, 0);
		if (!wait_pidfd(pfd, SHIM_EXIT_WAIT_MS)) {
			syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
			if (!wait_pidfd(pfd, SHIM_EXIT_WAIT_MS) && first == CL_OK)
				first = cl_errorf(CL_ETIMEOUT, "destroy %s: shim did not exit", id);
		}
		close(pfd);
	}
	/* 3. cgroups (after any task the shim still had has gone), then the directory */
	if (cl_cgroup_exists(id)) {
		if ((e = cl_cgroup_kill_all(id)) != CL_OK && first == CL_OK)
			first = e;
		if ((e = cl_cgroup_remove(id)) != CL_OK && first == CL_OK)
			first = e;
	}
	if ((e = cl_rm_rf(path)) != CL_OK && first == CL_OK)
		first = e;
	return first;
}

static bool probe_userns(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET) == 0 ? 0 : 1);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

void cl_sandbox_probe(cl_sandbox_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->userns = probe_userns();
	caps->cgroup_v1 = access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0 &&
			  access("/sys/fs/cgroup/freezer/cgroup.procs", F_OK) == 0;
	caps->cgroup_v2 = cl_cgroup_layout() == CL_CG_V2;
	unsigned action = SECCOMP_RET_ERRNO;
	caps->seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 &&
			syscall(SYS_seccomp, 2 /* SECCOMP_GET_ACTION_AVAIL */, 0, &action) == 0;
	caps->landlock = syscall(SYS_landlock_create_ruleset, NULL, 0, 1u /* VERSION */) > 0;
	long sfd = syscall(SYS_memfd_secret, 0);
	caps->memfd_secret = sfd >= 0;
	if (sfd >= 0)
		close((int)sfd);
}
