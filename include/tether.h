/*
 * tether.h - Ruby native extensions in C that cannot crash the interpreter.
 *
 * This header is the manual. It is grouped by area; every public function
 * says what it does, what it raises and who owns what.
 *
 *   1. Set-up             tether_init
 *   2. Types              tether_type, TETHER_TYPE, TETHER_FIELD*, tether_type_*
 *   3. Fields             tether_write, tether_values_*
 *   4. Unwrapping         tether_unwrap, tether_unwrap_mut, tether_is
 *   5. Methods (the door) TETHER_SHARED, TETHER_EXCLUSIVE, TETHER_INIT,
 *                         TETHER_DEFINE_METHOD
 *   6. Borrowing          tether_borrow_*, TETHER_YIELD, TETHER_CALL, TETHER_LEND
 *   7. Without the GVL    tether_without_gvl, TETHER_WITHOUT_GVL
 *   8. Arguments          tether_to_int64, tether_to_uint64, tether_to_size,
 *                         tether_check_kind
 *   9. Errors             tether_eError, tether_eBorrowError, tether_eStaleReferenceError,
 *                         tether_exception_new
 *  10. GC helpers         tether_gc_*
 *  11. Guarded memory     tether_region_*, tether_view_*
 *  12. Strings            tether_str_*
 *  13. Debug builds       TETHER_DEBUG, tether_mark_field
 *
 * Everything here is compiled into the extension that uses it (no shared
 * library): symbols are hidden, so several Tether-based gems coexist.
 */
#ifndef TETHER_H
#define TETHER_H 1

#include <ruby.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TETHER_VERSION "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define TETHER_API __attribute__((visibility("hidden")))
#define TETHER_NORETURN __attribute__((noreturn))
#define TETHER_UNUSED __attribute__((unused))
#define TETHER_LIKELY(x) __builtin_expect(!!(x), 1)
#define TETHER_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TETHER_INLINE static inline __attribute__((always_inline))
#else
#define TETHER_API
#define TETHER_NORETURN
#define TETHER_UNUSED
#define TETHER_LIKELY(x) (x)
#define TETHER_UNLIKELY(x) (x)
#define TETHER_INLINE static inline
#endif

/* ======================================================================
 * 1. Set-up
 * ====================================================================== */

/* Defines (or finds, when another Tether-based extension got there first)
 * the module Tether and its exception classes. Idempotent; called for you by
 * tether_type_define_class, so an Init_ function rarely needs it. */
TETHER_API void tether_init(void);

/* ======================================================================
 * 2. Types: a C struct described once, everything else derived
 * ======================================================================
 *
 *   typedef struct { VALUE name, hobbies, friend; } person_t;
 *   static tether_type person_type;
 *   static const tether_field person_fields[] = {
 *       TETHER_FIELD(person_t, name, &rb_cString),           // a String
 *       TETHER_FIELD(person_t, hobbies, &rb_cArray),         // an Array
 *       TETHER_FIELD_OR_NIL(person_t, friend, &person_type), // a Person or nil
 *       TETHER_FIELDS_END};
 *   TETHER_TYPE(person_type, "TetherExamples::Person", person_t, person_fields);
 *
 * From the description Tether derives mark (rb_gc_mark_movable), compaction
 * (rb_gc_location), memsize, allocation (zeroed), free and dup/clone. Types
 * are RUBY_TYPED_FREE_IMMEDIATELY and RUBY_TYPED_WB_PROTECTED unless a flag
 * says otherwise; every VALUE field is stored with tether_write.
 */

typedef struct tether_type tether_type;

/* A counted array of VALUEs that the struct owns: declare it with
 * TETHER_FIELD_VALUES and Tether marks, moves, sizes and frees it. Grow it
 * only with tether_values_push (GC-safe at every step). */
typedef struct tether_values {
    VALUE *ptr;  /* ptr[0..len) are live and marked */
    size_t len;
    size_t capa; /* allocated slots, capa >= len */
} tether_values;

enum tether_field_kind {
    TETHER_KIND_END = 0,
    TETHER_KIND_VALUE = 1,  /* one VALUE */
    TETHER_KIND_VALUES = 2, /* a tether_values */
    TETHER_KIND_REGION = 3, /* a tether_region (section 11) */
};

/* One declared field. Build these with the TETHER_FIELD* macros. */
typedef struct tether_field {
    const char *name;
    size_t offset;
    int kind;                /* enum tether_field_kind */
    bool nil_ok;             /* nil accepted even when a class is checked */
    const VALUE *klass;      /* values must be kind_of?(*klass), or NULL */
    const tether_type *type; /* values must be this Tether type, or NULL */
} tether_field;

/* Type flags (tether_type.flags). */
enum tether_type_flag {
    TETHER_COPYABLE = 1u << 0,          /* dup/clone copy the struct member by member */
    TETHER_NOT_WB_PROTECTED = 1u << 1,  /* for hand-written marks that store without tether_write */
    TETHER_DEFERRED_FREE = 1u << 2,     /* free callback may use the Ruby API (not free_immediately) */
    TETHER_ZERO_IS_VALID = 1u << 3,     /* a zeroed struct is a usable object: allocate initialises */
    TETHER_MARK_BY_HAND = 1u << 4,      /* the mark callback marks the declared fields itself
                                           (rb_gc_mark: pinned); debug builds check it does */
    TETHER_FROZEN_SHAREABLE = 1u << 5,  /* Ractor.make_shareable may deep-freeze and share it:
                                           its fields must then hold shareable values */
    TETHER_NO_DECL_MARKING = 1u << 6,   /* keep Tether's mark and compaction callbacks even
                                           where Ruby could mark the fields declaratively
                                           (3.3+): for comparing the two, or for debugging */
};

/* Per-type functions generated by TETHER_TYPE; not for direct use. */
typedef struct tether_type_hooks {
    void (*mark)(void *data);
    void (*free)(void *data);
    size_t (*memsize)(const void *data);
    void (*compact)(void *data);
    VALUE (*alloc)(VALUE klass);
    VALUE (*init_copy)(VALUE self, VALUE orig);
} tether_type_hooks;

struct tether_type {
    /* --- described by the user (TETHER_TYPE fills the first four) --- */
    const char *class_path;     /* "Outer::Inner::Name" */
    size_t size;                /* sizeof the struct */
    size_t align;               /* _Alignof the struct, at most 16 */
    const tether_field *fields; /* ends with TETHER_FIELDS_END; NULL for none */

    /* Optional callbacks, given as designated initializers to TETHER_TYPE. */
    /* Releases memory the struct owns (not tether_values: Tether frees those).
     * Runs during GC: no Ruby API unless TETHER_DEFERRED_FREE. */
    void (*free)(void *data);
    /* Bytes the struct owns beyond itself and its tether_values. */
    size_t (*memsize)(const void *data);
    /* Marks what fields cannot express. Use rb_gc_mark (pins), or
     * rb_gc_mark_movable together with a compact callback. */
    void (*mark)(void *data);
    /* After compaction: update what mark marked movable with rb_gc_location. */
    void (*compact)(void *data);
    /* dup/clone: dst is zeroed; store VALUEs with tether_write(self, ...).
     * Without it (and without TETHER_COPYABLE) dup/clone raise TypeError. */
    void (*copy)(VALUE self, void *dst, const void *src);
    unsigned int flags; /* enum tether_type_flag */

    /* --- filled by Tether --- */
    tether_type_hooks hooks;
    rb_data_type_t rb; /* what Ruby sees; valid once the class is defined */
    VALUE klass;       /* the class, once defined */
    size_t prefix;     /* bytes allocated before the struct: header (and debug shadow) */
    size_t value_fields; /* number of TETHER_KIND_VALUE fields */
    size_t *references;  /* Ruby >= 3.3: offsets Ruby marks itself (declarative), or NULL */
};

/* Declares a field holding one VALUE, checked when written: `check` is the
 * address of a class (&rb_cString, &my_class) or of a tether_type. nil is
 * refused unless the _OR_NIL form is used. */
#define TETHER_FIELD(T, f, check) TETHER__FIELD(T, f, TETHER__IS_VALUE(T, f), false, check)
#define TETHER_FIELD_OR_NIL(T, f, check) TETHER__FIELD(T, f, TETHER__IS_VALUE(T, f), true, check)
/* A field holding any VALUE. */
#define TETHER_FIELD_ANY(T, f) TETHER__FIELD(T, f, TETHER__IS_VALUE(T, f), true, NULL)
/* A tether_values field; elements are checked like TETHER_FIELD's. */
#define TETHER_FIELD_VALUES(T, f, check) TETHER__FIELD(T, f, TETHER__IS_VALUES(T, f), false, check)
#define TETHER_FIELD_VALUES_ANY(T, f) TETHER__FIELD(T, f, TETHER__IS_VALUES(T, f), true, NULL)
/* A tether_region field (section 11): Tether frees its memory, counts it in
 * memsize and marks the IO::Buffers lent over it. */
#define TETHER_FIELD_REGION(T, f) TETHER__FIELD(T, f, TETHER__IS_REGION(T, f), true, NULL)
/* A tether_view field (section 11) whose owner must be of owner_type. */
#define TETHER_FIELD_VIEW(T, f, owner_type) \
    TETHER__FIELD(T, f.owner, TETHER__IS_VALUE(T, f.owner), false, owner_type)
#define TETHER_FIELDS_END {NULL, 0, TETHER_KIND_END, false, NULL, NULL}

/* Defines `static tether_type var` for struct T and the per-type functions
 * Ruby calls. Optional members follow as designated initializers:
 *   TETHER_TYPE(mem_type, "M::Memory", mem_t, mem_fields,
 *               .free = mem_free, .memsize = mem_size, .flags = TETHER_COPYABLE); */
#define TETHER_TYPE(var, path, T, field_list, ...)                                        \
    static tether_type var;                                                               \
    static void var##__mark(void *p) { tether__type_mark(&var, p); }                      \
    static void var##__free(void *p) { tether__type_free(&var, p); }                      \
    static size_t var##__memsize(const void *p) { return tether__type_memsize(&var, p); } \
    static void var##__compact(void *p) { tether__type_compact(&var, p); }                \
    static VALUE var##__alloc(VALUE klass) { return tether__type_alloc(&var, klass); }    \
    static VALUE var##__init_copy(VALUE self, VALUE orig)                                 \
    {                                                                                     \
        return tether__type_init_copy(&var, self, orig);                                  \
    }                                                                                     \
    _Static_assert(_Alignof(T) <= 16, "Tether types need alignment of at most 16");       \
    static tether_type var = {.class_path = (path),                                       \
                              .size = sizeof(T),                                          \
                              .align = _Alignof(T),                                       \
                              .fields = (field_list),                                     \
                              .hooks = {var##__mark, var##__free, var##__memsize,         \
                                        var##__compact, var##__alloc, var##__init_copy},  \
                              __VA_ARGS__}

/* Defines the class named by type->class_path (creating missing outer
 * modules) as a subclass of `super`, with Tether's allocator and
 * initialize_copy. Returns the class. Raises TypeError when the name is taken
 * by something else, ArgumentError for an inconsistent description (a
 * TETHER_COPYABLE type with a free callback but no copy callback). */
TETHER_API VALUE tether_type_define_class(tether_type *type, VALUE super);

/* Makes a new, initialised object of `type` with a zeroed struct, stores it
 * in *obj and returns the struct for the caller to fill. The object is
 * owned by Ruby; keep it in a local VALUE while you fill it. */
TETHER_API void *tether_type_new(const tether_type *type, VALUE *obj);

/* The Tether type of obj, or NULL when obj is not a Tether object. */
TETHER_API const tether_type *tether_type_of(VALUE obj);

/* True when Ruby marks and moves the type's references itself from a list
 * of offsets (RUBY_TYPED_DECL_MARKING, Ruby 3.3+), with no mark or
 * compaction callback: what Tether chooses for types whose references are
 * all declared VALUE fields. */
TETHER_API bool tether_type_declarative(const tether_type *type);

/* Declares the calling extension Ractor-safe (rb_ext_ractor_safe), so its
 * methods may run in any Ractor. Call first thing in Init_. Tether's own
 * state is Ractor-safe; loans are not taken on frozen objects, so a
 * TETHER_FROZEN_SHAREABLE object shared between Ractors is only read. */
TETHER_API void tether_ractor_safe(void);

/* ======================================================================
 * 3. Fields: the one way to store a VALUE
 * ====================================================================== */

/* Stores value into *slot, a declared VALUE field of self's struct or an
 * element of one of its tether_values, with the write barrier. Raises
 * TypeError "X#field: wrong argument type A (expected B)" when the field's
 * check refuses the value, ArgumentError when slot is not declared. */
TETHER_API void tether_write(VALUE self, VALUE *slot, VALUE value);

/* Appends value to vals, a declared tether_values field of self's struct,
 * checking it like tether_write. Returns the new length. Raises TypeError,
 * ArgumentError (undeclared), NoMemoryError. */
TETHER_API size_t tether_values_push(VALUE self, tether_values *vals, VALUE value);

/* Element i of vals. Raises IndexError when i >= len. */
TETHER_API VALUE tether_values_get(const tether_values *vals, size_t i);

/* A new Array holding vals' elements (the elements are shared, not copied). */
TETHER_API VALUE tether_values_to_ary(const tether_values *vals);

/* Forgets every element (keeps the allocation). */
TETHER_API void tether_values_clear(tether_values *vals);

/* ======================================================================
 * 4. Unwrapping: from a VALUE to its struct, checked
 * ====================================================================== */

/* The state word before every struct (not for direct use). */
typedef struct tether_header {
    uint32_t state;  /* TETHER__INIT | TETHER__LENT_EXCL | shared count * TETHER__SHARED_ONE */
    uint32_t holder; /* ID of the method that lent the object, 0 if unknown */
} tether_header;

#define TETHER__INIT 1u
#define TETHER__LENT_EXCL 2u
#define TETHER__SHARED_ONE 4u

typedef enum tether_borrow_mode {
    TETHER_BORROW_SHARED = 1,    /* reads: other shared users may run alongside */
    TETHER_BORROW_EXCLUSIVE = 2, /* writes: nobody else may touch the object */
} tether_borrow_mode;

TETHER_API TETHER_NORETURN void tether__enter_failed(VALUE obj, const tether_type *type,
                                                     int mode);

TETHER_INLINE tether_header *tether__header(void *data) { return (tether_header *)data - 1; }

/* The hot path: a type, frozen, initialised and borrow check in four loads.
 * mode is TETHER_BORROW_SHARED, TETHER_BORROW_EXCLUSIVE or 0 (initialize). */
TETHER_INLINE void *tether__enter(VALUE obj, const tether_type *type, int mode)
{
    if (TETHER_LIKELY(!RB_SPECIAL_CONST_P(obj))) {
        VALUE mask = mode == TETHER_BORROW_SHARED ? (VALUE)RUBY_T_MASK
                                                  : (VALUE)(RUBY_T_MASK | RUBY_FL_FREEZE);
        if (TETHER_LIKELY((RBASIC(obj)->flags & mask) == RUBY_T_DATA &&
                          RTYPEDDATA_TYPE(obj) == &type->rb)) {
            void *data = RTYPEDDATA_DATA(obj);
            uint32_t s = tether__header(data)->state;
            if (mode == TETHER_BORROW_SHARED) {
                if (TETHER_LIKELY((s & (TETHER__INIT | TETHER__LENT_EXCL)) == TETHER__INIT))
                    return data;
            } else if (TETHER_LIKELY(s == (mode ? TETHER__INIT : 0u))) {
                return data;
            }
        }
    }
    tether__enter_failed(obj, type, mode);
}

/* The struct of obj for reading. Raises TypeError "wrong argument type A
 * (expected B)" or "uninitialized B", Tether::BorrowError when obj is lent
 * exclusively. The pointer is valid until the next call into Ruby. */
TETHER_INLINE void *tether_unwrap(VALUE obj, const tether_type *type)
{
    return tether__enter(obj, type, TETHER_BORROW_SHARED);
}

/* The struct of obj for writing: as tether_unwrap, and also FrozenError when
 * obj is frozen, Tether::BorrowError when obj is lent at all. */
TETHER_INLINE void *tether_unwrap_mut(VALUE obj, const tether_type *type)
{
    return tether__enter(obj, type, TETHER_BORROW_EXCLUSIVE);
}

/* True when obj is an object of `type` (initialised or not). Never raises. */
TETHER_INLINE bool tether_is(VALUE obj, const tether_type *type)
{
    return !RB_SPECIAL_CONST_P(obj) && RB_BUILTIN_TYPE(obj) == RUBY_T_DATA &&
           RTYPEDDATA_P(obj) && RTYPEDDATA_TYPE(obj) == &type->rb;
}

/* ======================================================================
 * 5. Methods: the door
 * ======================================================================
 *
 *   TETHER_SHARED(counter_value, counter_type, counter_t *c) {
 *       return LL2NUM(c->count);
 *   }
 *   TETHER_EXCLUSIVE(counter_increment, counter_type, counter_t *c, amount) { ... }
 *   TETHER_INIT(counter_initialize, counter_type, counter_t *c, initial) { ... }
 *   ...
 *   TETHER_DEFINE_METHOD(klass, "value", counter_value);
 *
 * Each macro defines the Ruby-facing function `name` (arity 0..15, taken from
 * the argument names after the struct pointer) and opens the body, which
 * receives `self`, the checked struct pointer and the arguments as VALUEs.
 * The door checks the receiver's type, that it was initialised, its borrow
 * state, and (exclusive) that it is not frozen; nothing else, and nothing on
 * the way out. Bodies that call Ruby code (yield, call a method, release the
 * GVL) do it through TETHER_YIELD, TETHER_CALL, TETHER_LEND and
 * TETHER_WITHOUT_GVL, which lend the object for the duration.
 *
 * TETHER_INIT is for `initialize`: it refuses objects already initialised
 * (TypeError "already initialized X") and marks the object initialised when
 * the body returns normally; until then every other method raises TypeError
 * "uninitialized X". The _ARGV forms take (int argc, const VALUE *argv).
 */
#define TETHER_SHARED(name, type, ...) TETHER__DOOR_N(TETHER_BORROW_SHARED, name, type, __VA_ARGS__)
#define TETHER_EXCLUSIVE(name, type, ...) \
    TETHER__DOOR_N(TETHER_BORROW_EXCLUSIVE, name, type, __VA_ARGS__)
#define TETHER_INIT(name, type, ...) TETHER__DOOR_N(0, name, type, __VA_ARGS__)
#define TETHER_SHARED_ARGV(name, type, decl) TETHER__DOOR_ARGV(TETHER_BORROW_SHARED, name, type, decl)
#define TETHER_EXCLUSIVE_ARGV(name, type, decl) \
    TETHER__DOOR_ARGV(TETHER_BORROW_EXCLUSIVE, name, type, decl)
#define TETHER_INIT_ARGV(name, type, decl) TETHER__DOOR_ARGV(0, name, type, decl)

/* rb_define_method with the arity the door macro recorded. */
#define TETHER_DEFINE_METHOD(klass, ruby_name, name) \
    rb_define_method((klass), (ruby_name), (name), name##__arity)

/* Marks obj initialised after TETHER_INIT's body returned (not for direct use). */
TETHER_INLINE void tether__initialized(void *data) { tether__header(data)->state |= TETHER__INIT; }

#define TETHER__STRIP(...) __VA_ARGS__
#define TETHER__CAT(a, b) TETHER__CAT_(a, b)
#define TETHER__CAT_(a, b) a##b
#define TETHER__NARG(...) \
    TETHER__NARG_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define TETHER__NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N, \
                      ...)                                                                      \
    N
#define TETHER__DOOR_N(m, f, t, ...) TETHER__CAT(TETHER__DOOR_, TETHER__NARG(__VA_ARGS__))(m, f, t, __VA_ARGS__)

/* The body's hidden `tether_mode` parameter is how TETHER_YIELD and friends
 * know whether to lend the object shared or exclusively. */
#define TETHER__BODY_PARAMS(decl) \
    TETHER_UNUSED VALUE self, TETHER_UNUSED tether_borrow_mode tether_mode, decl
/* Debug builds check each call on the way in and out (section 13). */
#ifdef TETHER_DEBUG
#define TETHER__DEBUG_ENTRY(t, m) tether__debug_enter(self, &(t));
#define TETHER__DEBUG_EXIT(t, m) tether__debug_exit(self, &(t), (m));
#else
#define TETHER__DEBUG_ENTRY(t, m)
#define TETHER__DEBUG_EXIT(t, m)
#endif
#define TETHER__DOOR(m, f, t, decl, n, params, fwd)                                            \
    enum { f##__arity = n };                                                                   \
    static VALUE f##__body(TETHER__BODY_PARAMS(decl) TETHER__STRIP params);                    \
    static VALUE f(VALUE self TETHER__STRIP params)                                            \
    {                                                                                          \
        void *tether_data_ = tether__enter(self, &(t), (m));                                   \
        TETHER__DEBUG_ENTRY(t, m)                                                              \
        VALUE tether_ret_ = f##__body(self, (m) ? (tether_borrow_mode)(m)                      \
                                                : TETHER_BORROW_EXCLUSIVE,                     \
                                      tether_data_ TETHER__STRIP fwd);                         \
        if (!(m)) tether__initialized(tether_data_);                                           \
        TETHER__DEBUG_EXIT(t, m)                                                               \
        return tether_ret_;                                                                    \
    }                                                                                          \
    static VALUE f##__body(TETHER__BODY_PARAMS(decl) TETHER__STRIP params)
#define TETHER__DOOR_ARGV(m, f, t, decl)                                                       \
    enum { f##__arity = -1 };                                                                  \
    static VALUE f##__body(TETHER__BODY_PARAMS(decl), int argc, const VALUE *argv);            \
    static VALUE f(int argc, VALUE *argv, VALUE self)                                          \
    {                                                                                          \
        void *tether_data_ = tether__enter(self, &(t), (m));                                   \
        TETHER__DEBUG_ENTRY(t, m)                                                              \
        VALUE tether_ret_ = f##__body(self, (m) ? (tether_borrow_mode)(m)                      \
                                                : TETHER_BORROW_EXCLUSIVE,                     \
                                      tether_data_, argc, argv);                               \
        if (!(m)) tether__initialized(tether_data_);                                           \
        TETHER__DEBUG_EXIT(t, m)                                                               \
        return tether_ret_;                                                                    \
    }                                                                                          \
    static VALUE f##__body(TETHER__BODY_PARAMS(decl), int argc, const VALUE *argv)

#define TETHER__DOOR_1(m, f, t, decl) \
    TETHER__DOOR(m, f, t, decl, 0, (), ())
#define TETHER__DOOR_2(m, f, t, decl, a1) \
    TETHER__DOOR(m, f, t, decl, 1, (, VALUE a1), (, a1))
#define TETHER__DOOR_3(m, f, t, decl, a1, a2) \
    TETHER__DOOR(m, f, t, decl, 2, (, VALUE a1, VALUE a2), (, a1, a2))
#define TETHER__DOOR_4(m, f, t, decl, a1, a2, a3) \
    TETHER__DOOR(m, f, t, decl, 3, (, VALUE a1, VALUE a2, VALUE a3), (, a1, a2, a3))
#define TETHER__DOOR_5(m, f, t, decl, a1, a2, a3, a4) \
    TETHER__DOOR(m, f, t, decl, 4, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4), (, a1, a2, a3, a4))
#define TETHER__DOOR_6(m, f, t, decl, a1, a2, a3, a4, a5) \
    TETHER__DOOR(m, f, t, decl, 5, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5), (, a1, a2, a3, a4, a5))
#define TETHER__DOOR_7(m, f, t, decl, a1, a2, a3, a4, a5, a6) \
    TETHER__DOOR(m, f, t, decl, 6, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6), (, a1, a2, a3, a4, a5, a6))
#define TETHER__DOOR_8(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7) \
    TETHER__DOOR(m, f, t, decl, 7, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7), (, a1, a2, a3, a4, a5, a6, a7))
#define TETHER__DOOR_9(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8) \
    TETHER__DOOR(m, f, t, decl, 8, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8), (, a1, a2, a3, a4, a5, a6, a7, a8))
#define TETHER__DOOR_10(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9) \
    TETHER__DOOR(m, f, t, decl, 9, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9), (, a1, a2, a3, a4, a5, a6, a7, a8, a9))
#define TETHER__DOOR_11(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) \
    TETHER__DOOR(m, f, t, decl, 10, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10))
#define TETHER__DOOR_12(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) \
    TETHER__DOOR(m, f, t, decl, 11, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11))
#define TETHER__DOOR_13(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) \
    TETHER__DOOR(m, f, t, decl, 12, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12))
#define TETHER__DOOR_14(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) \
    TETHER__DOOR(m, f, t, decl, 13, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13))
#define TETHER__DOOR_15(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) \
    TETHER__DOOR(m, f, t, decl, 14, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13, VALUE a14), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14))
#define TETHER__DOOR_16(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) \
    TETHER__DOOR(m, f, t, decl, 15, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13, VALUE a14, VALUE a15), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15))

/* ======================================================================
 * 6. Borrowing: lending the object while other code runs
 * ======================================================================
 *
 * Inside a door body nothing else can reach the object until the body calls
 * Ruby code. These functions are those calls: they mark `self` as lent
 * (shared or exclusively, as the running method was declared) for exactly
 * as long as the Ruby code runs, and restore it on return, exception,
 * break or throw. Meanwhile a conflicting method on the object raises
 * Tether::BorrowError "X is borrowed by #holder; #needer needs it
 * exclusively". A Fiber that suspends inside keeps the loan until it is
 * resumed to its end. Pass the `self` and `tether_mode` of the running
 * door; the TETHER_* macros below do that for you. */

/* Runs func(arg) with self lent; returns what func returns. */
TETHER_API VALUE tether_borrow_lend(VALUE self, tether_borrow_mode mode, VALUE (*func)(VALUE),
                                    VALUE arg);
/* Yields value to the block with self lent; returns the block's value.
 * Raises LocalJumpError without a block, and whatever the block raises. */
TETHER_API VALUE tether_borrow_yield(VALUE self, tether_borrow_mode mode, VALUE value);
/* Calls recv.mid(*argv) (public or private) with self lent. */
TETHER_API VALUE tether_borrow_call(VALUE self, tether_borrow_mode mode, VALUE recv, ID mid,
                                    int argc, const VALUE *argv);

#define TETHER_LEND(func, arg) tether_borrow_lend(self, tether_mode, (func), (arg))
#define TETHER_YIELD(value) tether_borrow_yield(self, tether_mode, (value))
#define TETHER_CALL(recv, mid, argc, argv) \
    tether_borrow_call(self, tether_mode, (recv), (mid), (argc), (argv))

/* ======================================================================
 * 7. Without the GVL
 * ====================================================================== */

/* Set when Ruby wants the thread back (Thread#kill, Ctrl-C, a signal). */
typedef struct tether_cancel {
    atomic_int requested;
} tether_cancel;

/* True once the running GVL-free function should stop early. Safe to call
 * without the GVL; poll it in long loops. */
TETHER_INLINE bool tether_cancelled(const tether_cancel *cancel)
{
    return atomic_load_explicit(&((tether_cancel *)cancel)->requested, memory_order_relaxed) != 0;
}

/* Runs func(arg, cancel) without the GVL while self stays lent (shared or
 * exclusive as mode says), so no other thread can use it in a conflicting
 * way. func must not touch Ruby objects or call the Ruby API; it returns true
 * when it finished and false when it stopped because tether_cancelled(cancel).
 * On an interrupt Tether lets Ruby handle it (Thread#kill and Interrupt raise
 * here, the loan is returned); if Ruby carries on, func is run again from
 * the start, so it must be restartable. */
TETHER_API void tether_without_gvl(VALUE self, tether_borrow_mode mode,
                                   bool (*func)(void *arg, const tether_cancel *cancel), void *arg);

#define TETHER_WITHOUT_GVL(func, arg) tether_without_gvl(self, tether_mode, (func), (arg))

/* ======================================================================
 * 8. Arguments
 * ====================================================================== */

/* An Integer as int64_t. Raises TypeError "wrong argument type Float
 * (expected Integer)" for anything but an Integer (no Float truncation, no
 * nil), RangeError "integer N out of range of int64" when it does not fit
 * ("integer too big for int64" when N has more than 256 bits: the message
 * does not print a number that long). The other conversions say the same
 * with their own type name. */
TETHER_API int64_t tether__to_int64_slow(VALUE v);
TETHER_INLINE int64_t tether_to_int64(VALUE v)
{
    return TETHER_LIKELY(RB_FIXNUM_P(v)) ? (int64_t)RB_FIX2LONG(v) : tether__to_int64_slow(v);
}
/* An Integer as uint64_t; negative numbers raise RangeError. */
TETHER_API uint64_t tether_to_uint64(VALUE v);
/* An Integer as size_t; negative numbers raise RangeError. */
TETHER_API size_t tether_to_size(VALUE v);
/* An Integer as size_t in *out, returning false (no exception) when it is
 * negative or too large: for offsets whose out-of-range is the caller's own
 * error (a Trap, say). Non-Integers still raise TypeError. */
TETHER_API bool tether_try_to_size(VALUE v, size_t *out);
/* Raises TypeError "wrong argument type A (expected B)" unless v.kind_of?(klass). */
TETHER_API void tether_check_kind(VALUE v, VALUE klass);

/* ======================================================================
 * 9. Errors
 * ====================================================================== */

/* Tether::Error < StandardError, Tether::BorrowError < RuntimeError and
 * Tether::StaleReferenceError < RuntimeError; defined once per process
 * however many Tether-based extensions load. Valid after tether_init. */
TETHER_API extern VALUE tether_eError;
TETHER_API extern VALUE tether_eBorrowError;
TETHER_API extern VALUE tether_eStaleReferenceError;

/* Structured errors: an exception class that is a Tether type, so each
 * exception carries a struct (a code, say). Define the type with
 * TETHER_ZERO_IS_VALID (Klass.new("message") from Ruby then works too) and
 * its class under an exception class. Returns a new exception with the given
 * message (a String) in *exc and its zeroed struct to fill; raise it with
 * rb_exc_raise(*exc). Raises TypeError when type's class is not an
 * exception class or message is not a String, ArgumentError when the type
 * lacks TETHER_ZERO_IS_VALID. */
TETHER_API void *tether_exception_new(const tether_type *type, VALUE message, VALUE *exc);

/* ======================================================================
 * 10. GC helpers
 * ====================================================================== */

/* Makes the C global at address a GC root: its value is marked (and pinned)
 * for the rest of the process. Assign it freely afterwards. */
TETHER_API void tether_gc_root(VALUE *address);
/* Tells the GC that the extension took (grew) or gave back (shrank) bytes
 * of native memory it allocated with plain malloc, so GC pressure stays
 * honest. Not needed for ruby_xmalloc memory, which Ruby already counts. */
TETHER_API void tether_gc_memory_grew(size_t bytes);
TETHER_API void tether_gc_memory_shrank(size_t bytes);

/* ======================================================================
 * 11. Guarded memory: regions that move, views that notice
 * ======================================================================
 *
 * A region is native memory owned by a Tether object that may move, shrink
 * or be freed (a Wasm memory, a resizable buffer). Its generation changes
 * whenever that happens. A view (an offset and length into a region, held by
 * another Ruby object) remembers the generation it was made at; every access
 * checks generation and bounds first and raises
 * Tether::StaleReferenceError "memory was resized, reference is no longer
 * valid" instead of reading freed memory.
 *
 *   typedef struct { tether_region region; } memory_t;
 *   TETHER_FIELD_REGION(memory_t, region)                   // in memory's fields
 *   typedef struct { tether_view view; } slice_t;
 *   TETHER_FIELD_VIEW(slice_t, view, &memory_type)          // in slice's fields
 */
typedef struct tether_region {
    unsigned char *base; /* never NULL while allocated */
    size_t size;         /* bytes */
    uint64_t generation; /* changes whenever base or size does; 0 = never allocated */
    VALUE buffers;       /* the IO::Buffers lent over the region (a WeakMap), or 0 */
} tether_region;

typedef struct tether_view {
    VALUE owner;                 /* the object holding the region: kept alive */
    const tether_region *region; /* inside owner's struct, which never moves */
    size_t offset, length;
    uint64_t generation; /* the region's generation when the view was made */
} tether_view;

/* Gives the region `size` zeroed bytes in a fresh allocation, copying what
 * fits of the old contents, then frees the old memory. Every view and lent
 * IO::Buffer over the old memory goes stale. owner is the object whose struct
 * holds r. Raises NoMemoryError (nothing changed). */
TETHER_API void tether_region_resize(VALUE owner, tether_region *r, size_t size);
/* Frees the region's memory; views and buffers go stale. */
TETHER_API void tether_region_release(VALUE owner, tether_region *r);

/* True when [offset, offset + length) lies inside the region; never overflows. */
TETHER_INLINE bool tether_region_contains(const tether_region *r, size_t offset, size_t length)
{
    return r->base && length <= r->size && offset <= r->size - length;
}

/* Makes *v (a declared TETHER_FIELD_VIEW of self) a view of
 * r[offset, offset + length), r being a region of owner's struct. Raises
 * RangeError "view out of bounds" when it does not fit, StaleReferenceError
 * when the region was released, ArgumentError when r is not owner's. */
TETHER_API void tether_view_init(VALUE self, tether_view *v, VALUE owner, const tether_region *r,
                                 size_t offset, size_t length);

TETHER_API TETHER_NORETURN void tether__view_failed(const tether_view *v);

/* The view's first byte, after checking it: StaleReferenceError when the
 * region changed since the view was made, Tether::BorrowError when the owner
 * is lent exclusively. Valid until the next call into Ruby. */
TETHER_INLINE const unsigned char *tether_view_bytes(const tether_view *v)
{
    const tether_region *r = v->region;
    if (TETHER_LIKELY(r->generation == v->generation && v->length <= r->size &&
                      v->offset <= r->size - v->length &&
                      !(tether__header(RTYPEDDATA_DATA(v->owner))->state & TETHER__LENT_EXCL)))
        return r->base + v->offset;
    tether__view_failed(v);
}

/* A read-only IO::Buffer over the view's bytes, without copying. Tether
 * frees it (IO::Buffer#get_string and friends then raise) when the region
 * changes; the buffer keeps the owner alive, and is locked so Ruby code can
 * neither free nor transfer it. Raises as tether_view_bytes. */
TETHER_API VALUE tether_view_buffer(const tether_view *v);

/* ======================================================================
 * 12. Strings from native memory
 * ====================================================================== */

/* A new binary (ASCII-8BIT) String holding a copy of ptr[0, len): the one
 * copy a Ruby String needs. Raises ArgumentError when len exceeds LONG_MAX. */
TETHER_API VALUE tether_str_binary(const void *ptr, size_t len);

/* A new UTF-8 String holding a copy of ptr[0, len), validated in one pass:
 * EncodingError "invalid UTF-8 at byte offset N" names the first invalid
 * sequence. The coderange is recorded, so Ruby never scans it again. */
TETHER_API VALUE tether_str_utf8(const void *ptr, size_t len);

typedef enum tether_utf8_result {
    TETHER_UTF8_ASCII = 0,   /* valid, every byte < 0x80 */
    TETHER_UTF8_VALID = 1,   /* valid, with multibyte characters */
    TETHER_UTF8_INVALID = 2, /* *error_offset is the first invalid sequence */
} tether_utf8_result;

/* Validates ptr[0, len) as UTF-8 (RFC 3629: no surrogates, no overlongs,
 * nothing above U+10FFFF) with the fastest code the CPU runs (AVX2, SSSE3,
 * or portable C). Never raises. */
TETHER_API tether_utf8_result tether_str_utf8_check(const void *ptr, size_t len,
                                                    size_t *error_offset);
/* Which implementation tether_str_utf8_check uses: "avx2", "ssse3" or "portable". */
TETHER_API const char *tether_str_utf8_implementation(void);
/* Switches to the named implementation (NULL: the fastest this CPU runs), for
 * tests and benchmarks. Returns false, changing nothing, when the CPU cannot
 * run it. */
TETHER_API bool tether_str_utf8_use(const char *name);

/* ======================================================================
 * 13. Debug builds
 * ======================================================================
 *
 * Compiled with TETHER_DEBUG (create_tether_makefile(debug: true),
 * TETHER_DEBUG=1 or --enable-tether-debug), Tether checks what it cannot
 * make impossible, and reports "[tether debug] <class>: <what>" on stderr,
 * then aborts (like a sanitizer; TETHER_DEBUG_CONTINUE=1 keeps going):
 *  - a declared VALUE field that changed without tether_write (a missing
 *    write barrier), found at the next method call or GC;
 *  - a TETHER_MARK_BY_HAND mark callback that left a declared field unmarked;
 *  - a free callback of a free_immediately type calling Tether (or, caught
 *    when Ruby aborts, the Ruby API);
 *  - an exclusive method that returns while the object is still lent out
 *    (an external enumerator left suspended inside it, say);
 *  - a Tether function that needs the GVL called without it.
 * Release builds compile none of it. */

/* For TETHER_MARK_BY_HAND mark callbacks: marks *slot (pinned). */
TETHER_INLINE void tether_mark_field(VALUE *slot) { rb_gc_mark(*slot); }

TETHER_API void tether__debug_enter(VALUE self, const tether_type *type);
TETHER_API void tether__debug_exit(VALUE self, const tether_type *type, int mode);

/* ======================================================================
 * Internals used by the macros above
 * ====================================================================== */
TETHER_API void tether__type_mark(const tether_type *type, void *data);
TETHER_API void tether__type_free(const tether_type *type, void *data);
TETHER_API size_t tether__type_memsize(const tether_type *type, const void *data);
TETHER_API void tether__type_compact(const tether_type *type, void *data);
TETHER_API VALUE tether__type_alloc(const tether_type *type, VALUE klass);
TETHER_API VALUE tether__type_init_copy(const tether_type *type, VALUE self, VALUE orig);

/* Each yields the field's kind, and fails to compile when the member has another type. */
#define TETHER__IS_VALUE(T, f) _Generic(((T *)0)->f, VALUE: TETHER_KIND_VALUE)
#define TETHER__IS_VALUES(T, f) _Generic(((T *)0)->f, tether_values: TETHER_KIND_VALUES)
#define TETHER__IS_REGION(T, f) _Generic(((T *)0)->f, tether_region: TETHER_KIND_REGION)
#define TETHER__KLASS(check) \
    _Generic((check), VALUE *: (check), const VALUE *: (check), default: (const VALUE *)0)
#define TETHER__TYPE(check)                                                                  \
    _Generic((check), tether_type *: (check), const tether_type *: (check), default: \
                 (const tether_type *)0)
#define TETHER__FIELD(T, f, kind, nil_ok, check) \
    {#f, offsetof(T, f), (kind), (nil_ok), TETHER__KLASS(check), TETHER__TYPE(check)}

#endif /* TETHER_H */
