/*
 * conn.h - connections to keywardd: the application state (one C_Initialize ... C_Finalize), the pool of
 * connections, autostart of a per-user daemon, the fork guard and the locks.
 */
#ifndef KEYWARD_CONN_H
#define KEYWARD_CONN_H

/* The C_* prototypes of the header get default visibility: they are the library's exported interface
 * (everything else is hidden by -fvisibility=hidden; client/exports.map exports only C_*). */
#pragma GCC visibility push(default)
#include "keyward/pkcs11.h"
#pragma GCC visibility pop

#include "codec.h"

/* Which error a call returns when no connection to the daemon can be had. */
enum { KW_SLOT_CALL = 0, KW_SESSION_CALL = 1 };

struct kw_conn;

/* One request/response exchange. */
struct kw_msg {
    struct kw_buf req;     /* the request frame: header reserved, body items appended by the caller */
    uint32_t call;
    CK_RV too_big;         /* returned when the request exceeds the frame limit (default CKR_ARGUMENTS_BAD) */
    struct kw_conn *conn;  /* after a good exchange: the connection whose buffer holds the response; it stays
                              busy (out of the pool) until kw_msg_free */
    uint8_t *resp;         /* the response frame after its length field (in conn's buffer, zeroed on free) */
    size_t resp_len;
    struct kw_dec body;    /* the response body, validated against the call's response signature */
    int has_body;
};

void kw_msg_init(struct kw_msg *m, uint32_t call);
/* Send the request on a pooled connection and read the response. Returns the daemon's rv, or
 * CKR_CRYPTOKI_NOT_INITIALIZED, CKR_HOST_MEMORY, CKR_DEVICE_ERROR (protocol error, or no daemon for a slot
 * call), CKR_DEVICE_REMOVED (the daemon died or no daemon for a session call). When the rv carries a body
 * (CKR_OK, CKR_BUFFER_TOO_SMALL, CKR_ATTRIBUTE_*), m->body reads it and it follows the response signature. */
CK_RV kw_msg_run(struct kw_msg *m, int kind);
void kw_msg_free(struct kw_msg *m); /* zeroes request and response, returns the connection to the pool */

/* CKR_OK when C_Initialize was called in this process (and not finalized), else CKR_CRYPTOKI_NOT_INITIALIZED. */
CK_RV kw_check(void);
/* C_Initialize after its argument checks: args may be NULL. */
CK_RV kw_initialize(const CK_C_INITIALIZE_ARGS *args);
/* C_Finalize after its argument checks. */
CK_RV kw_finalize(void);

/* The application lock (the application's mutex callbacks, or a pthread mutex), and under it the application
 * generation: it changes at C_Initialize, C_Finalize and when the daemon connection dies (sess.c keys its
 * state to it). */
void kw_lock(void);
void kw_unlock(void);
uint64_t kw_gen(void);

/* Sleep a little while waiting for another thread (no lock held): *us starts at 0 and grows from 20 µs,
 * doubling up to 1 ms. */
void kw_wait(int64_t *us);

/* What the daemon speaks beyond version 1's first calls (the Features call; docs/protocol.md): asked once per
 * application generation, 0 from an older daemon (or when it cannot be asked now). */
#define KW_FEATURE_FUSED 1u /* OperationInitData, VerifyInitVerify, FindObjectsFirst */
#define KW_FEATURE_RING 2u  /* RingSetup: the shared-memory transport */
uint64_t kw_features(void);

/* Whether KEYWARD_DEBUG asks for diagnostics on stderr. */
int kw_debug(void);

#endif
