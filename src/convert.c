/* convert.c - arguments from Ruby, checked: Integers that must fit, classes. */
#include "internal.h"

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

CLEAT_NORETURN static void out_of_range(VALUE v, const char *type)
{
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
