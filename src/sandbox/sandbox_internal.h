/* sandbox_internal.h — pieces of the `process` backend shared by sandbox*.c
 * and shim*.c. Not a public header: the agent uses host/sandbox.h only.
 *
 *   sandbox.c          client side: launch (and the pool of spare shims), connect/call,
 *                      list, inspect, freeze, destroy, probe
 *   sandbox_pool.c     the launcher's pool of spare shims (refilled by a thread)
 *   sandbox_cgroup.c   cgroups, the common part: create, attach, freeze, kill, remove, spares
 *   sandbox_cgroup_v1.c, sandbox_cgroup_v2.c  one ops table per cgroup version
 *   sandbox_child.c    the containment sequence run in the cloned child (ends in exec /init)
 *   sandbox_seccomp.c  the default-deny seccomp allow-list
 *   shim.c             the shim: spare or not, spec, image, then serving
 *   shim_prep.c        the shim's half of the containment sequence (cgroups, clone, go)
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
#define CL_SANDBOX_INIT_ENV "CLOISTER_SHIM_INIT"       /* cloister-init a spare prepares with */
/* A spare shim says on this socket whether it prepared a sandbox ("P") or
 * not ("U"), then reads its "ID\n" there. */
#define CL_SANDBOX_ASSIGN_FD 4

/* Checks an enclave id: [a-z0-9-]{1,63}. */
CL_MUST_CHECK cl_err cl_sandbox_check_id(const char *id);
/* Formats DIR/sandboxes/ID[/leaf] into out[n] (leaf may be NULL). */
CL_MUST_CHECK cl_err cl_sandbox_path(char *out, size_t n, const char *dir, const char *id, const char *leaf);

/* ---- the launcher's spare shims (sandbox_pool.c) ---- */
#define CL_SANDBOX_POOL_SIZE 2
/* Starts the shim of enclave id: hands the id to a spare of (self_exe, dir),
 * the best prepared for the launch of image if there is one, or spawns a
 * shim now. *status_fd is its status pipe (the caller closes it). Thread-safe. */
CL_MUST_CHECK cl_err cl_sandbox_pool_start(const char *self_exe, const char *dir, const char *id, const char *image,
					   int *status_fd);
/* After a launch: keep CL_SANDBOX_POOL_SIZE spares of (self_exe, dir), each
 * preloading image and preparing with init; a background thread spawns them.
 * Best effort (launches work without spares). Thread-safe. */
void cl_sandbox_pool_refill(const char *self_exe, const char *dir, const char *image, const char *init);
/* Spares held now. *nprepared (may be NULL) of them said they prepared a
 * sandbox; the pids of the first max of those shims go to prepared[]. */
size_t cl_sandbox_pool_list(pid_t *prepared, size_t max, size_t *nprepared);

/* ---- cgroups (sandbox_cgroup.c: the common part; one file per version,
 *      sandbox_cgroup_v1.c and sandbox_cgroup_v2.c, behind an ops table,
 *      sandbox_cgroup.h). A cgroup is named by an enclave id, or spare-<pid>
 *      for a prepared sandbox that has no id yet. ---- */
typedef enum { CL_CG_NONE, CL_CG_V1, CL_CG_V2 } cl_cg_layout;
/* Detects the host layout once: pure v2, v2 unified with controllers, or v1. */
cl_cg_layout cl_cgroup_layout(void);
/* Creates the cgroup's directories (an empty leftover is replaced), without
 * limits yet; on failure removes what it made. */
CL_MUST_CHECK cl_err cl_cgroup_create(const char *name);
/* Memory limit (kept out of swap, see docs/sandbox.md), CPU quota, pids.max. */
CL_MUST_CHECK cl_err cl_cgroup_set_limits(const char *name, uint64_t memory, uint32_t cpus, uint32_t pids_max);
/* A prepared sandbox's cgroup: removes the spare-<pid> cgroups of spare
 * shims that are gone, then creates spare-<own pid>, its name in name[n]. */
CL_MUST_CHECK cl_err cl_cgroup_create_spare(char *name, size_t n);
/* Gives cgroup `from`, which holds pid, the name `to` (the enclave id): a
 * rename on v1, so no task moves; v2 cannot rename, so `to` is created, pid
 * moved into it and `from` removed. A no-op when the names are equal. On
 * failure `from` is left as it was. */
CL_MUST_CHECK cl_err cl_cgroup_adopt(const char *from, const char *to, pid_t pid);
/* Priming: on cgroup v1 (and v2 without favordynmods) the first task move
 * after an idle period waits for an RCU grace period (~10 ms) while holding
 * the cgroup mutex. A no-op move of a forked helper into its own cgroup pays
 * it while the shim clones; the real attach is then ~20 us.
 * cl_cgroup_prime_path finds the caller's cgroup.procs (allocates: call it
 * before forking); cl_cgroup_prime only opens and writes. Best effort. */
bool cl_cgroup_prime_path(char *path, size_t n);
void cl_cgroup_prime(const char *procs_path, pid_t self);
/* Moves pid into every directory of the cgroup. */
CL_MUST_CHECK cl_err cl_cgroup_attach(const char *name, pid_t pid);
/* Freezes/thaws and waits (bounded) until the kernel reports the new state. */
CL_MUST_CHECK cl_err cl_cgroup_freeze(const char *name, bool frozen);
CL_MUST_CHECK cl_err cl_cgroup_is_frozen(const char *name, bool *frozen);
/* Current limit and usage in bytes. */
CL_MUST_CHECK cl_err cl_cgroup_memory(const char *name, uint64_t *limit, uint64_t *usage);
/* New limit; below usage -> CL_ECONFLICT (nothing changed). */
CL_MUST_CHECK cl_err cl_cgroup_set_memory(const char *name, uint64_t bytes);
/* Number of tasks in the cgroup (CL_ENOTFOUND if it does not exist). */
CL_MUST_CHECK cl_err cl_cgroup_count(const char *name, size_t *n);
/* The host pids of the cgroup's processes (cgroup.procs) into out[0..*n);
 * more than max: CL_ELIMIT (out holds the first max). */
CL_MUST_CHECK cl_err cl_cgroup_pids(const char *name, pid_t *out, size_t max, size_t *n);
/* Kills every task (cgroup.kill, or freeze, SIGKILL, thaw) and waits until the group is empty. */
CL_MUST_CHECK cl_err cl_cgroup_kill_all(const char *name);
/* Removes the cgroup's directories, waiting (bounded) for exiting tasks. Missing is OK. */
CL_MUST_CHECK cl_err cl_cgroup_remove(const char *name);
/* True if any of the cgroup's directories exists. */
bool cl_cgroup_exists(const char *name);

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

/* ---- the cloned child (sandbox_child.c) ----
 * The child runs the containment sequence in two halves. The first needs
 * nothing of the image or the limits (mounts, /init, pivot_root, hostname,
 * loopback); then the child says "P" on sync_fd and waits for a go message
 * (cl_sandbox_go) with the per-launch values, and runs the second half
 * (root and /tmp sizes, /dev/cloister, the image, read-only /, rlimits,
 * capabilities, no_new_privs, seccomp, exec /init). A spare shim parks a
 * prepared child between the halves until an enclave is assigned to it; a
 * shim started for a known enclave sends go at once. */
typedef struct cl_sandbox_child {
	const cl_image *img;        /* parsed before the clone, or NULL: go brings a memfd */
	const uint8_t *image_data;
	size_t image_len;
	const uint8_t *init_data;
	size_t init_len;
	uint64_t rootfs_bytes;      /* first-half tmpfs size and inodes of / (cl_sandbox_rootfs_size) */
	uint64_t rootfs_inodes;
	uint64_t tmp_bytes;         /* first-half tmpfs size of /tmp (go may change it) */
	const cl_sandbox_bpf *seccomp; /* compiled by the shim beforehand */
	int channel_fd; /* becomes fd 3 */
	int sync_fd;    /* SOCK_SEQPACKET: "m" (id maps written), "c" (in its cgroups), go; "P" back */
	int err_fd;     /* write end (CLOEXEC): "step: detail" on failure */
} cl_sandbox_child;

#define CL_SANDBOX_GO_MAGIC 0x436c476fu /* "ClGo" */
/* The go message (shim -> child): fixed size, host-endian, with 0-3 fds
 * (SCM_RIGHTS) in this order: the image memfd (sealed) when image_fd is 1,
 * the detached /dev/cloister mount when guest is 1, then a sealed memfd of
 * cloister-init-bundle when helper is 1 (with await_bundle or suspendable, and
 * only then). */
typedef struct cl_sandbox_go {
	uint32_t magic;
	uint32_t pids_max;
	uint64_t tmp_bytes; /* size of /tmp: a quarter of the memory limit */
	uint32_t image_fd;  /* 0: the image is cl_sandbox_child.img (parsed before the clone) */
	uint32_t guest;
	uint32_t await_bundle; /* 1: exec /init --await-bundle instead of the entrypoint */
	uint32_t helper;       /* 1: a memfd to write as /init-bundle (await_bundle or suspendable only) */
	uint32_t suspendable;  /* 1: exec /init --suspendable ID ... (init-bundle started on KEYGEN) */
	uint32_t await_restore; /* 1 (with suspendable): /init ... --await-restore ENTRYPOINT ... */
	char id[64];           /* the enclave's id (NUL-terminated): a suspendable init's, for its blobs */
} cl_sandbox_go;

/* Size and inodes of the root tmpfs: the image + /init (init_len: with
 * /init-bundle's, when there is one) + 4 MiB, 16 inodes
 * per image file (each path may have 15 parent directories of its own) + 64.
 * img NULL (a prepared child, image not known yet): room for /init alone. */
void cl_sandbox_rootfs_size(const cl_image *img, size_t image_len, size_t init_len, uint64_t *bytes,
			    uint64_t *inodes);

/* clone() entry point: runs the containment sequence and execs /init. Never
 * returns on success; on failure writes the failing step to err_fd and exits 1. */
int cl_sandbox_child_main(void *arg);
/* The entrypoint must be one of the image's files and executable. */
CL_MUST_CHECK cl_err cl_sandbox_check_entrypoint(const cl_image *img);

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
	bool stalled;          /* its next BUNDLE frame waits for room in the enclave's input queue */
	bool prov_wait;        /* sent BUNDLE_END: waits for init's EXTEND or ERROR */
	bool files_wait;       /* sent FILES_REQ (ask init): waits for init's FILES */
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
	/* provisioning (docs/provisioning.md) */
	bool has_key, provisioned, abort_pending;
	bool await_bundle;           /* launched awaiting a bundle (its KEY is the bundle's) */
	bool await_restore;          /* launched awaiting a restore (its KEY is the restore's) */
	bool restoring;              /* prov sent RESTORE: STATE, STATE_END go to init, its STATE_END or ERROR answers */
	bool keygen;                 /* prov sent KEYGEN: init's KEY (or ERROR) is its answer */
	bool suspending;             /* prov sent SUSPEND: init's STATE frames, STATE_END (or ERROR) are its answer */
	uint8_t key[97];             /* init's KEY: the enclave's public point */
	uint8_t bundle_sha384[48];   /* init's EXTEND: what it installed */
	cl_shim_client *prov;        /* the client whose transfer is in progress, or NULL */
	/* measure on demand: init's latest FILES payload (malloc'd; NULL: none yet) */
	uint8_t *files;
	uint32_t files_len;
} cl_shim;

/* Serves the channel and the socket until SIGTERM (or a launch failure);
 * reports READY / failure on status_fd. Returns the shim's exit code. */
int cl_shim_serve(cl_shim *s);

/* ---- building a sandbox (shim_prep.c) ----
 * cl_shim_prep_cgroups, cl_shim_prep_clone, [cl_shim_prep_wait], cl_shim_prep_go
 * in that order; cl_shim_prep_discard after any failure (or to drop a prepared
 * sandbox). A spare shim runs the first three before it has an enclave. */
typedef struct cl_shim_prep {
	pid_t child;           /* -1: none */
	int chan, sync, err;   /* host ends: channel, sync socket, error pipe */
	void *stack;
	char cgroup[64];       /* its cgroups: the enclave id or spare-<pid> */
	bool cgroups;          /* made by us and not yet the running enclave's */
	bool parked;           /* the child finished its first half */
	bool has_image;        /* the child holds a parsed image (cl_sandbox_child.img) */
	uint64_t rootfs_bytes;
} cl_shim_prep;

typedef struct cl_shim_limits {
	uint64_t memory_bytes;
	uint32_t cpus, pids_max;
	bool await_bundle;
	bool suspendable;
	bool await_restore;
} cl_shim_limits;

void cl_shim_prep_init(cl_shim_prep *p);
/* The sandbox's cgroups: named id, or (id NULL) spare-<own pid>. */
CL_MUST_CHECK cl_err cl_shim_prep_cgroups(cl_shim_prep *p, const char *id);
/* Clones the child into new user, pid, mount, net, ipc and uts namespaces,
 * writes its id maps, releases it, moves it into the cgroups and releases it
 * again: it runs the first half of cl_sandbox_child_main. img/image may be
 * NULL (the go message then brings the image). prime: pay the cgroup
 * migration's grace period on a forked helper meanwhile. The caller must be
 * single-threaded. The child's own error, if it gave one, is the detail. */
CL_MUST_CHECK cl_err cl_shim_prep_clone(cl_shim_prep *p, const cl_sandbox_bpf *bpf, const uint8_t *init,
					size_t init_len, const cl_image *img, const uint8_t *image, size_t image_len,
					bool prime);
/* Waits (up to ms) until the child has finished its first half. */
CL_MUST_CHECK cl_err cl_shim_prep_wait(cl_shim_prep *p, int ms);
/* True while a parked child waits for go (it has not died or failed). */
bool cl_shim_prep_alive(const cl_shim_prep *p);
/* Completes the launch of s->id: the cgroups get the id (cl_cgroup_adopt)
 * and the limits, the child gets the go message (image_fd: a sealed memfd of
 * the image, or -1 for the image it holds; helper_fd: a sealed memfd of
 * cloister-init-bundle for an enclave awaiting a bundle, else -1; guest_dir:
 * NULL or the host directory for /dev/cloister) and execs /init. On success s->init_pid and
 * s->chan are set and the cgroups are the enclave's; on failure nothing is
 * left. Always ends in cl_shim_prep_discard. */
CL_MUST_CHECK cl_err cl_shim_prep_go(cl_shim_prep *p, cl_shim *s, const cl_shim_limits *lim, int image_fd,
				     int helper_fd, const char *guest_dir);
/* Kills the child, removes the cgroups still ours, closes everything;
 * keeps the caller's error detail. Idempotent. */
void cl_shim_prep_discard(cl_shim_prep *p);

#endif
