/* cmd_fw.c — `cloister fw ...`: the firmware signing tools. This file holds
 * the dispatcher, a number parser shared by cmd_fw*.c, and keygen, sign
 * and cosign; trust roots are in cmd_fw_trust.c, inspect/verify in
 * cmd_fw_verify.c, push/status/audit (hosts, via the control plane) in
 * cmd_fw_host.c. Pages: docs/cli/fw-*.md; format: docs/firmware-bundle.md. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cmd_fw.h"
#include "cli/commands.h"
#include "common/util.h"
#include "fw/fw_tools.h"

#define BUNDLE_FILE_MAX ((size_t)FW_MAX_BUNDLE)

cl_err cl_cli_fw_u64(const char *s, const char *what, uint64_t *out)
{
	char *end = NULL;
	if (!s || !*s || *s == '-' || *s == '+')
		return cl_errorf(CL_EINVAL, "%s must be a non-negative integer", what);
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return cl_errorf(CL_EINVAL, "%s must be a non-negative integer (got '%.32s')", what, s);
	*out = v;
	return CL_OK;
}

static int cmd_keygen(int argc, char **argv)
{
	const char *out = NULL, *pub = NULL, *pos[1];
	size_t npos;
	void *key = NULL;
	cl_err err;
	const cl_cli_option opts[] = {{.name = "out", .kind = CL_OPT_VALUE, .value = &out, .short_name = 'o'},
				      {.name = "pub", .kind = CL_OPT_VALUE, .value = &pub},
				      {0}};
	int rc = cl_cli_parse_or_usage(argc, argv, opts, pos, 0, &npos);
	if (rc)
		return rc;
	if (!out)
		return cl_cli_usage("fw keygen needs --out KEY.pem");
	/* Never clobber an existing key: losing a signing key is not undoable. */
	if (access(out, F_OK) == 0 || (pub && access(pub, F_OK) == 0))
		return cl_cli_usage("%s already exists; refusing to overwrite a key",
				    access(out, F_OK) == 0 ? out : pub);
	err = fw_key_generate(&key);
	if (err == CL_OK)
		err = fw_key_save_private(key, out);
	if (err == CL_OK && pub)
		err = fw_key_save_public(key, pub);
	if (err == CL_OK) {
		uint8_t kid[FW_KID_LEN];
		char hex[2 * FW_KID_LEN + 1];
		err = fw_key_kid(key, kid);
		if (err == CL_OK) {
			cl_hex_encode(kid, sizeof(kid), hex);
			printf("kid %s\n", hex);
		}
	}
	fw_key_free(key);
	return err == CL_OK ? 0 : cl_cli_fail(err);
}

static int cmd_sign(int argc, char **argv)
{
	const char *key_path = NULL, *vendor = NULL, *class_id = NULL, *out = NULL, *image_path = NULL;
	const char *seq = NULL, *use_before = NULL, *encrypt_to = NULL, *pos[1];
	fw_sign_params p = {0};
	size_t npos;
	const cl_cli_option opts[] = {
		{.name = "key", .kind = CL_OPT_VALUE, .value = &key_path},
		{.name = "vendor", .kind = CL_OPT_VALUE, .value = &vendor},
		{.name = "class", .kind = CL_OPT_VALUE, .value = &class_id},
		{.name = "component", .kind = CL_OPT_VALUE, .value = &p.component},
		{.name = "version", .kind = CL_OPT_VALUE, .value = &p.version},
		{.name = "sequence", .kind = CL_OPT_VALUE, .value = &seq},
		{.name = "channel", .kind = CL_OPT_VALUE, .value = &p.channel},
		{.name = "use-before", .kind = CL_OPT_VALUE, .value = &use_before},
		{.name = "encrypt-to", .kind = CL_OPT_VALUE, .value = &encrypt_to},
		{.name = "image", .kind = CL_OPT_VALUE, .value = &image_path},
		{.name = "out", .kind = CL_OPT_VALUE, .value = &out, .short_name = 'o'},
		{0},
	};
	int rc = cl_cli_parse_or_usage(argc, argv, opts, pos, 0, &npos);
	if (rc)
		return rc;
	if (!key_path || !vendor || !class_id || !p.component || !p.version || !seq || !p.channel || !image_path ||
	    !out)
		return cl_cli_usage("fw sign needs --key --vendor --class --component --version --sequence --channel "
				    "--image and -o");
	void *key = NULL, *dev = NULL;
	cl_buf img, bundle;
	cl_err err;
	cl_buf_init(&img, FW_MAX_IMAGE);
	cl_buf_init(&bundle, BUNDLE_FILE_MAX);
	CL_GUARD_OUT(err, fw_uuid_parse(vendor, p.vendor));
	CL_GUARD_OUT(err, fw_uuid_parse(class_id, p.class_id));
	CL_GUARD_OUT(err, cl_cli_fw_u64(seq, "--sequence", &p.sequence));
	if (use_before) {
		CL_GUARD_OUT(err, cl_cli_fw_u64(use_before, "--use-before", &p.use_before));
		p.has_use_before = true;
		/* A device refuses a bundle whose use-before has passed (expired). */
		uint64_t now = cl_now_wall_ms() / 1000;
		if (p.use_before <= now) {
			err = cl_errorf(CL_EINVAL, "--use-before %llu is not in the future (now %llu): every device would "
						   "refuse the bundle (expired)",
					(unsigned long long)p.use_before, (unsigned long long)now);
			goto out;
		}
	}
	CL_GUARD_OUT(err, fw_key_load_private(key_path, &key));
	if (encrypt_to) {
		CL_GUARD_OUT(err, fw_key_load_public(encrypt_to, &dev));
		p.encrypt_to = dev;
	}
	err = cl_file_read(image_path, FW_MAX_IMAGE, &img);
	if (err == CL_ETOOBIG)
		err = cl_errorf(err, "image %s is larger than %u bytes (a bundle is at most %u)", image_path,
				FW_MAX_IMAGE, FW_MAX_BUNDLE);
	if (err != CL_OK) {
		err = cl_errorf(err, "cannot read image %s: %s", image_path, cl_error_detail());
		goto out;
	}
	CL_GUARD_OUT(err, fw_bundle_build(&p, key, img.data, img.len, &bundle));
	CL_GUARD_OUT(err, cl_file_write_atomic(out, bundle.data, bundle.len, 0644));
	printf("signed %s: %s %s sequence %llu, %zu bytes%s\n", out, p.component, p.version,
	       (unsigned long long)p.sequence, img.len, dev ? ", encrypted to the device" : "");
out:
	fw_key_free(key);
	fw_key_free(dev);
	cl_buf_free(&img);
	cl_buf_free(&bundle);
	return err == CL_OK ? 0 : cl_cli_fail(err);
}

/* Locks the bundle file itself so concurrent co-signers serialise: after the
 * lock, the path must still name the locked inode (a finished co-signer
 * renamed a new file over it), else lock the new one. */
static cl_err lock_path(const char *path, int *fd_out)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cl_errorf(CL_EIO, "cannot open %s: %s", path, strerror(errno));
		if (flock(fd, LOCK_EX) != 0) {
			close(fd);
			return cl_errorf(CL_EIO, "cannot lock %s: %s", path, strerror(errno));
		}
		if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
			*fd_out = fd;
			return CL_OK;
		}
		close(fd);
	}
	return cl_errorf(CL_EIO, "%s keeps changing; cannot lock it", path);
}

static int cmd_cosign(int argc, char **argv)
{
	const char *key_path = NULL, *pos[1];
	size_t npos;
	const cl_cli_option opts[] = {{.name = "key", .kind = CL_OPT_VALUE, .value = &key_path}, {0}};
	int rc = cl_cli_parse_or_usage(argc, argv, opts, pos, 1, &npos), fd = -1;
	if (rc)
		return rc;
	if (!key_path || npos != 1)
		return cl_cli_usage("usage: cloister fw cosign --key KEY.pem BUNDLE");
	void *key = NULL;
	cl_buf in, out;
	cl_err err;
	cl_buf_init(&in, BUNDLE_FILE_MAX);
	cl_buf_init(&out, BUNDLE_FILE_MAX);
	CL_GUARD_OUT(err, fw_key_load_private(key_path, &key));
	CL_GUARD_OUT(err, lock_path(pos[0], &fd));
	CL_GUARD_OUT(err, cl_file_read(pos[0], BUNDLE_FILE_MAX, &in));
	CL_GUARD_OUT(err, fw_bundle_cosign(in.data, in.len, key, &out));
	/* Atomic: temp file, fsync, rename. A kill leaves the old or the new bundle. */
	CL_GUARD_OUT(err, cl_file_write_atomic(pos[0], out.data, out.len, 0644));
	printf("co-signed %s\n", pos[0]);
out:
	if (fd >= 0)
		close(fd);
	fw_key_free(key);
	cl_buf_free(&in);
	cl_buf_free(&out);
	return err == CL_OK ? 0 : cl_cli_fail(err);
}

static void usage(FILE *f)
{
	fputs("usage: cloister fw <command> ...\n"
	      "  keygen --out KEY.pem [--pub PUB.pem]\n"
	      "  trust-root sign --version N --threshold K --signer PUB.pem... --key KEY.pem...\n"
	      "       [--expires UNIX] -o TR.cbor\n"
	      "  trust-root rotate --prev TR_N.cbor --threshold K --signer PUB.pem... --key KEY.pem...\n"
	      "       [--root ROOT_PUB.pem] [--expires UNIX] -o TR.cbor\n"
	      "  window-policy --key ROOT.pem --version N --seconds S (--host H --device ADDR --vendor UUID\n"
	      "       --class UUID --device-key DEV.pub | --any) [--power-cycle N] -o POLICY.cbor\n"
	      "  sign --key K.pem --vendor UUID --class UUID --component ADDR --version V --sequence N\n"
	      "       --channel NAME [--use-before UNIX] [--encrypt-to DEV_PUB.pem] --image FILE -o BUNDLE\n"
	      "  cosign --key K.pem BUNDLE\n"
	      "  push --host HOST --device ADDR [--next-boot] [--wait] BUNDLE\n"
	      "  status --host HOST\n"
	      "  audit --host HOST [--verify] [--after SEQ]\n"
	      "  inspect [--json] BUNDLE\n"
	      "  verify --root ROOT_PUB.pem --trust-root TR1.cbor[,TR2.cbor...] --vendor UUID --class UUID\n"
	      "         --component ADDR --counter N [--now UNIX] [--trust-floor N] [--device-key KEY.pem]\n"
	      "         [--out IMAGE] BUNDLE\n",
	      f);
}

/* The host-firmware verbs (cmd_fw_host.c) talk to the control plane and
 * have their own --help. */

int cl_cmd_fw(int argc, char **argv)
{
	if (argc < 1)
		return cl_cli_usage("fw needs a command (see 'cloister fw help')");
	const char *verb = argv[0];
	if (strcmp(verb, "push") == 0)
		return cl_cmd_fw_push(argc - 1, argv + 1);
	if (strcmp(verb, "status") == 0)
		return cl_cmd_fw_status(argc - 1, argv + 1);
	if (strcmp(verb, "audit") == 0)
		return cl_cmd_fw_audit(argc - 1, argv + 1);
	/* `cloister fw VERB --help` shows the synopsis of every fw command. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	if (strcmp(verb, "keygen") == 0)
		return cmd_keygen(argc - 1, argv + 1);
	if (strcmp(verb, "sign") == 0)
		return cmd_sign(argc - 1, argv + 1);
	if (strcmp(verb, "cosign") == 0)
		return cmd_cosign(argc - 1, argv + 1);
	if (strcmp(verb, "trust-root") == 0)
		return cl_cmd_fw_trust_root(argc - 1, argv + 1);
	if (strcmp(verb, "window-policy") == 0)
		return cl_cmd_fw_window_policy(argc - 1, argv + 1);
	if (strcmp(verb, "inspect") == 0)
		return cl_cmd_fw_inspect(argc - 1, argv + 1);
	if (strcmp(verb, "verify") == 0)
		return cl_cmd_fw_verify(argc - 1, argv + 1);
	if (strcmp(verb, "help") == 0 || strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0) {
		usage(stdout);
		return 0;
	}
	return cl_cli_usage("unknown fw command '%.32s' (see 'cloister fw help')", verb);
}
