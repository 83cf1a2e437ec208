/* fw_device.c — a device's view of libcloister-fw.
 *
 * tests/integration/fw_standalone.sh builds this with only -Isrc/fw and
 * links it against build/lib/libcloister-fw.a alone (whole archive, no
 * Cloister common code, no OpenSSL, no jansson): what a device's root of
 * trust would do. It parses the bundle named on the command line and prints
 * what the verifier read, one "key value" line each, then shows that the
 * verify and trust calls are reachable (refusing a missing trust state and
 * ops as bad_argument: the crypto is the device's, not the library's).
 * Exit 0 when the bundle parses, 1 when it is refused, 2 on a usage error.
 */
#include <stdio.h>

#include "fw_verify.h"

int main(int argc, char **argv)
{
	static uint8_t bundle[FW_MAX_MANIFEST + 64 * 1024];
	if (argc != 2) {
		fprintf(stderr, "usage: fw_device BUNDLE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "cannot open %s\n", argv[1]);
		return 2;
	}
	size_t n = fread(bundle, 1, sizeof(bundle), f);
	fclose(f);

	fw_bundle_view v;
	fw_status s = fw_bundle_parse(bundle, n, &v);
	if (s != FW_OK) {
		printf("refused %s\n", fw_status_name(s));
		return 1;
	}
	printf("component %s\n", v.m.component);
	printf("version %s\n", v.m.version);
	printf("channel %s\n", v.m.channel);
	printf("sequence %llu\n", (unsigned long long)v.m.sequence);
	printf("image_size %llu\n", (unsigned long long)v.m.size);
	printf("signers %zu\n", v.nsig);

	fw_result res;
	fw_device dev = {.component = v.m.component};
	fw_trust t, next;
	printf("verify_without_trust %s\n",
	       fw_status_name(fw_verify_bundle(NULL, &dev, NULL, bundle, n, NULL, 0, &res)));
	printf("trust_without_ops %s\n", fw_status_name(fw_trust_apply(&t, &next, bundle, n, NULL)));
	return 0;
}
