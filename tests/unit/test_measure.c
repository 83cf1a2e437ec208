/* Unit tests for src/image/measure.c: the extend operation, the launch
 * registers and an image's registers, each checked against an independent
 * implementation (tests/unit/measure_ref.py, Python hashlib only, written
 * from docs/measurements.md) run by the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/util.h"
#include "image/image.h"
#include "image/measure.h"

#define REF "tests/unit/measure_ref.py"

static char tmpdir[64];

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cl-test-measure.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_tmp(void **state)
{
	assert_int_equal(cl_rm_rf(tmpdir), CL_OK);
	return 0;
}

/* Runs `python3 measure_ref.py ARGS` and returns its one output line
 * (malloc'd, without the newline). */
static char *ref(const char *args)
{
	char cmd[16384];
	assert_true((size_t)snprintf(cmd, sizeof(cmd), "python3 " REF " %s", args) < sizeof(cmd));
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	assert_int_equal(pclose(f), 0);
	assert_true(n > 0);
	if (line[n - 1] == '\n')
		line[n - 1] = '\0';
	return line;
}

static void hex_of(const void *p, size_t n, char *out)
{
	cl_hex_encode(p, n, out);
}

static void assert_reg(const uint8_t reg[CL_PCR_LEN], const char *want_hex)
{
	char hex[2 * CL_PCR_LEN + 1];
	hex_of(reg, CL_PCR_LEN, hex);
	assert_string_equal(hex, want_hex);
}

static const uint8_t zero[CL_PCR_LEN];

/* ---- extend --------------------------------------------------------- */

static void extend_known_answers(void **state)
{
	/* One extend each of "", "abc" and 1000 bytes; then a chain of three. */
	static const char *const data[] = {"", "abc", NULL};
	for (size_t i = 0; data[i]; i++) {
		uint8_t reg[CL_PCR_LEN] = {0};
		char hex[64], args[128];
		hex_of(data[i], strlen(data[i]), hex);
		cl_pcr_extend(reg, data[i], strlen(data[i]));
		snprintf(args, sizeof(args), "extend '%s'", hex);
		char *want = ref(args);
		assert_reg(reg, want);
		free(want);
	}
	uint8_t big[1000], reg[CL_PCR_LEN] = {0};
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	char bighex[2 * sizeof(big) + 1], args[2 * sizeof(big) + 64];
	hex_of(big, sizeof(big), bighex);
	cl_pcr_extend(reg, big, sizeof(big));
	snprintf(args, sizeof(args), "extend %s", bighex);
	char *want = ref(args);
	assert_reg(reg, want);
	free(want);

	memset(reg, 0, sizeof(reg));
	cl_pcr_extend(reg, "one", 3);
	cl_pcr_extend(reg, NULL, 0);
	cl_pcr_extend(reg, "three", 5);
	want = ref("extend 6f6e65 '' 7468726565");
	assert_reg(reg, want);
	free(want);

	/* Not plain SHA-384 of the data: the register's old value counts. */
	uint8_t d[CL_SHA384_LEN];
	memset(reg, 0, sizeof(reg));
	cl_pcr_extend(reg, "abc", 3);
	assert_int_equal(cl_sha384("abc", 3, d), CL_OK);
	assert_memory_not_equal(reg, d, sizeof(d));
}

static void pcrs_init_zeroes(void **state)
{
	cl_pcrs p;
	memset(&p, 0xa5, sizeof(p));
	cl_pcrs_init(&p);
	for (int i = 0; i < CL_NPCRS; i++)
		assert_memory_equal(p.v[i], zero, CL_PCR_LEN);
}

/* ---- launch registers ----------------------------------------------- */

static void launch_registers(void **state)
{
	cl_pcrs p;
	cl_pcrs_init(&p);
	memset(p.v[7], 0x77, CL_PCR_LEN); /* another register: untouched */
	cl_pcrs_launch(&p, "ten-abc", "web", "host-1");
	/* "ten-abc" = 74656e2d616263, "web" = 776562, "host-1" = 686f73742d31 */
	char *pcr3 = ref("extend 74656e2d616263 776562"), *pcr4 = ref("extend 686f73742d31");
	assert_reg(p.v[3], pcr3);
	assert_reg(p.v[4], pcr4);
	uint8_t sevens[CL_PCR_LEN];
	memset(sevens, 0x77, sizeof(sevens));
	assert_memory_equal(p.v[7], sevens, CL_PCR_LEN);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(p.v[i], zero, CL_PCR_LEN);

	/* Set, not extended: a second call gives the same registers. */
	cl_pcrs_launch(&p, "ten-abc", "web", "host-1");
	assert_reg(p.v[3], pcr3);
	assert_reg(p.v[4], pcr4);

	/* Tenant and name are two fields: "ten-a"+"bcweb" is another PCR3. */
	cl_pcrs_launch(&p, "ten-a", "bcweb", "host-1");
	char hex[2 * CL_PCR_LEN + 1];
	hex_of(p.v[3], CL_PCR_LEN, hex);
	assert_string_not_equal(hex, pcr3);

	/* NULL leaves a register zero. */
	cl_pcrs_launch(&p, NULL, "web", NULL);
	assert_memory_equal(p.v[3], zero, CL_PCR_LEN);
	assert_memory_equal(p.v[4], zero, CL_PCR_LEN);
	cl_pcrs_launch(&p, NULL, NULL, "host-1");
	assert_memory_equal(p.v[3], zero, CL_PCR_LEN);
	assert_reg(p.v[4], pcr4);
	free(pcr3);
	free(pcr4);
}

/* An enclave with a network: one more PCR3 extend, "network" or
 * "network:" and its exposed ports sorted; none without a network. */
static void network_register(void **state)
{
	cl_pcrs p;
	cl_pcrs_init(&p);
	cl_pcrs_launch(&p, "ten-abc", "web", "host-1");
	char *plain = ref("extend 74656e2d616263 776562");
	assert_reg(p.v[3], plain); /* an enclave without --network: PCR3 as before */
	cl_pcrs_network(&p, NULL, 0);
	/* "network" = 6e6574776f726b */
	char *net = ref("extend 74656e2d616263 776562 6e6574776f726b");
	assert_reg(p.v[3], net);
	cl_pcrs_launch(&p, "ten-abc", "web", "host-1");
	uint16_t ports[] = {8443, 80, 8080};
	cl_pcrs_network(&p, ports, 3);
	/* "network:80,8080,8443" */
	char *exp = ref("extend 74656e2d616263 776562 6e6574776f726b3a38302c383038302c38343433");
	assert_reg(p.v[3], exp);
	assert_int_equal(ports[0], 8443); /* the caller's array is not sorted in place */
	cl_pcrs_launch(&p, "ten-abc", "web", "host-1");
	uint16_t sorted[] = {80, 8080, 8443};
	cl_pcrs_network(&p, sorted, 3); /* the order given does not matter */
	assert_reg(p.v[3], exp);
	uint16_t one[] = {80};
	cl_pcrs_launch(&p, "ten-abc", "web", "host-1");
	cl_pcrs_network(&p, one, 1);
	char hex[2 * CL_PCR_LEN + 1];
	hex_of(p.v[3], CL_PCR_LEN, hex);
	assert_string_not_equal(hex, exp);
	assert_string_not_equal(hex, net);
	free(plain);
	free(net);
	free(exp);
}

/* ---- an image's registers ------------------------------------------- */

static void write_bytes(const char *path, const void *p, size_t n, unsigned mode)
{
	assert_int_equal(cl_file_write_atomic(path, p, n, mode), CL_OK);
	assert_int_equal(chmod(path, mode), 0);
}

/* Builds an image of three files with args in tmpdir/NAME; returns its bytes. */
static void build_image(const char *name, const char *const *args, const char *entry_content, cl_buf *out)
{
	char a[160], b[160], c[160], img[160];
	snprintf(a, sizeof(a), "%s/run", tmpdir);
	snprintf(b, sizeof(b), "%s/conf", tmpdir);
	snprintf(c, sizeof(c), "%s/empty", tmpdir);
	snprintf(img, sizeof(img), "%s/%s", tmpdir, name);
	write_bytes(a, entry_content, strlen(entry_content), 0755);
	write_bytes(b, "{\"port\":8080}\n", 14, 0640);
	write_bytes(c, "", 0, 0600);
	const cl_image_input in[] = {{a, "app/run"}, {b, "etc/app/conf.json"}, {c, "var/empty"}};
	cl_image_spec spec = {.name = "m", .version = "1.0", .entrypoint = "/app/run", .args = args, .inputs = in,
			      .ninputs = 3};
	assert_int_equal(cl_image_build(&spec, img), CL_OK);
	cl_buf_init(out, 1 << 20);
	assert_int_equal(cl_file_read(img, 1 << 20, out), CL_OK);
}

/* The four registers of cl_image_measure as "PCR0 PCR1 PCR2 PCR8" hex. */
static void measured(const cl_pcrs *p, char *out, size_t n)
{
	char h[4][2 * CL_PCR_LEN + 1];
	hex_of(p->v[0], CL_PCR_LEN, h[0]);
	hex_of(p->v[1], CL_PCR_LEN, h[1]);
	hex_of(p->v[2], CL_PCR_LEN, h[2]);
	hex_of(p->v[8], CL_PCR_LEN, h[3]);
	snprintf(out, n, "%s %s %s %s", h[0], h[1], h[2], h[3]);
}

static void measure_known_image(void **state)
{
	static const char *const args[] = {"--port", "8080", "a b", "\xc3\xa9t\xc3\xa9", NULL};
	cl_buf data;
	build_image("m.img", args, "#!/bin/sh\nexec sleep 1\n", &data);
	char init_path[160], helper_path[160], args_s[400], got[4 * 97 + 4];
	static const uint8_t init[] = "\x7f" "ELF pretend init binary";
	static const uint8_t helper[] = "\x7f" "ELF pretend init-bundle binary";
	snprintf(init_path, sizeof(init_path), "%s/init", tmpdir);
	snprintf(helper_path, sizeof(helper_path), "%s/init-bundle", tmpdir);
	write_bytes(init_path, init, sizeof(init), 0755);
	write_bytes(helper_path, helper, sizeof(helper), 0755);
	cl_boot_files boot = {init, sizeof(init), helper, sizeof(helper)};

	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data.data, data.len, &img), CL_OK);
	cl_pcrs p;
	cl_pcrs_init(&p);
	memset(p.v[3], 0x33, CL_PCR_LEN); /* not cl_image_measure's: untouched */
	assert_int_equal(cl_image_measure(img, data.data, data.len, &boot, &p), CL_OK);
	measured(&p, got, sizeof(got));
	snprintf(args_s, sizeof(args_s), "image %s/m.img %s %s", tmpdir, init_path, helper_path);
	char *want = ref(args_s);
	assert_string_equal(got, want);
	free(want);
	uint8_t threes[CL_PCR_LEN];
	memset(threes, 0x33, sizeof(threes));
	assert_memory_equal(p.v[3], threes, CL_PCR_LEN);
	assert_memory_equal(p.v[8], zero, CL_PCR_LEN); /* unsigned */

	/* Unsigned: PCR0 = SHA-384(zeros || the image id's digest). */
	uint8_t cat[96] = {0}, pcr0[48];
	memcpy(cat + 48, img->digest, 48);
	assert_int_equal(cl_sha384(cat, sizeof(cat), pcr0), CL_OK);
	assert_memory_equal(p.v[0], pcr0, 48);

	/* PCR1 = extend(extend(zeros, init), helper): the helper counts. */
	uint8_t pcr1[CL_PCR_LEN] = {0};
	cl_pcr_extend(pcr1, init, sizeof(init));
	assert_memory_not_equal(p.v[1], pcr1, CL_PCR_LEN);
	cl_pcr_extend(pcr1, helper, sizeof(helper));
	assert_memory_equal(p.v[1], pcr1, CL_PCR_LEN);

	/* The same inputs, the same registers; another helper, another PCR1
	 * (and nothing else); boot NULL leaves PCR1 zero. */
	cl_pcrs q;
	cl_pcrs_init(&q);
	assert_int_equal(cl_image_measure(img, data.data, data.len, &boot, &q), CL_OK);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(p.v[i], q.v[i], CL_PCR_LEN);
	static const uint8_t other[] = "\x7f" "ELF another init-bundle";
	cl_boot_files boot2 = {init, sizeof(init), other, sizeof(other)};
	assert_int_equal(cl_image_measure(img, data.data, data.len, &boot2, &q), CL_OK);
	assert_memory_not_equal(p.v[1], q.v[1], CL_PCR_LEN);
	assert_memory_equal(p.v[0], q.v[0], CL_PCR_LEN);
	assert_memory_equal(p.v[2], q.v[2], CL_PCR_LEN);
	assert_int_equal(cl_image_measure(img, data.data, data.len, NULL, &q), CL_OK);
	assert_memory_equal(q.v[1], zero, CL_PCR_LEN);
	assert_memory_equal(q.v[0], p.v[0], CL_PCR_LEN);
	cl_image_free(img);
	cl_buf_free(&data);
}

/* The worked example of docs/measurements.md: fuzz/corpus/image/tiny.img. */
static void measure_tiny_img(void **state)
{
	cl_buf data;
	cl_buf_init(&data, 1 << 20);
	assert_int_equal(cl_file_read("fuzz/corpus/image/tiny.img", 1 << 20, &data), CL_OK);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data.data, data.len, &img), CL_OK);
	cl_pcrs p;
	cl_pcrs_init(&p);
	assert_int_equal(cl_image_measure(img, data.data, data.len, NULL, &p), CL_OK);
	char got[4 * 97 + 4];
	measured(&p, got, sizeof(got));
	char *want = ref("image fuzz/corpus/image/tiny.img");
	assert_string_equal(got, want);
	free(want);
	cl_image_free(img);
	cl_buf_free(&data);
}

/* PCR2's fields are length-prefixed: moving a boundary changes it. */
static void app_register_is_unambiguous(void **state)
{
	/* Same count, same bytes end to end: only the prefixes tell them apart. */
	static const char *const one[] = {"ab", "c", NULL}, *const two[] = {"a", "bc", NULL}, *const none[] = {NULL};
	static const char *const *const sets[] = {one, two, none};
	uint8_t pcr2[3][CL_PCR_LEN], pcr0[3][CL_PCR_LEN];
	for (int i = 0; i < 3; i++) {
		cl_buf data;
		char name[32];
		snprintf(name, sizeof(name), "u%d.img", i);
		build_image(name, sets[i], "#!x\n", &data);
		cl_image *img = NULL;
		assert_int_equal(cl_image_parse(data.data, data.len, &img), CL_OK);
		cl_pcrs p;
		cl_pcrs_init(&p);
		assert_int_equal(cl_image_measure(img, data.data, data.len, NULL, &p), CL_OK);
		memcpy(pcr2[i], p.v[2], CL_PCR_LEN);
		memcpy(pcr0[i], p.v[0], CL_PCR_LEN);
		cl_image_free(img);
		cl_buf_free(&data);
	}
	assert_memory_not_equal(pcr2[0], pcr2[1], CL_PCR_LEN);
	assert_memory_not_equal(pcr2[0], pcr2[2], CL_PCR_LEN);
	assert_memory_not_equal(pcr2[1], pcr2[2], CL_PCR_LEN);
	assert_memory_not_equal(pcr0[0], pcr0[1], CL_PCR_LEN);

	/* A file's content is in PCR2 through its SHA-384. */
	cl_buf a, b;
	build_image("c1.img", none, "#!one\n", &a);
	build_image("c2.img", none, "#!two\n", &b);
	cl_image *ia = NULL, *ib = NULL;
	assert_int_equal(cl_image_parse(a.data, a.len, &ia), CL_OK);
	assert_int_equal(cl_image_parse(b.data, b.len, &ib), CL_OK);
	cl_pcrs pa, pb;
	cl_pcrs_init(&pa);
	cl_pcrs_init(&pb);
	assert_int_equal(cl_image_measure(ia, a.data, a.len, NULL, &pa), CL_OK);
	assert_int_equal(cl_image_measure(ib, b.data, b.len, NULL, &pb), CL_OK);
	assert_memory_not_equal(pa.v[2], pb.v[2], CL_PCR_LEN);
	cl_image_free(ia);
	cl_image_free(ib);
	cl_buf_free(&a);
	cl_buf_free(&b);
}

static void measure_rejects_other_data(void **state)
{
	cl_buf data;
	build_image("r.img", NULL, "#!r\n", &data);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data.data, data.len, &img), CL_OK);
	cl_pcrs p, before;
	memset(&p, 0x5a, sizeof(p));
	before = p;
	/* Another byte anywhere: not the parsed image. p is left alone. */
	data.data[20] ^= 1;
	assert_int_equal(cl_image_measure(img, data.data, data.len, NULL, &p), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "not the image"));
	data.data[20] ^= 1;
	assert_int_equal(cl_image_measure(img, data.data, data.len - 1, NULL, &p), CL_EINVAL);
	static const uint8_t bin[] = "x";
	cl_boot_files no_helper = {bin, sizeof(bin), NULL, 0}, no_init = {NULL, 0, bin, sizeof(bin)};
	assert_int_equal(cl_image_measure(img, data.data, data.len, &no_helper, &p), CL_EINVAL);
	assert_int_equal(cl_image_measure(img, data.data, data.len, &no_init, &p), CL_EINVAL);
	assert_memory_equal(&p, &before, sizeof(p));
	assert_int_equal(cl_image_measure(img, data.data, data.len, NULL, &p), CL_OK);
	cl_image_free(img);
	cl_buf_free(&data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(extend_known_answers),
		cmocka_unit_test(pcrs_init_zeroes),
		cmocka_unit_test(launch_registers),
		cmocka_unit_test(network_register),
		cmocka_unit_test_setup_teardown(measure_known_image, setup_tmp, teardown_tmp),
		cmocka_unit_test(measure_tiny_img),
		cmocka_unit_test_setup_teardown(app_register_is_unambiguous, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(measure_rejects_other_data, setup_tmp, teardown_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
