/* Fuzzes the image parser (src/image/image.c, and the signature section of
 * image_sig.c) with arbitrary bytes. An accepted image must describe only
 * bytes inside the input, with paths that the parser's own rules allow, its
 * files must end where the signature section (if any) begins, and it must
 * measure (src/image/measure.c); a rejection's detail must fit on one line;
 * anything else is a bug. The corpus has signed images, valid and broken
 * (fuzz/corpus/image/.generate.py). */
#include <stdint.h>
#include <string.h>

#include "image/image.h"
#include "image/measure.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cl_image *img = NULL;
	if (cl_image_parse(data, size, &img) != CL_OK) {
		if (img)
			__builtin_trap(); /* *out must stay untouched on failure */
		/* The detail is printed as one "error: ..." line: no control characters. */
		for (const char *c = cl_error_detail(); *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				__builtin_trap();
		return 0;
	}
	uint64_t end = 0;
	for (size_t i = 0; i < img->nfiles; i++) {
		const cl_image_file *f = &img->files[i];
		if (f->offset > size || f->size > size - f->offset || f->offset < end)
			__builtin_trap();
		end = f->offset + f->size;
		size_t n = strlen(f->path);
		if (f->path[0] == '/' || strcmp(f->path, "..") == 0 || strncmp(f->path, "../", 3) == 0 ||
		    strstr(f->path, "/../") || (n >= 3 && strcmp(f->path + n - 3, "/..") == 0) ||
		    (f->mode & ~0777u))
			__builtin_trap();
	}
	if (end != img->body_len || img->entrypoint[0] != '/' || img->args[img->nargs] != NULL)
		__builtin_trap();
	/* Unsigned: the files end the input. Signed: header, certificate and
	 * signature fill the rest exactly. */
	if (img->signer_cert_len == 0 && (end != size || img->signer_cert != 0))
		__builtin_trap();
	if (img->signer_cert_len != 0 &&
	    (img->signer_cert != end + CL_IMAGE_SIG_HEADER_LEN ||
	     img->signer_cert_len > CL_IMAGE_CERT_MAX ||
	     img->signer_cert + img->signer_cert_len + CL_IMAGE_SIG_LEN != size))
		__builtin_trap();
	cl_pcrs p;
	cl_pcrs_init(&p);
	if (cl_image_measure(img, data, size, NULL, &p) != CL_OK)
		__builtin_trap();
	cl_image_free(img);
	return 0;
}
