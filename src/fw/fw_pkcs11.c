/* fw_pkcs11.c — signing keys on a PKCS#11 token (`pkcs11:` URIs, RFC 7512)
 * through OpenSSL's pkcs11 engine (Debian: libengine-pkcs11-openssl, with
 * SoftHSM2 in tests). The private key never leaves the token: OpenSSL hands
 * the signing operation to the engine. The ENGINE API is deprecated in
 * OpenSSL 3 but is what that package provides. Host tools only. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "fw/fw_internal.h"

/* The engine stays loaded for the life of the process (keys refer to it). */
static ENGINE *engine;

static cl_err load_engine(void)
{
	if (engine)
		return CL_OK;
	ENGINE_load_builtin_engines();
	ENGINE *e = ENGINE_by_id("pkcs11");
	if (!e)
		return cl_errorf(CL_EUNAVAIL, "OpenSSL pkcs11 engine not available (install libengine-pkcs11-openssl)");
	/* CLOISTER_PKCS11_MODULE picks the token library; default: p11-kit's proxy. */
	const char *module = getenv("CLOISTER_PKCS11_MODULE");
	if (module && *module && ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) != 1) {
		ENGINE_free(e);
		return cl_errorf(CL_EUNAVAIL, "pkcs11 engine refused module %s", module);
	}
	if (ENGINE_init(e) != 1) {
		ENGINE_free(e);
		ERR_clear_error();
		return cl_errorf(CL_EUNAVAIL, "cannot initialise the pkcs11 engine");
	}
	engine = e;
	return CL_OK;
}

cl_err fw_pkcs11_load_private(const char *uri, void **key)
{
	CL_GUARD(load_engine());
	EVP_PKEY *k = ENGINE_load_private_key(engine, uri, NULL, NULL);
	ERR_clear_error();
	if (!k)
		return cl_errorf(CL_ENOTFOUND, "no private key at that pkcs11: URI (check token, object, pin)");
	uint8_t pt[FW_POINT_LEN];
	if (fw_key_point(k, pt) != CL_OK) {
		EVP_PKEY_free(k);
		return cl_errorf(CL_EINVAL, "the pkcs11 key is not a P-384 (secp384r1) EC key");
	}
	*key = k;
	return CL_OK;
}
