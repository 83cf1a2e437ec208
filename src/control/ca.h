/* ca.h — the control plane's local certificate authority.
 *
 * On first start ctl_ca_ensure creates DIR/ca.key (EC P-384, 0600), the
 * self-signed DIR/ca.pem (10 years), and a server certificate DIR/server.pem
 * with key DIR/server.key (0600) for 127.0.0.1, ::1 and localhost signed by
 * the CA. Later starts reuse them (a missing server certificate is re-issued).
 * Every file is written atomically. Keys never reach logs.
 */
#ifndef CL_CONTROL_CA_H
#define CL_CONTROL_CA_H

#include "common/err.h"

CL_MUST_CHECK cl_err ctl_ca_ensure(const char *data_dir);

#endif
