/* Unit tests for the enclave's half of suspend/restore (src/init/state_io.c,
 * included: it belongs to cloister-init-bundle, not a library;
 * docs/suspend.md): a tree sealed into a blob opens back into the same
 * tree; a flipped byte anywhere, another key, another enclave or number is
 * refused and extracts nothing; links, sockets and fifos are not state; a
 * blob is a header then GCM ciphertext (no plaintext in it); the PCR7
 * extends' file .cloister-state: its exact bytes, every malformed form
 * refused with its reason, the tar's first entry, taken out of the
 * restored tree, its name reserved at the top of /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* before cmocka.h, whose fail() macro would take its helper's name */
#include "init/state_io.c"

#include <cmocka.h>

#include "common/util.h"

#define ENC "enc-test0000000000000001"
#define MARKER "marker-7f3a9c-state-in-clear"

typedef struct blob {
	uint8_t *p;
	size_t n, cap;
} blob;

static int sink(void *ctx, const uint8_t *p, size_t n)
{
	blob *b = ctx;
	if (b->n + n > b->cap) {
		size_t cap = (b->n + n) * 2;
		uint8_t *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int stop_sink(void *ctx, const uint8_t *p, size_t n)
{
	return -1;
}

typedef struct world {
	char dir[64], src[96], dest[128], staging[128];
	uint8_t key[32];
} world;

static void write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state)
{
	world *w = calloc(1, sizeof(*w));
	char path[256];
	snprintf(w->dir, sizeof(w->dir), "/tmp/cl-istate-XXXXXX");
	if (!w || !mkdtemp(w->dir))
		return -1;
	snprintf(w->src, sizeof(w->src), "%s/src", w->dir);
	snprintf(w->dest, sizeof(w->dest), "%s/dest", w->dir);
	snprintf(w->staging, sizeof(w->staging), "%s/staging.tar", w->dir);
	for (size_t i = 0; i < sizeof(w->key); i++)
		w->key[i] = (uint8_t)(7 * i + 3);
	if (mkdir(w->src, 0755) || mkdir(w->dest, 0755))
		return -1;
	snprintf(path, sizeof(path), "%s/state", w->src);
	if (mkdir(path, 0700))
		return -1;
	snprintf(path, sizeof(path), "%s/.cloister-staging", w->src);
	if (mkdir(path, 0700))
		return -1;
	write_file(w->src, "state/db", MARKER " and more", 0600);
	write_file(w->src, "top.txt", "top", 0644);
	write_file(w->src, ".cloister-staging/skipme", "skip", 0644);
	/* a file bigger than one chunk */
	char *big = malloc(200001);
	if (!big)
		return -1;
	memset(big, 'z', 200000);
	big[200000] = '\0';
	write_file(w->src, "state/big", big, 0640);
	free(big);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	world *w = *state;
	int rc = cl_rm_rf(w->dir) == CL_OK ? 0 : -1;
	free(w);
	return rc;
}

static void seal(world *w, blob *b, uint64_t n)
{
	char reason[CL_INIT_STATE_REASON_MAX];
	uint64_t len = 0;
	memset(b, 0, sizeof(*b));
	assert_int_equal(cl_init_state_seal(w->src, ".cloister-staging", w->key, ENC, n, sink, b, &len, reason), 0);
	assert_int_equal(len, b->n);
}

static bool dest_empty(world *w)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A %s)\"", w->dest);
	return system(cmd) == 0;
}

static void round_trip(void **state)
{
	world *w = *state;
	blob b;
	char reason[CL_INIT_STATE_REASON_MAX], cmd[2048];
	seal(w, &b, 4);
	/* ciphertext: the marker is nowhere in the blob */
	assert_null(memmem(b.p, b.n, MARKER, strlen(MARKER)));
	assert_int_equal(cl_init_state_open(b.p, b.n, w->key, ENC, 4, w->staging, w->dest, reason), 0);
	snprintf(cmd, sizeof(cmd), "diff -r %s/state %s/state && cmp %s/top.txt %s/top.txt && test ! -e %s/.cloister-staging"
		 " && test \"$(stat -c %%a %s/state/db %s/state/big %s/state)\" = \"$(printf '600\\n640\\n700')\"",
		 w->src, w->dest, w->src, w->dest, w->dest, w->dest, w->dest, w->dest);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(access(w->staging, F_OK), -1); /* staging removed */
	free(b.p);
}

static void every_change_refused(void **state)
{
	world *w = *state;
	blob b;
	char reason[CL_INIT_STATE_REASON_MAX];
	seal(w, &b, 2);
	/* one flipped byte, at a spread of places: header, body, tag */
	size_t at[] = {0, 16, 17, 30, 40, b.n / 2, b.n - 17, b.n - 1};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		b.p[at[i]] ^= 0x20;
		assert_int_equal(cl_init_state_open(b.p, b.n, w->key, ENC, 2, w->staging, w->dest, reason), -1);
		assert_true(!strcmp(reason, "decrypt_failed") || !strncmp(reason, "bad_blob:", 9));
		assert_true(dest_empty(w));
		b.p[at[i]] ^= 0x20;
	}
	/* truncated */
	assert_int_equal(cl_init_state_open(b.p, b.n - 1, w->key, ENC, 2, w->staging, w->dest, reason), -1);
	assert_string_equal(reason, "decrypt_failed");
	/* another key */
	uint8_t other[32];
	memcpy(other, w->key, 32);
	other[5] ^= 1;
	assert_int_equal(cl_init_state_open(b.p, b.n, other, ENC, 2, w->staging, w->dest, reason), -1);
	assert_string_equal(reason, "decrypt_failed");
	/* another enclave, another number: named */
	assert_int_equal(cl_init_state_open(b.p, b.n, w->key, "enc-other", 2, w->staging, w->dest, reason), -1);
	assert_non_null(strstr(reason, "bad_blob: the blob is enclave " ENC));
	assert_int_equal(cl_init_state_open(b.p, b.n, w->key, ENC, 3, w->staging, w->dest, reason), -1);
	assert_non_null(strstr(reason, "bad_blob: the blob is suspend 2, not 3"));
	assert_true(dest_empty(w));
	/* and it still opens untouched */
	assert_int_equal(cl_init_state_open(b.p, b.n, w->key, ENC, 2, w->staging, w->dest, reason), 0);
	free(b.p);
}

static void not_state_refused(void **state)
{
	world *w = *state;
	blob b = {0};
	char reason[CL_INIT_STATE_REASON_MAX], path[256];
	uint64_t len = 0;
	snprintf(path, sizeof(path), "%s/state/link", w->src);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(cl_init_state_seal(w->src, ".cloister-staging", w->key, ENC, 1, sink, &b, &len, reason), -1);
	assert_non_null(strstr(reason, "bad_state: state/link: symbolic link"));
	assert_int_equal(unlink(path), 0);
	free(b.p);
	memset(&b, 0, sizeof(b));
	snprintf(path, sizeof(path), "%s/fifo", w->src);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(cl_init_state_seal(w->src, ".cloister-staging", w->key, ENC, 1, sink, &b, &len, reason), -1);
	assert_non_null(strstr(reason, "bad_state: fifo: fifo"));
	assert_int_equal(unlink(path), 0);
	free(b.p);
	/* n = 0 is no suspend's number; a sink that stops ends the seal */
	memset(&b, 0, sizeof(b));
	assert_int_equal(cl_init_state_seal(w->src, NULL, w->key, ENC, 0, sink, &b, &len, reason), -1);
	free(b.p);
	assert_int_equal(cl_init_state_seal(w->src, NULL, w->key, ENC, 1, stop_sink, NULL, &len, reason), -1);
	assert_string_equal(reason, "sink");
}

/* 64 MiB of files (sparse: quick) fit, with their headers and padding;
 * more is refused. */
static void cap_is_64_mib_of_files(void **state)
{
	world *w = *state;
	blob b = {0};
	char reason[CL_INIT_STATE_REASON_MAX], path[256];
	uint64_t len = 0;
	for (int i = 0; i < 64; i++) {
		snprintf(path, sizeof(path), "%s/f%02d", w->src, i);
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(ftruncate(fileno(f), 1024), 0);
		fclose(f);
	}
	/* with top.txt, state/db and 64 files of 1 KiB: 64 MiB of data in all */
	off_t big = (off_t)((64u << 20) - 3 - strlen(MARKER " and more") - 64 * 1024);
	snprintf(path, sizeof(path), "%s/state/big", w->src);
	assert_int_equal(truncate(path, big), 0);
	assert_int_equal(cl_init_state_seal(w->src, ".cloister-staging", w->key, ENC, 1, sink, &b, &len, reason), 0);
	free(b.p);
	memset(&b, 0, sizeof(b));
	/* and a file of 1 MiB + 2 KiB more: over */
	snprintf(path, sizeof(path), "%s/more", w->src);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), (1 << 20) + 2048), 0);
	fclose(f);
	assert_int_equal(cl_init_state_seal(w->src, ".cloister-staging", w->key, ENC, 1, sink, &b, &len, reason), -1);
	assert_non_null(strstr(reason, "more than 64 MiB of files"));
	free(b.p);
}

/* ---- the PCR7 extends: .cloister-state (common/state.h, docs/suspend.md "PCR7") ---- */

#define D1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static void one_extend(uint8_t e[CL_STATE_EXTEND_LEN])
{
	e[0] = 7;
	for (size_t i = 1; i < CL_STATE_EXTEND_LEN; i++)
		e[i] = (uint8_t)(((i - 1) % 16) * 0x11);
}

static void state_file_format(void **state)
{
	(void)state;
	uint8_t e[1][CL_STATE_EXTEND_LEN], back[CL_STATE_EXTENDS_MAX][CL_STATE_EXTEND_LEN], out[CL_STATE_FILE_MAX];
	size_t len = 0, n = 9;
	const char *why = NULL;
	one_extend(e[0]);
	/* exactly the documented bytes */
	assert_int_equal(cl_state_file_put(e, 1, out, &len), CL_OK);
	const char *want = "cloister-pcr7/1\n7 " D1 "\n";
	assert_int_equal(len, strlen(want));
	assert_memory_equal(out, want, len);
	assert_int_equal(cl_state_file_parse(out, len, back, &n, &why), CL_OK);
	assert_int_equal(n, 1);
	assert_memory_equal(back[0], e[0], CL_STATE_EXTEND_LEN);
	/* none: the magic line alone */
	assert_int_equal(cl_state_file_put(e, 0, out, &len), CL_OK);
	assert_int_equal(len, 16);
	assert_int_equal(cl_state_file_parse(out, len, back, &n, &why), CL_OK);
	assert_int_equal(n, 0);
	/* the writer refuses what the format cannot say */
	uint8_t two[2][CL_STATE_EXTEND_LEN];
	one_extend(two[0]);
	one_extend(two[1]);
	assert_int_equal(cl_state_file_put(two, 2, out, &len), CL_EINVAL);
	e[0][0] = 3;
	assert_int_equal(cl_state_file_put(e, 1, out, &len), CL_EINVAL);
	/* the argv form init hands init-bundle */
	uint8_t x[CL_STATE_EXTEND_LEN];
	assert_int_equal(cl_state_extend_from_hex("07" D1, x), CL_OK);
	one_extend(e[0]);
	assert_memory_equal(x, e[0], CL_STATE_EXTEND_LEN);
	assert_int_equal(cl_state_extend_from_hex("08" D1, x), CL_EINVAL);
	assert_int_equal(cl_state_extend_from_hex("07" D1 "0", x), CL_EINVAL);
	assert_int_equal(cl_state_extend_from_hex("07", x), CL_EINVAL);
	assert_int_equal(cl_state_extend_from_hex("07" "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"
						  "00112233445566778899aabbccddeeff", x), CL_EINVAL);
}

static void state_file_malformed(void **state)
{
	(void)state;
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"", "not a cloister-pcr7/1 file"},
		{"cloister-pcr7/2\n", "not a cloister-pcr7/1 file"},
		{"cloister-pcr7/1", "not a cloister-pcr7/1 file"},
		{"Cloister-pcr7/1\n7 " D1 "\n", "not a cloister-pcr7/1 file"},
		{"cloister-pcr7/1\n8 " D1 "\n", "a line that does not extend register 7"},
		{"cloister-pcr7/1\n7\t" D1 "\n", "a line that does not extend register 7"},
		{"cloister-pcr7/1\n7 " D1, "a truncated line"},
		{"cloister-pcr7/1\n7 " D1 "\r\n", "a line that does not end after its digest"},
		{"cloister-pcr7/1\n7 0" D1 "\n", "a line that does not end after its digest"},
		{"cloister-pcr7/1\n7 " D1 " ", "a line that does not end after its digest"},
		{"cloister-pcr7/1\n7 " D1 "\nx", "a truncated line"},
		{"cloister-pcr7/1\n7 " D1 "\n7 " D1 "\n", "more extends than an enclave can have"},
		{"cloister-pcr7/1\n7 0011223344556677889XAABBCCDDEEFF00112233445566778899aabbccddeeff00112233445566778899aab"
		 "bccddeeff\n",
		 "a digest that is not 96 lower-case hex digits"},
		{"cloister-pcr7/1\n7 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff00112233445566778899aab"
		 "bccddeeff\n",
		 "a digest that is not 96 lower-case hex digits"},
		{"cloister-pcr7/1\n\n", "a truncated line"},
	};
	uint8_t back[CL_STATE_EXTENDS_MAX][CL_STATE_EXTEND_LEN];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n = 5;
		const char *why = NULL;
		assert_int_equal(cl_state_file_parse((const uint8_t *)bad[i].text, strlen(bad[i].text), back, &n, &why),
				 CL_EINVAL);
		assert_int_equal(n, 0);
		assert_string_equal(why, bad[i].why);
	}
}

/* The blob's tar in clear (the test holds K_n): its first entry. */
static void first_entry(world *w, const blob *b, char path[CL_BUNDLE_PATH_MAX + 1], char *data, size_t max)
{
	cl_state_header h;
	int outl = 0;
	assert_int_equal(cl_state_header_parse(b->p, b->n, &h), CL_OK);
	size_t body = b->n - h.len - CL_STATE_TAG_LEN;
	uint8_t *tar = malloc(body + 32);
	assert_non_null(tar);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, w->key, h.iv), 1);
	assert_int_equal(EVP_DecryptUpdate(c, NULL, &outl, b->p, (int)h.aad_len), 1);
	assert_int_equal(EVP_DecryptUpdate(c, tar, &outl, b->p + h.len, (int)body), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CL_STATE_TAG_LEN, b->p + b->n - CL_STATE_TAG_LEN), 1);
	assert_int_equal(EVP_DecryptFinal_ex(c, tar + outl, &outl), 1);
	EVP_CIPHER_CTX_free(c);
	cl_tar t;
	cl_tar_entry e;
	bool got = false;
	char why[CL_BUNDLE_WHY_MAX];
	cl_tar_init(&t, tar, body);
	assert_int_equal(cl_tar_next(&t, &e, &got, why), CL_OK);
	assert_true(got);
	snprintf(path, CL_BUNDLE_PATH_MAX + 1, "%s", e.path);
	assert_true(e.size < max);
	memcpy(data, e.data, (size_t)e.size);
	data[e.size] = '\0';
	free(tar);
}

static void extends_sealed_and_taken(void **state)
{
	world *w = *state;
	blob b = {0};
	char reason[CL_INIT_STATE_REASON_MAX], path[CL_BUNDLE_PATH_MAX + 1], data[512], cmd[1024];
	uint8_t e[1][CL_STATE_EXTEND_LEN], back[CL_STATE_EXTENDS_MAX][CL_STATE_EXTEND_LEN];
	uint64_t len = 0;
	size_t n = 0;
	one_extend(e[0]);
	assert_int_equal(cl_init_state_seal_extends(w->src, ".cloister-staging", e, 1, w->key, ENC, 5, sink, &b, &len,
						    reason), 0);
	/* the first entry of the tar, inside the encryption */
	first_entry(w, &b, path, data, sizeof(data));
	assert_string_equal(path, ".cloister-state");
	assert_string_equal(data, "cloister-pcr7/1\n7 " D1 "\n");
	assert_null(memmem(b.p, b.n, "cloister-pcr7", 13));
	/* opened: the file is there until taken, then gone, the tree intact */
	assert_int_equal(cl_init_state_open(b.p, b.n, w->key, ENC, 5, w->staging, w->dest, reason), 0);
	assert_int_equal(cl_init_state_take_extends(w->dest, back, &n, reason), 0);
	assert_int_equal(n, 1);
	assert_memory_equal(back[0], e[0], CL_STATE_EXTEND_LEN);
	snprintf(cmd, sizeof(cmd), "test ! -e %s/.cloister-state && diff -r %s/state %s/state", w->dest, w->src, w->dest);
	assert_int_equal(system(cmd), 0);
	/* taken again (no file: a blob without it): no extends */
	n = 3;
	assert_int_equal(cl_init_state_take_extends(w->dest, back, &n, reason), 0);
	assert_int_equal(n, 0);
	free(b.p);
	/* sealed without extends: the file lists none */
	memset(&b, 0, sizeof(b));
	seal(w, &b, 6);
	first_entry(w, &b, path, data, sizeof(data));
	assert_string_equal(path, ".cloister-state");
	assert_string_equal(data, "cloister-pcr7/1\n");
	free(b.p);
}

static void extends_file_refused(void **state)
{
	world *w = *state;
	blob b = {0};
	char reason[CL_INIT_STATE_REASON_MAX], path[256];
	uint8_t back[CL_STATE_EXTENDS_MAX][CL_STATE_EXTEND_LEN];
	uint64_t len = 0;
	size_t n = 0;
	/* the tree's own top-level .cloister-state: the name is reserved */
	write_file(w->src, ".cloister-state", "cloister-pcr7/1\n7 " D1 "\n", 0644);
	assert_int_equal(cl_init_state_seal(w->src, ".cloister-staging", w->key, ENC, 1, sink, &b, &len, reason), -1);
	assert_non_null(strstr(reason, "bad_state: .cloister-state: the name is reserved"));
	free(b.p);
	/* in a subdirectory it is an ordinary file */
	snprintf(path, sizeof(path), "%s/.cloister-state", w->src);
	assert_int_equal(unlink(path), 0);
	write_file(w->src, "state/.cloister-state", "app's own", 0644);
	memset(&b, 0, sizeof(b));
	seal(w, &b, 1);
	free(b.p);
	/* taken from a restored tree: malformed content, too large, not a file */
	write_file(w->dest, ".cloister-state", "cloister-pcr7/1\n9 " D1 "\n", 0400);
	n = 4;
	assert_int_equal(cl_init_state_take_extends(w->dest, back, &n, reason), -1);
	assert_int_equal(n, 0);
	assert_string_equal(reason, "bad_state: .cloister-state: a line that does not extend register 7");
	snprintf(path, sizeof(path), "%s/.cloister-state", w->dest);
	assert_int_equal(access(path, F_OK), 0); /* left for the caller's cleanup */
	assert_int_equal(unlink(path), 0);
	char big[CL_STATE_FILE_MAX + 40];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(w->dest, ".cloister-state", big, 0400);
	assert_int_equal(cl_init_state_take_extends(w->dest, back, &n, reason), -1);
	assert_non_null(strstr(reason, "bad_state: .cloister-state: larger than"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(cl_init_state_take_extends(w->dest, back, &n, reason), -1);
	assert_string_equal(reason, "bad_state: .cloister-state: not a regular file");
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(symlink("/etc/passwd", path), 0);
	assert_int_equal(cl_init_state_take_extends(w->dest, back, &n, reason), -1);
	assert_non_null(strstr(reason, "bad_state: .cloister-state: "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(every_change_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(not_state_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(cap_is_64_mib_of_files, setup, teardown),
		cmocka_unit_test(state_file_format),
		cmocka_unit_test(state_file_malformed),
		cmocka_unit_test_setup_teardown(extends_sealed_and_taken, setup, teardown),
		cmocka_unit_test_setup_teardown(extends_file_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
