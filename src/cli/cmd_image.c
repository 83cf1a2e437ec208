/* cmd_image.c — `cloister image build` and `cloister image inspect`: local
 * operations on image files (docs/image-format.md), no control plane
 * needed (so are `image measure` and `image sign`, cmd_image_measure.c);
 * `cloister image list` and `cloister image rm`: the tenant's images on the
 * control plane (docs/api/images-*.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/util.h"
#include "image/image.h"
#include "image/measure.h"

#define MAX_ARGS 256 /* the parser accepts at most this many (docs/image-format.md) */

static const char build_usage[] =
	"usage: cloister image build -o OUT --name NAME [--version V] --entrypoint /PATH [--arg A]...\n"
	"                            [--follow-symlinks] SRC[:DEST]...\n"
	"Packs files into an image. Each SRC is stored at DEST inside the image\n"
	"(default app/<basename of SRC>), with SRC's permission bits. SRC must be a\n"
	"regular file: FIFOs, sockets, devices and directories are refused, and so\n"
	"are symbolic links unless --follow-symlinks is given.\n"
	"  -o, --output OUT       the image file to write (replaced atomically)\n"
	"  --name NAME            image name (printable ASCII, up to 128 bytes)\n"
	"  --version V            image version (default 0.0.0)\n"
	"  --entrypoint /PATH     program to run, an executable file of the image\n"
	"  --arg A                an argument for the entrypoint (repeatable, in order)\n"
	"  --follow-symlinks      pack the file a symbolic link SRC points to\n";
static const char inspect_usage[] = "usage: cloister image inspect [--json] FILE\n"
				    "Checks an image (and its signature, if signed) and prints its manifest,\n"
				    "files, digest (sha384, the image's id), PCR0, and signer and PCR8 if signed.\n";
static const char list_usage[] = "usage: cloister image list [--limit N] [--after CURSOR] [--json]\n"
				 "Lists the images stored for the caller's tenant (all pages unless\n"
				 "--limit/--after ask for one).\n";
static const char rm_usage[] = "usage: cloister image rm ID\n"
			       "Deletes one of the caller's images (refused while an enclave uses it).\n";
static const char image_usage[] =
	"usage: cloister image build -o OUT --name NAME [--version V] --entrypoint /PATH [--arg A]...\n"
	"                            [--follow-symlinks] SRC[:DEST]...\n"
	"       cloister image inspect [--json] FILE\n"
	"       cloister image measure IMAGE [--init PATH] [--tenant T --name N] [--host H] [--json]\n"
	"       cloister image sign IMAGE --key KEY.pem --cert CERT.pem\n"
	"       cloister image list [--limit N] [--after CURSOR] [--json]\n"
	"       cloister image rm ID\n"
	"\n"
	"build    packs files into an image\n"
	"inspect  checks an image and prints its manifest, files, digest and PCR0\n"
	"measure  prints the measurement registers (PCRs) an enclave of the image gets\n"
	"sign     adds (or replaces) the image's signature section\n"
	"list     lists the images stored for the caller's tenant\n"
	"rm       deletes one of them (refused while an enclave uses it)\n"
	"`cloister image VERB --help` shows a verb's options.\n";

/* Splits "SRC[:DEST]" (DEST never holds ':', so the last ':' separates). The
 * default destination is app/<basename>. *src and *dest are malloc'd. */
static cl_err split_input(const char *arg, char **src, char **dest)
{
	const char *colon = strrchr(arg, ':');
	*src = colon ? strndup(arg, (size_t)(colon - arg)) : strdup(arg);
	CL_ENSURE(*src, CL_ENOMEM, "out of memory");
	if (colon) {
		*dest = strdup(colon + 1);
		CL_ENSURE(*dest, CL_ENOMEM, "out of memory");
		return CL_OK;
	}
	const char *base = strrchr(*src, '/');
	base = base ? base + 1 : *src;
	CL_ENSURE(*base, CL_EINVAL, "cannot name '%s' inside the image: give SRC:DEST", arg);
	size_t n = strlen(base) + sizeof("app/");
	*dest = malloc(n);
	CL_ENSURE(*dest, CL_ENOMEM, "out of memory");
	snprintf(*dest, n, "app/%s", base);
	return CL_OK;
}

/* Reads and parses an image file. *data owns the bytes the image refers to. */
static cl_err load_image(const char *path, cl_buf *data, cl_image **img)
{
	cl_buf_init(data, CL_IMAGE_MAX_SIZE);
	CL_GUARD(cl_file_read(path, CL_IMAGE_MAX_SIZE, data));
	return cl_image_parse(data->data, data->len, img);
}

/* The image's content address (the SHA-384 of the whole file, its id's
 * digest) and its PCR0 register (docs/measurements.md), as hex. */
static cl_err digest_and_pcr0(const cl_image *img, const cl_buf *data, char sha[2 * CL_SHA384_LEN + 1],
			      char pcr0[2 * CL_PCR_LEN + 1])
{
	cl_pcrs p;
	cl_pcrs_init(&p);
	CL_GUARD(cl_image_measure(img, data->data, data->len, NULL, &p));
	cl_hex_encode(img->digest, CL_SHA384_LEN, sha);
	cl_hex_encode(p.v[0], CL_PCR_LEN, pcr0);
	return CL_OK;
}

/* A signed image's signer (subject) and PCR8 as hex; both "" if unsigned. */
static cl_err signer_and_pcr8(const cl_image *img, const cl_buf *data, char *subject, size_t n,
			      char pcr8[2 * CL_PCR_LEN + 1])
{
	subject[0] = pcr8[0] = '\0';
	if (!img->signer_cert_len)
		return CL_OK;
	uint8_t reg[CL_PCR_LEN] = {0};
	cl_pcr_extend(reg, data->data + img->signer_cert, img->signer_cert_len);
	cl_hex_encode(reg, CL_PCR_LEN, pcr8);
	return cl_image_signer_subject(img, data->data, data->len, subject, n);
}

static int image_build(int argc, char **argv)
{
	const char *out = NULL, *name = NULL, *version = NULL, *entry = NULL;
	const char *args[MAX_ARGS + 1] = {0};
	size_t nargs = 0, npos = 0;
	bool help = false, follow = false;
	const cl_cli_option opts[] = {
		{"follow-symlinks", CL_OPT_FLAG, .flag = &follow},
		{"output", CL_OPT_VALUE, .value = &out},
		{"name", CL_OPT_VALUE, .value = &name},
		{"version", CL_OPT_VALUE, .value = &version},
		{"entrypoint", CL_OPT_VALUE, .value = &entry},
		{"arg", CL_OPT_MULTI, .values = args, .max_values = MAX_ARGS, .count = &nargs},
		{0},
	};
	int ret = CL_CLI_EXIT_FAIL;
	cl_err err = CL_OK;
	cl_image_input *in = NULL;
	char **argv2 = calloc((size_t)argc + 1, sizeof(*argv2));
	const char **pos = calloc((size_t)argc + 1, sizeof(*pos));
	if (!argv2 || !pos) {
		ret = cl_cli_fail(cl_errorf(CL_ENOMEM, "out of memory"));
		goto out;
	}
	/* cl_cli_parse_opts knows only long options: -o is --output. */
	for (int i = 0, only_pos = 0; i < argc; i++) {
		only_pos = only_pos || strcmp(argv[i], "--") == 0;
		argv2[i] = !only_pos && strcmp(argv[i], "-o") == 0 ? (char *)"--output" : argv[i];
	}
	err = cl_cli_parse_opts(argc, argv2, opts, pos, (size_t)argc, &npos, &help);
	if (err != CL_OK) {
		ret = cl_cli_fail_usage(err);
		goto out;
	}
	if (help) {
		fputs(build_usage, stdout);
		ret = 0;
		goto out;
	}
	if (!out || !name || !entry || npos == 0) {
		ret = cl_cli_usage("image build: -o OUT, --name, --entrypoint and at least one SRC are required");
		goto out;
	}
	in = calloc(npos, sizeof(*in));
	if (!in) {
		ret = cl_cli_fail(cl_errorf(CL_ENOMEM, "out of memory"));
		goto out;
	}
	for (size_t i = 0; i < npos; i++) {
		char *s = NULL, *d = NULL;
		err = split_input(pos[i], &s, &d);
		in[i].src = s;
		in[i].dest = d;
		if (err != CL_OK) {
			ret = cl_cli_fail_usage(err);
			goto out;
		}
	}
	cl_image_spec spec = {.name = name, .version = version, .entrypoint = entry, .args = args,
			      .inputs = in, .ninputs = npos};
	if ((err = cl_image_build_flags(&spec, out, follow ? CL_IMAGE_FOLLOW_SYMLINKS : 0)) != CL_OK) {
		ret = cl_cli_fail(err);
		goto out;
	}
	cl_buf data;
	cl_image *img = NULL;
	err = load_image(out, &data, &img);
	char hex[2 * CL_SHA384_LEN + 1], pcr0[2 * CL_PCR_LEN + 1];
	if (err == CL_OK)
		err = digest_and_pcr0(img, &data, hex, pcr0);
	if (err == CL_OK) {
		if (cl_cli_global()->json) {
			json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I}", "path", out, "sha384", hex, "pcr0", pcr0, "size",
					      (json_int_t)data.len, "files", (json_int_t)img->nfiles);
			if (o)
				cl_cli_print_json(o);
			json_decref(o);
		} else {
			printf("built %s (%zu files, %zu bytes)\nsha384: %s\npcr0:   %s\n", out, img->nfiles, data.len,
			       hex, pcr0);
		}
	}
	cl_image_free(img);
	cl_buf_free(&data);
	ret = cl_cli_fail(err);
out:
	if (in)
		for (size_t i = 0; i < npos; i++) {
			free((char *)in[i].src);
			free((char *)in[i].dest);
		}
	free(in);
	free(pos);
	free(argv2);
	return ret;
}

static json_t *image_json(const cl_image *img, size_t len, const char *sha, const char *pcr0, const char *signer,
			  const char *pcr8)
{
	json_t *args = json_array(), *files = json_array();
	for (size_t i = 0; args && i < img->nargs; i++)
		json_array_append_new(args, json_string(img->args[i]));
	for (size_t i = 0; files && i < img->nfiles; i++) {
		char fh[2 * CL_SHA384_LEN + 1];
		cl_hex_encode(img->files[i].sha384, CL_SHA384_LEN, fh);
		json_array_append_new(files, json_pack("{s:s,s:I,s:I,s:s}", "path", img->files[i].path, "mode",
						       (json_int_t)img->files[i].mode, "size",
						       (json_int_t)img->files[i].size, "sha384", fh));
	}
	json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:s,s:s,s:I,s:b,s:o}", "name", img->name, "version", img->version,
			      "entrypoint", img->entrypoint, "args", args, "sha384", sha, "pcr0", pcr0, "size",
			      (json_int_t)len, "signed", *signer != '\0', "files", files);
	if (o && *signer &&
	    (json_object_set_new(o, "signer", json_string(signer)) != 0 ||
	     json_object_set_new(o, "pcr8", json_string(pcr8)) != 0)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

static void print_human(const cl_image *img, size_t len, const char *sha, const char *pcr0, const char *signer,
			const char *pcr8)
{
	printf("name:       %s\nversion:    %s\nentrypoint: %s\nargs:      ", img->name, img->version,
	       img->entrypoint);
	/* Arguments are arbitrary UTF-8: print them JSON-quoted so control
	 * characters cannot reach the terminal raw. */
	for (size_t i = 0; i < img->nargs; i++) {
		json_t *s = json_string(img->args[i]);
		char *q = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		printf(" %s", q ? q : "?");
		free(q);
		json_decref(s);
	}
	printf("%s\nsize:       %zu bytes\nsha384:     %s\npcr0:       %s\n", img->nargs ? "" : " -", len, sha, pcr0);
	if (*signer)
		printf("signer:     %s\npcr8:       %s\n", signer, pcr8);
	else
		printf("signer:     - (unsigned)\n");
	printf("files:\n");
	static const char *const head[] = {"MODE", "SIZE", "SHA384", "PATH"};
	cl_cli_table *t = NULL;
	if (cl_cli_table_new(4, head, &t) != CL_OK)
		return;
	for (size_t i = 0; i < img->nfiles; i++) {
		char mode[8], size[24], fh[2 * CL_SHA384_LEN + 1];
		snprintf(mode, sizeof(mode), "%04o", (unsigned)img->files[i].mode);
		snprintf(size, sizeof(size), "%llu", (unsigned long long)img->files[i].size);
		cl_hex_encode(img->files[i].sha384, CL_SHA384_LEN, fh);
		const char *row[] = {mode, size, fh, img->files[i].path};
		if (cl_cli_table_add(t, row) != CL_OK)
			break;
	}
	cl_cli_table_print(t);
	cl_cli_table_free(t);
}

static int image_inspect(int argc, char **argv)
{
	bool json = false, help = false;
	const cl_cli_option opts[] = {{"json", CL_OPT_FLAG, .flag = &json}, {0}};
	const char *pos[1];
	size_t npos = 0;
	cl_err err = cl_cli_parse_opts(argc, argv, opts, pos, 1, &npos, &help);
	if (err != CL_OK)
		return cl_cli_fail_usage(err);
	if (help) {
		fputs(inspect_usage, stdout);
		return 0;
	}
	if (npos != 1)
		return cl_cli_usage("image inspect: expected one FILE");
	cl_buf data;
	cl_image *img = NULL;
	char sha[2 * CL_SHA384_LEN + 1], pcr0[2 * CL_PCR_LEN + 1], pcr8[2 * CL_PCR_LEN + 1], signer[512];
	err = load_image(pos[0], &data, &img);
	if (err == CL_OK)
		err = digest_and_pcr0(img, &data, sha, pcr0);
	if (err == CL_OK)
		err = signer_and_pcr8(img, &data, signer, sizeof(signer), pcr8);
	if (err == CL_OK) {
		if (json || cl_cli_global()->json) {
			json_t *o = image_json(img, data.len, sha, pcr0, signer, pcr8);
			if (o)
				cl_cli_print_json(o);
			else
				err = cl_errorf(CL_ENOMEM, "cannot encode the manifest as JSON");
			json_decref(o);
		} else {
			print_human(img, data.len, sha, pcr0, signer, pcr8);
		}
	}
	cl_image_free(img);
	cl_buf_free(&data);
	return cl_cli_fail(err);
}

/* ---- the control plane's images ---- */

static cl_err add_image_row(cl_cli_table *t, const json_t *im)
{
	static const char *const keys[] = {"id", "name", "size", "sha384", "created_at"};
	char b[5][160];
	const char *row[5];
	for (int k = 0; k < 5; k++)
		row[k] = cl_cli_json_text(json_object_get(im, keys[k]), b[k], sizeof(b[k]));
	if (strlen(b[3]) > 16) /* the digest's first 16 hex digits; --json has all */
		snprintf(b[3] + 16, sizeof(b[3]) - 16, "...");
	return cl_cli_table_add(t, row);
}

static int image_list(int argc, char **argv)
{
	const char *limit_s = NULL, *after = NULL;
	const cl_cli_option opts[] = {
		{"limit", CL_OPT_VALUE, .value = &limit_s},
		{"after", CL_OPT_VALUE, .value = &after},
		{0},
	};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 0, &npos, list_usage, &rc))
		return rc;
	static const char *const header[] = {"ID", "NAME", "SIZE", "SHA384", "CREATED"};
	const cl_cli_list l = {.what = "image", .path = "/v1/images", .limit = limit_s, .after = after,
			       .ncols = 5, .header = header, .add_row = add_image_row};
	return cl_cli_list_pages(&l);
}

static int image_rm(int argc, char **argv)
{
	static const cl_cli_option opts[] = {{0}};
	const char *pos[1];
	size_t npos;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, rm_usage, &rc))
		return rc;
	if (npos != 1)
		return cl_cli_usage("image rm: missing image ID");
	if (!cl_cli_valid_id(pos[0]))
		return cl_cli_usage("image rm: invalid image id '%s'", pos[0]);
	char path[256];
	snprintf(path, sizeof(path), "/v1/images/%s", pos[0]);
	cl_cli_conn *c = NULL;
	json_t *resp = NULL;
	cl_err err = cl_cli_connect(&c);
	if (err == CL_OK)
		err = cl_cli_call(c, "DELETE", path, NULL, &resp, NULL);
	if (err == CL_OK) {
		if (cl_cli_global()->json)
			cl_cli_print_json(resp);
		else
			printf("deleted %s\n", pos[0]);
	}
	json_decref(resp);
	cl_cli_conn_free(c);
	return cl_cli_fail(err);
}

int cl_cmd_image(int argc, char **argv)
{
	if (argc < 1 || cl_cli_is_help(argv[0])) {
		fputs(image_usage, argc < 1 ? stderr : stdout);
		return argc < 1 ? cl_cli_usage("missing verb (build, inspect, measure, sign, list, rm)") : 0;
	}
	if (strcmp(argv[0], "build") == 0)
		return image_build(argc - 1, argv + 1);
	if (strcmp(argv[0], "inspect") == 0)
		return image_inspect(argc - 1, argv + 1);
	if (strcmp(argv[0], "measure") == 0)
		return cl_cmd_image_measure(argc - 1, argv + 1);
	if (strcmp(argv[0], "sign") == 0)
		return cl_cmd_image_sign(argc - 1, argv + 1);
	if (strcmp(argv[0], "list") == 0)
		return image_list(argc - 1, argv + 1);
	if (strcmp(argv[0], "rm") == 0)
		return image_rm(argc - 1, argv + 1);
	return cl_cli_usage("unknown verb 'image %s' (expected: build, inspect, measure, sign, list, rm)", argv[0]);
}
