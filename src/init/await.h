/* await.h — cloister-init's side of provisioning (docs/provisioning.md):
 * `/init --await-bundle` runs the helper CL_INIT_HELPER
 * (cloister-init-bundle, bundle_main.c) with pipes on its stdin and stdout,
 * forwards the BUNDLE and BUNDLE_END frames it reads on the channel, and
 * gets back the answer. Init stays the channel's owner and PID 1 and links
 * no libcrypto; the helper holds the enclave's private key and exits once
 * the bundle runs. Single-threaded, blocking (no application runs while a
 * bundle is awaited).
 */
#ifndef CL_INIT_AWAIT_H
#define CL_INIT_AWAIT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/bundle.h"
#include "common/state.h"   /* CL_STATE_EXTENDS_MAX: macros only, init links no state.c */
#include "init/provision.h" /* paths and sizes the two halves share */

#define CL_INIT_WARN_MAX 512

/* Starts the helper (its signal mask: oldmask) and waits for its KEY: 0
 * with point set (warn: "" or a line the helper logged, to be forwarded),
 * -1 with reason set (the helper could not start or make the key; it is
 * gone). */
int cl_init_await_start(const sigset_t *oldmask, uint8_t point[97], char warn[CL_INIT_WARN_MAX],
			char reason[CL_INIT_REASON_MAX]);
/* KEYGEN (a suspendable enclave, docs/suspend.md): starts the helper as
 * `CL_INIT_HELPER --state` -- it then takes no bundle, only the state
 * frames -- replacing a previous suspend's (whose key dies with it), and
 * waits for its KEY: 0 with point set (warn as above), -1 with reason set
 * ("busy: the enclave awaits a bundle" while an await helper runs, or why
 * the helper could not start). Its death does not end the enclave. */
int cl_init_state_keygen(const sigset_t *oldmask, const char *enclave_id, uint8_t point[97],
			 char warn[CL_INIT_WARN_MAX], char reason[CL_INIT_REASON_MAX]);
/* Forwards a RESTORE or STATE frame p[0..n) to the KEYGEN helper: 0, or -1
 * with reason (no helper: "no_key: ...", or it is gone). */
int cl_init_state_forward(uint8_t type, const uint8_t *p, size_t n, char reason[CL_INIT_REASON_MAX]);
/* A restore's STATE_END p[0..n) to the helper, which checks the blob,
 * opens it under K_n and moves its tree into /tmp: 1 restored (end = its
 * STATE_END, to relay; exts[0..*nexts) the PCR7 extends the blob carried,
 * the EXTENDs the helper sent before it: to relay and remember once the
 * entrypoint runs), 0 an abort (empty payload: no answer), -1 refused
 * with reason (bad_blob: ..., decrypt_failed, bad_state: ..., restore:
 * ..., no_space: ...; /tmp untouched). The helper and its key are done
 * with in every case; *nexts is 0 unless 1 is returned. */
int cl_init_state_restore_end(const uint8_t *p, size_t n, uint8_t end[56],
			      uint8_t exts[CL_STATE_EXTENDS_MAX][CL_BUNDLE_EXTEND_LEN], size_t *nexts,
			      char reason[CL_INIT_REASON_MAX]);
/* Remembers one of the enclave's PCR7 extends (u8 register ‖ SHA-384, as
 * EXTEND carries it: its bundle's, or one a restore replayed); every later
 * KEYGEN helper gets them all (`--extend HEX98`), so each suspend's blob
 * carries them. At most CL_STATE_EXTENDS_MAX; more are dropped (an enclave
 * installs one bundle). */
void cl_init_extends_remember(const uint8_t e[CL_BUNDLE_EXTEND_LEN]);
/* SIGCONT to the KEYGEN helper (init stopped everything else). */
void cl_init_state_continue_helper(void);
/* Relays one of the helper's frames (STATE or STATE_END) to the host. */
typedef void (*cl_init_state_relay)(void *ctx, uint8_t type, const uint8_t *p, uint32_t n);
/* SUSPEND p[0..n) (u64 BE n ‖ wrapped K_n) to the KEYGEN helper, which
 * seals /tmp: each STATE frame and the STATE_END (SHA-384 ‖ u64 BE length)
 * it answers goes to relay, in order. Blocking. 1 when STATE_END was
 * relayed; -1 with reason (the helper's ERROR, e.g. "decrypt_failed",
 * "bad_state: ...", or "no_key: ..." without a KEYGEN helper; frames
 * already relayed must then be dropped by the host). Either way the helper
 * and its key are done with: the next suspend starts with KEYGEN. */
int cl_init_state_suspend(const uint8_t *p, size_t n, cl_init_state_relay relay, void *ctx,
			  char reason[CL_INIT_REASON_MAX]);
/* A BUNDLE chunk: forwarded to the helper, or dropped when none runs (the
 * BUNDLE_END is then answered not_awaiting_bundle). 0, or -1 if the helper
 * is gone (reason set). */
int cl_init_await_chunk(const uint8_t *p, size_t n, char reason[CL_INIT_REASON_MAX]);
/* A BUNDLE_END: 1 installed at CL_INIT_BUNDLE_DIR (digest = SHA-384 of the
 * tar), 0 refused (reason, e.g. "digest_mismatch"; still awaiting), -1 an
 * abort (empty payload: nothing to answer), -2 the helper is gone (reason). */
int cl_init_await_end(const uint8_t *p, size_t n, uint8_t digest[48], char reason[CL_INIT_REASON_MAX]);
/* The bundle runs (or init ends): closes the helper's pipes, so it wipes its
 * key and exits; later bundles are not_awaiting_bundle. Idempotent. */
void cl_init_await_done(void);
/* The installed bundle could not start: removes CL_INIT_BUNDLE_DIR; the
 * helper still awaits. */
void cl_init_await_uninstall(void);
/* True if pid (just reaped) is the await helper while it should still run:
 * it died, and the key with it (reason set; the caller ends the enclave).
 * A KEYGEN helper that dies is forgotten (false). */
bool cl_init_await_lost(pid_t pid, char reason[CL_INIT_REASON_MAX]);

#endif
