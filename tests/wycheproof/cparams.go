// Package wycheproof runs the Wycheproof test vectors (../shared/testdata/wycheproof from the repository
// root) through libkeyward.so as a PKCS#11 application would: every key is imported with C_CreateObject,
// every operation is a Cryptoki call with the matching mechanism, driven from Go through
// github.com/miekg/pkcs11 against a private keywardd.
//
// This file is the package's only cgo: miekg/pkcs11 passes a mechanism parameter as raw bytes, so the
// parameter structures that hold pointers and that miekg does not build itself (CK_CCM_PARAMS,
// CK_HKDF_PARAMS, CK_PKCS5_PBKD2_PARAMS2, CK_EDDSA_PARAMS, CK_SIGN_ADDITIONAL_CONTEXT) are laid out here in
// C memory from Keyward's own header, and the PKCS#11 3.2 function miekg lacks (C_DecapsulateKey) is
// called through the CK_FUNCTION_LIST_3_2 that C_GetInterface returns.
package wycheproof

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "keyward/pkcs11.h"

static CK_FUNCTION_LIST_3_2 *kw_f32;

// kw_load opens the library (the same instance miekg/pkcs11 has loaded) and gets its 3.2 interface.
static CK_RV kw_load(const char *path) {
	void *h = dlopen(path, RTLD_NOW);
	if (h == NULL) return CKR_GENERAL_ERROR;
	CK_C_GetInterface gi = (CK_C_GetInterface) dlsym(h, "C_GetInterface");
	if (gi == NULL) return CKR_FUNCTION_NOT_SUPPORTED;
	CK_VERSION v = {3, 2};
	CK_INTERFACE_PTR iface = NULL;
	CK_RV rv = gi((CK_UTF8CHAR_PTR) "PKCS 11", &v, &iface, 0);
	if (rv != CKR_OK) return rv;
	if (iface == NULL || iface->pFunctionList == NULL) return CKR_GENERAL_ERROR;
	kw_f32 = (CK_FUNCTION_LIST_3_2 *) iface->pFunctionList;
	if (kw_f32->version.major != 3 || kw_f32->version.minor < 2) return CKR_GENERAL_ERROR;
	return CKR_OK;
}

// kw_decapsulate decapsulates ct with the private key into a session secret key that is extractable and not
// sensitive, so that its CKA_VALUE can be read.
static CK_RV kw_decapsulate(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE mech, CK_OBJECT_HANDLE key,
		CK_BYTE_PTR ct, CK_ULONG ctLen, CK_OBJECT_HANDLE_PTR out) {
	if (kw_f32 == NULL) return CKR_CRYPTOKI_NOT_INITIALIZED;
	CK_MECHANISM m = {mech, NULL, 0};
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof cls},
		{CKA_KEY_TYPE, &kt, sizeof kt},
		{CKA_TOKEN, &no, sizeof no},
		{CKA_EXTRACTABLE, &yes, sizeof yes},
		{CKA_SENSITIVE, &no, sizeof no},
	};
	return kw_f32->C_DecapsulateKey(s, &m, key, t, sizeof t / sizeof t[0], ct, ctLen, out);
}

static CK_BYTE_PTR kw_dup(const void *p, size_t n) {
	CK_BYTE_PTR b = malloc(n ? n : 1);
	if (b != NULL && n) memcpy(b, p, n);
	return b;
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// cMem holds the C buffers a parameter structure points into; free releases them after the call.
type cMem struct{ ptrs []unsafe.Pointer }

// bytes copies b into C memory; an empty b is a NULL pointer with length 0.
func (m *cMem) bytes(b []byte) (C.CK_BYTE_PTR, C.CK_ULONG) {
	if len(b) == 0 {
		return nil, 0
	}
	p := C.kw_dup(unsafe.Pointer(&b[0]), C.size_t(len(b)))
	if p == nil {
		panic("out of C memory")
	}
	m.ptrs = append(m.ptrs, unsafe.Pointer(p))
	return p, C.CK_ULONG(len(b))
}

func (m *cMem) free() {
	for _, p := range m.ptrs {
		C.free(p)
	}
	m.ptrs = nil
}

// structBytes copies a C structure's bytes (pointers included) for miekg/pkcs11, which copies them to C
// memory again and hands them to the library.
func structBytes(p unsafe.Pointer, n uintptr) []byte { return C.GoBytes(p, C.int(n)) }

func cBool(b bool) C.CK_BBOOL {
	if b {
		return C.CK_TRUE
	}
	return C.CK_FALSE
}

// ccmParams lays out a CK_CCM_PARAMS.
func ccmParams(m *cMem, dataLen int, nonce, aad []byte, macLen int) []byte {
	var p C.CK_CCM_PARAMS
	p.ulDataLen = C.CK_ULONG(dataLen)
	p.pNonce, p.ulNonceLen = m.bytes(nonce)
	p.pAAD, p.ulAADLen = m.bytes(aad)
	p.ulMACLen = C.CK_ULONG(macLen)
	return structBytes(unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// hkdfParams lays out a CK_HKDF_PARAMS.
func hkdfParams(m *cMem, extract, expand bool, prf uint, saltType uint, salt []byte, saltKey uint, info []byte) []byte {
	var p C.CK_HKDF_PARAMS
	p.bExtract = cBool(extract)
	p.bExpand = cBool(expand)
	p.prfHashMechanism = C.CK_MECHANISM_TYPE(prf)
	p.ulSaltType = C.CK_ULONG(saltType)
	p.pSalt, p.ulSaltLen = m.bytes(salt)
	p.hSaltKey = C.CK_OBJECT_HANDLE(saltKey)
	p.pInfo, p.ulInfoLen = m.bytes(info)
	return structBytes(unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// pbkd2Params lays out a CK_PKCS5_PBKD2_PARAMS2 (the v2.40 layout, ulPasswordLen a value).
func pbkd2Params(m *cMem, saltSource uint, salt []byte, iterations, prf uint, password []byte) []byte {
	var p C.CK_PKCS5_PBKD2_PARAMS2
	p.saltSource = C.CK_PKCS5_PBKDF2_SALT_SOURCE_TYPE(saltSource)
	s, sl := m.bytes(salt)
	p.pSaltSourceData, p.ulSaltSourceDataLen = C.CK_VOID_PTR(unsafe.Pointer(s)), sl
	p.iterations = C.CK_ULONG(iterations)
	p.prf = C.CK_PKCS5_PBKD2_PSEUDO_RANDOM_FUNCTION_TYPE(prf)
	pw, pwl := m.bytes(password)
	p.pPassword, p.ulPasswordLen = (*C.CK_UTF8CHAR)(unsafe.Pointer(pw)), pwl
	return structBytes(unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// eddsaParams lays out a CK_EDDSA_PARAMS.
func eddsaParams(m *cMem, prehash bool, context []byte) []byte {
	var p C.CK_EDDSA_PARAMS
	p.phFlag = cBool(prehash)
	p.pContextData, p.ulContextDataLen = m.bytes(context)
	return structBytes(unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// signContextParams lays out a CK_SIGN_ADDITIONAL_CONTEXT (CKM_ML_DSA).
func signContextParams(m *cMem, hedge uint, context []byte) []byte {
	var p C.CK_SIGN_ADDITIONAL_CONTEXT
	p.hedgeVariant = C.CK_HEDGE_TYPE(hedge)
	p.pContext, p.ulContextLen = m.bytes(context)
	return structBytes(unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// ulongParam lays out a parameter that is one CK_ULONG (CK_MAC_GENERAL_PARAMS).
func ulongParam(v uint) []byte {
	return binary.NativeEndian.AppendUint64(nil, uint64(v))
}

// load32 gets the library's PKCS#11 3.2 function list through C_GetInterface.
func load32(path string) error {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	if rv := C.kw_load(cp); rv != C.CKR_OK {
		return fmt.Errorf("C_GetInterface(\"PKCS 11\", 3.2): rv 0x%x", uint64(rv))
	}
	return nil
}

// rvError is a CK_RV from a call made through the 3.2 function list.
type rvError uint

func (e rvError) Error() string { return fmt.Sprintf("CK_RV 0x%x", uint(e)) }

// decapsulate is C_DecapsulateKey with an extractable, non-sensitive generic secret template.
func decapsulate(session, mech, key uint, ct []byte) (uint, error) {
	var m cMem
	defer m.free()
	p, n := m.bytes(ct)
	var out C.CK_OBJECT_HANDLE
	rv := C.kw_decapsulate(C.CK_SESSION_HANDLE(session), C.CK_MECHANISM_TYPE(mech), C.CK_OBJECT_HANDLE(key), p, n, &out)
	if rv != C.CKR_OK {
		return 0, rvError(rv)
	}
	return uint(out), nil
}
