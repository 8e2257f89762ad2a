/*
 * check_header.c - compile-time checks of the layouts in keyward/pkcs11.h that
 * Keyward's wire format relies on (LP64: 8-byte CK_ULONG and pointers).
 *
 *   gcc -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -c include/keyward/check_header.c -o /dev/null
 */
#include <stddef.h>

#include "pkcs11.h"

_Static_assert(sizeof(CK_ULONG) == 8, "CK_ULONG is 64 bits on LP64");
_Static_assert(sizeof(CK_VOID_PTR) == 8, "pointers are 64 bits on LP64");
_Static_assert(CK_UNAVAILABLE_INFORMATION == (CK_ULONG)~0UL, "CK_UNAVAILABLE_INFORMATION is ~0UL");

/* CK_ATTRIBUTE and CK_MECHANISM: a CK_ULONG, a pointer, a CK_ULONG. */
_Static_assert(sizeof(CK_ATTRIBUTE) == 24, "sizeof(CK_ATTRIBUTE)");
_Static_assert(offsetof(CK_ATTRIBUTE, type) == 0, "CK_ATTRIBUTE.type");
_Static_assert(offsetof(CK_ATTRIBUTE, pValue) == 8, "CK_ATTRIBUTE.pValue");
_Static_assert(offsetof(CK_ATTRIBUTE, ulValueLen) == 16, "CK_ATTRIBUTE.ulValueLen");
_Static_assert(sizeof(CK_MECHANISM) == 24, "sizeof(CK_MECHANISM)");
_Static_assert(offsetof(CK_MECHANISM, pParameter) == 8, "CK_MECHANISM.pParameter");
_Static_assert(offsetof(CK_MECHANISM, ulParameterLen) == 16, "CK_MECHANISM.ulParameterLen");

/* Function lists: CK_VERSION (padded to 8), then one pointer per function. */
#define FN_OFFSET(i) (8 + 8 * (i))
_Static_assert(sizeof(CK_VERSION) == 2, "sizeof(CK_VERSION)");
_Static_assert(offsetof(CK_FUNCTION_LIST, C_Initialize) == FN_OFFSET(0), "C_Initialize follows version");
_Static_assert(offsetof(CK_FUNCTION_LIST, C_GetFunctionList) == FN_OFFSET(3), "C_GetFunctionList is 4th");
_Static_assert(offsetof(CK_FUNCTION_LIST, C_Login) == FN_OFFSET(18), "C_Login is 19th");
_Static_assert(offsetof(CK_FUNCTION_LIST, C_EncryptInit) == FN_OFFSET(29), "C_EncryptInit is 30th");
_Static_assert(offsetof(CK_FUNCTION_LIST, C_GenerateKey) == FN_OFFSET(58), "C_GenerateKey is 59th");
_Static_assert(offsetof(CK_FUNCTION_LIST, C_WaitForSlotEvent) == FN_OFFSET(67), "C_WaitForSlotEvent is the 68th function");
_Static_assert(sizeof(CK_FUNCTION_LIST) == FN_OFFSET(68), "v2.40 list has 68 functions");
_Static_assert(offsetof(CK_FUNCTION_LIST_3_0, C_WaitForSlotEvent) == FN_OFFSET(67), "3.0 list starts with the 2.40 list");
_Static_assert(offsetof(CK_FUNCTION_LIST_3_0, C_GetInterfaceList) == FN_OFFSET(68), "C_GetInterfaceList is 69th");
_Static_assert(offsetof(CK_FUNCTION_LIST_3_0, C_MessageEncryptInit) == FN_OFFSET(72), "C_MessageEncryptInit is 73rd");
_Static_assert(offsetof(CK_FUNCTION_LIST_3_0, C_MessageVerifyFinal) == FN_OFFSET(91), "C_MessageVerifyFinal is 92nd");
_Static_assert(sizeof(CK_FUNCTION_LIST_3_0) == FN_OFFSET(92), "v3.0 list has 92 functions");
_Static_assert(offsetof(CK_FUNCTION_LIST_3_2, C_MessageVerifyFinal) == FN_OFFSET(91), "3.2 list starts with the 3.0 list");
_Static_assert(offsetof(CK_FUNCTION_LIST_3_2, C_EncapsulateKey) == FN_OFFSET(92), "C_EncapsulateKey is 93rd");
_Static_assert(offsetof(CK_FUNCTION_LIST_3_2, C_UnwrapKeyAuthenticated) == FN_OFFSET(103), "C_UnwrapKeyAuthenticated is 104th");
_Static_assert(sizeof(CK_FUNCTION_LIST_3_2) == FN_OFFSET(104), "v3.2 list has 104 functions");

/* Other structures the client library copies field by field. */
_Static_assert(sizeof(CK_INFO) == 88, "sizeof(CK_INFO)");
_Static_assert(offsetof(CK_INFO, flags) == 40, "CK_INFO.flags");
_Static_assert(sizeof(CK_SLOT_INFO) == 112, "sizeof(CK_SLOT_INFO)");
_Static_assert(offsetof(CK_SLOT_INFO, flags) == 96, "CK_SLOT_INFO.flags");
_Static_assert(sizeof(CK_TOKEN_INFO) == 208, "sizeof(CK_TOKEN_INFO)");
_Static_assert(offsetof(CK_TOKEN_INFO, flags) == 96, "CK_TOKEN_INFO.flags");
_Static_assert(offsetof(CK_TOKEN_INFO, hardwareVersion) == 184, "CK_TOKEN_INFO.hardwareVersion");
_Static_assert(offsetof(CK_TOKEN_INFO, utcTime) == 188, "CK_TOKEN_INFO.utcTime");
_Static_assert(sizeof(CK_SESSION_INFO) == 32, "sizeof(CK_SESSION_INFO)");
_Static_assert(sizeof(CK_MECHANISM_INFO) == 24, "sizeof(CK_MECHANISM_INFO)");
_Static_assert(sizeof(CK_DATE) == 8, "sizeof(CK_DATE)");
_Static_assert(sizeof(CK_C_INITIALIZE_ARGS) == 48, "sizeof(CK_C_INITIALIZE_ARGS)");
_Static_assert(sizeof(CK_INTERFACE) == 24, "sizeof(CK_INTERFACE)");
_Static_assert(sizeof(CK_GCM_PARAMS) == 48, "sizeof(CK_GCM_PARAMS) with ulIvBits");
_Static_assert(offsetof(CK_GCM_PARAMS, ulIvBits) == 16, "CK_GCM_PARAMS.ulIvBits");
_Static_assert(sizeof(CK_CCM_PARAMS) == 48, "sizeof(CK_CCM_PARAMS)");
_Static_assert(sizeof(CK_RSA_PKCS_OAEP_PARAMS) == 40, "sizeof(CK_RSA_PKCS_OAEP_PARAMS)");
_Static_assert(sizeof(CK_RSA_PKCS_PSS_PARAMS) == 24, "sizeof(CK_RSA_PKCS_PSS_PARAMS)");
_Static_assert(sizeof(CK_ECDH1_DERIVE_PARAMS) == 40, "sizeof(CK_ECDH1_DERIVE_PARAMS)");
_Static_assert(sizeof(CK_AES_CTR_PARAMS) == 24, "sizeof(CK_AES_CTR_PARAMS)");
_Static_assert(sizeof(CK_AES_CBC_ENCRYPT_DATA_PARAMS) == 32, "sizeof(CK_AES_CBC_ENCRYPT_DATA_PARAMS)");
_Static_assert(sizeof(CK_EDDSA_PARAMS) == 24, "sizeof(CK_EDDSA_PARAMS)");
_Static_assert(offsetof(CK_EDDSA_PARAMS, ulContextDataLen) == 8, "CK_EDDSA_PARAMS.ulContextDataLen");
_Static_assert(sizeof(CK_HKDF_PARAMS) == 64, "sizeof(CK_HKDF_PARAMS)");
_Static_assert(offsetof(CK_HKDF_PARAMS, prfHashMechanism) == 8, "CK_HKDF_PARAMS.prfHashMechanism");
_Static_assert(sizeof(CK_SIGN_ADDITIONAL_CONTEXT) == 24, "sizeof(CK_SIGN_ADDITIONAL_CONTEXT)");
_Static_assert(sizeof(CK_PKCS5_PBKD2_PARAMS2) == 72, "sizeof(CK_PKCS5_PBKD2_PARAMS2)");
_Static_assert(sizeof(CK_SP800_108_KDF_PARAMS) == 40, "sizeof(CK_SP800_108_KDF_PARAMS)");
_Static_assert(sizeof(CK_GCM_MESSAGE_PARAMS) == 48, "sizeof(CK_GCM_MESSAGE_PARAMS)");

/* A few values the client library switches on. */
_Static_assert(CKA_WRAP_TEMPLATE == 0x40000211UL, "CKA_WRAP_TEMPLATE");
_Static_assert(CKA_ALLOWED_MECHANISMS == 0x40000600UL, "CKA_ALLOWED_MECHANISMS");

/* Keeps the translation unit non-empty under -pedantic. */
int keyward_check_header(void);
int keyward_check_header(void) { return 0; }
