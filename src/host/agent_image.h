/* agent_image.h — images on the host (agent_image.c): fetch, digest check, cache, prune.
 */
#ifndef CL_HOST_AGENT_IMAGE_H
#define CL_HOST_AGENT_IMAGE_H

#include <stddef.h>

#include "common/err.h"

struct cl_http_client;
/* Makes sure DIR/images/IMAGE.img exists and its SHA-384 equals sha384_hex
 * (96 hex digits): a cached file is re-hashed before use (a mismatching one is
 * removed and fetched again); otherwise GET /v1/images/IMAGE with the client's
 * host token, check the digest, then store it atomically. On success path[]
 * holds the file's path. Nothing that fails the digest check is kept.
 * Transient failures (control plane unreachable or 5xx) are CL_EIO,
 * CL_ETIMEOUT or CL_EUNAVAIL; CL_ENOTFOUND, CL_ECRYPTO, CL_EPROTO are not.
 * A full disk is CL_ENOSPACE (the detail says so); other local file
 * failures are CL_ESYS. */
CL_MUST_CHECK cl_err cl_agent_image_ensure(struct cl_http_client *http, const char *dir, const char *image,
					   const char *sha384_hex, char *path, size_t pathlen);
/* Removes cached images (DIR/images/IMG.img) whose id is not in keep[0..n)
 * (the images the desired set still uses), to make room on a full disk.
 * Returns how many files were removed. */
size_t cl_agent_image_prune(const char *dir, const char *const *keep, size_t n);

#endif
