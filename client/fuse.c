/*
 * fuse.c - the operations' calls (fuse.h): deferred Init and the fused calls that carry it (OperationInitData,
 * VerifyInitVerify), kept output, the first batch of a search (FindObjectsFirst), and the rule that a data
 * call failing in the client ends its operation as the specification says.
 *
 * entry.c has checked initialisation and the arguments before any of these runs.
 */
#include <string.h>

#include "fuse.h"
#include "params.h"
#include "sess.h"
#include "width.h"

#define S KW_SESSION_CALL

/* The calls encoded here by hand: OperationInit and FindObjectsFirst carry a mechanism (M) or a template (A),
 * which calls_gen.h has no encoder for; a fused call is a deferred Init's items (kept as bytes, sess.h) followed
 * by its data call's. The others use kw_req_Name. */
KW_REQ_IS(OperationInit, 3 * KW_KIND_u + KW_KIND_M);
KW_REQ_IS(FindObjectsFirst, 2 * KW_KIND_u + KW_KIND_A);
_Static_assert(KW_REQ_KINDS(OperationInitData) == KW_REQ_KINDS(OperationInit) + KW_KIND_u + KW_KIND_b + KW_KIND_o,
               "OperationInitData: the Init's items, then the stage, the input and the output");
_Static_assert(KW_REQ_KINDS(VerifyInitVerify) == KW_REQ_KINDS(OperationInit) + 2 * KW_KIND_b,
               "VerifyInitVerify: the Init's items, then the data and the signature");

/* ---- output under the length convention ---- */

/* Run a request that ends with an `o` item; on CKR_OK copy the output, on CKR_OK/CKR_BUFFER_TOO_SMALL set *plen.
 * peeked: the item had the peek flag (docs/protocol.md, "Kept output"); when the answer did not deliver the
 * output but carried it, *peeked points at it in the response (until kw_msg_free) and *npeeked is its length;
 * else *peeked is NULL. */
static CK_RV recv_out_peek(struct kw_msg *m, CK_BYTE_PTR out, CK_ULONG_PTR plen, int kind, const uint8_t **peeked,
                           uint32_t *npeeked)
{
    if (peeked)
        *peeked = NULL;
    CK_RV rv = kw_msg_run(m, kind);
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        return rv;
    if (!m->has_body)
        return CKR_DEVICE_ERROR;
    uint64_t len = kw_dec_u(&m->body);
    uint32_t dlen;
    const uint8_t *d = kw_dec_b(&m->body, &dlen);
    if (rv == CKR_OK && out) {
        if (dlen != len || len > *plen)
            return CKR_DEVICE_ERROR; /* the daemon broke the length convention */
        memcpy(out, d, dlen);
    } else if (peeked && dlen == len && len <= KW_KEEP_MAX) {
        *peeked = d ? d : (const uint8_t *)""; /* (an empty output is one too) */
        *npeeked = dlen;
    } else if (dlen != 0) {
        return CKR_DEVICE_ERROR;
    }
    if (!kw_ulong_fits(len)) { /* a length this word size cannot express (width.h) */
        *plen = CK_UNAVAILABLE_INFORMATION;
        return CKR_BUFFER_TOO_SMALL;
    }
    *plen = (CK_ULONG)len;
    return rv;
}

static CK_RV recv_out(struct kw_msg *m, CK_BYTE_PTR out, CK_ULONG_PTR plen, int kind)
{
    return recv_out_peek(m, out, plen, kind, NULL, NULL);
}

/* Append an `o` item and run (recv_out). */
CK_RV kw_run_out(struct kw_msg *m, CK_BYTE_PTR out, CK_ULONG_PTR plen, int kind)
{
    kw_enc_o(&m->req, out != NULL, *plen);
    return recv_out(m, out, plen, kind);
}

/* ---- deferred Init (sess.h; docs/protocol.md, "Fused calls") ----
 *
 * An Init that already succeeded on a session with the very same request is not sent: it waits for the
 * operation's first data call, and both go in one round trip. Every call that could see the operation some
 * other way sends the deferred Init alone first (kw_flush_init, kw_flush_all). */

/* The Init request body of a message being built (the items after the frame header). */
static const uint8_t *req_body(const struct kw_msg *m, size_t *len)
{
    *len = m->req.len - KW_REQ_HEADER;
    return m->req.p + KW_REQ_HEADER;
}

/* What decides whether an Init succeeds: its request, except the contents of data that only feed the
 * computation (an IV, a nonce, associated data, a context: params.def's data-only parts), of which the length
 * and presence count (kw_param_shape). An Init of the same shape as one that succeeded on the session succeeds
 * too (the session, key and mechanism being the same), so it can wait for its data call. */
static void init_shape(struct kw_buf *sh, CK_SESSION_HANDLE h, CK_ULONG op, const CK_MECHANISM *m,
                       CK_OBJECT_HANDLE key, const uint8_t *body, size_t len)
{
    kw_put_u8(sh, 0); /* never the first byte of a body (an item tag) */
    kw_put_u64(sh, h);
    kw_put_u64(sh, op);
    kw_put_u64(sh, m->mechanism);
    kw_put_u64(sh, key);
    if (!kw_param_shape(m, sh)) {
        sh->len = 0;
        kw_put_raw(sh, body, len);
    }
}

/* Run an OperationInit message of op on h and remember its outcome under its shape (sh; or forget it). */
static CK_RV run_init(struct kw_msg *m, CK_SESSION_HANDLE h, int op, const struct kw_buf *sh)
{
    CK_RV rv = kw_msg_run(m, S);
    if (sh)
        kw_sess_learn(h, op, sh->oom ? NULL : sh->p, sh->oom ? 0 : sh->len, rv);
    else if (rv != CKR_OK)
        kw_sess_learn(h, op, NULL, 0, rv); /* a deferred Init that failed after all: forget its shape */
    return rv;
}

/* Send h's deferred Init (of op; of any operation when op is 0) on its own. CKR_OK when there is none. */
CK_RV kw_flush_init(CK_SESSION_HANDLE h, int op)
{
    if (!kw_sess_deferred(h))
        return CKR_OK;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_OperationInit);
    int d = kw_sess_take(h, op, &m.req);
    CK_RV rv = d ? run_init(&m, h, d, NULL) : CKR_OK; /* its shape stays known; a failure forgets it */
    kw_msg_free(&m);
    return rv;
}

/* Send every session's deferred Init (before a call that may change what an Init checked). */
void kw_flush_all(void)
{
    for (;;) {
        struct kw_msg m;
        CK_SESSION_HANDLE h = 0;
        kw_msg_init(&m, KW_CALL_OperationInit);
        int d = kw_sess_take_any(&h, &m.req);
        if (d) {
            run_init(&m, h, d, NULL);
            kw_sess_flushed(h);
        }
        kw_msg_free(&m);
        if (!d)
            return;
    }
}

/* Start a fused message: h's deferred Init of op, to which the caller appends its data call's items. 0 when
 * no Init of op is deferred on h (the caller sends its own call). */
static size_t fused_begin(struct kw_msg *m, uint32_t call, CK_SESSION_HANDLE h, int op)
{
    if (kw_sess_deferred(h) != op)
        return 0;
    kw_msg_init(m, call);
    if (kw_sess_take(h, op, &m->req))
        return m->req.len; /* where the Init's items end */
    kw_msg_free(m);
    return 0;
}

/* Whether a fused message can go (it fits a frame, memory did not run out). When not, its Init (the items
 * up to init_end) is deferred again and the message dropped: the caller sends the Init alone (kw_flush_init),
 * then its own call. */
static int fused_ready(struct kw_msg *m, size_t init_end, CK_SESSION_HANDLE h, int op)
{
    if (!m->req.oom && m->req.len - 4 <= KW_MAX_FRAME)
        return 1;
    kw_sess_redefer(h, op, m->req.p + KW_REQ_HEADER, init_end - KW_REQ_HEADER);
    kw_msg_free(m);
    return 0;
}

/* Whether a verification's rv is its verdict (the call then ended the operation). */
int kw_verdict(CK_RV rv)
{
    return rv == CKR_OK || rv == CKR_SIGNATURE_INVALID || rv == CKR_SIGNATURE_LEN_RANGE;
}

/* After a fused message: an error (but a short buffer) forgets the Init, so that the next one goes alone and
 * says on its own whether it fails. */
static void fused_end(CK_SESSION_HANDLE h, int op, CK_RV rv)
{
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
        kw_sess_learn(h, op, NULL, 0, rv);
}

CK_RV kw_op_init(CK_SESSION_HANDLE h, CK_ULONG op, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    kw_flush_init(h, 0); /* an earlier deferred Init on h goes first; its failure shows on its own data call */
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_OperationInit);
    kw_enc_u(&m.req, h);
    kw_enc_u(&m.req, op);
    CK_RV rv = kw_arg_mech(&m.req, mech);
    kw_enc_u(&m.req, mech ? key : 0);
    if (rv == CKR_OK && mech && !m.req.oom) {
        size_t len;
        const uint8_t *body = req_body(&m, &len);
        struct kw_buf sh = {0};
        init_shape(&sh, h, op, mech, key, body, len);
        if (!sh.oom && kw_sess_defer(h, (int)op, sh.p, sh.len, body, len)) {
            kw_buf_free(&sh);
            kw_msg_free(&m);
            if (kw_features() & KW_FEATURE_FUSED)
                return CKR_OK;
            return kw_flush_init(h, (int)op); /* an older daemon: the Init goes alone after all */
        }
        rv = run_init(&m, h, (int)op, &sh);
        kw_buf_free(&sh);
    } else if (rv == CKR_OK) {
        rv = kw_msg_run(&m, S);
        if (rv == CKR_OK && !mech)
            kw_sess_ended(h, (int)op); /* a NULL mechanism cancels the operation */
    }
    kw_msg_free(&m);
    return rv;
}

/* Whether a built request can go: CKR_HOST_MEMORY when memory ran out (or an encoder refused an item),
 * m->too_big when it does not fit a frame (what kw_msg_run would answer, without sending). */
static CK_RV req_fits(const struct kw_msg *m)
{
    if (m->req.oom)
        return CKR_HOST_MEMORY;
    return m->req.len - 4 > KW_MAX_FRAME ? m->too_big : CKR_OK;
}

/* A data call of op on h refused here, before anything was sent (its input does not fit a frame, memory ran
 * out): returns rv. The specification has an error end the operation, and the application keeps its
 * connection, sessions and login: op ends on h, in the daemon too (a cancel) when its Init went there
 * (init_sent). A dual-function update (op >= KW_SESS_OPS) leaves its two operations as they are. */
static CK_RV op_refused(CK_SESSION_HANDLE h, CK_ULONG op, int init_sent, CK_RV rv)
{
    if (op >= KW_SESS_OPS)
        return rv;
    if (init_sent)
        (void)kw_op_init(h, op, NULL, 0); /* the cancel: kw_sess_ended on success */
    else
        kw_sess_ended(h, (int)op);
    return rv;
}

/* Build a data call of op on h (OperationSingle or OperationUpdate, ending with the `o` item flags/cap): fused
 * with h's deferred Init of op when there is one (OperationInitData; *fused is then set), else the call alone.
 * The caller runs it, and calls fused_end when *fused. */
static CK_RV op_message(struct kw_msg *m, uint32_t call, CK_SESSION_HANDLE h, CK_ULONG op, const void *in,
                        CK_ULONG inlen, int oflags, uint64_t cap, int *fused)
{
    size_t init_end = fused_begin(m, KW_CALL_OperationInitData, h, (int)op);
    if (init_end) {
        kw_enc_u(&m->req, call == KW_CALL_OperationSingle ? KW_STAGE_SINGLE : KW_STAGE_UPDATE);
        CK_RV rv = kw_arg_data(&m->req, in, inlen);
        if (rv != CKR_OK) {
            kw_msg_free(m); /* the Init never left: the operation ends here */
            kw_msg_init(m, call);
            *fused = 0;
            return op_refused(h, op, 0, rv);
        }
        kw_enc_o(&m->req, oflags, cap);
        if (fused_ready(m, init_end, h, (int)op)) {
            m->too_big = CKR_DATA_LEN_RANGE;
            *fused = 1;
            return CKR_OK;
        }
        kw_flush_init(h, (int)op);
    }
    *fused = 0;
    kw_msg_init(m, call);
    m->too_big = CKR_DATA_LEN_RANGE;
    CK_RV rv = kw_arg_data_ok(&m->req, in, inlen);
    if (rv == CKR_OK) {
        if (call == KW_CALL_OperationSingle)
            kw_req_OperationSingle(&m->req, h, op, in, inlen, oflags, cap);
        else
            kw_req_OperationUpdate(&m->req, h, op, in, inlen, oflags, cap);
        rv = req_fits(m);
    }
    return rv == CKR_OK ? rv : op_refused(h, op, 1, rv);
}

/* A data call of op on h failed here, before reaching the daemon (rv): the operation ends all the same, as
 * PKCS#11 says of C_Encrypt, C_EncryptUpdate, C_EncryptFinal and the decrypt, digest, sign and verify calls
 * (every error but CKR_BUFFER_TOO_SMALL ends the active operation). A deferred Init of op never reached the
 * daemon: it is dropped, without a round trip; else the daemon's operation is cancelled (a NULL mechanism). */
CK_RV kw_op_fail(CK_SESSION_HANDLE h, CK_ULONG op, CK_RV rv)
{
    if (op >= OP_DIGEST_ENCRYPT && op <= OP_DECRYPT_VERIFY)
        return rv; /* a dual-function call: the two operations go on (the specification ends neither) */
    if (op < KW_SESS_OPS && kw_sess_drop(h, (int)op))
        return rv;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_OperationInit);
    kw_enc_u(&m.req, h);
    kw_enc_u(&m.req, op);
    kw_arg_mech(&m.req, NULL);
    kw_enc_u(&m.req, 0);
    if (kw_msg_run(&m, S) == CKR_OK)
        kw_sess_ended(h, (int)op);
    kw_msg_free(&m);
    return rv;
}

/* Whether a single-part call of op asks for its output with the length (the peek flag; docs/protocol.md,
 * "Kept output"): its input is small enough to keep, and the daemon speaks it. A length query may ask the
 * daemon's features (once per application); a call with a buffer uses them only when already known. */
static int want_peek(uint32_t call, CK_ULONG op, CK_ULONG inlen, const void *out)
{
    if (call != KW_CALL_OperationSingle || op >= KW_SESS_OPS || op == OP_VERIFY || inlen > KW_KEEP_MAX)
        return 0;
    return ((out ? kw_features_cached() : kw_features()) & KW_FEATURE_KEEP) != 0;
}

/* OperationSingle / OperationUpdate with an output under the length convention. A single-part call first asks
 * the output kept by its length query (sess.h): the usual "length, then the call" pattern is one round trip. */
CK_RV kw_op_data(uint32_t call, CK_SESSION_HANDLE h, CK_ULONG op, const void *in, CK_ULONG inlen, CK_BYTE_PTR out,
                 CK_ULONG_PTR plen)
{
    CK_RV rv;
    if (call == KW_CALL_OperationSingle && op < KW_SESS_OPS && kw_sess_kept_answer(h, (int)op, in, inlen, out, plen, &rv))
        return rv;
    if (op >= KW_SESS_OPS)
        kw_flush_init(h, 0); /* a dual-function call uses two operations: both must have started */
    struct kw_msg m;
    int fused;
    int peek = want_peek(call, op, inlen, out);
    rv = op_message(&m, call, h, op, in, inlen, (out ? KW_OUT_PRESENT : 0) | (peek ? KW_OUT_PEEK : 0), *plen, &fused);
    const uint8_t *kept = NULL;
    uint32_t nkept = 0;
    if (rv == CKR_OK)
        rv = recv_out_peek(&m, out, plen, S, peek ? &kept : NULL, &nkept);
    if (kept && (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL))
        kw_sess_keep(h, (int)op, m.epoch, in, inlen, kept, nkept);
    kw_msg_free(&m);
    if (fused)
        fused_end(h, (int)op, rv);
    if (rv == CKR_OK && out && call == KW_CALL_OperationSingle)
        kw_sess_ended(h, (int)op); /* the result was delivered: the operation is over */
    return rv;
}

/* OperationUpdate without output (C_DigestUpdate, C_SignUpdate, C_VerifyUpdate): the output is ignored. */
CK_RV kw_op_update_noout(CK_SESSION_HANDLE h, CK_ULONG op, const void *in, CK_ULONG inlen)
{
    struct kw_msg m;
    int fused;
    CK_RV rv = op_message(&m, KW_CALL_OperationUpdate, h, op, in, inlen, 0, 0, &fused);
    if (rv == CKR_OK)
        rv = kw_msg_run(&m, S);
    kw_msg_free(&m);
    if (fused)
        fused_end(h, (int)op, rv);
    return rv;
}

CK_RV kw_op_final(CK_SESSION_HANDLE h, CK_ULONG op, CK_BYTE_PTR out, CK_ULONG_PTR plen)
{
    kw_flush_init(h, op < KW_SESS_OPS ? (int)op : 0);
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_OperationFinal);
    kw_req_OperationFinal(&m.req, h, op, out != NULL, *plen);
    CK_RV rv = recv_out(&m, out, plen, S);
    kw_msg_free(&m);
    if (rv == CKR_OK && out && op < KW_SESS_OPS)
        kw_sess_ended(h, (int)op);
    return rv;
}

/* ---- C_Verify: fused with its Init (VerifyInitVerify) or alone ---- */

CK_RV kw_op_verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                   CK_ULONG ulSignatureLen)
{
    struct kw_msg m;
    size_t init_end = fused_begin(&m, KW_CALL_VerifyInitVerify, hSession, OP_VERIFY);
    if (init_end) {
        CK_RV refused = kw_arg_data(&m.req, pData, ulDataLen);
        if (refused == CKR_OK && kw_arg_data(&m.req, pSignature, ulSignatureLen) != CKR_OK)
            refused = CKR_SIGNATURE_LEN_RANGE;
        if (refused != CKR_OK) {
            kw_msg_free(&m); /* the Init never left: the operation ends here */
            return op_refused(hSession, OP_VERIFY, 0, refused);
        }
        if (fused_ready(&m, init_end, hSession, OP_VERIFY)) {
            CK_RV rv = kw_msg_run(&m, S);
            kw_msg_free(&m);
            fused_end(hSession, OP_VERIFY, kw_verdict(rv) ? CKR_OK : rv);
            if (kw_verdict(rv))
                kw_sess_ended(hSession, OP_VERIFY);
            return rv;
        }
        kw_flush_init(hSession, OP_VERIFY);
    }
    kw_msg_init(&m, KW_CALL_Verify);
    /* Too large for a frame: the larger of the two inputs is the one out of range. */
    m.too_big = ulSignatureLen > ulDataLen ? CKR_SIGNATURE_LEN_RANGE : CKR_DATA_LEN_RANGE;
    CK_RV rv = kw_arg_data_ok(&m.req, pData, ulDataLen);
    if (rv == CKR_OK && kw_arg_data_ok(&m.req, pSignature, ulSignatureLen) != CKR_OK)
        rv = CKR_SIGNATURE_LEN_RANGE;
    if (rv == CKR_OK) {
        kw_req_Verify(&m.req, hSession, pData, ulDataLen, pSignature, ulSignatureLen);
        rv = req_fits(&m);
    }
    if (rv != CKR_OK) {
        kw_msg_free(&m);
        return op_refused(hSession, OP_VERIFY, 1, rv);
    }
    rv = kw_msg_run(&m, S);
    kw_msg_free(&m);
    if (kw_verdict(rv))
        kw_sess_ended(hSession, OP_VERIFY);
    return rv;
}

/* ---- the first batch of a search ---- */

/* How many handles C_FindObjectsInit brings back with it (most searches find fewer). */
#define KW_FIND_BATCH 128u

/* FindObjectsFinal on h, its answer ignored. */
static void end_find(CK_SESSION_HANDLE h)
{
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_FindObjectsFinal);
    kw_req_FindObjectsFinal(&m.req, h);
    kw_msg_run(&m, S);
    kw_msg_free(&m);
}

CK_RV kw_find_first(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_FindObjectsFirst);
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_template(&m.req, pTemplate, ulCount);
    kw_enc_u(&m.req, KW_FIND_BATCH);
    if (rv == CKR_OK)
        rv = kw_msg_run(&m, S);
    if (rv == CKR_OK) {
        uint64_t found[KW_FIND_BATCH];
        uint32_t n = kw_dec_U_begin(&m.body);
        int wide = 0;
        for (uint32_t i = 0; i < n && i < KW_FIND_BATCH; i++) {
            found[i] = kw_dec_raw_u64(&m.body);
            wide |= !kw_ulong_fits(found[i]); /* a handle this word size cannot express (width.h) */
        }
        int more = kw_dec_u(&m.body) != 0;
        if (n > KW_FIND_BATCH || m.body.err || wide)
            rv = CKR_DEVICE_ERROR;
        else if (kw_sess_find_begin(hSession, found, n, more) < 0)
            rv = CKR_HOST_MEMORY;
        if (rv != CKR_OK && more)
            end_find(hSession); /* the daemon holds the rest: end it there too */
    }
    kw_msg_free(&m);
    return rv;
}
