/*
 * params.h - mechanism parameters with pointers (docs/protocol.md, "Mechanism parameters"): the layouts of
 * internal/wire/params.def, included as an X-macro by params.c, and their encoder.
 *
 * A mechanism listed in params.def has its CK_MECHANISM.pParameter marshalled field by field into items of
 * the wire codec (u, b, A); every other mechanism's parameter travels as its raw bytes. The tests
 * (tests/c/golden.c) build against this file, params.c and codec.c alone.
 */
#ifndef KEYWARD_PARAMS_H
#define KEYWARD_PARAMS_H

#include <stddef.h>

/* As in conn.h: the C_* prototypes keep default visibility whichever header comes first. */
#pragma GCC visibility push(default)
#include "keyward/pkcs11.h"
#pragma GCC visibility pop

#include "codec.h"

/* Field kinds, one per KW_FIELD_* macro of params.def. */
enum kw_param_kind {
    KW_PF_ULONG,        /* CK_ULONG                                       -> u */
    KW_PF_BOOL,         /* CK_BBOOL                                       -> u (0 or 1) */
    KW_PF_BYTES,        /* pointer + CK_ULONG length                      -> b */
    KW_PF_ARRAY,        /* inline byte array of n bytes                   -> b */
    KW_PF_ULONG_PTR,    /* CK_ULONG *, NULL reads as 0                    -> u */
    KW_PF_PRF_DATA,     /* CK_PRF_DATA_PARAM * + CK_ULONG count           -> A (type, kind 1 value) */
    KW_PF_DERIVED_KEYS, /* CK_DERIVED_KEY * + CK_ULONG count              -> u (the count) */
};

struct kw_param_field {
    enum kw_param_kind kind;
    const char *name;     /* the field (the pointer field for BYTES, PRF_DATA, DERIVED_KEYS) */
    const char *len_name; /* BYTES, PRF_DATA, DERIVED_KEYS: the CK_ULONG length/count field, else NULL */
    size_t off;           /* offsetof(S, name) */
    size_t len_off;       /* offsetof(S, len_name) */
    size_t n;             /* ARRAY: its size */
    int data_only;        /* KW_FIELD_DATA (a BYTES field): only its length and presence decide an Init */
};

struct kw_param_layout {
    const char *name; /* the C structure */
    size_t size;      /* sizeof the structure: ulParameterLen must be exactly this */
    const struct kw_param_field *fields;
    size_t nfields;
};

struct kw_param_mech {
    CK_MECHANISM_TYPE mech;
    const char *name; /* CKM_... */
    const struct kw_param_layout *layout;
};

/* The layout of a mechanism's parameter, or NULL when it travels as raw bytes. */
const struct kw_param_layout *kw_param_layout(CK_MECHANISM_TYPE mech);

/* The mechanisms of params.def (for the tests): *n entries. */
const struct kw_param_mech *kw_param_mechs(size_t *n);

/* Append the encoded parameter (the items of the layout's fields, in order) to out. The parameter is a
 * structure of l->size bytes. Returns CKR_OK, or CKR_MECHANISM_PARAM_INVALID for a NULL pointer with a
 * non-zero length or a field too long for a frame. Allocation failures are left in out->oom. */
CK_RV kw_param_encode(const struct kw_param_layout *l, const void *param, struct kw_buf *out);

/* Append the shape of a mechanism's parameter to sh: what of it decides whether an Init succeeds, the data-only
 * parts of params.def (KW_FIELD_DATA, KW_MECH_DATA: an IV, a nonce, associated data, a context) counting by
 * length and presence only. Returns 1, or 0 (sh as it was) when the mechanism has no data-only part or its
 * parameter has not its structure's size: its whole encoded parameter is then its shape. Call it only for a
 * parameter that kw_param_encode accepted. */
int kw_param_shape(const CK_MECHANISM *m, struct kw_buf *sh);

#endif
