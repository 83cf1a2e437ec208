/* harden_internal.h — the steps of cl_harden_process, one file each. */
#ifndef CL_HARDEN_INTERNAL_H
#define CL_HARDEN_INTERNAL_H

#include "common/harden.h"

/* Step 4: builds and applies the Landlock ruleset of p; fills rep->landlock_*. */
CL_MUST_CHECK cl_err cl_harden_landlock_apply(const cl_harden_policy *p, cl_harden_report *rep);

#endif
