package main

// The timed calls go straight through the module's CK_FUNCTION_LIST with output buffers sized in advance, one
// C_xxxInit plus one C_xxx per operation, as an application that knows its output size does. miekg/pkcs11 (used
// for setup) asks for every output length first, which would add a round trip per operation to libkeyward.so and
// would measure the binding rather than the module. dlopen of an already loaded module returns the same
// instance, so sessions and handles opened through miekg/pkcs11 are valid here. The length-query rows (lenq.go)
// time the binding's pattern on purpose, beside these.

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "keyward/pkcs11.h"

static CK_FUNCTION_LIST_PTR kwb_load(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) return NULL;
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (!gfl) return NULL;
	CK_FUNCTION_LIST_PTR fl = NULL;
	if (gfl(&fl) != CKR_OK) return NULL;
	return fl;
}

static CK_RV kwb_sign(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k,
		CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen) {
	CK_RV rv = f->C_SignInit(s, m, k);
	if (rv != CKR_OK) return rv;
	return f->C_Sign(s, in, inlen, out, outlen);
}

static CK_RV kwb_verify(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k,
		CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR sig, CK_ULONG siglen) {
	CK_RV rv = f->C_VerifyInit(s, m, k);
	if (rv != CKR_OK) return rv;
	return f->C_Verify(s, in, inlen, sig, siglen);
}

static CK_RV kwb_encrypt(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k,
		CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen) {
	CK_RV rv = f->C_EncryptInit(s, m, k);
	if (rv != CKR_OK) return rv;
	return f->C_Encrypt(s, in, inlen, out, outlen);
}

static CK_RV kwb_digest(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
		CK_BYTE_PTR in, CK_ULONG inlen, CK_BYTE_PTR out, CK_ULONG_PTR outlen) {
	CK_RV rv = f->C_DigestInit(s, m);
	if (rv != CKR_OK) return rv;
	return f->C_Digest(s, in, inlen, out, outlen);
}

static CK_RV kwb_random(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG n) {
	return f->C_GenerateRandom(s, out, n);
}

static CK_RV kwb_session_info(CK_FUNCTION_LIST_PTR f, CK_SESSION_HANDLE s) {
	CK_SESSION_INFO info;
	return f->C_GetSessionInfo(s, &info);
}

static CK_RV kwb_open_close(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID slot) {
	CK_SESSION_HANDLE s;
	CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK) return rv;
	return f->C_CloseSession(s);
}

// Mechanisms live in C memory for the life of the run (a handful per module).
static CK_MECHANISM_PTR kwb_mech(CK_MECHANISM_TYPE t, const void *param, CK_ULONG len) {
	CK_MECHANISM_PTR m = calloc(1, sizeof *m);
	m->mechanism = t;
	if (len) {
		m->pParameter = malloc(len);
		memcpy(m->pParameter, param, len);
		m->ulParameterLen = len;
	}
	return m;
}

static CK_MECHANISM_PTR kwb_pss(CK_MECHANISM_TYPE t, CK_MECHANISM_TYPE hash, CK_ULONG mgf, CK_ULONG slen) {
	CK_RSA_PKCS_PSS_PARAMS p = { hash, mgf, slen };
	return kwb_mech(t, &p, sizeof p);
}

// AES-GCM with a 12-byte IV in C memory that the caller changes before each operation.
static CK_MECHANISM_PTR kwb_gcm(CK_BYTE_PTR *iv) {
	CK_GCM_PARAMS p;
	memset(&p, 0, sizeof p);
	p.pIv = calloc(1, 12);
	p.ulIvLen = 12;
	p.ulIvBits = 96;
	p.ulTagBits = 128;
	*iv = p.pIv;
	return kwb_mech(CKM_AES_GCM, &p, sizeof p);
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/miekg/pkcs11"
)

type funcs struct{ fl C.CK_FUNCTION_LIST_PTR }

func loadFuncs(path string) (*funcs, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	fl := C.kwb_load(cp)
	if fl == nil {
		return nil, fmt.Errorf("dlopen/C_GetFunctionList of %s failed", path)
	}
	return &funcs{fl}, nil
}

type mech struct {
	m  C.CK_MECHANISM_PTR
	iv []byte // GCM: the IV in C memory
}

func newMech(t uint, param []byte) *mech {
	var p unsafe.Pointer
	if len(param) > 0 {
		p = unsafe.Pointer(&param[0])
	}
	return &mech{m: C.kwb_mech(C.CK_MECHANISM_TYPE(t), p, C.CK_ULONG(len(param)))}
}

func newPSSMech(t, hash, mgf uint, slen uint) *mech {
	return &mech{m: C.kwb_pss(C.CK_MECHANISM_TYPE(t), C.CK_MECHANISM_TYPE(hash), C.CK_ULONG(mgf), C.CK_ULONG(slen))}
}

func newGCMMech() *mech {
	var iv C.CK_BYTE_PTR
	m := C.kwb_gcm(&iv)
	return &mech{m: m, iv: unsafe.Slice((*byte)(unsafe.Pointer(iv)), 12)}
}

// nextIV makes the GCM IV unique per operation (a counter), as a real caller must.
func (m *mech) nextIV(n uint64) { binary.BigEndian.PutUint64(m.iv[4:], n) }

func ptr(b []byte) C.CK_BYTE_PTR {
	if len(b) == 0 {
		return nil
	}
	return (C.CK_BYTE_PTR)(unsafe.Pointer(&b[0]))
}

func rvErr(rv C.CK_RV) error {
	if rv == C.CKR_OK {
		return nil
	}
	return pkcs11.Error(rv)
}

func (f *funcs) sign(s pkcs11.SessionHandle, m *mech, k pkcs11.ObjectHandle, in, out []byte) (int, error) {
	n := C.CK_ULONG(len(out))
	rv := C.kwb_sign(f.fl, C.CK_SESSION_HANDLE(s), m.m, C.CK_OBJECT_HANDLE(k), ptr(in), C.CK_ULONG(len(in)), ptr(out), &n)
	return int(n), rvErr(rv)
}

func (f *funcs) verify(s pkcs11.SessionHandle, m *mech, k pkcs11.ObjectHandle, in, sig []byte) error {
	return rvErr(C.kwb_verify(f.fl, C.CK_SESSION_HANDLE(s), m.m, C.CK_OBJECT_HANDLE(k), ptr(in), C.CK_ULONG(len(in)),
		ptr(sig), C.CK_ULONG(len(sig))))
}

func (f *funcs) encrypt(s pkcs11.SessionHandle, m *mech, k pkcs11.ObjectHandle, in, out []byte) (int, error) {
	n := C.CK_ULONG(len(out))
	rv := C.kwb_encrypt(f.fl, C.CK_SESSION_HANDLE(s), m.m, C.CK_OBJECT_HANDLE(k), ptr(in), C.CK_ULONG(len(in)), ptr(out), &n)
	return int(n), rvErr(rv)
}

func (f *funcs) digest(s pkcs11.SessionHandle, m *mech, in, out []byte) (int, error) {
	n := C.CK_ULONG(len(out))
	rv := C.kwb_digest(f.fl, C.CK_SESSION_HANDLE(s), m.m, ptr(in), C.CK_ULONG(len(in)), ptr(out), &n)
	return int(n), rvErr(rv)
}

func (f *funcs) random(s pkcs11.SessionHandle, out []byte) error {
	return rvErr(C.kwb_random(f.fl, C.CK_SESSION_HANDLE(s), ptr(out), C.CK_ULONG(len(out))))
}

func (f *funcs) sessionInfo(s pkcs11.SessionHandle) error {
	return rvErr(C.kwb_session_info(f.fl, C.CK_SESSION_HANDLE(s)))
}

func (f *funcs) openClose(slot uint) error {
	return rvErr(C.kwb_open_close(f.fl, C.CK_SLOT_ID(slot)))
}
