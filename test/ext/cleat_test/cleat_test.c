/* cleat_test.c - types that exist only to test the library: GVL-free
 * sections, explicit loans, hand-written callbacks, odd alignment and
 * descriptions the library must refuse. */
#include "cleat.h"
#include <ruby/thread.h>

#include <ruby/encoding.h>
#include <ruby/re.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Holder: one declared VALUE, one cleat_values, loans of every kind ---- */

typedef struct holder {
    VALUE value;
    cleat_values list;
    uint64_t spins; /* touched only without the GVL while lent */
} holder_t;

static const cleat_field holder_fields[] = {
    CLEAT_FIELD_ANY(holder_t, value),
    CLEAT_FIELD_VALUES_ANY(holder_t, list),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(holder_type, "CleatTest::Holder", holder_t, holder_fields, .flags = CLEAT_COPYABLE);

CLEAT_INIT(holder_initialize, holder_type, holder_t *h, value)
{
    cleat_write(self, &h->value, value);
    return self;
}
CLEAT_SHARED(holder_value, holder_type, holder_t *h) { return h->value; }
/* Releases the GVL by hand (a review, C side: unlent, another thread may
 * change the object meanwhile): 0 rb_thread_call_without_gvl, 1 _gvl2,
 * 2 rb_nogvl; 3 the first through CLEAT_LEND (lent: correct); 4 none, but
 * lets dead GvlClosers' deferred free callbacks, which release it, run at
 * an interrupt check inside the body (the tenth review: the body was
 * blamed). */
static void *nothing_without_gvl(void *data) { return data; }
typedef struct {
    int fd;
} gvl_closer_t;
static void gvl_closer_free(void *data) { rb_thread_call_without_gvl(nothing_without_gvl, data, RUBY_UBF_IO, NULL); }
CLEAT_TYPE(gvl_closer_type, "CleatTest::GvlCloser", gvl_closer_t, NULL, .free = gvl_closer_free,
           .flags = CLEAT_DEFERRED_FREE | CLEAT_ZERO_IS_VALID);
static VALUE release_gvl_lent(VALUE arg)
{
    (void)arg;
    rb_thread_call_without_gvl(nothing_without_gvl, NULL, RUBY_UBF_IO, NULL);
    return Qnil;
}
CLEAT_SHARED(holder_release_gvl, holder_type, holder_t *h, how)
{
    (void)h;
    switch (NUM2INT(how)) {
    case 0: rb_thread_call_without_gvl(nothing_without_gvl, NULL, RUBY_UBF_IO, NULL); break;
    case 1: rb_thread_call_without_gvl2(nothing_without_gvl, NULL, RUBY_UBF_IO, NULL); break;
    case 2: rb_nogvl(nothing_without_gvl, &(struct { int a, b; }){1, 2}, RUBY_UBF_IO, NULL, 0); break; /* a comma in an argument */
    case 4:
        rb_gc();
        rb_thread_schedule();
        break;
    default: CLEAT_LEND(release_gvl_lent, Qnil);
    }
    return self;
}
static VALUE test_release_gvl(VALUE mod)
{
    rb_thread_call_without_gvl(nothing_without_gvl, NULL, RUBY_UBF_IO, NULL);
    return mod;
}
CLEAT_EXCLUSIVE(holder_set, holder_type, holder_t *h, value)
{
    cleat_write(self, &h->value, value);
    return value;
}
CLEAT_EXCLUSIVE(holder_push, holder_type, holder_t *h, value)
{
    return SIZET2NUM(cleat_values_push(self, &h->list, value));
}
CLEAT_SHARED(holder_list, holder_type, holder_t *h) { return cleat_values_to_ary(&h->list); }
CLEAT_SHARED(holder_at, holder_type, holder_t *h, index)
{
    return cleat_values_get(&h->list, cleat_to_size(index));
}
CLEAT_EXCLUSIVE(holder_clear, holder_type, holder_t *h)
{
    cleat_values_clear(&h->list);
    return self;
}
CLEAT_EXCLUSIVE(holder_replace_element, holder_type, holder_t *h, index, value)
{
    size_t i = cleat_to_size(index);
    cleat_values_get(&h->list, i); /* IndexError when out of range */
    cleat_write(self, &h->list.ptr[i], value);
    return value;
}
/* cleat_write_known into a cleat_values element: past the inline bitmap. */
CLEAT_EXCLUSIVE(holder_replace_known, holder_type, holder_t *h, index, value)
{
    size_t i = cleat_to_size(index);
    cleat_values_get(&h->list, i); /* IndexError when out of range */
    cleat_write_known(self, &h->list.ptr[i], value);
    return value;
}
CLEAT_EXCLUSIVE(holder_write_undeclared, holder_type, holder_t *h, value)
{
    (void)h;
    VALUE not_a_field = Qnil;
    cleat_write(self, &not_a_field, value);
    return value;
}

/* The wrong macro: a store in a method declared shared, as a porter might
 * write it (the cast silences the compiler's objection). While the object
 * is lent (inside yield_shared's block) the store raises BorrowError. */
CLEAT_SHARED(holder_store_from_shared, holder_type, holder_t *h, value)
{
    cleat_write(self, (VALUE *)&h->value, value);
    return value;
}
CLEAT_SHARED(holder_store_known_from_shared, holder_type, holder_t *h, value)
{
    cleat_write_known(self, (VALUE *)&h->value, value);
    return value;
}
CLEAT_SHARED(holder_push_from_shared, holder_type, holder_t *h, value)
{
    return SIZET2NUM(cleat_values_push(self, (cleat_values *)&h->list, value));
}

/* Conversions that run Ruby code (to_f, to_str, to_int) with the holder
 * lent; `twice` is a helper outside the body, given the door. */
static double twice(cleat_door door, VALUE v) { return 2 * cleat_to_double(door, v); }
CLEAT_EXCLUSIVE(holder_double_exclusive, holder_type, holder_t *h, value)
{
    (void)h;
    return DBL2NUM(twice(CLEAT_DOOR, value));
}
CLEAT_SHARED(holder_double_shared, holder_type, holder_t *h, value)
{
    (void)h;
    return DBL2NUM(cleat_to_double(CLEAT_DOOR, value));
}
CLEAT_EXCLUSIVE(holder_str_exclusive, holder_type, holder_t *h, value)
{
    (void)h;
    VALUE str = cleat_str_value(CLEAT_DOOR, value);
    return LONG2NUM(RSTRING_LEN(str));
}
CLEAT_EXCLUSIVE(holder_int_exclusive, holder_type, holder_t *h, value)
{
    (void)h;
    return LL2NUM(cleat_num_to_int64(CLEAT_DOOR, value));
}
/* A regex search (Ruby code at its interrupt checks) with the holder lent:
 * [where it matched or -1, $~]. */
CLEAT_EXCLUSIVE(holder_search_exclusive, holder_type, holder_t *h, re, str, pos, reverse)
{
    (void)h;
    long at = cleat_reg_search(CLEAT_DOOR, re, str, (long)cleat_to_int64(pos), RTEST(reverse));
    return rb_assoc_new(LONG2NUM(at), rb_backref_get());
}

CLEAT_SHARED(holder_yield_shared, holder_type, holder_t *h, value)
{
    (void)h;
    return CLEAT_YIELD(value);
}
CLEAT_EXCLUSIVE(holder_yield_exclusive, holder_type, holder_t *h, value)
{
    (void)h;
    return CLEAT_YIELD(value);
}

/* Yields, then stores what the block returned and pushes it: the block may
 * have frozen the holder meanwhile. */
CLEAT_EXCLUSIVE(holder_store_after_yield, holder_type, holder_t *h, value)
{
    VALUE v = CLEAT_YIELD(value);
    cleat_values_push(self, &h->list, v);
    cleat_write(self, &h->value, v);
    return v;
}

static VALUE call_with_args(VALUE self, cleat_borrow_mode mode, int argc, const VALUE *argv)
{
    if (argc < 2) rb_raise(rb_eArgError, "wrong number of arguments (given %d, expected 2+)", argc);
    return cleat_borrow_call(self, mode, argv[0], rb_to_id(argv[1]), argc - 2, argv + 2);
}
CLEAT_SHARED_ARGV(holder_call_shared, holder_type, holder_t *h)
{
    (void)h;
    return call_with_args(self, cleat_mode, argc, argv);
}
CLEAT_EXCLUSIVE_ARGV(holder_call_exclusive, holder_type, holder_t *h)
{
    (void)h;
    return call_with_args(self, cleat_mode, argc, argv);
}

/* An exclusive loan inside another one (same method): the inner end must
 * leave the outer loan standing. */
static VALUE yield_twice(VALUE self)
{
    VALUE first = cleat_borrow_yield(self, CLEAT_BORROW_EXCLUSIVE, ID2SYM(rb_intern("inner")));
    return rb_ary_new_from_args(2, first, rb_yield(ID2SYM(rb_intern("outer"))));
}
CLEAT_EXCLUSIVE(holder_nested_loans, holder_type, holder_t *h)
{
    (void)h;
    return CLEAT_LEND(yield_twice, self);
}

/* ---- GVL-free sections ---- */

typedef struct hold_args {
    holder_t *holder;
    double seconds;
    double until; /* 0 until the first run: later runs resume, not restart */
} hold_args;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Busy for `seconds` without the GVL, polling for cancellation. */
static bool hold(void *arg, const cleat_cancel *cancel)
{
    hold_args *a = arg;
    if (a->until == 0) a->until = now() + a->seconds;
    while (now() < a->until) {
        a->holder->spins++;
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
        if (cleat_cancelled(cancel)) return false;
    }
    return true;
}

static double seconds_arg(VALUE seconds)
{
    double s = NUM2DBL(seconds);
    if (!(s >= 0 && s <= 3600)) rb_raise(rb_eArgError, "seconds must be between 0 and 3600");
    return s;
}

CLEAT_SHARED(holder_hold_shared, holder_type, holder_t *h, seconds)
{
    /* spins is a test's counter, bumped by every holder at once: not state
     * any method relies on, so the const is cast away. */
    hold_args a = {(holder_t *)h, seconds_arg(seconds), 0};
    CLEAT_WITHOUT_GVL(hold, &a);
    return ID2SYM(rb_intern("finished"));
}
CLEAT_EXCLUSIVE(holder_hold_exclusive, holder_type, holder_t *h, seconds)
{
    hold_args a = {h, seconds_arg(seconds), 0};
    CLEAT_WITHOUT_GVL(hold, &a);
    return ID2SYM(rb_intern("finished"));
}
static bool gives_up(void *arg, const cleat_cancel *cancel)
{
    (void)arg, (void)cancel;
    return false;
}
CLEAT_SHARED(holder_misuse_without_gvl, holder_type, holder_t *h)
{
    (void)h;
    CLEAT_WITHOUT_GVL(gives_up, NULL);
    return Qnil;
}

/* ---- Native: memory of its own, a hand-written mark, a copy callback ---- */

typedef struct native_extra {
    VALUE tag; /* a VALUE fields cannot describe: it lives in malloc'ed memory */
} native_extra;

typedef struct native {
    unsigned char *bytes;
    size_t length;
    native_extra *extra;
} native_t;

static void native_free(void *data)
{
    native_t *n = data;
    free(n->bytes);
    cleat_gc_memory_shrank(n->length);
    free(n->extra);
}
static size_t native_memsize(const void *data)
{
    const native_t *n = data;
    return n->length + (n->extra ? sizeof *n->extra : 0);
}
static void native_mark(void *data)
{
    const native_t *n = data;
    if (n->extra) rb_gc_mark(n->extra->tag); /* pinned: no compact callback needed */
}
static void native_fill(native_t *n, size_t length, VALUE tag, const unsigned char *from)
{
    n->extra = calloc(1, sizeof *n->extra);
    n->bytes = malloc(length ? length : 1);
    if (!n->extra || !n->bytes) rb_raise(rb_eNoMemError, "failed to allocate %zu bytes", length);
    n->length = length;
    cleat_gc_memory_grew(length);
    if (from) memcpy(n->bytes, from, length);
    else memset(n->bytes, 0xab, length);
    n->extra->tag = tag;
}
static void native_copy(VALUE self, void *dst, const void *src)
{
    (void)self;
    const native_t *from = src;
    native_fill(dst, from->length, from->extra->tag, from->bytes);
}
CLEAT_TYPE(native_type, "CleatTest::Native", native_t, NULL, .free = native_free,
            .memsize = native_memsize, .mark = native_mark, .copy = native_copy);

CLEAT_INIT(native_initialize, native_type, native_t *n, length, tag)
{
    size_t len = cleat_to_size(length);
    if (len > (size_t)1 << 30) rb_raise(rb_eArgError, "length too large");
    native_fill(n, len, tag, NULL);
    return self;
}
CLEAT_SHARED(native_tag, native_type, native_t *n) { return n->extra->tag; }
CLEAT_SHARED(native_length, native_type, native_t *n) { return SIZET2NUM(n->length); }
CLEAT_SHARED(native_same_bytes_p, native_type, native_t *n, other)
{
    const native_t *o = cleat_unwrap(other, &native_type);
    return n->bytes == o->bytes ? Qtrue : Qfalse;
}

/* ---- Aligned: a struct that needs 16-byte alignment ---- */

typedef struct aligned {
    _Alignas(16) unsigned char block[16];
} aligned_t;
CLEAT_TYPE(aligned_type, "CleatTest::Aligned", aligned_t, NULL);
CLEAT_INIT(aligned_initialize, aligned_type, aligned_t *a)
{
    (void)a;
    return self;
}
CLEAT_SHARED(aligned_address_mod16, aligned_type, aligned_t *a) { return SIZET2NUM((uintptr_t)a % 16); }

/* ---- Made from C: cleat_type_new ---- */

static VALUE test_make_holder(VALUE mod, VALUE value)
{
    (void)mod;
    VALUE obj;
    holder_t *h = cleat_type_new(&holder_type, &obj);
    cleat_write(obj, &h->value, value);
    cleat_type_ready(obj);
    return obj;
}

/* ---- Descriptions Cleat must refuse ---- */

typedef struct leaky {
    char *buffer;
} leaky_t;
static void leaky_free(void *data) { free(((leaky_t *)data)->buffer); }
CLEAT_TYPE(leaky_type, "CleatTest::Leaky", leaky_t, NULL, .free = leaky_free,
            .flags = CLEAT_COPYABLE);

static VALUE test_define_copyable_with_free(VALUE mod)
{
    (void)mod;
    return cleat_type_define_class(&leaky_type, rb_cObject);
}

/* ---- Argument helpers ---- */

static VALUE test_to_int64(VALUE mod, VALUE v)
{
    (void)mod;
    return LL2NUM(cleat_to_int64(v));
}
static VALUE test_to_uint64(VALUE mod, VALUE v)
{
    (void)mod;
    return ULL2NUM(cleat_to_uint64(v));
}
static VALUE test_to_size(VALUE mod, VALUE v)
{
    (void)mod;
    return SIZET2NUM(cleat_to_size(v));
}
static VALUE test_check_kind(VALUE mod, VALUE v, VALUE klass)
{
    (void)mod;
    cleat_check_kind(v, klass);
    return Qtrue;
}
static VALUE test_holder_p(VALUE mod, VALUE v)
{
    (void)mod;
    return cleat_is(v, &holder_type) ? Qtrue : Qfalse;
}
/* The loans on any Cleat object (of any extension), from its state word:
 * [shared loans, lent exclusively?]. Lets a test see a loan that nothing
 * else would notice, say a shared one on a frozen object. */
static VALUE test_loans(VALUE mod, VALUE obj)
{
    (void)mod;
    if (!cleat_type_of(obj) || !RTYPEDDATA_DATA(obj)) rb_raise(rb_eTypeError, "not a Cleat object");
    uint32_t state = cleat__header(RTYPEDDATA_DATA(obj))->state;
    return rb_assoc_new(UINT2NUM(state / CLEAT__SHARED_ONE), (state & CLEAT__LENT_EXCL) ? Qtrue : Qfalse);
}
/* Sets obj's shared-loan count to its limit, as 2^28 loans would, without
 * touching its list of loans: the next change to the list recounts. */
static VALUE test_fill_shared_count(VALUE mod, VALUE obj)
{
    (void)mod;
    if (!cleat_type_of(obj) || !RTYPEDDATA_DATA(obj)) rb_raise(rb_eTypeError, "not a Cleat object");
    cleat__header(RTYPEDDATA_DATA(obj))->state |= CLEAT__LENT_BITS & ~CLEAT__LENT_EXCL;
    return obj;
}
static VALUE test_debug_build_p(VALUE mod)
{
    (void)mod;
#ifdef CLEAT_DEBUG
    return Qtrue;
#else
    return Qfalse;
#endif
}
static VALUE test_header_version(VALUE mod)
{
    (void)mod;
    return rb_str_new_cstr(CLEAT_VERSION);
}

/* ---- ABI: what cleat_type_of says of another Cleat's objects ---- */

/* The class path of obj's Cleat type, or nil when cleat_type_of says it is
 * not a Cleat object of this ABI. */
static VALUE test_type_path(VALUE mod, VALUE obj)
{
    (void)mod;
    const cleat_type *type = cleat_type_of(obj);
    return type ? rb_str_new_cstr(type->class_path) : Qnil;
}

/* An object laid out exactly as a Cleat object, whose type was defined by a
 * Cleat with another CLEAT_ABI: what an extension built against another
 * Cleat version hands this one. */
static cleat_type other_abi_type;
static VALUE test_other_abi_object(VALUE mod)
{
    (void)mod;
    if (!other_abi_type.class_path) {
        other_abi_type.class_path = "CleatTest::OtherAbi";
        other_abi_type.abi = CLEAT_ABI + 1;
        other_abi_type.rb.wrap_struct_name = "CleatTest::OtherAbi";
        other_abi_type.rb.function.dfree = RUBY_TYPED_DEFAULT_FREE;
        other_abi_type.rb.data = &other_abi_type;
        other_abi_type.rb.flags = RUBY_TYPED_FREE_IMMEDIATELY;
    }
    return rb_data_typed_object_wrap(rb_cObject, ruby_xcalloc(1, 32), &other_abi_type.rb);
}

/* ---- Pair: fixed-offset fields only, marked by Ruby where it can ---- */

/* Marked declaratively on Ruby 3.3+, because it asks (CLEAT_DECL_MARKING;
 * test_modern.rb; the benchmarks compare the two ways). */
typedef struct pair {
    VALUE left, right;
} pair_t;
static const cleat_field pair_fields[] = {CLEAT_FIELD_ANY(pair_t, left), CLEAT_FIELD_ANY(pair_t, right),
                                           CLEAT_FIELDS_END};
CLEAT_TYPE(pair_type, "CleatTest::DeclPair", pair_t, pair_fields, .flags = CLEAT_DECL_MARKING);
CLEAT_INIT(pair_initialize, pair_type, pair_t *p, left, right)
{
    cleat_write(self, &p->left, left);
    cleat_write(self, &p->right, right);
    return self;
}
CLEAT_SHARED(pair_to_a, pair_type, pair_t *p) { return rb_assoc_new(p->left, p->right); }
/* Deliberately broken (test_debug.rb): a store without cleat_write between
 * two compactions (GC.compact is Ruby code on some Rubies: lent). */
CLEAT_EXCLUSIVE(pair_store_left_between_compactions, pair_type, pair_t *p, left)
{
    CLEAT_CALL(rb_mGC, rb_intern("compact"), 0, NULL);
    p->left = left; /* the bug */
    CLEAT_CALL(rb_mGC, rb_intern("compact"), 0, NULL);
    return left;
}

/* Deliberately broken (a review of the tenth round's fixes): left dropped
 * by hand, Ruby code (a GC) meanwhile, then its value stored into right by
 * hand: a value the object no longer held when the GC ran, no barrier. */
CLEAT_EXCLUSIVE(pair_move_left_to_right_by_hand, pair_type, pair_t *p, code)
{
    VALUE moved = p->left;
    p->left = Qnil;
    CLEAT_CALL(code, rb_intern("call"), 0, NULL);
    p->right = moved; /* the bug */
    RB_GC_GUARD(moved);
    return Qnil;
}

/* ---- Deliberately broken: each trips one debug check (test_debug.rb) ---- */

/* Stores a heap object without cleat_write: no write barrier. */
typedef struct no_barrier {
    VALUE item;
    cleat_values more; /* counted: Cleat's mark runs (no declarative marking), so the GC checks too */
} no_barrier_t;
static const cleat_field no_barrier_fields[] = {CLEAT_FIELD_ANY(no_barrier_t, item),
                                                 CLEAT_FIELD_VALUES_ANY(no_barrier_t, more), CLEAT_FIELDS_END};
CLEAT_TYPE(no_barrier_type, "CleatTest::NoBarrier", no_barrier_t, no_barrier_fields, .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(no_barrier_store, no_barrier_type, no_barrier_t *n, item)
{
    n->item = item; /* the bug */
    return item;
}
CLEAT_SHARED(no_barrier_item, no_barrier_type, no_barrier_t *n) { return n->item; }
CLEAT_EXCLUSIVE(no_barrier_store_between_compactions, no_barrier_type, no_barrier_t *n, item)
{
    CLEAT_CALL(rb_mGC, rb_intern("compact"), 0, NULL);
    n->item = item; /* the bug */
    CLEAT_CALL(rb_mGC, rb_intern("compact"), 0, NULL);
    return item;
}
CLEAT_EXCLUSIVE(no_barrier_store_nil, no_barrier_type, no_barrier_t *n)
{
    n->item = Qnil; /* an immediate needs no barrier: not a bug */
    return Qnil;
}

/* Marks by hand and forgets a field. */
typedef struct forgetful {
    VALUE kept, forgotten;
} forgetful_t;
static void forgetful_mark(void *data)
{
    forgetful_t *f = data;
    cleat_mark_field(&f->kept); /* the bug: no cleat_mark_field(&f->forgotten) */
}
static const cleat_field forgetful_fields[] = {CLEAT_FIELD_ANY(forgetful_t, kept),
                                                CLEAT_FIELD_ANY(forgetful_t, forgotten), CLEAT_FIELDS_END};
CLEAT_TYPE(forgetful_type, "CleatTest::ForgetfulMark", forgetful_t, forgetful_fields,
            .mark = forgetful_mark, .flags = CLEAT_MARK_BY_HAND);
CLEAT_INIT(forgetful_initialize, forgetful_type, forgetful_t *f, kept, forgotten)
{
    cleat_write(self, &f->kept, kept);
    cleat_write(self, &f->forgotten, forgotten);
    return self;
}

/* Marks both fields movable by hand; its compact callback updates one (the
 * eighth review, C side: reported as a missing write barrier). */
typedef struct {
    VALUE moved, forgotten;
} forgetful_compact_t;
static void forgetful_compact_mark(void *data)
{
    forgetful_compact_t *f = data;
    rb_gc_mark_movable(f->moved);
    rb_gc_mark_movable(f->forgotten);
}
static void forgetful_compact_compact(void *data)
{
    forgetful_compact_t *f = data;
    f->moved = rb_gc_location(f->moved); /* the bug: f->forgotten is not updated */
}
static const cleat_field forgetful_compact_fields[] = {CLEAT_FIELD_ANY(forgetful_compact_t, moved),
                                                        CLEAT_FIELD_ANY(forgetful_compact_t, forgotten),
                                                        CLEAT_FIELDS_END};
CLEAT_TYPE(forgetful_compact_type, "CleatTest::ForgetfulCompact", forgetful_compact_t, forgetful_compact_fields,
           .mark = forgetful_compact_mark, .compact = forgetful_compact_compact, .flags = CLEAT_MARK_BY_HAND);
CLEAT_INIT(forgetful_compact_initialize, forgetful_compact_type, forgetful_compact_t *f, moved, forgotten)
{
    cleat_write(self, &f->moved, moved);
    cleat_write(self, &f->forgotten, forgotten);
    return self;
}

/* The same type whose compact callback updates one field from the other's
 * value (a typo: a review, C side, reported as a missing write barrier). */
static void crossed_compact_compact(void *data)
{
    forgetful_compact_t *f = data;
    f->moved = rb_gc_location(f->moved);
    f->forgotten = rb_gc_location(f->moved); /* the bug: f->forgotten's own value */
}
CLEAT_TYPE(crossed_compact_type, "CleatTest::CrossedCompact", forgetful_compact_t, forgetful_compact_fields,
           .mark = forgetful_compact_mark, .compact = crossed_compact_compact, .flags = CLEAT_MARK_BY_HAND);
CLEAT_INIT(crossed_compact_initialize, crossed_compact_type, forgetful_compact_t *f, moved, forgotten)
{
    cleat_write(self, &f->moved, moved);
    cleat_write(self, &f->forgotten, forgotten);
    return self;
}

/* Correct, without write barriers: marks movable by hand and updates each
 * field from its own value (a review: reported, its shadow never kept). */
static void unbarriered_compact_compact(void *data)
{
    forgetful_compact_t *f = data;
    f->moved = rb_gc_location(f->moved);
    f->forgotten = rb_gc_location(f->forgotten);
}
CLEAT_TYPE(unbarriered_compact_type, "CleatTest::UnbarrieredCompact", forgetful_compact_t, forgetful_compact_fields,
           .mark = forgetful_compact_mark, .compact = unbarriered_compact_compact,
           .flags = CLEAT_MARK_BY_HAND | CLEAT_NOT_WB_PROTECTED);
CLEAT_INIT(unbarriered_compact_initialize, unbarriered_compact_type, forgetful_compact_t *f, moved, forgotten)
{
    cleat_write(self, &f->moved, moved);
    cleat_write(self, &f->forgotten, forgotten);
    return self;
}

/* Calls Cleat, then Ruby, from the free callback of a free_immediately type. */
typedef struct cleat_in_free {
    int calls_ruby;
} cleat_in_free_t;
static void cleat_in_free_free(void *data)
{
    cleat_in_free_t *t = data;
    if (t->calls_ruby) rb_str_new_cstr("allocating during GC"); /* the bug, Ruby's API */
    else cleat_str_binary("x", 1);                             /* the bug, Cleat's API */
}
CLEAT_TYPE(cleat_in_free_type, "CleatTest::CallsFromFree", cleat_in_free_t, NULL, .free = cleat_in_free_free);
CLEAT_INIT(cleat_in_free_initialize, cleat_in_free_type, cleat_in_free_t *t, calls_ruby)
{
    t->calls_ruby = RTEST(calls_ruby);
    return self;
}

/* Leaves itself lent out: an external enumerator suspended inside a loan,
 * started with rb_funcall (not CLEAT_CALL) from an exclusive method. */
CLEAT_EXCLUSIVE(holder_leave_lent, holder_type, holder_t *h)
{
    (void)h;
    VALUE args[2] = {ID2SYM(rb_intern("yield_shared")), INT2FIX(1)};
    VALUE enumerator = rb_funcallv(self, rb_intern("enum_for"), 2, args);
    return rb_funcall(enumerator, rb_intern("next"), 0);
}

/* Calls Cleat without the GVL. */
static bool makes_a_string(void *arg, const cleat_cancel *cancel)
{
    (void)arg, (void)cancel;
    cleat_str_binary("no GVL", 6); /* the bug */
    return true;
}
CLEAT_SHARED(holder_cleat_without_gvl, holder_type, holder_t *h)
{
    (void)h;
    CLEAT_WITHOUT_GVL(makes_a_string, NULL);
    return Qnil;
}

/* ---- Strings ---- */

static VALUE test_utf8_check(VALUE mod, VALUE str, VALUE implementation)
{
    (void)mod;
    StringValue(str);
    if (!cleat_str_utf8_use(StringValueCStr(implementation)))
        rb_raise(rb_eArgError, "this CPU cannot run %" PRIsVALUE, implementation);
    size_t offset = 0;
    cleat_utf8_result r = cleat_str_utf8_check(RSTRING_PTR(str), (size_t)RSTRING_LEN(str), &offset);
    cleat_str_utf8_use(NULL);
    static const char *const names[] = {"ascii", "valid", "invalid"};
    return rb_assoc_new(ID2SYM(rb_intern(names[r])), r == CLEAT_UTF8_INVALID ? SIZET2NUM(offset) : Qnil);
}
static VALUE test_utf8_implementations(VALUE mod)
{
    (void)mod;
    VALUE list = rb_ary_new();
    const char *names[] = {"avx2", "ssse3", "portable"};
    for (size_t i = 0; i < 3; i++) {
        if (cleat_str_utf8_use(names[i])) rb_ary_push(list, rb_str_new_cstr(names[i]));
    }
    cleat_str_utf8_use(NULL);
    return list;
}
static VALUE test_utf8_default(VALUE mod)
{
    (void)mod;
    return rb_str_new_cstr(cleat_str_utf8_implementation());
}
/* Cleat's internal view of the UTF-8 choice (src/utf8.c): NULL until made. */
const char *cleat__str_utf8_chosen(void);
static const char *utf8_chosen_at_load;
static VALUE test_utf8_chosen_at_load(VALUE mod)
{
    (void)mod;
    return utf8_chosen_at_load ? rb_str_new_cstr(utf8_chosen_at_load) : Qnil;
}
static VALUE test_str_utf8(VALUE mod, VALUE str)
{
    (void)mod;
    StringValue(str);
    return cleat_str_utf8(RSTRING_PTR(str), (size_t)RSTRING_LEN(str));
}
static VALUE test_str_binary(VALUE mod, VALUE str)
{
    (void)mod;
    StringValue(str);
    return cleat_str_binary(RSTRING_PTR(str), (size_t)RSTRING_LEN(str));
}
/* 0 unknown, 1 7bit, 2 valid, 3 broken: what Ruby has recorded, without scanning. */
static VALUE test_coderange(VALUE mod, VALUE str)
{
    (void)mod;
    switch (RB_ENC_CODERANGE(str)) {
    case RUBY_ENC_CODERANGE_7BIT: return ID2SYM(rb_intern("7bit"));
    case RUBY_ENC_CODERANGE_VALID: return ID2SYM(rb_intern("valid"));
    case RUBY_ENC_CODERANGE_BROKEN: return ID2SYM(rb_intern("broken"));
    default: return ID2SYM(rb_intern("unknown"));
    }
}
/* Whether Ruby marks obj's type declaratively (flag and offsets, Ruby 3.3+). */
static VALUE test_declarative_p(VALUE mod, VALUE obj)
{
    (void)mod;
    const cleat_type *type = cleat_type_of(obj);
    if (!type) rb_raise(rb_eTypeError, "not a Cleat object");
#ifdef HAVE_CONST_RUBY_TYPED_DECL_MARKING
    bool flag = RTYPEDDATA_TYPE(obj)->flags & RUBY_TYPED_DECL_MARKING;
#else
    bool flag = false;
#endif
    if (flag != cleat_type_declarative(type)) rb_raise(rb_eRuntimeError, "flag and type disagree");
    return flag ? Qtrue : Qfalse;
}
static VALUE test_gc_marks_p(VALUE mod, VALUE obj)
{
    (void)mod;
    if (!cleat_type_of(obj)) rb_raise(rb_eTypeError, "not a Cleat object");
    return RTYPEDDATA_TYPE(obj)->function.dmark ? Qtrue : Qfalse;
}

/* ---- Deliberate bugs: proof that test:asan and test:valgrind catch ours ----
 * Only test_safety_tasks.rb calls these, each in a Ruby of its own. The
 * index and operand come from Ruby, so the compiler cannot see (or warn
 * about, or fold away) what happens. */

/* Writes byte index of a malloc(length) buffer: a heap overflow when
 * index >= length. */
static VALUE test_deliberate_heap_write(VALUE mod, VALUE length, VALUE index)
{
    (void)mod;
    size_t n = NUM2SIZET(length), i = NUM2SIZET(index);
    volatile unsigned char *bytes = malloc(n); /* volatile: the store must stay */
    if (!bytes) rb_raise(rb_eNoMemError, "malloc");
    bytes[i] = 1; /* the bug when i >= n */
    free((void *)bytes);
    return Qnil;
}
static VALUE test_deliberate_leak(VALUE mod, VALUE size)
{
    (void)mod;
    volatile unsigned char *lost = malloc(NUM2SIZET(size)); /* the bug: never freed */
    if (!lost) rb_raise(rb_eNoMemError, "malloc");
    lost[0] = 1;
    return Qnil;
}
/* Branches (a call on one side: no conditional move) on byte index of a
 * malloc(8) buffer that was never written. */
static VALUE test_deliberate_uninitialised_branch(VALUE mod, VALUE index)
{
    (void)mod;
    size_t i = NUM2SIZET(index);
    volatile unsigned char *bytes = malloc(8);
    if (!bytes) rb_raise(rb_eNoMemError, "malloc");
    if (i > 7) i = 7;
    VALUE result = Qnil;
    if (bytes[i]) result = rb_str_new_cstr("set"); /* the bug: bytes[i] was never written */
    free((void *)bytes);
    return result;
}
static VALUE test_deliberate_signed_overflow(VALUE mod, VALUE addend)
{
    (void)mod;
    volatile int big = INT_MAX;
    return INT2NUM(big + NUM2INT(addend)); /* the bug when addend > 0 */
}

/* ---- Nothing observable half-built (issue 14, item 7) ---- */

/* An exception type (zero is valid) with a field that is a String or nil. */
typedef struct detailed {
    VALUE detail;
} detailed_t;
static const cleat_field detailed_fields[] = {CLEAT_FIELD_OR_NIL(detailed_t, detail, &rb_cString),
                                               CLEAT_FIELDS_END};
CLEAT_TYPE(detailed_type, "CleatTest::DetailedError", detailed_t, detailed_fields,
            .flags = CLEAT_ZERO_IS_VALID | CLEAT_COPYABLE);
CLEAT_SHARED(detailed_detail, detailed_type, detailed_t *d) { return d->detail; }

/* Zero is valid, yet a field refuses nil: must not be definable. */
typedef struct zero_refusing_nil {
    VALUE name;
} zero_refusing_nil_t;
static const cleat_field zero_refusing_nil_fields[] = {CLEAT_FIELD(zero_refusing_nil_t, name, &rb_cString),
                                                        CLEAT_FIELDS_END};
CLEAT_TYPE(zero_refusing_nil_type, "CleatTest::ZeroRefusingNil", zero_refusing_nil_t, zero_refusing_nil_fields,
            .flags = CLEAT_ZERO_IS_VALID);
static VALUE test_define_zero_valid_refusing_nil(VALUE mod)
{
    (void)mod;
    return cleat_type_define_class(&zero_refusing_nil_type, rb_cObject);
}

/* A copy callback that copies `label` (unless it is "forget") and never
 * `extra`: what it forgets must read as nil, or refuse the copy. */
typedef struct labelled {
    VALUE label; /* a String */
    VALUE extra; /* anything */
} labelled_t;
static const cleat_field labelled_fields[] = {CLEAT_FIELD(labelled_t, label, &rb_cString),
                                               CLEAT_FIELD_ANY(labelled_t, extra), CLEAT_FIELDS_END};
static void labelled_copy(VALUE self, void *dst, const void *src)
{
    const labelled_t *from = src;
    labelled_t *to = dst;
    if (!rb_str_equal(from->label, rb_str_new_cstr("forget"))) cleat_write(self, &to->label, from->label);
}
CLEAT_TYPE(labelled_type, "CleatTest::Labelled", labelled_t, labelled_fields, .copy = labelled_copy);
CLEAT_INIT(labelled_initialize, labelled_type, labelled_t *l, label, extra)
{
    cleat_write(self, &l->label, label);
    cleat_write(self, &l->extra, extra);
    return self;
}
CLEAT_INIT(labelled_initialize_forgetting, labelled_type, labelled_t *l, extra)
{
    cleat_write(self, &l->extra, extra); /* the bug: label left nil */
    return self;
}
CLEAT_SHARED(labelled_label, labelled_type, labelled_t *l) { return l->label; }
CLEAT_SHARED(labelled_extra, labelled_type, labelled_t *l) { return l->extra; }

/* cleat_type_new, then an exception before cleat_type_ready. */
static VALUE test_make_holder_then_raise(VALUE mod, VALUE value)
{
    (void)mod;
    VALUE obj;
    holder_t *h = cleat_type_new(&holder_type, &obj);
    cleat_write(obj, &h->value, value);
    rb_raise(rb_eRangeError, "raised while filling the object");
}
static VALUE test_make_labelled_unfilled(VALUE mod)
{
    (void)mod;
    VALUE obj;
    cleat_type_new(&labelled_type, &obj);
    cleat_type_ready(obj); /* label is still nil: TypeError */
    return obj;
}
static VALUE test_ready_twice(VALUE mod, VALUE value)
{
    VALUE obj = test_make_holder(mod, value);
    cleat_type_ready(obj); /* TypeError: already initialized */
    return obj;
}

static void init_fresh_objects(VALUE mod)
{
    VALUE detailed = cleat_type_define_class(&detailed_type, rb_eStandardError);
    CLEAT_DEFINE_METHOD(detailed, "detail", detailed_detail);
    VALUE labelled = cleat_type_define_class(&labelled_type, rb_cObject);
    CLEAT_DEFINE_METHOD(labelled, "initialize", labelled_initialize);
    CLEAT_DEFINE_METHOD(labelled, "label", labelled_label);
    CLEAT_DEFINE_METHOD(labelled, "extra", labelled_extra);
    VALUE forgetting = rb_define_class_under(mod, "ForgettingLabelled", labelled);
    CLEAT_DEFINE_METHOD(forgetting, "initialize", labelled_initialize_forgetting);
    rb_define_module_function(mod, "define_zero_valid_refusing_nil", test_define_zero_valid_refusing_nil, 0);
    rb_define_module_function(mod, "make_holder_then_raise", test_make_holder_then_raise, 1);
    rb_define_module_function(mod, "make_labelled_unfilled", test_make_labelled_unfilled, 0);
    rb_define_module_function(mod, "ready_twice", test_ready_twice, 1);
}

/* ---- API for real classes (issue 16, item 2) ---- */

/* Starting values from .init_fields: a name and an Array in fields that
 * refuse nil (so initialize need not set them), a plain member. Allocation
 * raises while CleatTest.defaults_hook_raises is true. */
typedef struct defaults {
    VALUE name;  /* a String */
    VALUE items; /* an Array */
    VALUE label; /* a String or nil */
    int64_t count;
} defaults_t;
static const cleat_field defaults_fields[] = {
    CLEAT_FIELD(defaults_t, name, &rb_cString),
    CLEAT_FIELD(defaults_t, items, &rb_cArray),
    CLEAT_FIELD_OR_NIL(defaults_t, label, &rb_cString),
    CLEAT_FIELDS_END,
};
static bool defaults_hook_raises;
static long defaults_hook_runs;
static VALUE defaults_half_built; /* what the hook made before it raised: hostile code's view */
static void defaults_init_fields(VALUE self, void *data)
{
    defaults_t *d = data;
    defaults_hook_runs++;
    cleat_write(self, &d->name, rb_str_new_cstr("unnamed"));
    if (defaults_hook_raises) {
        rb_ary_push(defaults_half_built, self);
        rb_raise(rb_eRuntimeError, "init_fields raised");
    }
    cleat_write_known(self, &d->items, rb_ary_new());
    d->count = 7;
}
CLEAT_TYPE(defaults_type, "CleatTest::Defaults", defaults_t, defaults_fields, .init_fields = defaults_init_fields,
           .flags = CLEAT_COPYABLE);
CLEAT_INIT_ARGV(defaults_initialize, defaults_type, defaults_t *d)
{
    VALUE name;
    rb_scan_args(argc, argv, "01", &name);
    if (!NIL_P(name)) cleat_write(self, &d->name, name);
    return self;
}
CLEAT_SHARED(defaults_name, defaults_type, defaults_t *d) { return d->name; }
CLEAT_SHARED(defaults_items, defaults_type, defaults_t *d) { return d->items; }
CLEAT_SHARED(defaults_label, defaults_type, defaults_t *d) { return d->label; }
CLEAT_SHARED(defaults_count, defaults_type, defaults_t *d) { return LL2NUM(d->count); }
/* A private door: still checks its receiver. */
CLEAT_SHARED(defaults_secret, defaults_type, defaults_t *d) { return rb_str_plus(d->name, rb_str_new_cstr("!")); }
/* The caller vouches for the class: a String made here. */
CLEAT_EXCLUSIVE(defaults_rename_known, defaults_type, defaults_t *d, name)
{
    cleat_write_known(self, &d->name, rb_str_dup(StringValue(name)));
    return self;
}
/* A broken promise: stores whatever it is given (debug builds report it). */
CLEAT_EXCLUSIVE(defaults_store_known, defaults_type, defaults_t *d, value)
{
    cleat_write_known(self, &d->name, value);
    return self;
}
/* A slot that is no declared field. */
CLEAT_EXCLUSIVE(defaults_store_known_undeclared, defaults_type, defaults_t *d, value)
{
    cleat_write_known(self, (VALUE *)&d->count, value);
    return self;
}
/* Yields, then stores: the block may freeze the receiver meanwhile. */
CLEAT_EXCLUSIVE(defaults_store_known_after_yield, defaults_type, defaults_t *d)
{
    VALUE v = CLEAT_YIELD(Qnil);
    cleat_write_known(self, &d->label, rb_str_new_cstr("after"));
    return v;
}
/* inspect keeps working on an allocated object: a CLEAT_FUNCTION (no door)
 * that asks cleat_initialized_p before it unwraps. */
CLEAT_FUNCTION(defaults_inspect)
{
    if (!cleat_initialized_p(self, &defaults_type)) return rb_str_new_cstr("#<CleatTest::Defaults (uninitialized)>");
    const defaults_t *d = cleat_unwrap(self, &defaults_type);
    return rb_sprintf("#<CleatTest::Defaults name=%" PRIsVALUE ">", rb_inspect(d->name));
}
/* A singleton method: Defaults.build(name). */
CLEAT_FUNCTION(defaults_s_build, name) { return rb_class_new_instance(1, &name, self); }
CLEAT_FUNCTION(test_initialized_p, obj) { return cleat_initialized_p(obj, &defaults_type) ? Qtrue : Qfalse; }
CLEAT_FUNCTION(test_defaults_hook_runs) { return LONG2NUM(defaults_hook_runs); }
/* Takes the objects the hook kept before raising. */
CLEAT_FUNCTION(test_defaults_half_built)
{
    VALUE taken = rb_ary_dup(defaults_half_built);
    rb_ary_clear(defaults_half_built);
    return taken;
}
CLEAT_FUNCTION(test_set_defaults_hook_raises, flag)
{
    defaults_hook_raises = RTEST(flag);
    return flag;
}

/* Zero is valid, and .init_fields gives a field that refuses nil its value:
 * allocate makes a usable object; dup/clone fill only an untouched one. */
typedef struct fresh {
    VALUE tags; /* an Array */
    int64_t code;
} fresh_t;
static const cleat_field fresh_fields[] = {CLEAT_FIELD(fresh_t, tags, &rb_cArray), CLEAT_FIELDS_END};
static void fresh_init_fields(VALUE self, void *data)
{
    fresh_t *f = data;
    cleat_write(self, &f->tags, rb_ary_new());
    f->code = 42;
}
CLEAT_TYPE(fresh_type, "CleatTest::FreshDefaults", fresh_t, fresh_fields, .init_fields = fresh_init_fields,
           .flags = CLEAT_ZERO_IS_VALID | CLEAT_COPYABLE);
CLEAT_SHARED(fresh_tags, fresh_type, fresh_t *f) { return f->tags; }
CLEAT_SHARED(fresh_code, fresh_type, fresh_t *f) { return LL2NUM(f->code); }
CLEAT_EXCLUSIVE(fresh_set_code, fresh_type, fresh_t *f, code)
{
    f->code = cleat_to_int64(code);
    return code;
}

/* FreshDefaults.build(code): made and filled from C, so no longer fresh. */
CLEAT_FUNCTION(fresh_s_build, code)
{
    VALUE obj;
    fresh_t *f = cleat_type_new(&fresh_type, &obj);
    f->code = cleat_to_int64(code);
    return obj;
}

/* A hook that fills a cleat_values, and member-by-member copies: the copy
 * must not lose the buffer the hook gave its target. */
typedef struct listed {
    cleat_values list;
} listed_t;
static const cleat_field listed_fields[] = {CLEAT_FIELD_VALUES_ANY(listed_t, list), CLEAT_FIELDS_END};
static void listed_init_fields(VALUE self, void *data)
{
    listed_t *l = data;
    for (int i = 0; i < 100; i++) cleat_values_push(self, &l->list, INT2FIX(i));
}
CLEAT_TYPE(listed_type, "CleatTest::ListedDefaults", listed_t, listed_fields, .init_fields = listed_init_fields,
           .flags = CLEAT_ZERO_IS_VALID | CLEAT_COPYABLE);
CLEAT_SHARED(listed_size, listed_type, listed_t *l) { return SIZET2NUM(l->list.len); }

/* Zero is valid, but the hook forgets the field that refuses nil. */
static void forgetting_init_fields(VALUE self, void *data) { (void)self, (void)data; }
CLEAT_TYPE(forgetting_fresh_type, "CleatTest::ForgettingFresh", fresh_t, fresh_fields,
           .init_fields = forgetting_init_fields, .flags = CLEAT_ZERO_IS_VALID);

/* Module functions of every arity form. */
CLEAT_FUNCTION(functions_none) { return rb_obj_class(self); }
CLEAT_FUNCTION(functions_add, a, b) { return rb_funcall(a, '+', 1, b); }
CLEAT_FUNCTION(functions_fifteen, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15)
{
    return rb_ary_new_from_args(15, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15);
}
CLEAT_FUNCTION_ARGV(functions_count_args) { return INT2NUM(argc); }

/* cleat_ensure: the cleanup counts, whatever the block does. */
static long cleanups;
static VALUE ensure_body(void *arg) { return rb_yield(*(VALUE *)arg); }
static void ensure_cleanup(void *arg)
{
    (void)arg;
    cleanups++;
}
CLEAT_FUNCTION(test_with_cleanup, value) { return cleat_ensure(ensure_body, ensure_cleanup, &value); }
CLEAT_FUNCTION(test_cleanups) { return LONG2NUM(cleanups); }

/* CLEAT_SCRATCH: the Floats of ary summed through scratch memory (stack for
 * a few, a hidden Ruby object for many); NUM2DBL raises midway for a
 * non-number, and nothing leaks. */
CLEAT_FUNCTION(test_scratch_sum, ary)
{
    Check_Type(ary, T_ARRAY);
    size_t count = (size_t)RARRAY_LEN(ary);
    VALUE holder;
    double *xs = CLEAT_SCRATCH(double, holder, count);
    for (size_t i = 0; i < count; i++) xs[i] = NUM2DBL(rb_ary_entry(ary, (long)i));
    double sum = 0;
    for (size_t i = 0; i < count; i++) sum += xs[i];
    bool on_heap = holder != 0;
    CLEAT_SCRATCH_END(holder);
    return rb_assoc_new(DBL2NUM(sum), on_heap ? Qtrue : Qfalse);
}
CLEAT_FUNCTION(test_scratch_count, count)
{
    VALUE holder;
    uint64_t *p = CLEAT_SCRATCH(uint64_t, holder, cleat_to_size(count));
    p[0] = 1;
    CLEAT_SCRATCH_END(holder);
    return Qnil;
}

/* The count straight from NUM2SIZET: Ruby code (to_int) inside the macro's
 * argument. Returns the scratch's size as the body saw it. */
CLEAT_FUNCTION(test_scratch_num2sizet, count)
{
    VALUE holder;
    size_t n = 0;
    unsigned char *p = CLEAT_SCRATCH(unsigned char, holder, (n++, NUM2SIZET(count)));
    memset(p, 0xab, 16);
    CLEAT_SCRATCH_END(holder);
    return SIZET2NUM(n); /* how many times the argument was evaluated */
}

/* ---- a view's owner is stored only by cleat_view_init ---- */

typedef struct {
    cleat_region bytes;
} block_t;
static const cleat_field block_fields[] = {
    CLEAT_FIELD_REGION(block_t, bytes),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(block_type, "CleatTest::Block", block_t, block_fields);
CLEAT_INIT(block_initialize, block_type, block_t *b, size)
{
    cleat_region_resize(self, &b->bytes, cleat_to_size(size));
    return self;
}

/* Appends other's bytes: other unwrapped for writing (it is emptied), so
 * `b.absorb(b)` would read the bytes it is growing. */
CLEAT_EXCLUSIVE(block_absorb, block_type, block_t *b, other)
{
    block_t *o = cleat_unwrap_mut(other, &block_type);
    size_t old = b->bytes.size, add = o->bytes.size;
    if (add > SIZE_MAX - old) rb_raise(rb_eRangeError, "too large");
    if (add == 0) return SIZET2NUM(old);
    cleat_region_resize(self, &b->bytes, old + add);
    memcpy(b->bytes.base + old, o->bytes.base, add);
    cleat_region_resize(other, &o->bytes, 0);
    return SIZET2NUM(b->bytes.size);
}
CLEAT_SHARED(block_size, block_type, const block_t *b)
{
    return SIZET2NUM(b->bytes.size);
}
CLEAT_EXCLUSIVE(block_fill, block_type, block_t *b, byte)
{
    int64_t value = cleat_num_to_int64(CLEAT_DOOR, byte); /* to_int runs with the Block lent */
    if (b->bytes.size) memset(b->bytes.base, (int)(value & 0xff), b->bytes.size);
    return self;
}
CLEAT_EXCLUSIVE(block_release, block_type, block_t *b)
{
    cleat_region_release(self, &b->bytes);
    return self;
}

typedef struct {
    cleat_view view;
} window_t;
static const cleat_field window_fields[] = {
    CLEAT_FIELD_VIEW(window_t, view, &block_type),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(window_type, "CleatTest::Window", window_t, window_fields);
CLEAT_INIT(window_initialize, window_type, window_t *w, block)
{
    block_t *b = cleat_unwrap_mut(block, &block_type);
    cleat_view_init(self, &w->view, block, &b->bytes, 0, b->bytes.size);
    return self;
}
/* Points the view at bytes [offset, offset + length) of the same block:
 * RangeError "view out of bounds" past its end. */
CLEAT_EXCLUSIVE(window_reframe, window_type, window_t *w, offset, length)
{
    VALUE block = w->view.owner;
    const block_t *b = cleat_unwrap(block, &block_type);
    cleat_view_init(self, &w->view, block, &b->bytes, cleat_to_size(offset), cleat_to_size(length));
    return self;
}
CLEAT_SHARED(window_size, window_type, window_t *w)
{
    cleat_view_bytes(&w->view);
    return SIZET2NUM(w->view.length);
}
/* Bytes first, then an index that may run to_int: the conversion lends the
 * view's owner too, or to_int could release the bytes held here. */
CLEAT_SHARED(window_read_at, window_type, const window_t *w, index)
{
    const unsigned char *bytes = cleat_view_bytes(&w->view);
    int64_t i = cleat_num_to_int64(CLEAT_DOOR, index);
    if (i < 0 || (uint64_t)i >= w->view.length) rb_raise(rb_eIndexError, "index %" PRId64 " outside the window", i);
    return INT2FIX(bytes[i]);
}
/* cleat_unwrap_mut of the receiver as another type: TypeError, not the
 * own-receiver BorrowError (hostile review). */
CLEAT_EXCLUSIVE(window_unwrap_self_as_block, window_type, window_t *w)
{
    (void)w;
    cleat_unwrap_mut(self, &block_type);
    return self;
}
/* The misuse: pointing the view at another owner by hand, which would leave
 * view.region inside the old owner's struct, kept alive by nothing. */
CLEAT_EXCLUSIVE(window_swap_owner, window_type, window_t *w, other)
{
    cleat_write(self, &w->view.owner, other);
    return self;
}
CLEAT_EXCLUSIVE(window_swap_owner_known, window_type, window_t *w, other)
{
    cleat_write_known(self, &w->view.owner, other);
    return self;
}

/* ---- misuse that debug builds report (docs/misuse.md) ----
 *
 * Each method below calls Ruby code from a door body without lending the
 * object, stores into a cleat_values element by hand, or calls Cleat from a
 * GVL-free function: test_debug.rb runs each in a child Ruby and expects the
 * "[cleat debug]" report and the abort. The lending twins stay quiet. */

CLEAT_EXCLUSIVE(holder_yield_unlent, holder_type, holder_t *h, value)
{
    (void)h;
    return rb_yield(value); /* the bug: CLEAT_YIELD lends */
}
CLEAT_SHARED(holder_funcall_unlent, holder_type, holder_t *h, recv)
{
    (void)h;
    return rb_funcall(recv, rb_intern("poke"), 0); /* the bug: CLEAT_CALL lends */
}
/* Correct: elements moved within the list (the eighth review, C side: a
 * memmove delete_at was reported as a missing barrier). */
CLEAT_EXCLUSIVE(holder_delete_at, holder_type, holder_t *h, index)
{
    size_t i = cleat_to_size(index);
    if (i >= h->list.len) return Qnil;
    VALUE gone = h->list.ptr[i];
    memmove(&h->list.ptr[i], &h->list.ptr[i + 1], (h->list.len - i - 1) * sizeof(VALUE));
    h->list.len--;
    return gone;
}
CLEAT_EXCLUSIVE(holder_swap_ends, holder_type, holder_t *h)
{
    if (h->list.len < 2) return self;
    VALUE first = h->list.ptr[0];
    h->list.ptr[0] = h->list.ptr[h->list.len - 1];
    h->list.ptr[h->list.len - 1] = first;
    return self;
}
/* Wrong: an element popped, then put back by hand (a new reference). */
CLEAT_EXCLUSIVE(holder_put_back, holder_type, holder_t *h, value)
{
    h->list.ptr[h->list.len++] = value; /* the bug (room is there: it was just popped) */
    return self;
}
CLEAT_EXCLUSIVE(holder_pop, holder_type, holder_t *h) { return h->list.len ? h->list.ptr[--h->list.len] : Qnil; }

CLEAT_SHARED(holder_count_then_clear, holder_type, holder_t *h)
{
    size_t before = h->list.len;
    holder_clear(self); /* the bug: a door's function called directly, a door inside a door */
    return SIZET2NUM(before);
}
CLEAT_EXCLUSIVE(holder_next_unlent, holder_type, holder_t *h, enumerator)
{
    (void)h;
    return rb_funcall(enumerator, rb_intern("next"), 0); /* the bug: its fiber may run Ruby code */
}
CLEAT_EXCLUSIVE(holder_next_lent, holder_type, holder_t *h, enumerator)
{
    (void)h;
    return CLEAT_CALL(enumerator, rb_intern("next"), 0, NULL);
}
CLEAT_EXCLUSIVE(holder_search_unlent, holder_type, holder_t *h, re, str)
{
    (void)h;
    Check_Type(re, T_REGEXP);
    StringValue(str);
    return LONG2NUM(rb_reg_search(re, str, 0, 0)); /* the bug: trap handlers run unlent */
}
CLEAT_EXCLUSIVE(holder_num2long_unlent, holder_type, holder_t *h, value)
{
    (void)h;
    return LONG2NUM(NUM2LONG(value)); /* to_int, unlent */
}
CLEAT_EXCLUSIVE(holder_num2dbl_unlent, holder_type, holder_t *h, value)
{
    (void)h;
    return DBL2NUM(NUM2DBL(value)); /* to_f, unlent */
}
CLEAT_EXCLUSIVE(holder_string_value_unlent, holder_type, holder_t *h, value)
{
    (void)h;
    StringValue(value); /* to_str, unlent */
    return value;
}
CLEAT_SHARED(holder_sprintf_unlent, holder_type, holder_t *h, value)
{
    (void)h;
    return rb_sprintf("<%" PRIsVALUE ">", value); /* to_s, unlent */
}
/* The lending twins. */
CLEAT_EXCLUSIVE(holder_num2long_lent, holder_type, holder_t *h, value)
{
    (void)h;
    return LL2NUM(cleat_num_to_int64(CLEAT_DOOR, value));
}
CLEAT_EXCLUSIVE(holder_string_value_lent, holder_type, holder_t *h, value)
{
    (void)h;
    return cleat_str_value(CLEAT_DOOR, value);
}
CLEAT_SHARED(holder_funcall_lent, holder_type, holder_t *h, recv)
{
    (void)h;
    return CLEAT_CALL(recv, rb_intern("poke"), 0, NULL);
}
/* Raises klass (a Ruby class may define initialize, exception...). */
CLEAT_EXCLUSIVE(holder_raise_with, holder_type, holder_t *h, klass)
{
    (void)h;
    rb_raise(klass, "raised from a door");
}
/* Lets other threads run, with the GVL, in the body: their Ruby code is
 * theirs, not this door's. */
CLEAT_EXCLUSIVE(holder_schedule, holder_type, holder_t *h, times)
{
    (void)h;
    for (long i = 0, n = NUM2LONG(times); i < n; i++) rb_thread_schedule();
    return Qnil;
}
/* Allocates in the body: the GC runs, frees, and defers finalizers. */
CLEAT_EXCLUSIVE(holder_allocate, holder_type, holder_t *h, count)
{
    (void)h;
    VALUE last = Qnil;
    for (long i = 0, n = NUM2LONG(count); i < n; i++) last = rb_ary_new_from_args(2, rb_str_new_cstr("x"), last);
    return LONG2NUM(RARRAY_LEN(last));
}
/* cleat_ensure in a body: the block runs lent. */
static VALUE holder_ensure_body(void *arg)
{
    const cleat_door *door = arg;
    return cleat_borrow_yield(door->self, door->mode, Qnil);
}
static void holder_ensure_cleanup(void *arg) { (void)arg; }
CLEAT_EXCLUSIVE(holder_ensure_yield, holder_type, holder_t *h)
{
    (void)h;
    cleat_door door = CLEAT_DOOR;
    return cleat_ensure(holder_ensure_body, holder_ensure_cleanup, &door);
}
/* A CLEAT_FUNCTION has no door: rb_yield is its way to call the block. */
CLEAT_FUNCTION(test_function_yield, value) { return rb_yield(value); }

/* A store into a cleat_values element without the barrier. */
CLEAT_EXCLUSIVE(holder_store_element_unbarriered, holder_type, holder_t *h, index, value)
{
    size_t i = cleat_to_size(index);
    cleat_values_get(&h->list, i); /* IndexError when out of range */
    h->list.ptr[i] = value;        /* the bug: cleat_write(self, &h->list.ptr[i], value) */
    return value;
}

/* Cleat called from a GVL-free function: a view's check, and a conversion
 * that raises. */
static bool reads_a_view(void *arg, const cleat_cancel *cancel)
{
    (void)cancel;
    const window_t *w = arg;
    return cleat_view_bytes(&w->view) != NULL; /* the bug */
}
CLEAT_SHARED(window_bytes_without_gvl, window_type, window_t *w)
{
    CLEAT_WITHOUT_GVL(reads_a_view, (void *)w);
    return Qnil;
}
static bool converts(void *arg, const cleat_cancel *cancel)
{
    (void)cancel;
    return cleat_to_size(*(const VALUE *)arg) > 0; /* the bug: raises TypeError for nil */
}
CLEAT_SHARED(holder_convert_without_gvl, holder_type, holder_t *h, value)
{
    (void)h;
    CLEAT_WITHOUT_GVL(converts, &value);
    return Qnil;
}
static bool raises(void *arg, const cleat_cancel *cancel)
{
    (void)arg, (void)cancel;
    rb_raise(rb_eArgError, "raised without the GVL"); /* the bug */
}
CLEAT_SHARED(holder_raise_without_gvl, holder_type, holder_t *h)
{
    (void)h;
    CLEAT_WITHOUT_GVL(raises, NULL);
    return Qnil;
}
/* The seventh hostile review: a field list without CLEAT_FIELDS_END, and a
 * second type naming a class another type defined; defined on demand. */
typedef struct {
    VALUE a;
} unended_t;
static const cleat_field unended_fields[] = {CLEAT_FIELD_OR_NIL(unended_t, a, &rb_cString)};
CLEAT_TYPE(unended_type, "CleatTest::Unended", unended_t, unended_fields, .flags = CLEAT_ZERO_IS_VALID);
static VALUE define_unended_type(VALUE mod)
{
    (void)mod;
    return cleat_type_define_class(&unended_type, rb_cObject);
}
static const cleat_field holder_again_fields[] = {CLEAT_FIELD_OR_NIL(unended_t, a, &rb_cString), CLEAT_FIELDS_END};
CLEAT_TYPE(holder_again_type, "CleatTest::Holder", unended_t, holder_again_fields, .flags = CLEAT_ZERO_IS_VALID);
static VALUE define_holder_again(VALUE mod)
{
    (void)mod;
    return cleat_type_define_class(&holder_again_type, rb_cObject);
}

/* The eighth hostile review: a class path whose constant Ruby code pointed
 * at a core class (CleatTest::Aliased = String) before the type was
 * defined, and one naming a class C code made with an allocator of its own. */
CLEAT_TYPE(aliased_type, "CleatTest::Aliased", unended_t, holder_again_fields, .flags = CLEAT_ZERO_IS_VALID);
static VALUE define_aliased(VALUE mod)
{
    (void)mod;
    return cleat_type_define_class(&aliased_type, rb_cObject);
}
CLEAT_TYPE(predefined_type, "CleatTest::Predefined", unended_t, holder_again_fields, .flags = CLEAT_ZERO_IS_VALID);
static VALUE define_predefined(VALUE mod)
{
    (void)mod;
    return cleat_type_define_class(&predefined_type, rb_cObject);
}
static VALUE test_is_predefined(VALUE mod, VALUE obj)
{
    (void)mod;
    return cleat_is(obj, &predefined_type) ? Qtrue : Qfalse;
}
static const rb_data_type_t raw_named_rb = {"CleatTest::RawNamed", {NULL, NULL, NULL, NULL, {0}}, NULL, NULL,
                                              RUBY_TYPED_FREE_IMMEDIATELY};
static VALUE raw_named_alloc(VALUE klass) { return TypedData_Wrap_Struct(klass, &raw_named_rb, NULL); }
CLEAT_TYPE(raw_named_type, "CleatTest::RawNamed", unended_t, holder_again_fields, .flags = CLEAT_ZERO_IS_VALID);
static VALUE define_over_raw(VALUE mod)
{
    rb_define_alloc_func(rb_define_class_under(mod, "RawNamed", rb_cObject), raw_named_alloc);
    return cleat_type_define_class(&raw_named_type, rb_cObject);
}

/* A deferred free callback (it may use the Ruby API), which raises once
 * armed (the seventh hostile review: the exception came out of GC.start
 * unreported, and Cleat's own frees after the callback were skipped). */
typedef struct {
    int armed;
} deferred_t;
static long deferred_frees;
static void deferred_free(void *p)
{
    deferred_frees++;
    int armed = ((deferred_t *)p)->armed;
    if (armed == 1) rb_raise(rb_eRuntimeError, "raised from a free callback"); /* the bug */
    if (armed == 2) rb_throw("freed", Qnil); /* the same bug, thrown (a catch(:freed) around the GC) */
}
CLEAT_TYPE(deferred_type, "CleatTest::Deferred", deferred_t, NULL, .free = deferred_free,
           .flags = CLEAT_ZERO_IS_VALID | CLEAT_DEFERRED_FREE);
CLEAT_EXCLUSIVE(deferred_arm, deferred_type, deferred_t *d)
{
    d->armed = 1;
    return self;
}
CLEAT_EXCLUSIVE(deferred_arm_throw, deferred_type, deferred_t *d)
{
    d->armed = 2;
    return self;
}
static VALUE test_deferred_frees(VALUE mod)
{
    (void)mod;
    return LONG2NUM(deferred_frees);
}

/* A review of the seventh round's fixes. A copy of a declared field that
 * the type's own .mark pins with rb_gc_mark_locations (correct: nothing
 * moves it); and a GVL-free function that takes the GVL back to call a
 * method that goes GVL-free itself, then (the bug) yields without the GVL. */
typedef struct {
    VALUE label;
    VALUE extra[2];
} pinned_t;
static const cleat_field pinned_fields[] = {CLEAT_FIELD_OR_NIL(pinned_t, label, &rb_cString), CLEAT_FIELDS_END};
static void pinned_copy_mark(void *p)
{
    pinned_t *d = p;
    rb_gc_mark_locations(d->extra, d->extra + 2);
}
CLEAT_TYPE(pinned_type, "CleatTest::Pinned", pinned_t, pinned_fields, .mark = pinned_copy_mark,
           .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(pinned_set, pinned_type, pinned_t *d, v)
{
    cleat_write(self, &d->label, v);
    d->extra[0] = v; /* pinned by pinned_copy_mark */
    return self;
}
CLEAT_SHARED(pinned_extra, pinned_type, const pinned_t *d) { return d->extra[0]; }
static bool does_nothing(void *arg, const cleat_cancel *cancel)
{
    (void)arg, (void)cancel;
    return true;
}
CLEAT_SHARED(holder_plain_without_gvl, holder_type, holder_t *h)
{
    (void)h;
    CLEAT_WITHOUT_GVL(does_nothing, NULL);
    return Qnil;
}
static void *calls_plain_without_gvl(void *other)
{
    rb_funcall((VALUE)other, rb_intern("plain_without_gvl"), 0);
    return NULL;
}
static bool nests_then_yields(void *arg, const cleat_cancel *cancel)
{
    (void)cancel;
    rb_thread_call_with_gvl(calls_plain_without_gvl, (void *)*(VALUE *)arg); /* correct */
    rb_yield(Qnil); /* the bug */
    return true;
}
CLEAT_SHARED(holder_nested_then_yield_without_gvl, holder_type, holder_t *h, other)
{
    (void)h;
    CLEAT_WITHOUT_GVL(nests_then_yields, &other);
    return Qnil;
}
/* A root in a table that is unregistered, then freed (correct). */
static VALUE test_root_in_a_freed_table(VALUE mod, VALUE v)
{
    (void)mod;
    VALUE *table = calloc((size_t)1 << 18, sizeof(VALUE)); /* 2 MiB: unmapped when freed */
    if (!table) rb_raise(rb_eNoMemError, "no table");
    table[0] = v;
    rb_gc_register_address(&table[0]);
    VALUE got = table[0];
    rb_gc_unregister_address(&table[0]);
    free(table);
    return got;
}

/* The seventh hostile review: Ruby code called from a GVL-free function. */
static bool yields_or_calls(void *arg, const cleat_cancel *cancel)
{
    (void)cancel;
    if (*(VALUE *)arg == Qtrue) rb_yield(Qnil); /* the bug */
    else rb_funcall(*(VALUE *)arg, rb_intern("size"), 0); /* the bug */
    return true;
}
CLEAT_SHARED(holder_ruby_without_gvl, holder_type, holder_t *h, what)
{
    (void)h;
    CLEAT_WITHOUT_GVL(yields_or_calls, &what);
    return Qnil;
}
/* Correct: the function takes the GVL back before it calls Ruby. */
static void *yields_with_gvl(void *arg)
{
    (void)arg;
    return (void *)rb_yield(Qnil);
}
static bool calls_back_with_gvl(void *arg, const cleat_cancel *cancel)
{
    (void)cancel;
    *(VALUE *)arg = (VALUE)rb_thread_call_with_gvl(yields_with_gvl, NULL);
    return true;
}
CLEAT_SHARED(holder_ruby_with_gvl_taken_back, holder_type, holder_t *h)
{
    (void)h;
    VALUE result = Qnil;
    CLEAT_WITHOUT_GVL(calls_back_with_gvl, &result);
    return result;
}
CLEAT_EXCLUSIVE(block_resize, block_type, block_t *b, size)
{
    cleat_region_resize(self, &b->bytes, cleat_to_size(size));
    return self;
}

static void init_misuse(VALUE mod)
{
    VALUE holder = rb_const_get(mod, rb_intern("Holder"));
    CLEAT_DEFINE_METHOD(holder, "yield_unlent", holder_yield_unlent);
    CLEAT_DEFINE_METHOD(holder, "funcall_unlent", holder_funcall_unlent);
    CLEAT_DEFINE_METHOD(holder, "next_unlent", holder_next_unlent);
    CLEAT_DEFINE_METHOD(holder, "next_lent", holder_next_lent);
    CLEAT_DEFINE_METHOD(holder, "search_unlent", holder_search_unlent);
    CLEAT_DEFINE_METHOD(holder, "num2long_unlent", holder_num2long_unlent);
    CLEAT_DEFINE_METHOD(holder, "num2dbl_unlent", holder_num2dbl_unlent);
    CLEAT_DEFINE_METHOD(holder, "string_value_unlent", holder_string_value_unlent);
    CLEAT_DEFINE_METHOD(holder, "sprintf_unlent", holder_sprintf_unlent);
    CLEAT_DEFINE_METHOD(holder, "num2long_lent", holder_num2long_lent);
    CLEAT_DEFINE_METHOD(holder, "string_value_lent", holder_string_value_lent);
    CLEAT_DEFINE_METHOD(holder, "funcall_lent", holder_funcall_lent);
    CLEAT_DEFINE_METHOD(holder, "raise_with", holder_raise_with);
    CLEAT_DEFINE_METHOD(holder, "schedule", holder_schedule);
    CLEAT_DEFINE_METHOD(holder, "ensure_yield", holder_ensure_yield);
    CLEAT_DEFINE_METHOD(holder, "allocate", holder_allocate);
    CLEAT_DEFINE_METHOD(holder, "store_element_unbarriered", holder_store_element_unbarriered);
    CLEAT_DEFINE_METHOD(holder, "convert_without_gvl", holder_convert_without_gvl);
    CLEAT_DEFINE_METHOD(holder, "raise_without_gvl", holder_raise_without_gvl);
    CLEAT_DEFINE_METHOD(holder, "ruby_without_gvl", holder_ruby_without_gvl);
    rb_define_module_function(mod, "define_unended_type", define_unended_type, 0);
    VALUE pinned = cleat_type_define_class(&pinned_type, rb_cObject);
    CLEAT_DEFINE_METHOD(pinned, "set", pinned_set);
    CLEAT_DEFINE_METHOD(pinned, "extra", pinned_extra);
    CLEAT_DEFINE_METHOD(holder, "plain_without_gvl", holder_plain_without_gvl);
    CLEAT_DEFINE_METHOD(holder, "nested_then_yield_without_gvl", holder_nested_then_yield_without_gvl);
    rb_define_module_function(mod, "root_in_a_freed_table", test_root_in_a_freed_table, 1);
    VALUE deferred = cleat_type_define_class(&deferred_type, rb_cObject);
    CLEAT_DEFINE_METHOD(deferred, "arm", deferred_arm);
    CLEAT_DEFINE_METHOD(deferred, "arm_throw", deferred_arm_throw);
    rb_define_module_function(mod, "deferred_frees", test_deferred_frees, 0);
    rb_define_module_function(mod, "define_holder_again", define_holder_again, 0);
    rb_define_module_function(mod, "define_aliased", define_aliased, 0);
    rb_define_module_function(mod, "define_over_raw", define_over_raw, 0);
    rb_define_module_function(mod, "define_predefined", define_predefined, 0);
    rb_define_module_function(mod, "predefined?", test_is_predefined, 1);
    CLEAT_DEFINE_METHOD(holder, "ruby_with_gvl_taken_back", holder_ruby_with_gvl_taken_back);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "function_yield", test_function_yield);
    CLEAT_DEFINE_METHOD(rb_const_get(mod, rb_intern("Window")), "bytes_without_gvl", window_bytes_without_gvl);
    CLEAT_DEFINE_METHOD(rb_const_get(mod, rb_intern("Block")), "resize", block_resize);
}

static void init_real_classes(VALUE mod)
{
    VALUE block = cleat_type_define_class(&block_type, rb_cObject);
    CLEAT_DEFINE_METHOD(block, "initialize", block_initialize);
    CLEAT_DEFINE_METHOD(block, "absorb", block_absorb);
    CLEAT_DEFINE_METHOD(block, "size", block_size);
    CLEAT_DEFINE_METHOD(block, "fill", block_fill);
    CLEAT_DEFINE_METHOD(block, "release", block_release);
    VALUE window = cleat_type_define_class(&window_type, rb_cObject);
    CLEAT_DEFINE_METHOD(window, "initialize", window_initialize);
    CLEAT_DEFINE_METHOD(window, "size", window_size);
    CLEAT_DEFINE_METHOD(window, "read_at", window_read_at);
    CLEAT_DEFINE_METHOD(window, "unwrap_self_as_block", window_unwrap_self_as_block);
    CLEAT_DEFINE_METHOD(window, "reframe", window_reframe);
    CLEAT_DEFINE_METHOD(window, "swap_owner", window_swap_owner);
    CLEAT_DEFINE_METHOD(window, "swap_owner_known", window_swap_owner_known);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "scratch_num2sizet", test_scratch_num2sizet);
    VALUE defaults = cleat_type_define_class(&defaults_type, rb_cObject);
    CLEAT_DEFINE_METHOD(defaults, "initialize", defaults_initialize);
    CLEAT_DEFINE_METHOD(defaults, "name", defaults_name);
    CLEAT_DEFINE_METHOD(defaults, "items", defaults_items);
    CLEAT_DEFINE_METHOD(defaults, "label", defaults_label);
    CLEAT_DEFINE_METHOD(defaults, "count", defaults_count);
    CLEAT_DEFINE_METHOD(defaults, "rename_known", defaults_rename_known);
    CLEAT_DEFINE_METHOD(defaults, "store_known", defaults_store_known);
    CLEAT_DEFINE_METHOD(defaults, "store_known_undeclared", defaults_store_known_undeclared);
    CLEAT_DEFINE_METHOD(defaults, "store_known_after_yield", defaults_store_known_after_yield);
    CLEAT_DEFINE_METHOD(defaults, "inspect", defaults_inspect);
    CLEAT_DEFINE_PRIVATE_METHOD(defaults, "secret", defaults_secret);
    CLEAT_DEFINE_SINGLETON_METHOD(defaults, "build", defaults_s_build);
    VALUE fresh = cleat_type_define_class(&fresh_type, rb_cObject);
    CLEAT_DEFINE_METHOD(fresh, "tags", fresh_tags);
    CLEAT_DEFINE_METHOD(fresh, "code", fresh_code);
    CLEAT_DEFINE_METHOD(fresh, "code=", fresh_set_code);
    CLEAT_DEFINE_SINGLETON_METHOD(fresh, "build", fresh_s_build);
    cleat_type_define_class(&forgetting_fresh_type, rb_cObject);
    VALUE listed = cleat_type_define_class(&listed_type, rb_cObject);
    CLEAT_DEFINE_METHOD(listed, "size", listed_size);
    VALUE functions = rb_define_module_under(mod, "Functions");
    CLEAT_DEFINE_MODULE_FUNCTION(functions, "none", functions_none);
    CLEAT_DEFINE_MODULE_FUNCTION(functions, "add", functions_add);
    CLEAT_DEFINE_MODULE_FUNCTION(functions, "fifteen", functions_fifteen);
    CLEAT_DEFINE_MODULE_FUNCTION(functions, "count_args", functions_count_args);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "initialized?", test_initialized_p);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "defaults_hook_runs", test_defaults_hook_runs);
    defaults_half_built = rb_ary_new();
    cleat_gc_root(&defaults_half_built);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "defaults_half_built", test_defaults_half_built);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "defaults_hook_raises=", test_set_defaults_hook_raises);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "with_cleanup", test_with_cleanup);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "cleanups", test_cleanups);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "scratch_sum", test_scratch_sum);
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "scratch_count", test_scratch_count);
}

/* ---- memory and marking misuse that debug builds catch (docs/misuse.md) ---- */

/* A pointer from cleat_view_bytes kept past a resize: the old memory is in
 * quarantine, filled with 0xCE. */
static cleat_type stale_type;
typedef struct {
    cleat_region bytes;
    cleat_view view;
} stale_t;
static const cleat_field stale_fields[] = {
    CLEAT_FIELD_REGION(stale_t, bytes),
    CLEAT_FIELD_VIEW(stale_t, view, &stale_type),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(stale_type, "CleatTest::StaleView", stale_t, stale_fields);

/* A review of the eighth round: a deferred free callback reading a view
 * (its owner field hidden, like every VALUE field there). */
typedef struct {
    cleat_view view;
} view_keeper_t;
static const cleat_field view_keeper_fields[] = {CLEAT_FIELD_VIEW(view_keeper_t, view, &stale_type), CLEAT_FIELDS_END};
static void view_keeper_free(void *p)
{
    view_keeper_t *k = p;
    if (k->view.region) (void)cleat_view_bytes(&k->view); /* the bug: StaleReferenceError now */
}
CLEAT_TYPE(view_keeper_type, "CleatTest::ViewKeeper", view_keeper_t, view_keeper_fields, .free = view_keeper_free,
           .flags = CLEAT_DEFERRED_FREE);
CLEAT_INIT(view_keeper_init, view_keeper_type, view_keeper_t *k, owner)
{
    stale_t *s = cleat_unwrap_mut(owner, &stale_type);
    cleat_view_init(self, &k->view, owner, &s->bytes, 0, 1);
    return self;
}
static const unsigned char *stale_kept; /* the bug: outlives the call that got it */
CLEAT_INIT(stale_initialize, stale_type, stale_t *s, size)
{
    cleat_region_resize(self, &s->bytes, cleat_to_size(size));
    memset(s->bytes.base, 7, s->bytes.size);
    cleat_view_init(self, &s->view, self, &s->bytes, 0, s->bytes.size);
    return self;
}
CLEAT_SHARED(stale_keep, stale_type, stale_t *s)
{
    stale_kept = cleat_view_bytes(&s->view);
    return INT2FIX(stale_kept[0]);
}
CLEAT_EXCLUSIVE(stale_resize, stale_type, stale_t *s, size)
{
    cleat_region_resize(self, &s->bytes, cleat_to_size(size));
    return self;
}
CLEAT_EXCLUSIVE(stale_release, stale_type, stale_t *s)
{
    cleat_region_release(self, &s->bytes);
    return self;
}
CLEAT_SHARED(stale_read, stale_type, stale_t *s)
{
    (void)s;
    return INT2FIX(stale_kept[1]);
}
CLEAT_SHARED(stale_write, stale_type, stale_t *s, offset, byte)
{
    (void)s;
    ((unsigned char *)stale_kept)[cleat_to_size(offset)] = (unsigned char)cleat_to_int64(byte);
    return Qnil;
}
CLEAT_SHARED(stale_size, stale_type, stale_t *s) { return SIZET2NUM(s->bytes.size); }

/* Marks its field by hand, pinned, yet has a compact callback that expects
 * it to move. */
typedef struct {
    VALUE item;
} hand_mark_t;
static void pinned_mark(void *data) { rb_gc_mark(((hand_mark_t *)data)->item); /* the bug */ }
static void movable_mark(void *data) { rb_gc_mark_movable(((hand_mark_t *)data)->item); }
static void hand_mark_compact(void *data)
{
    hand_mark_t *h = data;
    h->item = rb_gc_location(h->item);
}
static const cleat_field hand_mark_fields[] = {CLEAT_FIELD_ANY(hand_mark_t, item), CLEAT_FIELDS_END};
CLEAT_TYPE(pinned_mark_type, "CleatTest::PinnedMark", hand_mark_t, hand_mark_fields, .mark = pinned_mark,
            .compact = hand_mark_compact, .flags = CLEAT_MARK_BY_HAND);
/* Marks movable and has no compact callback: GC.compact would move the
 * item and leave the field pointing at its old slot. */
CLEAT_TYPE(movable_mark_type, "CleatTest::MovableMark", hand_mark_t, hand_mark_fields, .mark = movable_mark,
            .flags = CLEAT_MARK_BY_HAND);
/* Both right: movable, and moved back. */
CLEAT_TYPE(moved_mark_type, "CleatTest::MovedMark", hand_mark_t, hand_mark_fields, .mark = movable_mark,
            .compact = hand_mark_compact, .flags = CLEAT_MARK_BY_HAND);
CLEAT_INIT(pinned_mark_initialize, pinned_mark_type, hand_mark_t *h, item)
{
    cleat_write(self, &h->item, item);
    return self;
}
CLEAT_INIT(movable_mark_initialize, movable_mark_type, hand_mark_t *h, item)
{
    cleat_write(self, &h->item, item);
    return self;
}
CLEAT_INIT(moved_mark_initialize, moved_mark_type, hand_mark_t *h, item)
{
    cleat_write(self, &h->item, item);
    return self;
}
CLEAT_SHARED(moved_mark_item, moved_mark_type, hand_mark_t *h) { return h->item; }

/* Members no CLEAT_FIELD declares. */
typedef struct {
    VALUE declared;
    VALUE hidden;    /* the bug, once keep stores into it */
    uintptr_t bits;  /* a plain integer */
    cleat_region r;  /* declared */
    cleat_region lost; /* the bug: not declared */
} undeclared_t;
static const cleat_field undeclared_fields[] = {
    CLEAT_FIELD_ANY(undeclared_t, declared),
    CLEAT_FIELD_REGION(undeclared_t, r),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(undeclared_type, "CleatTest::Undeclared", undeclared_t, undeclared_fields,
            .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(undeclared_keep, undeclared_type, undeclared_t *u, obj)
{
    u->hidden = obj;
    return Qnil;
}
/* Quiet: the raw bits of an argument (a Fixnum: no heap object). */
CLEAT_EXCLUSIVE(undeclared_keep_bits, undeclared_type, undeclared_t *u, obj)
{
    u->bits = (uintptr_t)obj;
    return Qnil;
}
/* Quiet: a number, 8-aligned like an address. */
CLEAT_EXCLUSIVE(undeclared_keep_number, undeclared_type, undeclared_t *u, n)
{
    u->bits = (uintptr_t)cleat_to_uint64(n);
    return Qnil;
}
/* Quiet: a pointer to a String's bytes, which is no object. */
CLEAT_EXCLUSIVE(undeclared_keep_bytes_of, undeclared_type, undeclared_t *u, str)
{
    u->bits = (uintptr_t)RSTRING_PTR(str);
    return Qnil;
}
CLEAT_EXCLUSIVE(undeclared_store, undeclared_type, undeclared_t *u, obj)
{
    cleat_write(self, &u->declared, obj);
    return Qnil;
}
CLEAT_EXCLUSIVE(undeclared_grow, undeclared_type, undeclared_t *u, size)
{
    cleat_region_resize(self, &u->r, cleat_to_size(size));
    return Qnil;
}
CLEAT_EXCLUSIVE(undeclared_grow_lost, undeclared_type, undeclared_t *u, size)
{
    cleat_region_resize(self, &u->lost, cleat_to_size(size));
    return Qnil;
}

/* Quiet: a member the .mark callback marks itself (pinned). */
typedef struct {
    VALUE member;
} self_marked_t;
static void self_marked_mark(void *data) { rb_gc_mark(((self_marked_t *)data)->member); }
CLEAT_TYPE(self_marked_type, "CleatTest::SelfMarked", self_marked_t, NULL, .mark = self_marked_mark,
            .flags = CLEAT_ZERO_IS_VALID | CLEAT_NOT_WB_PROTECTED);
CLEAT_EXCLUSIVE(self_marked_keep, self_marked_type, self_marked_t *m, obj)
{
    m->member = obj;
    return Qnil;
}

/* The seventh hostile review. A factory: the struct is filled after
 * cleat_type_new returns, where no door exit checks it. */
CLEAT_FUNCTION(undeclared_s_make_hidden, obj)
{
    VALUE made;
    undeclared_t *u = cleat_type_new(&undeclared_type, &made);
    u->hidden = obj; /* the bug */
    return made;
}
/* Quiet: a factory filling its declared field. */
CLEAT_FUNCTION(undeclared_s_make_declared, obj)
{
    VALUE made;
    undeclared_t *u = cleat_type_new(&undeclared_type, &made);
    cleat_write(made, &u->declared, obj);
    return made;
}
/* An undeclared copy of the declared field: GC.compact updates only the field. */
CLEAT_EXCLUSIVE(undeclared_cache_declared, undeclared_type, undeclared_t *u)
{
    u->hidden = u->declared; /* the bug */
    return Qnil;
}
/* Quiet: the value of a cleat_gc_root, pinned and kept by it, cached. */
static VALUE test_root = Qnil;
CLEAT_EXCLUSIVE(undeclared_keep_root, undeclared_type, undeclared_t *u)
{
    u->hidden = test_root;
    return Qnil;
}
/* Quiet too: the same for Ruby's own ways to root a value. */
static VALUE test_global = Qnil, test_marked = Qnil;
CLEAT_EXCLUSIVE(undeclared_keep_global, undeclared_type, undeclared_t *u)
{
    u->hidden = test_global;
    return Qnil;
}
/* The eighth review, C side: Ruby globals backed by C variables
 * ($cleat_test_var and friends) are roots as well. */
static VALUE test_variable = Qnil, test_readonly = Qnil, test_hooked = Qnil;
static VALUE test_virtual_get(ID id, VALUE *data)
{
    (void)id, (void)data;
    return INT2FIX(42);
}
static void test_virtual_set(VALUE value, ID id, VALUE *data) { (void)value, (void)id, (void)data; }
CLEAT_EXCLUSIVE(undeclared_keep_variables, undeclared_type, undeclared_t *u, which)
{
    int64_t i = cleat_num_to_int64(CLEAT_DOOR, which);
    u->hidden = i == 0 ? test_variable : i == 1 ? test_readonly : test_hooked;
    return Qnil;
}
CLEAT_EXCLUSIVE(undeclared_keep_marked, undeclared_type, undeclared_t *u)
{
    u->hidden = test_marked;
    return Qnil;
}
CLEAT_FUNCTION(test_set_root, obj)
{
    test_root = obj;
    return obj;
}

/* .init_fields storing into a member no CLEAT_FIELD declares. */
typedef struct {
    VALUE declared;
    VALUE hidden; /* the bug */
} hidden_init_t;
static const cleat_field hidden_init_fields[] = {CLEAT_FIELD_ANY(hidden_init_t, declared), CLEAT_FIELDS_END};
static void hidden_init_fields_hook(VALUE self, void *data)
{
    (void)self;
    ((hidden_init_t *)data)->hidden = rb_str_new_cstr("kept in an undeclared member");
}
CLEAT_TYPE(hidden_init_type, "CleatTest::HiddenInit", hidden_init_t, hidden_init_fields,
            .init_fields = hidden_init_fields_hook, .flags = CLEAT_ZERO_IS_VALID);

/* An undeclared copy of a cleat_values element. */
typedef struct {
    cleat_values items;
    VALUE cache; /* the bug, once cache_first stores into it */
} element_cache_t;
static const cleat_field element_cache_fields[] = {CLEAT_FIELD_VALUES_ANY(element_cache_t, items), CLEAT_FIELDS_END};
CLEAT_TYPE(element_cache_type, "CleatTest::ElementCache", element_cache_t, element_cache_fields,
            .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(element_cache_push, element_cache_type, element_cache_t *c, v)
{
    (void)c;
    cleat_values_push(self, &c->items, v);
    return self;
}
CLEAT_EXCLUSIVE(element_cache_cache_first, element_cache_type, element_cache_t *c)
{
    c->cache = c->items.ptr[0];
    return Qnil;
}

/* A .copy that copies the struct whole: both objects own one region. With
 * then_resize, it then does what the refusal advises, on the copied field
 * (a review: the resize freed the original's region). */
typedef struct {
    cleat_region r;
    bool then_resize;
} shared_region_t;
static const cleat_field shared_region_fields[] = {CLEAT_FIELD_REGION(shared_region_t, r), CLEAT_FIELDS_END};
static void shared_region_copy(VALUE self, void *dst, const void *src)
{
    memcpy(dst, src, sizeof(shared_region_t)); /* the bug */
    shared_region_t *d = dst;
    if (!d->then_resize) return;
    size_t size = d->r.size;
    cleat_region_resize(self, &d->r, size); /* the second bug: frees the original's region */
    memcpy(d->r.base, ((const shared_region_t *)src)->r.base, size);
}
CLEAT_TYPE(shared_region_type, "CleatTest::SharedRegion", shared_region_t, shared_region_fields,
            .copy = shared_region_copy, .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(shared_region_resize, shared_region_type, shared_region_t *s, size)
{
    cleat_region_resize(self, &s->r, cleat_to_size(size));
    return self;
}
/* Writes n bytes from the region's last byte on: past its end when n > 1
 * (a review, C side: a wrapped uint16_t length). */
CLEAT_EXCLUSIVE(shared_region_overrun, shared_region_type, shared_region_t *s, n)
{
    if (!s->r.size) rb_raise(rb_eArgError, "empty region");
    memset(s->r.base + s->r.size - 1, 0x55, cleat_to_size(n)); /* the bug, for n > 1 */
    return self;
}
CLEAT_EXCLUSIVE(shared_region_then_resize, shared_region_type, shared_region_t *s)
{
    s->then_resize = true;
    return self;
}
CLEAT_SHARED(shared_region_size, shared_region_type, const shared_region_t *s) { return SIZET2NUM(s->r.size); }
CLEAT_EXCLUSIVE(shared_region_release, shared_region_type, shared_region_t *s)
{
    cleat_region_release(self, &s->r);
    return self;
}
CLEAT_EXCLUSIVE(shared_region_take, shared_region_type, shared_region_t *s, other)
{
    const shared_region_t *o = cleat_unwrap(other, &shared_region_type);
    s->r = o->r; /* the bug: both own one region */
    return self;
}

/* The eighth review, C side: a deferred free callback using a field whose
 * object only this one kept (freed by the same GC), or one kept elsewhere
 * (correct). */
typedef struct {
    VALUE log;
    long id;
} logged_t;
static const cleat_field logged_fields[] = {CLEAT_FIELD(logged_t, log, &rb_cArray), CLEAT_FIELDS_END};
static void logged_free(void *p)
{
    logged_t *l = p;
    rb_ary_push(l->log, LONG2NUM(l->id));
}
CLEAT_TYPE(logged_type, "CleatTest::Logged", logged_t, logged_fields, .free = logged_free,
           .flags = CLEAT_DEFERRED_FREE);
CLEAT_INIT(logged_init, logged_type, logged_t *l, log, id)
{
    cleat_write(self, &l->log, log);
    l->id = (long)cleat_to_int64(id);
    return self;
}

/* The eighth review, C side: a size_t member declared as a VALUE field
 * (size_t is VALUE's type, so it compiles), given a count. */
typedef struct {
    size_t count;
} counted_t;
static const cleat_field counted_fields[] = {CLEAT_FIELD_ANY(counted_t, count), CLEAT_FIELDS_END};
CLEAT_TYPE(counted_type, "CleatTest::Counted", counted_t, counted_fields, .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(counted_set, counted_type, counted_t *c, n)
{
    cleat_write(self, &c->count, (VALUE)cleat_to_size(n)); /* the bug: a number, not a VALUE */
    return self;
}

/* The eighth review, C side: a .mark that marks an undeclared member
 * movable, with no .compact to update it. */
typedef struct {
    VALUE name;
    VALUE cache;
} movable_cache_t;
static const cleat_field movable_cache_fields[] = {CLEAT_FIELD_ANY(movable_cache_t, name), CLEAT_FIELDS_END};
static void movable_cache_mark(void *p) { rb_gc_mark_movable(((movable_cache_t *)p)->cache); /* the bug */ }
static void movable_cache_init(VALUE self, void *p)
{
    (void)self;
    ((movable_cache_t *)p)->cache = Qnil;
}
CLEAT_TYPE(movable_cache_type, "CleatTest::MovableCache", movable_cache_t, movable_cache_fields,
           .mark = movable_cache_mark, .init_fields = movable_cache_init, .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(movable_cache_set, movable_cache_type, movable_cache_t *c, v)
{
    c->cache = v;
    RB_OBJ_WRITTEN(self, Qundef, v);
    return self;
}
/* A review of the eighth round: the cache a copy of the declared name (its
 * mark marks the copy movable; Cleat updates only the field). */
CLEAT_EXCLUSIVE(movable_cache_name_and_cache, movable_cache_type, movable_cache_t *c, v)
{
    cleat_write(self, &c->name, v);
    c->cache = c->name; /* the bug */
    return self;
}
/* Quiet: the cache holds a root's value, which Ruby pins. */
CLEAT_EXCLUSIVE(movable_cache_root, movable_cache_type, movable_cache_t *c)
{
    c->cache = test_root;
    return self;
}

/* A review, C side: a .compact that updates one of the two members its
 * .mark marks movable. */
typedef struct {
    VALUE name;
    VALUE first, second;
} half_compacted_t;
static const cleat_field half_compacted_fields[] = {CLEAT_FIELD_ANY(half_compacted_t, name), CLEAT_FIELDS_END};
static void half_compacted_mark(void *p)
{
    half_compacted_t *h = p;
    rb_gc_mark_movable(h->first);
    rb_gc_mark_movable(h->second);
}
static void half_compacted_compact(void *p)
{
    half_compacted_t *h = p;
    h->first = rb_gc_location(h->first); /* the bug: second is not updated */
}
static void half_compacted_init(VALUE self, void *p)
{
    (void)self;
    half_compacted_t *h = p;
    h->first = h->second = Qnil;
}
CLEAT_TYPE(half_compacted_type, "CleatTest::HalfCompacted", half_compacted_t, half_compacted_fields,
           .mark = half_compacted_mark, .compact = half_compacted_compact, .init_fields = half_compacted_init,
           .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(half_compacted_set, half_compacted_type, half_compacted_t *h, first, second)
{
    h->first = first;
    h->second = second;
    RB_OBJ_WRITTEN(self, Qundef, first);
    RB_OBJ_WRITTEN(self, Qundef, second);
    return self;
}

/* A review, C side: a table of VALUEs in an undeclared member, marked with
 * rb_mark_tbl_no_pin and no .compact (the bug), or with rb_mark_tbl. */
typedef struct {
    st_table *table;
    bool pinned;
} movable_table_t;
static void movable_table_mark(void *p)
{
    movable_table_t *t = p;
    if (t->pinned) rb_mark_tbl(t->table);
    else rb_mark_tbl_no_pin(t->table);
}
static void movable_table_free(void *p) { st_free_table(((movable_table_t *)p)->table); }
static void movable_table_init(VALUE self, void *p)
{
    (void)self;
    ((movable_table_t *)p)->table = st_init_numtable();
}
CLEAT_TYPE(movable_table_type, "CleatTest::MovableTable", movable_table_t, NULL, .mark = movable_table_mark,
           .free = movable_table_free, .init_fields = movable_table_init, .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(movable_table_add, movable_table_type, movable_table_t *t, v, pinned)
{
    t->pinned = RTEST(pinned);
    st_insert(t->table, (st_data_t)t->table->num_entries, (st_data_t)v);
    RB_OBJ_WRITTEN(self, Qundef, v);
    return self;
}

/* A review of the eighth round: the same with a .compact that updates the
 * cache (correct). */
static void compacted_cache_compact(void *p)
{
    movable_cache_t *c = p;
    c->cache = rb_gc_location(c->cache);
}
CLEAT_TYPE(compacted_cache_type, "CleatTest::CompactedCache", movable_cache_t, movable_cache_fields,
           .mark = movable_cache_mark, .compact = compacted_cache_compact, .init_fields = movable_cache_init,
           .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(compacted_cache_name_and_cache, compacted_cache_type, movable_cache_t *c, v)
{
    cleat_write(self, &c->name, v);
    c->cache = c->name;
    return self;
}
CLEAT_SHARED(compacted_cache_same, compacted_cache_type, movable_cache_t *c)
{
    return c->cache == c->name ? Qtrue : Qfalse;
}

/* The eighth review, C side: eight registers its .mark marks, then a
 * member nobody marks (the undeclared-member check stopped at eight). */
typedef struct {
    VALUE regs[8];
    VALUE last;
} registers_t;
static void registers_mark(void *p)
{
    registers_t *r = p;
    for (int i = 0; i < 8; i++) rb_gc_mark(r->regs[i]);
}
static void registers_init(VALUE self, void *p)
{
    (void)self;
    registers_t *r = p;
    for (int i = 0; i < 8; i++) r->regs[i] = Qnil;
    r->last = Qnil;
}
CLEAT_TYPE(registers_type, "CleatTest::Registers", registers_t, NULL, .mark = registers_mark,
           .init_fields = registers_init, .flags = CLEAT_ZERO_IS_VALID | CLEAT_NOT_WB_PROTECTED);
CLEAT_EXCLUSIVE(registers_load, registers_type, registers_t *r, i, v)
{
    r->regs[cleat_num_to_int64(CLEAT_DOOR, i) & 7] = v;
    return self;
}
CLEAT_EXCLUSIVE(registers_remember, registers_type, registers_t *r, v)
{
    r->last = v; /* the bug: an undeclared, unmarked member */
    return self;
}

/* The eighth review, C side: a .copy that copies the struct whole, then
 * writes each element with cleat_write (as the barrier report says): both
 * objects own one cleat_values buffer. */
typedef struct {
    cleat_values items;
} shared_values_t;
static const cleat_field shared_values_fields[] = {CLEAT_FIELD_VALUES_ANY(shared_values_t, items), CLEAT_FIELDS_END};
static void shared_values_copy(VALUE self, void *dst, const void *src)
{
    shared_values_t *d = dst;
    const shared_values_t *o = src;
    *d = *o; /* the bug */
    /* Each element written with its barrier at once, as the barrier report
     * advises: a GC from here on (test:stress) finds no missing barrier. */
    for (size_t i = 0; i < d->items.len; i++) cleat_write(self, &d->items.ptr[i], o->items.ptr[i]);
    /* A second review's: the original grows meanwhile (it is lent shared
     * now: the push raises BorrowError). */
    if (o->items.len > 1 && o->items.ptr[0] == ID2SYM(rb_intern("grow"))) rb_funcall(o->items.ptr[1], rb_intern("call"), 0);
    /* A third: it pushes each element onto the copied field, as the refusal
     * advises (the first push freed the original's buffer). */
    if (o->items.len && o->items.ptr[0] == ID2SYM(rb_intern("push"))) {
        for (size_t i = 0; i < o->items.len; i++) cleat_values_push(self, &d->items, o->items.ptr[i]);
        return;
    }
    if (o->items.len && o->items.ptr[0] == ID2SYM(rb_intern("raise")))
        rb_raise(rb_eRuntimeError, "raised after sharing"); /* and a review's: raising before the check */
    /* A review of the tenth round's fixes: clearing the copied field (whose
     * buffer is the original's) lost the original's elements. */
    if (o->items.len && o->items.ptr[0] == ID2SYM(rb_intern("clear"))) cleat_values_clear(&d->items);
}
CLEAT_TYPE(shared_values_type, "CleatTest::SharedValues", shared_values_t, shared_values_fields,
           .copy = shared_values_copy, .flags = CLEAT_ZERO_IS_VALID);
/* The same, big (freed, it is unmapped), with a deferred free callback that
 * clears the list: at exit, Ruby frees the original of a copy whose callback
 * never returned first, and the copy's free wrote into its buffer (a review
 * of the tenth round's fixes). */
typedef struct {
    shared_values_t base;
    char pad[1 << 19];
} big_shared_values_t;
static const cleat_field big_shared_values_fields[] = {CLEAT_FIELD_VALUES_ANY(big_shared_values_t, base.items),
                                                       CLEAT_FIELDS_END};
static void big_shared_values_copy(VALUE self, void *dst, const void *src)
{
    shared_values_copy(self, &((big_shared_values_t *)dst)->base, &((const big_shared_values_t *)src)->base);
}
static void big_shared_values_free(void *data) { cleat_values_clear(&((big_shared_values_t *)data)->base.items); }
CLEAT_TYPE(big_shared_values_type, "CleatTest::BigSharedValues", big_shared_values_t, big_shared_values_fields,
           .copy = big_shared_values_copy, .free = big_shared_values_free,
           .flags = CLEAT_ZERO_IS_VALID | CLEAT_DEFERRED_FREE);
CLEAT_EXCLUSIVE(big_shared_values_push, big_shared_values_type, big_shared_values_t *v, value)
{
    cleat_values_push(self, &v->base.items, value);
    return self;
}
CLEAT_EXCLUSIVE(shared_values_push, shared_values_type, shared_values_t *v, value)
{
    cleat_values_push(self, &v->items, value);
    return self;
}
CLEAT_SHARED(shared_values_to_a, shared_values_type, shared_values_t *v)
{
    return rb_ary_new_from_values((long)v->items.len, v->items.ptr);
}

/* A correct .copy that dups each element (Ruby code, which may switch
 * fibers for good: a review of the ninth round's fixes). Big: freed, its
 * struct is unmapped, so a read of a freed one crashes (a review of the
 * tenth round's fixes). */
typedef struct {
    cleat_values items;
    char pad[1 << 19];
} dup_bag_t;
static const cleat_field dup_bag_fields[] = {CLEAT_FIELD_VALUES_ANY(dup_bag_t, items), CLEAT_FIELDS_END};
static void dup_bag_copy(VALUE self, void *dst, const void *src)
{
    dup_bag_t *d = dst;
    const dup_bag_t *o = src;
    for (size_t i = 0; i < o->items.len; i++) cleat_values_push(self, &d->items, rb_obj_dup(o->items.ptr[i]));
}
CLEAT_TYPE(dup_bag_type, "CleatTest::DupBag", dup_bag_t, dup_bag_fields, .copy = dup_bag_copy);
CLEAT_INIT(dup_bag_initialize, dup_bag_type, dup_bag_t *b)
{
    (void)b;
    return self;
}
CLEAT_EXCLUSIVE(dup_bag_push, dup_bag_type, dup_bag_t *b, value)
{
    cleat_values_push(self, &b->items, value);
    return self;
}
CLEAT_SHARED(dup_bag_size, dup_bag_type, const dup_bag_t *b) { return SIZET2NUM(b->items.len); }

/* A correct CLEAT_DEFERRED_FREE callback that clears its own list (a
 * review of the tenth round's fixes: at exit, the clear read the freed
 * original of an abandoned DupBag copy). */
typedef struct {
    cleat_values items;
} clearer_t;
static const cleat_field clearer_fields[] = {CLEAT_FIELD_VALUES_ANY(clearer_t, items), CLEAT_FIELDS_END};
static void clearer_free(void *data) { cleat_values_clear(&((clearer_t *)data)->items); }
CLEAT_TYPE(clearer_type, "CleatTest::Clearer", clearer_t, clearer_fields, .free = clearer_free,
           .flags = CLEAT_DEFERRED_FREE | CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(clearer_push, clearer_type, clearer_t *c, value)
{
    cleat_values_push(self, &c->items, value);
    return self;
}

/* A .copy that gives one field the original's other field (a copy-paste
 * slip: a review of the ninth round's fixes). */
typedef struct {
    cleat_values front, back;
} cross_shared_t;
static const cleat_field cross_shared_fields[] = {CLEAT_FIELD_VALUES_ANY(cross_shared_t, front),
                                                   CLEAT_FIELD_VALUES_ANY(cross_shared_t, back), CLEAT_FIELDS_END};
static void cross_shared_copy(VALUE self, void *dst, const void *src)
{
    cross_shared_t *d = dst;
    const cross_shared_t *o = src;
    for (size_t i = 0; i < o->front.len; i++) cleat_values_push(self, &d->front, o->front.ptr[i]);
    d->back = o->front; /* the bug */
}
CLEAT_TYPE(cross_shared_type, "CleatTest::CrossShared", cross_shared_t, cross_shared_fields,
           .copy = cross_shared_copy, .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(cross_shared_push, cross_shared_type, cross_shared_t *c, value)
{
    cleat_values_push(self, &c->front, value);
    return self;
}

static void init_memory_misuse(VALUE mod)
{
    VALUE stale = cleat_type_define_class(&stale_type, rb_cObject);
    CLEAT_DEFINE_METHOD(stale, "initialize", stale_initialize);
    CLEAT_DEFINE_METHOD(stale, "keep", stale_keep);
    CLEAT_DEFINE_METHOD(stale, "resize", stale_resize);
    CLEAT_DEFINE_METHOD(stale, "release", stale_release);
    CLEAT_DEFINE_METHOD(stale, "stale_read", stale_read);
    CLEAT_DEFINE_METHOD(stale, "stale_write", stale_write);
    CLEAT_DEFINE_METHOD(stale, "size", stale_size);
    VALUE pinned = cleat_type_define_class(&pinned_mark_type, rb_cObject);
    CLEAT_DEFINE_METHOD(pinned, "initialize", pinned_mark_initialize);
    VALUE movable = cleat_type_define_class(&movable_mark_type, rb_cObject);
    CLEAT_DEFINE_METHOD(movable, "initialize", movable_mark_initialize);
    VALUE moved = cleat_type_define_class(&moved_mark_type, rb_cObject);
    CLEAT_DEFINE_METHOD(moved, "initialize", moved_mark_initialize);
    CLEAT_DEFINE_METHOD(moved, "item", moved_mark_item);
    VALUE undeclared = cleat_type_define_class(&undeclared_type, rb_cObject);
    CLEAT_DEFINE_METHOD(undeclared, "keep", undeclared_keep);
    CLEAT_DEFINE_METHOD(undeclared, "keep_bits", undeclared_keep_bits);
    CLEAT_DEFINE_METHOD(undeclared, "keep_number", undeclared_keep_number);
    CLEAT_DEFINE_METHOD(undeclared, "keep_bytes_of", undeclared_keep_bytes_of);
    CLEAT_DEFINE_METHOD(undeclared, "store", undeclared_store);
    CLEAT_DEFINE_METHOD(undeclared, "grow", undeclared_grow);
    CLEAT_DEFINE_METHOD(undeclared, "grow_lost", undeclared_grow_lost);
    VALUE self_marked = cleat_type_define_class(&self_marked_type, rb_cObject);
    CLEAT_DEFINE_METHOD(self_marked, "keep", self_marked_keep);
    CLEAT_DEFINE_SINGLETON_METHOD(undeclared, "make_hidden", undeclared_s_make_hidden);
    CLEAT_DEFINE_SINGLETON_METHOD(undeclared, "make_declared", undeclared_s_make_declared);
    CLEAT_DEFINE_METHOD(undeclared, "cache_declared", undeclared_cache_declared);
    CLEAT_DEFINE_METHOD(undeclared, "keep_root", undeclared_keep_root);
    cleat_gc_root(&test_root);
    test_root = rb_obj_freeze(rb_str_new_cstr("a rooted global"));
    CLEAT_DEFINE_MODULE_FUNCTION(mod, "set_root", test_set_root);
    CLEAT_DEFINE_METHOD(undeclared, "keep_global", undeclared_keep_global);
    CLEAT_DEFINE_METHOD(undeclared, "keep_marked", undeclared_keep_marked);
    rb_global_variable(&test_global);
    test_global = rb_str_new_cstr("a global variable");
    CLEAT_DEFINE_METHOD(undeclared, "keep_variables", undeclared_keep_variables);
    test_variable = rb_str_new_cstr("$cleat_test_var");
    test_readonly = rb_str_new_cstr("$cleat_test_readonly");
    test_hooked = rb_str_new_cstr("$cleat_test_hooked");
    rb_define_variable("$cleat_test_var", &test_variable);
    rb_define_readonly_variable("$cleat_test_readonly", &test_readonly);
    rb_define_hooked_variable("$cleat_test_hooked", &test_hooked, NULL, NULL);
    /* A review of the eighth round: a virtual one (no variable) was a NULL root. */
    rb_define_hooked_variable("$cleat_test_virtual", NULL, test_virtual_get, test_virtual_set);
    test_marked = rb_obj_freeze(rb_str_new_cstr("a mark object"));
    rb_gc_register_mark_object(test_marked);
    cleat_type_define_class(&hidden_init_type, rb_cObject);
    VALUE element_cache = cleat_type_define_class(&element_cache_type, rb_cObject);
    CLEAT_DEFINE_METHOD(element_cache, "push", element_cache_push);
    CLEAT_DEFINE_METHOD(element_cache, "cache_first", element_cache_cache_first);
    VALUE shared_region = cleat_type_define_class(&shared_region_type, rb_cObject);
    CLEAT_DEFINE_METHOD(shared_region, "resize", shared_region_resize);
    CLEAT_DEFINE_METHOD(shared_region, "release", shared_region_release);
    CLEAT_DEFINE_METHOD(shared_region, "then_resize!", shared_region_then_resize);
    CLEAT_DEFINE_METHOD(shared_region, "overrun", shared_region_overrun);
    CLEAT_DEFINE_METHOD(shared_region, "size", shared_region_size);
    CLEAT_DEFINE_METHOD(shared_region, "take", shared_region_take);
    VALUE compacted_cache = cleat_type_define_class(&compacted_cache_type, rb_cObject);
    CLEAT_DEFINE_METHOD(compacted_cache, "name_and_cache", compacted_cache_name_and_cache);
    CLEAT_DEFINE_METHOD(compacted_cache, "same?", compacted_cache_same);
    CLEAT_DEFINE_METHOD(cleat_type_define_class(&view_keeper_type, rb_cObject), "initialize", view_keeper_init);
    VALUE movable_cache = cleat_type_define_class(&movable_cache_type, rb_cObject);
    CLEAT_DEFINE_METHOD(movable_cache, "set", movable_cache_set);
    VALUE half_compacted = cleat_type_define_class(&half_compacted_type, rb_cObject);
    CLEAT_DEFINE_METHOD(half_compacted, "set", half_compacted_set);
    VALUE movable_table = cleat_type_define_class(&movable_table_type, rb_cObject);
    CLEAT_DEFINE_METHOD(movable_table, "add", movable_table_add);
    CLEAT_DEFINE_METHOD(movable_cache, "name_and_cache", movable_cache_name_and_cache);
    CLEAT_DEFINE_METHOD(movable_cache, "root", movable_cache_root);
    CLEAT_DEFINE_METHOD(cleat_type_define_class(&logged_type, rb_cObject), "initialize", logged_init);
    CLEAT_DEFINE_METHOD(cleat_type_define_class(&counted_type, rb_cObject), "set", counted_set);
    VALUE registers = cleat_type_define_class(&registers_type, rb_cObject);
    CLEAT_DEFINE_METHOD(registers, "load", registers_load);
    CLEAT_DEFINE_METHOD(registers, "remember", registers_remember);
    VALUE shared_values = cleat_type_define_class(&shared_values_type, rb_cObject);
    CLEAT_DEFINE_METHOD(shared_values, "push", shared_values_push);
    CLEAT_DEFINE_METHOD(shared_values, "to_a", shared_values_to_a);
    VALUE dup_bag = cleat_type_define_class(&dup_bag_type, rb_cObject);
    CLEAT_DEFINE_METHOD(dup_bag, "initialize", dup_bag_initialize);
    CLEAT_DEFINE_METHOD(dup_bag, "push", dup_bag_push);
    CLEAT_DEFINE_METHOD(dup_bag, "size", dup_bag_size);
    VALUE cross_shared = cleat_type_define_class(&cross_shared_type, rb_cObject);
    CLEAT_DEFINE_METHOD(cross_shared, "push", cross_shared_push);
}

/* ---- Undo: the tenth review, C side --------------------------------------
 * Undoing by putting back a copy of the struct saved before a resize or a
 * push (`saved = *u; ...; *u = saved; rb_raise`: the struct then points at
 * memory the resize or push freed), a list whose len was raised past its
 * room by hand before a store, and fields moved between one another by hand
 * (a swap: no new reference, no barrier needed). */
typedef struct {
    cleat_region bytes;
    cleat_values items;
    VALUE front, back;
} undo_t;
static const cleat_field undo_fields[] = {
    CLEAT_FIELD_REGION(undo_t, bytes),
    CLEAT_FIELD_VALUES_ANY(undo_t, items),
    CLEAT_FIELD_ANY(undo_t, front),
    CLEAT_FIELD_ANY(undo_t, back),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(undo_type, "CleatTest::Undo", undo_t, undo_fields);
CLEAT_INIT(undo_initialize, undo_type, undo_t *u)
{
    cleat_write(self, &u->front, Qnil);
    cleat_write(self, &u->back, Qnil);
    return self;
}
CLEAT_EXCLUSIVE(undo_resize, undo_type, undo_t *u, size)
{
    cleat_region_resize(self, &u->bytes, cleat_to_size(size));
    return self;
}
CLEAT_EXCLUSIVE(undo_resize_then_undo, undo_type, undo_t *u, size)
{
    undo_t saved = *u; /* the bug */
    cleat_region_resize(self, &u->bytes, cleat_to_size(size));
    *u = saved;
    rb_raise(rb_eArgError, "undone");
}
CLEAT_SHARED(undo_size, undo_type, undo_t *u) { return SIZET2NUM(u->bytes.size); }
CLEAT_EXCLUSIVE(undo_push, undo_type, undo_t *u, value)
{
    return SIZET2NUM(cleat_values_push(self, &u->items, value));
}
CLEAT_EXCLUSIVE(undo_push_then_undo, undo_type, undo_t *u, count)
{
    undo_t saved = *u; /* the bug */
    for (size_t i = cleat_to_size(count); i > 0; i--) cleat_values_push(self, &u->items, rb_str_new_cstr("pushed"));
    *u = saved;
    rb_raise(rb_eArgError, "undone");
}
CLEAT_SHARED(undo_items, undo_type, undo_t *u) { return cleat_values_to_ary(&u->items); }
/* The bug: an append by hand, past the room the list has. */
CLEAT_EXCLUSIVE(undo_append_past_the_room, undo_type, undo_t *u, value)
{
    u->items.len = u->items.capa + 1;
    cleat_write(self, &u->items.ptr[u->items.len - 1], value);
    return self;
}
CLEAT_EXCLUSIVE(undo_set_front, undo_type, undo_t *u, value)
{
    cleat_write(self, &u->front, value);
    return value;
}
CLEAT_EXCLUSIVE(undo_set_back, undo_type, undo_t *u, value)
{
    cleat_write(self, &u->back, value);
    return value;
}
CLEAT_SHARED(undo_front, undo_type, undo_t *u) { return u->front; }
CLEAT_SHARED(undo_back, undo_type, undo_t *u) { return u->back; }
/* Correct without barriers: each value was the object's already. */
CLEAT_EXCLUSIVE(undo_swap, undo_type, undo_t *u)
{
    VALUE front = u->front;
    u->front = u->back;
    u->back = front;
    return self;
}
CLEAT_EXCLUSIVE(undo_front_from_first_item, undo_type, undo_t *u)
{
    if (!u->items.len) rb_raise(rb_eIndexError, "no items");
    VALUE first = u->items.ptr[0];
    u->items.ptr[0] = u->front;
    u->front = first;
    return self;
}
/* The same undo, then one store into the put-back buffer (a review of the
 * check: the store made the freed buffer the known one). */
CLEAT_EXCLUSIVE(undo_push_then_undo_then_store, undo_type, undo_t *u, count)
{
    undo_t saved = *u; /* the bug */
    for (size_t i = cleat_to_size(count); i > 0; i--) cleat_values_push(self, &u->items, rb_str_new_cstr("pushed"));
    *u = saved;
    cleat_write(self, &u->items.ptr[0], rb_str_new_cstr("stored"));
    return self;
}
/* Correct: clear, then push again. */
CLEAT_EXCLUSIVE(undo_clear_then_push, undo_type, undo_t *u, value)
{
    cleat_values_clear(&u->items);
    return SIZET2NUM(cleat_values_push(self, &u->items, value));
}

/* ---- TwoLists: dup with two lists (a review: the first list, filled,
 * was checked against an empty shadow by a GC the second's allocation
 * ran) ---- */
typedef struct {
    cleat_values a, b;
} two_lists_t;
static const cleat_field two_lists_fields[] = {CLEAT_FIELD_VALUES_ANY(two_lists_t, a),
                                               CLEAT_FIELD_VALUES_ANY(two_lists_t, b), CLEAT_FIELDS_END};
CLEAT_TYPE(two_lists_type, "CleatTest::TwoLists", two_lists_t, two_lists_fields,
           .flags = CLEAT_ZERO_IS_VALID | CLEAT_COPYABLE);
CLEAT_EXCLUSIVE(two_lists_push, two_lists_type, two_lists_t *t, a, b)
{
    cleat_values_push(self, &t->a, a);
    cleat_values_push(self, &t->b, b);
    return self;
}
/* Correct: the lists swapped by hand (a review: reported as a struct put
 * back over a freed buffer). */
CLEAT_EXCLUSIVE(two_lists_swap, two_lists_type, two_lists_t *t)
{
    cleat_values a = t->a;
    t->a = t->b;
    t->b = a;
    return self;
}
CLEAT_SHARED(two_lists_to_a, two_lists_type, two_lists_t *t)
{
    return rb_assoc_new(cleat_values_to_ary(&t->a), cleat_values_to_ary(&t->b));
}

/* ---- GvlBox and BoxFreer: a door entered inside a CLEAT_DEFERRED_FREE
 * callback that releases the GVL unlent is the door's own doing (a review:
 * the callback muted every door) ---- */
typedef struct {
    long n;
} gvl_box_t;
CLEAT_TYPE(gvl_box_type, "CleatTest::GvlBox", gvl_box_t, NULL, .flags = CLEAT_ZERO_IS_VALID);
CLEAT_EXCLUSIVE(gvl_box_work, gvl_box_type, gvl_box_t *b)
{
    b->n++;
    rb_thread_call_without_gvl(nothing_without_gvl, NULL, RUBY_UBF_IO, NULL); /* the bug: unlent */
    return self;
}
typedef struct {
    long unused;
} box_freer_t;
static void box_freer_free(void *data)
{
    (void)data;
    rb_funcall(rb_const_get(rb_path2class("CleatTest"), rb_intern("FREER_BOX")), rb_intern("work"), 0);
}
CLEAT_TYPE(box_freer_type, "CleatTest::BoxFreer", box_freer_t, NULL, .free = box_freer_free,
           .flags = CLEAT_DEFERRED_FREE | CLEAT_ZERO_IS_VALID);

void Init_cleat_test(void)
{
    /* Before anything of Cleat's: debug builds route this call, and their
     * check crashed before cleat_init made its records (a review). */
    rb_thread_call_without_gvl(nothing_without_gvl, NULL, RUBY_UBF_IO, NULL);
    cleat_ractor_safe();
    VALUE mod = rb_define_module("CleatTest");

    VALUE holder = cleat_type_define_class(&holder_type, rb_cObject);
    CLEAT_DEFINE_METHOD(holder, "initialize", holder_initialize);
    CLEAT_DEFINE_METHOD(holder, "value", holder_value);
    CLEAT_DEFINE_METHOD(holder, "release_gvl", holder_release_gvl);
    VALUE undo = cleat_type_define_class(&undo_type, rb_cObject);
    CLEAT_DEFINE_METHOD(undo, "initialize", undo_initialize);
    CLEAT_DEFINE_METHOD(undo, "resize", undo_resize);
    CLEAT_DEFINE_METHOD(undo, "resize_then_undo", undo_resize_then_undo);
    CLEAT_DEFINE_METHOD(undo, "size", undo_size);
    CLEAT_DEFINE_METHOD(undo, "push", undo_push);
    CLEAT_DEFINE_METHOD(undo, "push_then_undo", undo_push_then_undo);
    CLEAT_DEFINE_METHOD(undo, "items", undo_items);
    CLEAT_DEFINE_METHOD(undo, "append_past_the_room", undo_append_past_the_room);
    CLEAT_DEFINE_METHOD(undo, "front=", undo_set_front);
    CLEAT_DEFINE_METHOD(undo, "back=", undo_set_back);
    CLEAT_DEFINE_METHOD(undo, "front", undo_front);
    CLEAT_DEFINE_METHOD(undo, "back", undo_back);
    CLEAT_DEFINE_METHOD(undo, "swap", undo_swap);
    CLEAT_DEFINE_METHOD(undo, "front_from_first_item", undo_front_from_first_item);
    CLEAT_DEFINE_METHOD(undo, "push_then_undo_then_store", undo_push_then_undo_then_store);
    CLEAT_DEFINE_METHOD(undo, "clear_then_push", undo_clear_then_push);
    VALUE two_lists = cleat_type_define_class(&two_lists_type, rb_cObject);
    CLEAT_DEFINE_METHOD(two_lists, "push", two_lists_push);
    CLEAT_DEFINE_METHOD(two_lists, "to_a", two_lists_to_a);
    CLEAT_DEFINE_METHOD(two_lists, "swap", two_lists_swap);
    VALUE gvl_box = cleat_type_define_class(&gvl_box_type, rb_cObject);
    CLEAT_DEFINE_METHOD(gvl_box, "work", gvl_box_work);
    cleat_type_define_class(&box_freer_type, rb_cObject);
    VALUE big_shared_values = cleat_type_define_class(&big_shared_values_type, rb_cObject);
    CLEAT_DEFINE_METHOD(big_shared_values, "push", big_shared_values_push);
    VALUE clearer = cleat_type_define_class(&clearer_type, rb_cObject);
    CLEAT_DEFINE_METHOD(clearer, "push", clearer_push);
    cleat_type_define_class(&gvl_closer_type, rb_cObject);
    rb_define_module_function(mod, "release_gvl", test_release_gvl, 0);
    CLEAT_DEFINE_METHOD(holder, "set", holder_set);
    CLEAT_DEFINE_METHOD(holder, "push", holder_push);
    CLEAT_DEFINE_METHOD(holder, "list", holder_list);
    CLEAT_DEFINE_METHOD(holder, "at", holder_at);
    CLEAT_DEFINE_METHOD(holder, "clear", holder_clear);
    CLEAT_DEFINE_METHOD(holder, "replace_element", holder_replace_element);
    CLEAT_DEFINE_METHOD(holder, "write_undeclared", holder_write_undeclared);
    CLEAT_DEFINE_METHOD(holder, "replace_known", holder_replace_known);
    CLEAT_DEFINE_METHOD(holder, "yield_shared", holder_yield_shared);
    CLEAT_DEFINE_METHOD(holder, "double_exclusive", holder_double_exclusive);
    CLEAT_DEFINE_METHOD(holder, "double_shared", holder_double_shared);
    CLEAT_DEFINE_METHOD(holder, "str_exclusive", holder_str_exclusive);
    CLEAT_DEFINE_METHOD(holder, "int_exclusive", holder_int_exclusive);
    CLEAT_DEFINE_METHOD(holder, "search_exclusive", holder_search_exclusive);
    CLEAT_DEFINE_METHOD(holder, "store_from_shared", holder_store_from_shared);
    CLEAT_DEFINE_METHOD(holder, "store_known_from_shared", holder_store_known_from_shared);
    CLEAT_DEFINE_METHOD(holder, "push_from_shared", holder_push_from_shared);
    CLEAT_DEFINE_METHOD(holder, "yield_exclusive", holder_yield_exclusive);
    CLEAT_DEFINE_METHOD(holder, "count_then_clear", holder_count_then_clear);
    CLEAT_DEFINE_METHOD(holder, "delete_at", holder_delete_at);
    CLEAT_DEFINE_METHOD(holder, "swap_ends", holder_swap_ends);
    CLEAT_DEFINE_METHOD(holder, "put_back", holder_put_back);
    CLEAT_DEFINE_METHOD(holder, "pop", holder_pop);
    CLEAT_DEFINE_METHOD(holder, "store_after_yield", holder_store_after_yield);
    CLEAT_DEFINE_METHOD(holder, "call_shared", holder_call_shared);
    CLEAT_DEFINE_METHOD(holder, "call_exclusive", holder_call_exclusive);
    CLEAT_DEFINE_METHOD(holder, "nested_loans", holder_nested_loans);
    CLEAT_DEFINE_METHOD(holder, "hold_shared", holder_hold_shared);
    CLEAT_DEFINE_METHOD(holder, "hold_exclusive", holder_hold_exclusive);
    CLEAT_DEFINE_METHOD(holder, "misuse_without_gvl", holder_misuse_without_gvl);

    VALUE native = cleat_type_define_class(&native_type, rb_cObject);
    CLEAT_DEFINE_METHOD(native, "initialize", native_initialize);
    CLEAT_DEFINE_METHOD(native, "tag", native_tag);
    CLEAT_DEFINE_METHOD(native, "length", native_length);
    CLEAT_DEFINE_METHOD(native, "same_bytes?", native_same_bytes_p);

    VALUE aligned = cleat_type_define_class(&aligned_type, rb_cObject);
    CLEAT_DEFINE_METHOD(aligned, "initialize", aligned_initialize);
    CLEAT_DEFINE_METHOD(aligned, "address_mod16", aligned_address_mod16);

    CLEAT_DEFINE_METHOD(holder, "leave_lent", holder_leave_lent);
    CLEAT_DEFINE_METHOD(holder, "cleat_without_gvl", holder_cleat_without_gvl);

    VALUE pair = cleat_type_define_class(&pair_type, rb_cObject);
    CLEAT_DEFINE_METHOD(pair, "initialize", pair_initialize);
    CLEAT_DEFINE_METHOD(pair, "to_a", pair_to_a);
    CLEAT_DEFINE_METHOD(pair, "store_left_between_compactions", pair_store_left_between_compactions);
    CLEAT_DEFINE_METHOD(pair, "move_left_to_right_by_hand", pair_move_left_to_right_by_hand);

    VALUE no_barrier = cleat_type_define_class(&no_barrier_type, rb_cObject);
    CLEAT_DEFINE_METHOD(no_barrier, "store", no_barrier_store);
    CLEAT_DEFINE_METHOD(no_barrier, "store_nil", no_barrier_store_nil);
    CLEAT_DEFINE_METHOD(no_barrier, "item", no_barrier_item);
    CLEAT_DEFINE_METHOD(no_barrier, "store_between_compactions", no_barrier_store_between_compactions);
    VALUE forgetful = cleat_type_define_class(&forgetful_type, rb_cObject);
    CLEAT_DEFINE_METHOD(forgetful, "initialize", forgetful_initialize);
    VALUE forgetful_compact = cleat_type_define_class(&forgetful_compact_type, rb_cObject);
    CLEAT_DEFINE_METHOD(forgetful_compact, "initialize", forgetful_compact_initialize);
    VALUE unbarriered_compact = cleat_type_define_class(&unbarriered_compact_type, rb_cObject);
    CLEAT_DEFINE_METHOD(unbarriered_compact, "initialize", unbarriered_compact_initialize);
    VALUE crossed_compact = cleat_type_define_class(&crossed_compact_type, rb_cObject);
    CLEAT_DEFINE_METHOD(crossed_compact, "initialize", crossed_compact_initialize);
    VALUE calls_from_free = cleat_type_define_class(&cleat_in_free_type, rb_cObject);
    CLEAT_DEFINE_METHOD(calls_from_free, "initialize", cleat_in_free_initialize);
    rb_define_module_function(mod, "debug_build?", test_debug_build_p, 0);
    rb_define_module_function(mod, "loans", test_loans, 1);
    rb_define_module_function(mod, "fill_shared_count", test_fill_shared_count, 1);

    rb_define_module_function(mod, "make_holder", test_make_holder, 1);
    rb_define_module_function(mod, "define_copyable_with_free", test_define_copyable_with_free, 0);
    rb_define_module_function(mod, "to_int64", test_to_int64, 1);
    rb_define_module_function(mod, "to_uint64", test_to_uint64, 1);
    rb_define_module_function(mod, "to_size", test_to_size, 1);
    rb_define_module_function(mod, "check_kind", test_check_kind, 2);
    rb_define_module_function(mod, "holder?", test_holder_p, 1);
    rb_define_module_function(mod, "header_version", test_header_version, 0);
    rb_define_module_function(mod, "type_path", test_type_path, 1);
    rb_define_module_function(mod, "other_abi_object", test_other_abi_object, 0);
    rb_define_module_function(mod, "utf8_check", test_utf8_check, 2);
    rb_define_module_function(mod, "utf8_implementations", test_utf8_implementations, 0);
    rb_define_module_function(mod, "utf8_default", test_utf8_default, 0);
    rb_define_module_function(mod, "utf8_chosen_at_load", test_utf8_chosen_at_load, 0);
    rb_define_module_function(mod, "str_utf8", test_str_utf8, 1);
    rb_define_module_function(mod, "str_binary", test_str_binary, 1);
    rb_define_module_function(mod, "coderange", test_coderange, 1);
    rb_define_module_function(mod, "gc_marks?", test_gc_marks_p, 1);
    rb_define_module_function(mod, "declarative?", test_declarative_p, 1);
    VALUE deliberate = rb_define_module_under(mod, "Deliberate");
    rb_define_module_function(deliberate, "heap_write", test_deliberate_heap_write, 2);
    rb_define_module_function(deliberate, "leak", test_deliberate_leak, 1);
    rb_define_module_function(deliberate, "signed_overflow", test_deliberate_signed_overflow, 1);
    rb_define_module_function(deliberate, "uninitialised_branch", test_deliberate_uninitialised_branch, 1);
    init_fresh_objects(mod);
    init_real_classes(mod);
    init_misuse(mod);
    init_memory_misuse(mod);
    /* Loaded, and nothing has validated UTF-8 yet: no choice is made (utf8.c). */
    utf8_chosen_at_load = cleat__str_utf8_chosen();
}
