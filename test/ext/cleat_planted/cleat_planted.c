/* cleat_planted.c - classic bugs, planted on purpose, one class each, for
 * test/test_fuzz_registry.rb to prove that `rake test:fuzz` finds them from
 * the declarations alone. Never loaded by the normal suite: every class
 * here can crash Ruby.
 *
 * Owned buffers come from a guard-page allocator (one mapping per buffer,
 * ending at an inaccessible page, unmapped when freed), so a read one past
 * the end or through a stale pointer faults at once instead of silently
 * reading a neighbour, as it would under AddressSanitizer. */
#include "cleat.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_BYTES 4096

/* ---- the guard-page allocator ---- */

typedef struct guarded {
    unsigned char *data; /* data[0, len) readable, data[len] is the guard page */
    size_t len;
    void *map;
    size_t map_len;
} guarded;

static void guarded_release(guarded *g)
{
    if (g->map) munmap(g->map, g->map_len);
    memset(g, 0, sizeof *g);
}

/* Replaces g's memory with len fresh zero bytes (len <= MAX_BYTES). */
static void guarded_resize(guarded *g, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (len + page - 1) / page;
    size_t map_len = (pages + 1) * page;
    void *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) rb_raise(rb_eNoMemError, "mmap failed");
    if (mprotect((char *)map + pages * page, page, PROT_NONE) != 0) {
        munmap(map, map_len);
        rb_raise(rb_eNoMemError, "mprotect failed");
    }
    guarded_release(g);
    g->map = map;
    g->map_len = map_len;
    g->len = len;
    g->data = (unsigned char *)map + pages * page - len;
}

static size_t byte_count(VALUE n)
{
    size_t len = cleat_to_size(n);
    if (len > MAX_BYTES) rb_raise(rb_eRangeError, "at most %d bytes", MAX_BYTES);
    return len;
}

/* ---- 1. Note: a field read without its declared check ----
 * title is declared String or nil; title_length treats it as a String. */

typedef struct note {
    VALUE title;
} note_t;

static const cleat_field note_fields[] = {
    CLEAT_FIELD_OR_NIL(note_t, title, &rb_cString),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(note_type, "CleatPlanted::Note", note_t, note_fields);

CLEAT_INIT_ARGV(note_initialize, note_type, note_t *n)
{
    rb_check_arity(argc, 0, 1);
    if (argc == 1) cleat_write(self, &n->title, argv[0]);
    return self;
}
CLEAT_SHARED(note_title, note_type, note_t *n) { return n->title; }
CLEAT_EXCLUSIVE(note_retitle, note_type, note_t *n, title)
{
    cleat_write(self, &n->title, title);
    return title;
}
CLEAT_SHARED(note_title_length, note_type, note_t *n)
{
    return LONG2NUM(RSTRING_LEN(n->title)); /* the bug: title may be nil */
}

/* ---- 2. Mask: a shared method writing through a pointer cached across a
 * conversion. NUM2LONG calls key.to_int, Ruby code that may resize the
 * mask (nothing is lent during a conversion: issue 15); the loop then
 * writes into the unmapped old buffer. */

typedef struct mask {
    guarded buf;
} mask_t;

static void mask_free(void *p) { guarded_release(&((mask_t *)p)->buf); }
static size_t mask_memsize(const void *p) { return ((const mask_t *)p)->buf.map_len; }
CLEAT_TYPE(mask_type, "CleatPlanted::Mask", mask_t, NULL, .free = mask_free, .memsize = mask_memsize);

CLEAT_INIT(mask_initialize, mask_type, mask_t *m, size)
{
    guarded_resize(&m->buf, byte_count(size));
    return self;
}
CLEAT_SHARED(mask_size, mask_type, mask_t *m) { return SIZET2NUM(m->buf.len); }
CLEAT_EXCLUSIVE(mask_resize, mask_type, mask_t *m, size)
{
    guarded_resize(&m->buf, byte_count(size));
    return self;
}
CLEAT_SHARED(mask_apply, mask_type, mask_t *m, key)
{
    unsigned char *p = m->buf.data; /* cached... */
    size_t n = m->buf.len;
    long k = NUM2LONG(key); /* ...across Ruby code */
    for (size_t i = 0; i < n; i++) p[i] ^= (unsigned char)k; /* the bug */
    return self;
}

/* ---- 3. Worker: a GVL-free function touching a Ruby object ---- */

typedef struct worker {
    VALUE last;
} worker_t;

static const cleat_field worker_fields[] = {
    CLEAT_FIELD_OR_NIL(worker_t, last, &rb_cString),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(worker_type, "CleatPlanted::Worker", worker_t, worker_fields);

CLEAT_INIT(worker_initialize, worker_type, worker_t *w)
{
    (void)w;
    return self;
}

typedef struct digest_args {
    const unsigned char *bytes;
    size_t len;
    unsigned sum;
    VALUE out;
} digest_args;

static bool digest_without_gvl(void *arg, const cleat_cancel *cancel)
{
    (void)cancel;
    digest_args *a = arg;
    for (size_t i = 0; i < a->len; i++) a->sum = a->sum * 31 + a->bytes[i];
    a->out = cleat_str_binary(&a->sum, sizeof a->sum); /* the bug: a Ruby object, without the GVL */
    return true;
}
CLEAT_EXCLUSIVE(worker_digest, worker_type, worker_t *w, text)
{
    if (!RB_TYPE_P(text, T_STRING)) rb_raise(rb_eTypeError, "expected a String");
    VALUE copy = rb_str_new_frozen(text);
    digest_args a = {(const unsigned char *)RSTRING_PTR(copy), (size_t)RSTRING_LEN(copy), 7, Qnil};
    CLEAT_WITHOUT_GVL(digest_without_gvl, &a);
    RB_GC_GUARD(copy);
    cleat_write(self, &w->last, a.out);
    return a.out;
}
CLEAT_SHARED(worker_last, worker_type, worker_t *w) { return w->last; }

/* ---- 4. Bytes: an off-by-one in an owned buffer ---- */

typedef struct bytes {
    guarded buf;
} bytes_t;

static void bytes_free(void *p) { guarded_release(&((bytes_t *)p)->buf); }
static size_t bytes_memsize(const void *p) { return ((const bytes_t *)p)->buf.map_len; }
CLEAT_TYPE(bytes_type, "CleatPlanted::Bytes", bytes_t, NULL, .free = bytes_free, .memsize = bytes_memsize);

CLEAT_INIT(bytes_initialize, bytes_type, bytes_t *b, size)
{
    guarded_resize(&b->buf, byte_count(size));
    return self;
}
CLEAT_SHARED(bytes_size, bytes_type, bytes_t *b) { return SIZET2NUM(b->buf.len); }
CLEAT_SHARED(bytes_at, bytes_type, bytes_t *b, index)
{
    size_t i = cleat_to_size(index);
    if (i > b->buf.len) rb_raise(rb_eIndexError, "index %zu out of %zu bytes", i, b->buf.len); /* the bug: > for >= */
    return INT2FIX(b->buf.data[i]);
}
CLEAT_EXCLUSIVE(bytes_put, bytes_type, bytes_t *b, index, value)
{
    size_t i = cleat_to_size(index);
    if (i >= b->buf.len) rb_raise(rb_eIndexError, "index %zu out of %zu bytes", i, b->buf.len);
    b->buf.data[i] = (unsigned char)cleat_to_uint64(value);
    return value;
}

/* ---- 5. Tag: a store that skips the declared check ----
 * name is declared String; rename stores with RB_OBJ_WRITE (a write
 * barrier, but no check), so the field can hold anything. */

typedef struct tag {
    VALUE name;
} tag_t;

static const cleat_field tag_fields[] = {
    CLEAT_FIELD(tag_t, name, &rb_cString),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(tag_type, "CleatPlanted::Tag", tag_t, tag_fields);

CLEAT_INIT(tag_initialize, tag_type, tag_t *t, name)
{
    cleat_write(self, &t->name, name);
    return self;
}
CLEAT_SHARED(tag_name, tag_type, tag_t *t) { return t->name; }
CLEAT_EXCLUSIVE(tag_rename, tag_type, tag_t *t, name)
{
    RB_OBJ_WRITE(self, &t->name, name); /* the bug: no class check */
    return name;
}

void Init_cleat_planted(void)
{
    VALUE klass = cleat_type_define_class(&note_type, rb_cObject);
    CLEAT_DEFINE_METHOD(klass, "initialize", note_initialize);
    CLEAT_DEFINE_METHOD(klass, "title", note_title);
    CLEAT_DEFINE_METHOD(klass, "retitle", note_retitle);
    CLEAT_DEFINE_METHOD(klass, "title_length", note_title_length);

    klass = cleat_type_define_class(&mask_type, rb_cObject);
    CLEAT_DEFINE_METHOD(klass, "initialize", mask_initialize);
    CLEAT_DEFINE_METHOD(klass, "size", mask_size);
    CLEAT_DEFINE_METHOD(klass, "resize", mask_resize);
    CLEAT_DEFINE_METHOD(klass, "apply", mask_apply);

    klass = cleat_type_define_class(&worker_type, rb_cObject);
    CLEAT_DEFINE_METHOD(klass, "initialize", worker_initialize);
    CLEAT_DEFINE_METHOD(klass, "digest", worker_digest);
    CLEAT_DEFINE_METHOD(klass, "last", worker_last);

    klass = cleat_type_define_class(&bytes_type, rb_cObject);
    CLEAT_DEFINE_METHOD(klass, "initialize", bytes_initialize);
    CLEAT_DEFINE_METHOD(klass, "size", bytes_size);
    CLEAT_DEFINE_METHOD(klass, "at", bytes_at);
    CLEAT_DEFINE_METHOD(klass, "put", bytes_put);

    klass = cleat_type_define_class(&tag_type, rb_cObject);
    CLEAT_DEFINE_METHOD(klass, "initialize", tag_initialize);
    CLEAT_DEFINE_METHOD(klass, "name", tag_name);
    CLEAT_DEFINE_METHOD(klass, "rename", tag_rename);
}
