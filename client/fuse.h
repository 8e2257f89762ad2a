/*
 * fuse.h - the operations' calls as entry.c makes them: deferred Init and fused calls (sess.h; docs/protocol.md,
 * "Fused calls"), kept output ("Kept output") and the first batch of a search (FindObjectsFirst).
 *
 * entry.c checks that the library is initialised and the arguments the specification assigns to the library,
 * then calls these; they build, send and read the calls of internal/wire/calls.def and keep sess.c's memory
 * true. fuse.c in turn encodes the Cryptoki arguments with entry.c's encoders (the kw_arg_* below).
 */
#ifndef KEYWARD_FUSE_H
#define KEYWARD_FUSE_H

#include "conn.h"

/* ---- fuse.c ---- */

/* C_xxxInit of operation op on h (a NULL mech cancels): deferred when an Init of the same shape succeeded on h
 * before, else sent. */
CK_RV kw_op_init(CK_SESSION_HANDLE h, CK_ULONG op, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key);
/* OperationSingle / OperationUpdate (call) of op on h with an output under the length convention: fused with a
 * deferred Init, answered from kept output, or asking for it. plen is not NULL, nor in when inlen > 0. */
CK_RV kw_op_data(uint32_t call, CK_SESSION_HANDLE h, CK_ULONG op, const void *in, CK_ULONG inlen, CK_BYTE_PTR out,
                 CK_ULONG_PTR plen);
/* OperationUpdate without output (C_DigestUpdate, C_SignUpdate, C_VerifyUpdate, C_VerifySignatureUpdate). */
CK_RV kw_op_update_noout(CK_SESSION_HANDLE h, CK_ULONG op, const void *in, CK_ULONG inlen);
/* OperationFinal of op on h with an output under the length convention (plen not NULL). */
CK_RV kw_op_final(CK_SESSION_HANDLE h, CK_ULONG op, CK_BYTE_PTR out, CK_ULONG_PTR plen);
/* C_Verify after its argument checks: fused with a deferred Init (VerifyInitVerify) or alone. */
CK_RV kw_op_verify(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG dlen, CK_BYTE_PTR sig, CK_ULONG slen);
/* A data call of op on h failed in the client (rv, returned): the operation ends all the same. */
CK_RV kw_op_fail(CK_SESSION_HANDLE h, CK_ULONG op, CK_RV rv);
/* Whether a verification's rv is its verdict (the call then ended the operation). */
int kw_verdict(CK_RV rv);
/* Send h's deferred Init (of op; of any operation when op is 0) on its own. CKR_OK when there is none. */
CK_RV kw_flush_init(CK_SESSION_HANDLE h, int op);
/* Send every session's deferred Init (before a call that may change what an Init checked). */
void kw_flush_all(void);
/* C_FindObjectsInit to a daemon that speaks fused calls: FindObjectsFirst brings the first batch of handles. */
CK_RV kw_find_first(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR t, CK_ULONG n);
/* Append an `o` item (out present, cap *plen), run m, and read its output under the length convention. */
CK_RV kw_run_out(struct kw_msg *m, CK_BYTE_PTR out, CK_ULONG_PTR plen, int kind);

/* ---- entry.c: Cryptoki arguments as request items ----
 *
 * Each checks its argument (CKR_ARGUMENTS_BAD for a NULL pointer with a length, a range error for what no frame
 * holds) and appends it; a refusal also spoils the buffer, so that the request is never sent. */

CK_RV kw_arg_data(struct kw_buf *b, const void *p, CK_ULONG n);
/* kw_arg_data's check alone, for a `b` item that a generated encoder (kw_req_Name) then writes. */
CK_RV kw_arg_data_ok(struct kw_buf *b, const void *p, CK_ULONG n);
CK_RV kw_arg_mech(struct kw_buf *b, const CK_MECHANISM *m);
CK_RV kw_arg_template(struct kw_buf *b, const CK_ATTRIBUTE *t, CK_ULONG n);

#endif
