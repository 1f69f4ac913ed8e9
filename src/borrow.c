/* borrow.c - lending an object while other code runs.
 *
 * The door only checks the state word; it is changed here, and only around
 * the calls that let other code in (yield, method calls, GVL release). Every
 * change is undone by rb_ensure, so an exception, break or throw never leaves
 * an object lent. Shared loans count up and down rather than restore a saved
 * state, because fibers can finish them in any order. */
#include "internal.h"

uint32_t cleat__current_method(void)
{
    ID id = rb_frame_this_func();
    return id <= UINT32_MAX ? (uint32_t)id : 0;
}

static VALUE method_name(uint32_t id)
{
    VALUE name = id ? rb_id2str((ID)id) : 0;
    return name ? rb_sprintf("#%" PRIsVALUE, name) : rb_str_new_cstr("this call");
}

void cleat__borrow_conflict(VALUE obj, const cleat_header *h, int mode)
{
    bool exclusive = h->state & CLEAT__LENT_EXCL;
    VALUE holder = h->holder ? rb_sprintf(" by %" PRIsVALUE, method_name(h->holder)) : rb_str_new(0, 0);
    rb_raise(cleat_eBorrowError, "%" PRIsVALUE " is %sborrowed%" PRIsVALUE "; %" PRIsVALUE " needs it %s",
             rb_obj_class(obj), exclusive ? "exclusively " : "", holder,
             method_name(cleat__current_method()),
             mode == CLEAT_BORROW_SHARED ? "shared" : "exclusively");
}

typedef struct loan {
    cleat_header *header;
    cleat_borrow_mode mode;
    uint32_t holder, previous_holder;
    bool set_exclusive; /* false when an outer loan of the same method holds it */
} loan;

/* Returns false, taking no loan, for a frozen object: no exclusive method
 * can run on it, so there is nothing to keep out, and a frozen object may be
 * shared between Ractors, whose loans would race on the state word. */
static bool loan_begin(loan *l, VALUE self, cleat_borrow_mode mode)
{
    if (mode != CLEAT_BORROW_SHARED && mode != CLEAT_BORROW_EXCLUSIVE)
        rb_raise(rb_eArgError, "borrow mode must be CLEAT_BORROW_SHARED or CLEAT_BORROW_EXCLUSIVE");
    if (!cleat_type_of(self)) cleat__raise_wrong_type(self, "a Cleat object");
    if (OBJ_FROZEN(self)) return false;
    cleat_header *h = cleat__header(RTYPEDDATA_DATA(self));
    l->header = h;
    l->mode = mode;
    l->holder = cleat__current_method();
    l->previous_holder = h->holder;
    if (mode == CLEAT_BORROW_EXCLUSIVE) {
        l->set_exclusive = !(h->state & CLEAT__LENT_EXCL);
        h->state |= CLEAT__LENT_EXCL;
    } else {
        if (h->state > UINT32_MAX - CLEAT__SHARED_ONE)
            rb_raise(cleat_eBorrowError, "%" PRIsVALUE " has too many shared loans", rb_obj_class(self));
        h->state += CLEAT__SHARED_ONE;
    }
    h->holder = l->holder;
    return true;
}

static VALUE loan_end(VALUE arg)
{
    loan *l = (loan *)arg;
    cleat_header *h = l->header;
    if (l->mode == CLEAT_BORROW_EXCLUSIVE) {
        if (l->set_exclusive) h->state &= ~CLEAT__LENT_EXCL;
        h->holder = l->previous_holder;
    } else {
        h->state -= CLEAT__SHARED_ONE;
        if (h->state < CLEAT__SHARED_ONE && !(h->state & CLEAT__LENT_EXCL)) h->holder = 0;
        else if (h->holder == l->holder) h->holder = l->previous_holder;
    }
    return Qnil;
}

VALUE cleat_borrow_lend(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE), VALUE arg)
{
    CLEAT__NEEDS_GVL();
    loan l;
    if (!loan_begin(&l, self, mode)) return func(arg);
    return rb_ensure(func, arg, loan_end, (VALUE)&l);
}

static VALUE yield_value(VALUE value) { return rb_yield(value); }

VALUE cleat_borrow_yield(VALUE self, cleat_borrow_mode mode, VALUE value)
{
    return cleat_borrow_lend(self, mode, yield_value, value);
}

typedef struct call_args {
    VALUE recv;
    ID mid;
    int argc;
    const VALUE *argv;
} call_args;

static VALUE call_method(VALUE arg)
{
    const call_args *c = (const call_args *)arg;
    return rb_funcallv(c->recv, c->mid, c->argc, c->argv);
}

VALUE cleat_borrow_call(VALUE self, cleat_borrow_mode mode, VALUE recv, ID mid, int argc,
                         const VALUE *argv)
{
    if (argc < 0 || (argc > 0 && !argv)) rb_raise(rb_eArgError, "cleat_borrow_call: bad argument list");
    call_args c = {recv, mid, argc, argv};
    return cleat_borrow_lend(self, mode, call_method, (VALUE)&c);
}
