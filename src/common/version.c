/* version.c — the build's identity (version.h). */
#include "common/version.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <seccomp.h>
#include <sqlite3.h>

#include "version_gen.h" /* CL_VERSION_STR, CL_GIT_REV, CL_BUILD_FLAGS: made by the Makefile */

const char *cl_version(void)
{
	return CL_VERSION_STR;
}

const char *cl_version_revision(void)
{
	return CL_GIT_REV;
}

const char *cl_version_flags(void)
{
	return CL_BUILD_FLAGS;
}

void cl_version_print(FILE *f, const char *program)
{
	const struct scmp_version *sv = seccomp_version();
	fprintf(f, "%s %s (revision %s, %s)\n", program, CL_VERSION_STR, CL_GIT_REV, CL_BUILD_FLAGS);
	fprintf(f, "  openssl    %s\n", OpenSSL_version(OPENSSL_VERSION));
	fprintf(f, "  libevent   %s\n", event_get_version());
	fprintf(f, "  sqlite     %s\n", sqlite3_libversion());
	fprintf(f, "  jansson    %s\n", jansson_version_str());
	fprintf(f, "  libcurl    %s\n", curl_version_info(CURLVERSION_NOW)->version);
	if (sv)
		fprintf(f, "  libseccomp %u.%u.%u\n", sv->major, sv->minor, sv->micro);
}
