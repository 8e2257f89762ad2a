/*
 * codec_fuzz.c - libFuzzer target for the C client's decoder (client/codec.c): what a hostile or broken daemon
 * sends the client. Build: clang -fsanitize=fuzzer,address,undefined (tests/fuzz.mk, `make fuzz`).
 *
 * One input is one response frame after its length field, as conn.c hands it to the codec: kw_resp_parse, then
 * the body against every call's response signature (kw_validate) and, where valid, decoded item by item as
 * entry.c and fuse.c do; then the same bytes decoded without validation under the signature the first byte
 * picks (the decoder bounds-checks on its own). A crash, an ASan or UBSan report, or a validated body that does
 * not decode to its end is a failure.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

#define KW_FUZZ_MAX_CALL 64

static void decode_attrs(struct kw_dec *d, uint32_t n, int depth)
{
    for (uint32_t i = 0; i < n && !d->err; i++) {
        uint64_t type, num;
        const uint8_t *val;
        uint32_t vlen;
        int kind = kw_dec_attr(d, &type, &num, &val, &vlen);
        if (kind == KW_ATTR_VALUE && val && vlen > 0) {
            volatile uint8_t sink = val[0] ^ val[vlen - 1]; /* the bytes are in the body */
            (void)sink;
        }
        if (kind == KW_ATTR_ARRAY && depth < 8)
            decode_attrs(d, (uint32_t)(num > UINT32_MAX ? UINT32_MAX : num), depth + 1);
    }
}

/* Decode a body item by item under sig; returns the decoder's error state at the end (0: read exactly). */
static int decode(const uint8_t *body, size_t n, const char *sig)
{
    struct kw_dec d;
    kw_dec_init(&d, body, n);
    for (const char *s = sig; *s && !d.err; s++) {
        uint32_t len, cnt;
        int present;
        uint64_t v;
        const uint8_t *p;
        switch (*s) {
        case 'u':
            (void)kw_dec_u(&d);
            break;
        case 'b':
            p = kw_dec_b(&d, &len);
            if (p && len > 0) {
                volatile uint8_t sink = p[len - 1];
                (void)sink;
            }
            break;
        case 'p':
            p = kw_dec_p(&d, &len, &present);
            if (p && len > 0) {
                volatile uint8_t sink = p[len - 1];
                (void)sink;
            }
            break;
        case 'o':
            kw_dec_o(&d, &present, &v);
            break;
        case 'U':
            cnt = kw_dec_U_begin(&d);
            for (uint32_t i = 0; i < cnt && !d.err; i++)
                (void)kw_dec_raw_u64(&d);
            break;
        case 'A':
            decode_attrs(&d, kw_dec_A_begin(&d), 0);
            break;
        case 'M':
            kw_dec_M(&d, &present, &v, &p, &len);
            if (p && len > 0) {
                volatile uint8_t sink = p[len - 1];
                (void)sink;
            }
            break;
        default:
            abort(); /* a signature letter the codec does not know */
        }
    }
    return d.err || d.n != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so that ASan sees any read past the frame. */
    uint8_t *f = malloc(size ? size : 1);
    if (!f)
        return 0;
    memcpy(f, data, size);
    uint32_t id, call;
    uint64_t rv;
    const uint8_t *body;
    size_t blen;
    if (kw_resp_parse(f, size, &id, &call, &rv, &body, &blen) == 0) {
        (void)kw_rv_carries_body(rv);
        for (uint32_t c = 0; c < KW_FUZZ_MAX_CALL; c++) {
            const struct kw_call_info *ci = kw_call_lookup(c);
            if (!ci)
                continue;
            if (kw_validate(body, blen, ci->resp) == 0 && decode(body, blen, ci->resp) != 0)
                abort(); /* validated, but the decoder disagrees */
            if (kw_validate(body, blen, ci->req) == 0 && decode(body, blen, ci->req) != 0)
                abort();
        }
    }
    /* Unvalidated: the whole input as a body under the signature the first byte picks. */
    if (size > 0) {
        const struct kw_call_info *ci = kw_call_lookup(data[0] % KW_FUZZ_MAX_CALL);
        if (ci) {
            (void)decode(f + 1, size - 1, ci->resp);
            (void)decode(f + 1, size - 1, ci->req);
        }
    }
    free(f);
    return 0;
}
