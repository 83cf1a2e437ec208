/* fwdev_recover.c — closing intents a dead process left open.
 *
 * Every accepted change appends an intent record before it touches
 * anything, and its outcome record after the commit (fwdev_update.c,
 * fwdev_host.c). A kill in between leaves the intent as the last record for
 * its device. Under the host lock nobody else is mid-change, so any open
 * intent belongs to a dead process: the committed state tells whether the
 * change took effect, and the outcome is appended now. The intent's detail
 * names the commit to look for (fwdev_internal.h, fwg_intent). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fwguard/fwdev_internal.h"

/* Parses "<word> N" exactly (N decimal, no sign, no trailing bytes). */
static bool parse_commit(const char *detail, const char *word, uint64_t *n)
{
	size_t w = strlen(word);
	if (strncmp(detail, word, w) != 0 || detail[w] != ' ' || detail[w + 1] < '0' || detail[w + 1] > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(detail + w + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*n = v;
	return true;
}

/* Did the change announced by intent r commit? *known = false when the
 * intent cannot be interpreted (only a hand-made log holds such). */
static bool took_effect(fwg_host *h, const fwg_audit_rec *r, bool *known)
{
	char path[PATH_MAX + 64];
	struct stat st;
	uint64_t n;
	*known = true;
	if (parse_commit(r->detail, "gen", &n)) {
		fwg_dev *d = fwg_find(h, r->addr);
		if (d)
			return d->st.generation >= n; /* states were re-read under the lock */
	} else if (parse_commit(r->detail, "queue", &n)) {
		if (fwg_find(h, r->addr) &&
		    snprintf(path, sizeof(path), "%s/pending/%s/%020llu.fw", h->dir, r->addr, (unsigned long long)n) <
			    (int)sizeof(path))
			return stat(path, &st) == 0;
	} else if (strcmp(r->detail, "clear") == 0 && r->addr[0] == '\0') {
		/* A queued bundle may already have been applied and removed at a
		 * later power-on, but that power-on would have resolved this
		 * intent first: the file's presence is the commit's. */
		return !fwg_quarantined(h);
	}
	*known = false;
	return false;
}

static cl_err resolve(fwg_host *h, const fwg_audit_rec *intent)
{
	char detail[FWA_DETAIL_MAX + 1];
	bool known;
	bool done = took_effect(h, intent, &known);
	fwg_event e = {.op = (fwg_op)intent->op, .src = (fwg_source)intent->source, .addr = intent->addr,
		       .id_from = intent, .detail = detail};
	if (done) {
		e.result = FWG_RES_ACCEPTED;
		e.reason = FWG_R_RECOVERED;
		snprintf(detail, sizeof(detail), "committed before a crash (intent seq %llu, %.40s)",
			 (unsigned long long)intent->seq, intent->detail);
	} else {
		e.result = FWG_RES_REFUSED;
		e.reason = FWG_R_INTERRUPTED;
		snprintf(detail, sizeof(detail), "%s (intent seq %llu)",
			 known ? "interrupted before its commit; nothing changed"
			       : "interrupted; intent not understood, outcome unknown",
			 (unsigned long long)intent->seq);
	}
	return fwg_audit(h, &e, NULL);
}

cl_err fwg_recover_intents(fwg_host *h)
{
	CL_GUARD(fwa_sync(&h->audit));
	/* Each append closes the intent it answers (fwa_log tracks them). */
	while (h->audit.nopen > 0) {
		fwg_audit_rec intent = h->audit.open[0];
		size_t before = h->audit.nopen;
		CL_GUARD(resolve(h, &intent));
		CL_ENSURE(h->audit.nopen < before, CL_EINTERNAL, "audit: intent seq %llu still open",
			  (unsigned long long)intent.seq);
	}
	return CL_OK;
}
