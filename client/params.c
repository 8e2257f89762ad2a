/*
 * params.c - mechanism parameter layouts (internal/wire/params.def, included as an X-macro) and their encoder.
 *
 * params.def is read four times: once for compile-time checks that every field has the type its kind says
 * (so a wrong line in params.def does not compile), once for the field lists, once for the mechanisms, once
 * for the mechanisms whose raw parameter is data only. kw_param_shape derives an Init's shape from the
 * data-only marks.
 */
#include "params.h"
#include "width.h"

#include <string.h>

/* ---- pass 1: the type of every field ---- */

#define KW_IS_ULONG(x) _Generic((x), CK_ULONG: 1, default: 0)
#define KW_IS_PTR(x) _Generic((x), unsigned char *: 1, void *: 1, default: 0)
#define KW_FIELD(S, f) (((S *)0)->f)

#define KW_STRUCT(S)
#define KW_END(S)
#define KW_MECH(M, S)
#define KW_MECH_DATA(M)
#define KW_FIELD_ULONG(S, f) _Static_assert(KW_IS_ULONG(KW_FIELD(S, f)), #S "." #f ": not a CK_ULONG");
#define KW_FIELD_BOOL(S, f) _Static_assert(_Generic(KW_FIELD(S, f), CK_BBOOL: 1, default: 0), #S "." #f ": not a CK_BBOOL");
#define KW_FIELD_BYTES(S, p, n)                                                                                \
    _Static_assert(KW_IS_PTR(KW_FIELD(S, p)), #S "." #p ": not a byte pointer");                              \
    _Static_assert(KW_IS_ULONG(KW_FIELD(S, n)), #S "." #n ": not a CK_ULONG");
#define KW_FIELD_DATA(S, p, n) KW_FIELD_BYTES(S, p, n)
#define KW_FIELD_ARRAY(S, f, n)                                                                                \
    _Static_assert(_Generic(&KW_FIELD(S, f), CK_BYTE(*)[n]: 1, default: 0), #S "." #f ": not CK_BYTE[" #n "]");
#define KW_FIELD_ULONG_PTR(S, f)                                                                               \
    _Static_assert(_Generic(KW_FIELD(S, f), CK_ULONG_PTR: 1, default: 0), #S "." #f ": not a CK_ULONG_PTR");
#define KW_FIELD_PRF_DATA(S, p, n)                                                                             \
    _Static_assert(_Generic(KW_FIELD(S, p), CK_PRF_DATA_PARAM_PTR: 1, default: 0),                            \
                   #S "." #p ": not a CK_PRF_DATA_PARAM_PTR");                                                 \
    _Static_assert(KW_IS_ULONG(KW_FIELD(S, n)), #S "." #n ": not a CK_ULONG");
#define KW_FIELD_DERIVED_KEYS(S, p, n)                                                                         \
    _Static_assert(_Generic(KW_FIELD(S, p), CK_DERIVED_KEY_PTR: 1, default: 0),                               \
                   #S "." #p ": not a CK_DERIVED_KEY_PTR");                                                    \
    _Static_assert(KW_IS_ULONG(KW_FIELD(S, n)), #S "." #n ": not a CK_ULONG");
#include "params.def"
#undef KW_STRUCT
#undef KW_END
#undef KW_MECH
#undef KW_FIELD_ULONG
#undef KW_FIELD_BOOL
#undef KW_FIELD_BYTES
#undef KW_FIELD_DATA
#undef KW_FIELD_ARRAY
#undef KW_FIELD_ULONG_PTR
#undef KW_FIELD_PRF_DATA
#undef KW_FIELD_DERIVED_KEYS

/* ---- pass 2: one field list and one layout per structure ---- */

#define KW_STRUCT(S) static const struct kw_param_field kw_fields_##S[] = {
#define KW_END(S)                                                                                              \
    }                                                                                                          \
    ;                                                                                                          \
    static const struct kw_param_layout kw_layout_##S = {#S, sizeof(S), kw_fields_##S,                         \
                                                         sizeof kw_fields_##S / sizeof kw_fields_##S[0]};
#define KW_MECH(M, S)
#define KW_MECH_DATA(M)
#define KW_FIELD_ULONG(S, f) {KW_PF_ULONG, #f, NULL, offsetof(S, f), 0, 0, 0},
#define KW_FIELD_BOOL(S, f) {KW_PF_BOOL, #f, NULL, offsetof(S, f), 0, 0, 0},
#define KW_FIELD_BYTES(S, p, n) {KW_PF_BYTES, #p, #n, offsetof(S, p), offsetof(S, n), 0, 0},
#define KW_FIELD_DATA(S, p, n) {KW_PF_BYTES, #p, #n, offsetof(S, p), offsetof(S, n), 0, 1},
#define KW_FIELD_ARRAY(S, f, n) {KW_PF_ARRAY, #f, NULL, offsetof(S, f), 0, n, 0},
#define KW_FIELD_ULONG_PTR(S, f) {KW_PF_ULONG_PTR, #f, NULL, offsetof(S, f), 0, 0, 0},
#define KW_FIELD_PRF_DATA(S, p, n) {KW_PF_PRF_DATA, #p, #n, offsetof(S, p), offsetof(S, n), 0, 0},
#define KW_FIELD_DERIVED_KEYS(S, p, n) {KW_PF_DERIVED_KEYS, #p, #n, offsetof(S, p), offsetof(S, n), 0, 0},
#include "params.def"
#undef KW_STRUCT
#undef KW_END
#undef KW_MECH

/* ---- pass 3: the mechanisms ---- */

#define KW_STRUCT(S)
#define KW_END(S)
#define KW_MECH(M, S) {M, #M, &kw_layout_##S},
#undef KW_FIELD_ULONG
#undef KW_FIELD_BOOL
#undef KW_FIELD_BYTES
#undef KW_FIELD_DATA
#undef KW_FIELD_ARRAY
#undef KW_FIELD_ULONG_PTR
#undef KW_FIELD_PRF_DATA
#undef KW_FIELD_DERIVED_KEYS
#define KW_FIELD_ULONG(S, f)
#define KW_FIELD_BOOL(S, f)
#define KW_FIELD_BYTES(S, p, n)
#define KW_FIELD_DATA(S, p, n)
#define KW_FIELD_ARRAY(S, f, n)
#define KW_FIELD_ULONG_PTR(S, f)
#define KW_FIELD_PRF_DATA(S, p, n)
#define KW_FIELD_DERIVED_KEYS(S, p, n)

static const struct kw_param_mech kw_mechs[] = {
#include "params.def"
};

/* ---- pass 4: the mechanisms whose raw parameter is data only ---- */

#undef KW_MECH
#undef KW_MECH_DATA
#define KW_MECH(M, S)
#define KW_MECH_DATA(M) M,

static const CK_MECHANISM_TYPE kw_raw_data_mechs[] = {
#include "params.def"
};

#undef KW_STRUCT
#undef KW_END
#undef KW_MECH
#undef KW_MECH_DATA
#undef KW_FIELD_ULONG
#undef KW_FIELD_BOOL
#undef KW_FIELD_BYTES
#undef KW_FIELD_DATA
#undef KW_FIELD_ARRAY
#undef KW_FIELD_ULONG_PTR
#undef KW_FIELD_PRF_DATA
#undef KW_FIELD_DERIVED_KEYS

#define KW_NMECHS (sizeof kw_mechs / sizeof kw_mechs[0])

const struct kw_param_layout *kw_param_layout(CK_MECHANISM_TYPE mech)
{
    for (size_t i = 0; i < KW_NMECHS; i++)
        if (kw_mechs[i].mech == mech)
            return kw_mechs[i].layout;
    return NULL;
}

const struct kw_param_mech *kw_param_mechs(size_t *n)
{
    *n = KW_NMECHS;
    return kw_mechs;
}

/* ---- encoder ---- */

/* Fields are read with memcpy: the structure comes from the application and its alignment is not ours to
 * assume. */
static CK_ULONG get_ulong(const uint8_t *p, size_t off)
{
    CK_ULONG v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

static const void *get_ptr(const uint8_t *p, size_t off)
{
    const void *v;
    memcpy(&v, p + off, sizeof v);
    return v;
}

CK_RV kw_param_encode(const struct kw_param_layout *l, const void *param, struct kw_buf *out)
{
    const uint8_t *s = param;
    for (size_t i = 0; i < l->nfields; i++) {
        const struct kw_param_field *f = &l->fields[i];
        switch (f->kind) {
        case KW_PF_ULONG:
            kw_enc_u(out, get_ulong(s, f->off));
            break;
        case KW_PF_BOOL:
            kw_enc_u(out, s[f->off] ? 1 : 0);
            break;
        case KW_PF_BYTES: {
            const void *p = get_ptr(s, f->off);
            CK_ULONG n = get_ulong(s, f->len_off);
            if ((!p && n > 0) || n > KW_MAX_FRAME)
                return CKR_MECHANISM_PARAM_INVALID;
            kw_enc_b(out, p, n);
            break;
        }
        case KW_PF_ARRAY:
            kw_enc_b(out, s + f->off, f->n);
            break;
        case KW_PF_ULONG_PTR: {
            const CK_ULONG *p = get_ptr(s, f->off);
            kw_enc_u(out, p ? *p : 0);
            break;
        }
        case KW_PF_PRF_DATA: {
            const CK_PRF_DATA_PARAM *p = get_ptr(s, f->off);
            CK_ULONG n = get_ulong(s, f->len_off);
            if ((!p && n > 0) || n > KW_MAX_ATTRIBUTES)
                return CKR_MECHANISM_PARAM_INVALID;
            kw_enc_A_begin(out, (uint32_t)n);
            for (CK_ULONG j = 0; j < n; j++) {
                if ((!p[j].pValue && p[j].ulValueLen > 0) || p[j].ulValueLen > KW_MAX_FRAME)
                    return CKR_MECHANISM_PARAM_INVALID;
                struct kw_buf tmp = {0};
                const void *wp;
                size_t wn;
                CK_RV rv = kw_prf_data_raw(p[j].type, p[j].pValue, p[j].ulValueLen, &tmp, &wp, &wn);
                if (rv == CKR_OK)
                    kw_enc_attr_val(out, p[j].type, wp, wn);
                kw_buf_free(&tmp);
                if (rv != CKR_OK)
                    return rv;
            }
            break;
        }
        case KW_PF_DERIVED_KEYS:
            kw_enc_u(out, get_ulong(s, f->len_off)); /* the keys themselves are not supported yet */
            break;
        default:
            return CKR_MECHANISM_PARAM_INVALID;
        }
        if (out->len > KW_MAX_FRAME)
            return CKR_MECHANISM_PARAM_INVALID;
    }
    return CKR_OK;
}

/* ---- the shape of an Init (client/fuse.c, init_shape) ---- */

static int raw_data_only(CK_MECHANISM_TYPE mech)
{
    for (size_t i = 0; i < sizeof kw_raw_data_mechs / sizeof kw_raw_data_mechs[0]; i++)
        if (kw_raw_data_mechs[i] == mech)
            return 1;
    return 0;
}

int kw_param_shape(const CK_MECHANISM *m, struct kw_buf *sh)
{
    if (raw_data_only(m->mechanism)) {
        kw_put_u64(sh, m->pParameter != NULL);
        kw_put_u64(sh, m->ulParameterLen);
        return 1;
    }
    const struct kw_param_layout *l = kw_param_layout(m->mechanism);
    if (!l || !m->pParameter || m->ulParameterLen != l->size)
        return 0;
    int data = 0;
    for (size_t i = 0; i < l->nfields; i++)
        data |= l->fields[i].data_only;
    if (!data)
        return 0;
    size_t start = sh->len;
    const uint8_t *s = m->pParameter;
    for (size_t i = 0; i < l->nfields; i++) {
        const struct kw_param_field *f = &l->fields[i];
        switch (f->kind) {
        case KW_PF_ULONG:
            kw_put_u64(sh, get_ulong(s, f->off));
            break;
        case KW_PF_BOOL:
            kw_put_u64(sh, s[f->off] ? 1 : 0);
            break;
        case KW_PF_BYTES: {
            const void *p = get_ptr(s, f->off);
            CK_ULONG n = get_ulong(s, f->len_off);
            kw_put_u64(sh, p != NULL);
            kw_put_u64(sh, n);
            if (!f->data_only && p)
                kw_put_raw(sh, p, n);
            break;
        }
        case KW_PF_ARRAY:
            kw_put_raw(sh, s + f->off, f->n);
            break;
        default: /* a list or a pointer to a number: the whole parameter is the shape */
            sh->len = start;
            return 0;
        }
    }
    return 1;
}
