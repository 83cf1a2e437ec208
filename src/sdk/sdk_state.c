/* sdk_state.c — where an application keeps what it wants back after a
 * suspend and restore (docs/suspend.md): a directory under /tmp, the
 * enclave's tmpfs, which a suspend tars and seals whole and a restore puts
 * back, on this host or another. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "sdk/sdk_internal.h"

const char *cle_state_path(void)
{
	struct stat st;
	if (mkdir(CLE_STATE_PATH, 0700) != 0 && errno != EEXIST) {
		cle_fail(CLE_EIO, "%s: mkdir: %s", CLE_STATE_PATH, strerror(errno));
		return NULL;
	}
	/* lstat: a symbolic link (or anything but a directory) in its place is
	 * not state a suspend would keep (it refuses links) */
	if (lstat(CLE_STATE_PATH, &st) != 0) {
		cle_fail(CLE_EIO, "%s: %s", CLE_STATE_PATH, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		cle_fail(CLE_EIO, "%s: not a directory", CLE_STATE_PATH);
		return NULL;
	}
	cle_ok();
	return CLE_STATE_PATH;
}
