/* Unit tests for src/control/console.c: every file in console/ is embedded
 * byte for byte under its own name with its type, and no other name — no
 * traversal, no other spelling — finds anything. Run from the repository
 * root (tests/run.sh does). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "control/console.h"

/* Reads a whole small file; caller frees. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t *buf = malloc(1 << 20);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 20, f);
	assert_true(*len < (1 << 20));
	fclose(f);
	return buf;
}

static void every_file_embedded(void **state)
{
	DIR *d = opendir("console");
	assert_non_null(d);
	int n = 0;
	for (struct dirent *e = readdir(d); e; e = readdir(d)) {
		if (e->d_name[0] == '.')
			continue;
		char path[512];
		snprintf(path, sizeof(path), "console/%s", e->d_name);
		size_t len = 0;
		uint8_t *want = slurp(path, &len);
		const uint8_t *data = NULL;
		size_t got = 0;
		const char *type = NULL;
		assert_true(ctl_console_find(e->d_name, &data, &got, &type));
		assert_int_equal(got, len);
		assert_memory_equal(data, want, len);
		assert_non_null(type);
		free(want);
		n++;
	}
	closedir(d);
	assert_true(n >= 3); /* index.html, console.css, console.js */
}

static void types(void **state)
{
	const uint8_t *data = NULL;
	size_t len = 0;
	const char *type = NULL;
	assert_true(ctl_console_find("", &data, &len, &type)); /* /console/ is index.html */
	assert_string_equal(type, "text/html; charset=utf-8");
	assert_true(len > 100 && memcmp(data, "<!DOCTYPE html>", 15) == 0);
	assert_true(ctl_console_find("console.js", &data, &len, &type));
	assert_string_equal(type, "text/javascript; charset=utf-8");
	assert_true(ctl_console_find("console.css", &data, &len, &type));
	assert_string_equal(type, "text/css; charset=utf-8");
}

static void other_names_not_found(void **state)
{
	static const char *const bad[] = {
		"..", ".", "../console/index.html", "console/index.html", "index.html/", "/index.html",
		"Index.html", "INDEX.HTML", "index.htm", "index.html ", " index.html", "%2e%2e", "..%2f",
		"console.js.map", "console", "ca.pem", "../ca.pem", "..\\index.html", "index.html\\",
		"console.jsx", "x.html",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const uint8_t *data = (const uint8_t *)"untouched";
		size_t len = 7;
		const char *type = "untouched";
		assert_false(ctl_console_find(bad[i], &data, &len, &type));
		assert_int_equal(len, 7);
	}
}

static void csp_is_strict(void **state)
{
	assert_null(strstr(CTL_CONSOLE_CSP, "unsafe"));
	assert_null(strstr(CTL_CONSOLE_CSP, "*"));
	assert_null(strstr(CTL_CONSOLE_CSP, "data:"));
	assert_non_null(strstr(CTL_CONSOLE_CSP, "default-src 'self'"));
	assert_non_null(strstr(CTL_CONSOLE_CSP, "frame-ancestors 'none'"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_file_embedded),
		cmocka_unit_test(types),
		cmocka_unit_test(other_names_not_found),
		cmocka_unit_test(csp_is_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
