/* cli_output.c — what the CLI prints: error lines (one JSON object under
 * --json), JSON, key/value views and aligned tables. Secrets are never
 * printed here: they show as "(hidden)". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The control plane's last error answer (cl_cli_note_http_error). */
static struct {
	long status;
	char code[64];
	char detail[512];
} last_http;

void cl_cli_note_http_error(long status, const char *code, const char *detail)
{
	last_http.status = status;
	snprintf(last_http.code, sizeof(last_http.code), "%s", code && *code ? code : "");
	snprintf(last_http.detail, sizeof(last_http.detail), "%s", detail ? detail : "");
}

/* Writes {"error":{"code":..,"message":..[,"status":N]}} as one line on
 * stderr (status 0: none). */
static void print_json_error(const char *code, const char *message, long status)
{
	json_t *inner = json_pack("{s:s,s:s}", "code", code, "message", message);
	json_t *doc = inner ? json_pack("{s:o}", "error", inner) : NULL;
	char *s = NULL;
	if (doc && (status <= 0 || json_object_set_new(inner, "status", json_integer(status)) == 0))
		s = json_dumps(doc, JSON_COMPACT);
	if (s)
		fprintf(stderr, "%s\n", s);
	else /* out of memory: still one parseable object */
		fputs("{\"error\":{\"code\":\"no_memory\",\"message\":\"out of memory\"}}\n", stderr);
	free(s);
	json_decref(doc);
}

int cl_cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (cl_cli_global()->json) {
		char msg[1024];
		vsnprintf(msg, sizeof(msg), fmt, ap);
		print_json_error(cl_err_name(CL_EINVAL), msg, 0);
	} else {
		fputs("error: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
	return CL_CLI_EXIT_USAGE;
}

cl_err cl_cli_error_context(cl_err e, const char *fmt, ...)
{
	char prev[512], prefix[512];
	snprintf(prev, sizeof(prev), "%s", cl_error_detail());
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (prev[0])
		return cl_errorf(e, "%s: %s", prefix, prev);
	return cl_errorf(e, "%s: %s", prefix, cl_err_str(e));
}

void cl_cli_json_wipe(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (json_is_string(v))
		explicit_bzero((char *)json_string_value(v), json_string_length(v));
}

/* JSON form of cl_cli_fail. The failure is the server's answer when the
 * detail still ends the way server_error wrote it: " (HTTP N)" with the
 * recorded status (a context prefix may have been added since). */
static void fail_json(cl_err e, const char *detail)
{
	char suffix[32], msg[512];
	snprintf(suffix, sizeof(suffix), " (HTTP %ld)", last_http.status);
	size_t dn = strlen(detail), sn = strlen(suffix);
	if (last_http.status > 0 && dn > sn && strcmp(detail + dn - sn, suffix) == 0) {
		snprintf(msg, sizeof(msg), "%.*s", (int)(dn - sn), detail);
		print_json_error(last_http.code[0] ? last_http.code : cl_err_name(e), msg, last_http.status);
		return;
	}
	print_json_error(cl_err_name(e), detail, 0);
}

int cl_cli_fail(cl_err e)
{
	if (e == CL_OK)
		return 0;
	const char *d = cl_error_detail();
	if (!d || !*d)
		d = cl_err_str(e);
	if (cl_cli_global()->json)
		fail_json(e, d);
	else
		fprintf(stderr, "error: %s\n", d);
	return CL_CLI_EXIT_FAIL;
}

int cl_cli_fail_usage(cl_err e)
{
	int rc = cl_cli_fail(e);
	return e == CL_EINVAL ? CL_CLI_EXIT_USAGE : rc;
}

void cl_cli_print_json(const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	if (s) {
		puts(s);
		free(s);
	}
}

const char *cl_cli_json_text(const json_t *v, char *buf, size_t n)
{
	if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0))
		snprintf(buf, n, "-");
	else if (json_is_string(v))
		snprintf(buf, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, n, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false");
	else {
		char *s = json_dumps(v, JSON_COMPACT);
		snprintf(buf, n, "%s", s ? s : "?");
		free(s);
	}
	return buf;
}

static bool secret_key(const char *k)
{
	size_t n = strlen(k);
	return strcmp(k, "access_key") == 0 || strcmp(k, "token") == 0 ||
	       (n > 4 && strcmp(k + n - 4, "_key") == 0);
}

void cl_cli_print_object(const json_t *obj)
{
	const char *k;
	json_t *v;
	size_t w = 0;
	json_object_foreach((json_t *)obj, k, v) if (strlen(k) > w) w = strlen(k);
	char buf[1024];
	json_object_foreach((json_t *)obj, k, v)
	{
		printf("%s:%*s %s\n", k, (int)(w - strlen(k)), "",
		       secret_key(k) ? "(hidden)" : cl_cli_json_text(v, buf, sizeof(buf)));
	}
}

struct cl_cli_table {
	size_t ncols, nrows, cap;
	char **cells; /* nrows * ncols, row 0 is the header */
};

cl_err cl_cli_table_new(size_t ncols, const char *const *header, cl_cli_table **out)
{
	if (ncols == 0 || ncols > CL_CLI_TABLE_COLS)
		return cl_errorf(CL_EINTERNAL, "bad table width");
	cl_cli_table *t = calloc(1, sizeof(*t));
	if (!t)
		return CL_ENOMEM;
	t->ncols = ncols;
	cl_err err = cl_cli_table_add(t, header);
	if (err != CL_OK) {
		cl_cli_table_free(t);
		return err;
	}
	*out = t;
	return CL_OK;
}

cl_err cl_cli_table_add(cl_cli_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **n = realloc(t->cells, ncap * t->ncols * sizeof(char *));
		if (!n)
			return CL_ENOMEM;
		t->cells = n;
		t->cap = ncap;
	}
	char **row = t->cells + t->nrows * t->ncols;
	for (size_t i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] ? cells[i] : "-");
		if (!row[i]) {
			for (size_t j = 0; j < i; j++)
				free(row[j]);
			return CL_ENOMEM;
		}
	}
	t->nrows++;
	return CL_OK;
}

void cl_cli_table_print(const cl_cli_table *t)
{
	size_t w[CL_CLI_TABLE_COLS] = {0};
	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				printf("%s\n", s);
			else
				printf("%-*s  ", (int)w[c], s);
		}
	}
}

void cl_cli_table_free(cl_cli_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}
