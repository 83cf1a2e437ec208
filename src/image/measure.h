/* measure.h — measurement registers (docs/measurements.md).
 *
 * Registers have the meaning of AWS Nitro's PCRs: 48 bytes, starting as
 * zeros, extended as R' = SHA-384(R || SHA-384(data)). An enclave has
 * sixteen; Cloister sets these (every other stays zero):
 *
 *   PCR0  the whole image file without its signature section
 *   PCR1  the boot agent: the cloister-init binary that runs as PID 1, then
 *         cloister-init-bundle, the provisioning helper it runs
 *   PCR2  the application: entrypoint, arguments and every file record
 *         (path, mode, size, SHA-384) in manifest order
 *   PCR3  the launch configuration: the tenant id, then the enclave's role
 *         (its name within the tenant)
 *   PCR4  the host identity: the host id
 *   PCR5  runtime code: the executable mappings of the running enclave's
 *         processes, set only by the host's measure op (host/agent_rtm.h);
 *         the launch leaves it zero
 *   PCR8  the image-signing certificate (DER), when the image is signed
 *
 * What is hashed holds no timestamp or path of the build machine: the same
 * inputs give the same registers on every build. docs/measurements.md gives
 * the exact bytes extended into each register.
 */
#ifndef CL_IMAGE_MEASURE_H
#define CL_IMAGE_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "image/image.h"

#define CL_PCR_LEN 48
#define CL_NPCRS 16

/* An enclave's registers. */
typedef struct cl_pcrs {
	uint8_t v[CL_NPCRS][CL_PCR_LEN];
} cl_pcrs;

/* R' = SHA-384(R || SHA-384(data[0..len))). data may be NULL when len is
 * 0. Cannot fail: if OpenSSL cannot hash (out of memory) the register
 * becomes all 0xff bytes, a value that matches no expected register. */
void cl_pcr_extend(uint8_t reg[CL_PCR_LEN], const void *data, size_t len);

/* R' = SHA-384(R || digest): an extend whose data's SHA-384 the caller has
 * (cloister-init's EXTEND frame). Cannot fail, as cl_pcr_extend. */
void cl_pcr_extend_digest(uint8_t reg[CL_PCR_LEN], const uint8_t digest[CL_PCR_LEN]);

/* Resets every register of p to zeros. */
void cl_pcrs_init(cl_pcrs *p);

/* What PCR1 covers, the same for every enclave of a host: the
 * cloister-init binary, then cloister-init-bundle (the helper init runs for
 * an enclave that awaits a bundle; measured whether it runs or not). */
typedef struct cl_boot_files {
	const uint8_t *init;
	size_t init_len;
	const uint8_t *helper;
	size_t helper_len;
} cl_boot_files;

/* Sets PCR0, PCR2 and (for a signed image) PCR8 of p from the image
 * data[0..len) that img was parsed from, and PCR1 from the boot files:
 * PCR1 = extend(extend(zeros, init), helper). CL_EINVAL if data is not the
 * image img came from, or boot lacks either file.
 * Each of the four registers is reset to zeros before it is extended: an
 * unsigned image leaves PCR8 zero, and boot NULL leaves PCR1 zero. Other
 * registers of p are untouched. On failure p is untouched (CL_EINTERNAL if
 * OpenSSL cannot hash). Reads every byte of data once. */
CL_MUST_CHECK cl_err cl_image_measure(const cl_image *img, const uint8_t *data, size_t len,
				      const cl_boot_files *boot, cl_pcrs *p);

/* Sets PCR3 from the tenant id and the enclave's name, PCR4 from the host
 * id (each a NUL-terminated string, extended without its NUL).
 * PCR3 = extend(extend(zeros, tenant_id), enclave_name) and PCR4 =
 * extend(zeros, host_id); both are reset first, so calling again gives the
 * same registers. A NULL tenant_id or enclave_name leaves PCR3 zero, a NULL
 * host_id PCR4. Cannot fail (see cl_pcr_extend). */
void cl_pcrs_launch(cl_pcrs *p, const char *tenant_id, const char *enclave_name, const char *host_id);
/* An enclave that awaits a bundle (docs/provisioning.md): PCR3 is extended
 * once more with CL_PCR3_AWAIT_BUNDLE, after the tenant and the name. Call
 * after cl_pcrs_launch. Cannot fail. */
#define CL_PCR3_AWAIT_BUNDLE "await-bundle"
void cl_pcrs_await_bundle(cl_pcrs *p);
/* An enclave created suspendable (docs/suspend.md): PCR3 is extended once
 * more with CL_PCR3_SUSPENDABLE, after "await-bundle" when both are set.
 * Call after cl_pcrs_launch (and cl_pcrs_await_bundle). Cannot fail. */
#define CL_PCR3_SUSPENDABLE "suspendable"
void cl_pcrs_suspendable(cl_pcrs *p);
/* An enclave created with a network (docs/tls.md, "Guests"): PCR3 is
 * extended once more, after "suspendable" (and "await-bundle"), with the
 * bytes "network" when it exposes no port, else "network:" and its exposed
 * ports in ascending decimal, comma-separated ("network:80,8443"). The
 * ports are sorted here (a copy: ports is not changed); at most
 * CL_PCR3_EXPOSE_MAX are used. The guest's address is not measured: it
 * depends on the host. An enclave without a network gets no extend, so its
 * PCR3 is what it always was. Call after cl_pcrs_launch. Cannot fail. */
#define CL_PCR3_NETWORK "network"
#define CL_PCR3_EXPOSE_MAX 8
void cl_pcrs_network(cl_pcrs *p, const uint16_t *ports, size_t nports);

#endif
