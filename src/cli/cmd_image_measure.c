/* cmd_image_measure.c — `cloister image measure` (the measurement registers
 * of an image, docs/measurements.md) and `cloister image sign` (its
 * signature section, docs/image-format.md). Local only: no control plane. */
#include <errno.h>
#include <libgen.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/util.h"
#include "fw/fw_tools.h"
#include "image/image.h"
#include "image/measure.h"

#define INIT_MAX (64u << 20)  /* a cloister-init binary is well under 1 MiB */
#define CERT_FILE_MAX (64u << 10)

static const char measure_usage[] =
	"usage: cloister image measure IMAGE [--init PATH] [--init-bundle PATH] [--tenant T --name N]\n"
	"                              [--await-bundle] [--suspendable] [--network [--expose PORTS]]\n"
	"                              [--host H] [--json]\n"
	"Prints the measurement registers an enclave launched from IMAGE gets\n"
	"(docs/measurements.md): PCR0 the image without its signature section,\n"
	"PCR1 cloister-init then cloister-init-bundle, PCR2 the application\n"
	"(entrypoint, args, files), and PCR8 the signing certificate if the image\n"
	"is signed. PCR3 (tenant and enclave name) and PCR4 (host) depend on the\n"
	"launch: give them to add them.\n"
	"  --init PATH     the cloister-init binary (default: the one next to this\n"
	"                  cloister binary)\n"
	"  --init-bundle PATH  the cloister-init-bundle binary, its provisioning\n"
	"                  helper (default: the one next to the cloister-init used)\n"
	"  --tenant T      the tenant id, with --name: adds PCR3\n"
	"  --name N        the enclave's name, with --tenant\n"
	"  --await-bundle  the enclave awaits a bundle (enclave create --await-bundle):\n"
	"                  PCR3 is extended once more with \"await-bundle\"\n"
	"  --suspendable   the enclave was created --suspendable: PCR3 is extended\n"
	"                  once more with \"suspendable\" (after \"await-bundle\")\n"
	"  --network       the enclave was created --network: PCR3 is extended once\n"
	"                  more (last) with \"network\", or \"network:\" and the\n"
	"  --expose PORTS  ports of --expose, ascending: \"network:80,8443\"\n"
	"  --host H        the host id: adds PCR4\n"
	"  --json          print {\"pcrs\":{\"0\":\"<hex>\",...}}\n";

static const char sign_usage[] =
	"usage: cloister image sign IMAGE --key KEY.pem --cert CERT.pem\n"
	"Signs IMAGE in place (replaced atomically): adds a signature section with\n"
	"the certificate and an ECDSA P-384 signature over the image without its\n"
	"section, replacing any earlier one (docs/image-format.md). The key must be\n"
	"the certificate's. The image's sha384 (its id) changes; PCR0 does not, and\n"
	"PCR8 becomes the certificate's measurement.\n"
	"  --key KEY.pem    the signer's P-384 private key (PEM, or a pkcs11: URI)\n"
	"  --cert CERT.pem  the signer's X.509 certificate (PEM or DER), P-384 key\n"
	"  --json           print {\"path\",\"signer\",\"sha384\",\"pcr8\"}\n";

/* err again, its detail prefixed with what (the detail is copied first:
 * cl_errorf must not read the buffer it writes). */
static cl_err with_context(cl_err err, const char *what)
{
	char d[512];
	snprintf(d, sizeof(d), "%s", cl_error_detail());
	return cl_errorf(err, "%s: %s", what, d);
}

/* Reads and parses an image file. *data owns the bytes the image refers to. */
static cl_err load(const char *path, cl_buf *data, cl_image **img)
{
	CL_GUARD(cl_file_read(path, CL_IMAGE_MAX_SIZE, data));
	return cl_image_parse(data->data, data->len, img);
}

/* The file name beside the file at path (path NULL: the running cloister
 * binary), into out. */
static cl_err beside(const char *path, const char *name, char *out, size_t n)
{
	char self[4096];
	if (path) {
		CL_ENSURE((size_t)snprintf(self, sizeof(self), "%s", path) < sizeof(self), CL_EINVAL,
			  "--init: path too long");
	} else {
		ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
		CL_ENSURE(len > 0 && (size_t)len < sizeof(self) - 1, CL_ESYS,
			  "cannot find the cloister binary's directory: give --init PATH");
		self[len] = '\0';
	}
	CL_ENSURE((size_t)snprintf(out, n, "%s/%s", dirname(self), name) < n, CL_EINVAL,
		  "the path is too long: give --init and --init-bundle");
	return CL_OK;
}

static void hex48(const uint8_t *v, char out[2 * CL_PCR_LEN + 1])
{
	cl_hex_encode(v, CL_PCR_LEN, out);
}

int cl_cmd_image_measure(int argc, char **argv)
{
	const char *init_path = NULL, *helper_path = NULL, *tenant = NULL, *name = NULL, *host = NULL, *pos[1];
	bool json = false, await_bundle = false, suspendable = false, network = false;
	const char *expose = NULL;
	uint16_t ports[CL_PCR3_EXPOSE_MAX];
	size_t nports = 0;
	const cl_cli_option opts[] = {
		{"network", CL_OPT_FLAG, .flag = &network},
		{"expose", CL_OPT_VALUE, .value = &expose},
		{"await-bundle", CL_OPT_FLAG, .flag = &await_bundle},
		{"suspendable", CL_OPT_FLAG, .flag = &suspendable},
		{"init", CL_OPT_VALUE, .value = &init_path}, {"init-bundle", CL_OPT_VALUE, .value = &helper_path},
		{"tenant", CL_OPT_VALUE, .value = &tenant},
		{"name", CL_OPT_VALUE, .value = &name},      {"host", CL_OPT_VALUE, .value = &host},
		{"json", CL_OPT_FLAG, .flag = &json},        {0},
	};
	size_t npos = 0;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, measure_usage, &rc))
		return rc;
	if (npos != 1)
		return cl_cli_usage("image measure: expected one IMAGE");
	if (!tenant != !name)
		return cl_cli_usage("image measure: --tenant and --name go together (PCR3 is both)");
	if ((tenant && !*tenant) || (name && !*name) || (host && !*host))
		return cl_cli_usage("image measure: --tenant, --name and --host must not be empty");
	if (expose && !network)
		return cl_cli_usage("image measure: --expose needs --network");
	if (expose && cl_cli_parse_ports(expose, ports, CL_PCR3_EXPOSE_MAX, &nports) != CL_OK)
		return cl_cli_usage("image measure: %s", cl_error_detail());
	char def[4200], def_helper[4200];
	cl_buf data, init, helper;
	cl_image *img = NULL;
	cl_pcrs p;
	json_t *o = NULL;
	cl_err err = CL_OK;
	cl_buf_init(&data, CL_IMAGE_MAX_SIZE);
	cl_buf_init(&init, INIT_MAX);
	cl_buf_init(&helper, INIT_MAX);
	cl_pcrs_init(&p);
	if (!init_path) {
		CL_GUARD_OUT(err, beside(NULL, "cloister-init", def, sizeof(def)));
		init_path = def;
	}
	if (!helper_path) {
		CL_GUARD_OUT(err, beside(init_path, "cloister-init-bundle", def_helper, sizeof(def_helper)));
		helper_path = def_helper;
	}
	CL_GUARD_OUT(err, load(pos[0], &data, &img));
	if ((err = cl_file_read(init_path, INIT_MAX, &init)) != CL_OK) {
		err = with_context(err, "cannot read cloister-init (--init PATH names another)");
		goto out;
	}
	if ((err = cl_file_read(helper_path, INIT_MAX, &helper)) != CL_OK) {
		err = with_context(err, "cannot read cloister-init-bundle (--init-bundle PATH names another)");
		goto out;
	}
	cl_boot_files boot = {init.data, init.len, helper.data, helper.len};
	CL_GUARD_OUT(err, cl_image_measure(img, data.data, data.len, &boot, &p));
	cl_pcrs_launch(&p, tenant, name, host);
	if (await_bundle)
		cl_pcrs_await_bundle(&p);
	if (suspendable)
		cl_pcrs_suspendable(&p);
	if (network)
		cl_pcrs_network(&p, ports, nports);
	bool shown[CL_NPCRS] = {[0] = true, [1] = true, [2] = true};
	shown[3] = tenant != NULL || await_bundle || suspendable || network;
	shown[4] = host != NULL;
	shown[8] = img->signer_cert_len > 0;
	json = json || cl_cli_global()->json;
	json_t *pcrs = json ? json_object() : NULL;
	if (json && !(o = json_pack("{s:O}", "pcrs", pcrs)))
		err = cl_errorf(CL_ENOMEM, "out of memory");
	for (unsigned i = 0; err == CL_OK && i < CL_NPCRS; i++) {
		char hex[2 * CL_PCR_LEN + 1], key[4];
		if (!shown[i])
			continue;
		hex48(p.v[i], hex);
		snprintf(key, sizeof(key), "%u", i);
		if (!json)
			printf("PCR%u %s\n", i, hex);
		else if (json_object_set_new(pcrs, key, json_string(hex)) != 0)
			err = cl_errorf(CL_ENOMEM, "out of memory");
	}
	json_decref(pcrs);
	if (err == CL_OK && json)
		cl_cli_print_json(o);
out:
	json_decref(o);
	cl_image_free(img);
	cl_buf_free(&data);
	cl_buf_free(&init);
	cl_buf_free(&helper);
	return cl_cli_fail(err);
}

/* ---- image sign ---- */

/* The certificate in the file at path as DER into der (cleared first): the
 * first CERTIFICATE block of a PEM file, or the file itself when it is not
 * PEM. The parser of cl_image_sign checks that it is a certificate. */
static cl_err read_cert(const char *path, cl_buf *der)
{
	cl_buf f;
	char *pem_name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long n = 0;
	cl_err err = CL_OK;
	cl_buf_init(&f, CERT_FILE_MAX);
	if ((err = cl_file_read(path, CERT_FILE_MAX, &f)) != CL_OK) {
		err = with_context(err, "cannot read the certificate");
		goto out;
	}
	if (f.len < 10 || memcmp(f.data, "-----BEGIN", 10) != 0) {
		err = cl_buf_put(der, f.data, f.len);
	} else {
		BIO *bio = BIO_new_mem_buf(f.data, (int)f.len);
		int ok = bio && PEM_read_bio(bio, &pem_name, &header, &data, &n) == 1;
		BIO_free(bio);
		if (!ok || strcmp(pem_name, "CERTIFICATE") != 0 || n <= 0) {
			err = cl_errorf(CL_EINVAL, "%s: not a PEM certificate (expected a CERTIFICATE block)", path);
			goto out;
		}
		err = cl_buf_put(der, data, (size_t)n);
	}
	if (err != CL_OK)
		err = cl_errorf(err, "%s: the certificate is larger than %u bytes", path, CL_IMAGE_CERT_MAX);
out:
	OPENSSL_free(pem_name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	ERR_clear_error();
	cl_buf_free(&f);
	return err;
}

/* cl_image_signer over an EVP_PKEY (a PEM key or a pkcs11 token's). */
static cl_err sign_with_key(void *key, const uint8_t hash[static 48], uint8_t sig[static CL_IMAGE_SIG_LEN])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new((EVP_PKEY *)key, NULL);
	uint8_t der[160];
	size_t derlen = sizeof(der);
	const unsigned char *p = der;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	cl_err err = CL_OK;
	if (!c || EVP_PKEY_sign_init(c) != 1 || EVP_PKEY_sign(c, der, &derlen, hash, CL_SHA384_LEN) != 1 ||
	    !(es = d2i_ECDSA_SIG(NULL, &p, (long)derlen))) {
		err = cl_errorf(CL_ECRYPTO, "ECDSA signing failed");
		goto out;
	}
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 48) != 48 || BN_bn2binpad(s, sig + 48, 48) != 48)
		err = cl_errorf(CL_ECRYPTO, "ECDSA signature out of range");
out:
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(c);
	ERR_clear_error();
	return err;
}

int cl_cmd_image_sign(int argc, char **argv)
{
	const char *key_path = NULL, *cert_path = NULL, *pos[1];
	bool json = false;
	const cl_cli_option opts[] = {
		{"key", CL_OPT_VALUE, .value = &key_path},
		{"cert", CL_OPT_VALUE, .value = &cert_path},
		{"json", CL_OPT_FLAG, .flag = &json},
		{0},
	};
	size_t npos = 0;
	int rc;
	if (cl_cli_parse_or_help(argc, argv, opts, pos, 1, &npos, sign_usage, &rc))
		return rc;
	if (npos != 1 || !key_path || !cert_path)
		return cl_cli_usage("image sign: expected IMAGE, --key KEY.pem and --cert CERT.pem");
	cl_buf data, der, out;
	cl_image *img = NULL;
	void *key = NULL;
	struct stat st;
	cl_err err = CL_OK;
	cl_buf_init(&data, CL_IMAGE_MAX_SIZE);
	cl_buf_init(&der, CL_IMAGE_CERT_MAX);
	cl_buf_init(&out, CL_IMAGE_MAX_SIZE);
	CL_GUARD_OUT(err, read_cert(cert_path, &der));
	CL_GUARD_OUT(err, fw_key_load_private(key_path, &key));
	if ((err = cl_file_read(pos[0], CL_IMAGE_MAX_SIZE, &data)) != CL_OK) {
		err = with_context(err, "cannot read the image");
		goto out;
	}
	if (stat(pos[0], &st) != 0) {
		err = cl_errorf(CL_EIO, "stat %s: %s", pos[0], strerror(errno));
		goto out;
	}
	CL_GUARD_OUT(err, cl_image_sign(data.data, data.len, der.data, der.len, sign_with_key, key, &out));
	/* Temp file, fsync, rename: a kill leaves the old image or the signed one. */
	CL_GUARD_OUT(err, cl_file_write_atomic(pos[0], out.data, out.len, st.st_mode & 0777));
	CL_GUARD_OUT(err, cl_image_parse(out.data, out.len, &img));
	cl_pcrs p;
	cl_pcrs_init(&p);
	CL_GUARD_OUT(err, cl_image_measure(img, out.data, out.len, NULL, &p));
	char subject[512], sha[2 * CL_SHA384_LEN + 1], pcr8[2 * CL_PCR_LEN + 1];
	CL_GUARD_OUT(err, cl_image_signer_subject(img, out.data, out.len, subject, sizeof(subject)));
	cl_hex_encode(img->digest, CL_SHA384_LEN, sha);
	hex48(p.v[8], pcr8);
	if (json || cl_cli_global()->json) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "path", pos[0], "signer", subject, "sha384", sha, "pcr8", pcr8);
		if (o)
			cl_cli_print_json(o);
		json_decref(o);
	} else {
		printf("signed %s\nsigner: %s\nsha384: %s\npcr8:   %s\n", pos[0], subject, sha, pcr8);
	}
out:
	fw_key_free(key);
	cl_image_free(img);
	cl_buf_free(&data);
	cl_buf_free(&der);
	cl_buf_free(&out);
	return cl_cli_fail(err);
}
