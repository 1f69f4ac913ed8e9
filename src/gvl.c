/* gvl.c - running C without the GVL while the object stays lent. */
#include "internal.h"

#include <ruby/thread.h>

typedef struct nogvl {
    bool (*func)(void *arg, const cleat_cancel *cancel);
    void *arg;
    cleat_cancel cancel;
    bool finished;
    VALUE self; /* for debug reports */
#ifdef CLEAT_DEBUG
    const char *method; /* the door's name, for debug reports */
#endif
} nogvl;

static void *run_without_gvl(void *p)
{
    nogvl *n = p;
    n->finished = n->func(n->arg, &n->cancel);
    return NULL;
}

/* Ruby calls this from another thread to get ours back. */
static void request_cancel(void *p)
{
    nogvl *n = p;
    atomic_store_explicit(&n->cancel.requested, 1, memory_order_relaxed);
}

static void *run_without_gvl_checked(void *p)
{
#ifdef CLEAT_DEBUG
    nogvl *n = p;
    const char *outer = cleat__debug_nogvl_begin(n->self, n->method);
    run_without_gvl(p);
    cleat__debug_nogvl_end(outer);
    return NULL;
#else
    return run_without_gvl(p);
#endif
}

#ifdef CLEAT_DEBUG
static VALUE call_without_gvl(VALUE p)
{
    nogvl *n = (nogvl *)p;
    rb_thread_call_without_gvl(run_without_gvl_checked, n, request_cancel, n);
    return Qnil;
}
#endif

static VALUE run_until_finished(VALUE p)
{
    nogvl *n = (nogvl *)p;
    for (;;) {
        atomic_store_explicit(&n->cancel.requested, 0, memory_order_relaxed);
        n->finished = false;
        /* Raises here (loan returned by the caller's ensure) on Thread#kill,
         * Interrupt and other exceptions that interrupts deliver. */
#ifdef CLEAT_DEBUG
        /* A raise from the function jumps out without the GVL (Ruby 3.1 then
         * goes on as if nothing happened): name it before it spreads. */
        int state = 0;
        int outer = cleat__debug_nogvl_depth();
        rb_protect(call_without_gvl, p, &state);
        if (state) {
            cleat__debug_nogvl_left(outer);
            rb_jump_tag(state);
        }
#else
        rb_thread_call_without_gvl(run_without_gvl_checked, n, request_cancel, n);
#endif
        if (n->finished) return Qnil;
        if (!cleat_cancelled(&n->cancel))
            rb_raise(cleat_eError, "a GVL-free function returned false without being cancelled");
        rb_thread_check_ints();
    }
}

void cleat_without_gvl(VALUE self, cleat_borrow_mode mode,
                        bool (*func)(void *arg, const cleat_cancel *cancel), void *arg)
{
    CLEAT__NEEDS_GVL();
    nogvl n = {.func = func, .arg = arg, .finished = false, .self = self};
#ifdef CLEAT_DEBUG
    ID method = rb_frame_this_func();
    n.method = method ? rb_id2name(method) : NULL;
#endif
    atomic_init(&n.cancel.requested, 0);
    cleat_borrow_lend(self, mode, run_until_finished, (VALUE)&n);
}
