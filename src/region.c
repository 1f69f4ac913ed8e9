/* region.c - native memory that moves: resizing it, and the IO::Buffers
 * lent over it, which must be freed before the memory they show.
 *
 * The lent buffers are listed in C, in a hidden Array (no class: Ruby code
 * cannot find it through ObjectSpace, call methods on it or change it) that
 * the owner marks strongly through the region's `buffers` field. Nothing
 * here calls a method Ruby code could redefine: the object is inside a door
 * (not lent) whenever these functions run. */
#include "internal.h"

#include <string.h>
#ifdef HAVE_RUBY_IO_BUFFER_H
#include <ruby/io/buffer.h>
#endif

static ID id_owner;

/* Decided once, at load (cleat__region_init): true when this Ruby's
 * IO::Buffer#slice keeps a buffer read-only. Ruby 3.1's drops the flag, so a
 * slice of a read-only buffer over our memory would be writable: there we
 * lend copies instead. Written before any Ruby code can use a buffer, read
 * only afterwards. */
static bool slices_keep_readonly = false;

#ifdef HAVE_RUBY_IO_BUFFER_H
static VALUE probe_slice(VALUE root)
{
    VALUE args[2] = {INT2FIX(0), INT2FIX(1)};
    return rb_funcallv(root, rb_intern("slice"), 2, args);
}

/* ~buffer: reads every byte of buffer into a new one. */
static VALUE probe_not(VALUE buffer) { return rb_funcallv(buffer, rb_intern("~"), 0, NULL); }

static VALUE probe_writable(VALUE buffer)
{
    void *base;
    size_t size;
    rb_io_buffer_get_bytes_for_writing(buffer, &base, &size); /* raises when read-only */
    return Qtrue;
}
#endif

/* Whether the building Ruby's IO::Buffer operators (~, &, |, ^) refused a
 * slice of a freed buffer: asked by cleat/mkmf of a child Ruby, where no
 * program's hooks run. Without it, no zero-copy buffers whatever the probe
 * below finds (a review: a hook at load that raised Ruby's own refusal for
 * freed slices passed it, and & then read freed memory). */
#ifndef CLEAT_IO_BUFFER_CHECKS_SLICES
#define CLEAT_IO_BUFFER_CHECKS_SLICES 0
#endif

/* Whether ~ refuses a slice whose source was freed: Ruby's own refusal,
 * IO::Buffer::InvalidatedError raised by ~ itself, of a slice it read
 * while its source lived. Anything else is taken for the worst (the
 * seventh hostile review: a :c_return hook raising after ~ had read the
 * freed slice made any exception count as a refusal, and zero-copy
 * buffers crashed 3.3 and 3.4 release builds). A hook that raises on every
 * ~ fails the first call; one crafted to raise that very class on the
 * second call only, while the extension loads, is not told apart. */
static bool not_refuses_freed_slices(VALUE root, VALUE part)
{
    ID invalidated = rb_intern("InvalidatedError");
    if (!rb_const_defined_at(rb_cIOBuffer, invalidated)) return false;
    VALUE refusal = rb_const_get_at(rb_cIOBuffer, invalidated);
    int state = 0;
    VALUE read = rb_protect(probe_not, part, &state); /* the source alive: ~ must read it */
    if (state || !RB_TYPE_P(read, T_DATA) || !RTEST(rb_obj_is_kind_of(read, rb_cIOBuffer))) return false;
    rb_io_buffer_free(root);
    rb_protect(probe_not, part, &state); /* the source freed: ~ must refuse */
    VALUE error = rb_errinfo();
    return state != 0 && RB_TYPE_P(error, T_OBJECT) && rb_obj_class(error) == refusal; /* (a throw leaves no exception) */
}

CLEAT__COLD void cleat__region_init(void)
{
    if (id_owner) return;
    id_owner = rb_intern("__cleat_owner"); /* no @: invisible to Ruby code */
#ifdef HAVE_RUBY_IO_BUFFER_H
    /* Ask this Ruby, not its version number: slice a read-only buffer and
     * see whether the slice is writable. Only Ruby's own slice is asked (a
     * redefined one could say anything): if it was replaced before we
     * loaded, assume the worst and copy. */
    static unsigned char probe_byte;
    if (!rb_method_basic_definition_p(rb_cIOBuffer, rb_intern("slice"))) return;
    VALUE root = rb_io_buffer_new(&probe_byte, 1, RB_IO_BUFFER_EXTERNAL | RB_IO_BUFFER_READONLY);
    int root_refused = 0, state = 0;
    rb_protect(probe_writable, root, &root_refused); /* the buffer itself must refuse */
    VALUE part = rb_protect(probe_slice, root, &state);
    if (root_refused && !state) {
        void *base = NULL;
        size_t size = 0;
        rb_io_buffer_get_bytes(part, &base, &size); /* a valid slice of our byte... */
        rb_protect(probe_writable, part, &state);   /* ...that refuses to be written */
        slices_keep_readonly = base == &probe_byte && size == 1 && state != 0;
        /* A slice must also notice that its source was freed. Ruby 3.3 and
         * 3.4's binary operators (~, &, |, ^) read a slice without checking,
         * so after a resize a slice of a lent buffer would read freed memory
         * (found by the hostile review): only a Ruby whose ~ refuses a slice
         * of a freed buffer gets zero-copy buffers. Our byte is static, so
         * the probe itself reads nothing freed. */
        if (slices_keep_readonly && CLEAT_IO_BUFFER_CHECKS_SLICES &&
            rb_method_basic_definition_p(rb_cIOBuffer, rb_intern("~"))) {
            slices_keep_readonly = not_refuses_freed_slices(root, part);
        } else {
            slices_keep_readonly = false;
        }
        rb_io_buffer_free(part);
    }
    rb_set_errinfo(Qnil);
    rb_io_buffer_free(root);
    RB_GC_GUARD(root);
#endif
}

bool cleat_view_buffer_zero_copy(void) { return slices_keep_readonly; }

/* Frees every IO::Buffer lent over r, then forgets them. Calls no Ruby code
 * and raises nothing: our buffers are locked only by us (Ruby code cannot
 * lock a locked buffer), and freeing an external buffer releases nothing.
 * Slices Ruby code made of them see their source freed and raise too. */
static void free_lent_buffers(cleat_region *r)
{
#ifdef HAVE_RUBY_IO_BUFFER_H
    VALUE list = r->buffers;
    if (!list) return;
    r->buffers = 0; /* an immediate: no write barrier needed */
    for (long i = 0; i < RARRAY_LEN(list); i++) {
        VALUE buffer = RARRAY_AREF(list, i);
        rb_io_buffer_try_unlock(buffer);
        rb_io_buffer_free(buffer);
    }
    RB_GC_GUARD(list);
#else
    (void)r;
#endif
}

/* Frees a region's old memory; debug builds keep it in quarantine instead
 * (debug_memory.c), where a stale pointer reads a pattern. */
static void retire(VALUE owner, const cleat_region *r, unsigned char *old, size_t old_size, const char *verb)
{
#ifdef CLEAT_DEBUG
    cleat__debug_region_retire(owner, r, old, old_size, verb);
#else
    (void)owner, (void)r, (void)old_size, (void)verb;
    ruby_xfree(old);
#endif
}

void cleat_region_resize(VALUE owner, cleat_region *r, size_t size)
{
    CLEAT__NEEDS_GVL();
    if (cleat_type_of(owner)) {
        cleat__refuse_lent(owner); /* a lent region's views are in use */
        cleat__refuse_if_originals_block(owner, r->base, "resized");
    }
    /* A fresh allocation every time: a stale pointer into the old memory is
     * then a use-after-free that sanitizers catch, never a silent misread.
     * Allocated first, so NoMemoryError leaves everything as it was. */
    size_t bytes;
    if (__builtin_add_overflow(size ? size : 1, (size_t)CLEAT__REGION_CANARY, &bytes))
        rb_raise(rb_eNoMemError, "cleat_region_resize: %zu bytes is too large", size);
    unsigned char *base = ruby_xcalloc(1, bytes);
#ifdef CLEAT_DEBUG
    cleat__debug_region_made(base, size);
#endif
    if (r->base) memcpy(base, r->base, r->size < size ? r->size : size);
    free_lent_buffers(r);
    unsigned char *old = r->base;
    size_t old_size = r->size;
    r->base = base;
    r->size = size;
    r->generation++;
    retire(owner, r, old, old_size, "resized");
    RB_GC_GUARD(owner);
}

void cleat_region_release(VALUE owner, cleat_region *r)
{
    CLEAT__NEEDS_GVL();
    if (cleat_type_of(owner)) {
        cleat__refuse_lent(owner); /* as resize: its views are in use */
        cleat__refuse_if_originals_block(owner, r->base, "released");
    }
    free_lent_buffers(r);
    unsigned char *old = r->base;
    size_t old_size = r->size;
    r->base = NULL;
    r->size = 0;
    r->generation++;
    retire(owner, r, old, old_size, "released");
    RB_GC_GUARD(owner);
}

#ifdef HAVE_RUBY_IO_BUFFER_H
enum { REUSE_WINDOW = 16 }; /* lent buffers compared for reuse, newest first */

/* A read-only buffer over a private copy: what a Ruby whose slices drop
 * read-only gets. Writes through its slices change only the copy. */
static VALUE copied_buffer(const unsigned char *bytes, size_t length)
{
    /* An empty buffer over a static byte, not a null one (whose reads raise),
     * like an empty view of the memory itself. */
    static unsigned char no_bytes;
    VALUE buffer = length ? rb_io_buffer_new(NULL, length, RB_IO_BUFFER_INTERNAL | RB_IO_BUFFER_READONLY)
                          : rb_io_buffer_new(&no_bytes, 0, RB_IO_BUFFER_EXTERNAL | RB_IO_BUFFER_READONLY);
    if (length) {
        void *base = NULL;
        size_t size = 0;
        rb_io_buffer_get_bytes(buffer, &base, &size); /* read-only to Ruby code, not to us */
        if (!base || size != length) rb_raise(rb_eNoMemError, "cannot copy %zu bytes into an IO::Buffer", length);
        memcpy(base, bytes, length);
    }
    rb_io_buffer_lock(buffer); /* as a lent buffer: Ruby code may not free or transfer it */
    return buffer;
}
#endif

VALUE cleat_view_buffer(const cleat_view *v)
{
    CLEAT__NEEDS_GVL();
#ifdef HAVE_RUBY_IO_BUFFER_H
    const unsigned char *bytes = cleat_view_bytes(v);
    /* A frozen owner may be shared by Ractors, whose lending would race on
     * the list below: it lends copies too. */
    if (!slices_keep_readonly || OBJ_FROZEN(v->owner)) return copied_buffer(bytes, v->length);
    cleat_region *r = (cleat_region *)v->region; /* the owner's own, mutable memory */
    VALUE list = r->buffers;
    if (list) {
        /* The same bytes lent again get the same buffer: the list (marked
         * strongly until the region changes) then grows with the distinct
         * ranges lent, not with the number of calls. Only the latest few
         * are compared, so lending stays O(1) however many ranges are out. */
        long len = RARRAY_LEN(list);
        for (long i = len - 1; i >= 0 && i >= len - REUSE_WINDOW; i--) {
            VALUE lent = RARRAY_AREF(list, i);
            void *base = NULL;
            size_t size = 0;
            rb_io_buffer_get_bytes(lent, &base, &size);
            if (base == bytes && size == v->length) return lent;
        }
    } else {
        list = rb_obj_hide(rb_ary_new());
        cleat_write(v->owner, &r->buffers, list);
    }
    VALUE buffer = rb_io_buffer_new((void *)bytes, v->length, RB_IO_BUFFER_EXTERNAL | RB_IO_BUFFER_READONLY);
    rb_ivar_set(buffer, id_owner, v->owner); /* the memory outlives the buffer */
    rb_io_buffer_lock(buffer);               /* Ruby code may not free or transfer it */
    rb_ary_push(list, buffer);
    return buffer;
#else
    (void)v;
    rb_raise(rb_eNotImpError, "IO::Buffer needs Ruby 3.1 or newer");
#endif
}
