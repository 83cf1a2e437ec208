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

cl_err cl_frame_pull(cl_frame_dec *d, bool *got, uint8_t *type, const uint8_t **payload, uint32_t *len)
{
	*got = false;
	size_t avail = d->len - d->off;
	if (avail < CL_FRAME_HDR)
		return CL_OK;
	const uint8_t *h = d->buf + d->off;
	uint32_t n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	if (n > d->max)
		return CL_ETOOBIG;
	if (h[4] < CL_FRAME_DATA || h[4] > CL_FRAME_TYPE_MAX)
		return CL_EPROTO;
	if (avail - CL_FRAME_HDR < n)
		return CL_OK;
	*type = h[4];
	*payload = h + CL_FRAME_HDR;
	*len = n;
	d->off += CL_FRAME_HDR + n;
	*got = true;
	return CL_OK;
}

cl_err cl_frame_put_header(uint8_t hdr[CL_FRAME_HDR], uint8_t type, uint32_t len)
{
	if (len > CL_FRAME_MAX)
		return CL_ETOOBIG;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	hdr[4] = type;
	return CL_OK;
}

static cl_err write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return CL_ESYS;
		}
		p += w;
		n -= (size_t)w;
	}
	return CL_OK;
}

cl_err cl_frame_send_fd(int fd, uint8_t type, const void *payload, uint32_t len)
{
	uint8_t hdr[CL_FRAME_HDR];
	CL_GUARD(cl_frame_put_header(hdr, type, len));
	CL_GUARD(write_all(fd, hdr, sizeof(hdr)));
	return len ? write_all(fd, payload, len) : CL_OK;
}
