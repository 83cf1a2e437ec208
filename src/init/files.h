/* files.h — cloister-init's list of its application's code and data, for
 * measure on demand (docs/measurements.md, PCR5): the FILES frame's
 * payload. Libc only.
 *
 * The list names, as absolute paths inside the enclave: everything the
 * image put in the root (every entry under "/" except what the sandbox
 * makes there: /init, /init-bundle, /proc, /dev, /tmp), and the installed
 * bundle's tree (CL_INIT_BUNDLE_DIR, itself included) once there is one.
 * Directories, files and symbolic links alike; links are not followed.
 * The host hashes them (agent_rtm_files.c); init reads none of them.
 */
#ifndef CL_INIT_FILES_H
#define CL_INIT_FILES_H

#include <stddef.h>
#include <stdint.h>

/* Fills out (CL_FILES_BYTES at most: cap) with the FILES payload: a flags
 * byte, then each path and a NUL. More than CL_FILES_MAX paths or cap bytes
 * sets CL_FILES_TRUNCATED and stops there. Returns the payload's length. */
size_t cl_init_files_list(uint8_t *out, size_t cap);

#endif
