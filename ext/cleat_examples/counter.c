/* counter.c - the chapter's Counter and its RefCell twin MutCounter.
 *
 * A struct with no Ruby references: no fields to declare, nothing to mark.
 * Both classes share the struct; they differ in their methods, as in the
 * chapter. Integers are 64-bit: anything else is a TypeError, and a result
 * that does not fit is a RangeError that leaves the count as it was. */
#include "examples.h"

typedef struct counter {
    int64_t count;
} counter_t;

/* A 64-bit count that only #increment changes (exclusively); #value reads it
 * shared. dup and clone copy it. */
CLEAT_TYPE(counter_type, "CleatExamples::Counter", counter_t, NULL, .flags = CLEAT_COPYABLE);
/* The chapter's RefCell counter: #count reads shared, #increment and #add
 * change it exclusively. dup and clone copy it. */
CLEAT_TYPE(mut_counter_type, "CleatExamples::MutCounter", counter_t, NULL,
            .flags = CLEAT_COPYABLE);

/* count + amount, or RangeError "result too large" (count untouched). */
static int64_t checked_add(const counter_t *c, VALUE amount)
{
    int64_t sum;
    if (__builtin_add_overflow(c->count, cleat_to_int64(amount), &sum))
        rb_raise(rb_eRangeError, "result too large");
    return sum;
}

/*
 * call-seq:
 *   Counter.new(initial) -> counter
 *
 *   CleatExamples::Counter.new(5).value #=> 5
 */
CLEAT_INIT(counter_initialize, counter_type, counter_t *c, initial)
{
    c->count = cleat_to_int64(initial);
    return self;
}

/*
 * call-seq:
 *   counter.increment(amount) -> new value
 *
 *   CleatExamples::Counter.new(5).increment(2) #=> 7
 */
CLEAT_EXCLUSIVE(counter_increment, counter_type, counter_t *c, amount)
{
    c->count = checked_add(c, amount);
    return LL2NUM(c->count);
}

/*
 * call-seq:
 *   counter.value -> integer
 *
 * The count.
 */
CLEAT_SHARED(counter_value, counter_type, counter_t *c) { return LL2NUM(c->count); }

/*
 * call-seq:
 *   MutCounter.new(initial) -> counter
 *
 * A counter starting at initial (an Integer that fits in 64 bits).
 */
CLEAT_INIT(mut_counter_initialize, mut_counter_type, counter_t *c, initial)
{
    c->count = cleat_to_int64(initial);
    return self;
}

/*
 * call-seq:
 *   counter.count -> integer
 *
 * The count.
 */
CLEAT_SHARED(mut_counter_count, mut_counter_type, counter_t *c) { return LL2NUM(c->count); }

/*
 * call-seq:
 *   counter.increment -> new count
 *
 *   CleatExamples::MutCounter.new(1).increment #=> 2
 */
CLEAT_EXCLUSIVE(mut_counter_increment, mut_counter_type, counter_t *c)
{
    c->count = checked_add(c, INT2FIX(1));
    return LL2NUM(c->count);
}

/*
 * call-seq:
 *   counter.add(val) -> sum
 *
 * The chapter's safe_add: in Rust the shared borrow had to end before the
 * mutable one began. An exclusive Cleat method holds one borrow throughout,
 * so the buggy_add mistake cannot be written.
 *
 *   CleatExamples::MutCounter.new(1).add(41) #=> 42
 */
CLEAT_EXCLUSIVE(mut_counter_add, mut_counter_type, counter_t *c, val)
{
    c->count = checked_add(c, val);
    return LL2NUM(c->count);
}

void cleat_examples_init_counter(VALUE mod)
{
    (void)mod;
    VALUE counter = cleat_type_define_class(&counter_type, rb_cObject);
    CLEAT_DEFINE_METHOD(counter, "initialize", counter_initialize);
    CLEAT_DEFINE_METHOD(counter, "increment", counter_increment);
    CLEAT_DEFINE_METHOD(counter, "value", counter_value);

    VALUE mut_counter = cleat_type_define_class(&mut_counter_type, rb_cObject);
    CLEAT_DEFINE_METHOD(mut_counter, "initialize", mut_counter_initialize);
    CLEAT_DEFINE_METHOD(mut_counter, "count", mut_counter_count);
    CLEAT_DEFINE_METHOD(mut_counter, "increment", mut_counter_increment);
    CLEAT_DEFINE_METHOD(mut_counter, "add", mut_counter_add);
}
