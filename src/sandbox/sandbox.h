/* sandbox.h — the `process` backend: launching and managing one enclave
 * through its shim (see docs/internals.md).
 *
 * Layout under the host data dir DIR: DIR/sandboxes/ID/{spec.json,shim.sock,shim.pid}.
 * Every containment step fails closed: if any step fails the enclave is not
 * started and cl_sandbox_launch reports which step failed.
 */
#ifndef CL_SANDBOX_H
#define CL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

typedef struct cl_sandbox_spec {
	const char *id;          /* enclave id: [a-z0-9-]{1,63} */
	const char *image_path;  /* image file on the host (already digest-checked) */
	const char *init_path;   /* host path of the static cloister-init binary */
	uint64_t memory_bytes;   /* cgroup memory limit (>= 16 MiB) */
	uint32_t cpus;           /* CPU quota in whole CPUs (>= 1) */
	uint32_t pids_max;       /* max tasks inside (default 64 when 0) */
	bool await_bundle;       /* start no application: /init --await-bundle (docs/provisioning.md) */
	bool suspendable;        /* may be suspended: /init --suspendable, which starts init-bundle on
				    KEYGEN (docs/suspend.md) */
	bool await_restore;      /* with suspendable: run nothing until a state blob is restored into
				    /tmp (/init --await-restore, init-bundle's key at once) */
	const char *helper_path; /* with await_bundle or suspendable: host path of cloister-init-bundle,
				    copied in as /init-bundle (the only launches that get it); else
				    ignored */
	/* Called once, if set, while the sandbox starts (after the shim is
	 * asked to build it, before its READY is awaited): work the caller
	 * needs done by the time the enclave runs, off the launch's path. */
	void (*while_starting)(void *arg);
	void *while_starting_arg;
} cl_sandbox_spec;

typedef struct cl_sandbox_info {
	char id[64];
	pid_t shim_pid;
	pid_t init_pid;          /* host-side pid of the enclave's PID 1 */
	bool running;            /* application still running */
	bool frozen;
	int exit_status;         /* wait status when !running */
	uint64_t memory_bytes;   /* current limit */
} cl_sandbox_info;

/* Launches an enclave: spawns `self_exe --shim DIR ID` which builds the sandbox
 * and returns once the application runs (READY) or the launch failed (the
 * detail names the failing step, e.g. "seccomp: ..."). self_exe is the path of
 * the cloister-host binary. On failure nothing is left behind.
 * To keep launches fast the calling process keeps a pool of spare shims
 * (`self_exe --shim DIR -`, refilled by a background thread after each
 * launch), each with a sandbox prepared ahead; a launch hands one the id.
 * Spares exit, removing what they prepared, when the caller exits; a forked
 * child starts with an empty pool. Thread-safe. See docs/sandbox.md. */
CL_MUST_CHECK cl_err cl_sandbox_launch(const char *self_exe, const char *dir, const cl_sandbox_spec *spec,
				       cl_sandbox_info *out);
/* cl_sandbox_launch with a guest directory: guest_dir (NULL = none) is an
 * absolute host directory of root's (the agent uses DATA/guest/ID, holding
 * the firmware guest interface's fw.sock, see host/guestif.h) that the
 * enclave sees at /dev/cloister, bind-mounted read-only, nosuid, nodev,
 * noexec. The directory, not its files, is mounted: a socket re-created in
 * it later is seen by the running enclave. A guest_dir that is not a
 * directory fails the launch (step "guest"). (Meant to become a field of
 * cl_sandbox_spec once the positional initialisers of that struct in
 * tests/unit/test_sandbox.c and bench/bench_launch.c are designated.) */
CL_MUST_CHECK cl_err cl_sandbox_launch_guest(const char *self_exe, const char *dir, const cl_sandbox_spec *spec,
					     const char *guest_dir, cl_sandbox_info *out);
/* Entry point of the shim process (`cloister-host --shim DIR ID`); does not return
 * on success. Returns an exit code on failure. */
int cl_sandbox_shim_main(const char *dir, const char *id);

/* Connects to a running enclave's shim socket; *fd is the caller's to close. */
CL_MUST_CHECK cl_err cl_sandbox_connect(const char *dir, const char *id, int *fd);
/* As cl_sandbox_connect, but *fd is non-blocking and the connect never
 * waits: a shim whose listen backlog is full is CL_EUNAVAIL (for event loops). */
CL_MUST_CHECK cl_err cl_sandbox_connect_nonblock(const char *dir, const char *id, int *fd);
/* One request/reply on a shim connection (frame protocol of docs/internals.md).
 * reply must hold at least reply_max bytes; *reply_len is set. */
CL_MUST_CHECK cl_err cl_sandbox_call(int fd, uint8_t type, const void *payload, uint32_t len,
				     uint8_t *reply_type, uint8_t *reply, uint32_t reply_max,
				     uint32_t *reply_len);

/* The enclave's own public key (cloister-init's KEY, kept by its shim: only
 * an enclave that awaits or awaited a bundle has one) into point, asked with
 * a 1 s bound. CL_ENOTFOUND if it has none or its shim is gone. */
CL_MUST_CHECK cl_err cl_sandbox_key(const char *dir, const char *id, uint8_t point[97]);
/* The SHA-384 of the bundle the enclave installed (cloister-init's EXTEND,
 * kept by its shim), asked with a 1 s bound. CL_ENOTFOUND if none is
 * installed or its shim is gone. */
CL_MUST_CHECK cl_err cl_sandbox_bundle(const char *dir, const char *id, uint8_t sha384[48]);

/* cloister-init's list of its application's code and data (a FILES
 * payload: docs/measurements.md, PCR5) from the enclave's shim: fresh asks
 * init now, bounded at wait_ms (CL_ETIMEOUT past it: init is busy, frozen
 * or hostile); otherwise the last list init reported (len 0: none yet).
 * *out (malloc'd, may be NULL when *len is 0) is the caller's to free.
 * Nothing in it is checked here (cl_rtm_files_parse does). */
CL_MUST_CHECK cl_err cl_sandbox_files(const char *dir, const char *id, bool fresh, int wait_ms, uint8_t **out,
				      uint32_t *len);

/* Asks a suspendable enclave's init for a key of its own (KEYGEN,
 * docs/suspend.md): init starts cloister-init-bundle, which makes a fresh
 * P-384 key pair and answers KEY, written into point (the shim keeps it
 * and shows it in STATUS as the enclave's key from then on). Bounded at
 * timeout_ms. CL_ECONFLICT with init's reason (e.g. "not_suspendable",
 * "busy: ...") if it refused, CL_ENOTFOUND if the shim is gone,
 * CL_ETIMEOUT past the bound. */
CL_MUST_CHECK cl_err cl_sandbox_keygen(const char *dir, const char *id, uint32_t timeout_ms, uint8_t point[97]);

/* Receives the state blob's bytes in order (cl_sandbox_suspend); returns
 * CL_OK, or an error that stops the suspend. */
typedef cl_err (*cl_sandbox_state_sink)(void *ctx, const uint8_t *p, size_t n);

/* Suspends a suspendable enclave's state (SUSPEND, docs/suspend.md), after
 * a cl_sandbox_keygen whose key K_n was wrapped to: payload is u64 BE n ‖
 * the wrapped K_n. The application is stopped, its /tmp sealed by
 * init-bundle into blob n and streamed to sink; sha384/length get what
 * STATE_END announced (the caller checks the bytes against them). Bounded
 * at timeout_ms in all. CL_ECONFLICT with the enclave's reason
 * (decrypt_failed, bad_state: ..., no_key: ..., not_suspendable: ...)
 * and the application runs on; the sink's error; CL_ETIMEOUT; CL_ENOTFOUND
 * if the shim is gone. On success the application stays stopped:
 * cl_sandbox_resume, or destroy the sandbox. */
CL_MUST_CHECK cl_err cl_sandbox_suspend(const char *dir, const char *id, const uint8_t *payload, uint32_t len,
					uint32_t timeout_ms, cl_sandbox_state_sink sink, void *ctx,
					uint8_t sha384[48], uint64_t *length);
/* Resumes an application a suspend stopped (an empty SUSPEND: init sends
 * SIGCONT to every process). CL_ENOTFOUND if the shim is gone. */
CL_MUST_CHECK cl_err cl_sandbox_resume(const char *dir, const char *id);

/* Restores a state blob into a sandbox launched await_restore, after a
 * cl_sandbox_keygen (or the KEY of its launch) whose key K_n was wrapped
 * to: payload is u64 BE n ‖ the wrapped K_n; then blob[0..len) in STATE
 * chunks and STATE_END with sha384 (of the blob) and len. init-bundle
 * checks it, opens it (tag first) into /tmp and init starts the
 * entrypoint. Bounded at timeout_ms in all. CL_ECONFLICT with the
 * enclave's reason (decrypt_failed, bad_blob: ..., bad_state: ...,
 * restore: ..., not_awaiting_restore: ...; nothing runs, /tmp untouched),
 * CL_ETIMEOUT, CL_ENOTFOUND if the shim is gone. */
CL_MUST_CHECK cl_err cl_sandbox_restore(const char *dir, const char *id, const uint8_t *payload, uint32_t plen,
					const uint8_t *blob, size_t len, const uint8_t sha384[48], uint32_t timeout_ms);

/* Lists the ids of sandboxes present under DIR/sandboxes (running or not).
 * *ids is malloc'd, each entry malloc'd: free with cl_sandbox_ids_free. */
CL_MUST_CHECK cl_err cl_sandbox_list(const char *dir, char ***ids, size_t *n);
void cl_sandbox_ids_free(char **ids, size_t n);
/* Current state of one sandbox (CL_ENOTFOUND if its shim is gone). */
CL_MUST_CHECK cl_err cl_sandbox_inspect(const char *dir, const char *id, cl_sandbox_info *out);

/* Freezes (stop/pause) or thaws every task of the enclave (cgroup freezer). */
CL_MUST_CHECK cl_err cl_sandbox_freeze(const char *dir, const char *id, bool frozen);
/* The host pids of every process of the enclave (its cgroup's procs) into
 * out[0..*n); CL_ELIMIT if there are more than max, CL_ENOTFOUND if the
 * sandbox does not exist. */
CL_MUST_CHECK cl_err cl_sandbox_pids(const char *dir, const char *id, pid_t *out, size_t max, size_t *n);
/* Changes the memory limit; shrinking below current usage fails with CL_ECONFLICT. */
CL_MUST_CHECK cl_err cl_sandbox_set_memory(const char *dir, const char *id, uint64_t bytes);
/* Kills every task of the enclave and its shim, removes its cgroups and
 * DIR/sandboxes/ID. Idempotent: a missing sandbox is CL_OK. */
CL_MUST_CHECK cl_err cl_sandbox_destroy(const char *dir, const char *id);

/* What this host really has: fills booleans after probing the kernel. */
typedef struct cl_sandbox_caps {
	bool userns, cgroup_v1, cgroup_v2, seccomp, landlock, memfd_secret;
} cl_sandbox_caps;
void cl_sandbox_probe(cl_sandbox_caps *caps);

#endif
