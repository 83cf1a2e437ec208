/* Unit tests for src/image: building, strict parsing (one negative case per
 * rule), and extraction that never follows symlinks. */
#include <fcntl.h>
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

#include <cmocka.h>

#include "cli/commands.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/util.h"
#include "image/image.h"

/* ---- helpers ---------------------------------------------------------- */

/* Assembles magic + BE length + manifest + payload. Caller frees. */
static uint8_t *raw_image(const char *manifest, const void *payload, size_t plen, size_t *outlen)
{
	size_t mlen = strlen(manifest);
	uint8_t *p = malloc(12 + mlen + plen + 1);
	assert_non_null(p);
	memcpy(p, CL_IMAGE_MAGIC, 8);
	p[8] = (uint8_t)(mlen >> 24);
	p[9] = (uint8_t)(mlen >> 16);
	p[10] = (uint8_t)(mlen >> 8);
	p[11] = (uint8_t)mlen;
	memcpy(p + 12, manifest, mlen);
	if (plen)
		memcpy(p + 12 + mlen, payload, plen);
	*outlen = 12 + mlen + plen;
	return p;
}

static void sha_hex(const void *p, size_t n, char out[97])
{
	uint8_t d[CL_SHA384_LEN];
	assert_int_equal(cl_sha384(p, n, d), CL_OK);
	cl_hex_encode(d, sizeof(d), out);
}

/* A manifest with one file per (path, mode, content) triple and the given
 * entrypoint; `extra` is spliced into the top-level object if not NULL. */
static char *manifest_for(const char *ep, const char *extra, size_t n, const char *const *paths,
			  const unsigned *modes, const char *const *contents)
{
	cl_buf b;
	const char *s;
	cl_buf_init(&b, 1 << 20);
	assert_int_equal(cl_buf_printf(&b, "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"%s\","
					   "\"args\":[\"-v\"],%s\"files\":[",
				       ep, extra ? extra : ""),
			 CL_OK);
	for (size_t i = 0; i < n; i++) {
		char hex[97];
		sha_hex(contents[i], strlen(contents[i]), hex);
		assert_int_equal(cl_buf_printf(&b, "%s{\"path\":\"%s\",\"mode\":%u,\"size\":%zu,\"sha384\":\"%s\"}",
					       i ? "," : "", paths[i], modes[i], strlen(contents[i]), hex),
				 CL_OK);
	}
	assert_int_equal(cl_buf_put_str(&b, "]}"), CL_OK);
	assert_int_equal(cl_buf_cstr(&b, &s), CL_OK);
	char *r = strdup(s);
	cl_buf_free(&b);
	return r;
}

/* Parses an image of files paths[i] with contents[i]; returns the error. */
static cl_err parse_files(const char *ep, size_t n, const char *const *paths, const unsigned *modes,
			  const char *const *contents)
{
	char *m = manifest_for(ep, NULL, n, paths, modes, contents);
	cl_buf pay;
	cl_buf_init(&pay, 1 << 20);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(cl_buf_put_str(&pay, contents[i]), CL_OK);
	size_t len;
	uint8_t *img = raw_image(m, pay.data, pay.len, &len);
	cl_image *out = NULL;
	cl_err e = cl_image_parse(img, len, &out);
	if (e == CL_OK)
		cl_image_free(out);
	else
		assert_null(out);
	free(img);
	free(m);
	cl_buf_free(&pay);
	return e;
}

static cl_err parse_manifest(const char *manifest, const char *payload)
{
	size_t len;
	uint8_t *img = raw_image(manifest, payload, strlen(payload), &len);
	cl_image *out = NULL;
	cl_err e = cl_image_parse(img, len, &out);
	cl_image_free(out);
	free(img);
	return e;
}

/* A valid two-file image: app/run (0755, "#!run") and etc/conf (0644). */
static uint8_t *valid_image(size_t *len)
{
	const char *paths[] = {"app/run", "etc/conf"}, *contents[] = {"#!run", "key=value\n"};
	const unsigned modes[] = {0755, 0644};
	char *m = manifest_for("/app/run", NULL, 2, paths, modes, contents);
	uint8_t *img = raw_image(m, "#!runkey=value\n", 15, len);
	free(m);
	return img;
}

static char tmpdir[64];

static int setup_tmp(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cl-test-image.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown_tmp(void **state)
{
	assert_int_equal(cl_rm_rf(tmpdir), CL_OK);
	return 0;
}

static void write_file(const char *path, const char *content, unsigned mode)
{
	assert_int_equal(cl_file_write_atomic(path, content, strlen(content), mode), CL_OK);
	assert_int_equal(chmod(path, mode), 0);
}

/* ---- positive --------------------------------------------------------- */

static void parse_valid(void **state)
{
	size_t len;
	uint8_t *data = valid_image(&len);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data, len, &img), CL_OK);
	assert_string_equal(img->name, "t");
	assert_string_equal(img->version, "1");
	assert_string_equal(img->entrypoint, "/app/run");
	assert_int_equal(img->nargs, 1);
	assert_string_equal(img->args[0], "-v");
	assert_null(img->args[1]);
	assert_int_equal(img->nfiles, 2);
	assert_string_equal(img->files[1].path, "etc/conf");
	assert_int_equal(img->files[1].mode, 0644);
	assert_int_equal(img->files[1].size, 10);
	assert_memory_equal(data + img->files[1].offset, "key=value\n", 10);
	uint8_t d[48];
	assert_int_equal(cl_sha384(data, len, d), CL_OK);
	assert_memory_equal(img->digest, d, 48);
	cl_image_free(img);
	free(data);
	cl_image_free(NULL);
}

static void build_parse_roundtrip(void **state)
{
	char a[128], b[128], out[128], out2[128];
	snprintf(a, sizeof(a), "%s/kv", tmpdir);
	snprintf(b, sizeof(b), "%s/conf", tmpdir);
	snprintf(out, sizeof(out), "%s/x.img", tmpdir);
	snprintf(out2, sizeof(out2), "%s/y.img", tmpdir);
	write_file(a, "ELF-ish binary", 0750);
	write_file(b, "", 0600); /* empty files are fine */
	const cl_image_input in[] = {{a, "app/kv"}, {b, "etc/deep/conf"}};
	const char *args[] = {"--port", "8080", NULL};
	cl_image_spec spec = {.name = "kv", .entrypoint = "/app/kv", .args = args, .inputs = in, .ninputs = 2};
	assert_int_equal(cl_image_build(&spec, out), CL_OK);
	assert_int_equal(cl_image_build(&spec, out2), CL_OK);

	cl_buf f1, f2;
	cl_buf_init(&f1, CL_IMAGE_MAX_SIZE);
	cl_buf_init(&f2, CL_IMAGE_MAX_SIZE);
	assert_int_equal(cl_file_read(out, CL_IMAGE_MAX_SIZE, &f1), CL_OK);
	assert_int_equal(cl_file_read(out2, CL_IMAGE_MAX_SIZE, &f2), CL_OK);
	/* Reproducible: same inputs, same bytes, same PCR0. */
	assert_int_equal(f1.len, f2.len);
	assert_memory_equal(f1.data, f2.data, f1.len);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(f1.data, f1.len, &img), CL_OK);
	assert_string_equal(img->version, "0.0.0");
	assert_int_equal(img->nargs, 2);
	assert_string_equal(img->args[1], "8080");
	assert_int_equal(img->nfiles, 2);
	assert_string_equal(img->files[0].path, "app/kv");
	assert_int_equal(img->files[0].mode, 0750);
	assert_int_equal(img->files[1].size, 0);
	struct stat st;
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	cl_image_free(img);
	cl_buf_free(&f1);
	cl_buf_free(&f2);
}

static void build_rejects(void **state)
{
	char a[128], out[128];
	snprintf(a, sizeof(a), "%s/bin", tmpdir);
	snprintf(out, sizeof(out), "%s/bad.img", tmpdir);
	write_file(a, "x", 0755);
	cl_image_input in[] = {{a, "app/bin"}};
	cl_image_spec spec = {.name = "n", .entrypoint = "/app/bin", .inputs = in, .ninputs = 1};

	in[0].dest = "../escape";
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	in[0].dest = "app/bin";
	spec.entrypoint = "/app/other";
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "not a file in the image"));
	spec.entrypoint = "/app/bin";
	in[0].src = "/nonexistent/file";
	assert_int_equal(cl_image_build(&spec, out), CL_ENOTFOUND);
	in[0].src = tmpdir; /* a directory */
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	spec.name = "bad\nname";
	in[0].src = a;
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	/* Nothing was published, and no temp file was left behind. */
	struct stat st;
	assert_int_equal(stat(out, &st), -1);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls %s | grep -q tmp", tmpdir);
	assert_int_not_equal(system(cmd), 0);
}

/* Inputs that are not regular files are refused before they are opened:
 * opening a FIFO for reading blocks until a writer comes, so a hang here is
 * the bug (the alarm's default action ends the test run with a failure). */
static void build_refuses_special_files(void **state)
{
	char a[128], fifo[128], sock[100], out[128];
	snprintf(a, sizeof(a), "%s/bin", tmpdir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	snprintf(sock, sizeof(sock), "%.80s/sock", tmpdir);
	snprintf(out, sizeof(out), "%s/special.img", tmpdir);
	write_file(a, "x", 0755);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	assert_int_equal(bind(sfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cl_image_input in[] = {{a, "app/bin"}, {fifo, "app/data"}};
	cl_image_spec spec = {.name = "n", .entrypoint = "/app/bin", .inputs = in, .ninputs = 2};
	alarm(20);
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "is a FIFO: only regular files can be packed"));
	assert_int_equal(cl_image_build_flags(&spec, out, CL_IMAGE_FOLLOW_SYMLINKS), CL_EINVAL);
	in[1].src = "/dev/null";
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "is a character device"));
	in[1].src = sock;
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "is a socket"));
	in[1].src = tmpdir;
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "is a directory"));
	alarm(0);
	close(sfd);
	struct stat st;
	assert_int_equal(stat(out, &st), -1);
}

/* A symbolic link is refused unless asked for (it would silently pack
 * whatever it points to); with CL_IMAGE_FOLLOW_SYMLINKS its target's bytes
 * are packed, and a loop or a dangling link is an error. */
static void build_symlinks(void **state)
{
	char a[128], secret[128], link[128], loop1[128], loop2[128], dangle[128], fifo[128], flink[128],
		out[128];
	snprintf(a, sizeof(a), "%s/bin", tmpdir);
	snprintf(secret, sizeof(secret), "%s/secret", tmpdir);
	snprintf(link, sizeof(link), "%s/link", tmpdir);
	snprintf(loop1, sizeof(loop1), "%s/loop1", tmpdir);
	snprintf(loop2, sizeof(loop2), "%s/loop2", tmpdir);
	snprintf(dangle, sizeof(dangle), "%s/dangle", tmpdir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", tmpdir);
	snprintf(flink, sizeof(flink), "%s/fifolink", tmpdir);
	snprintf(out, sizeof(out), "%s/link.img", tmpdir);
	write_file(a, "x", 0755);
	write_file(secret, "s3cret", 0640);
	assert_int_equal(symlink(secret, link), 0);
	assert_int_equal(symlink(loop2, loop1), 0);
	assert_int_equal(symlink(loop1, loop2), 0);
	assert_int_equal(symlink("nosuch", dangle), 0);
	assert_int_equal(mkfifo(fifo, 0644), 0);
	assert_int_equal(symlink(fifo, flink), 0);
	cl_image_input in[] = {{a, "app/bin"}, {link, "etc/key"}};
	cl_image_spec spec = {.name = "n", .entrypoint = "/app/bin", .inputs = in, .ninputs = 2};
	struct stat st;

	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "is a symbolic link"));
	assert_non_null(strstr(cl_error_detail(), "--follow-symlinks"));
	assert_int_equal(stat(out, &st), -1);

	assert_int_equal(cl_image_build_flags(&spec, out, CL_IMAGE_FOLLOW_SYMLINKS), CL_OK);
	cl_buf f;
	cl_buf_init(&f, 1 << 20);
	assert_int_equal(cl_file_read(out, 1 << 20, &f), CL_OK);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(f.data, f.len, &img), CL_OK);
	assert_int_equal(img->nfiles, 2);
	assert_string_equal(img->files[1].path, "etc/key");
	assert_int_equal(img->files[1].size, 6);
	assert_int_equal(img->files[1].mode, 0640); /* the target's mode, not the link's */
	assert_memory_equal(f.data + img->files[1].offset, "s3cret", 6);
	cl_image_free(img);
	cl_buf_free(&f);
	assert_int_equal(unlink(out), 0);

	alarm(20);
	in[1].src = loop1;
	assert_int_equal(cl_image_build(&spec, out), CL_EINVAL);
	assert_int_equal(cl_image_build_flags(&spec, out, CL_IMAGE_FOLLOW_SYMLINKS), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "symbolic link loop"));
	in[1].src = dangle;
	assert_int_equal(cl_image_build_flags(&spec, out, CL_IMAGE_FOLLOW_SYMLINKS), CL_ENOTFOUND);
	assert_non_null(strstr(cl_error_detail(), "dangling"));
	in[1].src = flink; /* followed to a FIFO: still refused, no hang */
	assert_int_equal(cl_image_build_flags(&spec, out, CL_IMAGE_FOLLOW_SYMLINKS), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "is a FIFO"));
	alarm(0);
	assert_int_equal(stat(out, &st), -1);
}

/* ---- negative: one per rule ------------------------------------------ */

static void truncated_everywhere(void **state)
{
	size_t len;
	uint8_t *data = valid_image(&len);
	for (size_t n = 0; n < len; n++) {
		cl_image *img = NULL;
		uint8_t *copy = malloc(n ? n : 1); /* exact-size copy so ASan sees over-reads */
		memcpy(copy, data, n);
		assert_int_not_equal(cl_image_parse(copy, n, &img), CL_OK);
		assert_null(img);
		free(copy);
	}
	/* One trailing byte too many is a size mismatch, too. */
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, data, len);
	longer[len] = 0;
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(longer, len + 1, &img), CL_EINVAL);
	free(longer);
	free(data);
}

static void bad_magic(void **state)
{
	size_t len;
	uint8_t *data = valid_image(&len);
	data[7] = '2';
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data, len, &img), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "magic"));
	free(data);
}

static void manifest_length_limits(void **state)
{
	size_t len;
	uint8_t *data = valid_image(&len);
	cl_image *img = NULL;
	uint32_t big = CL_IMAGE_MANIFEST_MAX + 1;
	data[8] = (uint8_t)(big >> 24), data[9] = (uint8_t)(big >> 16), data[10] = (uint8_t)(big >> 8),
	data[11] = (uint8_t)big;
	assert_int_equal(cl_image_parse(data, len, &img), CL_ETOOBIG);
	data[8] = data[9] = data[10] = data[11] = 0xff;
	assert_int_equal(cl_image_parse(data, len, &img), CL_ETOOBIG);
	/* Within the limit but longer than the input. */
	data[8] = 0, data[9] = 0, data[10] = 0x10, data[11] = 0;
	assert_int_equal(cl_image_parse(data, len, &img), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "truncated"));
	data[8] = data[9] = data[10] = data[11] = 0;
	assert_int_equal(cl_image_parse(data, len, &img), CL_EINVAL);
	assert_null(img);
	free(data);
}

static void bad_json(void **state)
{
	assert_int_equal(parse_manifest("{\"format\":1,", ""), CL_EINVAL);
	assert_int_equal(parse_manifest("[1,2,3]", ""), CL_EINVAL);
	assert_int_equal(parse_manifest("{} trailing", ""), CL_EINVAL);
	assert_int_equal(parse_manifest("\xff\xfe", ""), CL_EINVAL);
}

static void unknown_and_missing_fields(void **state)
{
	const char *p[] = {"app/run"}, *c[] = {"x"};
	const unsigned m[] = {0755};
	char *man = manifest_for("/app/run", "\"extra\":true,", 1, p, m, c);
	assert_int_equal(parse_manifest(man, "x"), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "unknown field"));
	free(man);
	/* Duplicate key: which "name" would count? Neither. */
	man = manifest_for("/app/run", "\"name\":\"other\",", 1, p, m, c);
	assert_int_equal(parse_manifest(man, "x"), CL_EINVAL);
	free(man);
	/* Wrong format version. */
	man = manifest_for("/app/run", NULL, 1, p, m, c);
	char *f = strstr(man, "\"format\":1");
	f[9] = '2';
	assert_int_equal(parse_manifest(man, "x"), CL_EINVAL);
	free(man);
	char hex[97];
	sha_hex("x", 1, hex);
	char buf[512];
	/* Missing version; unknown field in a file entry; missing sha384. */
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"entrypoint\":\"/a\",\"args\":[],"
		 "\"files\":[{\"path\":\"a\",\"mode\":493,\"size\":1,\"sha384\":\"%s\"}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, "x"), CL_EINVAL);
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],"
		 "\"files\":[{\"path\":\"a\",\"mode\":493,\"size\":1,\"sha384\":\"%s\",\"uid\":0}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, "x"), CL_EINVAL);
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],"
		 "\"files\":[{\"path\":\"a\",\"mode\":493,\"size\":1}]}");
	assert_int_equal(parse_manifest(buf, "x"), CL_EINVAL);
	/* Types: size as a string, size as a float, negative size, args not strings. */
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],"
		 "\"files\":[{\"path\":\"a\",\"mode\":493,\"size\":\"1\",\"sha384\":\"%s\"}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, "x"), CL_EINVAL);
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],"
		 "\"files\":[{\"path\":\"a\",\"mode\":493,\"size\":1.0,\"sha384\":\"%s\"}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, "x"), CL_EINVAL);
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],"
		 "\"files\":[{\"path\":\"a\",\"mode\":493,\"size\":-1,\"sha384\":\"%s\"}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, ""), CL_EINVAL);
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[1],"
		 "\"files\":[{\"path\":\"a\",\"mode\":493,\"size\":1,\"sha384\":\"%s\"}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, "x"), CL_EINVAL);
	/* The same manifest with everything right parses: the cases above fail for their one fault. */
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],"
		 "\"files\":[{\"path\":\"a\",\"mode\":493,\"size\":1,\"sha384\":\"%s\"}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, "x"), CL_OK);
}

static void bad_paths(void **state)
{
	static const char *const bad[] = {
		"../x", "a/../x", "a/..", "./x", "/abs", "a//b", "a/", "", "a b", "a\\b", "caf\xc3\xa9",
		"1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
		/* names the sandbox creates in the enclave root */
		"init", "proc/x", "dev/null", "tmp/a",
	};
	const unsigned m[] = {0755, 0755};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *p[] = {"app/run", bad[i]}, *c[] = {"x", "y"};
		assert_int_equal(parse_files("/app/run", 2, p, m, c), CL_EINVAL);
	}
	/* Depth 16 and names with dots that are not "." or ".." are fine. */
	const char *p[] = {"app/run", "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16", "..a/.b/c..", "initx"};
	const char *c[] = {"x", "y", "z", "w"};
	const unsigned m4[] = {0755, 0644, 0644, 0};
	assert_int_equal(parse_files("/app/run", 4, p, m4, c), CL_OK);
}

static void no_control_chars_in_errors(void **state)
{
	/* Untrusted text quoted in a detail must not break the one-line error. */
	const char *p[] = {"app/run", "/x\\n\\u001b[31m"}, *c[] = {"x", "y"};
	const unsigned m[] = {0755, 0644};
	assert_int_equal(parse_files("/app/run", 2, p, m, c), CL_EINVAL);
	assert_null(strpbrk(cl_error_detail(), "\n\x1b"));
	const char *p1[] = {"app/run"}, *c1[] = {"x"};
	char *man = manifest_for("/app/run", "\"evil\\nkey\":1,", 1, p1, m, c1);
	assert_int_equal(parse_manifest(man, "x"), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "unknown field \"evil?key\""));
	free(man);
	assert_int_equal(parse_manifest("{\"a\":\"\n\"}", ""), CL_EINVAL); /* raw newline in a string */
	assert_null(strchr(cl_error_detail(), '\n'));
}

static void duplicate_and_conflicting_paths(void **state)
{
	const unsigned m[] = {0755, 0644, 0644};
	const char *c[] = {"x", "y", "z"};
	const char *dup[] = {"app/run", "etc/a", "etc/a"};
	assert_int_equal(parse_files("/app/run", 3, dup, m, c), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "duplicate"));
	/* "app" is a file and also the parent of "app/run". */
	const char *clash[] = {"app/run", "app-x", "app"};
	assert_int_equal(parse_files("/app/run", 3, clash, m, c), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "parent directory"));
}

static void modes_and_entrypoint(void **state)
{
	const char *p[] = {"app/run"}, *c[] = {"x"};
	const unsigned suid[] = {04755}, noexec[] = {0644}, ok[] = {0100};
	assert_int_equal(parse_files("/app/run", 1, p, suid, c), CL_EINVAL);
	assert_int_equal(parse_files("/app/run", 1, p, noexec, c), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "not executable"));
	assert_int_equal(parse_files("app/run", 1, p, ok, c), CL_EINVAL);
	assert_int_equal(parse_files("/app/../app/run", 1, p, ok, c), CL_EINVAL);
	assert_int_equal(parse_files("/app/missing", 1, p, ok, c), CL_EINVAL);
	assert_int_equal(parse_files("/app", 1, p, ok, c), CL_EINVAL);
	assert_int_equal(parse_files("/app/run", 1, p, ok, c), CL_OK);
}

static void size_mismatch(void **state)
{
	const char *p[] = {"app/run"}, *c[] = {"abc"};
	const unsigned m[] = {0755};
	char *man = manifest_for("/app/run", NULL, 1, p, m, c);
	assert_int_equal(parse_manifest(man, "abc"), CL_OK);
	assert_int_equal(parse_manifest(man, "ab"), CL_EINVAL);
	assert_int_equal(parse_manifest(man, "abcd"), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "add up"));
	free(man);
}

static void digest_mismatch(void **state)
{
	size_t len;
	uint8_t *data = valid_image(&len);
	data[len - 1] ^= 1;
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data, len, &img), CL_ECRYPTO);
	assert_non_null(strstr(cl_error_detail(), "etc/conf"));
	assert_null(img);
	free(data);
}

static void overflowing_sizes(void **state)
{
	/* 2^63-1 + 2^63-1 + 2 wraps to 0 in 64 bits; with an empty payload a
	 * parser that summed without checking would accept it and point file
	 * offsets far outside the input. */
	char hex[97], buf[1024];
	sha_hex("", 0, hex);
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],\"files\":["
		 "{\"path\":\"a\",\"mode\":493,\"size\":9223372036854775807,\"sha384\":\"%s\"},"
		 "{\"path\":\"b\",\"mode\":493,\"size\":9223372036854775807,\"sha384\":\"%s\"},"
		 "{\"path\":\"c\",\"mode\":493,\"size\":2,\"sha384\":\"%s\"}]}",
		 hex, hex, hex);
	assert_int_equal(parse_manifest(buf, ""), CL_EINVAL);
	assert_non_null(strstr(cl_error_detail(), "overflow"));
	/* Beyond what a JSON integer can hold at all. */
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],\"files\":["
		 "{\"path\":\"a\",\"mode\":493,\"size\":18446744073709551616,\"sha384\":\"%s\"}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, ""), CL_EINVAL);
}

static void bad_sha_field(void **state)
{
	char hex[97], buf[1024];
	sha_hex("x", 1, hex);
	for (int i = 0; hex[i]; i++)
		if (hex[i] >= 'a' && hex[i] <= 'f')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],\"files\":["
		 "{\"path\":\"a\",\"mode\":493,\"size\":1,\"sha384\":\"%s\"}]}",
		 hex);
	assert_int_equal(parse_manifest(buf, "x"), CL_EINVAL);
	snprintf(buf, sizeof(buf),
		 "{\"format\":1,\"name\":\"t\",\"version\":\"1\",\"entrypoint\":\"/a\",\"args\":[],\"files\":["
		 "{\"path\":\"a\",\"mode\":493,\"size\":1,\"sha384\":\"abcd\"}]}");
	assert_int_equal(parse_manifest(buf, "x"), CL_EINVAL);
}

/* ---- extraction ------------------------------------------------------- */

static int open_dir(const char *name)
{
	char p[128];
	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	assert_int_equal(mkdir(p, 0755), 0);
	int fd = open(p, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	return fd;
}

static void extract_ok(void **state)
{
	size_t len;
	uint8_t *data = valid_image(&len);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data, len, &img), CL_OK);
	mode_t old = umask(077); /* the manifest's modes win over the umask */
	int dfd = open_dir("root");
	assert_int_equal(cl_image_extract(img, data, len, dfd), CL_OK);
	umask(old);
	struct stat st;
	assert_int_equal(fstatat(dfd, "app/run", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(st.st_size, 5);
	assert_int_equal(fstatat(dfd, "etc/conf", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	char buf[32] = {0};
	int fd = openat(dfd, "etc/conf", O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 10);
	assert_string_equal(buf, "key=value\n");
	close(fd);
	/* A second extraction into the same tree refuses the existing files. */
	assert_int_equal(cl_image_extract(img, data, len, dfd), CL_ECONFLICT);
	/* Data that does not match the parsed image is refused. */
	assert_int_equal(cl_image_extract(img, data, len - 1, dfd), CL_EINVAL);
	close(dfd);
	cl_image_free(img);
	free(data);
}

static void extract_refuses_symlinks(void **state)
{
	size_t len;
	uint8_t *data = valid_image(&len);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data, len, &img), CL_OK);
	char victim[128], outside[128];
	snprintf(victim, sizeof(victim), "%s/victim", tmpdir);
	snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
	write_file(victim, "precious", 0644);
	assert_int_equal(mkdir(outside, 0755), 0);

	/* Symlink at the file's own name. */
	int d1 = open_dir("r1");
	assert_int_equal(mkdirat(d1, "etc", 0755), 0);
	assert_int_equal(symlinkat(victim, d1, "etc/conf"), 0);
	assert_int_equal(cl_image_extract(img, data, len, d1), CL_ECONFLICT);
	/* Refused before anything was written: app/ was not created either. */
	struct stat st;
	assert_int_equal(fstatat(d1, "app", &st, AT_SYMLINK_NOFOLLOW), -1);

	/* Symlink as a parent directory. */
	int d2 = open_dir("r2");
	assert_int_equal(symlinkat(outside, d2, "etc"), 0);
	assert_int_equal(cl_image_extract(img, data, len, d2), CL_ECONFLICT);
	char p[160];
	snprintf(p, sizeof(p), "%s/conf", outside);
	assert_int_equal(stat(p, &st), -1);

	/* A dangling symlink is refused too (O_EXCL never creates through it). */
	int d3 = open_dir("r3");
	assert_int_equal(mkdirat(d3, "etc", 0755), 0);
	snprintf(p, sizeof(p), "%s/created-by-attack", outside);
	assert_int_equal(symlinkat(p, d3, "etc/conf"), 0);
	assert_int_equal(cl_image_extract(img, data, len, d3), CL_ECONFLICT);
	assert_int_equal(stat(p, &st), -1);

	cl_buf v;
	cl_buf_init(&v, 64);
	assert_int_equal(cl_file_read(victim, 64, &v), CL_OK);
	assert_int_equal(v.len, 8);
	assert_memory_equal(v.data, "precious", 8);
	cl_buf_free(&v);
	close(d1);
	close(d2);
	close(d3);
	cl_image_free(img);
	free(data);
}

/* ---- the CLI (src/cli/cmd_image.c) ------------------------------------ */

/* Runs `cloister image ARGS...` with stdout and stderr captured into files
 * under tmpdir; returns the exit code. */
static int run_cli(char **argv, cl_buf *out, cl_buf *err)
{
	char po[128], pe[128];
	snprintf(po, sizeof(po), "%s/stdout", tmpdir);
	snprintf(pe, sizeof(pe), "%s/stderr", tmpdir);
	fflush(stdout);
	fflush(stderr);
	int so = dup(1), se = dup(2);
	int fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600), fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(so >= 0 && se >= 0 && fo >= 0 && fe >= 0);
	dup2(fo, 1);
	dup2(fe, 2);
	int argc = 0;
	while (argv[argc])
		argc++;
	int rc = cl_cmd_image(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so), close(se), close(fo), close(fe);
	cl_buf_init(out, 1 << 20);
	cl_buf_init(err, 1 << 20);
	assert_int_equal(cl_file_read(po, 1 << 20, out), CL_OK);
	assert_int_equal(cl_file_read(pe, 1 << 20, err), CL_OK);
	return rc;
}

static size_t count_lines(const cl_buf *b)
{
	size_t n = 0;
	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

static void cli_build_and_inspect(void **state)
{
	char src[128], img[128], dest[160];
	snprintf(src, sizeof(src), "%s/hello", tmpdir);
	snprintf(img, sizeof(img), "%s/hello.img", tmpdir);
	snprintf(dest, sizeof(dest), "%s:bin/hi", src);
	write_file(src, "#!/bin/sh\necho hi\n", 0755);
	cl_buf out, err;
	const char *s;

	char *build[] = {"build", "-o", img, "--name", "hello", "--entrypoint", "/app/hello", "--arg", "-x",
			 "--arg", "--port=1", src, dest, NULL};
	assert_int_equal(run_cli(build, &out, &err), 0);
	assert_int_equal(err.len, 0);
	assert_int_equal(cl_buf_cstr(&out, &s), CL_OK);
	assert_non_null(strstr(s, "sha384: "));
	assert_non_null(strstr(s, "pcr0: "));
	cl_buf_free(&out);
	cl_buf_free(&err);

	char *inspect[] = {"inspect", "--json", img, NULL};
	assert_int_equal(run_cli(inspect, &out, &err), 0);
	assert_int_equal(cl_buf_cstr(&out, &s), CL_OK);
	assert_non_null(strstr(s, "\"path\": \"app/hello\""));  /* default DEST */
	assert_non_null(strstr(s, "\"path\": \"bin/hi\""));     /* SRC:DEST */
	assert_non_null(strstr(s, "\"--port=1\""));
	/* sha384 printed is the SHA-384 of the file (the image id's digest);
	 * pcr0 is the register: SHA-384(48 zero bytes || that digest) for an
	 * unsigned image (docs/measurements.md). */
	cl_buf f;
	cl_buf_init(&f, 1 << 20);
	assert_int_equal(cl_file_read(img, 1 << 20, &f), CL_OK);
	char hex[97], want[128], pcr0[97];
	sha_hex(f.data, f.len, hex);
	snprintf(want, sizeof(want), "\"sha384\": \"%s\"", hex);
	assert_non_null(strstr(s, want));
	uint8_t cat[96] = {0};
	assert_int_equal(cl_sha384(f.data, f.len, cat + 48), CL_OK);
	sha_hex(cat, sizeof(cat), pcr0);
	snprintf(want, sizeof(want), "\"pcr0\": \"%s\"", pcr0);
	assert_non_null(strstr(s, want));
	cl_buf_free(&f);
	cl_buf_free(&out);
	cl_buf_free(&err);

	char *human[] = {"inspect", img, NULL};
	assert_int_equal(run_cli(human, &out, &err), 0);
	assert_int_equal(cl_buf_cstr(&out, &s), CL_OK);
	assert_non_null(strstr(s, "entrypoint: /app/hello"));
	assert_non_null(strstr(s, "0755"));
	assert_non_null(strstr(s, hex));
	cl_buf_free(&out);
	cl_buf_free(&err);
}

static void cli_errors_are_one_line(void **state)
{
	char src[128], img[128], bad[128];
	snprintf(src, sizeof(src), "%s/hello", tmpdir);
	snprintf(img, sizeof(img), "%s/hello.img", tmpdir);
	snprintf(bad, sizeof(bad), "%s/bad.img", tmpdir);
	write_file(src, "x", 0755);
	write_file(bad, "CLIMAGE2 not an image", 0644);
	char *cases[][16] = {
		{"build", "-o", img, "--name", "n", "--entrypoint", "/app/nope", src, NULL},
		{"build", "-o", img, "--name", "n", "--entrypoint", "/app/hello", "/nonexistent", NULL},
		{"build", "--name", "n", src, NULL},
		{"build", "-o", img, "--name", "n", "--entrypoint", "/app/hello", "--bogus", src, NULL},
		{"inspect", bad, NULL},
		{"inspect", "/nonexistent.img", NULL},
		{"inspect", NULL},
		{"frobnicate", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cl_buf out, err;
		const char *s;
		assert_int_not_equal(run_cli(cases[i], &out, &err), 0);
		assert_int_equal(count_lines(&err), 1);
		assert_int_equal(cl_buf_cstr(&err, &s), CL_OK);
		assert_memory_equal(s, "error: ", 7);
		cl_buf_free(&out);
		cl_buf_free(&err);
	}
	struct stat st;
	assert_int_equal(stat(img, &st), -1); /* no failed build wrote the output */
}

static void cli_follow_symlinks(void **state)
{
	char src[128], link[128], img[128];
	snprintf(src, sizeof(src), "%s/hello", tmpdir);
	snprintf(link, sizeof(link), "%s/hello-link", tmpdir);
	snprintf(img, sizeof(img), "%s/hello.img", tmpdir);
	write_file(src, "#!/bin/sh\necho hi\n", 0755);
	assert_int_equal(symlink(src, link), 0);
	cl_buf out, err;
	const char *s;
	char *refused[] = {"build", "-o", img, "--name", "n", "--entrypoint", "/app/hello-link", link, NULL};
	assert_int_equal(run_cli(refused, &out, &err), 1);
	assert_int_equal(count_lines(&err), 1);
	assert_int_equal(cl_buf_cstr(&err, &s), CL_OK);
	assert_non_null(strstr(s, "--follow-symlinks"));
	cl_buf_free(&out);
	cl_buf_free(&err);
	char *followed[] = {"build",	       "-o",	   img,	 "--name", "n", "--entrypoint", "/app/hello-link",
			    "--follow-symlinks", link, NULL};
	assert_int_equal(run_cli(followed, &out, &err), 0);
	assert_int_equal(err.len, 0);
	cl_buf_free(&out);
	cl_buf_free(&err);
}

static void extract_refuses_file_as_parent(void **state)
{
	size_t len;
	uint8_t *data = valid_image(&len);
	cl_image *img = NULL;
	assert_int_equal(cl_image_parse(data, len, &img), CL_OK);
	int d = open_dir("r");
	int fd = openat(d, "etc", O_WRONLY | O_CREAT | O_EXCL, 0644); /* a file where etc/ should be */
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(cl_image_extract(img, data, len, d), CL_ECONFLICT);
	close(d);
	cl_image_free(img);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_valid),
		cmocka_unit_test_setup_teardown(build_parse_roundtrip, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(build_rejects, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(build_refuses_special_files, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(build_symlinks, setup_tmp, teardown_tmp),
		cmocka_unit_test(truncated_everywhere),
		cmocka_unit_test(bad_magic),
		cmocka_unit_test(manifest_length_limits),
		cmocka_unit_test(bad_json),
		cmocka_unit_test(unknown_and_missing_fields),
		cmocka_unit_test(bad_paths),
		cmocka_unit_test(no_control_chars_in_errors),
		cmocka_unit_test(duplicate_and_conflicting_paths),
		cmocka_unit_test(modes_and_entrypoint),
		cmocka_unit_test(size_mismatch),
		cmocka_unit_test(digest_mismatch),
		cmocka_unit_test(overflowing_sizes),
		cmocka_unit_test(bad_sha_field),
		cmocka_unit_test_setup_teardown(extract_ok, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(extract_refuses_symlinks, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(extract_refuses_file_as_parent, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(cli_build_and_inspect, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(cli_errors_are_one_line, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(cli_follow_symlinks, setup_tmp, teardown_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
