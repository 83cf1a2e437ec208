/* image_internal.h — helpers shared by the image parser, builder and
 * extractor. Not part of the public API (use image.h).
 */
#ifndef CL_IMAGE_INTERNAL_H
#define CL_IMAGE_INTERNAL_H

#include <stdbool.h>
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
 * everything except the files' digests and fills offsets and body_len. The
 * file sizes must add up to payload_len exactly, or with trailer_ok to at
 * most payload_len (the rest is for the caller to check as a signature
 * section). *out is malloc'd (free with cl_image_free); untouched on
 * failure. */
CL_MUST_CHECK cl_err cl_image_manifest_load(const char *json, size_t len, uint64_t payload_off,
					    uint64_t payload_len, bool trailer_ok, cl_image **out);

/* Checks the bytes data[img->body_len .. len) as a signature section (the
 * parser calls it when the payload ends before the file does) and sets
 * img->signer_cert and signer_cert_len. body_hash is SHA-384 of
 * data[0..body_len). CL_EINVAL for a malformed section (with a detail naming
 * what is wrong), CL_ECRYPTO for a signature that does not verify. */
CL_MUST_CHECK cl_err cl_image_check_section(const uint8_t *data, size_t len, const uint8_t body_hash[static 48],
					    cl_image *img);

/* SHA-384 of data[0..body_len) into body and of data[0..len) into whole, in
 * one pass. CL_EINTERNAL if OpenSSL fails. */
CL_MUST_CHECK cl_err cl_image_hash_two(const uint8_t *data, size_t body_len, size_t len, uint8_t body[static 48],
				       uint8_t whole[static 48]);

#endif
