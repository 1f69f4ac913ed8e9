/* region.c - native memory that moves: resizing it, and the IO::Buffers
 * lent over it, which must be freed before the memory they show. */
#include "internal.h"

#include <string.h>
#ifdef HAVE_RUBY_IO_BUFFER_H
#include <ruby/io/buffer.h>
#endif

static ID id_keys, id_aset, id_owner;

static void intern_ids(void)
{
    if (id_owner) return;
    id_keys = rb_intern("keys");
    id_aset = rb_intern("[]=");
    id_owner = rb_intern("__cleat_owner"); /* no @: invisible to Ruby code */
}

/* Frees every IO::Buffer lent over r, then forgets them (the next buffer
 * starts a new map), so later resizes do not visit freed buffers again.
 * If this raises (it allocates) the region is as it was, minus some buffers,
 * and the rest are still listed. */
static void free_lent_buffers(cleat_region *r)
{
#ifdef HAVE_RUBY_IO_BUFFER_H
    if (!r->buffers) return;
    intern_ids();
    VALUE buffers = rb_funcall(r->buffers, id_keys, 0);
    for (long i = 0; i < RARRAY_LEN(buffers); i++) {
        VALUE buffer = RARRAY_AREF(buffers, i);
        rb_io_buffer_try_unlock(buffer);
        rb_io_buffer_free(buffer);
    }
    r->buffers = 0; /* an immediate: no write barrier needed */
#else
    (void)r;
#endif
}

void cleat_region_resize(VALUE owner, cleat_region *r, size_t size)
{
    CLEAT__NEEDS_GVL();
    free_lent_buffers(r);
    /* A fresh allocation every time: a stale pointer into the old memory is
     * then a use-after-free that sanitizers catch, never a silent misread. */
    unsigned char *base = ruby_xcalloc(1, size ? size : 1);
    if (r->base) memcpy(base, r->base, r->size < size ? r->size : size);
    unsigned char *old = r->base;
    r->base = base;
    r->size = size;
    r->generation++;
    ruby_xfree(old);
    RB_GC_GUARD(owner);
}

void cleat_region_release(VALUE owner, cleat_region *r)
{
    CLEAT__NEEDS_GVL();
    free_lent_buffers(r);
    unsigned char *old = r->base;
    r->base = NULL;
    r->size = 0;
    r->generation++;
    ruby_xfree(old);
    RB_GC_GUARD(owner);
}

VALUE cleat_view_buffer(const cleat_view *v)
{
    CLEAT__NEEDS_GVL();
#ifdef HAVE_RUBY_IO_BUFFER_H
    const unsigned char *bytes = cleat_view_bytes(v);
    intern_ids();
    cleat_region *r = (cleat_region *)v->region; /* the owner's own, mutable memory */
    if (!r->buffers) {
        VALUE weak_map = rb_class_new_instance(0, NULL, rb_path2class("ObjectSpace::WeakMap"));
        cleat_write(v->owner, &r->buffers, weak_map);
    }
    VALUE buffer = rb_io_buffer_new((void *)bytes, v->length, RB_IO_BUFFER_EXTERNAL | RB_IO_BUFFER_READONLY);
    rb_ivar_set(buffer, id_owner, v->owner); /* the memory outlives the buffer */
    rb_io_buffer_lock(buffer);               /* Ruby code may not free or transfer it */
    rb_funcall(r->buffers, id_aset, 2, buffer, Qtrue);
    return buffer;
#else
    (void)v;
    rb_raise(rb_eNotImpError, "IO::Buffer needs Ruby 3.1 or newer");
#endif
}
