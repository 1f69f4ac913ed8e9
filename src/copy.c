/* copy.c - a type's .copy callback, run for dup and clone.
 *
 * The callback is the author's C code, and it may run Ruby code (an
 * element's dup), which may switch fibers, never to come back. Whatever it
 * does, the copy must never free a block of the original's (a cleat_values
 * buffer or a region), and the original must not change under it:
 * - the original is lent shared while the callback runs (Ruby code it
 *   calls cannot grow it: BorrowError);
 * - a callback that copies the struct whole (`*d = *o`) leaves the copy
 *   holding the original's blocks: pushing onto such a field, resizing or
 *   releasing it raises TypeError while the callback runs, and dup/clone
 *   raise TypeError when it returns, the copy having forgotten them;
 * - a copy whose callback never returns (its fiber suspended and dropped, a
 *   continuation taken inside) is never collected, and neither is its
 *   original: both are kept, with what they hold, rather than freed twice.
 * The reviews of the eighth round found each of these holes. */
#include "internal.h"

/* The block a cleat_values or region field points to, or NULL. */
static const void *block_of(const cleat_field *f, const void *data)
{
    if (f->kind == CLEAT_KIND_VALUES) return cleat__field_values((void *)data, f)->ptr;
    if (f->kind == CLEAT_KIND_REGION) return cleat__field_region((void *)data, f)->base;
    return NULL;
}

/* The original's field holding block, or NULL. */
static const cleat_field *holding(const cleat_type *type, const void *src, const void *block)
{
    CLEAT__EACH_FIELD(type, f)
    {
        if (block && block_of(f, src) == block) return f;
    }
    return NULL;
}

/* ---- the copies being made ----
 *
 * Each callback of a type with blocks has an entry for its duration (on the
 * heap: a fiber that never comes back would leave a stack entry dangling,
 * a review of the fix). The entries' copies and originals are marked
 * pinned, so a VALUE stays valid and both stay alive while listed: an entry
 * its callback never finished keeps them for good. Every Ractor's copies
 * share the list, under a lock held for a few instructions (no allocation,
 * no Ruby code inside); the GC reads it while every Ractor is stopped. */
typedef struct copying {
    VALUE copy, orig;
    const void *dst; /* the copy's struct (pinned: it stays put) */
    /* The original's struct, or NULL once freed: at exit Ruby frees every
     * object, an abandoned copy's original too, before the list is done
     * with (a review: a clear then read the freed struct). */
    const void *src;
    const cleat_type *type;
    uint64_t serial;
    struct copying *next;
} copying;
static copying *copies;
static uint64_t copies_made;
static atomic_flag copies_lock = ATOMIC_FLAG_INIT;
/* How many entries are listed: the one word the inline gate
 * (cleat__maybe_copy) reads. Counted outside the lock, relaxed: only the
 * thread running a copy's callback asks about that copy (no other Ractor
 * can reach it), and it counts its own entry before the callback runs and
 * uncounts it after; another thread's stale count only costs (or saves)
 * a look at the list, under the lock. */
atomic_size_t cleat__copies_running;

static void lock_copies(void)
{
    while (atomic_flag_test_and_set_explicit(&copies_lock, memory_order_acquire)) {
    }
}

static void unlock_copies(void) { atomic_flag_clear_explicit(&copies_lock, memory_order_release); }

static void mark_copies(void *unused)
{
    (void)unused;
    for (const copying *c = copies; c; c = c->next) {
        rb_gc_mark(c->copy);
        rb_gc_mark(c->orig);
    }
}

static const rb_data_type_t copies_root_type = {
    .wrap_struct_name = "cleat/copies",
    .function = {.dmark = mark_copies, .dfree = NULL, .dsize = NULL},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY,
};

CLEAT__COLD void cleat__copy_init(void)
{
    /* Ruby marks a data object only when its pointer is not NULL. */
    rb_gc_register_mark_object(TypedData_Wrap_Struct(0, &copies_root_type, &copies));
}

static copying *copy_listed(const cleat_type *type, VALUE copy, const void *dst, VALUE orig, const void *src)
{
    copying *c = ruby_xmalloc(sizeof *c); /* may run the GC: before anything is listed */
    c->copy = copy;
    c->dst = dst;
    c->orig = orig;
    c->src = src;
    c->type = type;
    lock_copies();
    c->serial = ++copies_made;
    c->next = copies;
    copies = c;
    unlock_copies();
    atomic_fetch_add_explicit(&cleat__copies_running, 1, memory_order_relaxed);
    return c;
}

/* The copy's entry, unlinked (the caller frees it), or NULL. */
static copying *unlink_copy(bool (*is)(const copying *c, const void *key, uint64_t serial), const void *key,
                            uint64_t serial)
{
    copying *found = NULL;
    lock_copies();
    for (copying **at = &copies; *at; at = &(*at)->next) {
        if (!is(*at, key, serial)) continue;
        found = *at;
        *at = found->next;
        break;
    }
    unlock_copies();
    if (found) atomic_fetch_sub_explicit(&cleat__copies_running, 1, memory_order_relaxed);
    return found;
}

static bool is_entry(const copying *c, const void *entry, uint64_t serial) { return c == entry && c->serial == serial; }
static bool is_copy_of(const copying *c, const void *dst, uint64_t serial) { return (void)serial, c->dst == dst; }

/* Ruby frees every object at exit, marked or not: a copy whose callback
 * never returned then frees none of its blocks (some may be the original's,
 * which frees them). Asked of building objects only (internal.h). */
bool cleat__unfinished_copy(const void *data)
{
    copying *found = unlink_copy(is_copy_of, data, 0);
    ruby_xfree(found);
    return found != NULL;
}

/* Once: a continuation back into the callback returns here a second time,
 * when c may be freed (and its memory another entry's): the serial tells. */
static void copy_unlisted(const copying *c, uint64_t serial) { ruby_xfree(unlink_copy(is_entry, c, serial)); }

void cleat__refuse_originals_block(VALUE self, const void *block, const char *verb)
{
    const cleat_type *type = NULL;
    const cleat_field *held = NULL;
    lock_copies();
    for (const copying *c = copies; c && !held; c = c->next) {
        if (c->copy != self) continue;
        type = c->type;
        held = c->src ? holding(type, c->src, block) : NULL;
    }
    unlock_copies();
    if (!held) return;
    bool values = held->kind == CLEAT_KIND_VALUES;
    rb_raise(rb_eTypeError,
             "%s: its copy callback %s the original's %s of field %s (copied with the struct: that would free it "
             "under the original): clear the copy's field first (d->%s = (%s){0}), then fill it",
             type->class_path, verb, values ? "cleat_values buffer" : "region", held->name, held->name,
             values ? "cleat_values" : "cleat_region");
}

void cleat__original_freed(const void *data)
{
    lock_copies();
    for (copying *c = copies; c; c = c->next)
        if (c->src == data) c->src = NULL;
    unlock_copies();
}

/* Makes the copy forget every block of the original's it holds, in any of
 * its fields (a review: `d->back = o->front` let one by); returns the first
 * such field of the copy, or NULL. */
static const cleat_field *forget_shared_blocks(const cleat_type *type, void *dst, const void *src)
{
    const cleat_field *shared = NULL;
    CLEAT__EACH_FIELD(type, f)
    {
        if (!holding(type, src, block_of(f, dst))) continue;
        if (f->kind == CLEAT_KIND_VALUES) memset(cleat__field_values(dst, f), 0, sizeof(cleat_values));
        else memset(cleat__field_region(dst, f), 0, sizeof(cleat_region));
        if (!shared) shared = f;
    }
#ifdef CLEAT_DEBUG
    if (shared) cleat__debug_sync(type, dst); /* what it holds now */
#endif
    return shared;
}

struct copy_call {
    void (*copy)(VALUE self, void *dst, const void *src);
    VALUE self;
    void *dst;
    const void *src;
};

static VALUE call_copy(VALUE arg)
{
    const struct copy_call *c = (const struct copy_call *)arg;
    c->copy(c->self, c->dst, c->src);
    return Qnil;
}

void cleat__run_copy(const cleat_type *type, VALUE self, void *dst, VALUE orig, const void *src)
{
    /* Building while the callback runs, and for good if it raises or never
     * returns: Ruby code it runs that finds the copy (ObjectSpace) cannot
     * initialize it and change it under the callback (a review: its
     * region released there, then written through). */
    cleat_header *h = cleat__header(dst);
    h->state |= CLEAT__BUILDING;
    int state = 0;
    struct copy_call call = {type->copy, self, dst, src};
    copying *listed = type->block_fields ? copy_listed(type, self, dst, orig, src) : NULL;
    uint64_t serial = listed ? listed->serial : 0;
    static atomic_uintptr_t lender; /* initialize_copy, the method a copy runs in, asked once */
    bool replayed = !cleat__borrow_protect(orig, CLEAT_BORROW_SHARED, call_copy, (VALUE)&call, &lender, &state);
    if (listed) copy_unlisted(listed, serial);
    const cleat_field *shared = type->block_fields ? forget_shared_blocks(type, dst, src) : NULL;
    if (replayed)
        rb_raise(cleat_eBorrowError, "%s#initialize_copy was re-entered through a continuation after it returned",
                 type->class_path);
    if (state) rb_jump_tag(state);
    if (!shared) {
        h->state &= ~CLEAT__BUILDING;
        return;
    }
    rb_raise(rb_eTypeError,
             "%s: its copy callback left field %s sharing the original's %s (both objects would free it): give the "
             "copy its own (%s), not the original's pointer",
             type->class_path, shared->name, shared->kind == CLEAT_KIND_VALUES ? "cleat_values buffer" : "region",
             shared->kind == CLEAT_KIND_VALUES ? "cleat_values_push each element" : "cleat_region_resize, then copy the bytes");
}
