/* The error documentation and the code do not drift apart (issue 7):
 *
 *   - docs/errors.md has exactly one row per code of src/common/err.h's enum,
 *     from 0 to the last, in order, with the number, the name (cl_err_name)
 *     and the HTTP status (ctl_err_status, src/control/http.c) the code uses;
 *     no row names a code the code does not have;
 *   - docs/api/README.md's error table lists, for every status the API can
 *     answer with an error, exactly the codes that map to it;
 *   - every "| status | `code` |" row of an API page (each docs/api page)
 *     pairs a known code with the status that code really has.
 *
 * The test reads the files relative to the repository root (tests/run.sh
 * runs it from there) or, failing that, relative to the binary (BUILD/tests/).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/util.h"
#include "control/control.h"

#define MAX_CODES 64
#define DOC_MAX (1u << 20)

/* Reads repo-relative `rel` into a NUL-terminated heap string (caller frees). */
static char *read_repo_file(const char *rel)
{
	cl_buf b;
	const char *text;
	char path[PATH_MAX + 64], exe[PATH_MAX];
	cl_buf_init(&b, DOC_MAX);
	if (cl_file_read(rel, DOC_MAX, &b) != CL_OK) {
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			fail_msg("cannot read %s (run from the repository root)", rel);
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0'; /* BUILD/tests */
		snprintf(path, sizeof(path), "%s/../../%s", exe, rel);
		if (cl_file_read(path, DOC_MAX, &b) != CL_OK)
			fail_msg("cannot read %s nor %s", rel, path);
	}
	assert_int_equal(cl_buf_cstr(&b, &text), CL_OK);
	char *copy = strdup(text);
	assert_non_null(copy);
	cl_buf_free(&b);
	return copy;
}

/* Directory of the repository root that holds `rel` (a directory). */
static void repo_dir(const char *rel, char *out, size_t n)
{
	char exe[PATH_MAX];
	DIR *d = opendir(rel);
	if (d) {
		closedir(d);
		snprintf(out, n, "%s", rel);
		return;
	}
	ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(len > 0);
	exe[len] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(out, n, "%s/../../%s", exe, rel);
}

/* Parses a non-negative decimal number that is the whole of s (after
 * trimming blanks). Returns -1 if s is not one. */
static long whole_number(const char *s, size_t len)
{
	char tmp[32];
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	char *end = NULL;
	errno = 0;
	long v = strtol(tmp, &end, 10);
	if (errno || *end || v < 0 || tmp[0] < '0' || tmp[0] > '9')
		return -1;
	return v;
}

/* Splits a Markdown table line "| a | b | c |" into at most max cells
 * (pointers into line, lengths in len[]). Returns the count, 0 if the line
 * is not a table row. */
static size_t table_cells(const char *line, size_t linelen, const char **cell, size_t *len, size_t max)
{
	if (linelen < 2 || line[0] != '|')
		return 0;
	size_t n = 0;
	const char *p = line + 1, *end = line + linelen;
	while (p < end && n < max) {
		const char *bar = memchr(p, '|', (size_t)(end - p));
		if (!bar)
			break;
		cell[n] = p;
		len[n] = (size_t)(bar - p);
		n++;
		p = bar + 1;
	}
	return n;
}

/* The codes declared in src/common/err.h: "CL_X = N," lines of the enum.
 * Sets *last to the highest; asserts the numbers are 0..last, each once. */
static void enum_codes(int *last)
{
	char *h = read_repo_file("src/common/err.h");
	int seen[MAX_CODES] = {0};
	int hi = -1, count = 0;
	const char *p = strstr(h, "typedef enum cl_err {");
	assert_non_null(p);
	const char *stop = strstr(p, "} cl_err;");
	assert_non_null(stop);
	while ((p = strstr(p, "CL_")) && p < stop) {
		const char *eq = strstr(p, " = ");
		const char *nl = strchr(p, '\n');
		if (!eq || !nl || eq > nl) {
			p += 3;
			continue;
		}
		const char *comma = strchr(eq, ',');
		assert_non_null(comma);
		long v = whole_number(eq + 3, (size_t)(comma - eq - 3));
		if (v < 0 || v >= MAX_CODES)
			fail_msg("err.h: cannot read the number of %.*s", (int)(eq - p), p);
		if (seen[v])
			fail_msg("err.h: number %ld used twice", v);
		seen[v] = 1;
		count++;
		if (v > hi)
			hi = (int)v;
		p = nl;
	}
	free(h);
	assert_true(hi >= 14); /* codes 0..14 have existed since the start */
	if (count != hi + 1)
		fail_msg("err.h: %d codes but the last is %d: a number is skipped", count, hi);
	*last = hi;
}

/* The status a code is documented with: CL_OK is never an error reply; the
 * row says 200 (success). Every other code's status is ctl_err_status. */
static int status_of(int code)
{
	return code == CL_OK ? 200 : ctl_err_status((cl_err)code);
}

static void errors_md_matches_code(void **state)
{
	int last = -1;
	enum_codes(&last);
	/* err.c names every code of the enum, and nothing beyond it */
	for (int i = 0; i <= last; i++) {
		if (strcmp(cl_err_name((cl_err)i), "unknown") == 0)
			fail_msg("code %d has no name in err.c", i);
		if (strcmp(cl_err_str((cl_err)i), "unknown error") == 0)
			fail_msg("code %d has no description in err.c", i);
	}
	assert_string_equal(cl_err_name((cl_err)(last + 1)), "unknown");

	char *doc = read_repo_file("docs/errors.md");
	int rows[MAX_CODES] = {0};
	int prev = -1, nrows = 0;
	for (const char *line = doc; *line;) {
		const char *nl = strchr(line, '\n');
		size_t linelen = nl ? (size_t)(nl - line) : strlen(line);
		const char *cell[8];
		size_t len[8];
		size_t nc = table_cells(line, linelen, cell, len, 8);
		long num = nc >= 4 ? whole_number(cell[0], len[0]) : -1;
		if (num >= 0) { /* a code row: | number | `name` | status | meaning | */
			nrows++;
			if (num > last || num >= MAX_CODES)
				fail_msg("docs/errors.md documents code %ld, which the code does not have (last is %d)",
					 num, last);
			if (rows[num]++)
				fail_msg("docs/errors.md documents code %ld twice", num);
			if (num <= prev)
				fail_msg("docs/errors.md: code %ld is out of order (after %d)", num, prev);
			prev = (int)num;
			char want[64];
			snprintf(want, sizeof(want), " `%s` ", cl_err_name((cl_err)num));
			if (len[1] != strlen(want) || memcmp(cell[1], want, len[1]) != 0)
				fail_msg("docs/errors.md code %ld is named '%.*s'; the code calls it %s", num, (int)len[1],
					 cell[1], want);
			long st = whole_number(cell[2], len[2]);
			if (st != status_of((int)num))
				fail_msg("docs/errors.md code %ld (%s) has status '%.*s'; ctl_err_status gives %d", num,
					 cl_err_name((cl_err)num), (int)len[2], cell[2], status_of((int)num));
			if (whole_number(cell[3], len[3]) >= 0 || len[3] < 4)
				fail_msg("docs/errors.md code %ld has no meaning", num);
		}
		line = nl ? nl + 1 : line + linelen;
	}
	for (int i = 0; i <= last; i++)
		if (!rows[i])
			fail_msg("code %d (%s) is missing from docs/errors.md", i, cl_err_name((cl_err)i));
	assert_int_equal(nrows, last + 1);
	free(doc);
}

/* Stores in names[] every backquoted word of the cell that looks like an
 * error code name ([a-z_]+: so `Allow` or `Retry-After` in a note are not
 * taken for codes); returns how many. */
static int cell_codes(const char *cell, size_t len, char names[][32], int max)
{
	int n = 0;
	const char *p = cell, *end = cell + len;
	while (p < end && n < max) {
		const char *a = memchr(p, '`', (size_t)(end - p));
		if (!a)
			break;
		const char *b = memchr(a + 1, '`', (size_t)(end - a - 1));
		if (!b)
			break;
		size_t wl = (size_t)(b - a - 1);
		bool code = wl > 0 && wl < 32;
		for (size_t i = 0; code && i < wl; i++)
			code = (a[1 + i] >= 'a' && a[1 + i] <= 'z') || a[1 + i] == '_';
		if (code)
			snprintf(names[n++], 32, "%.*s", (int)wl, a + 1);
		p = b + 1;
	}
	return n;
}

/* The code whose name is s, or -1. */
static int code_named(const char *s, int last)
{
	for (int i = 0; i <= last; i++)
		if (strcmp(cl_err_name((cl_err)i), s) == 0)
			return i;
	return -1;
}

static void api_index_lists_every_status(void **state)
{
	int last = -1;
	enum_codes(&last);
	char *doc = read_repo_file("docs/api/README.md");
	const char *sec = strstr(doc, "\n## Errors\n");
	assert_non_null(sec);
	const char *sec_end = strstr(sec + 1, "\n## ");
	int listed[MAX_CODES] = {0};
	int statuses_seen = 0;
	for (const char *line = sec + 1; *line && (!sec_end || line < sec_end);) {
		const char *nl = strchr(line, '\n');
		size_t linelen = nl ? (size_t)(nl - line) : strlen(line);
		const char *cell[4];
		size_t len[4];
		long st = -1;
		if (table_cells(line, linelen, cell, len, 4) >= 2 && (st = whole_number(cell[0], len[0])) >= 0) {
			char names[MAX_CODES][32];
			int n = cell_codes(cell[1], len[1], names, MAX_CODES);
			if (n == 0)
				fail_msg("docs/api/README.md: status %ld lists no code", st);
			statuses_seen++;
			for (int k = 0; k < n; k++) {
				int c = code_named(names[k], last);
				if (c <= 0)
					fail_msg("docs/api/README.md: status %ld lists `%s`, not an error code", st, names[k]);
				if (ctl_err_status((cl_err)c) != st)
					fail_msg("docs/api/README.md: `%s` listed under %ld; the API answers it with %d",
						 names[k], st, ctl_err_status((cl_err)c));
				if (listed[c]++)
					fail_msg("docs/api/README.md lists `%s` twice", names[k]);
			}
		}
		line = nl ? nl + 1 : line + linelen;
	}
	for (int i = 1; i <= last; i++)
		if (!listed[i])
			fail_msg("docs/api/README.md's error table does not list `%s` (status %d)", cl_err_name((cl_err)i),
				 ctl_err_status((cl_err)i));
	assert_true(statuses_seen > 0);
	free(doc);
}

/* Every error row of every API page, "| status | `code` | when |", pairs
 * a real code with its real status. */
static void api_pages_pair_codes_with_their_status(void **state)
{
	int last = -1;
	enum_codes(&last);
	char dir[PATH_MAX + 64];
	repo_dir("docs/api", dir, sizeof(dir));
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	int pages = 0, rows = 0;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 4 || strcmp(de->d_name + nl - 3, ".md") != 0 || strcmp(de->d_name, "README.md") == 0)
			continue;
		char rel[PATH_MAX + 300];
		snprintf(rel, sizeof(rel), "docs/api/%s", de->d_name);
		char *doc = read_repo_file(rel);
		pages++;
		for (const char *line = doc; *line;) {
			const char *eol = strchr(line, '\n');
			size_t linelen = eol ? (size_t)(eol - line) : strlen(line);
			const char *cell[4];
			size_t len[4];
			long st = -1;
			char names[8][32];
			if (table_cells(line, linelen, cell, len, 4) >= 3 && (st = whole_number(cell[0], len[0])) >= 400 &&
			    st <= 599 && cell_codes(cell[1], len[1], names, 8) == 1 &&
			    len[1] == strlen(names[0]) + 4) { /* the cell is exactly " `code` " */
				rows++;
				int c = code_named(names[0], last);
				if (c <= 0)
					fail_msg("%s: status %ld with `%s`, not an error code", rel, st, names[0]);
				if (ctl_err_status((cl_err)c) != st)
					fail_msg("%s: `%s` documented as %ld; the API answers it with %d", rel, names[0], st,
						 ctl_err_status((cl_err)c));
			}
			line = eol ? eol + 1 : line + linelen;
		}
		free(doc);
	}
	closedir(d);
	assert_true(pages > 10);
	assert_true(rows > 50);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(errors_md_matches_code),
		cmocka_unit_test(api_index_lists_every_status),
		cmocka_unit_test(api_pages_pair_codes_with_their_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
