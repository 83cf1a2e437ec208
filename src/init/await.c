/* await.c — cloister-init runs the provisioning helper and talks to it
 * (await.h; the helper's side: bundle_main.c).
 */
#include "init/await.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/frame.h"
#include "common/rawio.h"

#define ANSWER_MAX CL_INIT_STATE_CHUNK /* LOG, KEY, ERROR, EXTEND: small; STATE chunks */

extern char **environ;

static struct {
	int to, from; /* the helper's stdin (our write end) and stdout (our read end); -1: none */
	pid_t pid;    /* the helper while it should run, else -1 */
	bool state;   /* started by KEYGEN (`--state`): takes no bundle; its death ends nothing */
	cl_frame_dec dec;
	uint8_t storage[CL_FRAME_HDR + ANSWER_MAX];
} h = {.to = -1, .from = -1, .pid = -1};

/* The enclave's PCR7 extends (u8 register ‖ SHA-384): its bundle's, or
 * those a restore replayed; each KEYGEN helper gets them (`--extend`). */
static struct {
	uint8_t v[CL_STATE_EXTENDS_MAX][CL_BUNDLE_EXTEND_LEN];
	size_t n;
} ext;

void cl_init_extends_remember(const uint8_t e[CL_BUNDLE_EXTEND_LEN])
{
	if (ext.n < CL_STATE_EXTENDS_MAX)
		memcpy(ext.v[ext.n++], e, CL_BUNDLE_EXTEND_LEN);
}

static void gone(char reason[CL_INIT_REASON_MAX], const char *what)
{
	snprintf(reason, CL_INIT_REASON_MAX, "provisioning helper %s: %s", CL_INIT_HELPER, what);
	cl_init_await_done();
}

/* The helper's next frame (blocking). false at EOF, on a read error, or on a
 * malformed frame. */
static bool next_answer(uint8_t *type, const uint8_t **p, uint32_t *n)
{
	for (;;) {
		bool got = false;
		if (cl_frame_pull(&h.dec, &got, type, p, n) != CL_OK)
			return false;
		if (got)
			return true;
		ssize_t r = read(h.from, cl_frame_dec_tail(&h.dec), cl_frame_dec_space(&h.dec));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		cl_frame_dec_commit(&h.dec, (size_t)r);
	}
}

/* Starts the helper (with `--state ID` when state_id is set) and waits for its KEY. */
static int helper_start(const sigset_t *oldmask, const char *state_id, uint8_t point[97],
			char warn[CL_INIT_WARN_MAX], char reason[CL_INIT_REASON_MAX])
{
	bool state = state_id != NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, ex[2] = {-1, -1};
	warn[0] = '\0';
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(ex, O_CLOEXEC)) {
		snprintf(reason, CL_INIT_REASON_MAX, "provisioning helper: pipe: %s", strerror(errno));
		goto fail;
	}
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(reason, CL_INIT_REASON_MAX, "provisioning helper: fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		/* stdin/stdout the pipes, stderr init's (/dev/null); not the channel */
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0u, 4 /* CLOSE_RANGE_CLOEXEC */);
		/* --state ID, then --extend HEX98 per PCR7 extend (a suspend writes them into the blob) */
		static const char digits[] = "0123456789abcdef";
		static char hex[CL_STATE_EXTENDS_MAX][2 * CL_BUNDLE_EXTEND_LEN + 1];
		char *argv[4 + 2 * CL_STATE_EXTENDS_MAX] = {(char *)CL_INIT_HELPER, state ? (char *)"--state" : NULL,
							     (char *)state_id, NULL};
		for (size_t i = 0; state && i < ext.n; i++) {
			for (size_t b = 0; b < CL_BUNDLE_EXTEND_LEN; b++) {
				hex[i][2 * b] = digits[ext.v[i][b] >> 4];
				hex[i][2 * b + 1] = digits[ext.v[i][b] & 15];
			}
			hex[i][2 * CL_BUNDLE_EXTEND_LEN] = '\0';
			argv[3 + 2 * i] = (char *)"--extend";
			argv[4 + 2 * i] = hex[i];
		}
		execve(argv[0], argv, environ);
		int e = errno;
		if (write(ex[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(in[0]), close(out[1]), close(ex[1]);
	in[0] = out[1] = ex[1] = -1;
	h.to = in[1], h.from = out[0], h.pid = pid, h.state = state;
	cl_frame_dec_init(&h.dec, h.storage, sizeof(h.storage), ANSWER_MAX);
	int e = 0;
	ssize_t r;
	while ((r = read(ex[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(ex[0]);
	if (r > 0) {
		gone(reason, strerror(e)); /* not exec'd; init reaps the child */
		return -1;
	}
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t n;
		if (!next_answer(&type, &p, &n)) {
			gone(reason, "ended before its key");
			return -1;
		}
		if (type == CL_FRAME_LOG && !warn[0]) {
			snprintf(warn, CL_INIT_WARN_MAX, "%.*s", (int)n, (const char *)p);
		} else if (type == CL_FRAME_ERROR) {
			snprintf(reason, CL_INIT_REASON_MAX, "%.*s", (int)n, (const char *)p);
			cl_init_await_done();
			return -1;
		} else if (type == CL_FRAME_KEY && n == 97 && p[0] == 0x04) {
			memcpy(point, p, 97);
			return 0;
		} else {
			gone(reason, "unexpected answer before its key");
			return -1;
		}
	}
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (ex[i] >= 0)
			close(ex[i]);
	}
	return -1;
}

int cl_init_await_start(const sigset_t *oldmask, uint8_t point[97], char warn[CL_INIT_WARN_MAX],
			char reason[CL_INIT_REASON_MAX])
{
	return helper_start(oldmask, NULL, point, warn, reason);
}

int cl_init_state_keygen(const sigset_t *oldmask, const char *enclave_id, uint8_t point[97],
			 char warn[CL_INIT_WARN_MAX], char reason[CL_INIT_REASON_MAX])
{
	if (h.to >= 0 && !h.state) {
		snprintf(reason, CL_INIT_REASON_MAX, "busy: the enclave awaits a bundle");
		return -1;
	}
	cl_init_await_done(); /* a previous suspend's helper: its key goes with it */
	return helper_start(oldmask, enclave_id, point, warn, reason);
}

int cl_init_state_forward(uint8_t type, const uint8_t *p, size_t n, char reason[CL_INIT_REASON_MAX])
{
	if (h.to < 0 || !h.state) {
		snprintf(reason, CL_INIT_REASON_MAX, "no_key: KEYGEN first (the restore's key is made on demand)");
		return -1;
	}
	if (cl_frame_send_fd(h.to, type, p, (uint32_t)n) != CL_OK) {
		gone(reason, strerror(errno));
		return -1;
	}
	return 0;
}

int cl_init_state_restore_end(const uint8_t *p, size_t n, uint8_t end[56],
			      uint8_t exts[CL_STATE_EXTENDS_MAX][CL_BUNDLE_EXTEND_LEN], size_t *nexts,
			      char reason[CL_INIT_REASON_MAX])
{
	uint8_t type, reg;
	const uint8_t *a;
	uint32_t an;
	*nexts = 0;
	if (cl_init_state_forward(CL_FRAME_STATE_END, p, n, reason) != 0)
		return -1;
	if (n == 0) {
		cl_init_await_done(); /* an abort: the helper wipes its key and ends */
		return 0;
	}
	for (;;) {
		if (!next_answer(&type, &a, &an)) {
			*nexts = 0;
			gone(reason, "ended");
			return -1;
		}
		if (type != CL_FRAME_EXTEND)
			break;
		/* the PCR7 extends the blob carries, before its STATE_END */
		if (*nexts == CL_STATE_EXTENDS_MAX || cl_bundle_extend_parse(a, an, &reg, exts[*nexts] + 1) != CL_OK) {
			*nexts = 0;
			gone(reason, "malformed EXTEND");
			return -1;
		}
		exts[(*nexts)++][0] = reg;
	}
	if (type == CL_FRAME_ERROR) {
		*nexts = 0;
		snprintf(reason, CL_INIT_REASON_MAX, "%.*s", (int)an, (const char *)a);
		cl_init_await_done();
		return -1;
	}
	if (type != CL_FRAME_STATE_END || an != 56) {
		*nexts = 0;
		gone(reason, "malformed answer");
		return -1;
	}
	memcpy(end, a, 56);
	cl_init_await_done(); /* restored: the helper wiped K_n and its key */
	return 1;
}

void cl_init_state_continue_helper(void)
{
	if (h.pid > 0 && h.state)
		kill(h.pid, SIGCONT);
}

int cl_init_state_suspend(const uint8_t *p, size_t n, cl_init_state_relay relay, void *ctx,
			  char reason[CL_INIT_REASON_MAX])
{
	uint8_t type;
	const uint8_t *a;
	uint32_t an;
	if (h.to < 0 || !h.state) {
		snprintf(reason, CL_INIT_REASON_MAX, "no_key: KEYGEN first (the suspend's key is made on demand)");
		return -1;
	}
	if (cl_frame_send_fd(h.to, CL_FRAME_SUSPEND, p, (uint32_t)n) != CL_OK) {
		gone(reason, strerror(errno));
		return -1;
	}
	for (;;) {
		if (!next_answer(&type, &a, &an)) {
			gone(reason, "ended");
			return -1;
		}
		if (type == CL_FRAME_ERROR) {
			snprintf(reason, CL_INIT_REASON_MAX, "%.*s", (int)an, (const char *)a);
			cl_init_await_done(); /* its key is spent: the next suspend makes another */
			return -1;
		}
		if ((type != CL_FRAME_STATE || an == 0) && (type != CL_FRAME_STATE_END || an != 56)) {
			gone(reason, "malformed answer");
			return -1;
		}
		relay(ctx, type, a, an);
		if (type == CL_FRAME_STATE_END) {
			cl_init_await_done(); /* the helper wiped K_n; its key goes now */
			return 1;
		}
	}
}

int cl_init_await_chunk(const uint8_t *p, size_t n, char reason[CL_INIT_REASON_MAX])
{
	if (h.to < 0 || h.state || n == 0)
		return 0; /* answered not_awaiting_bundle at the end */
	if (cl_frame_send_fd(h.to, CL_FRAME_BUNDLE, p, (uint32_t)n) != CL_OK) {
		gone(reason, strerror(errno));
		return -1;
	}
	return 0;
}

int cl_init_await_end(const uint8_t *p, size_t n, uint8_t digest[48], char reason[CL_INIT_REASON_MAX])
{
	uint8_t type, reg;
	const uint8_t *a;
	uint32_t an;
	if (n == 0 && (h.to < 0 || h.state))
		return -1; /* an abort with nothing to abort */
	if (h.to < 0 || h.state) {
		snprintf(reason, CL_INIT_REASON_MAX, "not_awaiting_bundle");
		return 0;
	}
	if (cl_frame_send_fd(h.to, CL_FRAME_BUNDLE_END, p, (uint32_t)n) != CL_OK) {
		gone(reason, strerror(errno));
		return -2;
	}
	if (n == 0)
		return -1; /* the helper drops the transfer and answers nothing */
	if (!next_answer(&type, &a, &an)) {
		gone(reason, "ended");
		return -2;
	}
	if (type == CL_FRAME_ERROR) {
		snprintf(reason, CL_INIT_REASON_MAX, "%.*s", (int)an, (const char *)a);
		return 0;
	}
	if (type != CL_FRAME_EXTEND || cl_bundle_extend_parse(a, an, &reg, digest) != CL_OK) {
		gone(reason, "malformed answer");
		return -2;
	}
	return 1;
}

void cl_init_await_done(void)
{
	if (h.to >= 0)
		close(h.to);
	if (h.from >= 0)
		close(h.from);
	h.to = h.from = -1;
	h.pid = -1;
	h.state = false;
}

bool cl_init_await_lost(pid_t pid, char reason[CL_INIT_REASON_MAX])
{
	if (pid <= 0 || pid != h.pid)
		return false;
	bool state = h.state;
	gone(reason, "ended");
	return !state; /* a suspend's helper: the suspend fails, the enclave runs on */
}

void cl_init_await_uninstall(void)
{
	cl_raw_rm_tree(CL_INIT_BUNDLE_DIR);
}
