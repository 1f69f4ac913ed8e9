/* cleat_bench.c - the same Counter twice, compiled side by side: once the
 * way a careful author writes it with the raw C API (TypedData_Get_Struct in
 * every method), once through Cleat's door. Benchmarks compare the two in
 * one process. */
#include "cleat.h"
#include "scanner.h"

#include <ruby/debug.h>
#include <ruby/encoding.h>
#include <ruby/io/buffer.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

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
    .wrap_struct_name = "CleatBench::RawCounter",
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

/* ---- raw C API: a Person holder the classic way, not WB-protected ---- */

typedef struct raw_person {
    VALUE name, hobbies, friend;
} raw_person_t;

static void raw_person_mark(void *p)
{
    raw_person_t *person = p;
    rb_gc_mark(person->name);
    rb_gc_mark(person->hobbies);
    rb_gc_mark(person->friend);
}

static size_t raw_person_memsize(const void *p)
{
    (void)p;
    return sizeof(raw_person_t);
}

/* Stores without write barriers, so it may not be WB-protected: every minor
 * GC must mark every one of these objects again. */
static const rb_data_type_t raw_person_type = {
    .wrap_struct_name = "CleatBench::RawPerson",
    .function = {.dmark = raw_person_mark, .dfree = RUBY_TYPED_DEFAULT_FREE, .dsize = raw_person_memsize},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY,
};

static VALUE raw_person_alloc(VALUE klass)
{
    raw_person_t *p;
    VALUE obj = TypedData_Make_Struct(klass, raw_person_t, &raw_person_type, p);
    p->name = p->hobbies = p->friend = Qnil;
    return obj;
}

static VALUE raw_person_initialize(VALUE self, VALUE name, VALUE hobbies)
{
    raw_person_t *p;
    TypedData_Get_Struct(self, raw_person_t, &raw_person_type, p);
    p->name = name;
    p->hobbies = hobbies;
    return self;
}

static VALUE raw_person_add_friend(VALUE self, VALUE other)
{
    raw_person_t *p;
    TypedData_Get_Struct(self, raw_person_t, &raw_person_type, p);
    p->friend = other;
    return self;
}

static VALUE raw_person_name(VALUE self)
{
    raw_person_t *p;
    TypedData_Get_Struct(self, raw_person_t, &raw_person_type, p);
    return p->name;
}

/* ---- full-GC marking: the same Person declared to Cleat twice ---- */

/* One struct, one field list, two types: CleatBench::Person asks Ruby to
 * mark it declaratively where Ruby can (CLEAT_DECL_MARKING, 3.3+) and
 * CleatBench::CallbackPerson is marked the way Cleat chooses, by its
 * generated mark and compaction callbacks. RawWBPerson is the careful hand-written twin:
 * WB-protected, RB_OBJ_WRITE, rb_gc_mark_movable and a compaction callback. */
typedef struct bench_person {
    VALUE name, hobbies, friend;
} bench_person_t;

static cleat_type decl_person_type, callback_person_type;
#define BENCH_PERSON_FIELDS(self_type)                                                                    \
    {                                                                                                     \
        CLEAT_FIELD(bench_person_t, name, &rb_cString), CLEAT_FIELD(bench_person_t, hobbies, &rb_cArray), \
            CLEAT_FIELD_OR_NIL(bench_person_t, friend, &self_type), CLEAT_FIELDS_END                      \
    }
static const cleat_field decl_person_fields[] = BENCH_PERSON_FIELDS(decl_person_type);
static const cleat_field callback_person_fields[] = BENCH_PERSON_FIELDS(callback_person_type);
CLEAT_TYPE(decl_person_type, "CleatBench::Person", bench_person_t, decl_person_fields,
            .flags = CLEAT_DECL_MARKING);
CLEAT_TYPE(callback_person_type, "CleatBench::CallbackPerson", bench_person_t, callback_person_fields);

#define BENCH_PERSON_METHODS(prefix, type)                                     \
    CLEAT_INIT(prefix##_initialize, type, bench_person_t *p, name, hobbies)    \
    {                                                                          \
        cleat_write(self, &p->name, name);                                     \
        cleat_write(self, &p->hobbies, hobbies);                               \
        p->friend = Qnil;                                                      \
        return self;                                                           \
    }                                                                          \
    CLEAT_SHARED(prefix##_name, type, bench_person_t *p) { return p->name; }   \
    CLEAT_EXCLUSIVE(prefix##_add_friend, type, bench_person_t *p, other)       \
    {                                                                          \
        cleat_unwrap(other, &type);                                            \
        cleat_write(self, &p->friend, other);                                  \
        return self;                                                           \
    }
BENCH_PERSON_METHODS(decl_person, decl_person_type)
BENCH_PERSON_METHODS(callback_person, callback_person_type)

#define DEFINE_BENCH_PERSON(prefix, type)                               \
    do {                                                                \
        VALUE klass = cleat_type_define_class(&type, rb_cObject);       \
        CLEAT_DEFINE_METHOD(klass, "initialize", prefix##_initialize);  \
        CLEAT_DEFINE_METHOD(klass, "name", prefix##_name);              \
        CLEAT_DEFINE_METHOD(klass, "add_friend", prefix##_add_friend);  \
    } while (0)

static void raw_wb_person_mark(void *p)
{
    raw_person_t *person = p;
    rb_gc_mark_movable(person->name);
    rb_gc_mark_movable(person->hobbies);
    rb_gc_mark_movable(person->friend);
}

static void raw_wb_person_compact(void *p)
{
    raw_person_t *person = p;
    person->name = rb_gc_location(person->name);
    person->hobbies = rb_gc_location(person->hobbies);
    person->friend = rb_gc_location(person->friend);
}

static const rb_data_type_t raw_wb_person_type = {
    .wrap_struct_name = "CleatBench::RawWBPerson",
    .function = {.dmark = raw_wb_person_mark,
                 .dfree = RUBY_TYPED_DEFAULT_FREE,
                 .dsize = raw_person_memsize,
                 .dcompact = raw_wb_person_compact},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY | RUBY_TYPED_WB_PROTECTED,
};

static VALUE raw_wb_person_alloc(VALUE klass)
{
    raw_person_t *p;
    VALUE obj = TypedData_Make_Struct(klass, raw_person_t, &raw_wb_person_type, p);
    p->name = p->hobbies = p->friend = Qnil;
    return obj;
}

static VALUE raw_wb_person_initialize(VALUE self, VALUE name, VALUE hobbies)
{
    raw_person_t *p;
    TypedData_Get_Struct(self, raw_person_t, &raw_wb_person_type, p);
    RB_OBJ_WRITE(self, &p->name, StringValue(name));
    RB_OBJ_WRITE(self, &p->hobbies, rb_Array(hobbies));
    return self;
}

static VALUE raw_wb_person_add_friend(VALUE self, VALUE other)
{
    raw_person_t *p;
    TypedData_Get_Struct(self, raw_person_t, &raw_wb_person_type, p);
    rb_check_typeddata(other, &raw_wb_person_type);
    RB_OBJ_WRITE(self, &p->friend, other);
    return self;
}

static VALUE raw_wb_person_name(VALUE self)
{
    raw_person_t *p;
    TypedData_Get_Struct(self, raw_person_t, &raw_wb_person_type, p);
    return p->name;
}

static VALUE bench_declarative_marking_p(VALUE mod)
{
    (void)mod;
    return cleat_type_declarative(&decl_person_type) ? Qtrue : Qfalse;
}

/* ---- GC mark time: from the start of a GC to the end of its marking ---- */

/* Written only by the hook, which runs inside the GC (no Ruby API there). */
static struct gc_timer {
    double started; /* 0 when no GC is marking */
    double marking_ns;
    long marks;
} gc_timer;
static VALUE gc_timer_tracepoint = Qfalse;

/* CPU time of this thread, what every timing here uses (the GC runs on it
 * too: neither 3.1 nor 3.3 marks in parallel): on a shared machine the time
 * other processes take is not counted. */
static double thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void gc_timer_hook(VALUE tracepoint, void *data)
{
    (void)data;
    rb_event_flag_t event = rb_tracearg_event_flag(rb_tracearg_from_tracepoint(tracepoint));
    double now = thread_cpu_ns();
    if (event == RUBY_INTERNAL_EVENT_GC_START) {
        gc_timer.started = now;
    } else if (event == RUBY_INTERNAL_EVENT_GC_END_MARK && gc_timer.started > 0) {
        gc_timer.marking_ns += now - gc_timer.started;
        gc_timer.marks++;
        gc_timer.started = 0;
    }
}

static VALUE gc_timer_stop(VALUE unused)
{
    (void)unused;
    rb_tracepoint_disable(gc_timer_tracepoint);
    return Qnil;
}

/* CleatBench.gc_mark_ns { GC.start } -> [CPU ns spent marking, number of
 * GCs that marked] while the block ran: from each GC's start event to its
 * end-of-marking event. */
static VALUE bench_gc_mark_ns(VALUE mod)
{
    (void)mod;
    rb_need_block();
    if (gc_timer_tracepoint == Qfalse) {
        gc_timer_tracepoint = rb_tracepoint_new(0, RUBY_INTERNAL_EVENT_GC_START | RUBY_INTERNAL_EVENT_GC_END_MARK,
                                                gc_timer_hook, NULL);
        rb_gc_register_address(&gc_timer_tracepoint);
    }
    gc_timer = (struct gc_timer){0, 0, 0};
    rb_tracepoint_enable(gc_timer_tracepoint);
    rb_ensure(rb_yield, Qnil, gc_timer_stop, Qnil);
    return rb_assoc_new(DBL2NUM(gc_timer.marking_ns), LONG2NUM(gc_timer.marks));
}

/* ---- for the ffi gem: the same increment as a plain exported C function ---- */

__attribute__((visibility("default"))) int64_t cleat_bench_ffi_increment(int64_t *count, int64_t amount)
{
    int64_t sum;
    if (__builtin_add_overflow(*count, amount, &sum)) return *count;
    *count = sum;
    return sum;
}

/* ---- process memory, for bytes-per-object figures ---- */

static VALUE bench_rss_bytes(VALUE mod)
{
    (void)mod;
    long pages_total = 0, pages_resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return Qnil;
    int n = fscanf(f, "%ld %ld", &pages_total, &pages_resident);
    fclose(f);
    if (n != 2) return Qnil;
    return LONG2NUM(pages_resident * sysconf(_SC_PAGESIZE));
}

/* ---- Cleat ---- */

CLEAT_TYPE(counter_type, "CleatBench::Counter", counter_t, NULL);

CLEAT_INIT(counter_initialize, counter_type, counter_t *c, initial)
{
    c->count = cleat_to_int64(initial);
    return self;
}

CLEAT_EXCLUSIVE(counter_increment, counter_type, counter_t *c, amount)
{
    int64_t sum;
    if (__builtin_add_overflow(c->count, cleat_to_int64(amount), &sum))
        rb_raise(rb_eRangeError, "result too large");
    c->count = sum;
    return LL2NUM(sum);
}

CLEAT_SHARED(counter_value, counter_type, counter_t *c) { return LL2NUM(c->count); }

/* ---- strings: raw rb_str_new and Ruby's scan on the same bytes ---- */

static void buffer_bytes(VALUE buffer, const void **base, size_t *size)
{
    rb_io_buffer_get_bytes_for_reading(buffer, base, size);
}

/* What a hand-written extension does: rb_str_new over the bytes. */
static VALUE bench_raw_str_new(VALUE mod, VALUE buffer)
{
    (void)mod;
    const void *base;
    size_t size;
    buffer_bytes(buffer, &base, &size);
    return rb_str_new(base, (long)size);
}

/* Ruby's own UTF-8 validation: forget the coderange, scan again. */
static VALUE bench_ruby_scan(VALUE mod, VALUE str)
{
    (void)mod;
    RB_ENC_CODERANGE_CLEAR(str);
    return INT2FIX(rb_enc_str_coderange(str));
}

/* Cleat's validator alone, with the named implementation. */
static VALUE bench_cleat_validate(VALUE mod, VALUE buffer, VALUE implementation)
{
    (void)mod;
    const void *base;
    size_t size, offset;
    buffer_bytes(buffer, &base, &size);
    if (!cleat_str_utf8_use(StringValueCStr(implementation))) return Qnil;
    cleat_utf8_result r = cleat_str_utf8_check(base, size, &offset);
    cleat_str_utf8_use(NULL);
    return INT2FIX(r);
}

static VALUE bench_utf8_implementations(VALUE mod)
{
    (void)mod;
    VALUE list = rb_ary_new();
    const char *names[] = {"avx2", "ssse3", "portable"};
    for (int i = 0; i < 3; i++) {
        if (cleat_str_utf8_use(names[i])) rb_ary_push(list, rb_str_new_cstr(names[i]));
    }
    cleat_str_utf8_use(NULL);
    return list;
}

/* ---- views: a checked access against a raw pointer read ---- */

typedef struct bench_region {
    cleat_region region;
} bench_region_t;
static const cleat_field bench_region_fields[] = {CLEAT_FIELD_REGION(bench_region_t, region), CLEAT_FIELDS_END};
CLEAT_TYPE(bench_region_type, "CleatBench::Region", bench_region_t, bench_region_fields);

typedef struct bench_view {
    cleat_view view;
} bench_view_t;
static const cleat_field bench_view_fields[] = {CLEAT_FIELD_VIEW(bench_view_t, view, &bench_region_type),
                                                 CLEAT_FIELDS_END};
CLEAT_TYPE(bench_view_type, "CleatBench::View", bench_view_t, bench_view_fields);

CLEAT_INIT(bench_region_initialize, bench_region_type, bench_region_t *r, size)
{
    cleat_region_resize(self, &r->region, cleat_to_size(size));
    for (size_t i = 0; i < r->region.size; i++) r->region.base[i] = (unsigned char)i;
    return self;
}

CLEAT_SHARED(bench_region_view, bench_region_type, bench_region_t *r)
{
    VALUE obj;
    bench_view_t *v = cleat_type_new(&bench_view_type, &obj);
    cleat_view_init(obj, &v->view, self, &r->region, 0, r->region.size);
    cleat_type_ready(obj);
    return obj;
}

/* One access each, kept out of line so the check cannot be hoisted out of
 * the measuring loop: the difference is what every access pays. */
__attribute__((noinline)) static unsigned char checked_read(const cleat_view *v, size_t i)
{
    return cleat_view_bytes(v)[i];
}
__attribute__((noinline)) static unsigned char raw_read(const unsigned char *p, size_t i) { return p[i]; }

/* [ns per checked access, ns per raw access] over n reads. */
CLEAT_SHARED(bench_view_access_ns, bench_view_type, bench_view_t *v, iterations)
{
    size_t n = cleat_to_size(iterations), len = v->view.length;
    if (!len) rb_raise(rb_eArgError, "empty view");
    const unsigned char *p = cleat_view_bytes(&v->view);
    unsigned sum = 0;
    double t0 = thread_cpu_ns();
    for (size_t i = 0; i < n; i++) sum += checked_read(&v->view, i % len);
    double t1 = thread_cpu_ns();
    for (size_t i = 0; i < n; i++) sum += raw_read(p, i % len);
    double t2 = thread_cpu_ns();
    RB_GC_GUARD(self);
    return rb_ary_new_from_args(3, DBL2NUM((t1 - t0) / (double)n), DBL2NUM((t2 - t1) / (double)n), UINT2NUM(sum));
}

/* ---- Field stores: cleat_write, cleat_write_known, raw RB_OBJ_WRITE ----
 * A scanner-shaped struct: four VALUE fields among plain members, the store
 * going to the last declared field (cleat_write's lookup walks them all).
 * Every setter checks the argument's class itself first, as a real method
 * does (StringValue, Check_Type); cleat_write then checks it again,
 * cleat_write_known does not. */

typedef struct store {
    VALUE source;  /* a String */
    int64_t pos, prev;
    VALUE regex;   /* a Regexp or nil */
    VALUE match;   /* anything */
    uint32_t flags;
    VALUE last;    /* a String or nil: the field stored to */
} store_t;
static const cleat_field store_fields[] = {
    CLEAT_FIELD(store_t, source, &rb_cString),
    CLEAT_FIELD_OR_NIL(store_t, regex, &rb_cRegexp),
    CLEAT_FIELD_ANY(store_t, match),
    CLEAT_FIELD_OR_NIL(store_t, last, &rb_cString),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(store_type, "CleatBench::Store", store_t, store_fields);

CLEAT_INIT(store_initialize, store_type, store_t *st, source)
{
    Check_Type(source, T_STRING);
    cleat_write(self, &st->source, source);
    return self;
}
CLEAT_EXCLUSIVE(store_set_checked, store_type, store_t *st, str)
{
    Check_Type(str, T_STRING);
    cleat_write(self, &st->last, str);
    return self;
}
CLEAT_EXCLUSIVE(store_set_known, store_type, store_t *st, str)
{
    Check_Type(str, T_STRING);
    cleat_write_known(self, &st->last, str);
    return self;
}

/* [cleat_write, cleat_write_known, RB_OBJ_WRITE] ns per store of a and b in
 * turn into the same field, n stores each. */
CLEAT_EXCLUSIVE(store_store_ns, store_type, store_t *st, a, b, iterations)
{
    Check_Type(a, T_STRING);
    Check_Type(b, T_STRING);
    size_t n = cleat_to_size(iterations);
    VALUE v[2] = {a, b};
    double t0 = thread_cpu_ns();
    for (size_t i = 0; i < n; i++) cleat_write(self, &st->last, v[i & 1]);
    double t1 = thread_cpu_ns();
    for (size_t i = 0; i < n; i++) cleat_write_known(self, &st->last, v[i & 1]);
    double t2 = thread_cpu_ns();
    for (size_t i = 0; i < n; i++) RB_OBJ_WRITE(self, &st->last, v[i & 1]);
    double t3 = thread_cpu_ns();
    double count = n ? (double)n : 1.0;
    return rb_ary_new_from_args(3, DBL2NUM((t1 - t0) / count), DBL2NUM((t2 - t1) / count),
                                DBL2NUM((t3 - t2) / count));
}

/* The raw twin: WB-protected TypedData with its own mark and compact. */
static void raw_store_mark(void *p)
{
    store_t *st = p;
    rb_gc_mark_movable(st->source);
    rb_gc_mark_movable(st->regex);
    rb_gc_mark_movable(st->match);
    rb_gc_mark_movable(st->last);
}
static void raw_store_compact(void *p)
{
    store_t *st = p;
    st->source = rb_gc_location(st->source);
    st->regex = rb_gc_location(st->regex);
    st->match = rb_gc_location(st->match);
    st->last = rb_gc_location(st->last);
}
static size_t raw_store_memsize(const void *p)
{
    (void)p;
    return sizeof(store_t);
}
static const rb_data_type_t raw_store_type = {
    .wrap_struct_name = "CleatBench::RawStore",
    .function = {.dmark = raw_store_mark, .dfree = RUBY_TYPED_DEFAULT_FREE, .dsize = raw_store_memsize,
                 .dcompact = raw_store_compact},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY | RUBY_TYPED_WB_PROTECTED,
};
static VALUE raw_store_alloc(VALUE klass)
{
    store_t *st;
    VALUE obj = TypedData_Make_Struct(klass, store_t, &raw_store_type, st);
    st->source = st->regex = st->match = st->last = Qnil;
    return obj;
}
static VALUE raw_store_initialize(VALUE self, VALUE source)
{
    store_t *st;
    TypedData_Get_Struct(self, store_t, &raw_store_type, st);
    Check_Type(source, T_STRING);
    RB_OBJ_WRITE(self, &st->source, source);
    return self;
}
static VALUE raw_store_set(VALUE self, VALUE str)
{
    store_t *st;
    TypedData_Get_Struct(self, store_t, &raw_store_type, st);
    rb_check_frozen(self);
    Check_Type(str, T_STRING);
    RB_OBJ_WRITE(self, &st->last, str);
    return self;
}

void Init_cleat_bench(void)
{
    VALUE mod = rb_define_module("CleatBench");

    VALUE store = cleat_type_define_class(&store_type, rb_cObject);
    CLEAT_DEFINE_METHOD(store, "initialize", store_initialize);
    CLEAT_DEFINE_METHOD(store, "set_checked", store_set_checked);
    CLEAT_DEFINE_METHOD(store, "set_known", store_set_known);
    CLEAT_DEFINE_METHOD(store, "store_ns", store_store_ns);
    VALUE raw_store = rb_define_class_under(mod, "RawStore", rb_cObject);
    rb_define_alloc_func(raw_store, raw_store_alloc);
    rb_define_method(raw_store, "initialize", raw_store_initialize, 1);
    rb_define_method(raw_store, "set", raw_store_set, 1);

    VALUE raw = rb_define_class_under(mod, "RawCounter", rb_cObject);
    rb_define_alloc_func(raw, raw_counter_alloc);
    rb_define_method(raw, "initialize", raw_counter_initialize, 1);
    rb_define_method(raw, "increment", raw_counter_increment, 1);
    rb_define_method(raw, "value", raw_counter_value, 0);

    VALUE counter = cleat_type_define_class(&counter_type, rb_cObject);
    CLEAT_DEFINE_METHOD(counter, "initialize", counter_initialize);
    CLEAT_DEFINE_METHOD(counter, "increment", counter_increment);
    CLEAT_DEFINE_METHOD(counter, "value", counter_value);

    VALUE raw_person = rb_define_class_under(mod, "RawPerson", rb_cObject);
    rb_define_alloc_func(raw_person, raw_person_alloc);
    rb_define_method(raw_person, "initialize", raw_person_initialize, 2);
    rb_define_method(raw_person, "add_friend", raw_person_add_friend, 1);
    rb_define_method(raw_person, "name", raw_person_name, 0);
    rb_define_module_function(mod, "rss_bytes", bench_rss_bytes, 0);
    DEFINE_BENCH_PERSON(decl_person, decl_person_type);
    DEFINE_BENCH_PERSON(callback_person, callback_person_type);
    VALUE raw_wb_person = rb_define_class_under(mod, "RawWBPerson", rb_cObject);
    rb_define_alloc_func(raw_wb_person, raw_wb_person_alloc);
    rb_define_method(raw_wb_person, "initialize", raw_wb_person_initialize, 2);
    rb_define_method(raw_wb_person, "add_friend", raw_wb_person_add_friend, 1);
    rb_define_method(raw_wb_person, "name", raw_wb_person_name, 0);
    rb_define_module_function(mod, "declarative_marking?", bench_declarative_marking_p, 0);
    rb_define_module_function(mod, "gc_mark_ns", bench_gc_mark_ns, 0);


    rb_define_module_function(mod, "raw_str_new", bench_raw_str_new, 1);
    rb_define_module_function(mod, "ruby_scan", bench_ruby_scan, 1);
    rb_define_module_function(mod, "cleat_validate", bench_cleat_validate, 2);
    rb_define_module_function(mod, "utf8_implementations", bench_utf8_implementations, 0);

    VALUE region = cleat_type_define_class(&bench_region_type, rb_cObject);
    CLEAT_DEFINE_METHOD(region, "initialize", bench_region_initialize);
    CLEAT_DEFINE_METHOD(region, "view", bench_region_view);
    VALUE view = cleat_type_define_class(&bench_view_type, rb_cObject);
    CLEAT_DEFINE_METHOD(view, "access_ns", bench_view_access_ns);

    scanner_raw_define(mod);
    scanner_cleat_define(mod);
}
