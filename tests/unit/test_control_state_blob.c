/* Unit tests for the blob store of suspended state (src/control/
 * state_blob.c): a blob lands under DATA/state only whole, with the
 * announced length and SHA-384; a wrong digest or length, a blob over its
 * cap, an abort leave no file; a leftover temporary file is reaped; remove
 * takes only state/ paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/crypto.h"
#include "common/util.h"
#include "control/state_blob.h"
#include "control/store.h"
#include "control/store_state.h"

static int setup(void **state)
{
	char *dir = strdup("/tmp/cl-sblob-XXXXXX");
	if (!dir || !mkdtemp(dir))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	int rc = cl_rm_rf(*state) == CL_OK ? 0 : -1;
	free(*state);
	return rc;
}

static void sha_hex_of(const uint8_t *p, size_t n, char hex[97])
{
	uint8_t md[48];
	assert_int_equal(cl_sha384(p, n, md), CL_OK);
	cl_hex_encode(md, sizeof(md), hex);
}

static bool exists(const char *dir, const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return access(path, F_OK) == 0;
}

static size_t files_in_state(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "ls -A %s/state | wc -l", dir);
	FILE *p = popen(cmd, "r");
	unsigned long n = 999;
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%lu", &n), 1);
	pclose(p);
	return n;
}

static void whole_blob_lands(void **state)
{
	const char *dir = *state;
	uint8_t data[10000];
	char want[97], got[97];
	ctl_state_blob_w w;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 31);
	sha_hex_of(data, sizeof(data), want);
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 3, 1 << 20, &w), CL_OK);
	assert_string_equal(w.rel, "state/enc-1.3.blob");
	assert_int_equal(ctl_state_blob_write(&w, data, 4000), CL_OK);
	assert_false(exists(dir, w.rel)); /* not before it is whole */
	assert_int_equal(ctl_state_blob_write(&w, data + 4000, sizeof(data) - 4000), CL_OK);
	assert_int_equal(ctl_state_blob_finish(&w, sizeof(data), want, got), CL_OK);
	assert_string_equal(got, want);
	assert_true(exists(dir, "state/enc-1.3.blob"));
	assert_int_equal(files_in_state(dir), 1);
	cl_buf b;
	char path[512];
	cl_buf_init(&b, 1 << 20);
	snprintf(path, sizeof(path), "%s/state/enc-1.3.blob", dir);
	assert_int_equal(cl_file_read(path, 1 << 20, &b), CL_OK);
	assert_int_equal(b.len, sizeof(data));
	assert_memory_equal(b.data, data, sizeof(data));
	cl_buf_free(&b);
	assert_int_equal(ctl_state_blob_remove(dir, "state/enc-1.3.blob"), CL_OK);
	assert_false(exists(dir, "state/enc-1.3.blob"));
	assert_int_equal(ctl_state_blob_remove(dir, "state/enc-1.3.blob"), CL_OK); /* gone already: fine */
}

static void bad_blobs_leave_nothing(void **state)
{
	const char *dir = *state;
	uint8_t data[100] = {1, 2, 3};
	char want[97], got[97];
	ctl_state_blob_w w;
	sha_hex_of(data, sizeof(data), want);
	/* a flipped byte on the way: the digest differs */
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 1, 1000, &w), CL_OK);
	data[50] ^= 1;
	assert_int_equal(ctl_state_blob_write(&w, data, sizeof(data)), CL_OK);
	data[50] ^= 1;
	assert_int_equal(ctl_state_blob_finish(&w, sizeof(data), want, got), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "SHA-384"));
	assert_int_equal(files_in_state(dir), 0);
	/* short */
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 1, 1000, &w), CL_OK);
	assert_int_equal(ctl_state_blob_write(&w, data, 99), CL_OK);
	assert_int_equal(ctl_state_blob_finish(&w, sizeof(data), want, got), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "99 bytes"));
	assert_int_equal(files_in_state(dir), 0);
	/* over the cap */
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 1, 150, &w), CL_OK);
	assert_int_equal(ctl_state_blob_write(&w, data, 100), CL_OK);
	assert_int_equal(ctl_state_blob_write(&w, data, 51), CL_ETOOBIG);
	assert_int_equal(files_in_state(dir), 0);
	assert_int_equal(ctl_state_blob_write(&w, data, 1), CL_EINVAL); /* closed */
	/* abort */
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 1, 1000, &w), CL_OK);
	assert_int_equal(ctl_state_blob_write(&w, data, 10), CL_OK);
	ctl_state_blob_abort(&w);
	ctl_state_blob_abort(&w);
	assert_int_equal(files_in_state(dir), 0);
	/* bad ids and paths */
	assert_int_equal(ctl_state_blob_open(dir, "../x", 1, 1000, &w), CL_EINVAL);
	assert_int_equal(ctl_state_blob_open(dir, ".hidden", 1, 1000, &w), CL_EINVAL);
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 0, 1000, &w), CL_EINVAL);
	assert_int_equal(ctl_state_blob_remove(dir, "db/control.db"), CL_EINVAL);
	assert_int_equal(ctl_state_blob_remove(dir, "state/../db/control.db"), CL_EINVAL);
}

/* A kill mid-write leaves a temporary file: start-up removes it, and only
 * it; a new write of the same blob replaces it. */
static void leftovers_reaped(void **state)
{
	const char *dir = *state;
	uint8_t data[10] = {0};
	char want[97], got[97];
	ctl_state_blob_w w, killed;
	int n = -1;
	sha_hex_of(data, sizeof(data), want);
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 1, 1000, &w), CL_OK);
	assert_int_equal(ctl_state_blob_write(&w, data, sizeof(data)), CL_OK);
	assert_int_equal(ctl_state_blob_finish(&w, sizeof(data), want, got), CL_OK);
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 2, 1000, &killed), CL_OK);
	assert_int_equal(ctl_state_blob_write(&killed, data, 5), CL_OK);
	close(killed.fd); /* "killed": the file stays */
	EVP_MD_CTX_free(killed.sha);
	assert_int_equal(files_in_state(dir), 2);
	/* the same blob again replaces the leftover */
	assert_int_equal(ctl_state_blob_open(dir, "enc-1", 2, 1000, &w), CL_OK);
	ctl_state_blob_abort(&w);
	assert_int_equal(files_in_state(dir), 1);
	/* leave one again and reap it */
	assert_int_equal(ctl_state_blob_open(dir, "enc-9", 2, 1000, &killed), CL_OK);
	close(killed.fd);
	assert_int_equal(files_in_state(dir), 2);
	assert_int_equal(ctl_state_blob_reap(dir, &n), CL_OK);
	assert_int_equal(n, 1);
	assert_int_equal(files_in_state(dir), 1);
	assert_true(exists(dir, "state/enc-1.1.blob"));
	EVP_MD_CTX_free(killed.sha);
}

/* Blob files that are not their enclave's committed blob (a destroyed
 * enclave's, a previous one a kill kept from its unlink) are removed; the
 * committed one and files of other names stay. */
static void orphans_reaped(void **state)
{
	const char *dir = *state;
	char db[512], path[512];
	ctl_store *st = NULL;
	uint8_t k[CTL_STATE_SEALED_LEN] = {1}, doc[2] = {'d'};
	char old[CTL_STATE_PATH_MAX];
	int n = -1;
	snprintf(db, sizeof(db), "%s/control.db", dir);
	assert_int_equal(ctl_store_open(db, &st), CL_OK);
	snprintf(path, sizeof(path), "%s/state", dir);
	assert_int_equal(cl_mkdir_p(path, 0700), CL_OK);
	static const char *const names[] = {"enc-a.1.blob", "enc-a.2.blob", "enc-gone.1.blob", "notes.txt"};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/state/%s", dir, names[i]);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fclose(f);
	}
	assert_int_equal(ctl_store_state_begin(st, "enc-a", 1, k, sizeof(k), "{}", doc, sizeof(doc), 1), CL_OK);
	assert_int_equal(ctl_store_state_begin(st, "enc-a", 2, k, sizeof(k), "{}", doc, sizeof(doc), 1), CL_OK);
	assert_int_equal(ctl_store_state_commit(st, "enc-a", 2, 1, "0123456789abcdef0123456789abcdef0123456789abcdef"
							       "0123456789abcdef0123456789abcdef0123456789abcdef",
						"state/enc-a.2.blob", 2, old),
			 CL_OK);
	assert_int_equal(ctl_state_blob_reap_orphans(dir, st, &n), CL_OK);
	assert_int_equal(n, 2);
	assert_true(exists(dir, "state/enc-a.2.blob"));
	assert_false(exists(dir, "state/enc-a.1.blob"));
	assert_false(exists(dir, "state/enc-gone.1.blob"));
	assert_true(exists(dir, "state/notes.txt"));
	ctl_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(whole_blob_lands, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_blobs_leave_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(leftovers_reaped, setup, teardown),
		cmocka_unit_test_setup_teardown(orphans_reaped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
