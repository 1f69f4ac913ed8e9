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

/* The running door's method (name: its cache, or NULL to ask Ruby, which
 * costs a few ns a loan). A door's function backs one method, so its first
 * answer holds for good (one defined under two names is named, in
 * messages, by the first that lends). A relaxed atomic: doors of other
 * Ractors may ask at once, with the same answer. */
static uint32_t door_method(atomic_uintptr_t *name)
{
    if (!name) return cleat__current_method();
    uintptr_t id = atomic_load_explicit(name, memory_order_relaxed);
    if (!id) {
        id = cleat__current_method();
        atomic_store_explicit(name, id, memory_order_relaxed);
    }
    return (uint32_t)id;
}

CLEAT__COLD static VALUE method_name(uint32_t id)
{
    VALUE name = id ? rb_id2str((ID)id) : 0;
    return name ? rb_sprintf("#%" PRIsVALUE, name) : rb_str_new_cstr("this call");
}

CLEAT__COLD void cleat__borrow_conflict(VALUE obj, const cleat_header *h, int mode)
{
#ifdef CLEAT_DEBUG
    cleat__debug_needs_gvl("a Cleat check raising BorrowError");
#endif
    bool exclusive = h->state & CLEAT__LENT_EXCL;
    VALUE holder = h->holder ? rb_sprintf(" by %" PRIsVALUE, method_name(h->holder)) : rb_str_new(0, 0);
    rb_raise(cleat_eBorrowError, "%" PRIsVALUE " is %sborrowed%" PRIsVALUE "; %" PRIsVALUE " needs it %s",
             cleat__class_name(obj), exclusive ? "exclusively " : "", holder,
             method_name(cleat__current_method()),
             mode == CLEAT_BORROW_SHARED ? "shared" : "exclusively");
}

CLEAT__COLD void cleat__refuse_held(VALUE obj)
{
    VALUE klass = cleat__class_name(obj);
    rb_raise(cleat_eBorrowError, "%" PRIsVALUE "%" PRIsVALUE " was given its own receiver; it holds the %" PRIsVALUE " already",
             klass, method_name(cleat__current_method()), klass);
}

/* ---- loans and their holders ------------------------------------------------
 *
 * Every loan is a record in the object's list (header->loans), and the
 * state word is recomputed from the list whenever it changes, so loans may
 * end in any order (fibers finish them so).
 *
 * A loan normally ends in rb_ensure. But a fiber suspended inside a loan
 * (an external enumerator after #next or #peek, then dropped or rewound)
 * may be collected without ever resuming, and after fork the threads other
 * than the forking one are gone: their ensures never run. So each loan also
 * gets a token, a hidden object (no class: unreachable from Ruby code, even
 * through ObjectSpace) that only the lending C frame refers to. While the
 * fiber or thread holding the loan can still run, its stack is scanned by
 * the GC and keeps the token alive; once the GC collects the fiber (or, in
 * a forked child, no longer scans a dead thread's stack), it collects the
 * token, whose free function flags the record. The next conflicting entry
 * (the door's slow path, never its fast path) returns flagged loans. */
struct cleat__loan {
    struct cleat__loan *next, *prev;
    cleat_borrow_mode mode;
    uint32_t holder;         /* method ID for messages */
    atomic_bool holder_gone; /* set by the token's free function while listed */
    atomic_bool listed;      /* in an object's list of loans */
    uint64_t serial;         /* bumped when a loan on this record begins and ends (never wraps) */
};

/* Who frees a record, with no count of references (two locked instructions
 * a loan, a third of what a loan cost): the token, when the GC frees it and
 * the record is in no list; else the code that takes the record off its
 * list after the token is gone. The two never race: a record is put on a
 * list and taken off it normally only by a loan's own frame, which keeps
 * the token alive meanwhile (and a continuation that could come back to
 * that frame keeps a copy of it); the GC frees a token only once every
 * Ractor stopped for the marking that found it unreachable, and only the
 * token sets holder_gone, after which nothing but the list's code reads the
 * record. Objects and tokens are both freed while sweeping, one at a time
 * (under the VM lock). */
static void loan_unlisted(struct cleat__loan *r)
{
    if (atomic_load_explicit(&r->holder_gone, memory_order_acquire)) ruby_xfree(r);
    else atomic_store_explicit(&r->listed, false, memory_order_relaxed);
}

/* During GC (any Ractor's thread): nothing but the record's atomics. */
static void token_free(void *data)
{
    struct cleat__loan *r = data;
    if (!r) return;
    if (atomic_load_explicit(&r->listed, memory_order_relaxed))
        atomic_store_explicit(&r->holder_gone, true, memory_order_release); /* its list frees it */
    else
        ruby_xfree(r);
}

static const rb_data_type_t token_type = {
    .wrap_struct_name = "cleat/loan",
    .function = {.dmark = NULL, .dfree = token_free, .dsize = NULL},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY,
};

/* Tokens of loans that ended normally wait in a small pool for the next
 * loan, each with its record: a loan then allocates nothing.
 *
 * Only loans made on the main thread's own stack take pooled tokens, and
 * only theirs go back. A pooled token has been on that stack before, and a
 * stale copy of its address there (the GC scans stacks conservatively, and
 * the main stack lives as long as the process) would keep it alive for
 * ever: a loan of a fiber or thread that dies with it would never come
 * back. The main thread's root fiber is never abandoned, so its loans do
 * not care; loans anywhere else get a token of their own, whose address
 * only their own stack has seen, and leave it to the GC.
 *
 * So the pool is the main thread's alone: a C array only that thread
 * touches (no Ractor but the main one runs there), its slots GC roots. */
enum { POOL_SIZE = 32 };
static VALUE main_pool[POOL_SIZE];
static int main_pool_len;

#ifdef HAVE_PTHREAD_GETATTR_NP
#include <pthread.h>
#endif
/* The main thread's machine stack, [main_stack_low, +main_stack_size), or
 * size 0 when unknown (every loan then takes a new token). */
static uintptr_t main_stack_low;
static size_t main_stack_size;

static void find_main_stack(void)
{
#ifdef HAVE_PTHREAD_GETATTR_NP
    if (rb_thread_current() != rb_thread_main()) return; /* loaded from another thread */
    pthread_attr_t attr;
    void *low;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
    if (pthread_attr_getstack(&attr, &low, &size) == 0) {
        main_stack_low = (uintptr_t)low;
        main_stack_size = size;
    }
    pthread_attr_destroy(&attr);
#endif
}

static bool on_main_stack(const void *local)
{
    return (uintptr_t)local - main_stack_low < main_stack_size; /* (wraps when below) */
}

CLEAT__COLD void cleat__borrow_init(void)
{
    for (int i = 0; i < POOL_SIZE; i++) {
        main_pool[i] = Qfalse;
        rb_gc_register_address(&main_pool[i]);
    }
    find_main_stack();
}

/* A token with its record (in no list): from the pool for a loan
 * on the main stack (local is on the lending frame), else new. */
static VALUE token_take(const void *local)
{
    if (main_pool_len > 0 && on_main_stack(local)) {
        VALUE token = main_pool[--main_pool_len];
        main_pool[main_pool_len] = Qfalse;
        return token;
    }
    VALUE token = rb_data_typed_object_wrap(0, NULL, &token_type);
    struct cleat__loan *r = ruby_xmalloc(sizeof *r);
    r->next = r->prev = NULL;
    atomic_init(&r->holder_gone, false);
    atomic_init(&r->listed, false);
    r->serial = 0;
    DATA_PTR(token) = r;
    return token;
}

/* Back to the pool when taken on the main stack, unless full (else the GC
 * frees it). Never allocates: it runs in an ensure. */
static void token_give_back(VALUE token, const void *local)
{
    if (main_pool_len < POOL_SIZE && on_main_stack(local)) main_pool[main_pool_len++] = token;
}

/* The state word and holder as the list says: INIT and BUILDING kept,
 * exclusive if any loan is, one shared count per shared loan, holder of the
 * newest loan. */
static void recompute(cleat_header *h)
{
    uint32_t state = h->state & (CLEAT__INIT | CLEAT__BUILDING);
    for (struct cleat__loan *r = h->loans; r; r = r->next) {
        if (r->mode == CLEAT_BORROW_EXCLUSIVE) state |= CLEAT__LENT_EXCL;
        else state += CLEAT__SHARED_ONE; /* bounded when the loan began */
    }
    h->state = state;
    h->holder = h->loans ? h->loans->holder : 0;
}

static void unlink_loan(cleat_header *h, struct cleat__loan *r)
{
    if (r->prev) r->prev->next = r->next;
    else h->loans = r->next;
    if (r->next) r->next->prev = r->prev;
    r->next = r->prev = NULL;
    loan_unlisted(r);
}

/* A frozen object takes no loans, but keeps those made before it was
 * frozen, and may be shared with other Ractors by now: their doors give back
 * loans the GC found dead while its owner's loans end. Those list changes
 * take turns on this lock (a frozen object's alone: rare, and a few
 * instructions each). Only the list's code takes it, never while waiting
 * for anything else. */
static atomic_flag frozen_lists = ATOMIC_FLAG_INIT;

static bool lock_if_frozen(VALUE obj)
{
    if (!OBJ_FROZEN(obj)) return false;
    while (atomic_flag_test_and_set_explicit(&frozen_lists, memory_order_acquire)) {
    }
    return true;
}

static void unlock_if(bool locked)
{
    if (locked) atomic_flag_clear_explicit(&frozen_lists, memory_order_release);
}

static bool reclaim(cleat_header *h)
{
    bool any = false;
    for (struct cleat__loan *r = h->loans, *next; r; r = next) {
        next = r->next;
        if (atomic_load_explicit(&r->holder_gone, memory_order_acquire)) {
            unlink_loan(h, r);
            any = true;
        }
    }
    if (any) recompute(h);
    return any;
}

bool cleat__reclaim_loans(VALUE obj, cleat_header *h)
{
    bool locked = lock_if_frozen(obj);
    bool any = h->loans && reclaim(h);
    unlock_if(locked);
    return any;
}

void cleat__release_loans(cleat_header *h)
{
    while (h->loans) unlink_loan(h, h->loans);
}

typedef struct loan {
    VALUE self;
    cleat_header *header;
    struct cleat__loan *record;
    VALUE token;
    uint64_t serial; /* the record's serial while this loan lasts */
    uint32_t holder; /* the lending method, for the message */
} loan;

/* Returns false, taking no loan, for a frozen object: no exclusive method
 * can run on it, so there is nothing to keep out, and a frozen object may be
 * shared between Ractors, whose loans would race on the state word.
 * Otherwise *token is the loan's token, for the caller to keep on its stack
 * for as long as the loan lasts. */
static bool loan_begin(loan *l, VALUE self, cleat_borrow_mode mode, atomic_uintptr_t *name, VALUE *token)
{
    if (mode != CLEAT_BORROW_SHARED && mode != CLEAT_BORROW_EXCLUSIVE)
        rb_raise(rb_eArgError, "borrow mode must be CLEAT_BORROW_SHARED or CLEAT_BORROW_EXCLUSIVE");
    if (!cleat_type_of(self)) cleat__raise_wrong_type(self, "a Cleat object");
    if (OBJ_FROZEN(self)) return false;
    cleat_header *h = cleat__header(RTYPEDDATA_DATA(self));
    /* Loans out already: return those of fibers the GC collected, or an
     * object only ever read would pile them up (each later loan walks them),
     * and dead loans would count against the limit below. */
    if (h->loans) reclaim(h); /* (not frozen: no other Ractor has it) */
    /* The shared count's bits (2 to 29, below BUILDING and FRESH) all set: full. */
    const uint32_t count_bits = CLEAT__LENT_BITS & ~CLEAT__LENT_EXCL;
    if (mode == CLEAT_BORROW_SHARED && (h->state & count_bits) == count_bits)
        rb_raise(cleat_eBorrowError, "%" PRIsVALUE " has too many shared loans", cleat__class_name(self));
    /* Allocation next (it may raise or run the GC): nothing else changes before. */
    *token = token_take(token);
    struct cleat__loan *r = DATA_PTR(*token);
    r->next = h->loans;
    r->prev = NULL;
    r->mode = mode;
    r->holder = door_method(name);
    r->serial++;
    atomic_store_explicit(&r->listed, true, memory_order_relaxed);
    if (h->loans) h->loans->prev = r;
    h->loans = r;
    recompute(h);
    l->self = self;
    l->header = h;
    l->record = r;
    l->token = *token;
    l->serial = r->serial;
    l->holder = r->holder;
    return true;
}

/* A continuation (callcc) taken inside the loan and called after it ended
 * restores the lending C frame: the record may be in the pool or lent again
 * by then (its token is alive: the continuation's copy of the stack holds
 * it), and the object may have changed. The serial tells; the method must
 * not go on with a loan it no longer has. */
CLEAT__COLD CLEAT_NORETURN static void refuse_ended_loan(const loan *l)
{
    rb_raise(cleat_eBorrowError, "%" PRIsVALUE " was re-entered through a continuation after its loan ended",
             method_name(l->holder));
}

/* A loan ends once: a continuation back into it would run this ensure a
 * second time. */
static VALUE loan_end(VALUE arg)
{
    loan *l = (loan *)arg;
    struct cleat__loan *r = l->record;
    if (r->serial != l->serial) refuse_ended_loan(l);
    r->serial++;
    cleat_header *h = l->header;
    bool locked = lock_if_frozen(l->self); /* frozen while lent: perhaps shared by now */
    unlink_loan(h, r);
    recompute(h);
    unlock_if(locked);
    token_give_back(l->token, l);
    return Qnil;
}

void cleat__once_begin(cleat__once *o, VALUE *token)
{
    *token = token_take(token);
    o->record = DATA_PTR(*token);
    o->serial = ++o->record->serial;
    o->token = *token;
}

bool cleat__once_end(cleat__once *o)
{
    if (o->record->serial != o->serial) return false;
    o->record->serial++;
    token_give_back(o->token, o);
    return true;
}

/* *seen, when given, is the loan while func runs (NULL without one: a
 * frozen object), for func to check that it is still out. */
static VALUE lend(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE), VALUE arg, atomic_uintptr_t *name,
                  const loan **seen)
{
    loan l;
    VALUE token = Qnil;
    if (!loan_begin(&l, self, mode, name, &token)) return func(arg);
    if (seen) *seen = &l;
    VALUE result = rb_ensure(func, arg, loan_end, (VALUE)&l);
    /* Frozen meanwhile (Ractor.make_shareable from a block or a to_int): the
     * method that lent it exclusively would go on writing a frozen object,
     * perhaps shared with other Ractors by now. */
    if (mode == CLEAT_BORROW_EXCLUSIVE && OBJ_FROZEN(self))
        rb_frozen_error_raise(self, "can't modify frozen %" PRIsVALUE ": frozen while %" PRIsVALUE " lent it",
                              cleat__class_name(self), method_name(l.holder));
    /* On this stack for as long as the loan lasts: alive while the fiber or
     * thread running it can still run (see above). */
    RB_GC_GUARD(token);
    RB_GC_GUARD(self);
    return result;
}

bool cleat__borrow_protect(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE), VALUE arg,
                           atomic_uintptr_t *name, int *state)
{
    loan l;
    VALUE token = Qnil;
    bool lent = loan_begin(&l, self, mode, name, &token);
    rb_protect(func, arg, state);
    /* A continuation taken in func and called later comes back here with
     * the loan ended: said, not raised (the caller mends first). */
    bool first = !lent || l.record->serial == l.serial;
    if (lent && first) loan_end((VALUE)&l);
    RB_GC_GUARD(token);
    RB_GC_GUARD(self);
    return first;
}

#ifdef CLEAT_DEBUG
typedef struct lending {
    VALUE self;
    cleat_borrow_mode mode;
    VALUE (*func)(VALUE);
    VALUE arg;
    atomic_uintptr_t *name;
    const loan **seen;
} lending;

static VALUE lend_recorded(VALUE p)
{
    const lending *l = (const lending *)p;
    return lend(l->self, l->mode, l->func, l->arg, l->name, l->seen);
}
#endif

static VALUE lend_as(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE), VALUE arg, atomic_uintptr_t *name,
                     const loan **seen)
{
    CLEAT__NEEDS_GVL();
#ifdef CLEAT_DEBUG
    /* Recorded even when no loan is taken (a frozen object): the body lent
     * what it could, as it should. */
    lending l = {self, mode, func, arg, name, seen};
    return cleat__debug_lend(self, lend_recorded, (VALUE)&l);
#else
    return lend(self, mode, func, arg, name, seen);
#endif
}

VALUE cleat__borrow_lend_as(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE), VALUE arg,
                             atomic_uintptr_t *name)
{
    return lend_as(self, mode, func, arg, name, NULL);
}

VALUE cleat_borrow_lend(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE), VALUE arg)
{
    return cleat__borrow_lend_as(self, mode, func, arg, NULL);
}

/* ---- one loan around many yields ---- */

typedef struct yield_each {
    const loan *loan; /* NULL when none was taken (a frozen object: nothing changes) */
    size_t count;
    VALUE (*value)(const void *data, size_t i);
    const void *data;
} yield_each;

/* A continuation taken in a block and called after the loan ended comes
 * back into this loop (the C stack as it was): data may point to freed
 * memory by then. Checked before the next element is read. */
static VALUE yield_all(VALUE arg)
{
    const yield_each *y = (const yield_each *)arg;
    for (size_t i = 0; i < y->count; i++) {
        const loan *l = y->loan;
        if (l && l->record->serial != l->serial) refuse_ended_loan(l);
        rb_yield(y->value(y->data, i));
    }
    return Qnil;
}

VALUE cleat__borrow_yield_each_as(VALUE self, cleat_borrow_mode mode, size_t count,
                                   VALUE (*value)(const void *data, size_t i), const void *data,
                                   atomic_uintptr_t *name)
{
    if (!value) rb_raise(rb_eArgError, "cleat_borrow_yield_each: no value function");
    yield_each y = {NULL, count, value, data};
    lend_as(self, mode, yield_all, (VALUE)&y, name, &y.loan);
    return Qnil;
}

VALUE cleat_borrow_yield_each(VALUE self, cleat_borrow_mode mode, size_t count,
                              VALUE (*value)(const void *data, size_t i), const void *data)
{
    return cleat__borrow_yield_each_as(self, mode, count, value, data, NULL);
}

static VALUE yield_value(VALUE value) { return rb_yield(value); }

VALUE cleat__borrow_yield_as(VALUE self, cleat_borrow_mode mode, VALUE value, atomic_uintptr_t *name)
{
    return lend_as(self, mode, yield_value, value, name, NULL);
}

VALUE cleat_borrow_yield(VALUE self, cleat_borrow_mode mode, VALUE value)
{
    return cleat__borrow_lend_as(self, mode, yield_value, value, NULL);
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

VALUE cleat__borrow_call_as(VALUE self, cleat_borrow_mode mode, VALUE recv, ID mid, int argc, const VALUE *argv,
                             atomic_uintptr_t *name)
{
    if (argc < 0 || (argc > 0 && !argv)) rb_raise(rb_eArgError, "cleat_borrow_call: bad argument list");
    call_args c = {recv, mid, argc, argv};
    return cleat__borrow_lend_as(self, mode, call_method, (VALUE)&c, name);
}

VALUE cleat_borrow_call(VALUE self, cleat_borrow_mode mode, VALUE recv, ID mid, int argc,
                         const VALUE *argv)
{
    return cleat__borrow_call_as(self, mode, recv, mid, argc, argv, NULL);
}
