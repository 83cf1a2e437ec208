/* agent_loop.c — registration, adoption at start, and the sync loop.
 *
 * The loop: report the actual state, receive the desired set (long-poll),
 * reconcile, apply, repeat at once. The control plane records a report as
 * soon as it receives it, so syncing again right after a launch or destroy
 * tells it about the change without waiting for the poll timeout.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/http_client.h"
#include "common/log.h"
#include "common/util.h"
#include "host/agent.h"
#include "host/agent_attest.h"
#include "host/agent_image.h"
#include "host/agent_measure.h"
#include "host/agent_net.h"
#include "host/agent_fwdata.h"
#include "host/agent_privsep.h"
#include "host/agent_tls.h"
#include "host/agent_rtm.h"
#include "fwguard/fwguard.h"
#include "guestif/guestif.h"
#include "sandbox/sandbox.h"

#define MIB (UINT64_C(1) << 20)
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define SYNC_RESP_MAX (64u << 20)

static void sleep_ms(uint32_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Capped exponential backoff with jitter (so a fleet does not stampede a
 * control plane that comes back). */
static void backoff(uint32_t *ms)
{
	uint32_t j = 0;
	if (cl_random(&j, sizeof(j)) != CL_OK)
		j = 0;
	sleep_ms(*ms - *ms / 4 + j % (*ms / 2 + 1));
	*ms = *ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *ms * 2;
}

/* ---- failures kept between syncs ---- */

static cl_agent_failure *failure_find(cl_agent *ag, const char *id, bool launch)
{
	for (size_t i = 0; i < ag->nfail; i++)
		if (ag->fail[i].launch == launch && strcmp(ag->fail[i].id, id) == 0)
			return &ag->fail[i];
	return NULL;
}

static void failure_set(cl_agent *ag, const char *id, bool launch, const char *error)
{
	cl_agent_failure *f = failure_find(ag, id, launch);
	if (!f) {
		cl_agent_failure *n = realloc(ag->fail, (ag->nfail + 1) * sizeof(*n));
		if (!n)
			return; /* best effort: the state report still shows the enclave missing */
		ag->fail = n;
		f = &ag->fail[ag->nfail++];
		memset(f, 0, sizeof(*f));
		snprintf(f->id, sizeof(f->id), "%s", id);
		f->launch = launch;
	}
	snprintf(f->error, sizeof(f->error), "%s", error);
	f->retry_at_ns = 0;
}

/* A launch that failed for lack of disk space: reported like any launch
 * failure (the job fails at once, with the cause), and tried again after
 * CL_AGENT_NOSPACE_RETRY_MS while the enclave stays desired. */
static void failure_set_retry(cl_agent *ag, const char *id, const char *error)
{
	failure_set(ag, id, true, error);
	cl_agent_failure *f = failure_find(ag, id, true);
	if (f)
		f->retry_at_ns = cl_now_mono_ns() + (uint64_t)CL_AGENT_NOSPACE_RETRY_MS * 1000000u;
}

static void failure_clear(cl_agent *ag, const char *id, bool launch)
{
	cl_agent_failure *f = failure_find(ag, id, launch);
	if (f) {
		*f = ag->fail[ag->nfail - 1];
		ag->nfail--;
	}
}

/* Forgets failures of ids no longer desired (a later desire launches afresh). */
static void failure_prune(cl_agent *ag, const cl_agent_answer *a)
{
	for (size_t i = 0; i < ag->nfail;) {
		bool desired = false;
		for (size_t j = 0; j < a->ndesired && !desired; j++)
			desired = strcmp(a->desired[j].id, ag->fail[i].id) == 0;
		if (desired) {
			i++;
		} else {
			ag->fail[i] = ag->fail[ag->nfail - 1];
			ag->nfail--;
		}
	}
}

/* ---- registration ---- */

static int do_register(cl_agent *ag)
{
	if (!ag->join_token[0]) {
		fprintf(stderr,
			"error: %s/host.json not found and no join token given (--join-token-file PATH or " CL_AGENT_JOIN_ENV
			"): this host has not joined the control plane yet\n",
			ag->cfg.data);
		return 1;
	}
	cl_http_client *http = NULL;
	json_t *body = NULL;
	char *text = NULL;
	cl_buf resp;
	cl_buf_init(&resp, 65536);
	int rc = 1;
	if (cl_http_client_new(ag->cfg.control, ag->cfg.ca, NULL, &http) != CL_OK)
		goto out;
	body = json_pack("{s:s, s:s, s:O}", "join_token", ag->join_token, "name", ag->name, "capabilities",
			 ag->caps);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text) {
		fprintf(stderr, "error: out of memory\n");
		goto out;
	}
	uint32_t delay = BACKOFF_MIN_MS;
	long status = 0;
	for (;;) {
		cl_err err = cl_http_request(http, "POST", "/v1/hosts/register", NULL, text, strlen(text),
					     "application/json", &status, &resp);
		if (err == CL_OK && status < 500)
			break;
		if (err != CL_OK)
			cl_warn("control plane unreachable; retrying registration err=\"%s\"", cl_error_detail());
		else
			cl_warn("control plane error; retrying registration status=%ld", status);
		backoff(&delay);
	}
	if (status != 200 && status != 201) {
		char msg[256];
		cl_agent_error_message((const char *)resp.data, resp.len, msg, sizeof(msg));
		fprintf(stderr, "error: registration refused by the control plane (HTTP %ld): %s\n", status, msg);
		goto out;
	}
	if (cl_agent_register_parse((const char *)resp.data, resp.len, ag->ident.host_id, sizeof(ag->ident.host_id),
				    ag->ident.host_token, sizeof(ag->ident.host_token)) != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		goto out;
	}
	cl_agent_crit_enter();
	cl_err err = cl_agent_identity_save(ag->cfg.data, &ag->ident);
	cl_agent_crit_leave();
	if (err != CL_OK) {
		fprintf(stderr, "error: registered as %s but cannot save host.json: %s\n", ag->ident.host_id,
			cl_error_detail());
		goto out;
	}
	cl_info("registered host_id=%s name=%s", ag->ident.host_id, ag->name);
	rc = 0;
out:
	if (text) {
		explicit_bzero(text, strlen(text)); /* holds the join token */
		free(text);
	}
	json_decref(body); /* its copy of the token: freed (jansson does not wipe) */
	explicit_bzero(ag->join_token, sizeof(ag->join_token)); /* one-time: used or refused */
	cl_buf_free(&resp);
	cl_http_client_free(http);
	return rc;
}

/* ---- adoption ---- */

/* Removes temp files an atomic write left behind when a kill interrupted it
 * (DIR/host.json.tmp.PID, DIR/images/IMG.img.tmp.PID, DIR/attest/cert.der.tmp.PID;
 * DIR/pcrs/ is pruned by adopt). */
static void remove_stale_temps(const char *dir)
{
	static const char *const subs[] = {"", "/images", "/attest"};
	char sub[PATH_MAX];
	for (size_t pass = 0; pass < sizeof(subs) / sizeof(subs[0]); pass++) {
		if (snprintf(sub, sizeof(sub), "%s%s", dir, subs[pass]) >= (int)sizeof(sub))
			return;
		DIR *d = opendir(sub);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (!strstr(e->d_name, ".tmp.") || e->d_type == DT_DIR)
				continue;
			if (unlinkat(dirfd(d), e->d_name, 0) == 0)
				cl_info("removed a stale temp file file=%s", e->d_name);
		}
		closedir(d);
	}
}

/* Before the first sync: adopt sandboxes whose shim lives, destroy the rest
 * (a dead shim leaves an enclave nobody can reach: kill it and clean up). */
static void adopt(cl_agent *ag)
{
	remove_stale_temps(ag->cfg.data);
	cl_agent_actual *a = NULL;
	size_t n = 0;
	if (cl_agent_collect_actual(ag->cfg.data, &a, &n) != CL_OK) {
		cl_warn("cannot list sandboxes at start err=\"%s\"", cl_error_detail());
		return;
	}
	char **keep = calloc(n + 1, sizeof(*keep));
	size_t nkeep = 0;
	for (size_t i = 0; i < n; i++) {
		if (a[i].alive) {
			(void)cl_agent_guest_add(ag, a[i].id, NULL, 0); /* serve its guest interface again */
			cl_agent_pcrs_adopt_bundle(ag->cfg.data, a[i].id); /* a kill after EXTEND, before its record */
			cl_agent_pcrs_mark(&ag->pcrs_pending, a[i].id); /* tell the control plane its registers again */
			/* a suspend that stopped it and never committed (this agent was
			 * killed after its STATE_END, and its op may be past its deadline):
			 * it runs on. A no-op for an application no suspend stopped. */
			if (a[i].running && !cl_agent_sandbox_suspended(ag->cfg.data, a[i].id) &&
			    cl_sandbox_resume(ag->cfg.data, a[i].id) != CL_OK)
				cl_warn("adopt: enclave %s not resumed: %s", a[i].id, cl_error_detail());
			if (keep)
				keep[nkeep++] = a[i].id;
			cl_info("adopted enclave id=%s state=%s", a[i].id,
				!a[i].running ? "exited" : a[i].frozen ? "stopped" : "running");
			continue;
		}
		cl_agent_crit_enter();
		cl_err err = cl_sandbox_destroy(ag->cfg.data, a[i].id);
		cl_agent_crit_leave();
		if (err == CL_OK)
			cl_agent_guest_remove(ag, a[i].id);
		if (err == CL_OK)
			cl_info("destroyed enclave whose shim is gone id=%s", a[i].id);
		else if (keep)
			keep[nkeep++] = a[i].id; /* still listed: keep its registers until it goes */
		if (err != CL_OK)
			cl_warn("cannot destroy enclave whose shim is gone id=%s err=\"%s\"", a[i].id, cl_error_detail());
	}
	/* Registers of enclaves that do not exist (a kill between writing them
	 * and the launch, or after a destroy) go. */
	if (keep && cl_agent_pcrs_prune(ag->cfg.data, keep, nkeep) > 0)
		cl_info("removed the measurements of enclaves that do not exist");
	free(keep);
	free(a);
}

/* After adopt: the guest network journal against the sandboxes that live
 * (agent_net.h); CL_ECONFLICT (fatal) when they hold another pool's addresses. */
static cl_err net_adopt(cl_agent *ag)
{
	cl_agent_crit_enter();
	cl_err err = cl_agent_net_adopt_sandboxes(ag->net, ag->cfg.data);
	cl_agent_crit_leave();
	if (err == CL_OK && cl_agent_net_count(ag->net))
		cl_info("guest networks adopted count=%zu", cl_agent_net_count(ag->net));
	return err;
}

/* ---- applying a desired set ---- */

/* Fetches (or finds) the image of d; on a full disk, removes cached images
 * the desired set no longer uses and tries once more. */
static cl_err launch_image(cl_agent *ag, const cl_agent_answer *ans, const cl_agent_desired *d, char *path,
			   size_t pathlen)
{
	cl_err err = cl_agent_image_ensure(ag->http, ag->cfg.data, d->image, d->image_sha384, path, pathlen);
	if (err != CL_ENOSPACE)
		return err;
	const char **keep = calloc(ans->ndesired + 1, sizeof(*keep));
	size_t removed = 0;
	for (size_t i = 0; keep && i < ans->ndesired; i++)
		keep[i] = ans->desired[i].image;
	if (keep)
		removed = cl_agent_image_prune(ag->cfg.data, keep, ans->ndesired);
	free(keep);
	if (removed == 0)
		return err; /* the detail is still the full disk's */
	return cl_agent_image_ensure(ag->http, ag->cfg.data, d->image, d->image_sha384, path, pathlen);
}

/* Remembers a launch's READY state for the next report, which then need not
 * ask the new shim its STATUS a few ms after it answered READY (a round trip
 * to a process that, on a busy host, waits for a CPU). Best effort: without
 * memory the report asks the shim. */
static void launched_add(cl_agent *ag, const cl_sandbox_info *info, const char *id)
{
	cl_agent_actual *n = realloc(ag->launched, (ag->nlaunched + 1) * sizeof(*n));
	if (!n)
		return;
	ag->launched = n;
	cl_agent_actual *x = &n[ag->nlaunched++];
	memset(x, 0, sizeof(*x));
	snprintf(x->id, sizeof(x->id), "%s", id);
	x->alive = true;
	x->running = info->running;
	x->frozen = info->frozen;
	x->exit_status = info->exit_status;
	x->memory_bytes = info->memory_bytes;
}

static void launched_clear(cl_agent *ag)
{
	free(ag->launched);
	ag->launched = NULL;
	ag->nlaunched = 0;
}

struct hand_over {
	cl_agent *ag;
	const char *id;
};

static void hand_over_cb(void *arg)
{
	struct hand_over *h = arg;
	cl_agent_guest_hand_over(h->ag, h->id);
}

/* Gives a networked enclave just launched its veth (docs/tls.md "Network
 * plumbing"); on failure destroys the sandbox (why: the reason). */
static cl_err plumb_or_destroy(cl_agent *ag, const char *id, const cl_sandbox_info *info, char *why, size_t n)
{
	cl_agent_crit_enter();
	cl_err err = cl_agent_net_plumb(ag->net, id, info->init_pid);
	cl_agent_crit_leave();
	if (err == CL_OK)
		return CL_OK;
	snprintf(why, n, "network: %s", cl_error_detail());
	cl_agent_crit_enter();
	if (cl_sandbox_destroy(ag->cfg.data, id) != CL_OK)
		cl_warn("enclave left without its network not destroyed id=%s err=\"%s\"", id, cl_error_detail());
	cl_agent_crit_leave();
	return err;
}

static void launch(cl_agent *ag, const cl_agent_answer *ans, const cl_agent_desired *d)
{
	char image_path[PATH_MAX], why[512];
	cl_err err = launch_image(ag, ans, d, image_path, sizeof(image_path));
	if (err != CL_OK) {
		snprintf(why, sizeof(why), "image: %s", cl_error_detail());
		if (err == CL_EIO || err == CL_ETIMEOUT || err == CL_EUNAVAIL) {
			/* The control plane went away mid-fetch: try again next round. */
			cl_warn("image fetch failed; will retry id=%s err=\"%s\"", d->id, why);
			return;
		}
		cl_warn("launch failed id=%s err=\"%s\"", d->id, why);
		if (err == CL_ENOSPACE)
			failure_set_retry(ag, d->id, why);
		else
			failure_set(ag, d->id, true, why);
		return;
	}
	/* The registers before the sandbox: kept with the enclave from its
	 * first moment (a kill after the launch must not lose them). */
	cl_pcrs pcrs;
	err = cl_agent_measure_image(ag->measure, image_path, d->image_sha384, &pcrs);
	if (err == CL_OK && !cl_agent_measure_launch(&pcrs, d->tenant, d->name, ag->ident.host_id))
		cl_info("the sync answer names no tenant/name for the enclave: its PCR3 stays zero id=%s", d->id);
	if (err == CL_OK && d->await_bundle)
		cl_pcrs_await_bundle(&pcrs);
	if (err == CL_OK && d->suspendable)
		cl_pcrs_suspendable(&pcrs);
	if (err == CL_OK && d->network)
		cl_pcrs_network(&pcrs, d->expose, d->nexpose);
	if (err == CL_OK) {
		cl_agent_crit_enter();
		err = cl_agent_pcrs_save(ag->cfg.data, d->id, &pcrs);
		cl_agent_crit_leave();
	}
	if (err != CL_OK) {
		snprintf(why, sizeof(why), "measure: %s", cl_error_detail());
		cl_warn("launch failed id=%s err=\"%s\"", d->id, why);
		if (err == CL_ENOSPACE)
			failure_set_retry(ag, d->id, why);
		else
			failure_set(ag, d->id, true, why);
		return;
	}
	/* A networked enclave's address is journaled before its sandbox exists
	 * (agent_net.h): a kill after this leaves at most an entry to drop. */
	cl_net_link link;
	if (d->network) {
		cl_agent_crit_enter();
		err = cl_agent_net_reserve(ag->net, d->id, &link);
		cl_agent_crit_leave();
		if (err != CL_OK) {
			snprintf(why, sizeof(why), "network: %s", cl_error_detail());
			cl_agent_pcrs_remove(ag->cfg.data, d->id);
			cl_warn("launch failed id=%s err=\"%s\"", d->id, why);
			if (err == CL_EUNAVAIL || err == CL_ENOSPACE)
				failure_set_retry(ag, d->id, why);
			else
				failure_set(ag, d->id, true, why);
			return;
		}
	}
	cl_sandbox_spec spec = {.id = d->id,
				.image_path = image_path,
				.init_path = ag->init_path,
				.memory_bytes = d->memory_mib * MIB,
				.cpus = d->cpus ? d->cpus : 1,
				.pids_max = 0,
				.await_bundle = d->await_bundle,
				.suspendable = d->suspendable,
				.await_restore = d->await_restore,
				.helper_path = ag->helper_path};
	cl_sandbox_info info;
	char guest_dir[PATH_MAX];
	memset(&info, 0, sizeof(info));
	/* The sockets bound now (an early connect waits in their backlog); the
	 * round trip that hands them to the guest interface process is made
	 * while the sandbox starts. */
	const char *gdir = cl_agent_guest_prepare(ag, d->id, guest_dir, sizeof(guest_dir));
	struct hand_over ho = {.ag = ag, .id = d->id};
	if (gdir) {
		spec.while_starting = hand_over_cb;
		spec.while_starting_arg = &ho;
	}
	cl_agent_guest_tenant(ag, d->id, d->tenant);
	cl_agent_crit_enter();
	err = cl_sandbox_launch_guest(ag->self_exe, ag->cfg.data, &spec, gdir, &info);
	cl_agent_crit_leave();
	if (err == CL_OK && d->network) /* fail closed: a network was asked for */
		err = plumb_or_destroy(ag, d->id, &info, why, sizeof(why));
	else if (err != CL_OK)
		snprintf(why, sizeof(why), "launch: %s", cl_error_detail());
	if (err != CL_OK) {
		if (d->network && cl_agent_net_release(ag->net, d->id) != CL_OK)
			cl_warn("guest network not released id=%s err=\"%s\"", d->id, cl_error_detail());
		cl_agent_guest_remove(ag, d->id);
		cl_agent_pcrs_remove(ag->cfg.data, d->id);
		cl_warn("launch failed id=%s err=\"%s\"", d->id, why);
		if (err == CL_ENOSPACE)
			failure_set_retry(ag, d->id, why);
		else
			failure_set(ag, d->id, true, why);
		return;
	}
	failure_clear(ag, d->id, true);
	launched_add(ag, &info, d->id);
	cl_agent_pcrs_mark(&ag->pcrs_pending, d->id);
	cl_info("launched enclave id=%s image=%s memory_mib=%llu%s%s", d->id, d->image, (unsigned long long)d->memory_mib,
		d->network ? " address=" : "", d->network ? inet_ntoa(link.guest_addr) : "");
}

/* Applies one action; returns true if it created or removed a sandbox. */
static bool apply(cl_agent *ag, const cl_agent_answer *ans, const cl_agent_actual *act, size_t nact,
		  const cl_agent_action *x)
{
	const cl_agent_desired *d = (x->kind != CL_ACT_DESTROY) ? &ans->desired[x->desired] : NULL;
	cl_err err = CL_OK;
	char why[512];
	switch (x->kind) {
	case CL_ACT_DESTROY: {
		bool was_alive = true, desired = false;
		for (size_t i = 0; i < nact; i++)
			if (strcmp(act[i].id, x->id) == 0)
				was_alive = act[i].alive;
		for (size_t i = 0; i < ans->ndesired; i++)
			desired = desired || strcmp(ans->desired[i].id, x->id) == 0;
		cl_agent_crit_enter();
		err = cl_sandbox_destroy(ag->cfg.data, x->id);
		cl_agent_crit_leave();
		if (err != CL_OK) {
			cl_warn("destroy failed id=%s err=\"%s\"", x->id, cl_error_detail());
			return true;
		}
		cl_info("destroyed enclave id=%s", x->id);
		if (!desired) /* its TLS keys and certificate go with it */
			cl_agent_tls_forget(ag->tls, x->id);
		cl_agent_crit_enter();
		if (cl_agent_net_release(ag->net, x->id) != CL_OK) /* its link; kept (and journaled) on failure */
			cl_warn("guest network not released id=%s err=\"%s\"", x->id, cl_error_detail());
		cl_agent_crit_leave();
		cl_agent_guest_remove(ag, x->id);
		cl_agent_pcrs_remove(ag->cfg.data, x->id);
		cl_agent_pcrs_unmark(&ag->pcrs_pending, x->id);
		failure_clear(ag, x->id, false);
		if (desired && !was_alive) /* died under us: report it, do not relaunch silently */
			failure_set(ag, x->id, true, "the enclave's shim died; enclave destroyed");
		return true;
	}
	case CL_ACT_LAUNCH:
		launch(ag, ans, d);
		return true;
	case CL_ACT_FREEZE:
	case CL_ACT_THAW:
		if (!cl_agent_rtm_loop_begin(x->id)) { /* never inside a measure's pause */
			cl_debug("enclave change deferred: being measured id=%s", x->id);
			return false;
		}
		cl_agent_crit_enter();
		err = cl_sandbox_freeze(ag->cfg.data, x->id, x->kind == CL_ACT_FREEZE);
		cl_agent_crit_leave();
		cl_agent_rtm_loop_end();
		snprintf(why, sizeof(why), "%s: %s", x->kind == CL_ACT_FREEZE ? "freeze" : "thaw", cl_error_detail());
		break;
	case CL_ACT_SET_MEMORY:
		cl_agent_crit_enter();
		err = cl_sandbox_set_memory(ag->cfg.data, x->id, x->memory_bytes);
		cl_agent_crit_leave();
		snprintf(why, sizeof(why), "set memory to %llu MiB: %s", (unsigned long long)(x->memory_bytes / MIB),
			 cl_error_detail());
		break;
	}
	if (err != CL_OK) {
		cl_warn("enclave change failed id=%s err=\"%s\"", x->id, why);
		failure_set(ag, x->id, false, why);
	} else {
		failure_clear(ag, x->id, false);
		cl_info("enclave changed id=%s action=%s", x->id,
			x->kind == CL_ACT_FREEZE ? "freeze" : x->kind == CL_ACT_THAW ? "thaw" : "set-memory");
	}
	return false;
}

/* Reconciles against a fresh listing and applies; true if something was
 * launched or destroyed. */
static bool reconcile_and_apply(cl_agent *ag, const cl_agent_answer *ans)
{
	failure_prune(ag, ans);
	cl_agent_actual *act = NULL;
	size_t nact = 0;
	if (cl_agent_collect_actual(ag->cfg.data, &act, &nact) != CL_OK) {
		cl_warn("cannot list sandboxes; not reconciling err=\"%s\"", cl_error_detail());
		return false;
	}
	const char **failed = ag->nfail ? calloc(ag->nfail, sizeof(*failed)) : NULL;
	size_t nfailed = 0;
	uint64_t now = cl_now_mono_ns();
	for (size_t i = 0; failed && i < ag->nfail; i++)
		if (ag->fail[i].launch && (!ag->fail[i].retry_at_ns || now < ag->fail[i].retry_at_ns))
			failed[nfailed++] = ag->fail[i].id; /* not launched again (yet) */
	cl_agent_action *acts = NULL;
	size_t nacts = 0;
	bool changed = false;
	if (ag->nfail && !failed) {
		cl_warn("out of memory; not reconciling");
	} else if (cl_agent_reconcile(ans->desired, ans->ndesired, act, nact, failed, nfailed, &acts, &nacts) != CL_OK) {
		cl_warn("reconcile failed err=\"%s\"", cl_error_detail());
	} else {
		/* failed[] points into ag->fail, which apply() may change: copy out first. */
		free(failed);
		failed = NULL;
		/* Slow actions (big image downloads, launches that time out) must not
		 * starve the heartbeat: past half a poll timeout, stop here and sync
		 * at once; the next answer's reconcile picks up what is left. */
		uint64_t start = cl_now_mono_ns(), budget = (uint64_t)ag->cfg.poll_timeout_ms * 500000u;
		for (size_t i = 0; i < nacts; i++) {
			if (i > 0 && cl_now_mono_ns() - start > budget) {
				cl_info("heartbeat due; deferring the remaining changes to the next sync left=%zu", nacts - i);
				ag->resync_now = true;
				break;
			}
			changed |= apply(ag, ans, act, nact, &acts[i]);
		}
	}
	/* The secure module seals with each enclave's tenant (launched or adopted). */
	for (size_t i = 0; i < ans->ndesired; i++)
		cl_agent_guest_tenant(ag, ans->desired[i].id, ans->desired[i].tenant);
	free(failed);
	free(acts);
	free(act);
	return changed;
}

/* ---- firmware ---- */

/* The "firmware" object of a sync request, or NULL when the guard is off.
 * An unreadable status reports a host that is not eligible (fail closed).
 * *wait_ms is shortened so the long poll returns when the last open window
 * closes: the next sync then tells the control plane the host is eligible. */
static json_t *fw_report(cl_agent *ag, uint32_t *wait_ms)
{
	if (!ag->fw)
		return NULL;
	json_t *fw = NULL;
	uint64_t left_s = 0;
	if (cl_agent_fw_report(ag->fw, (uint64_t)ag->fw_ack, &fw, &left_s) != CL_OK) {
		cl_warn("cannot read the firmware guard; reporting not eligible err=\"%s\"", cl_error_detail());
		return json_pack("{s:b, s:b, s:b}", "eligible", 0, "quarantined", 0, "window_open", 0);
	}
	if (*wait_ms > 0)
		*wait_ms = cl_agent_fw_wait_ms(*wait_ms, left_s);
	return fw;
}

/* True if results already holds a result for op (a resend answered twice
 * before a sync delivered the first answer). */
static bool fw_result_queued(json_t *results, const char *op)
{
	size_t i;
	json_t *v;
	json_array_foreach(results, i, v)
	{
		const char *o = json_string_value(json_object_get(v, "op"));
		if (o && strcmp(o, op) == 0)
			return true;
	}
	return false;
}

/* Runs one firmware op once: the journal records it before it runs and its
 * result after; a resent op gets its stored result. NULL = nothing to
 * report now (journal unwritable: the op did not run and the control plane
 * will resend it). */
static json_t *fw_run_once(cl_agent *ag, const cl_agent_fw_op *op)
{
	json_t *res = NULL;
	if (!ag->fw)
		return json_pack("{s:s, s:b, s:s}", "op", op->op, "ok", 0, "error",
				 "this host runs no firmware guard (started without --fw-root)");
	cl_agent_crit_enter();
	cl_err err = cl_agent_fwops_begin(ag->fwops, op->op, &res);
	if (err != CL_OK) {
		cl_agent_crit_leave();
		cl_warn("cannot journal firmware op; not run, the control plane will resend it op=%s err=\"%s\"", op->op,
			cl_error_detail());
		return NULL;
	}
	cl_agent_crit_leave();
	if (res) {
		cl_info("firmware op already taken; reporting its stored result op=%s", op->op);
		return res;
	}
	/* Big data comes by reference: fetched outside the critical section (a
	 * stop here leaves the op "started": answered as interrupted, never run). */
	cl_buf data;
	cl_buf_init(&data, FWG_MAX_BUNDLE);
	cl_err ferr = cl_agent_fw_fetch(ag->http, ag->ident.host_id, op, &data);
	cl_agent_crit_enter();
	res = cl_agent_fw_apply_fetched(ag->fw, op, &data, ferr);
	cl_buf_free(&data);
	if (!res)
		res = json_pack("{s:s, s:b, s:s}", "op", op->op, "ok", 0, "error", "out of memory");
	if (res && cl_agent_fwops_finish(ag->fwops, op->op, res) != CL_OK)
		cl_warn("cannot journal a firmware op result; after a restart it reads as interrupted op=%s err=\"%s\"",
			op->op, cl_error_detail());
	cl_agent_crit_leave();
	return res;
}

/* Runs the answer's firmware ops in order; their results go with the next sync. */
static void fw_apply_ops(cl_agent *ag, const cl_agent_answer *ans)
{
	for (size_t i = 0; i < ans->nfw_ops; i++) {
		const cl_agent_fw_op *op = &ans->fw_ops[i];
		if (fw_result_queued(ag->fw_results, op->op))
			continue; /* its result goes with the next sync already */
		json_t *res = fw_run_once(ag, op);
		if (!res)
			continue;
		if (json_array_append_new(ag->fw_results, res) != 0) {
			cl_warn("out of memory; firmware op result not sent now (reported again on resend) op=%s", op->op);
			continue;
		}
		cl_info("firmware op op=%s ok=%d reason=%s", op->op, json_is_true(json_object_get(res, "ok")) ? 1 : 0,
			json_string_value(json_object_get(res, "reason")) ? json_string_value(json_object_get(res, "reason"))
									  : "-");
		ag->resync_now = true; /* report the result and the new status at once */
	}
}

/* ---- sync ---- */

static char *sync_body(cl_agent *ag, json_t *results)
{
	cl_agent_actual *act = NULL;
	size_t nact = 0;
	/* Sandboxes launched since the last report are reported as their launch
	 * left them (READY, moments ago); every other one is asked afresh. */
	cl_err cerr = cl_agent_collect_actual_known(ag->cfg.data, ag->launched, ag->nlaunched, &act, &nact);
	launched_clear(ag);
	if (cerr != CL_OK) {
		cl_warn("cannot list sandboxes err=\"%s\"", cl_error_detail());
		return NULL;
	}
	/* wait_ms 0 asks for the desired set at once (deferred changes pending);
	 * a launch to try again comes back no later than it is due. */
	uint32_t wait_ms = ag->resync_now ? 0 : ag->cfg.poll_timeout_ms;
	uint64_t now = cl_now_mono_ns();
	for (size_t i = 0; i < ag->nfail; i++) {
		uint64_t at = ag->fail[i].retry_at_ns;
		uint64_t left_ms = at > now ? (at - now) / 1000000u + 1 : 0;
		if (at > now && left_ms < wait_ms)
			wait_ms = (uint32_t)left_ms;
	}
	wait_ms = cl_agent_att_wait_ms(ag->att, wait_ms); /* back when a certificate request is due */
	json_t *fw = fw_report(ag, &wait_ms);
	json_t *body = json_pack("{s:I, s:I, s:O, s:o*, s:O}", "generation", (json_int_t)ag->generation, "wait_ms",
				 (json_int_t)wait_ms, "capabilities", ag->caps, "enclaves",
				 cl_agent_enclaves_json(act, nact, ag->fail, ag->nfail), "results", results);
	free(act);
	/* A control plane that knows attestation takes each enclave's
	 * registers (once: it keeps them). */
	if (body && ag->ctl_attests)
		(void)cl_agent_pcrs_attach(ag->cfg.data, json_object_get(body, "enclaves"), &ag->pcrs_pending);
	if (body) /* networked enclaves' addresses, in every report */
		cl_agent_net_attach(ag->net, json_object_get(body, "enclaves"));
	char *text = NULL;
	bool fw_ok = !ag->fw || (fw && body && json_object_set(body, "firmware", fw) == 0);
	json_decref(fw);
	if (body && fw_ok && json_object_get(body, "enclaves"))
		text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

/* Drops the firmware results (kept in ag->fw_results) from a results array
 * taken for a sync that failed, leaving the pool's own npool entries. */
static void fw_results_untake(json_t *results, size_t npool)
{
	while (json_array_size(results) > npool)
		json_array_remove(results, json_array_size(results) - 1);
}

/* The control plane removed this host from the fleet (`cloister host
 * remove`): its enclaves are lost to the control plane, which will never
 * drive them again, so they go now (as they would at the first sync of a
 * re-join: nothing is desired), and the agent stops for good. */
static void host_removed(cl_agent *ag)
{
	cl_agent_answer none;
	memset(&none, 0, sizeof(none));
	cl_warn("this host was removed from the fleet: destroying its enclaves and stopping");
	for (int round = 0; round < 16 && reconcile_and_apply(ag, &none); round++)
		; /* a round may stop early to keep the heartbeat: go on until nothing is left */
	cl_agent_actual *left = NULL;
	size_t nleft = 0;
	if (cl_agent_collect_actual(ag->cfg.data, &left, &nleft) != CL_OK)
		nleft = 0;
	free(left);
	fprintf(stderr,
		"error: this host was removed from the fleet by the control plane; its enclaves were destroyed%s. "
		"To join again, delete %s/host.json and start with a new join token\n",
		nleft ? " (some could not be: see the log)" : "", ag->cfg.data);
}

/* Tells the TLS state which enclaves this host runs (its ops refuse the
 * others, and the TLS of an enclave no longer desired is dropped). */
static void tls_enclaves(cl_agent *ag, const cl_agent_answer *ans)
{
	if (!ag->tls)
		return;
	const char **ids = ans->ndesired ? calloc(ans->ndesired, sizeof(*ids)) : NULL;
	signed char *network = ans->ndesired ? calloc(ans->ndesired, 1) : NULL;
	if (ans->ndesired && (!ids || !network)) {
		cl_warn("out of memory: the TLS state keeps the last desired set");
	} else {
		for (size_t i = 0; i < ans->ndesired; i++) {
			ids[i] = ans->desired[i].id;
			network[i] = ans->desired[i].network ? 1 : 0;
		}
		cl_agent_tls_set_enclaves(ag->tls, ids, network, ans->ndesired);
		for (size_t i = 0; i < ans->ndesired; i++) { /* the backends: address and lowest exposed port */
			const cl_agent_desired *d = &ans->desired[i];
			cl_net_link link;
			char addr[INET_ADDRSTRLEN] = "";
			uint16_t port = 0;
			if (!d->network)
				continue;
			if (ag->net && cl_agent_net_get(ag->net, d->id, &link))
				inet_ntop(AF_INET, &link.guest_addr, addr, sizeof(addr));
			for (size_t k = 0; k < d->nexpose; k++)
				if (!port || d->expose[k] < port)
					port = d->expose[k];
			cl_agent_tls_set_backend(ag->tls, d->id, addr, port);
		}
	}
	free(ids);
	free(network);
}

/* One sync round trip. Returns 0 to go on at once, 2 to go on at once after
 * a round that moved something (an immediate answer was asked for or the
 * desired state changed), 1 to back off, -1 to stop (fatal). */
static int sync_once(cl_agent *ag)
{
	bool asked_now = ag->resync_now; /* this round asks for wait_ms 0 */
	/* The control plane takes request bodies up to 1 MiB: leave room for the
	 * rest (with the guard on, up to CL_AGENT_FW_AUDIT_MAX audit records). */
	json_t *results = cl_agent_pool_take_results(ag->pool, ag->fw ? 480u * 1024 : 600u * 1024);
	if (!results)
		return 1;
	size_t npool = json_array_size(results);
	if (json_array_extend(results, ag->fw_results) != 0) {
		cl_agent_pool_requeue(ag->pool, results);
		return 1;
	}
	uint64_t t0 = cl_now_mono_ns();
	char *text = sync_body(ag, results);
	uint64_t t1 = cl_now_mono_ns();
	if (!text) {
		fw_results_untake(results, npool);
		cl_agent_pool_requeue(ag->pool, results);
		return 1;
	}
	char path[256];
	snprintf(path, sizeof(path), "/v1/hosts/%s/sync", ag->ident.host_id);
	cl_buf resp;
	cl_buf_init(&resp, SYNC_RESP_MAX);
	long status = 0;
	cl_http_client_set_timeout(ag->http, (long)ag->cfg.poll_timeout_ms + 15000);
	size_t tlen = strlen(text);
	cl_err err = cl_http_request(ag->http, "POST", path, NULL, text, tlen, "application/json", &status, &resp);
	cl_debug("sync body_bytes=%zu build_ms=%.1f round_trip_ms=%.1f", tlen, (double)(t1 - t0) / 1e6,
		 (double)(cl_now_mono_ns() - t1) / 1e6); /* where a slow launch path spends its time */
	free(text);
	int ret = 1;
	if (err != CL_OK) {
		cl_warn("control plane unreachable; enclaves keep running err=\"%s\"", cl_error_detail());
		fw_results_untake(results, npool);
		cl_agent_pool_requeue(ag->pool, results);
		goto out;
	}
	if (status != 200) {
		char msg[256];
		cl_agent_error_message((const char *)resp.data, resp.len, msg, sizeof(msg));
		if (status == 401 && strstr(msg, "removed from the fleet")) {
			host_removed(ag);
			ret = -1;
		} else if (status == 401 || status == 403) {
			fprintf(stderr,
				"error: the control plane refused this host's credential (HTTP %ld): %s (if the host was "
				"removed, delete %s/host.json and join again)\n",
				status, msg, ag->cfg.data);
			ret = -1;
		} else {
			cl_warn("sync refused status=%ld msg=\"%s\"", status, msg);
		}
		fw_results_untake(results, npool);
		cl_agent_pool_requeue(ag->pool, results);
		goto out;
	}
	json_decref(results); /* delivered */
	json_array_clear(ag->fw_results);
	cl_agent_pcrs_delivered(&ag->pcrs_pending);
	ag->resync_now = false;
	cl_agent_answer ans;
	if (cl_agent_answer_parse((const char *)resp.data, resp.len, &ans) != CL_OK) {
		cl_warn("bad sync answer; nothing applied err=\"%s\"", cl_error_detail());
		goto out;
	}
	bool moved = asked_now || ans.generation != ag->generation || ans.nops > 0 || ans.nfw_ops > 0;
	ag->generation = ans.generation;
	if (ans.has_fw_ack)
		ag->fw_ack = ans.fw_audit_ack;
	cl_agent_fw_anchor(ag->fw, &ans);
	fw_apply_ops(ag, &ans);
	tls_enclaves(ag, &ans); /* before the ops: a TLS op checks its enclave is here */
	for (size_t i = 0; i < ans.ncancel; i++) /* callers gone: end their waits */
		cl_agent_pool_cancel(ag->pool, ans.cancel[i]);
	for (size_t i = 0; i < ans.nbad_ops; i++)
		cl_agent_pool_fail(ag->pool, ans.bad_ops[i], "malformed op");
	for (size_t i = 0; i < ans.nops; i++)
		if (cl_agent_pool_submit(ag->pool, &ans.ops[i]) != CL_OK)
			cl_agent_pool_fail(ag->pool, ans.ops[i].op, "host busy: too many ops queued");
	if (reconcile_and_apply(ag, &ans))
		cl_debug("sandboxes changed; syncing again at once");
	if (ans.att_serial_state != CL_ATT_SERIAL_ABSENT)
		ag->ctl_attests = true;
	if (ag->att) /* after the enclave changes: a slow control plane delays no launch */
		(void)cl_agent_att_step(ag->att, ag->http, ag->ident.host_id, &ans);
	cl_agent_answer_free(&ans);
	ret = moved ? 2 : 0;
out:
	cl_buf_free(&resp);
	return ret;
}

/* One agent per data dir: a second one would launch and destroy behind the
 * first one's back. The lock dies with the process (kill -9 included); the
 * descriptor is close-on-exec so shims do not inherit it. */
static bool lock_data_dir(const char *dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/agent.lock", dir) >= (int)sizeof(path))
		return false;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "error: cannot open %s: %s\n", path, strerror(errno));
		return false;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		fprintf(stderr, "error: another cloister-host is using %s\n", dir);
		close(fd);
		return false;
	}
	return true; /* fd stays open for the life of the process */
}

int cl_agent_run(cl_agent *ag)
{
	if (!ag->privsep && !lock_data_dir(ag->cfg.data)) /* else the supervisor holds it (and we with it) */
		return 1;
	int rc = 1;
	/* The firmware guard first: a host that cannot run it must not join. */
	if (!(ag->fw_results = json_array())) {
		fprintf(stderr, "error: out of memory\n");
		goto out;
	}
	if (ag->cfg.fw_root) {
		if (snprintf(ag->fw_dir, sizeof(ag->fw_dir), "%s/fw", ag->cfg.data) >= (int)sizeof(ag->fw_dir)) {
			fprintf(stderr, "error: cannot start the firmware guard: data path too long\n");
			goto out;
		}
		cl_agent_crit_enter();
		cl_err ferr = cl_agent_fw_open_keys(ag->fw_dir, ag->cfg.fw_root, cl_agent_privsep_keys(ag->privsep), &ag->fw);
		cl_agent_crit_leave();
		if (ferr != CL_OK) {
			fprintf(stderr, "error: cannot open the firmware guard in %s: %s\n", ag->fw_dir, cl_error_detail());
			goto out;
		}
		char jpath[PATH_MAX + 16];
		snprintf(jpath, sizeof(jpath), "%s/ops.journal", ag->fw_dir);
		cl_agent_crit_enter();
		ferr = cl_agent_fwops_open(jpath, &ag->fwops);
		cl_agent_crit_leave();
		if (ferr != CL_OK) {
			fprintf(stderr, "error: %s\n", cl_error_detail());
			goto out;
		}
		cl_info("firmware guard on dir=%s journaled_ops=%zu", ag->fw_dir, cl_agent_fwops_count(ag->fwops));
	}
	/* Every enclave's /dev/cloister (nsm.sock; fw.sock with the guard). */
	if (cl_agent_guest_start(ag) != CL_OK) {
		fprintf(stderr, "error: cannot start the guest interface: %s\n", cl_error_detail());
		goto out;
	}
	/* Probing forks and tries kernel features: once per start is enough
	 * (what the host offers changes only with a restart). */
	ag->caps = cl_agent_capabilities(&ag->cfg, ag->memory_mib, ag->cpus);
	if (!ag->caps) {
		fprintf(stderr, "error: out of memory\n");
		goto out;
	}
	cl_err err = cl_agent_identity_load(ag->cfg.data, &ag->ident);
	if (err == CL_ENOTFOUND) {
		if (do_register(ag) != 0)
			goto out;
	} else if (err != CL_OK) {
		fprintf(stderr, "error: %s\n", cl_error_detail());
		goto out;
	} else if (ag->join_token[0]) {
		cl_info("already registered; the join token is not used host_id=%s", ag->ident.host_id);
		explicit_bzero(ag->join_token, sizeof(ag->join_token));
	}
	printf("host-id: %s\n", ag->ident.host_id);
	fflush(stdout);
	/* Window policies bound to a host name the control plane's host id. */
	if (ag->fw && fwg_host_set_id(ag->fw, ag->ident.host_id) != CL_OK)
		cl_warn("host id not usable for firmware policies host_id=%s", ag->ident.host_id);

	/* The init binary every sandbox runs is measured (read) once. */
	if (cl_agent_measure_new(ag->init_path, ag->helper_path, &ag->measure) != CL_OK) {
		fprintf(stderr, "error: cannot measure the init binary: %s\n", cl_error_detail());
		goto out;
	}
	cl_agent_crit_enter();
	err = cl_agent_net_open(ag->cfg.data, ag->cfg.guest_pool, &ag->net);
	cl_agent_crit_leave();
	if (err != CL_OK) {
		fprintf(stderr, "error: guest networks: %s\n", cl_error_detail());
		goto out;
	}
	adopt(ag);
	if (net_adopt(ag) != CL_OK) {
		fprintf(stderr, "error: guest networks: %s\n", cl_error_detail());
		goto out;
	}
	const cl_agent_att_keys *keys = cl_agent_privsep_att_keys(ag->privsep);
	if ((keys && cl_agent_att_new(ag->cfg.data, keys, &ag->att) != CL_OK) ||
	    cl_http_client_new(ag->cfg.control, ag->cfg.ca, ag->ident.host_token, &ag->http) != CL_OK ||
	    cl_agent_pool_new(ag->cfg.control, ag->cfg.ca, ag->ident.host_token, ag->ident.host_id, ag->cfg.data,
			      &ag->pool) != CL_OK) {
		fprintf(stderr, "error: cannot start: %s\n", cl_error_detail());
		goto out;
	}
	const cl_agent_tls_keys *tkeys = cl_agent_privsep_tls_keys(ag->privsep);
	if (tkeys) {
		/* without it (a CA file OpenSSL cannot read) the host serves no
		 * TLS: its ops are answered so, everything else runs */
		if (cl_agent_tls_new(ag->ident.host_id, ag->cfg.ca, tkeys, &ag->tls) != CL_OK)
			cl_warn("guest TLS off on this host err=\"%s\"", cl_error_detail());
		else
			cl_agent_pool_set_tls(ag->pool, cl_agent_tls_op_fn, ag->tls);
		const cl_agent_tls_plane *plane = cl_agent_privsep_tls_plane(ag->privsep);
		if (ag->tls && plane && cl_agent_tls_set_plane(ag->tls, plane, ag->cfg.tls_listen) != CL_OK)
			cl_warn("guest TLS: no data plane err=\"%s\"", cl_error_detail());
	}
	if (ag->att) {
		cl_agent_pool_set_attest(ag->pool, cl_agent_att_op, ag->att);
		cl_agent_guest_nsm_ready(ag);
		(void)cl_agent_att_step(ag->att, ag->http, ag->ident.host_id, NULL); /* failures: retried */
	}
	uint32_t delay = BACKOFF_MIN_MS;
	unsigned quick = 0;
	for (;;) {
		uint64_t t0 = cl_now_mono_ns();
		int r = sync_once(ag);
		if (r < 0)
			break;
		if (r == 0 || r == 2) {
			delay = BACKOFF_MIN_MS;
			/* A control plane that keeps answering a long-poll at once with
			 * nothing new would make this loop spin: after a few such rounds
			 * in a row, pace it. Rounds that moved something never count
			 * (a busy host must not be slowed down). */
			quick = cl_agent_quick_rounds(quick, r == 2, cl_now_mono_ns() - t0);
			if (quick >= CL_AGENT_QUICK_ROUNDS)
				sleep_ms(50);
			continue;
		}
		backoff(&delay);
	}
out:
	cl_agent_pool_free(ag->pool); /* the engine first: it uses att and tls */
	cl_agent_att_free(ag->att);
	cl_agent_tls_free(ag->tls);
	cl_agent_measure_free(ag->measure);
	cl_agent_pcrs_pending_free(&ag->pcrs_pending);
	cl_agent_net_free(ag->net);
	cl_http_client_free(ag->http);
	json_decref(ag->caps);
	json_decref(ag->fw_results);
	cl_agent_guest_stop(ag);
	fwg_host_close(ag->fw);
	cl_agent_fwops_free(ag->fwops);
	free(ag->fail);
	launched_clear(ag);
	return rc;
}
