/* supervisor.h — cloister-host in agent mode is a small supervisor: the
 * service's pid, it parses no outside input and holds no key. It makes the
 * channels, forks the parts and restarts a part that dies:
 *
 *   supervisor (root, a few capabilities, undumpable, host deny-list)
 *    ├─ key holder      uid CL_HOST_KEYHOLDER_UID, no capabilities, Landlock
 *    │                  to DATA/keys, seccomp allow-list; every private key
 *    ├─ guest interface uid CL_GUESTIF_UID, no capabilities, no file system,
 *    │                  seccomp allow-list; parses what enclaves send
 *    │                  (only with --fw-root)
 *    └─ agent           root, CAP_SYS_ADMIN/SETUID/SETGID/KILL/SYS_RESOURCE
 *                       only; parses the control plane's answers, runs the
 *                       shims, the device model, the gate
 *
 * Restarts (with back-off: 200 ms doubling to 10 s, reset after 30 s of
 * life): a key holder or guest interface that dies is started again and its
 * new channel handed to the agent over the supervisor's channel
 * (agent_privsep.h); meanwhile the agent fails closed (firmware operations
 * that need a device key fail, guests' connections wait). An agent killed by
 * a signal is restarted with fresh key holder and guest interface processes
 * (they exit when its channels close); enclaves keep running and are
 * adopted. An agent that exits (fatal error, or stopped) ends the service
 * with its status. SIGTERM/SIGINT stop the agent first (it finishes a
 * sandbox change), then the others; enclaves keep running.
 * docs/internals.md "Processes on a host" has every message.
 */
#ifndef CL_HOST_SUPERVISOR_H
#define CL_HOST_SUPERVISOR_H

/* The key holder's uid and gid: owner of DATA/keys (0700). Above real users
 * and subordinate ranges, below the enclaves' (CL_SANDBOX_UID_BASE). */
#define CL_HOST_KEYHOLDER_UID 0x3fffff00u

#define CL_SUP_BACKOFF_MIN_MS 200u
#define CL_SUP_BACKOFF_MAX_MS 10000u
#define CL_SUP_STABLE_MS 30000u   /* a part that lived this long restarts without delay growth */
#define CL_SUP_LOCK_WAIT_MS 3000u /* a previous service still exiting may hold DATA/agent.lock this long */

/* cloister-host in agent mode (main.c): parses and checks the command line
 * (usage errors exit 2 before anything is touched, --help prints the
 * usage), checks the privileges, takes DATA/agent.lock and runs the parts
 * until the agent ends or a signal stops the service. Returns the exit code. */
int cl_supervisor_main(int argc, char **argv);

#endif
