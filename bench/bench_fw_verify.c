/* bench_fw_verify.c — firmware bundle verification throughput.
 * usage: bench_fw_verify SIZE_MIB [IMAGE_OUT]
 * Builds a bundle of a random SIZE_MIB image signed by 2 of 3 signers (k = 2,
 * trust root v1 from a root key), then times fw_verify_bundle (parse, two
 * ES384 verifications, one copy-and-hash pass into the destination) over
 * enough rounds for ~1 s. Prints "fw_verify SIZE MiB: X MiB/s (N rounds)".
 * IMAGE_OUT, if given, receives the image (for `openssl dgst` side by side:
 * bench/fw_verify.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/util.h"
#include "fw/fw_tools.h"

static void die(const char *what)
{
	fprintf(stderr, "bench_fw_verify: %s failed: %s\n", what, cl_error_detail());
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return fprintf(stderr, "usage: bench_fw_verify SIZE_MIB [IMAGE_OUT]\n"), 2;
	long mib = strtol(argv[1], NULL, 10);
	if (mib < 1 || mib > 512)
		return fprintf(stderr, "SIZE_MIB must be 1..512\n"), 2;
	size_t n = (size_t)mib << 20;
	void *root, *k[3];
	fw_ops ops;
	fw_trust t, scratch;
	uint8_t root_pt[FW_POINT_LEN];
	cl_buf tr, b1, b2;
	uint8_t *image = malloc(n), *dest = malloc(n);
	if (!image || !dest)
		die("malloc");
	for (size_t off = 0; off < n; off += 1 << 16)
		if (cl_random(image + off, 1 << 16) != CL_OK)
			die("random");
	if (argc > 2 && cl_file_write_atomic(argv[2], image, n, 0644) != CL_OK)
		die("write image");
	if (fw_key_generate(&root) || fw_key_generate(&k[0]) || fw_key_generate(&k[1]) || fw_key_generate(&k[2]) ||
	    fw_key_point(root, root_pt))
		die("keygen");
	fw_openssl_ops(&ops, NULL);
	cl_buf_init(&tr, 1 << 16);
	const void *signers[] = {k[0], k[1], k[2]}, *by[] = {root};
	if (fw_trust_build(1, 2, signers, 3, false, 0, by, 1, &tr) != CL_OK)
		die("trust root");
	if (fw_trust_init(&t, root_pt, &ops) != FW_OK || fw_trust_apply(&t, &scratch, tr.data, tr.len, &ops) != FW_OK)
		die("trust apply");
	fw_sign_params p = {.component = "0000:03:00.0", .version = "1.0", .channel = "stable", .sequence = 2};
	cl_buf_init(&b1, n + (1 << 16));
	cl_buf_init(&b2, n + (1 << 16));
	if (fw_bundle_build(&p, k[0], image, n, &b1) != CL_OK || fw_bundle_cosign(b1.data, b1.len, k[1], &b2) != CL_OK)
		die("sign");
	fw_device dev = {.component = "0000:03:00.0", .counter = 1};
	fw_result r;
	/* Warm up (page-in dest), then time. */
	if (fw_verify_bundle(&t, &dev, &ops, b2.data, b2.len, dest, n, &r) != FW_OK)
		die("verify");
	/* Interleave rounds of the verifier and of a plain in-process SHA-384
	 * (OpenSSL EVP, what `openssl dgst` runs) over the same image, so a
	 * busy machine slows both alike. */
	int rounds = 0;
	uint64_t t_verify = 0, t_sha = 0;
	uint8_t md[CL_SHA384_LEN];
	do {
		uint64_t a = cl_now_mono_ns();
		fw_status s = fw_verify_bundle(&t, &dev, &ops, b2.data, b2.len, dest, n, &r);
		uint64_t b = cl_now_mono_ns();
		if (s != FW_OK || cl_sha384(image, n, md) != CL_OK) {
			fprintf(stderr, "verify: %s\n", fw_status_name(s));
			return 1;
		}
		t_verify += b - a;
		t_sha += cl_now_mono_ns() - b;
		rounds++;
	} while (t_verify + t_sha < 2000000000ull || rounds < 3);
	double v = (double)mib * rounds / ((double)t_verify / 1e9), h = (double)mib * rounds / ((double)t_sha / 1e9);
	printf("fw_verify %ld MiB: %.1f MiB/s (%d rounds, %.2f ms each); in-process EVP sha384: %.1f MiB/s; "
	       "ratio %.2fx\n",
	       mib, v, rounds, (double)t_verify / 1e6 / rounds, h, v / h);
	cl_buf_free(&tr);
	cl_buf_free(&b1);
	cl_buf_free(&b2);
	fw_key_free(root);
	for (int i = 0; i < 3; i++)
		fw_key_free(k[i]);
	free(image);
	free(dest);
	return 0;
}
