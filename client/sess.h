/*
 * sess.h - what the client remembers of each session to save round trips (docs/protocol.md, "Fused calls").
 *
 * Two things, both per session of the current application:
 *  - deferred Init: an operation's C_xxxInit whose exact request (session, operation, mechanism and parameter,
 *    key) already succeeded on this session is not sent on its own; it travels with the operation's first
 *    data call (OperationInitData, VerifyInitVerify). A call that could observe the operation otherwise sends
 *    it alone first (a flush);
 *  - the first batch of a search: C_FindObjectsInit brings back the first handles (FindObjectsFirst), which
 *    C_FindObjects hands out; C_FindObjectsFinal needs the daemon only when it holds more;
 *  - kept output (docs/protocol.md, "Kept output"): a single-part call's length query (or short buffer) brings
 *    the output too; the next call of that operation with the same input is answered from the copy. When that
 *    answer delivers the output, the operation, still active in the daemon, gets an OperationEnd that travels
 *    in front of the session's next request (conn.c, kw_msg_run). Any request on the session drops the copy
 *    first: the daemon, which still holds the true state, then answers as it always did.
 *
 * KEYWARD_DEFER_INIT=0 (read once per application generation) turns deferral off: every Init is sent at once.
 *
 * Every function takes the application lock itself. The state belongs to one application generation
 * (conn.c): a daemon restart, C_Finalize or a fork drops it.
 */
#ifndef KEYWARD_SESS_H
#define KEYWARD_SESS_H

#include "conn.h"

/* Operation kinds that can be deferred (the wire's operation numbers 1..7: encrypt ... verify-recover). */
#define KW_SESS_OPS 8

/* C_Finalize (the application lock held): free everything. */
void kw_sess_clear_locked(void);

/* C_OpenSession succeeded: remember the session and its slot. */
void kw_sess_open(CK_SESSION_HANDLE h, CK_SLOT_ID slot);
/* C_CloseSession: forget the session. */
void kw_sess_close(CK_SESSION_HANDLE h);
/* C_CloseAllSessions(slot): forget the slot's sessions. */
void kw_sess_close_slot(CK_SLOT_ID slot);

/* An Init of operation op on h: its shape (what decides whether it succeeds: fuse.c, init_shape) and its
 * request body (the items after the frame header). Returns 1 when an Init of the same shape succeeded before
 * on h, nothing else is deferred there and op is known to have ended since: the body is now deferred (the
 * caller returns CKR_OK without a round trip). */
int kw_sess_defer(CK_SESSION_HANDLE h, int op, const uint8_t *shape, size_t slen, const uint8_t *body, size_t len);
/* The daemon answered an Init of op on h with rv: remember its shape when it succeeded (op is then active until
 * kw_sess_ended), forget it when not. */
void kw_sess_learn(CK_SESSION_HANDLE h, int op, const uint8_t *shape, size_t slen, CK_RV rv);
/* A call ended op on h for sure (a delivered result, a verification's verdict, a cancel). */
void kw_sess_ended(CK_SESSION_HANDLE h, int op);
/* The operation op on h ends before its deferred Init was sent: drop that Init. Returns 1 when one was dropped
 * (the daemon never saw it), 0 when none of op was deferred on h. */
int kw_sess_drop(CK_SESSION_HANDLE h, int op);
/* Which operation's Init is deferred on h (0: none). */
int kw_sess_deferred(CK_SESSION_HANDLE h);
/* Take h's deferred Init of op (any op when op is 0): append its request body to dst and return the
 * operation, or 0 when there is none. */
int kw_sess_take(CK_SESSION_HANDLE h, int op, struct kw_buf *dst);
/* Defer an Init body on h again (after kw_sess_take, when the fused message could not be built). */
void kw_sess_redefer(CK_SESSION_HANDLE h, int op, const uint8_t *body, size_t len);
/* Take any session's deferred Init: *h is its session. Returns the operation, or 0 when none is left. Until
 * kw_sess_flushed(*h), the session's own calls (kw_sess_deferred, kw_sess_take) wait: the Init, sent by this
 * thread, must reach the daemon before a call of the session's thread that follows it. */
int kw_sess_take_any(CK_SESSION_HANDLE *h, struct kw_buf *dst);
void kw_sess_flushed(CK_SESSION_HANDLE h);
/* An object may have changed (destroyed, attributes set, logout): forget every remembered Init, and drop every
 * kept output (an operation of another session may have ended in the daemon). */
void kw_sess_forget_inits(void);

/* ---- kept output ---- */

/* The largest input and output kept (the daemon carries at most ck.MaxPeek bytes of output). */
#define KW_KEEP_MAX (64u << 10)

/* A request of call is about to go (kw_msg_run, with a connection in hand); on_session: it is a request on
 * session h. Drops the kept attribute values it may change, and counts it in *drops. For a request on h: waits
 * while an OperationEnd of h travels with another thread's request, drops h's kept output, and counts the
 * request (*epoch: h's count after it, 0 when h is unknown here). Returns the operations (bits) whose
 * OperationEnd must go first, in the same write: they are in flight until kw_sess_sent. */
unsigned kw_sess_outgoing(uint32_t call, int on_session, CK_SESSION_HANDLE h, uint64_t *epoch, uint64_t *drops);
/* The request that carried the OperationEnds of ops (bits) on h came back (delivered), or was not sent: they
 * then wait for h's next request again. */
void kw_sess_sent(CK_SESSION_HANDLE h, unsigned ops, int delivered);
/* Keep the output a length query or short buffer of op on h brought, for that input; the request was h's
 * request number epoch (nothing is kept when another request on h went since). */
void kw_sess_keep(CK_SESSION_HANDLE h, int op, uint64_t epoch, const void *in, size_t inlen, const uint8_t *out,
                  size_t outlen);
/* Answer a single-part call of op on h from its kept output, under the length convention: returns 1 and sets
 * *rv (CKR_OK, CKR_BUFFER_TOO_SMALL) when h keeps op's output for exactly this input, 0 otherwise (the caller
 * goes to the daemon). Delivering the output ends op here and queues its OperationEnd. */
int kw_sess_kept_answer(CK_SESSION_HANDLE h, int op, const void *in, size_t inlen, CK_BYTE_PTR out, CK_ULONG_PTR plen,
                        CK_RV *rv);

/* ---- kept attribute values ----
 *
 * A C_GetAttributeValue length query (every pValue NULL) asks the values too (attribute kind 4); when every
 * value came back, the client keeps them, and the very next C_GetAttributeValue of the same session, object and
 * types is answered from them under the length convention, once. Any request on the session and any request
 * that may change attributes or what is visible (kw_sess_outgoing) drops them. */

#define KW_PEEK_ATTRS 64u /* at most this many attributes in a kept query */

/* Keep the values (kind-1 attribute records, n of them) a query of object o on h brought; epoch and drops are
 * the request's (nothing is kept when another request that could matter went since). */
void kw_sess_attrs_keep(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, uint64_t epoch, uint64_t drops,
                        const struct kw_buf *vals, uint32_t n);
/* When the values kept are of object o on h and of exactly t's types, in order: move their records into *vals
 * (the caller frees it) and return 1. Else 0. Either way nothing is kept after. */
int kw_sess_attrs_take(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, const CK_ATTRIBUTE *t, CK_ULONG n,
                       struct kw_buf *vals);

/* The first batch of a search on h, and whether the daemon holds more (copied). Returns 0, or -1 when out of
 * memory (nothing is kept). */
int kw_sess_find_begin(CK_SESSION_HANDLE h, const uint64_t *handles, uint32_t n, int more);
/* Whether a search is active on h (started with kw_sess_find_begin, not yet final). */
int kw_sess_find_active(CK_SESSION_HANDLE h);
/* Hand out up to max handles of h's batch. Returns -1 when h has no search here, else the number copied;
 * *ask_daemon is set when the batch is spent and the daemon holds more. */
long kw_sess_find_next(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out, CK_ULONG max, int *ask_daemon);
/* End h's search. Returns -1 when h has no search here, 1 when the daemon holds the rest (send
 * FindObjectsFinal), 0 when it is over. */
int kw_sess_find_end(CK_SESSION_HANDLE h);

#endif
