/* sandbox_internal.h — pieces of the `process` backend shared by sandbox*.c
 * and shim*.c. Not a public header: the agent uses host/sandbox.h only.
 *
 *   sandbox.c          client side: launch, connect/call, list, inspect, freeze, destroy, probe
 *   sandbox_cgroup.c   cgroup v1 / v2 layout: create, attach, freeze, memory, kill, remove
 *   sandbox_child.c    the containment sequence run in the cloned child (ends in exec /init)
 *   sandbox_seccomp.c  the default-deny seccomp allow-list
 *   shim.c             the shim: spec, cgroups, clone, READY, then serving
 *   shim_serve.c       the shim's poll loop: channel, socket clients, buffers
 */
#ifndef CL_SANDBOX_INTERNAL_H
#define CL_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

#include "common/err.h"
#include "image/image.h"

#define CL_SANDBOX_MIN_MEMORY (16ull << 20)
#define CL_SANDBOX_MAX_MEMORY (1ull << 40)
#define CL_SANDBOX_MAX_CPUS 1024u
#define CL_SANDBOX_DEFAULT_PIDS 64u
#define CL_SANDBOX_MAX_PIDS 65536u
/* Host uid/gid of an enclave's root: base + the shim's pid (unique while the
 * enclave lives, since the enclave dies with its shim). See docs/sandbox.md. */
#define CL_SANDBOX_UID_BASE 0x40000000u
#define CL_SANDBOX_INIT_MAX (32u << 20)
#define CL_SANDBOX_STATUS_FD_ENV "CLOISTER_SHIM_STATUS_FD"
#define CL_SANDBOX_PRELOAD_ENV "CLOISTER_SHIM_PRELOAD" /* image a spare verifies ahead */
#define CL_SANDBOX_ASSIGN_FD 4 /* a spare shim reads its "ID\n" here */

/* Checks an enclave id: [a-z0-9-]{1,63}. */
CL_MUST_CHECK cl_err cl_sandbox_check_id(const char *id);
/* Formats DIR/sandboxes/ID[/leaf] into out[n] (leaf may be NULL). */
CL_MUST_CHECK cl_err cl_sandbox_path(char *out, size_t n, const char *dir, const char *id, const char *leaf);

/* ---- cgroups (sandbox_cgroup.c). All take the enclave id. ---- */
typedef enum { CL_CG_NONE, CL_CG_V1, CL_CG_V2 } cl_cg_layout;
/* Detects the host layout once: pure v2, v2 unified with controllers, or v1. */
cl_cg_layout cl_cgroup_layout(void);
/* Creates the enclave's cgroup(s) with limits; on failure removes what it made. */
CL_MUST_CHECK cl_err cl_cgroup_create(const char *id, uint64_t memory, uint32_t cpus, uint32_t pids_max);
/* Priming: on cgroup v1 (and v2 without favordynmods) the first task move
 * after an idle period waits for an RCU grace period (~10 ms) while holding
 * the cgroup mutex. A no-op move of the shim into its own cgroup, on a helper
 * thread, pays it while the shim clones; the real attach is then ~20 us.
 * cl_cgroup_prime_path finds the caller's cgroup.procs (allocates: call it
 * before starting the thread); cl_cgroup_prime only opens and writes, so the
 * thread holds no libc lock when the main thread clones. Best effort. */
bool cl_cgroup_prime_path(char *path, size_t n);
void cl_cgroup_prime(const char *procs_path, pid_t self);
/* Born in the cgroup (v1 only; see docs/sandbox.md "Launch latency"). While
 * idle, a spare shim makes cloister/spare-<pid> in every v1 controller and
 * moves itself in, paying the migration's RCU grace period off the launch path
 * (spare dirs of dead spares are removed first). False, with nothing left
 * behind, if any step fails (the launch then takes the classic path). The shim
 * is unkillable by the OOM killer (oom_score_adj -1000) until it leaves. */
bool cl_cgroup_born_prepare(void);
/* True while the shim sits in cgroups of its own (spare or adopted). */
bool cl_cgroup_born_inside(void);
/* On assignment: renames spare-<pid> to id in every controller and sets the
 * limits, pids.max + 1 (the shim counts until it leaves). Refused when the
 * shim's memory usage exceeds 1/8 of the limit. False (renamed back, the shim
 * still in its spare cgroups) on any failure: use cl_cgroup_create. */
bool cl_cgroup_born_adopt(const char *id, uint64_t memory, uint32_t cpus, uint32_t pids_max);
/* Gives a child cloned while born in the shim's oom_score_adj from before. */
CL_MUST_CHECK cl_err cl_cgroup_born_child(pid_t child);
/* Lowers an adopted enclave's pids.max to its limit, moves the shim back to
 * the cgroups it came from and removes unadopted spare dirs. Idempotent; a
 * no-op when not inside. Call it before killing the enclave's cgroup. */
void cl_cgroup_born_leave(void);
/* Waits (up to ms) until pid is not in the enclave's cgroup. */
void cl_cgroup_wait_left(const char *id, pid_t pid, int ms);
/* Moves pid into every enclave cgroup. */
CL_MUST_CHECK cl_err cl_cgroup_attach(const char *id, pid_t pid);
/* Freezes/thaws and waits (bounded) until the kernel reports the new state. */
CL_MUST_CHECK cl_err cl_cgroup_freeze(const char *id, bool frozen);
CL_MUST_CHECK cl_err cl_cgroup_is_frozen(const char *id, bool *frozen);
/* Current limit and usage in bytes. */
CL_MUST_CHECK cl_err cl_cgroup_memory(const char *id, uint64_t *limit, uint64_t *usage);
/* New limit; below usage -> CL_ECONFLICT (nothing changed). */
CL_MUST_CHECK cl_err cl_cgroup_set_memory(const char *id, uint64_t bytes);
/* Number of tasks in the enclave's cgroup (CL_ENOTFOUND if it has none). */
CL_MUST_CHECK cl_err cl_cgroup_count(const char *id, size_t *n);
/* Kills every task (freeze, SIGKILL, thaw) and waits until the group is empty. */
CL_MUST_CHECK cl_err cl_cgroup_kill_all(const char *id);
/* Removes the cgroup(s), waiting (bounded) for exiting tasks. Missing is OK. */
CL_MUST_CHECK cl_err cl_cgroup_remove(const char *id);
/* True if any of the enclave's cgroup directories exists. */
bool cl_cgroup_exists(const char *id);

/* ---- seccomp (sandbox_seccomp.c) ---- */
/* A compiled filter (classic BPF); insns is malloc'd. */
typedef struct cl_sandbox_bpf {
	struct sock_filter *insns;
	unsigned short len;
} cl_sandbox_bpf;
/* Compiles the enclave allow-list: unlisted syscalls fail with EPERM; a
 * foreign architecture is killed. Free with cl_sandbox_seccomp_free. */
CL_MUST_CHECK cl_err cl_sandbox_seccomp_compile(cl_sandbox_bpf *out);
/* Loads a compiled filter on the calling thread (no_new_privs must be set);
 * allocation-free, so safe in the cloned child. */
CL_MUST_CHECK cl_err cl_sandbox_seccomp_load(const cl_sandbox_bpf *bpf);
void cl_sandbox_seccomp_free(cl_sandbox_bpf *bpf);
/* compile + load. */
CL_MUST_CHECK cl_err cl_sandbox_seccomp_install(void);

/* ---- the cloned child (sandbox_child.c) ---- */
typedef struct cl_sandbox_child {
	const cl_image *img;
	const uint8_t *image_data;
	size_t image_len;
	const uint8_t *init_data;
	size_t init_len;
	uint64_t rootfs_bytes; /* tmpfs size limit of / */
	uint64_t tmp_bytes;    /* tmpfs size limit of /tmp */
	uint32_t pids_max;
	const cl_sandbox_bpf *seccomp; /* compiled by the shim beforehand */
	int channel_fd; /* becomes fd 3 */
	int sync_fd;    /* read end: one byte once maps and cgroups are set */
	int err_fd;     /* write end (CLOEXEC): "step: detail" on failure */
	const char *guest_dir; /* host dir mounted ro at /dev/cloister, or NULL */
} cl_sandbox_child;

/* clone() entry point: runs the containment sequence and execs /init. Never
 * returns on success; on failure writes the failing step to err_fd and exits 1. */
int cl_sandbox_child_main(void *arg);

/* ---- the shim (shim.c, shim_serve.c) ---- */
#define CL_SHIM_OUT_MAX (1u << 20)  /* buffered application output */
#define CL_SHIM_IN_MAX (1u << 20)   /* queued input to the enclave */
#define CL_SHIM_LOG_MAX (64u << 10) /* log ring */
#define CL_SHIM_CLIENTS 16
#define CL_SHIM_READY_MS 10000 /* launch: exec'd /init -> READY */

/* A byte queue with a hard maximum (contents are application data: wiped on free). */
typedef struct cl_shim_queue {
	uint8_t *data;
	size_t head, len, max;
} cl_shim_queue;

typedef struct cl_shim_client {
	int fd;                /* -1 when the slot is free */
	uint8_t *dec_buf;
	struct cl_frame_dec *dec;
	cl_shim_queue reply;   /* reply being written */
	bool parked;           /* a RECV waiting for output */
	uint32_t recv_max;
	uint64_t deadline_ns;
	uint64_t park_seq;
} cl_shim_client;

typedef struct cl_shim {
	char dir[1024], id[64];
	int status_fd;         /* to the launcher until READY or failure, then -1 */
	pid_t init_pid;        /* host pid of the enclave's PID 1 */
	int chan;              /* host end of the channel, non-blocking */
	int listen_fd, sig_fd;
	cl_sandbox_bpf seccomp; /* compiled before the id is known (spares do it ahead) */
	bool ready, app_exited, chan_closed, init_reaped, stop;
	int exit_status;
	uint64_t ready_deadline_ns;
	uint8_t *chan_buf;
	struct cl_frame_dec *chan_dec;
	cl_shim_queue out, in, log;
	cl_shim_client clients[CL_SHIM_CLIENTS];
	uint64_t park_counter;
} cl_shim;

/* Serves the channel and the socket until SIGTERM (or a launch failure);
 * reports READY / failure on status_fd. Returns the shim's exit code. */
/* Serves the channel and the socket until told to stop; returns the exit code. */
int cl_shim_serve(cl_shim *s);

#endif
