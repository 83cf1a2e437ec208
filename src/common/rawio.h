/* rawio.h — file helpers with nothing but libc beneath them, for the
 * programs built without the rest of src/common (cloister-init and
 * cloister-init-bundle, Makefile INIT_SRCS) as much as for the host. */
#ifndef CL_COMMON_RAWIO_H
#define CL_COMMON_RAWIO_H

#include <stddef.h>
#include <stdint.h>

/* Writes all n bytes of p to fd, retrying on EINTR and short writes.
 * 0 on success, -1 (errno set; 0 if the file took nothing) otherwise. */
int cl_raw_write_all(int fd, const uint8_t *p, size_t n);
/* Removes path and, if it is a directory, everything under it, without
 * following symbolic links and best effort: what cannot be removed stays. */
void cl_raw_rm_tree(const char *path);

#endif
