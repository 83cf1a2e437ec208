/* image.h — Cloister enclave image files: build, parse, extract.
 *
 * Format (docs/image-format.md): magic "CLIMAGE1", u32 BE manifest length
 * (<= CL_IMAGE_MANIFEST_MAX), the manifest as JSON, then each file's bytes in
 * manifest order. The parser trusts nothing: paths are relative, made of
 * [A-Za-z0-9._-] components (no "." or ".."), unique; sizes must add up to the
 * file exactly; every file's SHA-384 is checked.
 */
#ifndef CL_IMAGE_H
#define CL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CL_IMAGE_MAGIC "CLIMAGE1"
#define CL_IMAGE_MANIFEST_MAX (256u * 1024)
#define CL_IMAGE_MAX_SIZE (256ull * 1024 * 1024)
#define CL_IMAGE_MAX_FILES 4096

typedef struct cl_image_file {
	char *path;          /* relative, e.g. "app/kvstore" */
	uint32_t mode;       /* permission bits only (0777 mask) */
	uint64_t size;
	uint64_t offset;     /* of the file's bytes within the image */
	uint8_t sha384[48];
} cl_image_file;

typedef struct cl_image {
	char *name;
	char *version;
	char *entrypoint;    /* absolute path inside the enclave, e.g. "/app/kvstore" */
	char **args;         /* argv[1..], NULL-terminated */
	size_t nargs;
	cl_image_file *files;
	size_t nfiles;
	uint8_t digest[48];  /* SHA-384 of the whole image file (PCR0) */
} cl_image;

/* One file to pack: read from src, stored at dest inside the image. */
typedef struct cl_image_input {
	const char *src;
	const char *dest;
} cl_image_input;

typedef struct cl_image_spec {
	const char *name;
	const char *version;
	const char *entrypoint;
	const char *const *args; /* NULL-terminated, may be NULL */
	const cl_image_input *inputs;
	size_t ninputs;
} cl_image_spec;

/* Parses and fully validates an image held in memory (data stays owned by the
 * caller; the image keeps offsets, not pointers). *out is malloc'd: free with
 * cl_image_free. On failure *out is untouched and the detail says what is wrong. */
CL_MUST_CHECK cl_err cl_image_parse(const uint8_t *data, size_t len, cl_image **out);
/* Frees an image from cl_image_parse. NULL is fine. */
void cl_image_free(cl_image *img);
/* Builds an image file at out_path (written atomically). Every input must
 * be a regular file: a FIFO, socket, device or directory is refused
 * (CL_EINVAL) without being opened, a symbolic link too unless flags has
 * CL_IMAGE_FOLLOW_SYMLINKS (then its target is packed; a loop is CL_EINVAL,
 * a dangling link CL_ENOTFOUND). A full disk is CL_ENOSPACE.
 * cl_image_build is cl_image_build_flags with flags 0. */
#define CL_IMAGE_FOLLOW_SYMLINKS 1u
CL_MUST_CHECK cl_err cl_image_build_flags(const cl_image_spec *spec, const char *out_path, unsigned flags);
CL_MUST_CHECK cl_err cl_image_build(const cl_image_spec *spec, const char *out_path);
/* Writes the image's files under the directory dirfd (creating parent
 * directories, never following symlinks). data/len are the bytes img was
 * parsed from. */
CL_MUST_CHECK cl_err cl_image_extract(const cl_image *img, const uint8_t *data, size_t len, int dirfd);

#endif
