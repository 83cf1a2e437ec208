/* agent_measure.h — measuring an enclave at launch (agent_measure.c):
 * image/measure.h's registers for an image the host has cached, and for
 * the cloister-init and cloister-init-bundle binaries its sandboxes run.
 *
 * The two binaries are read once, when the agent starts; an image is
 * measured once per SHA-384 digest (images are content-addressed) and its
 * registers kept for later launches of the same image.
 */
#ifndef CL_HOST_AGENT_MEASURE_H
#define CL_HOST_AGENT_MEASURE_H

#include "common/err.h"
#include "image/measure.h"

#define CL_AGENT_MEASURE_CACHE 64 /* images whose registers are kept */
#define CL_AGENT_INIT_MAX (64u << 20)

typedef struct cl_agent_measure cl_agent_measure;

/* Reads cloister-init at init_path and cloister-init-bundle at helper_path
 * (each at most CL_AGENT_INIT_MAX bytes): PCR1 covers both. On failure
 * nothing is allocated. *out: cl_agent_measure_free. */
CL_MUST_CHECK cl_err cl_agent_measure_new(const char *init_path, const char *helper_path, cl_agent_measure **out);
void cl_agent_measure_free(cl_agent_measure *m);

/* PCR0, PCR1, PCR2 and (signed images) PCR8 of the image file at path,
 * whose SHA-384 the caller checked to be sha384_hex (96 lower-case hex):
 * from the cache, or parsed and measured (then cached). The other
 * registers of *out are zero. CL_EINVAL if the file is not a valid image
 * or is not the image that digest names. */
CL_MUST_CHECK cl_err cl_agent_measure_image(cl_agent_measure *m, const char *path, const char *sha384_hex,
					    cl_pcrs *out);
/* Images measured (not served from the cache) since creation: for tests. */
unsigned cl_agent_measure_count(const cl_agent_measure *m);

/* The launch registers: PCR3 from tenant and name and PCR4 from host_id
 * (cl_pcrs_launch) when both tenant and name are known (non-empty); else
 * PCR4 alone (PCR3 stays zero) and false. */
bool cl_agent_measure_launch(cl_pcrs *p, const char *tenant, const char *name, const char *host_id);

#endif
