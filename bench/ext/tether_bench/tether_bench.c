/* tether_bench.c - the same Counter twice, compiled side by side: once the
 * way a careful author writes it with the raw C API (TypedData_Get_Struct in
 * every method), once through Tether's door. Benchmarks compare the two in
 * one process. */
#include "tether.h"

typedef struct counter {
    int64_t count;
} counter_t;

/* ---- raw C API ---- */

static size_t raw_counter_memsize(const void *p)
{
    (void)p;
    return sizeof(counter_t);
}

static const rb_data_type_t raw_counter_type = {
    .wrap_struct_name = "TetherBench::RawCounter",
    .function = {.dmark = NULL, .dfree = RUBY_TYPED_DEFAULT_FREE, .dsize = raw_counter_memsize},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY | RUBY_TYPED_WB_PROTECTED,
};

static VALUE raw_counter_alloc(VALUE klass)
{
    counter_t *c;
    return TypedData_Make_Struct(klass, counter_t, &raw_counter_type, c);
}

static VALUE raw_counter_initialize(VALUE self, VALUE initial)
{
    counter_t *c;
    TypedData_Get_Struct(self, counter_t, &raw_counter_type, c);
    c->count = NUM2LL(initial);
    return self;
}

static VALUE raw_counter_increment(VALUE self, VALUE amount)
{
    counter_t *c;
    TypedData_Get_Struct(self, counter_t, &raw_counter_type, c);
    int64_t sum;
    if (__builtin_add_overflow(c->count, (int64_t)NUM2LL(amount), &sum))
        rb_raise(rb_eRangeError, "result too large");
    c->count = sum;
    return LL2NUM(sum);
}

static VALUE raw_counter_value(VALUE self)
{
    counter_t *c;
    TypedData_Get_Struct(self, counter_t, &raw_counter_type, c);
    return LL2NUM(c->count);
}

/* ---- Tether ---- */

TETHER_TYPE(counter_type, "TetherBench::Counter", counter_t, NULL);

TETHER_INIT(counter_initialize, counter_type, counter_t *c, initial)
{
    c->count = tether_to_int64(initial);
    return self;
}

TETHER_EXCLUSIVE(counter_increment, counter_type, counter_t *c, amount)
{
    int64_t sum;
    if (__builtin_add_overflow(c->count, tether_to_int64(amount), &sum))
        rb_raise(rb_eRangeError, "result too large");
    c->count = sum;
    return LL2NUM(sum);
}

TETHER_SHARED(counter_value, counter_type, counter_t *c) { return LL2NUM(c->count); }

void Init_tether_bench(void)
{
    VALUE mod = rb_define_module("TetherBench");

    VALUE raw = rb_define_class_under(mod, "RawCounter", rb_cObject);
    rb_define_alloc_func(raw, raw_counter_alloc);
    rb_define_method(raw, "initialize", raw_counter_initialize, 1);
    rb_define_method(raw, "increment", raw_counter_increment, 1);
    rb_define_method(raw, "value", raw_counter_value, 0);

    VALUE counter = tether_type_define_class(&counter_type, rb_cObject);
    TETHER_DEFINE_METHOD(counter, "initialize", counter_initialize);
    TETHER_DEFINE_METHOD(counter, "increment", counter_increment);
    TETHER_DEFINE_METHOD(counter, "value", counter_value);
}
