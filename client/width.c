/*
 * width.c - CK_ULONG between the C ABI and the 64-bit wire (width.h).
 */
#include "width.h"

#include <string.h>

int kw_attr_value_kind(CK_ATTRIBUTE_TYPE t)
{
    switch (t) {
    case CKA_CLASS:
    case CKA_CERTIFICATE_TYPE:
    case CKA_CERTIFICATE_CATEGORY:
    case CKA_JAVA_MIDP_SECURITY_DOMAIN:
    case CKA_NAME_HASH_ALGORITHM:
    case CKA_KEY_TYPE:
    case CKA_MODULUS_BITS:
    case CKA_PRIME_BITS:
    case CKA_SUBPRIME_BITS:
    case CKA_VALUE_BITS:
    case CKA_VALUE_LEN:
    case CKA_KEY_GEN_MECHANISM:
    case CKA_AUTH_PIN_FLAGS:
    case CKA_OTP_FORMAT:
    case CKA_OTP_LENGTH:
    case CKA_OTP_TIME_INTERVAL:
    case CKA_OTP_CHALLENGE_REQUIREMENT:
    case CKA_OTP_TIME_REQUIREMENT:
    case CKA_OTP_COUNTER_REQUIREMENT:
    case CKA_OTP_PIN_REQUIREMENT:
    case CKA_HW_FEATURE_TYPE:
    case CKA_PIXEL_X:
    case CKA_PIXEL_Y:
    case CKA_RESOLUTION:
    case CKA_CHAR_ROWS:
    case CKA_CHAR_COLUMNS:
    case CKA_BITS_PER_PIXEL:
    case CKA_MECHANISM_TYPE:
    case CKA_PROFILE_ID:
    case CKA_HSS_LEVELS:
    case CKA_HSS_LMS_TYPE:
    case CKA_HSS_LMOTS_TYPE:
    case CKA_HSS_KEYS_REMAINING:
    case CKA_PARAMETER_SET:
    case CKA_OBJECT_VALIDATION_FLAGS:
    case CKA_VALIDATION_TYPE:
    case CKA_VALIDATION_LEVEL:
    case CKA_VALIDATION_FLAG:
    case CKA_VALIDATION_AUTHORITY_TYPE:
    case CKA_TRUST_SERVER_AUTH:
    case CKA_TRUST_CLIENT_AUTH:
    case CKA_TRUST_CODE_SIGNING:
    case CKA_TRUST_EMAIL_PROTECTION:
    case CKA_TRUST_IPSEC_IKE:
    case CKA_TRUST_TIME_STAMPING:
    case CKA_TRUST_OCSP_SIGNING:
        return KW_AV_ULONG;
    case CKA_ALLOWED_MECHANISMS:
    case CKA_HSS_LMS_TYPES:
    case CKA_HSS_LMOTS_TYPES:
        return KW_AV_ULONGS;
    default:
        return KW_AV_BYTES;
    }
}

static int ulong_valued(CK_ATTRIBUTE_TYPE t)
{
    return KW_NARROW && kw_attr_value_kind(t) != KW_AV_BYTES;
}

CK_RV kw_enc_attr_value(struct kw_buf *b, CK_ATTRIBUTE_TYPE t, const void *p, CK_ULONG n)
{
    if (!ulong_valued(t)) {
        kw_enc_attr_val(b, t, p, n);
        return CKR_OK;
    }
    int kind = kw_attr_value_kind(t);
    if ((kind == KW_AV_ULONG && n != sizeof(CK_ULONG)) || n % sizeof(CK_ULONG) != 0)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    CK_ULONG k = n / sizeof(CK_ULONG);
    if (k > KW_MAX_FRAME / 8)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    kw_put_u64(b, t);
    kw_put_u8(b, KW_ATTR_VALUE);
    kw_put_u32(b, (uint32_t)(k * 8));
    const uint8_t *s = p;
    for (CK_ULONG i = 0; i < k; i++) {
        CK_ULONG v;
        memcpy(&v, s + i * sizeof v, sizeof v);
        uint64_t w = v;
        kw_put_raw(b, &w, sizeof w); /* host order, as the daemon reads it */
    }
    return CKR_OK;
}

uint64_t kw_attr_len_out(CK_ATTRIBUTE_TYPE t, CK_ULONG n)
{
    if (!ulong_valued(t) || n == CK_UNAVAILABLE_INFORMATION)
        return n;
    return (uint64_t)(n / sizeof(CK_ULONG)) * 8;
}

CK_ULONG kw_attr_len_in(CK_ATTRIBUTE_TYPE t, uint64_t n, int *fits)
{
    *fits = 1;
    if (n == UINT64_MAX)
        return CK_UNAVAILABLE_INFORMATION;
    if (ulong_valued(t))
        n = n / 8 * sizeof(CK_ULONG);
    if (!kw_ulong_fits(n)) {
        *fits = 0;
        return CK_UNAVAILABLE_INFORMATION;
    }
    return (CK_ULONG)n;
}

int kw_attr_value_in(CK_ATTRIBUTE_TYPE t, const uint8_t *val, uint32_t vlen, void *out, CK_ULONG cap,
                     CK_ULONG *outlen)
{
    if (!ulong_valued(t)) {
        if (vlen > cap)
            return -1; /* the daemon was given the capacity: a longer value breaks the protocol */
        memcpy(out, val, vlen);
        *outlen = vlen;
        return 0;
    }
    if (vlen % 8 != 0)
        return -1;
    size_t k = vlen / 8;
    if (k * sizeof(CK_ULONG) > cap) {
        *outlen = CK_UNAVAILABLE_INFORMATION;
        return 1;
    }
    for (size_t i = 0; i < k; i++) {
        uint64_t w;
        memcpy(&w, val + i * 8, 8);
        if (!kw_ulong_fits(w)) {
            *outlen = CK_UNAVAILABLE_INFORMATION;
            return 1;
        }
    }
    uint8_t *o = out;
    for (size_t i = 0; i < k; i++) {
        uint64_t w;
        memcpy(&w, val + i * 8, 8);
        CK_ULONG v = (CK_ULONG)w;
        memcpy(o + i * sizeof v, &v, sizeof v);
    }
    *outlen = (CK_ULONG)(k * sizeof(CK_ULONG));
    return 0;
}

CK_ULONG kw_dec_ul(struct kw_dec *d)
{
    uint64_t v = kw_dec_u(d);
    return kw_ulong_fits(v) ? (CK_ULONG)v : CK_UNAVAILABLE_INFORMATION;
}

CK_FLAGS kw_dec_flags(struct kw_dec *d)
{
    return (CK_FLAGS)kw_dec_u(d);
}

CK_ULONG kw_dec_handle(struct kw_dec *d)
{
    uint64_t v = kw_dec_u(d);
    if (!kw_ulong_fits(v)) {
        d->err = 1;
        return 0;
    }
    return (CK_ULONG)v;
}

/* ---- pointer-free parameters ----
 *
 * A shape lists a structure's fields: 'L' a CK_ULONG, 'B' a CK_BBOOL, 'X' 16 bytes. The C ABI aligns a CK_ULONG
 * to its size and the structure to its largest field; the wire's layout is the LP64 one. */

static size_t align_up(size_t v, size_t a)
{
    return (v + a - 1) / a * a;
}

static size_t shape_size(const char *shape, size_t ul)
{
    size_t off = 0;
    for (const char *c = shape; *c; c++) {
        if (*c == 'L')
            off = align_up(off, ul) + ul;
        else if (*c == 'B')
            off += 1;
        else
            off += 16;
    }
    return align_up(off, ul);
}

static CK_RV widen(const char *shape, const void *param, CK_ULONG n, struct kw_buf *tmp, const void **wp,
                   size_t *wn)
{
    *wp = param;
    *wn = n;
    if (!KW_NARROW || !shape || !param)
        return CKR_OK;
    if (n != shape_size(shape, sizeof(CK_ULONG)))
        return CKR_MECHANISM_PARAM_INVALID;
    const uint8_t *s = param;
    uint8_t out[64] = {0};
    size_t in = 0, o = 0;
    for (const char *c = shape; *c; c++) {
        if (*c == 'L') {
            in = align_up(in, sizeof(CK_ULONG));
            o = align_up(o, 8);
            CK_ULONG v;
            memcpy(&v, s + in, sizeof v);
            uint64_t w = v;
            memcpy(out + o, &w, 8);
            in += sizeof v;
            o += 8;
        } else {
            size_t k = *c == 'B' ? 1 : 16;
            memcpy(out + o, s + in, k);
            in += k;
            o += k;
        }
    }
    tmp->len = 0;
    kw_put_raw(tmp, out, shape_size(shape, 8));
    if (tmp->oom)
        return CKR_HOST_MEMORY;
    *wp = tmp->p;
    *wn = tmp->len;
    return CKR_OK;
}

/* The pointer-free parameters with a CK_ULONG among the mechanisms Keyward implements. */
static const char *mech_shape(CK_MECHANISM_TYPE m)
{
    switch (m) {
    case CKM_RSA_PKCS_PSS:
    case CKM_SHA1_RSA_PKCS_PSS:
    case CKM_SHA224_RSA_PKCS_PSS:
    case CKM_SHA256_RSA_PKCS_PSS:
    case CKM_SHA384_RSA_PKCS_PSS:
    case CKM_SHA512_RSA_PKCS_PSS:
    case CKM_SHA3_224_RSA_PKCS_PSS:
    case CKM_SHA3_256_RSA_PKCS_PSS:
    case CKM_SHA3_384_RSA_PKCS_PSS:
    case CKM_SHA3_512_RSA_PKCS_PSS:
        return "LLL"; /* CK_RSA_PKCS_PSS_PARAMS */
    case CKM_SHA_1_HMAC_GENERAL:
    case CKM_SHA224_HMAC_GENERAL:
    case CKM_SHA256_HMAC_GENERAL:
    case CKM_SHA384_HMAC_GENERAL:
    case CKM_SHA512_HMAC_GENERAL:
    case CKM_SHA3_224_HMAC_GENERAL:
    case CKM_SHA3_256_HMAC_GENERAL:
    case CKM_SHA3_384_HMAC_GENERAL:
    case CKM_SHA3_512_HMAC_GENERAL:
    case CKM_AES_CMAC_GENERAL:
        return "L"; /* CK_MAC_GENERAL_PARAMS */
    case CKM_AES_CTR:
        return "LX"; /* CK_AES_CTR_PARAMS */
    default:
        return NULL;
    }
}

CK_RV kw_param_raw(CK_MECHANISM_TYPE m, const void *param, CK_ULONG n, struct kw_buf *tmp, const void **wp,
                   size_t *wn)
{
    return widen(mech_shape(m), param, n, tmp, wp, wn);
}

CK_RV kw_prf_data_raw(CK_ULONG type, const void *param, CK_ULONG n, struct kw_buf *tmp, const void **wp,
                      size_t *wn)
{
    const char *shape = NULL;
    if (type == CK_SP800_108_ITERATION_VARIABLE || type == CK_SP800_108_OPTIONAL_COUNTER)
        shape = "BL"; /* CK_SP800_108_COUNTER_FORMAT */
    else if (type == CK_SP800_108_DKM_LENGTH)
        shape = "LBL"; /* CK_SP800_108_DKM_LENGTH_FORMAT */
    return widen(shape, param, n, tmp, wp, wn);
}
