/*
 * sess.c - the per-session memory of sess.h: a hash table of the application's sessions, under the
 * application lock, dropped whole when the application generation changes.
 */
#include "sess.h"

#include <stdlib.h>
#include <string.h>

#define KW_SESS_BUCKETS0 64u

struct kw_sess {
    CK_SESSION_HANDLE h;
    CK_SLOT_ID slot;
    struct kw_sess *next;
    uint8_t *known[KW_SESS_OPS]; /* the shape of the last Init that succeeded, per operation */
    size_t known_len[KW_SESS_OPS];
    int deferred;     /* the operation whose Init waits for its first data call (0: none) */
    uint8_t *pending; /* that Init's request body */
    size_t pending_len;
    int flushing; /* another thread is sending this session's deferred Init (kw_sess_take_any) */
    unsigned active; /* operations (bits) that may be active in the daemon: their Init is never deferred */
    /* The search's first batch. */
    int find_active, find_more;
    uint64_t *found;
    uint32_t nfound, pos;
    /* Kept output: the operation (0: none), the input it was computed on, the output. */
    int kept_op;
    uint8_t *kept_in, *kept_out;
    size_t kept_inlen, kept_outlen;
    uint64_t epoch;       /* requests sent on this session (kw_sess_outgoing) */
    unsigned ending;      /* operations whose OperationEnd waits for the session's next request */
    unsigned ending_sent; /* ... travels with a request now (until kw_sess_sent) */
};

/* The table (part of the connection state: it lives and dies with the application generation). */
static struct {
    uint64_t gen;
    struct kw_sess **b;
    size_t nb, n;
    int no_defer;     /* KEYWARD_DEFER_INIT=0: every Init goes to the daemon at once */
    uint64_t env_gen; /* the generation (+1) no_defer was read in */
    /* Kept attribute values (one query of the whole application). */
    int attrs_on;
    CK_SESSION_HANDLE attrs_h;
    CK_OBJECT_HANDLE attrs_o;
    uint32_t attrs_n;
    struct kw_buf attrs; /* kind-1 attribute records */
    uint64_t drops;      /* requests that may change attributes or visibility (kw_sess_outgoing) */
} t;

static void attrs_drop(void)
{
    kw_buf_free(&t.attrs); /* zeroes */
    t.attrs_on = 0;
    t.attrs_n = 0;
}

static void sess_forget_init(struct kw_sess *s, int op)
{
    if (s->known[op]) {
        explicit_bzero(s->known[op], s->known_len[op]);
        free(s->known[op]);
    }
    s->known[op] = NULL;
    s->known_len[op] = 0;
}

static void sess_drop_pending(struct kw_sess *s)
{
    if (s->pending) {
        explicit_bzero(s->pending, s->pending_len);
        free(s->pending);
    }
    s->pending = NULL;
    s->pending_len = 0;
    s->deferred = 0;
}

static void sess_find_clear(struct kw_sess *s)
{
    free(s->found);
    s->found = NULL;
    s->nfound = s->pos = 0;
    s->find_active = s->find_more = 0;
}

static void wipe_free(uint8_t *p, size_t n)
{
    if (p) {
        explicit_bzero(p, n);
        free(p);
    }
}

static void sess_drop_kept(struct kw_sess *s)
{
    wipe_free(s->kept_in, s->kept_inlen);
    wipe_free(s->kept_out, s->kept_outlen);
    s->kept_in = s->kept_out = NULL;
    s->kept_inlen = s->kept_outlen = 0;
    s->kept_op = 0;
}

static void sess_free(struct kw_sess *s)
{
    for (int op = 0; op < KW_SESS_OPS; op++)
        sess_forget_init(s, op);
    sess_drop_pending(s);
    sess_drop_kept(s);
    sess_find_clear(s);
    free(s);
}

static void table_clear(void)
{
    for (size_t i = 0; i < t.nb; i++) {
        struct kw_sess *s = t.b[i];
        while (s) {
            struct kw_sess *next = s->next;
            sess_free(s);
            s = next;
        }
    }
    free(t.b);
    t.b = NULL;
    t.nb = t.n = 0;
    attrs_drop();
}

void kw_sess_clear_locked(void)
{
    table_clear();
    t.env_gen = 0; /* the next C_Initialize reads KEYWARD_DEFER_INIT again */
}

/* Take the lock and drop a table left by an earlier application generation. */
static void sess_lock(void)
{
    kw_lock();
    uint64_t gen = kw_gen();
    if (t.gen != gen) {
        table_clear();
        t.gen = gen;
    }
    if (t.env_gen != gen + 1) { /* once per generation (a generation may be 0) */
        const char *v = getenv("KEYWARD_DEFER_INIT");
        t.no_defer = v && strcmp(v, "0") == 0;
        t.env_gen = gen + 1;
    }
}

static size_t bucket(CK_SESSION_HANDLE h, size_t nb)
{
    uint64_t x = (uint64_t)h * 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 32) & (nb - 1);
}

static struct kw_sess *sess_find(CK_SESSION_HANDLE h)
{
    if (!t.nb)
        return NULL;
    for (struct kw_sess *s = t.b[bucket(h, t.nb)]; s; s = s->next)
        if (s->h == h)
            return s;
    return NULL;
}

/* Grow the table when it holds more sessions than buckets. Failure keeps the old table (chains get longer). */
static void table_grow(void)
{
    size_t nb = t.nb ? t.nb * 2 : KW_SESS_BUCKETS0;
    struct kw_sess **b = calloc(nb, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < t.nb; i++) {
        struct kw_sess *s = t.b[i];
        while (s) {
            struct kw_sess *next = s->next;
            size_t j = bucket(s->h, nb);
            s->next = b[j];
            b[j] = s;
            s = next;
        }
    }
    free(t.b);
    t.b = b;
    t.nb = nb;
}

static void sess_unlink(CK_SESSION_HANDLE h)
{
    if (!t.nb)
        return;
    struct kw_sess **pp = &t.b[bucket(h, t.nb)];
    while (*pp) {
        struct kw_sess *s = *pp;
        if (s->h == h) {
            *pp = s->next;
            sess_free(s);
            t.n--;
            return;
        }
        pp = &s->next;
    }
}

/* Add an entry for h (lock held). NULL when out of memory: the session then goes without the shortcuts. */
static struct kw_sess *sess_insert(CK_SESSION_HANDLE h, CK_SLOT_ID slot)
{
    if (t.n >= t.nb)
        table_grow();
    struct kw_sess *s = t.nb ? calloc(1, sizeof *s) : NULL;
    if (s) {
        s->h = h;
        s->slot = slot;
        size_t j = bucket(h, t.nb);
        s->next = t.b[j];
        t.b[j] = s;
        t.n++;
    }
    return s;
}

void kw_sess_open(CK_SESSION_HANDLE h, CK_SLOT_ID slot)
{
    sess_lock();
    sess_unlink(h); /* a handle reused after a close we did not see */
    sess_insert(h, slot);
    kw_unlock();
}

void kw_sess_close(CK_SESSION_HANDLE h)
{
    sess_lock();
    sess_unlink(h);
    kw_unlock();
}

void kw_sess_close_slot(CK_SLOT_ID slot)
{
    sess_lock();
    for (size_t i = 0; i < t.nb; i++) {
        struct kw_sess **pp = &t.b[i];
        while (*pp) {
            struct kw_sess *s = *pp;
            sess_drop_kept(s); /* a session of unknown slot may have been closed too */
            if (s->slot == slot) {
                *pp = s->next;
                sess_free(s);
                t.n--;
            } else {
                pp = &s->next;
            }
        }
    }
    kw_unlock();
}

static int op_ok(int op)
{
    return op > 0 && op < KW_SESS_OPS;
}

/* Keep a copy of an Init request body as h's deferred Init of op. */
static int sess_pend(struct kw_sess *s, int op, const uint8_t *body, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    if (!p)
        return 0;
    memcpy(p, body, len);
    s->pending = p;
    s->pending_len = len;
    s->deferred = op;
    s->active |= 1u << op;
    return 1;
}

int kw_sess_defer(CK_SESSION_HANDLE h, int op, const uint8_t *shape, size_t slen, const uint8_t *body, size_t len)
{
    if (!op_ok(op))
        return 0;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    int ok = s && !t.no_defer && !s->deferred && !(s->active & (1u << op)) && s->known[op] && s->known_len[op] == slen &&
             memcmp(s->known[op], shape, slen) == 0 && sess_pend(s, op, body, len);
    kw_unlock();
    return ok;
}

void kw_sess_learn(CK_SESSION_HANDLE h, int op, const uint8_t *shape, size_t slen, CK_RV rv)
{
    if (!op_ok(op))
        return;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    if (s) {
        sess_forget_init(s, op);
        if (rv == CKR_OK)
            s->active |= 1u << op;
        if (rv == CKR_OK && slen > 0 && (s->known[op] = malloc(slen)) != NULL) {
            memcpy(s->known[op], shape, slen);
            s->known_len[op] = slen;
        }
    }
    kw_unlock();
}

/* Wait (lock held, released while sleeping) until no other thread is sending h's deferred Init: a call of
 * h's own must not overtake it on another connection. Returns h's entry, or NULL. */
static struct kw_sess *sess_settled(CK_SESSION_HANDLE h)
{
    int64_t us = 0;
    struct kw_sess *s;
    while ((s = sess_find(h)) != NULL && s->flushing) {
        kw_unlock();
        kw_wait(&us);
        sess_lock();
    }
    return s;
}

int kw_sess_deferred(CK_SESSION_HANDLE h)
{
    sess_lock();
    struct kw_sess *s = sess_settled(h);
    int op = s ? s->deferred : 0;
    kw_unlock();
    return op;
}

static int sess_take(struct kw_sess *s, int op, struct kw_buf *dst)
{
    int d = s->deferred;
    if (!d || (op && d != op))
        return 0;
    kw_put_raw(dst, s->pending, s->pending_len);
    sess_drop_pending(s);
    return d;
}

int kw_sess_take(CK_SESSION_HANDLE h, int op, struct kw_buf *dst)
{
    sess_lock();
    struct kw_sess *s = sess_settled(h);
    int d = s ? sess_take(s, op, dst) : 0;
    kw_unlock();
    return d;
}

void kw_sess_ended(CK_SESSION_HANDLE h, int op)
{
    if (!op_ok(op))
        return;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    if (s && s->deferred != op)
        s->active &= ~(1u << op);
    kw_unlock();
}

int kw_sess_drop(CK_SESSION_HANDLE h, int op)
{
    if (!op_ok(op))
        return 0;
    sess_lock();
    struct kw_sess *s = sess_settled(h);
    int dropped = s && s->deferred == op;
    if (dropped) {
        sess_drop_pending(s);
        s->active &= ~(1u << op);
    }
    kw_unlock();
    return dropped;
}

void kw_sess_redefer(CK_SESSION_HANDLE h, int op, const uint8_t *body, size_t len)
{
    if (!op_ok(op))
        return;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    if (s && !s->deferred)
        sess_pend(s, op, body, len);
    kw_unlock();
}

int kw_sess_take_any(CK_SESSION_HANDLE *h, struct kw_buf *dst)
{
    sess_lock();
    int d = 0;
    for (size_t i = 0; i < t.nb && !d; i++)
        for (struct kw_sess *s = t.b[i]; s && !d; s = s->next)
            if ((d = sess_take(s, 0, dst)) != 0) {
                *h = s->h;
                s->flushing = 1; /* until kw_sess_flushed: h's own calls wait for it */
            }
    kw_unlock();
    return d;
}

void kw_sess_flushed(CK_SESSION_HANDLE h)
{
    sess_lock();
    struct kw_sess *s = sess_find(h);
    if (s)
        s->flushing = 0;
    kw_unlock();
}

void kw_sess_forget_inits(void)
{
    sess_lock();
    for (size_t i = 0; i < t.nb; i++)
        for (struct kw_sess *s = t.b[i]; s; s = s->next) {
            for (int op = 0; op < KW_SESS_OPS; op++)
                sess_forget_init(s, op);
            sess_drop_kept(s);
        }
    attrs_drop();
    kw_unlock();
}

/* ---- kept output ---- */

/* Whether a call may change an object's attributes, or which objects a session sees. */
static int changes_attrs(uint32_t call)
{
    switch (call) {
    case KW_CALL_SetAttributeValue:
    case KW_CALL_DestroyObject:
    case KW_CALL_Login:
    case KW_CALL_LoginUser:
    case KW_CALL_Logout:
    case KW_CALL_CloseSession:
    case KW_CALL_CloseAllSessions:
    case KW_CALL_InitToken:
    case KW_CALL_InitTokenPolicy:
    case KW_CALL_DeleteToken:
        return 1;
    }
    return 0;
}

unsigned kw_sess_outgoing(uint32_t call, int on_session, CK_SESSION_HANDLE h, uint64_t *epoch, uint64_t *drops)
{
    int64_t us = 0;
    *epoch = 0;
    sess_lock();
    if (changes_attrs(call)) {
        t.drops++;
        attrs_drop();
    } else if (on_session && t.attrs_on && t.attrs_h == h) {
        attrs_drop();
    }
    *drops = t.drops;
    if (!on_session) {
        kw_unlock();
        return 0;
    }
    struct kw_sess *s;
    while ((s = sess_find(h)) != NULL && s->ending_sent) {
        kw_unlock(); /* the OperationEnd must reach the daemon before this request: wait for its carrier */
        kw_wait(&us);
        sess_lock();
    }
    unsigned ends = 0;
    if (s) {
        sess_drop_kept(s);
        *epoch = ++s->epoch;
        ends = s->ending;
        s->ending = 0;
        s->ending_sent = ends;
    }
    kw_unlock();
    return ends;
}

void kw_sess_attrs_keep(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, uint64_t epoch, uint64_t drops,
                        const struct kw_buf *vals, uint32_t n)
{
    if (vals->oom || epoch == 0 || n == 0 || n > KW_PEEK_ATTRS || vals->len > KW_KEEP_MAX)
        return;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    if (s && s->epoch == epoch && t.drops == drops) { /* nothing since that could change the values */
        attrs_drop();
        kw_put_raw(&t.attrs, vals->p, vals->len);
        if (!t.attrs.oom) {
            t.attrs_on = 1;
            t.attrs_h = h;
            t.attrs_o = o;
            t.attrs_n = n;
        } else {
            attrs_drop();
        }
    }
    kw_unlock();
}

int kw_sess_attrs_take(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, const CK_ATTRIBUTE *tmpl, CK_ULONG n,
                       struct kw_buf *vals)
{
    sess_lock();
    int ok = t.attrs_on && t.attrs_h == h && t.attrs_o == o && t.attrs_n == n;
    if (ok) {
        struct kw_dec d;
        kw_dec_init(&d, t.attrs.p, t.attrs.len);
        for (CK_ULONG i = 0; i < n && ok; i++) {
            uint64_t type, num;
            const uint8_t *val;
            uint32_t vlen;
            ok = kw_dec_attr(&d, &type, &num, &val, &vlen) == KW_ATTR_VALUE && type == tmpl[i].type;
        }
    }
    if (ok) {
        *vals = t.attrs; /* moved: the caller zeroes and frees it */
        memset(&t.attrs, 0, sizeof t.attrs);
        t.attrs_on = 0;
        t.attrs_n = 0;
    } else {
        attrs_drop();
    }
    kw_unlock();
    return ok;
}

void kw_sess_sent(CK_SESSION_HANDLE h, unsigned ops, int delivered)
{
    if (!ops)
        return;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    if (s) {
        s->ending_sent &= ~ops;
        if (!delivered)
            s->ending |= ops; /* sent twice at worst: an end of an ended operation is a no-op */
    }
    kw_unlock();
}

void kw_sess_keep(CK_SESSION_HANDLE h, int op, uint64_t epoch, const void *in, size_t inlen, const uint8_t *out,
                  size_t outlen)
{
    if (!op_ok(op) || epoch == 0 || inlen > KW_KEEP_MAX || outlen > KW_KEEP_MAX)
        return;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    if (s && s->epoch == epoch) { /* no other request on h since: the daemon holds exactly this output */
        sess_drop_kept(s);
        uint8_t *ki = malloc(inlen ? inlen : 1), *ko = malloc(outlen ? outlen : 1);
        if (ki && ko) {
            if (inlen)
                memcpy(ki, in, inlen);
            if (outlen)
                memcpy(ko, out, outlen);
            s->kept_in = ki, s->kept_inlen = inlen;
            s->kept_out = ko, s->kept_outlen = outlen;
            s->kept_op = op;
        } else {
            free(ki);
            free(ko);
        }
    }
    kw_unlock();
}

int kw_sess_kept_answer(CK_SESSION_HANDLE h, int op, const void *in, size_t inlen, CK_BYTE_PTR out, CK_ULONG_PTR plen,
                        CK_RV *rv)
{
    if (!op_ok(op))
        return 0;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    int answered = 0;
    if (s && s->kept_op == op) {
        if (s->kept_inlen != inlen || (inlen && memcmp(s->kept_in, in, inlen) != 0)) {
            sess_drop_kept(s); /* another input: the daemon answers (it holds the output of the first) */
        } else {
            answered = 1;
            CK_ULONG n = (CK_ULONG)s->kept_outlen;
            if (!out) {
                *rv = CKR_OK;
            } else if (*plen < n) {
                *rv = CKR_BUFFER_TOO_SMALL;
            } else {
                if (n)
                    memcpy(out, s->kept_out, n);
                *rv = CKR_OK;
                sess_drop_kept(s);
                s->active &= ~(1u << op); /* the operation ended (kw_sess_ended) ... */
                s->ending |= 1u << op;    /* ... and ends in the daemon before h's next request */
            }
            *plen = n;
        }
    }
    kw_unlock();
    return answered;
}

int kw_sess_find_begin(CK_SESSION_HANDLE h, const uint64_t *handles, uint32_t n, int more)
{
    sess_lock();
    struct kw_sess *s = sess_find(h);
    if (!s) /* a session this client did not see open (not within one generation): its slot is unknown */
        s = sess_insert(h, (CK_SLOT_ID)-1);
    int r = -1;
    if (s) {
        sess_find_clear(s);
        uint64_t *found = n > 0 ? malloc(n * sizeof *found) : NULL;
        if (n == 0 || found) {
            if (n > 0)
                memcpy(found, handles, n * sizeof *found);
            s->found = found; /* the session owns it: sess_find_clear frees it */
            s->nfound = n;
            s->find_active = 1;
            s->find_more = more;
            r = 0;
        }
    }
    kw_unlock();
    return r;
}

int kw_sess_find_active(CK_SESSION_HANDLE h)
{
    sess_lock();
    struct kw_sess *s = sess_find(h);
    int a = s && s->find_active;
    kw_unlock();
    return a;
}

long kw_sess_find_next(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out, CK_ULONG max, int *ask_daemon)
{
    *ask_daemon = 0;
    sess_lock();
    struct kw_sess *s = sess_find(h);
    long n = -1;
    if (s && s->find_active) {
        uint32_t left = s->nfound - s->pos;
        n = (long)(max < left ? max : left);
        for (long i = 0; i < n; i++)
            out[i] = (CK_OBJECT_HANDLE)s->found[s->pos + (uint32_t)i];
        s->pos += (uint32_t)n;
        if (n == 0 && s->find_more && max > 0)
            *ask_daemon = 1;
    }
    kw_unlock();
    return n;
}

int kw_sess_find_end(CK_SESSION_HANDLE h)
{
    sess_lock();
    struct kw_sess *s = sess_find(h);
    int r = -1;
    if (s && s->find_active) {
        r = s->find_more;
        sess_find_clear(s);
    }
    kw_unlock();
    return r;
}
