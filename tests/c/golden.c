/*
 * golden.c - the C codec against internal/wire/testdata/golden.txt (the Go codec's test reads the same file).
 *
 * For each vector: encode the described frame with client/codec.c and compare with the bytes; then parse the
 * frame, validate its body against the call's signature, decode it item by item and re-encode it, which must
 * give the same bytes; and check that the validator rejects the body cut short by one byte or followed by one
 * more.
 *
 * Then the mechanism parameter layouts (client/params.c, from internal/wire/params.def) against
 * internal/wire/testdata/params.txt: for each vector, build the C structure from the named fields (found by
 * name through the layout table), marshal it with kw_param_encode and compare with the bytes.
 *
 * Usage: golden [GOLDEN [PARAMS]] (default internal/wire/testdata/golden.txt and .../params.txt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "params.h"
#include "width.h"

static int failures;
static const char *cur_file = "golden.txt";

static void fail(int line, const char *desc, const char *why)
{
    fprintf(stderr, "%s:%d: %s\n    %s\n", cur_file, line, desc, why);
    failures++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode hex into b (appended). Returns 0 or -1. */
static int put_hex(struct kw_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        kw_put_u8(b, (uint8_t)(hi << 4 | lo));
    }
    return 0;
}

static int parse_num(const char *s, uint64_t *v)
{
    char *end;
    if (!*s)
        return -1;
    *v = strtoull(s, &end, 0);
    return *end ? -1 : 0;
}

/* Tokens of one line. */
struct toks {
    char **t;
    size_t n, i;
};

static const char *next_tok(struct toks *t)
{
    return t->i < t->n ? t->t[t->i++] : NULL;
}

/* Encode COUNT attribute tokens (a:TYPE:KIND:PAYLOAD). depth limits nesting. */
static int enc_attrs(struct kw_buf *b, struct toks *t, uint64_t count, int depth)
{
    for (uint64_t i = 0; i < count; i++) {
        const char *tok = next_tok(t);
        if (!tok || strncmp(tok, "a:", 2) != 0)
            return -1;
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", tok + 2);
        char *type_s = buf, *kind_s = strchr(type_s, ':');
        if (!kind_s)
            return -1;
        *kind_s++ = 0;
        char *pay = strchr(kind_s, ':');
        if (!pay)
            return -1;
        *pay++ = 0;
        uint64_t type, kind, num;
        if (parse_num(type_s, &type) || parse_num(kind_s, &kind))
            return -1;
        switch (kind) {
        case KW_ATTR_LENGTH:
        case KW_ATTR_BUFFER:
        case KW_ATTR_PEEK:
            if (parse_num(pay, &num))
                return -1;
            kw_enc_attr_num(b, type, (uint8_t)kind, num);
            break;
        case KW_ATTR_VALUE: {
            struct kw_buf v = {0};
            if (put_hex(&v, pay)) {
                kw_buf_free(&v);
                return -1;
            }
            kw_enc_attr_val(b, type, v.p, v.len);
            kw_buf_free(&v);
            break;
        }
        case KW_ATTR_ARRAY:
            if (depth > 0 || parse_num(pay, &num))
                return -1;
            kw_enc_attr_arr(b, type, (uint32_t)num);
            if (enc_attrs(b, t, num, depth + 1))
                return -1;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* Encode the items of a description. */
static int enc_items(struct kw_buf *b, struct toks *t)
{
    const char *tok;
    while ((tok = next_tok(t)) != NULL) {
        char kind = tok[0];
        if (tok[1] != ':')
            return -1;
        const char *val = tok + 2;
        uint64_t v;
        switch (kind) {
        case 'u':
            if (parse_num(val, &v))
                return -1;
            kw_enc_u(b, v);
            break;
        case 'b': {
            struct kw_buf x = {0};
            int r = put_hex(&x, val);
            if (!r)
                kw_enc_b(b, x.p, x.len);
            kw_buf_free(&x);
            if (r)
                return -1;
            break;
        }
        case 'p': {
            if (strcmp(val, "-") == 0) {
                kw_enc_p(b, NULL, 0, 0);
                break;
            }
            struct kw_buf x = {0};
            int r = put_hex(&x, val);
            if (!r)
                kw_enc_p(b, x.p, x.len, 1);
            kw_buf_free(&x);
            if (r)
                return -1;
            break;
        }
        case 'o':
            /* + present, - NULL; * present with the peek flag, ? NULL with the peek flag */
            if (!val[0] || !strchr("+-*?", val[0]) || val[1] != ':' || parse_num(val + 2, &v))
                return -1;
            kw_enc_o(b, (val[0] == '+' || val[0] == '*' ? KW_OUT_PRESENT : 0) | (val[0] == '*' || val[0] == '?' ? KW_OUT_PEEK : 0), v);
            break;
        case 'U': {
            uint32_t n = 0;
            if (*val)
                for (const char *s = val; s; s = strchr(s, ','), s = s ? s + 1 : NULL)
                    n++;
            kw_enc_U_begin(b, n);
            char buf[4096];
            snprintf(buf, sizeof buf, "%s", val);
            for (char *save, *s = strtok_r(buf, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
                if (parse_num(s, &v))
                    return -1;
                kw_put_u64(b, v);
            }
            break;
        }
        case 'A':
            if (parse_num(val, &v))
                return -1;
            kw_enc_A_begin(b, (uint32_t)v);
            if (enc_attrs(b, t, v, 0))
                return -1;
            break;
        case 'M': {
            if (strcmp(val, "-") == 0) {
                kw_enc_M(b, 0, 0, 0, NULL, 0);
                break;
            }
            char buf[4096];
            snprintf(buf, sizeof buf, "%s", val);
            char *param = strchr(buf, ':');
            if (!param)
                return -1;
            *param++ = 0;
            if (parse_num(buf, &v))
                return -1;
            if (strcmp(param, "-") == 0) {
                kw_enc_M(b, 1, v, 0, NULL, 0);
                break;
            }
            struct kw_buf x = {0};
            int r = put_hex(&x, param);
            if (!r)
                kw_enc_M(b, 1, v, 1, x.p, x.len);
            kw_buf_free(&x);
            if (r)
                return -1;
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

/* Decode a template with the C decoder and re-encode it. */
static void recode_attrs(struct kw_dec *d, struct kw_buf *out, uint32_t n)
{
    for (uint32_t i = 0; i < n && !d->err; i++) {
        uint64_t type, num;
        const uint8_t *val;
        uint32_t vlen;
        int kind = kw_dec_attr(d, &type, &num, &val, &vlen);
        switch (kind) {
        case KW_ATTR_LENGTH:
        case KW_ATTR_BUFFER:
        case KW_ATTR_PEEK:
            kw_enc_attr_num(out, type, (uint8_t)kind, num);
            break;
        case KW_ATTR_VALUE:
            kw_enc_attr_val(out, type, val, vlen);
            break;
        case KW_ATTR_ARRAY:
            kw_enc_attr_arr(out, type, (uint32_t)num);
            recode_attrs(d, out, (uint32_t)num);
            break;
        default:
            return;
        }
    }
}

/* Decode a body item by item following sig and re-encode it into out. */
static int recode(const uint8_t *body, size_t n, const char *sig, struct kw_buf *out)
{
    struct kw_dec d;
    kw_dec_init(&d, body, n);
    for (const char *s = sig; *s && !d.err; s++) {
        uint32_t len;
        int present, pp;
        uint64_t v;
        const uint8_t *p;
        switch (*s) {
        case 'u':
            kw_enc_u(out, kw_dec_u(&d));
            break;
        case 'b':
            p = kw_dec_b(&d, &len);
            kw_enc_b(out, p, len);
            break;
        case 'p':
            p = kw_dec_p(&d, &len, &present);
            kw_enc_p(out, p, len, present);
            break;
        case 'o':
            kw_dec_o(&d, &present, &v);
            kw_enc_o(out, present, v);
            break;
        case 'U':
            len = kw_dec_U_begin(&d);
            kw_enc_U_begin(out, len);
            for (uint32_t i = 0; i < len; i++)
                kw_put_u64(out, kw_dec_raw_u64(&d));
            break;
        case 'A':
            len = kw_dec_A_begin(&d);
            kw_enc_A_begin(out, len);
            recode_attrs(&d, out, len);
            break;
        case 'M':
            kw_dec_M(&d, &present, &v, &p, &len);
            pp = p != NULL;
            kw_enc_M(out, present, v, pp, p, len);
            break;
        default:
            return -1;
        }
    }
    return d.err || d.n ? -1 : 0;
}

static void hexdump(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < cap; i++)
        o += (size_t)snprintf(dst + o, cap - o, "%02x", p[i]);
    dst[o] = 0;
}

static void check_line(int lineno, char *line, int *passed)
{
    char *eq = strstr(line, " =");
    if (!eq) {
        fail(lineno, line, "no \" = \"");
        return;
    }
    *eq = 0;
    const char *hex = eq + 2;
    while (*hex == ' ')
        hex++;
    char desc[8192];
    snprintf(desc, sizeof desc, "%s", line);

    struct kw_buf want = {0}, got = {0}, again = {0};
    char *tokv[2048];
    struct toks t = {tokv, 0, 0};
    for (char *save, *s = strtok_r(line, " \t", &save); s && t.n < 2048; s = strtok_r(NULL, " \t", &save))
        tokv[t.n++] = s;
    const char *what = NULL;
    uint64_t id = 0, rv = 0;
    const struct kw_call_info *ci = NULL;
    int is_resp = 0;
    if (!*hex) {
        what = "no bytes: regenerate with go test ./internal/wire -run TestGolden -update";
        goto out;
    }
    if (put_hex(&want, hex)) {
        what = "bad hex";
        goto out;
    }
    if (t.n < 3 || (strcmp(tokv[0], "req") && strcmp(tokv[0], "resp"))) {
        what = "bad description";
        goto out;
    }
    is_resp = strcmp(tokv[0], "resp") == 0;
    ci = kw_call_by_name(tokv[2]);
    if (parse_num(tokv[1], &id) || !ci) {
        what = "bad id or unknown call";
        goto out;
    }
    t.i = 3;
    if (is_resp) {
        if (t.n < 4 || parse_num(tokv[3], &rv)) {
            what = "bad rv";
            goto out;
        }
        t.i = 4;
        kw_resp_begin(&got);
    } else {
        kw_req_begin(&got);
    }
    if (enc_items(&got, &t)) {
        what = "cannot parse the items";
        goto out;
    }
    if (is_resp)
        kw_resp_finish(&got, (uint32_t)id, ci->id, rv);
    else
        kw_req_finish(&got, (uint32_t)id, ci->id);
    if (got.oom || got.len != want.len || memcmp(got.p, want.p, got.len) != 0) {
        static char msg[20000];
        char h[16384];
        hexdump(h, sizeof h, got.p, got.len);
        snprintf(msg, sizeof msg, "encoded %s", h);
        what = msg;
        goto out;
    }

    /* Parse the frame back and re-encode it from the decoded items. */
    if (want.len < 4 || kw_get_u32(want.p) != want.len - 4) {
        what = "bad length field";
        goto out;
    }
    const uint8_t *f = want.p + 4, *body;
    size_t flen = want.len - 4, blen;
    uint32_t fid, fcall;
    uint64_t frv = 0;
    const char *sig;
    if (is_resp) {
        if (kw_resp_parse(f, flen, &fid, &fcall, &frv, &body, &blen) < 0) {
            what = "response header";
            goto out;
        }
        sig = ci->resp;
        kw_resp_begin(&again);
    } else {
        if (flen < 8) {
            what = "request header";
            goto out;
        }
        fid = kw_get_u32(f);
        fcall = kw_get_u32(f + 4);
        body = f + 8;
        blen = flen - 8;
        sig = ci->req;
        kw_req_begin(&again);
    }
    if (fid != id || fcall != ci->id || frv != rv) {
        what = "header fields";
        goto out;
    }
    /* A response body is present for the rv values that carry one (and validates whenever present). */
    int with_body = !is_resp || blen > 0 || sig[0] == 0;
    if (is_resp && sig[0] != 0 && kw_rv_carries_body(rv) != (blen > 0)) {
        what = "body presence does not follow the rv";
        goto out;
    }
    if (with_body) {
        if (kw_validate(body, blen, sig) < 0) {
            what = "body does not validate against the signature";
            goto out;
        }
        if (blen > 0 && kw_validate(body, blen - 1, sig) == 0) {
            what = "validator accepts a truncated body";
            goto out;
        }
        struct kw_buf longer = {0};
        kw_put_raw(&longer, body, blen);
        kw_put_u8(&longer, 0);
        int accepted = kw_validate(longer.p, longer.len, sig) == 0;
        kw_buf_free(&longer);
        if (accepted) {
            what = "validator accepts a trailing byte";
            goto out;
        }
        if (recode(body, blen, sig, &again) < 0) {
            what = "decoder fails";
            goto out;
        }
    }
    if (is_resp)
        kw_resp_finish(&again, fid, fcall, frv);
    else
        kw_req_finish(&again, fid, fcall);
    if (again.len != want.len || memcmp(again.p, want.p, want.len) != 0) {
        what = "decode + re-encode differs";
        goto out;
    }
out:
    if (what)
        fail(lineno, desc, what);
    else
        (*passed)++;
    kw_buf_free(&want);
    kw_buf_free(&got);
    kw_buf_free(&again);
}

/* ---- mechanism parameters (params.txt) ---- */

/* Allocations of one vector, freed together. */
struct allocs {
    void *p[256];
    size_t n;
};

static void *keep(struct allocs *a, void *p)
{
    if (p && a->n < sizeof a->p / sizeof a->p[0])
        a->p[a->n++] = p;
    else
        free(p);
    return p;
}

/* Hex into a fresh allocation (NULL for an empty string). Returns 0 or -1. */
static int hex_alloc(struct allocs *a, const char *hex, void **out, CK_ULONG *len)
{
    struct kw_buf b = {0};
    *out = NULL;
    *len = 0;
    if (put_hex(&b, hex) || b.oom) {
        kw_buf_free(&b);
        return -1;
    }
    if (b.len > 0) {
        *out = keep(a, malloc(b.len));
        if (!*out) {
            kw_buf_free(&b);
            return -1;
        }
        memcpy(*out, b.p, b.len);
    }
    *len = b.len;
    kw_buf_free(&b);
    return 0;
}

static void set_ulong(uint8_t *s, size_t off, CK_ULONG v)
{
    memcpy(s + off, &v, sizeof v);
}

static void set_ptr(uint8_t *s, size_t off, const void *p)
{
    memcpy(s + off, &p, sizeof p);
}

/* params.txt writes SP 800-108 PRF data values in the LP64 layout (the wire's); on ILP32 the caller's structure
 * is the narrow one: CK_SP800_108_COUNTER_FORMAT {bool, pad 3, ulong}, CK_SP800_108_DKM_LENGTH_FORMAT {ulong,
 * bool, pad 3, ulong}. */
static void narrow_prf_value(CK_PRF_DATA_PARAM *p)
{
    uint8_t *v = p->pValue;
    uint64_t w;
    CK_ULONG u;
    if ((p->type == CK_SP800_108_ITERATION_VARIABLE || p->type == CK_SP800_108_OPTIONAL_COUNTER) &&
        p->ulValueLen == 16) {
        memcpy(&w, v + 8, 8);
        u = (CK_ULONG)w;
        memset(v + 1, 0, 7);
        memcpy(v + sizeof u, &u, sizeof u);
        p->ulValueLen = 2 * sizeof u;
    } else if (p->type == CK_SP800_108_DKM_LENGTH && p->ulValueLen == 24) {
        uint8_t b = v[8];
        memcpy(&w, v, 8);
        u = (CK_ULONG)w;
        memcpy(v, &u, sizeof u);
        memset(v + sizeof u, 0, sizeof u);
        v[sizeof u] = b;
        memcpy(&w, v + 16, 8);
        u = (CK_ULONG)w;
        memcpy(v + 2 * sizeof u, &u, sizeof u);
        p->ulValueLen = 3 * sizeof u;
    }
}

/* PRF data: TYPE:HEX,TYPE:HEX... (empty: none). */
static int set_prf_data(struct allocs *a, uint8_t *s, const struct kw_param_field *f, const char *val)
{
    CK_ULONG n = 0;
    if (*val)
        for (const char *c = val; c; c = strchr(c, ','), c = c ? c + 1 : NULL)
            n++;
    CK_PRF_DATA_PARAM *arr = NULL;
    if (n > 0 && !(arr = keep(a, calloc(n, sizeof *arr))))
        return -1;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", val);
    CK_ULONG i = 0;
    for (char *save, *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save), i++) {
        char *hex = strchr(e, ':');
        uint64_t type;
        if (!hex || i >= n)
            return -1;
        *hex++ = 0;
        if (parse_num(e, &type) || hex_alloc(a, hex, &arr[i].pValue, &arr[i].ulValueLen))
            return -1;
        arr[i].type = type;
        if (KW_NARROW)
            narrow_prf_value(&arr[i]);
    }
    if (i != n)
        return -1;
    set_ptr(s, f->off, arr);
    set_ulong(s, f->len_off, n);
    return 0;
}

/* Set one field of the structure from its text. Returns 0 or -1. */
static int set_field(struct allocs *a, uint8_t *s, const struct kw_param_field *f, const char *val)
{
    uint64_t v;
    void *p;
    CK_ULONG n;
    switch (f->kind) {
    case KW_PF_ULONG:
        if (parse_num(val, &v))
            return -1;
        set_ulong(s, f->off, v);
        return 0;
    case KW_PF_BOOL:
        if (parse_num(val, &v) || v > 1)
            return -1;
        s[f->off] = (CK_BBOOL)v;
        return 0;
    case KW_PF_BYTES:
        if (hex_alloc(a, val, &p, &n))
            return -1;
        set_ptr(s, f->off, p);
        set_ulong(s, f->len_off, n);
        return 0;
    case KW_PF_ARRAY:
        if (hex_alloc(a, val, &p, &n) || n != f->n)
            return -1;
        memcpy(s + f->off, p, n);
        return 0;
    case KW_PF_ULONG_PTR: {
        if (strcmp(val, "-") == 0) { /* a NULL pointer */
            set_ptr(s, f->off, NULL);
            return 0;
        }
        CK_ULONG *q = keep(a, malloc(sizeof *q));
        if (!q || parse_num(val, &v))
            return -1;
        *q = v;
        set_ptr(s, f->off, q);
        return 0;
    }
    case KW_PF_PRF_DATA:
        return set_prf_data(a, s, f, val);
    case KW_PF_DERIVED_KEYS:
        if (parse_num(val, &v))
            return -1;
        set_ptr(s, f->off, NULL);
        set_ulong(s, f->len_off, v);
        return 0;
    }
    return -1;
}

static const struct kw_param_mech *mech_by_name(const char *name)
{
    size_t n;
    const struct kw_param_mech *m = kw_param_mechs(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].name, name) == 0)
            return &m[i];
    return NULL;
}

/* Layouts with at least one vector. */
static const struct kw_param_layout *covered[64];
static size_t ncovered;

static void check_param_line(int lineno, char *line, int *passed)
{
    char desc[8192];
    snprintf(desc, sizeof desc, "%s", line);
    /* The last " = " separates the fields from the bytes (hex has no spaces; a field may be empty). */
    char *eq = NULL;
    for (char *x = strstr(line, " = "); x; x = strstr(x + 1, " = "))
        eq = x;
    if (!eq) {
        fail(lineno, desc, "no \" = \"");
        return;
    }
    *eq = 0;
    const char *hex = eq + 3;
    struct allocs a = {.n = 0};
    struct kw_buf want = {0}, got = {0};
    uint8_t *st = NULL;
    const char *what = NULL;
    static char msg[20000];
    char *save, *tok = strtok_r(line, " \t", &save);
    const struct kw_param_mech *m = tok ? mech_by_name(tok) : NULL;
    if (!m) {
        what = "unknown mechanism (not in params.def)";
        goto out;
    }
    const struct kw_param_layout *l = m->layout;
    if (kw_param_layout(m->mech) != l) {
        what = "kw_param_layout does not find the mechanism's layout";
        goto out;
    }
    if (!*hex || put_hex(&want, hex)) {
        what = "bad or missing hex";
        goto out;
    }
    st = calloc(1, l->size);
    if (!st) {
        what = "out of memory";
        goto out;
    }
    unsigned char seen[64] = {0};
    while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
        char *val = strchr(tok, '=');
        if (!val) {
            what = "a field without =";
            goto out;
        }
        *val++ = 0;
        size_t i;
        for (i = 0; i < l->nfields && i < sizeof seen; i++)
            if (strcmp(l->fields[i].name, tok) == 0)
                break;
        if (i == l->nfields || i >= sizeof seen) {
            snprintf(msg, sizeof msg, "%s has no field %s", l->name, tok);
            what = msg;
            goto out;
        }
        if (seen[i]++ || set_field(&a, st, &l->fields[i], val)) {
            snprintf(msg, sizeof msg, "field %s: repeated or bad value %s", tok, val);
            what = msg;
            goto out;
        }
    }
    for (size_t i = 0; i < l->nfields; i++)
        if (!seen[i]) {
            snprintf(msg, sizeof msg, "field %s of %s is not given", l->fields[i].name, l->name);
            what = msg;
            goto out;
        }
    CK_RV rv = kw_param_encode(l, st, &got);
    if (rv != CKR_OK || got.oom) {
        snprintf(msg, sizeof msg, "kw_param_encode: rv 0x%lx", rv);
        what = msg;
        goto out;
    }
    if (got.len != want.len || memcmp(got.p, want.p, got.len) != 0) {
        char h[16384];
        hexdump(h, sizeof h, got.p, got.len);
        snprintf(msg, sizeof msg, "encoded %s", h);
        what = msg;
        goto out;
    }
    size_t k;
    for (k = 0; k < ncovered && covered[k] != l; k++)
        ;
    if (k == ncovered && ncovered < sizeof covered / sizeof covered[0])
        covered[ncovered++] = l;
out:
    if (what)
        fail(lineno, desc, what);
    else
        (*passed)++;
    free(st);
    for (size_t i = 0; i < a.n; i++)
        free(a.p[i]);
    kw_buf_free(&want);
    kw_buf_free(&got);
}

/* The table itself: no mechanism twice, every structure covered by a vector. */
static void check_param_table(void)
{
    size_t n;
    const struct kw_param_mech *m = kw_param_mechs(&n);
    if (n == 0)
        fail(0, "params.def", "no mechanism");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            if (m[j].mech == m[i].mech)
                fail(0, m[i].name, "listed twice in params.def");
        size_t k;
        for (k = 0; k < ncovered && covered[k] != m[i].layout; k++)
            ;
        if (k == ncovered)
            fail(0, m[i].layout->name, "structure without a vector in params.txt");
    }
}

typedef void (*line_fn)(int lineno, char *line, int *passed);

static int each_line(const char *path, line_fn fn, int *passed)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        perror(path);
        return -1;
    }
    const char *slash = strrchr(path, '/');
    cur_file = slash ? slash + 1 : path;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        const char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == 0 || *s == '#')
            continue;
        fn(lineno, line, passed);
    }
    free(line);
    fclose(fp);
    return 0;
}

/* CK_ULONG on the wire (client/width.h): whatever the client's word size, a CK_ULONG attribute or parameter
 * field is 8 bytes in host order, and a daemon value that does not fit is refused, never truncated. */
static void expect_bytes(const char *what, const struct kw_buf *b, const void *want, size_t n)
{
    if (b->oom || b->len != n || memcmp(b->p, want, n) != 0)
        fail(0, what, "wire bytes differ from the LP64 layout");
}

static void check_width(void)
{
    struct kw_buf b = {0};
    /* A CKA_CLASS template value. */
    CK_ULONG cls = CKO_PRIVATE_KEY;
    uint64_t cls64 = CKO_PRIVATE_KEY;
    uint8_t want[8 + 1 + 4 + 8];
    memset(want, 0, 7);
    want[7] = (uint8_t)CKA_CLASS;
    want[8] = KW_ATTR_VALUE;
    want[9] = want[10] = want[11] = 0;
    want[12] = 8;
    memcpy(want + 13, &cls64, 8);
    if (kw_enc_attr_value(&b, CKA_CLASS, &cls, sizeof cls) != CKR_OK)
        fail(0, "CKA_CLASS", "kw_enc_attr_value refused a CK_ULONG");
    expect_bytes("CKA_CLASS template value", &b, want, sizeof want);
    b.len = 0;
    CK_ULONG two[2] = {cls, 0};
    if (KW_NARROW && kw_enc_attr_value(&b, CKA_CLASS, two, sizeof two) != CKR_ATTRIBUTE_VALUE_INVALID)
        fail(0, "CKA_CLASS", "a CK_ULONG attribute of the wrong size is not CKR_ATTRIBUTE_VALUE_INVALID");
    /* CKA_ALLOWED_MECHANISMS: an array. */
    b.len = 0;
    CK_MECHANISM_TYPE mechs[2] = {CKM_ECDSA, CKM_SHA256_RSA_PKCS_PSS};
    uint64_t mechs64[2] = {CKM_ECDSA, CKM_SHA256_RSA_PKCS_PSS};
    if (kw_enc_attr_value(&b, CKA_ALLOWED_MECHANISMS, mechs, sizeof mechs) != CKR_OK || b.len != 13 + 16 ||
        memcmp(b.p + 13, mechs64, 16) != 0)
        fail(0, "CKA_ALLOWED_MECHANISMS", "wire bytes differ from the LP64 layout");
    /* A byte attribute is left alone. */
    b.len = 0;
    if (kw_enc_attr_value(&b, CKA_LABEL, "abc", 3) != CKR_OK || b.len != 13 + 3)
        fail(0, "CKA_LABEL", "a byte attribute was changed");
    kw_buf_free(&b);

    /* Results: a daemon value that fits is narrowed; one beyond 32 bits on ILP32 is CKR_BUFFER_TOO_SMALL's case. */
    CK_ULONG got = 0, len = 0;
    uint64_t v = CKK_EC;
    if (kw_attr_value_in(CKA_KEY_TYPE, (const uint8_t *)&v, 8, &got, sizeof got, &len) != 0 || got != CKK_EC ||
        len != sizeof(CK_ULONG))
        fail(0, "CKA_KEY_TYPE", "result not narrowed to a CK_ULONG");
    v = (uint64_t)1 << 40;
    int r = kw_attr_value_in(CKA_VALUE_LEN, (const uint8_t *)&v, 8, &got, sizeof got, &len);
    if (KW_NARROW ? (r != 1 || len != CK_UNAVAILABLE_INFORMATION) : (r != 0 || got != (CK_ULONG)v))
        fail(0, "CKA_VALUE_LEN", "a value beyond the word size is not refused (or one within it is)");
    int fits;
    if (kw_attr_len_in(CKA_CLASS, 8, &fits) != sizeof(CK_ULONG) || !fits)
        fail(0, "CKA_CLASS", "length query not in the caller's word size");
    if (kw_attr_len_in(CKA_LABEL, UINT64_MAX, &fits) != CK_UNAVAILABLE_INFORMATION || !fits)
        fail(0, "CKA_LABEL", "CK_UNAVAILABLE_INFORMATION not kept");
    if (kw_attr_len_out(CKA_CLASS, sizeof(CK_ULONG)) != 8)
        fail(0, "CKA_CLASS", "query capacity not in the wire's width");

    /* Info fields and handles. */
    struct kw_buf e = {0};
    kw_enc_u(&e, UINT64_MAX);
    kw_enc_u(&e, (uint64_t)1 << 33);
    kw_enc_u(&e, (uint64_t)1 << 33);
    struct kw_dec d;
    kw_dec_init(&d, e.p, e.len);
    if (kw_dec_ul(&d) != CK_UNAVAILABLE_INFORMATION)
        fail(0, "kw_dec_ul", "CK_UNAVAILABLE_INFORMATION not kept");
    CK_ULONG big = kw_dec_ul(&d);
    if (KW_NARROW ? big != CK_UNAVAILABLE_INFORMATION : big != (CK_ULONG)((uint64_t)1 << 33))
        fail(0, "kw_dec_ul", "a counter beyond the word size is not CK_UNAVAILABLE_INFORMATION");
    (void)kw_dec_handle(&d);
    if (d.err != KW_NARROW)
        fail(0, "kw_dec_handle", "a handle beyond the word size is not a decoding error");
    kw_buf_free(&e);

    /* Pointer-free parameters: CK_RSA_PKCS_PSS_PARAMS, CK_AES_CTR_PARAMS in the LP64 layout. */
    CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    uint64_t pss64[3] = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    struct kw_buf tmp = {0};
    const void *wp;
    size_t wn;
    if (kw_param_raw(CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof pss, &tmp, &wp, &wn) != CKR_OK || wn != 24 ||
        memcmp(wp, pss64, 24) != 0)
        fail(0, "CK_RSA_PKCS_PSS_PARAMS", "not in the LP64 layout");
    if (KW_NARROW && kw_param_raw(CKM_SHA256_RSA_PKCS_PSS, &pss, 24, &tmp, &wp, &wn) != CKR_MECHANISM_PARAM_INVALID)
        fail(0, "CK_RSA_PKCS_PSS_PARAMS", "a wrong size is not CKR_MECHANISM_PARAM_INVALID");
    CK_AES_CTR_PARAMS ctr = {.ulCounterBits = 128};
    memset(ctr.cb, 0xab, sizeof ctr.cb);
    uint8_t ctr64[24];
    uint64_t bits = 128;
    memcpy(ctr64, &bits, 8);
    memset(ctr64 + 8, 0xab, 16);
    if (kw_param_raw(CKM_AES_CTR, &ctr, sizeof ctr, &tmp, &wp, &wn) != CKR_OK || wn != 24 ||
        memcmp(wp, ctr64, 24) != 0)
        fail(0, "CK_AES_CTR_PARAMS", "not in the LP64 layout");
    kw_buf_free(&tmp);
}

/* The shape of an Init's parameter (kw_param_shape, from params.def's data-only marks): the contents of an IV,
 * a nonce, associated data or a context do not change it; their length, their presence and every other field
 * do; a mechanism without data-only parts has no shape of its own (its whole parameter is its shape). */
static int shape_of(CK_MECHANISM_TYPE t, void *p, CK_ULONG n, struct kw_buf *out)
{
    CK_MECHANISM m = {t, p, n};
    out->len = 0;
    return kw_param_shape(&m, out);
}

static int same_shape(CK_MECHANISM_TYPE t, void *p1, void *p2, CK_ULONG n)
{
    struct kw_buf a = {0}, b = {0};
    int r1 = shape_of(t, p1, n, &a), r2 = shape_of(t, p2, n, &b);
    int same = r1 == 1 && r2 == 1 && !a.oom && !b.oom && a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
    kw_buf_free(&a);
    kw_buf_free(&b);
    return same;
}

static void check_shape(void)
{
    CK_BYTE iv1[12] = {1}, iv2[12] = {2}, aad1[3] = "aad", aad2[3] = "AAD";
    CK_GCM_PARAMS g1 = {.pIv = iv1, .ulIvLen = 12, .ulIvBits = 96, .pAAD = aad1, .ulAADLen = 3, .ulTagBits = 128};
    CK_GCM_PARAMS g2 = {.pIv = iv2, .ulIvLen = 12, .ulIvBits = 96, .pAAD = aad2, .ulAADLen = 3, .ulTagBits = 128};
    if (!same_shape(CKM_AES_GCM, &g1, &g2, sizeof g1))
        fail(0, "kw_param_shape", "GCM: another IV or AAD of the same length changes the shape");
    g2.ulIvLen = 11;
    if (same_shape(CKM_AES_GCM, &g1, &g2, sizeof g1))
        fail(0, "kw_param_shape", "GCM: an IV of another length has the same shape");
    g2.ulIvLen = 12, g2.ulTagBits = 96;
    if (same_shape(CKM_AES_GCM, &g1, &g2, sizeof g1))
        fail(0, "kw_param_shape", "GCM: another tag length has the same shape");
    g2.ulTagBits = 128, g2.pAAD = NULL, g2.ulAADLen = 0;
    g1.ulAADLen = 0;
    if (same_shape(CKM_AES_GCM, &g1, &g2, sizeof g1))
        fail(0, "kw_param_shape", "GCM: a NULL AAD has the shape of an empty one");
    CK_CCM_PARAMS c1 = {.ulDataLen = 32, .pNonce = iv1, .ulNonceLen = 8, .pAAD = aad1, .ulAADLen = 3, .ulMACLen = 16};
    CK_CCM_PARAMS c2 = {.ulDataLen = 32, .pNonce = iv2, .ulNonceLen = 8, .pAAD = aad2, .ulAADLen = 3, .ulMACLen = 16};
    if (!same_shape(CKM_AES_CCM, &c1, &c2, sizeof c1))
        fail(0, "kw_param_shape", "CCM: another nonce changes the shape");
    c2.ulDataLen = 33;
    if (same_shape(CKM_AES_CCM, &c1, &c2, sizeof c1))
        fail(0, "kw_param_shape", "CCM: another data length has the same shape");
    CK_EDDSA_PARAMS e1 = {.phFlag = CK_FALSE, .pContextData = aad1, .ulContextDataLen = 3};
    CK_EDDSA_PARAMS e2 = {.phFlag = CK_FALSE, .pContextData = aad2, .ulContextDataLen = 3};
    if (!same_shape(CKM_EDDSA, &e1, &e2, sizeof e1))
        fail(0, "kw_param_shape", "EdDSA: another context changes the shape");
    e2.phFlag = CK_TRUE;
    if (same_shape(CKM_EDDSA, &e1, &e2, sizeof e1))
        fail(0, "kw_param_shape", "EdDSA: phFlag does not change the shape");
    if (!same_shape(CKM_AES_CBC, iv1, iv2, 12) || !same_shape(CKM_AES_CBC_PAD, iv1, iv2, 12))
        fail(0, "kw_param_shape", "CBC: another IV changes the shape");
    struct kw_buf a = {0};
    if (shape_of(CKM_AES_CBC, iv1, 12, &a) != 1 || a.len != 16)
        fail(0, "kw_param_shape", "CBC: the shape is not the IV's presence and length");
    CK_ECDH1_DERIVE_PARAMS ecdh = {.kdf = CKD_NULL, .ulPublicDataLen = 3, .pPublicData = aad1};
    if (shape_of(CKM_ECDH1_DERIVE, &ecdh, sizeof ecdh, &a) != 0 || a.len != 0)
        fail(0, "kw_param_shape", "ECDH1 (no data-only field) has a shape of its own");
    if (shape_of(CKM_AES_ECB, NULL, 0, &a) != 0 || shape_of(CKM_AES_GCM, &g1, sizeof g1 - 1, &a) != 0)
        fail(0, "kw_param_shape", "a mechanism without data-only parts, or a wrong size, has a shape");
    kw_buf_free(&a);
}

/* The generated field lists (calls_gen.h) follow the signatures of calls.def, and a generated request encoder
 * writes what the item encoders write. */
#define KW_LETTER(k, name) #k
#define KW_CHECK_FIELDS(name)                                                                                  \
    do {                                                                                                       \
        const struct kw_call_info *ci = kw_call_lookup(KW_CALL_##name);                                        \
        if (!ci || strcmp(ci->req, "" KW_REQ_FIELDS_##name(KW_LETTER)) != 0 ||                                 \
            strcmp(ci->resp, "" KW_RESP_FIELDS_##name(KW_LETTER)) != 0)                                       \
            fail(0, #name, "its field lists do not follow its signatures");                                    \
        ncalls++;                                                                                              \
    } while (0);

static void check_call_fields(void)
{
    int ncalls = 0;
    KW_CALLS(KW_CHECK_FIELDS)
    if (ncalls < 50)
        fail(0, "KW_CALLS", "lists too few calls");
    struct kw_buf a = {0}, b = {0};
    kw_req_OperationSingle(&a, 7, OP_SIGN, "abc", 3, 1, 64);
    kw_enc_u(&b, 7);
    kw_enc_u(&b, OP_SIGN);
    kw_enc_b(&b, "abc", 3);
    kw_enc_o(&b, 1, 64);
    if (a.oom || a.len != b.len || memcmp(a.p, b.p, a.len) != 0 || kw_validate(a.p, a.len, "uubo") != 0)
        fail(0, "kw_req_OperationSingle", "does not encode its items");
    kw_buf_free(&a);
    kw_buf_free(&b);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "internal/wire/testdata/golden.txt";
    const char *ppath = argc > 2 ? argv[2] : "internal/wire/testdata/params.txt";
    int passed = 0, ppassed = 0;
    if (each_line(path, check_line, &passed) < 0 || each_line(ppath, check_param_line, &ppassed) < 0)
        return 2;
    cur_file = "golden.c";

    /* Every call of calls.def has a name lookup that round-trips. */
    for (uint32_t id = 1; id < 64; id++) {
        const struct kw_call_info *ci = kw_call_lookup(id);
        if (ci && kw_call_by_name(ci->name) != ci)
            fail(0, ci->name, "call table lookup");
    }
    check_param_table();
    check_width();
    check_shape();
    check_call_fields();
    printf("golden: %d passed, %d params passed, %d failed\n", passed, ppassed, failures);
    return failures || passed == 0 || ppassed == 0 ? 1 : 0;
}
