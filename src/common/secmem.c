/* secmem.c — secret memory (see secmem.h). After s2n-tls utils/s2n_mem.c,
 * with memfd_secret where the kernel has it. */
#include "common/secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447 /* the same number on every architecture */
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

const char *cl_secmem_kind_name(enum cl_secmem_kind kind)
{
	switch (kind) {
	case CL_SECMEM_SECRETMEM:
		return "memfd_secret";
	case CL_SECMEM_LOCKED:
		return "mlock";
	default:
		return "none";
	}
}

/* memfd_secret mapping of len bytes. Returns CL_ENOTFOUND when the kernel
 * does not offer memfd_secret (the caller falls back), CL_ESYS otherwise. */
static cl_err map_secret(size_t len, void **out)
{
	int fd = (int)syscall(SYS_memfd_secret, (unsigned long)O_CLOEXEC);
	void *p = MAP_FAILED;
	int e = 0;
	if (fd < 0)
		return errno == ENOSYS ? CL_ENOTFOUND : cl_errorf(CL_ESYS, "memfd_secret: %s", strerror(errno));
	if (ftruncate(fd, (off_t)len) != 0) {
		e = errno;
		goto out;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		e = errno; /* EAGAIN: over RLIMIT_MEMLOCK (secretmem pages are locked) */
		goto out;
	}
	/* The mapping is shared: without DONTFORK a forked child would share it. */
	if (madvise(p, len, MADV_DONTFORK) != 0) {
		e = errno;
		munmap(p, len);
		p = MAP_FAILED;
	}
out:
	close(fd); /* the mapping keeps the memory */
	if (p == MAP_FAILED)
		return cl_errorf(CL_ESYS, "memfd_secret mapping of %zu bytes: %s", len, strerror(e));
	*out = p;
	return CL_OK;
}

/* Anonymous mapping, locked, not dumped, wiped in a forked child. */
static cl_err map_locked(size_t len, void **out)
{
	const char *step = "mmap";
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int e = errno;
	if (p == MAP_FAILED)
		return cl_errorf(CL_ESYS, "secret memory: mmap of %zu bytes: %s", len, strerror(e));
	/* The raw system call: sanitizer runtimes intercept mlock() as a no-op. */
	if (syscall(SYS_mlock, p, len) != 0)
		step = "mlock"; /* EAGAIN/ENOMEM/EPERM: over RLIMIT_MEMLOCK */
	else if (madvise(p, len, MADV_DONTDUMP) != 0)
		step = "MADV_DONTDUMP";
	else if (madvise(p, len, MADV_WIPEONFORK) != 0)
		step = "MADV_WIPEONFORK"; /* Linux >= 4.14 */
	else
		step = NULL;
	if (step) {
		e = errno;
		munmap(p, len);
		return cl_errorf(CL_ESYS, "secret memory: %s: %s", step, strerror(e));
	}
	*out = p;
	return CL_OK;
}

cl_err cl_secmem_alloc(size_t n, unsigned flags, cl_secmem *out)
{
	long page = sysconf(_SC_PAGESIZE);
	const char *env = getenv("CLOISTER_SECMEM");
	size_t len;
	void *p = NULL;
	cl_err err = CL_ENOTFOUND;
	memset(out, 0, sizeof(*out));
	CL_ENSURE(n > 0, CL_EINVAL, "secret memory of 0 bytes");
	CL_ENSURE(page > 0 && n <= SIZE_MAX - (size_t)page, CL_ETOOBIG, "secret memory of %zu bytes", n);
	len = (n + (size_t)page - 1) / (size_t)page * (size_t)page;
	if (!(flags & CL_SECMEM_NO_SECRETMEM) && !(env && strcmp(env, "locked") == 0)) {
		err = map_secret(len, &p);
		if (err == CL_OK)
			out->kind = CL_SECMEM_SECRETMEM;
		else if (err != CL_ENOTFOUND)
			return err;
	}
	if (err == CL_ENOTFOUND) {
		CL_GUARD(map_locked(len, &p));
		out->kind = CL_SECMEM_LOCKED;
	}
	out->ptr = p; /* both kinds come zero-filled from the kernel */
	out->len = len;
	return CL_OK;
}

void cl_secmem_free(cl_secmem *m)
{
	if (m->ptr) {
		explicit_bzero(m->ptr, m->len);
		munmap(m->ptr, m->len); /* also unlocks */
	}
	memset(m, 0, sizeof(*m));
}
