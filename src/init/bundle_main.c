/* cloister-init-bundle — the provisioning helper of an enclave that awaits a
 * bundle (docs/provisioning.md): the crypto half of cloister-init, kept out
 * of it so that init stays small and every launch copies only init.
 *
 * Only `/init --await-bundle` runs it, as /init-bundle, with no arguments:
 * stdin carries frames from init, stdout frames to init (common/frame.h);
 * it never sees the channel to the host. The conversation:
 *
 *   helper -> init   LOG (a warning, optional), then KEY (the enclave's
 *                    public point, 97 bytes) -- or ERROR (reason) and exit 1
 *   init -> helper   BUNDLE (ciphertext chunk) ..., BUNDLE_END (56 bytes, or
 *                    empty: abort, no answer)
 *   helper -> init   EXTEND (register 7 + SHA-384 of the tar): installed at
 *                    CL_INIT_BUNDLE_DIR; or ERROR (the refusal's reason)
 *   init closes stdin once the bundle runs (or init ends): the key is
 *   wiped and the helper exits 0.
 *
 * `/init-bundle --state ID [--extend HEX98]...` (started by a suspendable
 * enclave's init on KEYGEN, ID the enclave's, each HEX98 one of the
 * enclave's PCR7 extends, u8 register ‖ SHA-384 in hex, docs/suspend.md)
 * makes its key the same way and sends KEY, but takes no bundle, only
 *   init -> helper   SUSPEND (u64 BE n ‖ K_n wrapped to our key)
 *   helper -> init   STATE (blob chunks, up to CL_INIT_STATE_CHUNK) ...,
 *                    STATE_END (SHA-384 of the blob ‖ u64 BE length); or
 *                    ERROR (decrypt_failed: K_n does not open; bad_state:
 *                    ...: /tmp holds what is not state)
 * /tmp (but its staging directory) sealed under K_n into blob n of ID,
 * the extends its first entry (CL_STATE_FILE, common/state.h);
 * K_n is wiped, and the helper exits. Or, to restore:
 *   init -> helper   RESTORE (u64 BE n ‖ K_n wrapped), STATE ..., STATE_END
 *                    (SHA-384 ‖ u64 BE length; empty: abort, no answer)
 *   helper -> init   EXTEND per extend the blob's CL_STATE_FILE lists
 *                    (none without it), then STATE_END (the same: the
 *                    state is in /tmp, without the file), or ERROR
 *                    (decrypt_failed, bad_blob: ..., bad_state: ...,
 *                    restore: ..., too_large: ..., no_space: ...)
 * The blob is staged in CL_INIT_STAGING_DIR, checked (length, SHA-384),
 * opened tag first and extracted there, and only then its entries moved
 * into /tmp; staging is removed whatever the outcome.
 *
 * Static, libc + libcrypto; PCR1 covers it (docs/measurements.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/bundle.h"
#include "common/frame.h"
#include "init/provision.h"
#include "init/state_io.h"
#include "version_gen.h" /* made by the Makefile */

static uint8_t dec_storage[CL_FRAME_HDR + CL_FRAME_MAX];

/* The PCR7 extends init handed us (`--extend HEX`): what a suspend writes
 * into the blob's CL_STATE_FILE. */
static uint8_t exts[CL_STATE_EXTENDS_MAX][CL_STATE_EXTEND_LEN];
static size_t nexts;

/* Sends a frame to init; on failure init is gone: end (wiping the key). */
static void send_or_end(uint8_t type, const void *p, uint32_t n)
{
	if (cl_frame_send_fd(1, type, p, n) != CL_OK) {
		cl_init_prov_wipe();
		_exit(1);
	}
}

static void send_reason(const char *reason)
{
	send_or_end(CL_FRAME_ERROR, reason, (uint32_t)strlen(reason));
}

/* One frame from init. */
static void handle(uint8_t type, const uint8_t *p, uint32_t n)
{
	uint8_t digest[48], ext[CL_BUNDLE_EXTEND_LEN];
	char reason[CL_INIT_REASON_MAX];
	if (type == CL_FRAME_BUNDLE) {
		cl_init_prov_chunk(p, n);
		return;
	}
	int rc = cl_init_prov_end(p, n, digest, reason);
	if (rc < 0)
		return; /* aborted: nothing to answer */
	if (rc == 0) {
		send_reason(reason);
		return;
	}
	ext[0] = CL_BUNDLE_REGISTER;
	memcpy(ext + 1, digest, 48);
	send_or_end(CL_FRAME_EXTEND, ext, sizeof(ext));
}

/* The blob on its way out: STATE frames of up to CL_INIT_STATE_CHUNK. */
typedef struct state_out {
	uint8_t buf[CL_INIT_STATE_CHUNK];
	size_t len;
	EVP_MD_CTX *md;
} state_out;

static int state_sink(void *ctx, const uint8_t *p, size_t n)
{
	state_out *o = ctx;
	if (EVP_DigestUpdate(o->md, p, n) != 1)
		return -1;
	while (n) {
		size_t k = sizeof(o->buf) - o->len < n ? sizeof(o->buf) - o->len : n;
		memcpy(o->buf + o->len, p, k);
		o->len += k, p += k, n -= k;
		if (o->len == sizeof(o->buf)) {
			send_or_end(CL_FRAME_STATE, o->buf, (uint32_t)o->len);
			o->len = 0;
		}
	}
	return 0;
}

/* SUSPEND: /tmp sealed under K_n, out as STATE frames and STATE_END. */
static void suspend(const char *enclave_id, const uint8_t *p, uint32_t n)
{
	static state_out o;
	uint8_t key[CL_INIT_STATE_KEY_LEN], end[56];
	char reason[CL_INIT_STATE_REASON_MAX];
	uint64_t num = 0, length = 0;
	unsigned int dl = 0;
	if (n != 8 + CL_INIT_STATE_WRAPPED_LEN) {
		send_reason("bad_request: SUSPEND is u64 n and the wrapped key");
		return;
	}
	for (int i = 0; i < 8; i++)
		num = num << 8 | p[i];
	if (num == 0 || cl_init_prov_unwrap(CL_INIT_STATE_WRAP_LABEL, p + 8, n - 8, key, sizeof(key)) != 0) {
		send_reason("decrypt_failed: the state key does not open with this enclave's key");
		return;
	}
	o.len = 0;
	o.md = EVP_MD_CTX_new();
	if (!o.md || EVP_DigestInit_ex(o.md, EVP_sha384(), NULL) != 1) {
		snprintf(reason, sizeof(reason), "io: out of memory");
	} else if (cl_init_state_seal_extends("/tmp", CL_INIT_STAGING_DIR + sizeof("/tmp/") - 1,
					      (const uint8_t(*)[CL_STATE_EXTEND_LEN])exts, nexts, key, enclave_id, num,
					      state_sink, &o, &length, reason) == 0) {
		if (o.len)
			send_or_end(CL_FRAME_STATE, o.buf, (uint32_t)o.len);
		reason[0] = '\0';
		if (EVP_DigestFinal_ex(o.md, end, &dl) != 1 || dl != 48)
			snprintf(reason, sizeof(reason), "io: digest");
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(o.buf, sizeof(o.buf));
	EVP_MD_CTX_free(o.md);
	o.md = NULL;
	if (reason[0]) {
		send_reason(reason);
		return;
	}
	for (int i = 0; i < 8; i++)
		end[48 + i] = (uint8_t)(length >> (56 - 8 * i));
	send_or_end(CL_FRAME_STATE_END, end, sizeof(end));
}

#define BLOB_PATH CL_INIT_STAGING_DIR "/blob"
#define TAR_PATH CL_INIT_STAGING_DIR "/state.tar"
#define TREE_PATH CL_INIT_STAGING_DIR "/root"
#define BLOB_MAX (CL_INIT_STATE_TAR_MAX + 256) /* the tar, a header (<= 104) and the tag */

static struct {
	bool begun;
	uint64_t n, total;
	uint8_t key[CL_INIT_STATE_KEY_LEN];
	int fd;
	EVP_MD_CTX *md;
	char fail[CL_INIT_STATE_REASON_MAX];
} rs = {.fd = -1};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void restore_clear(void)
{
	if (rs.fd >= 0)
		close(rs.fd);
	rs.fd = -1;
	EVP_MD_CTX_free(rs.md);
	rs.md = NULL;
	OPENSSL_cleanse(rs.key, sizeof(rs.key));
	nftw(CL_INIT_STAGING_DIR, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void restore_fail(const char *why)
{
	if (!rs.fail[0])
		snprintf(rs.fail, sizeof(rs.fail), "%s", why);
}

/* RESTORE: the key, and staging for the blob. */
static void restore_begin(const uint8_t *p, uint32_t n)
{
	rs.begun = true;
	if (n != 8 + CL_INIT_STATE_WRAPPED_LEN) {
		restore_fail("bad_request: RESTORE is u64 n and the wrapped key");
		return;
	}
	for (int i = 0; i < 8; i++)
		rs.n = rs.n << 8 | p[i];
	if (rs.n == 0 || cl_init_prov_unwrap(CL_INIT_STATE_WRAP_LABEL, p + 8, n - 8, rs.key, sizeof(rs.key)) != 0) {
		restore_fail("decrypt_failed: the state key does not open with this enclave's key");
		return;
	}
	nftw(CL_INIT_STAGING_DIR, rm_one, 16, FTW_DEPTH | FTW_PHYS); /* a previous attempt's */
	rs.md = EVP_MD_CTX_new();
	if (!rs.md || EVP_DigestInit_ex(rs.md, EVP_sha384(), NULL) != 1 || mkdir(CL_INIT_STAGING_DIR, 0700) != 0 ||
	    (rs.fd = open(BLOB_PATH, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		char why[CL_INIT_STATE_REASON_MAX];
		snprintf(why, sizeof(why), "no_space: cannot stage the blob in /tmp: %s", strerror(errno));
		restore_fail(why);
	}
}

static void restore_chunk(const uint8_t *p, uint32_t n)
{
	if (!rs.begun)
		restore_fail("bad_request: STATE before RESTORE");
	if (rs.fail[0])
		return;
	if (n > BLOB_MAX - rs.total) {
		restore_fail("too_large: a state blob is at most 64 MiB of files");
		return;
	}
	rs.total += n;
	while (n) {
		ssize_t w = write(rs.fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			char why[CL_INIT_STATE_REASON_MAX];
			snprintf(why, sizeof(why), "no_space: cannot stage the blob in /tmp (%s): the enclave needs "
				 "about three times the state's size in /tmp, a quarter of its memory",
				 errno == ENOSPC ? "full" : strerror(errno));
			restore_fail(why);
			return;
		}
		if (EVP_DigestUpdate(rs.md, p, (size_t)w) != 1) {
			restore_fail("io: digest");
			return;
		}
		p += w;
		n -= (uint32_t)w;
	}
}

/* Moves every entry of TREE_PATH into /tmp. */
static int move_tree(char why[CL_INIT_STATE_REASON_MAX])
{
	DIR *d = opendir(TREE_PATH);
	struct dirent *de;
	int rc = 0;
	if (!d) {
		snprintf(why, CL_INIT_STATE_REASON_MAX, "io: %s: %s", TREE_PATH, strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char from[512], to[512];
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(from, sizeof(from), "%s/%s", TREE_PATH, de->d_name);
		snprintf(to, sizeof(to), "/tmp/%s", de->d_name);
		if (rename(from, to) != 0) {
			snprintf(why, CL_INIT_STATE_REASON_MAX, "bad_state: %.60s: %s", de->d_name, strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

/* STATE_END: checked, opened, extracted, moved into /tmp; answered. */
static void restore_end(const char *enclave_id, const uint8_t *p, uint32_t n)
{
	uint8_t sha[48];
	unsigned int dl = 0;
	uint64_t want = 0;
	char why[CL_INIT_STATE_REASON_MAX];
	if (n == 0) {
		restore_clear(); /* an abort: nothing to answer */
		return;
	}
	if (!rs.begun)
		restore_fail("bad_request: STATE_END before RESTORE");
	if (n != 56)
		restore_fail("bad_request: STATE_END is a SHA-384 and a u64 length");
	for (int i = 0; !rs.fail[0] && i < 8; i++)
		want = want << 8 | p[48 + i];
	if (!rs.fail[0] && (EVP_DigestFinal_ex(rs.md, sha, &dl) != 1 || dl != 48 || want != rs.total ||
			    CRYPTO_memcmp(sha, p, 48) != 0))
		restore_fail("restore: the blob received differs from its announced length and SHA-384");
	void *map = MAP_FAILED;
	if (!rs.fail[0] && rs.total > 0)
		map = mmap(NULL, rs.total, PROT_READ, MAP_PRIVATE, rs.fd, 0);
	if (!rs.fail[0] && map == MAP_FAILED)
		restore_fail("bad_blob: empty or unreadable");
	if (!rs.fail[0] && mkdir(TREE_PATH, 0755) != 0) {
		snprintf(why, sizeof(why), "no_space: %s: %s", TREE_PATH, strerror(errno));
		restore_fail(why);
	}
	if (!rs.fail[0] &&
	    cl_init_state_open(map, rs.total, rs.key, enclave_id, rs.n, TAR_PATH, TREE_PATH, why) != 0)
		restore_fail(why);
	if (map != MAP_FAILED)
		munmap(map, rs.total);
	/* the PCR7 extends: read (strictly) and kept out of /tmp */
	if (!rs.fail[0] && cl_init_state_take_extends(TREE_PATH, exts, &nexts, why) != 0)
		restore_fail(why);
	if (!rs.fail[0] && move_tree(why) != 0)
		restore_fail(why);
	restore_clear();
	if (rs.fail[0]) {
		send_reason(rs.fail);
		return;
	}
	for (size_t i = 0; i < nexts; i++) /* replayed by init, then the host, before STATE_END */
		send_or_end(CL_FRAME_EXTEND, exts[i], CL_STATE_EXTEND_LEN);
	send_or_end(CL_FRAME_STATE_END, p, n);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		/* no git revision: this binary is part of PCR1, reproducible */
		static const char v[] = "cloister-init-bundle " CL_VERSION_STR " (static)\n";
		return write(1, v, sizeof(v) - 1) == (ssize_t)(sizeof(v) - 1) ? 0 : 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* exec made us dumpable again: the application runs as our uid, and a
	 * dumpable helper would let it read the private key (/proc/PID/mem). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		send_reason("cannot make the provisioning helper undumpable");
		return 1;
	}
	bool state = argc >= 3 && strcmp(argv[1], "--state") == 0 && argv[2][0];
	for (int i = 3; state && i < argc; i += 2) {
		if (i + 1 >= argc || strcmp(argv[i], "--extend") != 0 || nexts == CL_STATE_EXTENDS_MAX ||
		    cl_state_extend_from_hex(argv[i + 1], exts[nexts]) != CL_OK)
			state = false;
		else
			nexts++;
	}
	if (argc != 1 && !state) {
		send_reason("usage: /init-bundle [--state ID [--extend HEX98]...] (run by /init --await-bundle or on "
			    "KEYGEN)");
		return 1;
	}
	uint8_t point[97];
	char why[CL_INIT_REASON_MAX];
	if (cl_init_prov_start(point, why) != 0) {
		send_reason(why);
		cl_init_prov_wipe();
		return 1;
	}
	if (why[0]) {
		char msg[CL_INIT_REASON_MAX + 64];
		int n = snprintf(msg, sizeof(msg), "cloister-init: provisioning: %s\n", why);
		send_or_end(CL_FRAME_LOG, msg, (uint32_t)(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1));
	}
	send_or_end(CL_FRAME_KEY, point, sizeof(point));

	cl_frame_dec dec;
	cl_frame_dec_init(&dec, dec_storage, sizeof(dec_storage), CL_FRAME_MAX);
	for (;;) {
		ssize_t r = read(0, cl_frame_dec_tail(&dec), cl_frame_dec_space(&dec));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* init closed: the bundle runs, or init ends */
		cl_frame_dec_commit(&dec, (size_t)r);
		for (;;) {
			uint8_t type;
			const uint8_t *pl;
			uint32_t len;
			bool got = false;
			cl_err e = cl_frame_pull(&dec, &got, &type, &pl, &len);
			if (e == CL_OK && !got)
				break;
			if (e == CL_OK && state && type == CL_FRAME_SUSPEND && !rs.begun) {
				suspend(argv[2], pl, len);
				cl_init_prov_wipe();
				return 0; /* one suspend per key */
			}
			if (e == CL_OK && state && (type == CL_FRAME_RESTORE || type == CL_FRAME_STATE)) {
				if (type == CL_FRAME_RESTORE && !rs.begun)
					restore_begin(pl, len);
				else if (type == CL_FRAME_STATE)
					restore_chunk(pl, len);
				else
					restore_fail("bad_request: RESTORE twice");
				continue;
			}
			if (e == CL_OK && state && type == CL_FRAME_STATE_END) {
				restore_end(argv[2], pl, len);
				cl_init_prov_wipe();
				return 0; /* one restore per key */
			}
			if (e != CL_OK || state || (type != CL_FRAME_BUNDLE && type != CL_FRAME_BUNDLE_END)) {
				cl_init_prov_wipe();
				return 1; /* init does not send these: a broken invariant */
			}
			handle(type, pl, len);
		}
	}
	cl_init_prov_wipe();
	return 0;
}
