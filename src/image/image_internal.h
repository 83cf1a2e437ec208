/* image_internal.h — helpers shared by the image parser, builder and
 * extractor. Not part of the public API (use image.h).
 */
#ifndef CL_IMAGE_INTERNAL_H
#define CL_IMAGE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "image/image.h"

#define CL_IMAGE_HEADER_LEN 12u   /* magic (8) + u32 BE manifest length */
#define CL_IMAGE_MAX_DEPTH 16u    /* path components */
#define CL_IMAGE_PATH_MAX 1024u   /* bytes in a relative path */
#define CL_IMAGE_NAME_MAX 128u    /* bytes in name and version */
#define CL_IMAGE_MAX_ARGS 256u
#define CL_IMAGE_ARG_MAX 4096u    /* bytes in one argument */

/* Checks a relative image path: components of [A-Za-z0-9._-]+, none "." or
 * "..", no empty component, at most CL_IMAGE_MAX_DEPTH of them. `what` names
 * the path in the error detail. */
CL_MUST_CHECK cl_err cl_image_check_path(const char *path, const char *what);

/* Parses and validates a manifest (json, len bytes, not NUL-terminated) for a
 * payload of payload_len bytes starting at payload_off in the image. Checks
 * everything except the files' digests and fills offsets. *out is malloc'd
 * (free with cl_image_free); untouched on failure. */
CL_MUST_CHECK cl_err cl_image_manifest_load(const char *json, size_t len, uint64_t payload_off,
					    uint64_t payload_len, cl_image **out);

#endif
