/* api_secrets.h — the key broker's routes (api_secrets.c, docs/broker.md). */
#ifndef CL_CONTROL_API_SECRETS_H
#define CL_CONTROL_API_SECRETS_H

#include <stdbool.h>

#include "control/control.h"

/* /v1/secrets...: replies itself. The challenge and release routes need no
 * token (the attestation document is the credential); the others need a
 * tenant or admin token (r->who, already authenticated). */
void ctl_api_secrets(ctl_req *r);
/* True for the routes that need no token: POST
 * /v1/secrets/{name}/challenge and /release. */
bool ctl_secrets_public(const ctl_req *r);

#endif
