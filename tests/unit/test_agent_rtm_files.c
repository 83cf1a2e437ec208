/* Unit tests for the files a measure reads (src/host/agent_rtm_files.c and
 * the file records of PCR5 in agent_rtm.c): init's FILES list parsed with
 * its bounds; every path resolved inside the enclave's root (a symlink or
 * ".." that points out of it finds nothing outside); a fifo is a region,
 * never opened; a regular file's bytes and a link's target are hashed; the
 * byte bound; the record's exact layout; and cl_rtm_measure with a fake
 * enclave: a changed data file changes PCR5, an unchanged one measures the
 * same, a paused enclave's last list is used, an init that does not answer
 * falls back to its last list. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/crypto.h"
#include "host/agent_rtm.h"
#include "test_sleep_child.h"

static char dir[64];

static void put(const char *rel, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	char p[256];
	snprintf(dir, sizeof(dir), "/tmp/rtmfiles.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/app", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	put("app/x", "hello");
	snprintf(p, sizeof(p), "%s/app/l", dir);
	assert_int_equal(symlink("/etc/passwd", p), 0);
	snprintf(p, sizeof(p), "%s/esc", dir);
	assert_int_equal(symlink("../../../../../../etc", p), 0);
	snprintf(p, sizeof(p), "%s/app/fifo", dir);
	assert_int_equal(mkfifo(p, 0600), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	const char *names[] = {"app/x", "app/l", "app/fifo", "esc", "app"};
	char p[256];
	for (size_t i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (unlink(p) != 0)
			rmdir(p);
	}
	rmdir(dir);
	return 0;
}

/* A FILES payload: flags, then the paths. */
static size_t payload(uint8_t *out, uint8_t flags, const char *const *paths, size_t n)
{
	size_t at = 0;
	out[at++] = flags;
	for (size_t i = 0; i < n; i++) {
		size_t k = strlen(paths[i]) + 1;
		memcpy(out + at, paths[i], k);
		at += k;
	}
	return at;
}

static void parse_bounds(void **state)
{
	(void)state;
	uint8_t buf[64];
	char **paths, *store;
	size_t n;
	const char *good[] = {"/app", "/app/x"};
	size_t len = payload(buf, 0, good, 2);
	assert_int_equal(cl_rtm_files_parse(buf, len, &paths, &store, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(paths[0], "/app");
	assert_string_equal(paths[1], "/app/x");
	free(paths), free(store);
	/* empty: no list; a lone flags byte: an empty one */
	assert_int_equal(cl_rtm_files_parse(buf, 0, &paths, &store, &n), CL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(cl_rtm_files_parse(buf, 1, &paths, &store, &n), CL_OK);
	assert_int_equal(n, 0);
	free(paths), free(store);
	/* init said it truncated: refused, not measured partially */
	len = payload(buf, CL_FILES_TRUNCATED, good, 2);
	assert_int_equal(cl_rtm_files_parse(buf, len, &paths, &store, &n), CL_ELIMIT);
	len = payload(buf, 0x80, good, 2);
	assert_int_equal(cl_rtm_files_parse(buf, len, &paths, &store, &n), CL_EINVAL);
	/* not terminated, relative, empty */
	len = payload(buf, 0, good, 2);
	assert_int_equal(cl_rtm_files_parse(buf, len - 1, &paths, &store, &n), CL_EINVAL);
	const char *rel[] = {"/app", "app/x"};
	len = payload(buf, 0, rel, 2);
	assert_int_equal(cl_rtm_files_parse(buf, len, &paths, &store, &n), CL_EINVAL);
	const char *empty[] = {"/app", ""};
	len = payload(buf, 0, empty, 2);
	assert_int_equal(cl_rtm_files_parse(buf, len, &paths, &store, &n), CL_EINVAL);
	/* more paths than measured */
	size_t many = 2 * (CL_RTM_MAX_FILES + 1) + 1;
	uint8_t *big = calloc(1, many);
	for (size_t i = 1; i < many; i += 2)
		big[i] = '/';
	assert_int_equal(cl_rtm_files_parse(big, many, &paths, &store, &n), CL_ELIMIT);
	assert_int_equal(cl_rtm_files_parse(big, many - 2, &paths, &store, &n), CL_OK);
	assert_int_equal(n, CL_RTM_MAX_FILES);
	free(paths), free(store), free(big);
	/* over the byte bound */
	assert_int_equal(cl_rtm_files_parse(buf, CL_FILES_BYTES + 1, &paths, &store, &n), CL_ELIMIT);
}

static const cl_rtm_region *find(const cl_rtm_set *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return &s->v[i];
	fail_msg("no region %s", path);
	return NULL;
}

static void hash_in_root(void **state)
{
	(void)state;
	int root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(root >= 0);
	uint8_t *buf = malloc(CL_RTM_CHUNK), want[48];
	cl_rtm_set s = {0};
	char *paths[] = {"/app", "/app/x", "/app/l", "/app/fifo", "/esc/passwd", "/../../../../etc/passwd",
			 "/app/gone", "/esc"};
	alarm(10); /* a fifo opened for reading would block: it must not be */
	assert_int_equal(cl_rtm_hash_files(root, paths, 8, UINT64_MAX, buf, &s), CL_OK);
	alarm(0);
	assert_int_equal(s.n, 8);
	assert_int_equal(s.nfiles, 8);
	const cl_rtm_region *r = find(&s, "/app/x");
	assert_int_equal(r->kind, CL_RTM_FILE_REG);
	assert_int_equal(r->len, 5);
	assert_int_equal(cl_sha384("hello", 5, want), CL_OK);
	assert_memory_equal(r->digest, want, 48);
	r = find(&s, "/app/l"); /* not followed: its target is the region */
	assert_int_equal(r->kind, CL_RTM_FILE_LNK);
	assert_int_equal(r->len, strlen("/etc/passwd"));
	assert_int_equal(cl_sha384("/etc/passwd", strlen("/etc/passwd"), want), CL_OK);
	assert_memory_equal(r->digest, want, 48);
	assert_int_equal(find(&s, "/app")->kind, CL_RTM_FILE_DIR);
	assert_int_equal(find(&s, "/app/fifo")->kind, CL_RTM_FILE_OTHER);
	assert_int_equal(find(&s, "/esc")->kind, CL_RTM_FILE_LNK);
	/* out of the root through a link or "..": inside it there is no such file
	 * (the host's /etc/passwd exists; it is never the one read) */
	assert_int_equal(find(&s, "/esc/passwd")->kind, CL_RTM_FILE_MISSING);
	assert_int_equal(find(&s, "/../../../../etc/passwd")->kind, CL_RTM_FILE_MISSING);
	assert_int_equal(find(&s, "/app/gone")->kind, CL_RTM_FILE_MISSING);
	/* the byte bound covers files too */
	cl_rtm_set_free(&s);
	s.bytes = CL_RTM_MAX_BYTES - 4;
	assert_int_equal(cl_rtm_hash_files(root, paths + 1, 1, UINT64_MAX, buf, &s), CL_ELIMIT);
	cl_rtm_set_free(&s);
	/* the deadline */
	assert_int_equal(cl_rtm_hash_files(root, paths, 1, 0, buf, &s), CL_ETIMEOUT);
	cl_rtm_set_free(&s);
	free(buf);
	close(root);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* PCR5 = mappings, then files sorted by path, each once:
 * 0xff || type || path || 0x00 || size (u64 BE) || SHA-384 */
static void record_layout(void **state)
{
	(void)state;
	cl_rtm_set s = {0};
	uint8_t d1[48], d2[48], got[48], want[48] = {0}, rec[128];
	memset(d1, 0x11, 48);
	memset(d2, 0x22, 48);
	assert_int_equal(cl_rtm_add_file(&s, "/b", CL_RTM_FILE_REG, 7, d2), CL_OK);
	assert_int_equal(cl_rtm_add_file(&s, "/a", CL_RTM_FILE_DIR, 0, d1), CL_OK);
	assert_int_equal(cl_rtm_add_file(&s, "/b", CL_RTM_FILE_REG, 7, d2), CL_OK); /* twice: counted once */
	assert_int_equal(cl_rtm_add(&s, "/m", 0, 4096, d1), CL_OK);
	cl_rtm_register(&s, got);
	size_t n = 0;
	memcpy(rec, "/m", 2), rec[2] = 0, put_be64(rec + 3, 0), put_be64(rec + 11, 4096), memcpy(rec + 19, d1, 48);
	cl_pcr_extend(want, rec, 19 + 48);
	rec[n++] = 0xff, rec[n++] = 'd', memcpy(rec + n, "/a", 3), n += 3, put_be64(rec + n, 0), n += 8;
	memcpy(rec + n, d1, 48);
	cl_pcr_extend(want, rec, n + 48);
	n = 0;
	rec[n++] = 0xff, rec[n++] = 'f', memcpy(rec + n, "/b", 3), n += 3, put_be64(rec + n, 7), n += 8;
	memcpy(rec + n, d2, 48);
	cl_pcr_extend(want, rec, n + 48);
	assert_memory_equal(got, want, 48);
	cl_rtm_set_free(&s);
}

/* ---- cl_rtm_measure with files: a fake enclave without processes ---- */

typedef struct fake {
	pid_t pid; /* its one process (0: none) */
	bool frozen;
	int fresh_asks, cached_asks;
	bool fresh_times_out;
	uint8_t list[256];
	size_t list_len;
} fake;

static cl_err f_is_frozen(void *ctx, bool *frozen)
{
	*frozen = ((fake *)ctx)->frozen;
	return CL_OK;
}

static cl_err f_freeze(void *ctx, bool frozen)
{
	((fake *)ctx)->frozen = frozen;
	return CL_OK;
}

static cl_err f_pids(void *ctx, pid_t *out, size_t max, size_t *n)
{
	fake *f = ctx;
	(void)max;
	*n = f->pid ? 1 : 0;
	out[0] = f->pid;
	return CL_OK;
}

static cl_err f_files(void *ctx, bool fresh, uint8_t **list, uint32_t *len)
{
	fake *f = ctx;
	if (fresh) {
		assert_false(f->frozen); /* asked before the pause: a paused init cannot answer */
		f->fresh_asks++;
		if (f->fresh_times_out)
			return CL_ETIMEOUT;
	} else {
		f->cached_asks++;
	}
	*list = malloc(f->list_len);
	memcpy(*list, f->list, f->list_len);
	*len = (uint32_t)f->list_len;
	return CL_OK;
}

static cl_err f_root(void *ctx, const pid_t *pids, size_t np, int *fd)
{
	(void)ctx, (void)pids, (void)np;
	*fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return *fd >= 0 ? CL_OK : CL_ESYS;
}

static void measure_files(void **state)
{
	(void)state;
	fake f = {0};
	f.pid = spawn_sleep(); /* a process, as an enclave has (its mappings are measured too) */
	const char *paths[] = {"/app", "/app/x", "/app/l"};
	f.list_len = payload(f.list, 0, paths, 3);
	cl_rtm_target t = {.is_frozen = f_is_frozen, .freeze = f_freeze, .pids = f_pids, .files = f_files,
			   .root = f_root, .ctx = &f};
	uint8_t r1[48], r2[48], r3[48];
	size_t nf = 0;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r1, NULL, &nf), CL_OK);
	assert_int_equal(nf, 3);
	assert_int_equal(f.fresh_asks, 1);
	/* unchanged: the same */
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r2, NULL, NULL), CL_OK);
	assert_memory_equal(r1, r2, 48);
	/* a data file changed (same size): another PCR5; back, the first again */
	put("app/x", "hellO");
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r3, NULL, NULL), CL_OK);
	assert_memory_not_equal(r1, r3, 48);
	put("app/x", "hello");
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r3, NULL, NULL), CL_OK);
	assert_memory_equal(r1, r3, 48);
	/* an enclave already paused: its last list, not a fresh one */
	f.frozen = true;
	f.fresh_asks = f.cached_asks = 0;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r3, NULL, NULL), CL_OK);
	assert_memory_equal(r1, r3, 48);
	assert_int_equal(f.fresh_asks, 0);
	assert_int_equal(f.cached_asks, 1);
	/* init does not answer in time: its last list */
	f.frozen = false;
	f.fresh_times_out = true;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r3, NULL, NULL), CL_OK);
	assert_memory_equal(r1, r3, 48);
	assert_int_equal(f.cached_asks, 2);
	/* a list init truncated: the measure fails, and the enclave is resumed */
	f.list[0] = CL_FILES_TRUNCATED;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r3, NULL, NULL), CL_ELIMIT);
	assert_false(f.frozen);
	/* no process left (the enclave ended): no root to read the files in */
	f.list[0] = 0;
	reap(f.pid);
	f.pid = 0;
	assert_int_equal(cl_rtm_measure(&t, CL_RTM_PAUSE_MS, r3, NULL, &nf), CL_OK);
	assert_int_equal(nf, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_bounds),
	    cmocka_unit_test_setup_teardown(hash_in_root, setup, teardown),
	    cmocka_unit_test(record_layout),
	    cmocka_unit_test_setup_teardown(measure_files, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
