/* error.c - Cleat's exception classes and the messages every area shares. */
#include "internal.h"

VALUE cleat_eError = Qnil;
VALUE cleat_eBorrowError = Qnil;
VALUE cleat_eStaleReferenceError = Qnil;

CLEAT__COLD void cleat_init(void)
{
    static bool done = false; /* one per extension: each has its own copy */
    if (done) return;
    /* rb_define_class_under returns the class another extension (or
     * lib/cleat.rb) already defined with the same superclass. */
    VALUE mCleat = rb_define_module("Cleat");
    /* The first Cleat in the process names the version; lib/cleat/version.rb
     * keeps it when it loads later. */
    if (!rb_const_defined_at(mCleat, rb_intern("VERSION")))
        rb_define_const(mCleat, "VERSION", rb_obj_freeze(rb_str_new_cstr(CLEAT_VERSION)));
    cleat_eError = rb_define_class_under(mCleat, "Error", rb_eStandardError);
    cleat_eBorrowError = rb_define_class_under(mCleat, "BorrowError", rb_eRuntimeError);
    cleat_eStaleReferenceError = rb_define_class_under(mCleat, "StaleReferenceError", rb_eRuntimeError);
    rb_gc_register_address(&cleat_eError);
    rb_gc_register_address(&cleat_eBorrowError);
    rb_gc_register_address(&cleat_eStaleReferenceError);
    cleat__region_init();
    cleat__borrow_init();
    cleat__copy_init();
    /* The UTF-8 validator is chosen by the first validation (utf8.c), not
     * here: a call from here would link the validators into every
     * extension, used or not. */
#ifdef CLEAT_DEBUG
    cleat__debug_install();
    cleat__debug_memory_install();
#endif
    done = true;
}

CLEAT__COLD VALUE cleat__describe_class(VALUE obj)
{
    if (NIL_P(obj)) return rb_str_new_cstr("nil");
    if (obj == Qtrue) return rb_str_new_cstr("true");
    if (obj == Qfalse) return rb_str_new_cstr("false");
    return cleat__class_name(obj);
}

CLEAT__COLD VALUE cleat__class_name(VALUE obj) { return rb_class_name(rb_obj_class(obj)); }

CLEAT__COLD void cleat__raise_wrong_type(VALUE obj, const char *expected)
{
#ifdef CLEAT_DEBUG
    cleat__debug_needs_gvl("a Cleat check raising TypeError");
#endif
    rb_raise(rb_eTypeError, "wrong argument type %" PRIsVALUE " (expected %s)",
             cleat__describe_class(obj), expected);
}

void *cleat_exception_new(const cleat_type *type, VALUE message, VALUE *exc)
{
    CLEAT__NEEDS_GVL();
    if (!type->klass || !RTEST(rb_class_inherited_p(type->klass, rb_eException)))
        rb_raise(rb_eTypeError, "%s is not an exception class", type->class_path);
    if (!(type->flags & CLEAT_ZERO_IS_VALID))
        rb_raise(rb_eArgError, "%s: an exception type needs CLEAT_ZERO_IS_VALID", type->class_path);
    /* No StringValue: its to_str is Ruby code, run inside the caller's door. */
    if (!RB_TYPE_P(message, T_STRING)) cleat__raise_wrong_type(message, "String");
    *exc = rb_exc_new_str(type->klass, message);
    if (!cleat_is(*exc, type)) cleat__raise_wrong_type(*exc, type->class_path);
    void *data = RTYPEDDATA_DATA(*exc);
    cleat__header(data)->state &= ~CLEAT__FRESH; /* handed to C to fill (type.c, cleat_type_new) */
    return data;
}
