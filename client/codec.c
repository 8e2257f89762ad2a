/*
 * codec.c - the Keyward wire protocol codec (docs/protocol.md). Big-endian integers, one tag byte per item.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

static const struct kw_call_info kw_calls[] = {
#define KW_CALL(id, name, req, resp, req_fields, resp_fields) {id, #name, req, resp},
#include "calls.def"
#undef KW_CALL
};

const struct kw_call_info *kw_call_lookup(uint32_t id)
{
    for (size_t i = 0; i < sizeof kw_calls / sizeof kw_calls[0]; i++)
        if (kw_calls[i].id == id)
            return &kw_calls[i];
    return NULL;
}

const struct kw_call_info *kw_call_by_name(const char *name)
{
    for (size_t i = 0; i < sizeof kw_calls / sizeof kw_calls[0]; i++)
        if (strcmp(kw_calls[i].name, name) == 0)
            return &kw_calls[i];
    return NULL;
}

/* ---- buffer ---- */

void kw_buf_free(struct kw_buf *b)
{
    if (b->p) {
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

static int kw_buf_grow(struct kw_buf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (n > SIZE_MAX / 2 - b->len) {
        b->oom = 1;
        return -1;
    }
    if (b->len + n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
        cap *= 2;
    /* Not realloc: the old bytes may be secret and must be zeroed before they are released. */
    uint8_t *p = malloc(cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    if (b->p) {
        memcpy(p, b->p, b->len);
        explicit_bzero(b->p, b->cap);
        free(b->p);
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void kw_put_raw(struct kw_buf *b, const void *p, size_t n)
{
    if (n == 0 || kw_buf_grow(b, n) < 0)
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void kw_put_u8(struct kw_buf *b, uint8_t v)
{
    kw_put_raw(b, &v, 1);
}

void kw_put_u32(struct kw_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    kw_put_raw(b, x, 4);
}

void kw_put_u64(struct kw_buf *b, uint64_t v)
{
    kw_put_u32(b, (uint32_t)(v >> 32));
    kw_put_u32(b, (uint32_t)v);
}

/* ---- items ---- */

void kw_enc_u(struct kw_buf *b, uint64_t v)
{
    kw_put_u8(b, 'u');
    kw_put_u64(b, v);
}

static void kw_bytes(struct kw_buf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        b->oom = 1;
        return;
    }
    kw_put_u32(b, (uint32_t)n);
    kw_put_raw(b, p, n);
}

void kw_enc_b(struct kw_buf *b, const void *p, size_t n)
{
    kw_put_u8(b, 'b');
    kw_bytes(b, p, n);
}

void kw_enc_p(struct kw_buf *b, const void *p, size_t n, int present)
{
    kw_put_u8(b, 'p');
    if (!present) {
        kw_put_u8(b, 0);
        return;
    }
    kw_put_u8(b, 1);
    kw_bytes(b, p, n);
}

void kw_enc_o(struct kw_buf *b, int flags, uint64_t cap)
{
    kw_put_u8(b, 'o');
    kw_put_u8(b, (uint8_t)((flags & KW_OUT_PEEK) | (flags & ~KW_OUT_PEEK ? KW_OUT_PRESENT : 0)));
    kw_put_u64(b, cap);
}

void kw_enc_U_begin(struct kw_buf *b, uint32_t n)
{
    kw_put_u8(b, 'U');
    kw_put_u32(b, n);
}

void kw_enc_A_begin(struct kw_buf *b, uint32_t n)
{
    kw_put_u8(b, 'A');
    kw_put_u32(b, n);
}

void kw_enc_attr_num(struct kw_buf *b, uint64_t type, uint8_t kind, uint64_t num)
{
    kw_put_u64(b, type);
    kw_put_u8(b, kind);
    kw_put_u64(b, num);
}

void kw_enc_attr_val(struct kw_buf *b, uint64_t type, const void *p, size_t n)
{
    kw_put_u64(b, type);
    kw_put_u8(b, KW_ATTR_VALUE);
    kw_bytes(b, p, n);
}

void kw_enc_attr_arr(struct kw_buf *b, uint64_t type, uint32_t n)
{
    kw_put_u64(b, type);
    kw_put_u8(b, KW_ATTR_ARRAY);
    kw_put_u32(b, n);
}

void kw_enc_M(struct kw_buf *b, int present, uint64_t type, int param_present, const void *param, size_t n)
{
    kw_put_u8(b, 'M');
    if (!present) {
        kw_put_u8(b, 0);
        return;
    }
    kw_put_u8(b, 1);
    kw_put_u64(b, type);
    if (!param_present) {
        kw_put_u8(b, 0);
        return;
    }
    kw_put_u8(b, 1);
    kw_bytes(b, param, n);
}

/* ---- framing ---- */

void kw_req_begin(struct kw_buf *b)
{
    b->len = 0;
    uint8_t hdr[KW_REQ_HEADER] = {0};
    kw_put_raw(b, hdr, sizeof hdr);
}

static void kw_set_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void kw_req_finish(struct kw_buf *b, uint32_t id, uint32_t call)
{
    if (b->oom || b->len < KW_REQ_HEADER)
        return;
    kw_set_u32(b->p, (uint32_t)(b->len - 4));
    kw_set_u32(b->p + 4, id);
    kw_set_u32(b->p + 8, call);
}

void kw_resp_begin(struct kw_buf *b)
{
    b->len = 0;
    uint8_t hdr[4 + KW_RESP_HEADER] = {0};
    kw_put_raw(b, hdr, sizeof hdr);
}

void kw_resp_finish(struct kw_buf *b, uint32_t id, uint32_t call, uint64_t rv)
{
    if (b->oom || b->len < 4 + KW_RESP_HEADER)
        return;
    kw_set_u32(b->p, (uint32_t)(b->len - 4));
    kw_set_u32(b->p + 4, id);
    kw_set_u32(b->p + 8, call);
    kw_set_u32(b->p + 12, (uint32_t)(rv >> 32));
    kw_set_u32(b->p + 16, (uint32_t)rv);
}

int kw_resp_parse(const uint8_t *f, size_t n, uint32_t *id, uint32_t *call, uint64_t *rv, const uint8_t **body,
                  size_t *body_len)
{
    if (n < KW_RESP_HEADER)
        return -1;
    *id = kw_get_u32(f);
    *call = kw_get_u32(f + 4);
    *rv = kw_get_u64(f + 8);
    *body = f + KW_RESP_HEADER;
    *body_len = n - KW_RESP_HEADER;
    return 0;
}

int kw_rv_carries_body(uint64_t rv)
{
    /* CKR_OK, CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID, CKR_BUFFER_TOO_SMALL */
    return rv == 0 || rv == 0x11 || rv == 0x12 || rv == 0x150;
}

/* ---- decoder ---- */

void kw_dec_init(struct kw_dec *d, const uint8_t *p, size_t n)
{
    d->p = p;
    d->n = n;
    d->err = 0;
}

static const uint8_t *kw_take(struct kw_dec *d, uint64_t n)
{
    if (d->err)
        return NULL;
    if (n > d->n) {
        d->err = 1;
        d->n = 0;
        return NULL;
    }
    const uint8_t *p = d->p;
    d->p += n;
    d->n -= n;
    return p;
}

static uint8_t kw_byte(struct kw_dec *d)
{
    const uint8_t *p = kw_take(d, 1);
    return p ? *p : 0;
}

static int kw_flag(struct kw_dec *d)
{
    uint8_t f = kw_byte(d);
    if (f > 1)
        d->err = 1;
    return !d->err && f == 1;
}

static uint32_t kw_u32(struct kw_dec *d)
{
    const uint8_t *p = kw_take(d, 4);
    return p ? kw_get_u32(p) : 0;
}

uint64_t kw_dec_raw_u64(struct kw_dec *d)
{
    const uint8_t *p = kw_take(d, 8);
    return p ? kw_get_u64(p) : 0;
}

static int kw_tag(struct kw_dec *d, uint8_t want)
{
    uint8_t t = kw_byte(d);
    if (!d->err && t != want)
        d->err = 1;
    return !d->err;
}

uint64_t kw_dec_u(struct kw_dec *d)
{
    if (!kw_tag(d, 'u'))
        return 0;
    return kw_dec_raw_u64(d);
}

static const uint8_t *kw_bytes_in(struct kw_dec *d, uint32_t *n)
{
    uint32_t len = kw_u32(d);
    const uint8_t *p = kw_take(d, len);
    *n = p ? len : 0;
    return p;
}

const uint8_t *kw_dec_b(struct kw_dec *d, uint32_t *n)
{
    *n = 0;
    if (!kw_tag(d, 'b'))
        return NULL;
    return kw_bytes_in(d, n);
}

const uint8_t *kw_dec_p(struct kw_dec *d, uint32_t *n, int *present)
{
    *n = 0;
    *present = 0;
    if (!kw_tag(d, 'p') || !kw_flag(d))
        return NULL;
    const uint8_t *p = kw_bytes_in(d, n);
    *present = p != NULL;
    return p;
}

void kw_dec_o(struct kw_dec *d, int *flags, uint64_t *cap)
{
    *flags = 0;
    *cap = 0;
    if (!kw_tag(d, 'o'))
        return;
    uint8_t f = kw_byte(d);
    if (f & ~(KW_OUT_PRESENT | KW_OUT_PEEK))
        d->err = 1;
    *flags = d->err ? 0 : f;
    *cap = kw_dec_raw_u64(d);
}

uint32_t kw_dec_U_begin(struct kw_dec *d)
{
    if (!kw_tag(d, 'U'))
        return 0;
    uint32_t n = kw_u32(d);
    if ((uint64_t)n * 8 > d->n) {
        d->err = 1;
        return 0;
    }
    return n;
}

#define KW_MIN_ATTR (8 + 1 + 4)

static uint32_t kw_count(struct kw_dec *d)
{
    uint32_t n = kw_u32(d);
    if (d->err)
        return 0;
    if (n > KW_MAX_ATTRIBUTES || (uint64_t)n * KW_MIN_ATTR > d->n) {
        d->err = 1;
        return 0;
    }
    return n;
}

uint32_t kw_dec_A_begin(struct kw_dec *d)
{
    if (!kw_tag(d, 'A'))
        return 0;
    return kw_count(d);
}

int kw_dec_attr(struct kw_dec *d, uint64_t *type, uint64_t *num, const uint8_t **val, uint32_t *vlen)
{
    *num = 0;
    *val = NULL;
    *vlen = 0;
    *type = kw_dec_raw_u64(d);
    uint8_t kind = kw_byte(d);
    if (d->err)
        return -1;
    switch (kind) {
    case KW_ATTR_LENGTH:
    case KW_ATTR_BUFFER:
    case KW_ATTR_PEEK:
        *num = kw_dec_raw_u64(d);
        break;
    case KW_ATTR_VALUE:
        *val = kw_bytes_in(d, vlen);
        break;
    case KW_ATTR_ARRAY:
        *num = kw_count(d);
        break;
    default:
        d->err = 1;
    }
    return d->err ? -1 : kind;
}

void kw_dec_M(struct kw_dec *d, int *present, uint64_t *type, const uint8_t **param, uint32_t *plen)
{
    *present = 0;
    *type = 0;
    *param = NULL;
    *plen = 0;
    if (!kw_tag(d, 'M') || !kw_flag(d))
        return;
    *type = kw_dec_raw_u64(d);
    if (kw_flag(d))
        *param = kw_bytes_in(d, plen);
    *present = !d->err;
}

/* ---- validation ---- */

static void kw_skip_template(struct kw_dec *d, int depth)
{
    uint32_t n = kw_count(d);
    for (uint32_t i = 0; i < n && !d->err; i++) {
        uint64_t type, num;
        const uint8_t *val;
        uint32_t vlen;
        int kind = kw_dec_attr(d, &type, &num, &val, &vlen);
        if (kind == KW_ATTR_ARRAY) {
            if (depth > 0) {
                d->err = 1;
                return;
            }
            /* kw_dec_attr consumed the count: rewind it and walk the nested template. */
            d->p -= 4;
            d->n += 4;
            kw_skip_template(d, depth + 1);
        }
    }
}

int kw_validate(const uint8_t *body, size_t n, const char *sig)
{
    struct kw_dec d;
    kw_dec_init(&d, body, n);
    for (const char *s = sig; *s && !d.err; s++) {
        uint32_t len;
        int present;
        uint64_t v;
        const uint8_t *p;
        switch (*s) {
        case 'u':
            kw_dec_u(&d);
            break;
        case 'b':
            kw_dec_b(&d, &len);
            break;
        case 'p':
            kw_dec_p(&d, &len, &present);
            break;
        case 'o':
            kw_dec_o(&d, &present, &v);
            break;
        case 'U':
            len = kw_dec_U_begin(&d);
            kw_take(&d, (uint64_t)len * 8);
            break;
        case 'A':
            if (kw_tag(&d, 'A'))
                kw_skip_template(&d, 0);
            break;
        case 'M':
            kw_dec_M(&d, &present, &v, &p, &len);
            break;
        default:
            return -1;
        }
    }
    return d.err || d.n != 0 ? -1 : 0;
}
