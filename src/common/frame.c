#include "common/frame.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void cl_frame_dec_init(cl_frame_dec *d, uint8_t *buf, size_t cap, uint32_t max)
{
	d->buf = buf;
	d->cap = cap;
	d->off = d->len = 0;
	if (max > CL_FRAME_MAX)
		max = CL_FRAME_MAX;
	if (cap < CL_FRAME_HDR)
		max = 0;
	else if (max > cap - CL_FRAME_HDR)
		max = (uint32_t)(cap - CL_FRAME_HDR);
	d->max = max;
}

/* Moves unconsumed bytes to the front so a whole frame always fits. */
static void compact(cl_frame_dec *d)
{
	if (d->off == 0)
		return;
	memmove(d->buf, d->buf + d->off, d->len - d->off);
	d->len -= d->off;
	d->off = 0;
}

size_t cl_frame_dec_space(const cl_frame_dec *d)
{
	return d->cap - (d->len - d->off);
}

uint8_t *cl_frame_dec_tail(cl_frame_dec *d)
{
	compact(d);
	return d->buf + d->len;
}

void cl_frame_dec_commit(cl_frame_dec *d, size_t n)
{
	if (n > d->cap - d->len)
		n = d->cap - d->len;
	d->len += n;
}

int cl_frame_next(cl_frame_dec *d, uint8_t *type, const uint8_t **payload, uint32_t *len)
{
	size_t avail = d->len - d->off;
	if (avail < CL_FRAME_HDR)
		return 0;
	const uint8_t *h = d->buf + d->off;
	uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (n > d->max || h[4] < CL_FRAME_DATA || h[4] > CL_FRAME_TYPE_MAX)
		return -1;
	if (avail - CL_FRAME_HDR < n)
		return 0;
	*type = h[4];
	*payload = h + CL_FRAME_HDR;
	*len = n;
	d->off += CL_FRAME_HDR + n;
	return 1;
}

int cl_frame_header(uint8_t hdr[CL_FRAME_HDR], uint8_t type, uint32_t len)
{
	if (len > CL_FRAME_MAX)
		return -1;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	hdr[4] = type;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int cl_frame_write_fd(int fd, uint8_t type, const void *payload, uint32_t len)
{
	uint8_t hdr[CL_FRAME_HDR];
	if (cl_frame_header(hdr, type, len) < 0)
		return -1;
	if (write_all(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	return len ? write_all(fd, payload, len) : 0;
}
