/* version.h — the build's identity, for every program's --version.
 *
 * The version comes from the VERSION file, the revision from git at build
 * time ("unknown" outside a git checkout), the flags from the Makefile
 * (e.g. "release" or "asan,ubsan").
 */
#ifndef CL_COMMON_VERSION_H
#define CL_COMMON_VERSION_H

#include <stdio.h>

/* "0.5.0". Static string. */
const char *cl_version(void);
/* The git revision the program was built from ("3f2a1b0", "3f2a1b0-dirty",
 * or "unknown"). Static string. */
const char *cl_version_revision(void);
/* The build flavour ("release" or "asan,ubsan"). Static string. */
const char *cl_version_flags(void);
/* Prints "PROGRAM VERSION (revision REV, FLAGS)" and one line per library
 * with the version it runs against (OpenSSL, libevent, SQLite, jansson,
 * libcurl, libseccomp) to f. */
void cl_version_print(FILE *f, const char *program);

#endif
