/* Unit tests for the suspend blob's pieces (docs/suspend.md "The blob"):
 * the ustar writer (src/common/bundle.c cl_tar_header_put), read back by
 * cl_tar_next and by GNU tar; and the blob header (src/common/state.c),
 * whose every byte before the iv is the AES-256-GCM associated data, so a
 * flipped byte anywhere in the blob fails the tag. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/bundle.h"
#include "common/state.h"
#include "common/util.h"

typedef struct ent {
	const char *path;
	int type;
	uint32_t mode;
	const char *data;
} ent;

/* a path of 180 bytes: prefix/name split needed */
#define LONGDIR "d123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"
#define LONGPATH LONGDIR "/f12345678901234567890123456789012345678901234567890123456789012345678901234567890"

static const ent ents[] = {
	{"state", CL_TAR_DIR, 0755, NULL},
	{"state/db.bin", CL_TAR_FILE, 0600, "hello, state\n"},
	{"empty", CL_TAR_FILE, 0644, ""},
	{"big", CL_TAR_FILE, 04755, NULL}, /* 1500 bytes; the set-uid bit is dropped */
	{LONGDIR, CL_TAR_DIR, 0700, NULL},
	{LONGPATH, CL_TAR_FILE, 0640, "long"},
};

/* Writes ents into a malloc'd tar: *len bytes. */
static uint8_t *write_tar(size_t *len)
{
	size_t cap = 64 * 1024, o = 0;
	uint8_t *t = calloc(1, cap);
	char why[CL_BUNDLE_WHY_MAX];
	uint8_t big[1500];
	memset(big, 'B', sizeof(big));
	assert_non_null(t);
	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		const uint8_t *d = ents[i].data ? (const uint8_t *)ents[i].data : big;
		size_t n = ents[i].type == CL_TAR_DIR ? 0 : ents[i].data ? strlen(ents[i].data) : sizeof(big);
		assert_int_equal(cl_tar_header_put(t + o, ents[i].path, ents[i].type, ents[i].mode, n, why), CL_OK);
		o += CL_TAR_BLOCK;
		memcpy(t + o, d, n);
		o += n + cl_tar_pad(n);
		assert_int_equal(o % CL_TAR_BLOCK, 0);
	}
	o += CL_TAR_END_LEN; /* zeroed by calloc */
	*len = o;
	return t;
}

static void writer_reader_round_trip(void **state)
{
	size_t len = 0;
	uint8_t *t = write_tar(&len);
	cl_tar r;
	cl_tar_entry e;
	bool got = false;
	char why[CL_BUNDLE_WHY_MAX];
	cl_tar_init(&r, t, len);
	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		assert_int_equal(cl_tar_next(&r, &e, &got, why), CL_OK);
		assert_true(got);
		assert_string_equal(e.path, ents[i].path);
		assert_int_equal(e.type, ents[i].type);
		assert_int_equal(e.mode, ents[i].mode & 0755u);
		if (ents[i].type == CL_TAR_FILE && ents[i].data) {
			assert_int_equal(e.size, strlen(ents[i].data));
			assert_memory_equal(e.data, ents[i].data, e.size);
		}
	}
	assert_int_equal(cl_tar_next(&r, &e, &got, why), CL_OK);
	assert_false(got);
	/* the same entries give the same bytes */
	size_t len2 = 0;
	uint8_t *t2 = write_tar(&len2);
	assert_int_equal(len, len2);
	assert_memory_equal(t, t2, len);
	free(t2);
	free(t);
}

/* GNU tar, an independent reader, extracts the same files. */
static void gnu_tar_reads_it(void **state)
{
	size_t len = 0;
	uint8_t *t = write_tar(&len);
	char dir[] = "/tmp/cl-state-XXXXXX", path[512], cmd[600];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.tar", dir);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(t, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
	snprintf(cmd, sizeof(cmd), "tar -x -f %s -C %s 2>&1", path, dir);
	int rc = system(cmd);
	assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	snprintf(path, sizeof(path), "%s/state/db.bin", dir);
	char buf[64] = {0};
	fp = fopen(path, "rb");
	assert_non_null(fp);
	assert_int_equal(fread(buf, 1, sizeof(buf) - 1, fp), strlen("hello, state\n"));
	fclose(fp);
	assert_string_equal(buf, "hello, state\n");
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", dir, LONGPATH);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 4);
	assert_int_equal(sb.st_mode & 07777, 0640);
	snprintf(path, sizeof(path), "%s/big", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 1500);
	assert_int_equal(sb.st_mode & 07777, 0755);
	assert_int_equal(cl_rm_rf(dir), CL_OK);
	free(t);
}

static void writer_refuses(void **state)
{
	uint8_t h[CL_TAR_BLOCK];
	char why[CL_BUNDLE_WHY_MAX], p256[257], name101[120];
	memset(p256, 'a', 256);
	p256[256] = '\0';
	snprintf(name101, sizeof(name101), "d/%0101d", 0);
	const char *bad[] = {"", "/abs", "../up", "a/../b", "./a", "a/", "a//b", "a/./b", "tab\there", p256, name101};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cl_tar_header_put(h, bad[i], CL_TAR_FILE, 0644, 1, why), CL_EINVAL);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(cl_tar_header_put(h, "x", 6, 0644, 0, why), CL_EINVAL);
	assert_int_equal(cl_tar_header_put(h, "x", CL_TAR_DIR, 0755, 1, why), CL_EINVAL);
	assert_int_equal(cl_tar_header_put(h, "x", CL_TAR_FILE, 0644, CL_BUNDLE_MAX + 1, why), CL_EINVAL);
	assert_int_equal(cl_tar_header_put(h, "x", CL_TAR_FILE, 0644, CL_BUNDLE_MAX, why), CL_OK);
}

static void header_round_trip_and_refusals(void **state)
{
	uint8_t out[CL_STATE_HEADER_MAX + CL_STATE_TAG_LEN], iv[CL_STATE_IV_LEN];
	size_t len = 0;
	cl_state_header h;
	for (size_t i = 0; i < sizeof(iv); i++)
		iv[i] = (uint8_t)(0x10 + i);
	assert_int_equal(cl_state_header_put(out, "enc-7.a_b", 0x0102030405060708ull, iv, &len), CL_OK);
	assert_int_equal(len, 16 + 1 + 9 + 8 + 12);
	assert_memory_equal(out, "cloister-state/1\x09" "enc-7.a_b\x01\x02\x03\x04\x05\x06\x07\x08", 34);
	memset(out + len, 0, CL_STATE_TAG_LEN);
	assert_int_equal(cl_state_header_parse(out, len + CL_STATE_TAG_LEN, &h), CL_OK);
	assert_string_equal(h.enclave_id, "enc-7.a_b");
	assert_true(h.n == 0x0102030405060708ull);
	assert_memory_equal(h.iv, iv, sizeof(iv));
	assert_int_equal(h.len, len);
	assert_int_equal(h.aad_len, len - CL_STATE_IV_LEN);
	/* too short to hold a tag */
	assert_int_equal(cl_state_header_parse(out, len + CL_STATE_TAG_LEN - 1, &h), CL_EINVAL);
	/* magic, id length, id bytes, n = 0 */
	uint8_t bad[sizeof(out)];
	memcpy(bad, out, sizeof(out));
	bad[15] = '2';
	assert_int_equal(cl_state_header_parse(bad, len + CL_STATE_TAG_LEN, &h), CL_EINVAL);
	memcpy(bad, out, sizeof(out));
	bad[16] = 0;
	assert_int_equal(cl_state_header_parse(bad, len + CL_STATE_TAG_LEN, &h), CL_EINVAL);
	memcpy(bad, out, sizeof(out));
	bad[16] = 64;
	assert_int_equal(cl_state_header_parse(bad, sizeof(bad), &h), CL_EINVAL);
	memcpy(bad, out, sizeof(out));
	bad[20] = '/';
	assert_int_equal(cl_state_header_parse(bad, len + CL_STATE_TAG_LEN, &h), CL_EINVAL);
	memcpy(bad, out, sizeof(out));
	memset(bad + 26, 0, 8); /* n = 0 */
	assert_int_equal(cl_state_header_parse(bad, len + CL_STATE_TAG_LEN, &h), CL_EINVAL);
	assert_int_equal(cl_state_header_put(bad, "enc-7", 0, iv, &len), CL_EINVAL);
	assert_int_equal(cl_state_header_put(bad, "", 1, iv, &len), CL_EINVAL);
	assert_int_equal(cl_state_header_put(bad, "a/b", 1, iv, &len), CL_EINVAL);
}

/* AES-256-GCM over body with the header's aad; returns the blob's length. */
static size_t seal(const uint8_t key[32], const char *id, uint64_t n, const uint8_t *body, size_t blen, uint8_t *out)
{
	uint8_t iv[CL_STATE_IV_LEN] = {9, 8, 7};
	size_t hl = 0;
	int outl = 0;
	assert_int_equal(cl_state_header_put(out, id, n, iv, &hl), CL_OK);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv), 1);
	assert_int_equal(EVP_EncryptUpdate(c, NULL, &outl, out, (int)(hl - CL_STATE_IV_LEN)), 1);
	assert_int_equal(EVP_EncryptUpdate(c, out + hl, &outl, body, (int)blen), 1);
	assert_int_equal(EVP_EncryptFinal_ex(c, out + hl + outl, &outl), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, out + hl + blen), 1);
	EVP_CIPHER_CTX_free(c);
	return hl + blen + CL_STATE_TAG_LEN;
}

/* Opens a blob the way init-bundle will: parse the header, then GCM with
 * its aad. true if the tag verifies. */
static bool open_blob(const uint8_t key[32], const uint8_t *blob, size_t len)
{
	cl_state_header h;
	if (cl_state_header_parse(blob, len, &h) != CL_OK)
		return false;
	size_t blen = len - h.len - CL_STATE_TAG_LEN;
	uint8_t *plain = malloc(blen + 1), tag[16];
	int outl = 0;
	memcpy(tag, blob + len - 16, 16);
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	bool ok = plain && c && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, h.iv) == 1 &&
		  EVP_DecryptUpdate(c, NULL, &outl, blob, (int)h.aad_len) == 1 &&
		  EVP_DecryptUpdate(c, plain, &outl, blob + h.len, (int)blen) == 1 &&
		  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 && EVP_DecryptFinal_ex(c, plain + outl, &outl) == 1;
	EVP_CIPHER_CTX_free(c);
	free(plain);
	return ok;
}

static void every_flipped_byte_fails(void **state)
{
	uint8_t key[32], body[100], blob[256];
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	memset(body, 'S', sizeof(body));
	size_t len = seal(key, "enc-1", 3, body, sizeof(body), blob);
	assert_true(open_blob(key, blob, len));
	for (size_t i = 0; i < len; i++) {
		blob[i] ^= 0x01;
		assert_false(open_blob(key, blob, len));
		blob[i] ^= 0x01;
	}
	/* the same body sealed for another enclave or number does not open
	 * as this one: rewrite its header's id/n and the tag fails */
	uint8_t other[256];
	size_t olen = seal(key, "enc-2", 3, body, sizeof(body), other);
	assert_int_equal(olen, len);
	memcpy(other + 17, "enc-1", 5); /* the id claimed back */
	assert_false(open_blob(key, other, olen));
	olen = seal(key, "enc-1", 2, body, sizeof(body), other);
	other[17 + 5 + 7] = 3; /* renumbered 2 -> 3 */
	assert_false(open_blob(key, other, olen));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(writer_reader_round_trip),
		cmocka_unit_test(gnu_tar_reads_it),
		cmocka_unit_test(writer_refuses),
		cmocka_unit_test(header_round_trip_and_refusals),
		cmocka_unit_test(every_flipped_byte_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
