/* convert.c - arguments from Ruby, checked: Integers that must fit, classes. */
#include "internal.h"

#include <ruby/re.h> /* rb_reg_search */

/* |v| into *magnitude; returns the sign (-1, 0, 1), or raises TypeError for
 * non-Integers. *fits is false when |v| needs more than 64 bits. */
static int integer_magnitude(VALUE v, uint64_t *magnitude, bool *fits)
{
    if (RB_FIXNUM_P(v)) {
        long n = FIX2LONG(v);
        *magnitude = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
        *fits = true;
        return n < 0 ? -1 : n > 0;
    }
    if (!RB_TYPE_P(v, T_BIGNUM)) cleat__raise_wrong_type(v, "Integer");
    int sign = rb_integer_pack(v, magnitude, 1, sizeof *magnitude, 0, INTEGER_PACK_LSWORD_FIRST | INTEGER_PACK_NATIVE_BYTE_ORDER);
    *fits = sign > -2 && sign < 2;
    return sign < 0 ? -1 : 1;
}

CLEAT__COLD CLEAT_NORETURN static void out_of_range(VALUE v, const char *type)
{
#ifdef CLEAT_DEBUG
    cleat__debug_needs_gvl("a Cleat conversion raising RangeError");
#endif
    if (rb_absint_size(v, NULL) > 32) rb_raise(rb_eRangeError, "integer too big for %s", type);
    /* The digits from C: PRIsVALUE would call Integer#to_s, which Ruby code
     * may redefine, while the caller's object is not lent. */
    VALUE digits = RB_FIXNUM_P(v) ? rb_fix2str(v, 10) : rb_big2str(v, 10);
    rb_raise(rb_eRangeError, "integer %" PRIsVALUE " out of range of %s", digits, type);
}

int64_t cleat__to_int64_slow(VALUE v)
{
    uint64_t m;
    bool fits;
    int sign = integer_magnitude(v, &m, &fits);
    if (fits && sign >= 0 && m <= (uint64_t)INT64_MAX) return (int64_t)m;
    if (fits && sign < 0 && m <= (uint64_t)INT64_MAX + 1) return m == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)m;
    out_of_range(v, "int64");
}

uint64_t cleat_to_uint64(VALUE v)
{
    uint64_t m;
    bool fits;
    int sign = integer_magnitude(v, &m, &fits);
    if (fits && sign >= 0) return m;
    out_of_range(v, "uint64");
}

size_t cleat_to_size(VALUE v)
{
    uint64_t m;
    bool fits;
    int sign = integer_magnitude(v, &m, &fits);
    if (fits && sign >= 0 && m <= SIZE_MAX) return (size_t)m;
    out_of_range(v, "size_t");
}

bool cleat_try_to_size(VALUE v, size_t *out)
{
    uint64_t m;
    bool fits;
    int sign = integer_magnitude(v, &m, &fits);
    if (!fits || sign < 0 || m > SIZE_MAX) return false;
    *out = (size_t)m;
    return true;
}

void cleat_check_kind(VALUE v, VALUE klass)
{
    CLEAT__NEEDS_GVL();
    if (!RTEST(rb_obj_is_kind_of(v, klass))) {
        VALUE name = rb_class_name(klass);
        cleat__raise_wrong_type(v, StringValueCStr(name));
    }
}

/* ---- conversions that may run Ruby code, with the object lent ---- */

typedef struct conversion {
    VALUE value;
    double number;
} conversion;

/* The object, and every view's owner its struct declares, lent while
 * func(arg) runs: a body may hold bytes from cleat_view_bytes across a
 * conversion, which does not look like a call into Ruby, so to_int must not
 * resize or release them (found by the hostile review: a read of freed
 * memory). The owners are lent shared, one after another, from field
 * `next` on; then the object itself, as its method holds it. */
typedef struct lending {
    cleat_door door;
    const cleat_field *next;
    VALUE (*func)(VALUE);
    VALUE arg;
} lending;

static VALUE lend_owners_from(VALUE arg)
{
    lending *l = (lending *)arg;
    while (l->next && l->next->kind != CLEAT_KIND_END) {
        const cleat_field *f = l->next++;
        if (!f->view_owner) continue;
        VALUE owner = *cleat__field_slot(RTYPEDDATA_DATA(l->door.self), f);
        if (owner == l->door.self || !cleat_type_of(owner)) continue;
        return cleat__borrow_lend_as(owner, CLEAT_BORROW_SHARED, lend_owners_from, arg, l->door.name);
    }
    return cleat__borrow_lend_as(l->door.self, l->door.mode, l->func, l->arg, l->door.name);
}

/* Runs func(arg) with door.self and its views' owners lent. */
static void lend_for_door(cleat_door door, VALUE (*func)(VALUE), void *arg)
{
    const cleat_type *type = cleat_type_of(door.self);
    lending l = {door, type ? type->fields : NULL, func, (VALUE)arg};
    lend_owners_from((VALUE)&l);
}

static VALUE convert_to_double(VALUE arg)
{
    conversion *c = (conversion *)arg;
    c->number = rb_num2dbl(c->value); /* to_f */
    return Qnil;
}

double cleat__to_double_slow(cleat_door door, VALUE v)
{
    if (RB_TYPE_P(v, T_BIGNUM)) return rb_big2dbl(v);
    /* What NUM2DBL refuses without asking (it would raise the same itself,
     * but only after checking for to_f). */
    if (NIL_P(v) || v == Qtrue || v == Qfalse || RB_TYPE_P(v, T_STRING))
        rb_raise(rb_eTypeError, "no implicit conversion to float from %s",
                 NIL_P(v) ? "nil" : v == Qtrue ? "true" : v == Qfalse ? "false" : "string");
    conversion c = {v, 0};
    lend_for_door(door, convert_to_double, &c);
    return c.number;
}

static VALUE convert_to_str(VALUE arg)
{
    conversion *c = (conversion *)arg;
    StringValue(c->value); /* to_str */
    return Qnil;
}

VALUE cleat__str_value_slow(cleat_door door, VALUE v)
{
    conversion c = {v, 0};
    lend_for_door(door, convert_to_str, &c);
    return c.value;
}

static VALUE convert_to_int(VALUE arg)
{
    conversion *c = (conversion *)arg;
    c->value = rb_to_int(c->value); /* to_int; an Integer or TypeError */
    return Qnil;
}

int64_t cleat__num_to_int64_slow(cleat_door door, VALUE v)
{
    if (RB_TYPE_P(v, T_BIGNUM)) return cleat__to_int64_slow(v);
    if (NIL_P(v) || v == Qtrue || v == Qfalse || RB_FLOAT_TYPE_P(v) || RB_TYPE_P(v, T_STRING))
        cleat__raise_wrong_type(v, "Integer");
    conversion c = {v, 0};
    lend_for_door(door, convert_to_int, &c);
    return cleat_to_int64(c.value);
}

/* ---- regex search: Ruby code at interrupt checks, with the object lent ---- */

typedef struct search {
    VALUE re, str;
    long pos, at;
    int reverse;
} search;

static VALUE search_lent(VALUE arg)
{
    search *s = (search *)arg;
    /* Onigmo checks for interrupts while it matches: trap handlers,
     * finalizers and Thread#raise run here, in the middle of the body. */
    s->at = rb_reg_search(s->re, s->str, s->pos, s->reverse);
    return Qnil;
}

long cleat_reg_search(cleat_door door, VALUE re, VALUE str, long pos, bool reverse)
{
    CLEAT__NEEDS_GVL();
    if (!RB_TYPE_P(re, T_REGEXP)) cleat__raise_wrong_type(re, "Regexp");
    if (!RB_TYPE_P(str, T_STRING)) cleat__raise_wrong_type(str, "String");
    /* Ruby code run inside the search may change str (a trap handler's
     * replace: Onigmo read freed bytes, the hostile review). A frozen copy
     * shares str's bytes and keeps them; the MatchData would make the same
     * copy, so rb_reg_search then makes none. */
    if (!OBJ_FROZEN(str)) str = rb_str_new_frozen(str);
    search s = {re, str, pos, -1, reverse};
    lend_for_door(door, search_lent, &s);
    RB_GC_GUARD(re);
    RB_GC_GUARD(str);
    return s.at;
}
