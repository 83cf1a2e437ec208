/* store_cert.c — attestation certificates and PCRs in the store
 * (store_cert.h). */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/store_cert.h"
#include "control/store_priv.h"

#define CERT_COLS "serial,host_id,key_sha256,issued_at,not_after,revoked_at,reason"

static cl_err read_cert(sqlite3_stmt *q, void *o)
{
	ctl_cert_row *c = o;
	ctl_store_col_str(q, 0, c->serial, sizeof(c->serial));
	ctl_store_col_str(q, 1, c->host_id, sizeof(c->host_id));
	ctl_store_col_str(q, 2, c->key_sha256, sizeof(c->key_sha256));
	c->issued_at = sqlite3_column_int64(q, 3);
	c->not_after = sqlite3_column_int64(q, 4);
	c->revoked_at = sqlite3_column_int64(q, 5);
	ctl_store_col_str(q, 6, c->reason, sizeof(c->reason));
	return CL_OK;
}

cl_err ctl_store_cert_insert(ctl_store *st, const ctl_cert_row *c)
{
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q, "INSERT INTO host_certs(" CERT_COLS ") VALUES(?,?,?,?,?,?,?)", CTL_TEXT(c->serial),
			  CTL_TEXT(c->host_id), CTL_TEXT(c->key_sha256), CTL_INT(c->issued_at), CTL_INT(c->not_after),
			  CTL_INT(c->revoked_at), CTL_TEXT(c->reason)));
	return ctl_store_run(st, q, "host certificate", NULL);
}

cl_err ctl_store_cert_get(ctl_store *st, const char *serial, ctl_cert_row *out)
{
	sqlite3_stmt *q = NULL;
	memset(out, 0, sizeof(*out));
	CL_GUARD(CTL_PREP(st, &q, "SELECT " CERT_COLS " FROM host_certs WHERE serial=?", CTL_TEXT(serial)));
	return ctl_store_one(st, q, read_cert, out, "unknown certificate serial", "host certificate");
}

cl_err ctl_store_cert_revoke_host(ctl_store *st, const char *host_id, const char *reason, int64_t now_s,
				  const char *keep_key, int *n)
{
	sqlite3_stmt *q = NULL;
	CL_GUARD(CTL_PREP(st, &q,
			  "UPDATE host_certs SET revoked_at=?, reason=? WHERE host_id=? AND revoked_at=0"
			  " AND key_sha256 != ?",
			  CTL_INT(now_s), CTL_TEXT(reason), CTL_TEXT(host_id), CTL_TEXT(keep_key ? keep_key : "")));
	return ctl_store_run(st, q, "host certificates", n);
}

cl_err ctl_store_cert_newest(ctl_store *st, const char *host_id, int64_t now_s, char serial[CTL_SERIAL_HEX_MAX + 1])
{
	sqlite3_stmt *q = NULL;
	ctl_cert_row c;
	serial[0] = '\0';
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT " CERT_COLS " FROM host_certs WHERE host_id=? AND revoked_at=0 AND not_after>?"
			  " ORDER BY issued_at DESC, serial LIMIT 1",
			  CTL_TEXT(host_id), CTL_INT(now_s)));
	CL_GUARD(ctl_store_one(st, q, read_cert, &c, "the host has no valid attestation certificate",
			       "host certificate"));
	snprintf(serial, CTL_SERIAL_HEX_MAX + 1, "%s", c.serial);
	return CL_OK;
}

cl_err ctl_store_enclave_pcrs_set(ctl_store *st, const char *enclave_id, const char *pcrs_json)
{
	sqlite3_stmt *q = NULL;
	int n = 0;
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT INTO enclave_pcrs(enclave_id,pcrs) SELECT id,? FROM enclaves WHERE id=?"
			  " ON CONFLICT(enclave_id) DO UPDATE SET pcrs=excluded.pcrs",
			  CTL_TEXT(pcrs_json), CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_run(st, q, "enclave pcrs", &n));
	CL_ENSURE(n == 1, CL_ENOTFOUND, "enclave not found");
	return CL_OK;
}

static cl_err read_text(sqlite3_stmt *q, void *o)
{
	char **out = o;
	*out = ctl_store_col_dup(q, 0);
	return *out ? CL_OK : CL_ENOMEM;
}

cl_err ctl_store_enclave_pcrs_get(ctl_store *st, const char *enclave_id, char **out)
{
	sqlite3_stmt *q = NULL;
	*out = NULL;
	CL_GUARD(CTL_PREP(st, &q, "SELECT COALESCE((SELECT pcrs FROM enclave_pcrs WHERE enclave_id=e.id),'')"
			  " FROM enclaves e WHERE e.id=?", CTL_TEXT(enclave_id)));
	return ctl_store_one(st, q, read_text, out, "enclave not found", "enclave pcrs");
}

cl_err ctl_store_enclave_measure_set(ctl_store *st, const char *enclave_id, const char *pcr5_hex, int64_t at_ms)
{
	sqlite3_stmt *q = NULL;
	int n = 0;
	CL_ENSURE(strlen(pcr5_hex) == 96, CL_EINVAL, "PCR5 is not 96 hex digits");
	CL_GUARD(CTL_PREP(st, &q,
			  "INSERT INTO enclave_measure(enclave_id,pcr5,measured_at) SELECT id,?,? FROM enclaves WHERE id=?"
			  " ON CONFLICT(enclave_id) DO UPDATE SET pcr5=excluded.pcr5, measured_at=excluded.measured_at",
			  CTL_TEXT(pcr5_hex), CTL_INT(at_ms), CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_run(st, q, "enclave measure", &n));
	CL_ENSURE(n == 1, CL_ENOTFOUND, "enclave not found");
	return CL_OK;
}

typedef struct measure_row {
	char *pcr5;
	int64_t at_ms;
} measure_row;

static cl_err read_measure(sqlite3_stmt *q, void *o)
{
	measure_row *m = o;
	m->at_ms = sqlite3_column_int64(q, 1);
	m->pcr5 = ctl_store_col_dup(q, 0);
	return m->pcr5 ? CL_OK : CL_ENOMEM;
}

cl_err ctl_store_enclave_measure_get(ctl_store *st, const char *enclave_id, char pcr5_hex[97], int64_t *at_ms)
{
	sqlite3_stmt *q = NULL;
	measure_row m = {0};
	pcr5_hex[0] = '\0';
	*at_ms = 0;
	CL_GUARD(CTL_PREP(st, &q,
			  "SELECT COALESCE(m.pcr5,''), COALESCE(m.measured_at,0) FROM enclaves e"
			  " LEFT JOIN enclave_measure m ON m.enclave_id=e.id WHERE e.id=?",
			  CTL_TEXT(enclave_id)));
	CL_GUARD(ctl_store_one(st, q, read_measure, &m, "enclave not found", "enclave measure"));
	if (strlen(m.pcr5) == 96) {
		memcpy(pcr5_hex, m.pcr5, 97);
		*at_ms = m.at_ms;
	}
	free(m.pcr5);
	return CL_OK;
}
