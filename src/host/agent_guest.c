/* agent_guest.c — the agent's hooks for the guest interface (declared in
 * guestif.h): the gate on the guest interface process's channels
 * (agent_privsep.c hands them over, also after the supervisor restarted the
 * process), per-enclave sockets at launch, adoption and destroy, and the
 * secure module's answers (nsm.sock: documents through
 * cl_agent_att_document, the same builder as the attest op's; sealing keys
 * from the key holder). Every enclave has nsm.sock; fw.sock only with the
 * firmware guard.
 *
 * Per-enclave directories live in DATA/guest/ID (not in DATA/sandboxes/ID,
 * which must not exist before a launch and is removed by a destroy). A kill
 * between steps leaves at most a directory whose sandbox is gone: pruned at
 * the next start. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "guestif/guestif.h"
#include "host/agent.h"
#include "host/agent_attest.h"
#include "host/agent_pcrs.h"
#include "host/agent_privsep.h"

static cl_err guest_base(const cl_agent *ag, char *out, size_t n)
{
	CL_ENSURE(snprintf(out, n, "%s/guest", ag->cfg.data) < (int)n, CL_ETOOBIG, "guest interface: data path too long");
	return CL_OK;
}

static bool sandbox_exists(const char *id, void *ctx)
{
	char path[PATH_MAX];
	const cl_agent *ag = ctx;
	if (snprintf(path, sizeof(path), "%s/sandboxes/%s", ag->cfg.data, id) >= (int)sizeof(path))
		return true; /* cannot tell: keep */
	return access(path, F_OK) == 0;
}

/* The secure module's ATTEST: what the enclave asked for, nothing else. */
static cl_err nsm_attest(void *ctx, const char *id, const cl_nsm_req *r, uint8_t **doc, size_t *len)
{
	cl_agent *ag = ctx;
	cl_agent_att_args *args = NULL;
	cl_err err;
	CL_ENSURE(ag->att, CL_EUNAVAIL, "this host has no attestation key");
	CL_ENSURE(r->nonce_len <= sizeof(args->nonce) && r->user_data_len <= sizeof(args->user_data) &&
			  r->public_key_len <= sizeof(args->public_key),
		  CL_EINVAL, "secure-module field over its cap");
	args = calloc(1, sizeof(*args));
	CL_ENSURE(args, CL_ENOMEM, "out of memory");
	args->has_nonce = r->nonce_len > 0;
	args->has_user_data = r->user_data_len > 0;
	args->has_public_key = r->public_key_len > 0;
	if ((args->nonce_len = r->nonce_len))
		memcpy(args->nonce, r->nonce, r->nonce_len);
	if ((args->user_data_len = r->user_data_len))
		memcpy(args->user_data, r->user_data, r->user_data_len);
	if ((args->public_key_len = r->public_key_len))
		memcpy(args->public_key, r->public_key, r->public_key_len);
	err = cl_agent_att_document(ag->att, ag->cfg.data, id, args, false, doc, len);
	explicit_bzero(args, sizeof(*args));
	free(args);
	return err;
}

/* The secure module's SEAL_KEY: the key holder derives it from the host's
 * sealing secret, the tenant, the enclave's PCR0..PCR3 (recorded at launch)
 * and the label. */
static cl_err nsm_seal(void *ctx, const char *id, const char *tenant, const uint8_t *label, size_t n,
		       uint8_t key[CL_NSM_KEY_LEN])
{
	cl_agent *ag = ctx;
	cl_pcrs pcrs;
	uint8_t v[4 * 48];
	CL_ENSURE(cl_agent_pcrs_load(ag->cfg.data, id, &pcrs) == CL_OK, CL_ENOTFOUND,
		  "enclave %s: no measurements recorded at its launch", id);
	_Static_assert(sizeof(pcrs.v[0]) == 48, "register size");
	for (int i = 0; i < 4; i++)
		memcpy(v + 48 * i, pcrs.v[i], 48);
	return cl_agent_privsep_seal(ag->privsep, tenant, v, label, n, key);
}

void cl_agent_guest_tenant(cl_agent *ag, const char *id, const char *tenant)
{
	if (ag->guestif && tenant && tenant[0])
		cl_guestif_set_tenant(ag->guestif, id, tenant);
}

void cl_agent_guest_nsm_ready(cl_agent *ag)
{
	if (!ag->guestif)
		return;
	cl_guestif_nsm_hooks hk = {.attest = nsm_attest, .seal_key = nsm_seal, .ctx = ag};
	cl_guestif_set_nsm(ag->guestif, &hk);
}

cl_err cl_agent_guest_start(cl_agent *ag)
{
	char base[PATH_MAX];
	CL_GUARD(guest_base(ag, base, sizeof(base)));
	size_t pruned = cl_guestif_prune(base, sandbox_exists, ag);
	if (pruned)
		cl_info("removed guest interface directories of enclaves that are gone count=%zu", pruned);
	CL_ENSURE(ag->privsep, CL_EINTERNAL, "guest interface: no guest interface process");
	CL_GUARD(cl_agent_privsep_gate(ag->privsep, ag->fw, base, &ag->guestif));
	cl_info("guest interface on dir=%s secure module nsm_rate=%u/s burst=%u", base, CL_GUESTIF_NSM_RATE,
		CL_GUESTIF_NSM_BURST);
	if (ag->fw)
		cl_info("firmware guest interface on dir=%s write_rate=%u/s burst=%u idle_ms=%u", base,
			CL_GUESTIF_WRITE_RATE, CL_GUESTIF_WRITE_BURST, CL_GUESTIF_IDLE_MS);
	return CL_OK;
}

static const char *guest_add(cl_agent *ag, const char *id, char *dir, size_t n, bool hand)
{
	if (!ag->guestif)
		return NULL;
	if ((hand ? cl_guestif_add : cl_guestif_prepare)(ag->guestif, id, dir, n) != CL_OK) {
		cl_warn("enclave gets no guest interface (/dev/cloister) id=%s err=\"%s\"", id, cl_error_detail());
		return NULL;
	}
	return dir;
}

const char *cl_agent_guest_add(cl_agent *ag, const char *id, char *dir, size_t n)
{
	return guest_add(ag, id, dir, n, true);
}

const char *cl_agent_guest_prepare(cl_agent *ag, const char *id, char *dir, size_t n)
{
	return guest_add(ag, id, dir, n, false);
}

void cl_agent_guest_hand_over(cl_agent *ag, const char *id)
{
	cl_guestif_hand_over(ag->guestif, id);
}

void cl_agent_guest_remove(cl_agent *ag, const char *id)
{
	char base[PATH_MAX], path[PATH_MAX];
	if (ag->guestif) {
		cl_guestif_remove(ag->guestif, id);
		return;
	}
	/* No gate (it could not start): a directory left by an earlier start
	 * still goes. */
	if (guest_base(ag, base, sizeof(base)) == CL_OK && cl_agent_valid_id(id) &&
	    snprintf(path, sizeof(path), "%s/%s", base, id) < (int)sizeof(path) && cl_rm_rf(path) != CL_OK)
		cl_warn("cannot remove guest interface directory path=%s err=\"%s\"", path, cl_error_detail());
}

void cl_agent_guest_stop(cl_agent *ag)
{
	cl_agent_privsep_drop_gate(ag->privsep);
	cl_guestif_stop(ag->guestif);
	ag->guestif = NULL;
}
