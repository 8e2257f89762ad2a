/*
 * width.h - CK_ULONG between the C ABI and the wire (docs/protocol.md, "Word size").
 *
 * The wire is 64-bit whatever the client: integers are u64 items, and a CK_ULONG inside an attribute value or a
 * pointer-free mechanism parameter is 8 bytes in host order. On LP64 the C ABI already has that layout and
 * every function here is the identity. On ILP32 (armhf) the client widens what it sends and narrows what it
 * gets; a value from the daemon that does not fit 32 bits is never truncated:
 *   - an attribute value (C_GetAttributeValue): ulValueLen = CK_UNAVAILABLE_INFORMATION and
 *     CKR_BUFFER_TOO_SMALL (no buffer of the caller's word size can hold it: the specification's case 5);
 *   - an output length: the same (the length convention's CKR_BUFFER_TOO_SMALL);
 *   - a counter or size of an info structure: CK_UNAVAILABLE_INFORMATION, which the specification allows there;
 *   - a handle or a list entry (slot, mechanism, object): the decoder's error, so CKR_DEVICE_ERROR.
 * A template's CK_ULONG attribute whose ulValueLen is not sizeof(CK_ULONG) (a multiple of it for arrays such as
 * CKA_ALLOWED_MECHANISMS) gets CKR_ATTRIBUTE_VALUE_INVALID on ILP32; a pointer-free mechanism parameter of
 * the wrong size CKR_MECHANISM_PARAM_INVALID.
 */
#ifndef KEYWARD_WIDTH_H
#define KEYWARD_WIDTH_H

#include <stddef.h>
#include <stdint.h>

/* As in conn.h: the C_* prototypes keep default visibility whichever header comes first. */
#pragma GCC visibility push(default)
#include "keyward/pkcs11.h"
#pragma GCC visibility pop

#include "codec.h"

/* Whether CK_ULONG is narrower than the wire's integers. */
#define KW_NARROW (sizeof(CK_ULONG) < sizeof(uint64_t))

/* What an attribute's value is made of: bytes, one CK_ULONG, or an array of CK_ULONG. */
enum { KW_AV_BYTES = 0, KW_AV_ULONG = 1, KW_AV_ULONGS = 2 };
int kw_attr_value_kind(CK_ATTRIBUTE_TYPE t);

/* Append a kind-1 attribute (a template value), widened. CKR_OK or CKR_ATTRIBUTE_VALUE_INVALID. */
CK_RV kw_enc_attr_value(struct kw_buf *b, CK_ATTRIBUTE_TYPE t, const void *p, CK_ULONG n);

/* The wire length (or capacity) of a caller length of an attribute of type t. */
uint64_t kw_attr_len_out(CK_ATTRIBUTE_TYPE t, CK_ULONG n);

/* The caller's length for a wire length of an attribute of type t (a kind-0 result); CK_UNAVAILABLE_INFORMATION
 * stays so, and a length that does not fit becomes it. Sets *fits to 0 in that last case. */
CK_ULONG kw_attr_len_in(CK_ATTRIBUTE_TYPE t, uint64_t n, int *fits);

/* Copy a kind-1 result of type t into the caller's buffer out of cap bytes and set *outlen. Returns 0; 1 when
 * the value does not fit the caller's word size or buffer (the caller answers CKR_BUFFER_TOO_SMALL and
 * *outlen is CK_UNAVAILABLE_INFORMATION); -1 when the daemon's value is malformed (not a multiple of 8 bytes
 * for a CK_ULONG kind). */
int kw_attr_value_in(CK_ATTRIBUTE_TYPE t, const uint8_t *val, uint32_t vlen, void *out, CK_ULONG cap,
                     CK_ULONG *outlen);

/* Whether v fits a CK_ULONG. */
static inline int kw_ulong_fits(uint64_t v)
{
    return !KW_NARROW || v <= (uint64_t)(CK_ULONG)-1;
}

/* An info structure's counter or size (CK_TOKEN_INFO, CK_SESSION_INFO ...): CK_UNAVAILABLE_INFORMATION when it
 * does not fit (the daemon's CK_UNAVAILABLE_INFORMATION is all ones on the wire too). */
CK_ULONG kw_dec_ul(struct kw_dec *d);

/* A flags field: the specification defines no flag above bit 31, so the bits a 32-bit CK_FLAGS cannot hold
 * carry nothing and are dropped (CK_UNAVAILABLE_INFORMATION would claim every flag). */
CK_FLAGS kw_dec_flags(struct kw_dec *d);

/* A handle, identifier or list entry: the decoder's error when it does not fit. */
CK_ULONG kw_dec_handle(struct kw_dec *d);

/* A pointer-free mechanism parameter in the wire's layout: *wp and *wn are param itself on LP64 (or for a
 * mechanism whose parameter has no CK_ULONG), else the widened copy in tmp. CKR_OK or
 * CKR_MECHANISM_PARAM_INVALID (the size is not the structure's). */
CK_RV kw_param_raw(CK_MECHANISM_TYPE m, const void *param, CK_ULONG n, struct kw_buf *tmp, const void **wp,
                   size_t *wn);

/* The same for the value of a CK_PRF_DATA_PARAM of SP 800-108 (by its type). */
CK_RV kw_prf_data_raw(CK_ULONG type, const void *param, CK_ULONG n, struct kw_buf *tmp, const void **wp,
                      size_t *wn);

#endif
