/* store_fixture.h — the control store tests' fixture (test_control_store,
 * _upload, _fw_rel, _jobwait): a fresh store in its own temporary
 * directory for each test, removed afterwards. Included by one test file
 * each (static functions): cmocka_unit_test_setup_teardown(T, setup,
 * teardown), then `fixture *f = *state;`.
 */
#ifndef CL_TEST_STORE_FIXTURE_H
#define CL_TEST_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "control/store.h"

typedef struct fixture {
	char dir[64];   /* the temporary directory */
	char path[128]; /* dir/control.db */
	ctl_store *st;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/cl-store-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/control.db", f->dir);
	if (ctl_store_open(f->path, &f->st) != CL_OK) {
		if (cl_rm_rf(f->dir) != CL_OK)
			fprintf(stderr, "cannot remove %s\n", f->dir);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	ctl_store_close(f->st);
	int rc = cl_rm_rf(f->dir) == CL_OK ? 0 : -1;
	free(f);
	return rc;
}

#endif
