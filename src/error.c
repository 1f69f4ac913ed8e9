/* error.c - Tether's exception classes and the messages every area shares. */
#include "internal.h"

VALUE tether_eError = Qnil;
VALUE tether_eBorrowError = Qnil;
VALUE tether_eStaleReferenceError = Qnil;

void tether_init(void)
{
    static bool done = false; /* one per extension: each has its own copy */
    if (done) return;
    /* rb_define_class_under returns the class another extension (or
     * lib/tether.rb) already defined with the same superclass. */
    VALUE mTether = rb_define_module("Tether");
    tether_eError = rb_define_class_under(mTether, "Error", rb_eStandardError);
    tether_eBorrowError = rb_define_class_under(mTether, "BorrowError", rb_eRuntimeError);
    tether_eStaleReferenceError = rb_define_class_under(mTether, "StaleReferenceError", rb_eRuntimeError);
    rb_gc_register_address(&tether_eError);
    rb_gc_register_address(&tether_eBorrowError);
    rb_gc_register_address(&tether_eStaleReferenceError);
#ifdef TETHER_DEBUG
    tether__debug_install();
#endif
    done = true;
}

VALUE tether__describe_class(VALUE obj)
{
    if (NIL_P(obj)) return rb_str_new_cstr("nil");
    if (obj == Qtrue) return rb_str_new_cstr("true");
    if (obj == Qfalse) return rb_str_new_cstr("false");
    return rb_class_name(rb_obj_class(obj));
}

void tether__raise_wrong_type(VALUE obj, const char *expected)
{
    rb_raise(rb_eTypeError, "wrong argument type %" PRIsVALUE " (expected %s)",
             tether__describe_class(obj), expected);
}

void *tether_exception_new(const tether_type *type, VALUE message, VALUE *exc)
{
    TETHER__NEEDS_GVL();
    if (!type->klass || !RTEST(rb_class_inherited_p(type->klass, rb_eException)))
        rb_raise(rb_eTypeError, "%s is not an exception class", type->class_path);
    if (!(type->flags & TETHER_ZERO_IS_VALID))
        rb_raise(rb_eArgError, "%s: an exception type needs TETHER_ZERO_IS_VALID", type->class_path);
    StringValue(message);
    *exc = rb_exc_new_str(type->klass, message);
    if (!tether_is(*exc, type)) tether__raise_wrong_type(*exc, type->class_path);
    return RTYPEDDATA_DATA(*exc);
}
