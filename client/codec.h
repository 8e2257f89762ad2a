/*
 * codec.h - the Keyward wire protocol codec (docs/protocol.md): the table of calls (internal/wire/calls.def,
 * included as an X-macro), an item encoder, a response validator and an item decoder, and framing.
 *
 * Nothing here knows about Cryptoki types: items are u64, byte strings and attributes. The tests
 * (tests/c/golden.c) build against this file and codec.c alone.
 */
#ifndef KEYWARD_CODEC_H
#define KEYWARD_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "wire_gen.h" /* KW_VERSION, KW_MAX_FRAME, KW_MAX_ATTRIBUTES, OP_*, KW_ATTR_* ... (consts.def) */

#define KW_REQ_HEADER 12u           /* length, request id, call id */
#define KW_RESP_HEADER 16u          /* request id, call id, rv (after the length field) */

/* Call ids, from calls.def: KW_CALL_Hello, KW_CALL_GetInfo, ... */
enum kw_call_id {
#define KW_CALL(id, name, req, resp, req_fields, resp_fields) KW_CALL_##name = id,
#include "calls.def"
#undef KW_CALL
};

struct kw_call_info {
    uint32_t id;
    const char *name;
    const char *req;  /* request signature */
    const char *resp; /* response signature */
};

/* The description of a call, or NULL for an unknown id/name. */
const struct kw_call_info *kw_call_lookup(uint32_t id);
const struct kw_call_info *kw_call_by_name(const char *name);

/* A growable buffer. Allocation failures are sticky (oom) and checked once, when the buffer is used. */
struct kw_buf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

void kw_buf_free(struct kw_buf *b); /* zeroes the bytes (explicit_bzero) before freeing */
void kw_put_raw(struct kw_buf *b, const void *p, size_t n);
void kw_put_u8(struct kw_buf *b, uint8_t v);
void kw_put_u32(struct kw_buf *b, uint32_t v);
void kw_put_u64(struct kw_buf *b, uint64_t v);

/* Items. */
void kw_enc_u(struct kw_buf *b, uint64_t v);
void kw_enc_b(struct kw_buf *b, const void *p, size_t n);
void kw_enc_p(struct kw_buf *b, const void *p, size_t n, int present);
/* An output-buffer item: flags KW_OUT_PRESENT (the buffer is not NULL; any true value of the old "present"
 * argument means it) and KW_OUT_PEEK (docs/protocol.md, "Kept output": only to a daemon with FeatureKeep). */
#define KW_OUT_PRESENT 1
#define KW_OUT_PEEK 2
void kw_enc_o(struct kw_buf *b, int flags, uint64_t cap);
void kw_enc_U_begin(struct kw_buf *b, uint32_t n); /* then n kw_put_u64 */
void kw_enc_A_begin(struct kw_buf *b, uint32_t n); /* then n attributes */
void kw_enc_attr_num(struct kw_buf *b, uint64_t type, uint8_t kind, uint64_t num); /* kinds 0, 3 and 4 */
void kw_enc_attr_val(struct kw_buf *b, uint64_t type, const void *p, size_t n);   /* kind 1 */
void kw_enc_attr_arr(struct kw_buf *b, uint64_t type, uint32_t n);                /* kind 2, then n attributes */
void kw_enc_M(struct kw_buf *b, int present, uint64_t type, int param_present, const void *param, size_t n);

/* Framing. A request is built in a kw_buf that starts with kw_req_begin (which reserves the header); the body
 * items follow; kw_req_finish fills the header. */
void kw_req_begin(struct kw_buf *b);
void kw_req_finish(struct kw_buf *b, uint32_t id, uint32_t call);
/* Same for a response (the tests and a test daemon use it). */
void kw_resp_begin(struct kw_buf *b);
void kw_resp_finish(struct kw_buf *b, uint32_t id, uint32_t call, uint64_t rv);

/* Parse a response frame's content (the bytes after the length field). Returns 0 or -1 (too short). */
int kw_resp_parse(const uint8_t *f, size_t n, uint32_t *id, uint32_t *call, uint64_t *rv, const uint8_t **body,
                  size_t *body_len);

/* Whether a response with this rv carries the call's response items (docs/protocol.md). */
int kw_rv_carries_body(uint64_t rv);

/* Check that body is exactly a well-formed sequence of items following sig. Returns 0 or -1. */
int kw_validate(const uint8_t *body, size_t n, const char *sig);

/* A decoder over a body. Errors are sticky (err); readers return zero values after an error. Byte strings
 * alias the body. Use it on bodies checked by kw_validate, but it bounds-checks anyway. */
struct kw_dec {
    const uint8_t *p;
    size_t n;
    int err;
};

void kw_dec_init(struct kw_dec *d, const uint8_t *p, size_t n);
uint64_t kw_dec_u(struct kw_dec *d);
const uint8_t *kw_dec_b(struct kw_dec *d, uint32_t *n);
const uint8_t *kw_dec_p(struct kw_dec *d, uint32_t *n, int *present);
void kw_dec_o(struct kw_dec *d, int *flags, uint64_t *cap); /* *flags: KW_OUT_PRESENT | KW_OUT_PEEK */
uint32_t kw_dec_U_begin(struct kw_dec *d);  /* then n kw_dec_raw_u64 */
uint64_t kw_dec_raw_u64(struct kw_dec *d);
uint32_t kw_dec_A_begin(struct kw_dec *d);  /* then n kw_dec_attr */
/* One attribute: kinds 0/3 set *num; kind 1 sets *val and *vlen; kind 2 sets *num to the nested count, and the
 * nested attributes follow (read them with kw_dec_attr). Returns the kind, or -1. */
int kw_dec_attr(struct kw_dec *d, uint64_t *type, uint64_t *num, const uint8_t **val, uint32_t *vlen);
/* A mechanism: *present 0 for NULL; *param NULL when the parameter pointer is NULL. */
void kw_dec_M(struct kw_dec *d, int *present, uint64_t *type, const uint8_t **param, uint32_t *plen);

#include "calls_gen.h" /* KW_REQ_FIELDS_Name, KW_RESP_FIELDS_Name, kw_req_Name (calls.def) */

/* A call's request items counted by kind (each kind's count in 4 bits of its own): a call encoded by hand, having
 * no kw_req_Name (its request has M or A items), asserts at compile time that calls.def still lists the items it
 * writes, as KW_REQ_IS(GenerateKey, KW_KIND_u + KW_KIND_M + KW_KIND_A). The order is the daemon's to check. */
#define KW_KIND_u 0x1u
#define KW_KIND_b 0x10u
#define KW_KIND_p 0x100u
#define KW_KIND_o 0x1000u
#define KW_KIND_M 0x10000u
#define KW_KIND_A 0x100000u
#define KW_KIND_U 0x1000000u
#define KW_KIND_ADD(letter, field) +KW_KIND_##letter
#define KW_REQ_KINDS(Name) (0u KW_REQ_FIELDS_##Name(KW_KIND_ADD))
#define KW_REQ_IS(Name, kinds) \
    _Static_assert(KW_REQ_KINDS(Name) == (kinds), #Name ": the hand encoding no longer matches calls.def")

static inline uint32_t kw_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t kw_get_u64(const uint8_t *p)
{
    return (uint64_t)kw_get_u32(p) << 32 | kw_get_u32(p + 4);
}

#endif
