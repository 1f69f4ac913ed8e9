/* cleanup.c - what survives a Ruby exception: cleat_ensure, and the one
 * failure of CLEAT_SCRATCH that Ruby's ALLOCV_N does not catch itself. */
#include "internal.h"

#include <limits.h>

struct ensure_call {
    VALUE (*body)(void *arg);
    void (*cleanup)(void *arg);
    void *arg;
};

static VALUE run_body(VALUE call)
{
    const struct ensure_call *c = (const struct ensure_call *)call;
    return c->body(c->arg);
}

static VALUE run_cleanup(VALUE call)
{
    const struct ensure_call *c = (const struct ensure_call *)call;
    c->cleanup(c->arg);
    return Qnil;
}

VALUE cleat_ensure(VALUE (*body)(void *arg), void (*cleanup)(void *arg), void *arg)
{
    CLEAT__NEEDS_GVL();
    struct ensure_call call = {body, cleanup, arg}; /* on this frame, which outlives rb_ensure */
    return rb_ensure(run_body, (VALUE)&call, run_cleanup, (VALUE)&call);
}

void cleat__scratch_too_large(size_t count)
{
    rb_raise(rb_eArgError, "CLEAT_SCRATCH: %zu elements are more than LONG_MAX", count);
}
