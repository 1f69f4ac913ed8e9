/* cleanup.c - what survives a Ruby exception: cleat_ensure, and the one
 * failure of CLEAT_SCRATCH that Ruby's ALLOCV_N does not catch itself. */
#include "internal.h"

#include <limits.h>

struct ensure_call {
    VALUE (*body)(void *arg);
    void (*cleanup)(void *arg);
    void *arg;
    cleat__once once;
};

static VALUE run_body(VALUE call)
{
    const struct ensure_call *c = (const struct ensure_call *)call;
    return c->body(c->arg);
}

/* A continuation taken inside the body and called after the cleanup ran
 * restores this frame and would run the cleanup again (a FILE closed twice:
 * a double free). The once record tells; the caller must not go on either,
 * with a resource its cleanup already released. */
static VALUE run_cleanup(VALUE call)
{
    struct ensure_call *c = (struct ensure_call *)call;
    if (!cleat__once_end(&c->once))
        rb_raise(cleat_eError, "cleat_ensure was re-entered through a continuation after its cleanup ran");
    c->cleanup(c->arg);
    return Qnil;
}

VALUE cleat_ensure(VALUE (*body)(void *arg), void (*cleanup)(void *arg), void *arg)
{
    CLEAT__NEEDS_GVL();
    struct ensure_call call = {body, cleanup, arg, {0}}; /* on this frame, which outlives rb_ensure */
    VALUE token = Qnil;
    cleat__once_begin(&call.once, &token); /* may raise NoMemoryError: nothing has run yet */
    VALUE result = rb_ensure(run_body, (VALUE)&call, run_cleanup, (VALUE)&call);
    RB_GC_GUARD(token); /* keeps the record alive while the body runs */
    return result;
}

void cleat__scratch_too_large(size_t count)
{
    rb_raise(rb_eArgError, "CLEAT_SCRATCH: %zu elements are more than LONG_MAX", count);
}
