/* field.c - storing VALUEs: the declared field found by address, its check,
 * then the write barrier. */
#include "internal.h"

#include <string.h>

static const cleat_type *cleat_type_of_writer(VALUE self)
{
    const cleat_type *type = cleat_type_of(self);
    if (!type) cleat__raise_wrong_type(self, "a Cleat object");
    return type;
}

/* A store into a frozen object: an exclusive method whose block froze its
 * receiver (or made it shareable) would otherwise write into an object
 * other Ractors may now read. Formatted without Ruby-level calls. */
static void refuse_frozen(VALUE self)
{
    if (OBJ_FROZEN(self))
        rb_frozen_error_raise(self, "can't modify frozen %" PRIsVALUE, cleat__class_name(self));
}

/* A store into a lent object: whatever holds the loan (each_player's block,
 * another thread's GVL-free checksum) relies on the object not changing
 * until it ends, and a store from a method declared shared (or from code
 * outside any door) would change it under that holder. Loans whose holder
 * can no longer run are returned first, as the door does. */
void cleat__refuse_lent(VALUE self)
{
    cleat_header *h = cleat__header(RTYPEDDATA_DATA(self));
    if (!(h->state & CLEAT__LENT_BITS)) return;
    cleat__reclaim_loans(self, h); /* as the door (method.c) */
    if (h->state & CLEAT__LENT_BITS) cleat__borrow_conflict(self, h, CLEAT_BORROW_EXCLUSIVE);
}

/* The declared field whose storage holds slot: a VALUE field at exactly that
 * offset, or a cleat_values field with slot among its live elements. */
static const cleat_field *field_of_slot(const cleat_type *type, void *data, const VALUE *slot)
{
    uintptr_t s = (uintptr_t)slot, d = (uintptr_t)data;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) {
            if (s >= d && s - d == f->offset) return f;
        } else if (f->kind == CLEAT_KIND_REGION) {
            if (slot == cleat__region_buffers_slot(data, f)) return f;
        } else {
            const cleat_values *vals = cleat__field_values(data, f);
            uintptr_t p = (uintptr_t)vals->ptr;
            if (vals->ptr && s >= p && (s - p) % sizeof(VALUE) == 0 && (s - p) / sizeof(VALUE) < cleat__values_count(vals))
                return f;
        }
    }
    return NULL;
}

static const cleat_field *values_field(const cleat_type *type, void *data, const cleat_values *vals)
{
    uintptr_t v = (uintptr_t)vals, d = (uintptr_t)data;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUES && v >= d && v - d == f->offset) return f;
    }
    return NULL;
}

/* Whether the field's declaration accepts value; if not, *expected names
 * what it wants. */
static bool field_accepts(const cleat_field *f, VALUE value, VALUE *expected)
{
    if (NIL_P(value) && f->nil_ok) return true;
    if (f->klass) {
        /* The value's own class first: the common case, without walking ancestors. */
        if (!RB_SPECIAL_CONST_P(value) && RBASIC_CLASS(value) == *f->klass) return true;
        if (RTEST(rb_obj_is_kind_of(value, *f->klass))) return true;
        *expected = rb_class_name(*f->klass);
    } else if (f->type) {
        if (cleat_is(value, f->type)) return true;
        *expected = rb_str_new_cstr(f->type->class_path);
    } else {
        return true;
    }
    return false;
}

static void check_field_value(const cleat_type *owner, const cleat_field *f, VALUE value)
{
#ifdef CLEAT_DEBUG
    cleat__debug_check_stored(owner, f, value); /* a plain number given as a VALUE */
#endif
    VALUE expected;
    if (field_accepts(f, value, &expected)) return;
    rb_raise(rb_eTypeError, "wrong argument type %" PRIsVALUE " for %s of %s (expected %" PRIsVALUE "%s)",
             cleat__describe_class(value), f->name, owner->class_path, expected,
             f->nil_ok ? " or nil" : "");
}

/* A view's owner keeps alive the struct its region pointer points into:
 * replaced by another object, it would leave the view pointing into memory
 * nothing keeps alive. Only cleat_view_init, which sets both, stores it. */
static void refuse_view_owner(const cleat_type *type, const cleat_field *f, const char *by)
{
    if (f->view_owner)
        rb_raise(rb_eArgError, "%s: field %s of %s is a view's owner: set the view with cleat_view_init", by,
                 f->name, type->class_path);
}

static void store(VALUE self, VALUE *slot, VALUE value, bool view_init)
{
    CLEAT__NEEDS_GVL();
    const cleat_type *type = cleat_type_of_writer(self);
    void *data = RTYPEDDATA_DATA(self);
    const cleat_field *f = field_of_slot(type, data, slot);
    if (!f)
        rb_raise(rb_eArgError, "cleat_write: the slot is not a declared VALUE field of %s",
                 type->class_path);
    if (!view_init) refuse_view_owner(type, f, "cleat_write");
    if (f->kind != CLEAT_KIND_REGION) { /* a region's list of lent buffers is ours */
        refuse_frozen(self);
        cleat__refuse_lent(self);
    }
    check_field_value(type, f, value);
    RB_OBJ_WRITE(self, slot, value);
    cleat__header(data)->state &= ~CLEAT__FRESH; /* dup/clone may no longer fill it */
#ifdef CLEAT_DEBUG
    if (f->kind == CLEAT_KIND_VALUE) cleat__debug_wrote(type, data, f);
    else if (f->kind == CLEAT_KIND_VALUES)
        cleat__debug_wrote_element(type, data, f, (size_t)(slot - cleat__field_values(data, f)->ptr));
#endif
}

void cleat_write(VALUE self, VALUE *slot, VALUE value) { store(self, slot, value, false); }

void cleat__write_view_owner(VALUE self, VALUE *slot, VALUE value) { store(self, slot, value, true); }

/* cleat_write_known past its inline bitmap: a cleat_values element, a field
 * beyond byte 511, a frozen self, or a slot that is no field at all. The
 * caller vouched for the value's class. */
void cleat__write_known_slow(VALUE self, VALUE *slot, VALUE value)
{
    CLEAT__NEEDS_GVL();
    const cleat_type *type = cleat_type_of_writer(self);
    void *data = RTYPEDDATA_DATA(self);
    const cleat_field *f = field_of_slot(type, data, slot);
    if (!f || f->kind == CLEAT_KIND_REGION)
        rb_raise(rb_eArgError, "cleat_write_known: the slot is not a declared VALUE field of %s",
                 type->class_path);
    refuse_view_owner(type, f, "cleat_write_known");
    refuse_frozen(self);
    cleat__refuse_lent(self);
    RB_OBJ_WRITE(self, slot, value);
    cleat__header(data)->state &= ~CLEAT__FRESH;
#ifdef CLEAT_DEBUG
    if (f->kind == CLEAT_KIND_VALUE) cleat__debug_wrote(type, data, f);
    else if (f->kind == CLEAT_KIND_VALUES)
        cleat__debug_wrote_element(type, data, f, (size_t)(slot - cleat__field_values(data, f)->ptr));
#endif
}

#ifdef CLEAT_DEBUG
/* A debug build's cleat_write_known: the store, after every check
 * cleat_write makes; a value the field refuses is the caller's broken
 * promise, reported loudly rather than raised. */
void cleat__debug_write_known(VALUE self, VALUE *slot, VALUE value)
{
    CLEAT__NEEDS_GVL();
    const cleat_type *type = cleat_type_of(self);
    if (!type) {
        cleat__debug_report("cleat_write_known: self is not a Cleat object");
        cleat__raise_wrong_type(self, "a Cleat object"); /* CLEAT_DEBUG_CONTINUE=1 */
    }
    const cleat_field *f = field_of_slot(type, RTYPEDDATA_DATA(self), slot);
    if (f) cleat__debug_check_stored(type, f, value);
    VALUE expected;
    if (f && f->kind != CLEAT_KIND_REGION && !field_accepts(f, value, &expected)) {
        VALUE message = rb_sprintf("%s: cleat_write_known stored %" PRIsVALUE " into field %s (declared %" PRIsVALUE
                                   "%s)",
                                   type->class_path, cleat__describe_class(value), f->name, expected,
                                   f->nil_ok ? " or nil" : "");
        cleat__debug_report(StringValueCStr(message));
    }
    cleat__write_known_slow(self, slot, value);
}
#endif

/* New capacity for at least `need` slots: doubling, overflow-checked. */
static size_t grown_capacity(size_t capa, size_t need)
{
    size_t next = capa < 4 ? 4 : capa;
    while (next < need) {
        if (next > SIZE_MAX / 2 / sizeof(VALUE)) rb_raise(rb_eNoMemError, "cleat_values: too many elements");
        next *= 2;
    }
    return next;
}

size_t cleat_values_push(VALUE self, cleat_values *vals, VALUE value)
{
    CLEAT__NEEDS_GVL();
    const cleat_type *type = cleat_type_of_writer(self);
    const cleat_field *f = values_field(type, RTYPEDDATA_DATA(self), vals);
    if (!f)
        rb_raise(rb_eArgError, "cleat_values_push: not a declared cleat_values field of %s",
                 type->class_path);
    refuse_frozen(self);
    cleat__refuse_lent(self);
    cleat__refuse_if_originals_block(self, vals->ptr, "pushed onto");
    check_field_value(type, f, value);
    if (vals->len > vals->capa)
        rb_raise(rb_eRuntimeError,
                 "cleat_values_push: field %s of %s holds %zu elements in room for %zu: its len was changed by "
                 "hand (only cleat_values_push and cleat_values_clear change it)",
                 f->name, type->class_path, vals->len, vals->capa);
#ifdef CLEAT_DEBUG
    cleat__debug_list_push(type, RTYPEDDATA_DATA(self), f);
#endif
    cleat__header(RTYPEDDATA_DATA(self))->state &= ~CLEAT__FRESH;
    if (vals->len == vals->capa) {
        size_t capa = grown_capacity(vals->capa, vals->len + 1);
        /* A fresh buffer rather than realloc: the GC may run inside the
         * allocation and must still find the old buffer intact. */
        /* Zeroed: a slot past len holds false, never a stale or made-up
         * VALUE, should a hand-edited len make Cleat's loops reach it. */
        VALUE *ptr = ruby_xcalloc(capa, sizeof(VALUE));
        if (vals->len) memcpy(ptr, vals->ptr, vals->len * sizeof(VALUE));
        VALUE *old = vals->ptr;
        vals->ptr = ptr;
        vals->capa = capa;
        ruby_xfree(old);
#ifdef CLEAT_DEBUG
        cleat__debug_list_moved(type, RTYPEDDATA_DATA(self), f);
#endif
    }
    RB_OBJ_WRITE(self, &vals->ptr[vals->len], value);
#ifdef CLEAT_DEBUG
    cleat__debug_wrote_element(type, RTYPEDDATA_DATA(self), f, vals->len);
#endif
    return ++vals->len;
}

VALUE cleat_values_get(const cleat_values *vals, size_t i)
{
    if (i >= cleat__values_count(vals))
        rb_raise(rb_eIndexError, "index %zu outside of %zu elements", i, cleat__values_count(vals));
    return vals->ptr[i];
}

VALUE cleat_values_to_ary(const cleat_values *vals)
{
    CLEAT__NEEDS_GVL();
    size_t count = cleat__values_count(vals);
    if (count > LONG_MAX) rb_raise(rb_eRangeError, "too many elements for an Array");
    return rb_ary_new_from_values((long)count, vals->ptr);
}

/* The slots forgotten hold false again, not objects the GC may free (a
 * review: a len raised by hand after a clear reached them). Unless a .copy
 * callback is listed: a copy that copied the struct whole (`*d = *o`) may
 * clear the original's buffer, whose elements are the original's (a review:
 * zeroing them lost its data), or the buffer of an original already freed
 * at exit (another: the zeroing wrote into freed memory). */
void cleat_values_clear(cleat_values *vals)
{
    if (vals->ptr && !atomic_load_explicit(&cleat__copies_running, memory_order_relaxed))
        memset(vals->ptr, 0, cleat__values_count(vals) * sizeof(VALUE));
    vals->len = 0;
}
