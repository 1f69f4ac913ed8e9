/* type.c - from a cleat_type description to everything Ruby's GC needs:
 * class definition, allocation, mark, compaction, memsize, free, copy. */
#include "internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* ---- the class ---------------------------------------------------------- */

/* Finds or creates the module (or class) chain for "A::B" in path[0..len). */
static VALUE define_namespace(const char *path, size_t len)
{
    VALUE outer = rb_cObject;
    size_t start = 0;
    while (start < len) {
        const char *sep = strstr(path + start, "::");
        size_t end = sep && (size_t)(sep - path) < len ? (size_t)(sep - path) : len;
        ID id = rb_intern2(path + start, (long)(end - start));
        if (rb_const_defined_at(outer, id)) {
            VALUE v = rb_const_get_at(outer, id);
            if (!RB_TYPE_P(v, T_MODULE) && !RB_TYPE_P(v, T_CLASS))
                rb_raise(rb_eTypeError, "%.*s is not a class or module", (int)end, path);
            outer = v;
        } else {
            outer = rb_define_module_id_under(outer, id);
        }
        start = end + 2;
    }
    return outer;
}

/* Checks the description and lays the object out, in one pass over the
 * fields (this runs once per type; one loop is less code than four): the
 * header, and in debug builds the shadow of every VALUE field, rounded up
 * to the struct's alignment. Raises ArgumentError before changing type. */
static void check_and_lay_out(cleat_type *type)
{
    const char *path = type->class_path;
    if (!path || !*path) rb_raise(rb_eArgError, "a Cleat type needs a class path");
    if (type->klass) rb_raise(rb_eArgError, "%s: class already defined for this type", path);
    /* Every walk of the list stops at CLEAT_FIELDS_END: one forgotten, it
     * would read on into whatever follows the array (the seventh hostile
     * review: a crash at load, or the next type's fields taken for these). */
    bool ended = !type->fields || !type->field_array_len;
    for (size_t i = 0; !ended && i < type->field_array_len; i++) ended = type->fields[i].kind == CLEAT_KIND_END;
    if (!ended)
        rb_raise(rb_eArgError, "%s: its field list does not end with CLEAT_FIELDS_END (add it after the last field)",
                 path);
    /* Such objects are usable from allocation on, when every VALUE field is
     * nil: a field that refuses nil could be read as nil. With
     * .init_fields, allocation checks what the hook left instead. */
    bool all_nil_ok = (type->flags & CLEAT_ZERO_IS_VALID) && !type->init_fields;
    size_t values = 0, lists = 0, regions = 0;
    uint64_t slots = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        size_t width = cleat__field_width(f);
        if (f->offset > type->size || type->size - f->offset < width)
            rb_raise(rb_eArgError, "%s: field %s lies outside the struct", path, f->name);
        regions += f->kind == CLEAT_KIND_REGION;
        lists += f->kind == CLEAT_KIND_VALUES;
        if (f->kind != CLEAT_KIND_VALUE) continue;
        if (all_nil_ok && !f->nil_ok)
            rb_raise(rb_eArgError,
                     "%s: CLEAT_ZERO_IS_VALID objects start with nil in every field, but field %s "
                     "refuses nil; declare it CLEAT_FIELD_OR_NIL",
                     path, f->name);
        values++;
        /* cleat_write_known's inline check: which 8-byte words are VALUE
         * fields (a view's owner is not: only cleat_view_init stores it). */
        if (!f->view_owner && f->offset % sizeof(VALUE) == 0 && f->offset / sizeof(VALUE) < 64)
            slots |= (uint64_t)1 << (f->offset / sizeof(VALUE));
    }
    if ((type->flags & CLEAT_MARK_BY_HAND) && !type->mark)
        rb_raise(rb_eArgError, "%s: CLEAT_MARK_BY_HAND needs a mark callback", path);
    if ((type->flags & CLEAT_COPYABLE) && (type->free || regions) && !type->copy)
        rb_raise(rb_eArgError,
                 "%s: CLEAT_COPYABLE copies member by member, which would share the memory "
                 "it frees; give the type a copy callback",
                 path);
    size_t prefix = sizeof(cleat_header), align = type->align > sizeof(cleat_header) ? type->align : sizeof(cleat_header);
#ifdef CLEAT_DEBUG
    /* debug.c: the shadow, a shadow per cleat_values; debug_memory.c: with a
     * .mark and a .compact, the words the last mark marked movable */
    prefix += (values + lists + (type->mark && type->compact)) * sizeof(VALUE);
#endif
    type->value_fields = values;
    type->block_fields = lists + regions;
    type->prefix = (prefix + align - 1) / align * align;
    type->value_slots = slots;
}

/* Whether the GC must call into the type at all: a struct with no declared
 * references and no hand-written mark needs neither mark nor compaction. */
static bool has_references(const cleat_type *type)
{
    return type->mark || (type->fields && type->fields[0].kind != CLEAT_KIND_END);
}

/* Ruby 3.3+ marks and moves fixed-offset references itself, from a list of
 * offsets given in place of dmark: no callback per object, but slower than
 * the straight-line callbacks CLEAT_TYPE generates (1.07x to 1.31x of them
 * with 1M Persons, bench/marking.rb), so only types that ask for it
 * (CLEAT_DECL_MARKING) get it, and not those with cleat_values (counted) or
 * a hand-written mark. */
static void use_declarative_marking(cleat_type *type)
{
    type->references = NULL;
#ifdef HAVE_CONST_RUBY_TYPED_DECL_MARKING
    if (!(type->flags & CLEAT_DECL_MARKING) || type->mark || type->flags & CLEAT_MARK_BY_HAND ||
        !type->rb.function.dmark)
        return;
    size_t count = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUES) return;
        count++;
    }
    size_t *offsets = ruby_xmalloc2(count + 1, sizeof(size_t)); /* lives as long as the type */
    size_t i = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        offsets[i++] = f->kind == CLEAT_KIND_REGION ? f->offset + offsetof(cleat_region, buffers) : f->offset;
    }
    offsets[i] = SIZE_MAX; /* RUBY_REF_END */
    type->references = offsets;
    type->rb.function.dmark = (RUBY_DATA_FUNC)(void *)offsets;
    type->rb.function.dcompact = NULL;
    type->rb.flags |= RUBY_TYPED_DECL_MARKING;
#endif
}

bool cleat_type_declarative(const cleat_type *type) { return type->references != NULL; }

void cleat_ractor_safe(void)
{
#ifdef HAVE_RB_EXT_RACTOR_SAFE
    rb_ext_ractor_safe(true);
#endif
}

/* rb_define_class_under also returns a class that the constant merely
 * names, or that C code made (the eighth hostile review: with
 * `CleatExamples::Counter = String` run before the extension loaded,
 * String got Counter's allocator, and String's own methods crashed on the
 * objects it made). A class Ruby code defined with this name and superclass
 * is fine: its objects are plain ones, and Cleat's methods refuse them. */
static void refuse_foreign_class(VALUE klass, VALUE super, const char *path)
{
    VALUE name = rb_class_name(klass);
    if (!cleat__string_is(name, path, strlen(path)))
        rb_raise(rb_eTypeError, "%s is %" PRIsVALUE ", a class of another name: a Cleat type needs a class of its own",
                 path, name);
    if (rb_get_alloc_func(klass) != rb_get_alloc_func(super))
        rb_raise(rb_eTypeError,
                 "%s has an allocator of its own (C code made the class): a Cleat type needs a class of its own", path);
}

CLEAT__COLD VALUE cleat_type_define_class(cleat_type *type, VALUE super)
{
    CLEAT__NEEDS_GVL();
    cleat_init();
    check_and_lay_out(type);
    cleat__registry_init(); /* before the class: nothing half-defined if it raises */

    rb_data_type_t *rb = &type->rb;
    rb->wrap_struct_name = type->class_path;
    bool references = has_references(type);
    rb->function.dmark = references ? type->hooks.mark : NULL;
    rb->function.dfree = type->hooks.free;
    rb->function.dsize = type->hooks.memsize;
    rb->function.dcompact = references ? type->hooks.compact : NULL;
    rb->parent = NULL;
    rb->data = type; /* lets cleat_type_of recognise Cleat objects */
    type->abi = CLEAT_ABI;
    rb->flags = 0;
    if (!(type->flags & CLEAT_DEFERRED_FREE)) rb->flags |= RUBY_TYPED_FREE_IMMEDIATELY;
    if (!(type->flags & CLEAT_NOT_WB_PROTECTED)) rb->flags |= RUBY_TYPED_WB_PROTECTED;
    if (type->flags & CLEAT_FROZEN_SHAREABLE) rb->flags |= RUBY_TYPED_FROZEN_SHAREABLE;
    use_declarative_marking(type);

    const char *path = type->class_path;
    const char *last = path, *sep;
    while ((sep = strstr(last, "::")) != NULL) last = sep + 2;
    VALUE outer = last == path ? rb_cObject : define_namespace(path, (size_t)(last - path - 2));
    VALUE klass = rb_define_class_under(outer, last, super);
    /* A hidden mark on the class, seen by every extension's copy of Cleat:
     * a second type naming the same class would take its allocator over,
     * and the first type's methods would refuse every new object. */
    ID owned = rb_intern("__cleat_type__");
    if (rb_ivar_defined(klass, owned))
        rb_raise(rb_eTypeError, "%s is already the class of another Cleat type (two CLEAT_TYPEs with one class path)",
                 path);
    refuse_foreign_class(klass, super, path);
    rb_ivar_set(klass, owned, Qtrue);

    rb_define_alloc_func(klass, type->hooks.alloc);
    rb_define_method(klass, "initialize_copy", type->hooks.init_copy, 1);
    type->klass = klass;
    rb_gc_register_address(&type->klass);
    cleat__registry_type(type);
    return klass;
}

const cleat_type *cleat_type_of(VALUE obj)
{
    if (RB_SPECIAL_CONST_P(obj) || RB_BUILTIN_TYPE(obj) != RUBY_T_DATA || !RTYPEDDATA_P(obj))
        return NULL;
    const rb_data_type_t *rb = RTYPEDDATA_TYPE(obj);
    const cleat_type *type = rb->data;
    /* Only pointer arithmetic until the layout is known to match: when rb
     * sits at our offset in the struct that data points to, the abi word
     * just before it is inside that struct too, and says whose layout it is. */
    if (!type || &type->rb != rb || type->abi != CLEAT_ABI) return NULL;
    return RTYPEDDATA_DATA(obj) ? type : NULL;
}

/* ---- allocation ---------------------------------------------------------- */

/* What allocation gives every struct: zero bytes, and nil (not the zero
 * word, which Ruby reads as false) in every declared VALUE field. nil is an
 * immediate: no write barrier, nothing to mark. */
static void fill_nil(const cleat_type *type, void *data)
{
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) *cleat__field_slot(data, f) = Qnil;
    }
}

/* The declared VALUE field starting at byte `offset` of the struct, or NULL. */
static const cleat_field *value_field_at(const cleat_type *type, size_t offset)
{
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE && f->offset == offset) return f;
    }
    return NULL;
}

/* True when the struct is still as allocation left it (fill_nil). */
static bool pristine(const cleat_type *type, const unsigned char *data)
{
    for (size_t i = 0; i < type->size;) {
        if (value_field_at(type, i)) {
            VALUE v;
            memcpy(&v, data + i, sizeof v);
            if (v != Qnil) return false;
            i += sizeof(VALUE);
        } else {
            if (data[i]) return false;
            i++;
        }
    }
    return true;
}

static VALUE expected_class(const cleat_field *f)
{
    if (f->klass) return rb_class_name(*f->klass);
    return rb_str_new_cstr(f->type ? f->type->class_path : "a value");
}

/* Marks the object initialised, the last step of every way to make one
 * (initialize, cleat_type_ready, dup/clone), once every field that refuses
 * nil holds a value: a reader may trust the declaration. Raises TypeError
 * naming `by` and the field otherwise, and the object stays uninitialised.
 * A NULL `by` means the running door method, looked up only when raising:
 * initialize must not pay for a name it rarely prints. */
static void finish(const cleat_type *type, VALUE self, void *data, const char *by)
{
    (void)self;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE && !f->nil_ok && NIL_P(*cleat__field_slot(data, f))) {
            char method[128];
            if (!by) {
                ID id = rb_frame_this_func();
                const char *name = id ? rb_id2name(id) : NULL;
                snprintf(method, sizeof method, "#%s", name ? name : "initialize");
                by = method;
            }
            rb_raise(rb_eTypeError, "%s: %s left field %s nil (declared %" PRIsVALUE ", not nil)",
                     type->class_path, by, f->name, expected_class(f));
        }
    }
    cleat__initialized(data);
}

/* After a CLEAT_INIT body returned (its own method name: "#initialize",
 * usually, or "#initialize_copy"...). */
void cleat__init_done(const cleat_type *type, VALUE self, void *data) { finish(type, self, data, NULL); }

VALUE cleat__type_alloc(const cleat_type *type, VALUE klass)
{
    size_t header = cleat__header_bytes(type), total;
    if (__builtin_add_overflow(header, type->size, &total))
        rb_raise(rb_eNoMemError, "%s: struct too large", type->class_path);
    /* The object first, with no data: if the allocation below runs the GC
     * or raises, Ruby sees an empty object and skips mark and free. */
    VALUE obj = rb_data_typed_object_wrap(klass, NULL, &type->rb);
    char *base = ruby_xcalloc(1, total);
    fill_nil(type, base + header);
    DATA_PTR(obj) = base + header;
#ifdef CLEAT_DEBUG
    cleat__debug_sync(type, base + header);
#endif
    /* Starting values, while the object is still uninitialised: whatever
     * finds it meanwhile gets TypeError, and if the hook raises, nothing
     * usable was made. */
    cleat_header *h = cleat__header(base + header);
    /* Building until the hook and the check of what it left are done, and
     * for ever if either raises: an object found through ObjectSpace then
     * is refused even by initialize, which would trust what the hook gives. */
    if (type->init_fields) {
        h->state = CLEAT__BUILDING;
        type->init_fields(obj, base + header);
#ifdef CLEAT_DEBUG
        cleat__debug_memory_check(obj, type, "init_fields"); /* no door exit follows it */
#endif
    }
    if (type->flags & CLEAT_ZERO_IS_VALID) {
        finish(type, obj, base + header, "init_fields");
        if (type->init_fields) h->state |= CLEAT__FRESH;
    }
    h->state &= ~CLEAT__BUILDING;
    return obj;
}

void *cleat_type_new(const cleat_type *type, VALUE *obj)
{
    CLEAT__NEEDS_GVL();
    if (!type->klass) rb_raise(rb_eArgError, "%s: class not defined yet", type->class_path);
    *obj = cleat__type_alloc(type, type->klass);
    void *data = RTYPEDDATA_DATA(*obj);
    /* Handed to C to fill: no longer as the hook left it, so dup/clone may
     * not fill it again (a CLEAT_ZERO_IS_VALID object is usable at once). */
    cleat__header(data)->state &= ~CLEAT__FRESH;
#ifdef CLEAT_DEBUG
    cleat__debug_memory_new(*obj); /* filled after this returns: checked later */
#endif
    return data; /* initialised by cleat_type_ready, once filled */
}

void cleat_type_ready(VALUE obj)
{
    CLEAT__NEEDS_GVL();
    const cleat_type *type = cleat_type_of(obj);
    if (!type) cleat__raise_wrong_type(obj, "a Cleat object");
    void *data = RTYPEDDATA_DATA(obj);
    if (cleat__header(data)->state & CLEAT__INIT)
        rb_raise(rb_eTypeError, "already initialized %s", type->class_path);
    if (cleat__header(data)->state & CLEAT__BUILDING)
        rb_raise(rb_eTypeError, "unusable %s: its init_fields or copy callback did not finish", type->class_path);
#ifdef CLEAT_DEBUG
    cleat__debug_memory_check(obj, type, "the C code that filled it before cleat_type_ready");
#endif
    finish(type, obj, data, "cleat_type_ready");
}

/* ---- what the GC calls ---------------------------------------------------- */

/* The fields CLEAT_TYPE's unrolled functions leave out of line. */
void cleat__mark_field(void *data, const cleat_field *f)
{
    if (f->kind == CLEAT_KIND_VALUES) {
        const cleat_values *vals = cleat__field_values(data, f);
        for (size_t i = 0, n = cleat__values_count(vals); i < n; i++) rb_gc_mark_movable(vals->ptr[i]);
    } else if (f->kind == CLEAT_KIND_REGION) {
        rb_gc_mark_movable(*cleat__region_buffers_slot(data, f));
    }
}

void cleat__type_mark_rest(const cleat_type *type, void *data)
{
#ifdef CLEAT_DEBUG
    if (type->mark) cleat__debug_run_mark(type, data);
    cleat__debug_mark_check(type, data);
#else
    if (type->mark) type->mark(data);
#endif
}

/* For types declared with a pointer to their fields (CLEAT_TYPE sees no
 * array to unroll): the same loop, run to the END sentinel. */
void cleat__type_mark(const cleat_type *type, void *data)
{
    if (type->fields) cleat__mark_declared(type, type->fields, SIZE_MAX, data);
    else cleat__type_mark_rest(type, data);
}

void cleat__compact_field(void *data, const cleat_field *f)
{
    if (f->kind == CLEAT_KIND_VALUES) {
        cleat_values *vals = cleat__field_values(data, f);
        for (size_t i = 0, n = cleat__values_count(vals); i < n; i++) vals->ptr[i] = rb_gc_location(vals->ptr[i]);
    } else if (f->kind == CLEAT_KIND_REGION) {
        VALUE *slot = cleat__region_buffers_slot(data, f);
        *slot = rb_gc_location(*slot);
    }
}

void cleat__type_compact_rest(const cleat_type *type, void *data)
{
    if (!type->compact) return;
    type->compact(data);
#ifdef CLEAT_DEBUG
    cleat__debug_after_compact(type, data);
#endif
}

void cleat__type_compact(const cleat_type *type, void *data)
{
    if (type->fields) cleat__compact_declared(type, type->fields, SIZE_MAX, data);
    else cleat__type_compact_rest(type, data);
}

static size_t saturating_add(size_t a, size_t b)
{
    size_t sum;
    return __builtin_add_overflow(a, b, &sum) ? SIZE_MAX : sum;
}

size_t cleat__type_memsize(const cleat_type *type, const void *data)
{
    size_t total = saturating_add(cleat__header_bytes(type), type->size);
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUES) {
            const cleat_values *vals = cleat__field_values((void *)data, f);
            total = saturating_add(total, vals->capa * sizeof(VALUE)); /* capa checked when grown */
        } else if (f->kind == CLEAT_KIND_REGION) {
            total = saturating_add(total, cleat__field_region((void *)data, f)->size);
        }
    }
    if (type->memsize) total = saturating_add(total, type->memsize(data));
    return total;
}

struct free_call {
    void (*free)(void *data);
    void *data;
};

static VALUE call_free(VALUE arg)
{
    const struct free_call *call = (const struct free_call *)arg;
    call->free(call->data);
    return Qnil;
}

/* A deferred free runs after the GC that found the object dead, which may
 * have freed what only the object kept, and a GC.compact since may have
 * moved the rest without updating a dead object's fields (the eighth
 * review: a log Array read after it was swept, or at its old address). So
 * the callback sees its VALUE fields and cleat_values elements as nil, in
 * every build: using one fails at once, never in someone else's memory.
 * Returns the first such field that held an object, or NULL. */
/* What a hidden view points to: a region whose generation no view has, so
 * cleat_view_bytes raises StaleReferenceError before it reads the owner (a
 * review: a view's owner made nil crashed cleat_view_bytes). */
static const cleat_region hidden_region = {NULL, 0, UINT64_MAX, 0};

static const char *hide_values(const cleat_type *type, void *data)
{
    const char *first = NULL;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) {
            VALUE *slot = cleat__field_slot(data, f);
            if (!first && !RB_SPECIAL_CONST_P(*slot)) first = f->name;
            *slot = Qnil; /* an immediate: no barrier, and the object is dead */
            if (f->view_owner) {
                cleat_view *v = (cleat_view *)(void *)((char *)slot - offsetof(cleat_view, owner));
                v->region = &hidden_region;
                v->generation = 0;
            }
        } else if (f->kind == CLEAT_KIND_VALUES) {
            cleat_values *vals = cleat__field_values(data, f);
            for (size_t i = 0, n = cleat__values_count(vals); i < n; i++) {
                if (!first && !RB_SPECIAL_CONST_P(vals->ptr[i])) first = f->name;
                vals->ptr[i] = Qnil;
            }
        }
    }
    return first;
}

/* A deferred free callback may use the Ruby API, and so may raise (or
 * throw). Ruby runs it while finalizing, as it runs finalizer procs, and
 * an exception leaving it would jump out of that: Ruby would then never
 * finalize anything again, at exit included, where buffered output is
 * flushed (the eighth hostile review: lost writes). So Cleat does what Ruby
 * does with a finalizer's exception: it frees what it owns, warns, and
 * drops the exception (before the seventh hostile review it also leaked,
 * and debug builds said nothing; they report it). The warning goes to
 * stderr from C, unless $VERBOSE is nil: no Ruby code (Warning.warn) runs
 * at exit's finalizing, where objects are half torn down (a review: a
 * Warning.warn writing to a StringIO crashed there). Returns whether the
 * callback raised, with `warning` filled. */
static bool free_deferred(const cleat_type *type, void *data, char *warning, size_t size)
{
    int state = 0;
    struct free_call call = {type->free, data};
    const char *hidden = hide_values(type, data);
#ifdef CLEAT_DEBUG
    cleat__deferred_scope outer = cleat__debug_deferred_free_begin(type, hidden);
#else
    (void)hidden; /* named by debug builds only */
#endif
    rb_protect(call_free, (VALUE)&call, &state);
#ifdef CLEAT_DEBUG
    cleat__debug_deferred_free_end(outer);
#endif
    if (!state) return false;
    /* An exception, or for a throw (or break) Ruby's own record of it, not
     * an object with a class. */
    VALUE error = rb_errinfo();
    char what[160];
    if (RB_TYPE_P(error, T_OBJECT)) snprintf(what, sizeof what, "raised %s", rb_obj_classname(error));
    else snprintf(what, sizeof what, "threw");
    rb_set_errinfo(Qnil);
#ifdef CLEAT_DEBUG
    cleat__debug_free_end();
    if (hidden)
        cleat__debug_reportf("%s: its free callback %s; its VALUE fields (%s...) read nil there: a deferred free callback "
                             "may not use them (what they held may be freed or moved by then)",
                             type->class_path, what, hidden);
    cleat__debug_reportf("%s: its free callback %s (a CLEAT_DEFERRED_FREE callback runs wherever Ruby finalizes the "
                         "object, at any allocation, where no exception can go: rescue it in the callback)",
                         type->class_path, what);
#endif
    snprintf(warning, size, "%s: its free callback %s; ignored, as Ruby ignores a finalizer's (rescue it in the callback)",
             type->class_path, what);
    return true;
}

static void free_rest(const cleat_type *type, void *data, bool unfinished);

void cleat__type_free(const cleat_type *type, void *data)
{
#ifdef CLEAT_DEBUG
    cleat__debug_free_begin(type);
#endif
    /* A copy whose .copy callback never returned (freed at exit) may hold
     * its original's blocks, behind declared fields or members only its
     * free callback knows: neither Cleat nor the callback frees or writes
     * anything of it (a review: hiding its fields for a deferred callback
     * wrote nil into the freed original's buffer). */
    bool unfinished = type->block_fields && cleat__maybe_copy(data) && cleat__unfinished_copy(data);
    if (!unfinished && type->free && (type->flags & CLEAT_DEFERRED_FREE)) {
        char warning[320];
        bool raised = free_deferred(type, data, warning, sizeof warning);
        free_rest(type, data, false);
        if (raised && !NIL_P(ruby_verbose)) fprintf(stderr, "warning: %s\n", warning);
        return;
    }
    if (!unfinished && type->free) type->free(data);
    free_rest(type, data, unfinished);
}

/* What Cleat owns: the debug shadows, loans, cleat_values, regions, the
 * block; unfinished: a copy whose callback never returned, whose blocks may
 * be its original's (none is freed). */
static void free_rest(const cleat_type *type, void *data, bool unfinished)
{
#ifdef CLEAT_DEBUG
    cleat__debug_free_end();
    cleat__debug_free_shadows(type, data);
#endif
    cleat__release_loans(cleat__header(data));
    /* An original is freed only at exit while a copy of it is listed (the
     * list pins it): the list forgets its struct. */
    if (type->block_fields && atomic_load_explicit(&cleat__copies_running, memory_order_relaxed))
        cleat__original_freed(data);
    CLEAT__EACH_FIELD(type, f)
    {
        if (unfinished) break; /* what it holds may be its original's */
        if (f->kind == CLEAT_KIND_VALUES) ruby_xfree(cleat__field_values(data, f)->ptr);
        else if (f->kind == CLEAT_KIND_REGION) {
            cleat_region *r = cleat__field_region(data, f);
#ifdef CLEAT_DEBUG
            cleat__debug_region_collected(type, f, r->base, r->size);
#else
            ruby_xfree(r->base);
#endif
        }
    }
    ruby_xfree((char *)data - cleat__header_bytes(type));
}

/* ---- copies for another Ractor -------------------------------------------- */

/* Ractor#send, Ractor.yield, Ractor.new's arguments, Ractor.select's
 * yield_value and Ractor.make_shareable(copy: true) copy an object that is
 * not shareable with Kernel#clone, that is through initialize_copy. Ruby
 * 3.3 then refuses a T_DATA copy that still refers to an object that is not
 * shareable; Ruby 3.1 means to but does not (its check counts nothing), so
 * the receiving Ractor got a Person sharing the sender's hobbies Array, or a
 * MemorySlice over the sender's memory: double frees and use after free.
 * Cleat makes the same check itself, so every Ruby behaves like 3.3: a copy
 * for another Ractor that refers only to shareable objects (a Counter, a
 * Memory copied by its callback) goes; any other raises Ractor::Error "can
 * not copy X object.". Plain dup and clone are not affected. */
#ifdef HAVE_RB_RACTOR_SHAREABLE_P
#include <ruby/debug.h>
#include <ruby/ractor.h>

static bool shareable(VALUE v) { return RB_SPECIAL_CONST_P(v) || rb_ractor_shareable_p(v); }

/* What Ruby 3.3 asks of a T_DATA copy: does it refer only to shareable
 * objects? A hand-written mark may mark anything: assume it does not. */
static bool refers_only_to_shareables(const cleat_type *type, void *data)
{
    if (type->mark) return false;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) {
            if (!shareable(*cleat__field_slot(data, f))) return false;
        } else if (f->kind == CLEAT_KIND_VALUES) {
            const cleat_values *vals = cleat__field_values(data, f);
            for (size_t i = 0, n = cleat__values_count(vals); i < n; i++)
                if (!shareable(vals->ptr[i])) return false;
        } else if (!shareable(*cleat__region_buffers_slot(data, f))) {
            return false;
        }
    }
    return true;
}

/* The copy hooks the cheap check steps over. Names are compared by
 * content: a String Ruby keeps for a name may move under compaction, and
 * its old place hold another name's (a review: a Ractor copy taken for a
 * dup when names were compared by identity). */
static bool is_copy_hook(VALUE name)
{
    return CLEAT__STRING_IS(name, "initialize_copy") || CLEAT__STRING_IS(name, "initialize_clone") ||
           CLEAT__STRING_IS(name, "initialize_dup");
}

/* The cheap answer for what nearly every copy is: Kernel#dup or #clone
 * as a C function (Kernel#dup; #clone on Rubies that define it in C) right
 * below C initialize_* hooks (three frames for a dup: four are asked).
 * Those allocate the object being initialised, so it is not the copy a
 * Ractor makes (which calls rb_obj_clone from C, below a ractor.rb frame).
 * Only C frames count, hooks included: a Ruby method can be given any name
 * and, through eval, any path ("<internal:kernel>" included), and a Ruby
 * hook may initialise any object, not the one its dup allocated (reviews:
 * a forged "dup" frame, then a Ruby initialize_dup of another object's dup
 * calling the Ractor copy's initialize_copy through send, each sent a
 * Person sharing its Array). C hooks only initialise their receiver.
 * Anything else (a subclass's Ruby initialize_copy, a Ruby-level
 * Kernel#clone) takes the full search. */
static bool asked_by_dup_or_clone(void)
{
    VALUE frames[4];
    int n = rb_profile_frames(0, 4, frames, NULL); /* no line numbers: they cost a search each */
    for (int i = 0; i < n; i++) {
        if (!NIL_P(rb_profile_frame_path(frames[i]))) return false; /* a Ruby frame */
        VALUE name = rb_profile_frame_method_name(frames[i]);
        if (is_copy_hook(name)) continue;
        return CLEAT__STRING_IS(name, "dup") || CLEAT__STRING_IS(name, "clone");
    }
    return false;
}

/* The methods of Ruby's ractor.rb (3.1 to 3.4) that never copy an object
 * for another Ractor, and on whose frames Ruby code may still run: a
 * Signal.trap handler or a 3.4 cross-Ractor require while the main thread
 * waits in #take or .receive, a TracePoint on any of them, the blocks of
 * .receive_if and .store_if_absent (a review: plain clones there raised
 * Ractor::Error). Every other ractor.rb frame counts as a copy: a method
 * not listed here (Ruby's next) only makes a false alarm. The one copy
 * made under a listed frame, of a 3.4 cross-Ractor require's result, Ruby
 * 3.4 checks itself. */
static bool ractor_method_never_copies(VALUE name)
{
    /* Arrays, not pointers: a table of pointers costs every extension a
     * relocation each (21 of them crossed a page of the .so). */
    static const char names[][16] = {"take", "receive", "recv", "receive_if", "require", "_require",
                                     "store_if_absent", "count", "current", "main", "main?", "shareable?",
                                     "name", "inspect", "to_s", "[]", "[]=", "close_incoming",
                                     "close_outgoing", "join", "value"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (cleat__string_is(name, names[i], strlen(names[i]))) return true;
    return false;
}

/* Whether a frame that copies for Ractors is on the stack: a copying
 * method of Ruby's own ractor.rb (path "<internal:ractor>": .new, #send,
 * .yield, .select, .make_shareable), or the C method a constant assigned
 * under `# shareable_constant_value: experimental_copy` calls
 * (RubyVM::FrozenCore's make_shareable_copy, a review: no ractor.rb frame
 * is on the stack then). A fake path given to eval only makes a false
 * alarm, which refuses a copy; a Ruby method of that name has a path. The
 * whole stack is searched: a Ruby-level initialize_clone may recurse before
 * it copies. Only copies that refer to something unshareable pay. Known
 * false alarm: a plain clone in a trap handler that runs while the thread
 * waits in Ractor.yield or .select, which copy too (they stay counted). */
static bool copying_for_a_ractor(void)
{
    if (asked_by_dup_or_clone()) return false;
    VALUE small[64], *frames = small;
    int limit = 64;
    bool found = false;
    for (;;) {
        int n = rb_profile_frames(0, limit, frames, NULL);
        for (int i = 0; i < n && !found; i++) {
            VALUE path = rb_profile_frame_path(frames[i]), name = rb_profile_frame_method_name(frames[i]);
            found = (CLEAT__STRING_IS(path, "<internal:ractor>") && !ractor_method_never_copies(name)) ||
                    (NIL_P(path) && CLEAT__STRING_IS(name, "make_shareable_copy"));
        }
        if (found || n < limit || limit > INT_MAX / 2) break;
        limit *= 2;
        if (frames != small) ruby_xfree(frames);
        frames = ruby_xmalloc2((size_t)limit, sizeof(VALUE));
    }
    if (frames != small) ruby_xfree(frames);
    return found;
}

static void refuse_ractor_copy_unless_independent(const cleat_type *type, VALUE self, void *copy)
{
    if (refers_only_to_shareables(type, copy) || !copying_for_a_ractor()) return;
    rb_raise(rb_path2class("Ractor::Error"), "can not copy %" PRIsVALUE " object.", cleat__class_name(self));
}
#else
static void refuse_ractor_copy_unless_independent(const cleat_type *type, VALUE self, void *copy)
{
    (void)type, (void)self, (void)copy; /* no Ractors */
}
#endif

/* ---- dup and clone --------------------------------------------------------- */

/* Member by member: VALUE fields get their write barrier, cleat_values get
 * a buffer of their own. */
static void copy_fields(const cleat_type *type, VALUE self, void *dst, const void *src)
{
    /* dst is fresh, but .init_fields may have filled its cleat_values:
     * nothing else knows those buffers, and the memcpy would lose them. */
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUES) {
            cleat_values *own = cleat__field_values(dst, f);
            ruby_xfree(own->ptr);
            memset(own, 0, sizeof *own);
        }
    }
    memcpy(dst, src, type->size);
    /* dst must not share src's buffers for even a moment in which an
     * exception could free them, so forget them before anything allocates. */
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUES) memset(cleat__field_values(dst, f), 0, sizeof(cleat_values));
        else if (f->kind == CLEAT_KIND_VALUE) RB_OBJ_WRITTEN(self, Qundef, *cleat__field_slot(dst, f));
    }
#ifdef CLEAT_DEBUG
    /* Written with their barriers: the allocations below may run the GC,
     * whose debug check must see the fields as they are now. */
    cleat__debug_sync(type, dst);
#endif
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind != CLEAT_KIND_VALUES) continue;
        const cleat_values *from = cleat__field_values((void *)src, f);
        size_t count = cleat__values_count(from);
        if (!count) continue;
        VALUE *ptr = ruby_xmalloc2(count, sizeof(VALUE));
        memcpy(ptr, from->ptr, count * sizeof(VALUE));
        cleat_values *to = cleat__field_values(dst, f);
        to->ptr = ptr;
        to->capa = to->len = count;
        for (size_t i = 0; i < to->len; i++) RB_OBJ_WRITTEN(self, Qundef, ptr[i]);
#ifdef CLEAT_DEBUG
        /* Written with their barriers: the next list's allocation may run
         * the GC, whose check must know this one (a review: a dup of a type
         * with two lists was reported as missing barriers). */
        cleat__debug_sync(type, dst);
#endif
    }
}

/* The struct of self if nothing was ever stored in it: an uninitialised
 * object, or for CLEAT_ZERO_IS_VALID types (initialised when allocated) one
 * still as allocated, which is then marked uninitialised until the copy is
 * complete: a copy that raises half-way leaves nothing usable behind.
 * Raises TypeError "already initialized". */
static void *fresh_copy_target(const cleat_type *type, VALUE self)
{
    if (!(type->flags & CLEAT_ZERO_IS_VALID)) return cleat__enter(self, type, 0);
    /* With .init_fields the struct starts as the hook left it, which only
     * the header can vouch for: untouched since (CLEAT__FRESH). Read before
     * cleat_unwrap_mut, whose slow path clears it. */
    bool fresh = cleat_is(self, type) && (cleat__header(RTYPEDDATA_DATA(self))->state & CLEAT__FRESH);
    unsigned char *data = (cleat_unwrap_mut)(self, type); /* the function: no door body, no receiver held */
    if (type->init_fields ? !fresh : !pristine(type, data))
        rb_raise(rb_eTypeError, "already initialized %" PRIsVALUE, cleat__class_name(self));
    cleat__header(data)->state &= ~(CLEAT__INIT | CLEAT__FRESH);
    return data;
}

CLEAT__COLD VALUE cleat__type_init_copy(const cleat_type *type, VALUE self, VALUE orig)
{
    if (self == orig) return self;
    if (!type->copy && !(type->flags & CLEAT_COPYABLE))
        rb_raise(rb_eTypeError, "can't copy %" PRIsVALUE, cleat__class_name(orig));
    if (rb_obj_class(self) != rb_obj_class(orig))
        rb_raise(rb_eTypeError, "initialize_copy should take same class object");
    const void *src = cleat_unwrap(orig, type);
    void *dst = fresh_copy_target(type, self);
    if (type->copy) {
        cleat__run_copy(type, self, dst, orig, src);
    } else {
        copy_fields(type, self, dst, src);
    }
    refuse_ractor_copy_unless_independent(type, self, dst);
    finish(type, self, dst, type->copy ? "the copy callback" : "the copy");
    return self;
}
