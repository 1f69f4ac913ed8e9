/*
 * cleat.h - Ruby native extensions in C that cannot crash the interpreter.
 *
 * This header is the manual. It is grouped by area; every public function
 * says what it does, what it raises and who owns what.
 *
 *   1. Set-up             cleat_init
 *   2. Types              cleat_type, CLEAT_TYPE, CLEAT_FIELD*, cleat_type_*
 *   3. Fields             cleat_write, cleat_write_known, cleat_values_*
 *   4. Unwrapping         cleat_unwrap, cleat_unwrap_mut, cleat_is, cleat_initialized_p
 *   5. Methods (the door) CLEAT_SHARED, CLEAT_EXCLUSIVE, CLEAT_INIT, CLEAT_FUNCTION,
 *                         CLEAT_DEFINE_METHOD, CLEAT_DEFINE_PRIVATE_METHOD,
 *                         CLEAT_DEFINE_SINGLETON_METHOD, CLEAT_DEFINE_MODULE_FUNCTION
 *   6. Borrowing          cleat_borrow_*, CLEAT_YIELD, CLEAT_YIELD_EACH, CLEAT_CALL, CLEAT_LEND
 *   7. Without the GVL    cleat_without_gvl, CLEAT_WITHOUT_GVL
 *   8. Arguments          cleat_to_int64, cleat_to_uint64, cleat_to_size,
 *                         cleat_check_kind; cleat_to_double, cleat_str_value,
 *                         cleat_num_to_int64, cleat_reg_search (CLEAT_DOOR)
 *   9. Errors             cleat_eError, cleat_eBorrowError, cleat_eStaleReferenceError,
 *                         cleat_exception_new
 *  10. GC helpers         cleat_gc_*
 *  11. Guarded memory     cleat_region_*, cleat_view_*
 *  12. Strings            cleat_str_*
 *  13. Debug builds       CLEAT_DEBUG, cleat_mark_field
 *  14. Cleanup            cleat_ensure, CLEAT_SCRATCH, CLEAT_SCRATCH_END
 *  15. The registry       what test:fuzz reads (recorded for you)
 *
 * Everything here is compiled into the extension that uses it (no shared
 * library): symbols are hidden, so several Cleat-based gems coexist.
 *
 * Examples compile. A comment line ending in "Example:" introduces one: the
 * lines after it indented two spaces more than the comment's text, up to the
 * first line that is not. test/test_docs.rb compiles every example of this
 * header, in order, as one C file after #include "cleat.h", with -Wall
 * -Wextra -Werror, so an example may use what an earlier one declared
 * (counter_type, say), and code that is indented like one but not marked
 * fails that test.
 */
#ifndef CLEAT_H
#define CLEAT_H 1

#include <ruby.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLEAT_VERSION "0.1.0"
/* The layout of cleat_type and of the per-object header. Objects of a type
 * built against another CLEAT_ABI are foreign to this extension:
 * cleat_type_of returns NULL for them (docs/api.md, "ABI"). Bumped whenever
 * either layout changes, whatever CLEAT_VERSION does. */
#define CLEAT_ABI 2

#if defined(__GNUC__) || defined(__clang__)
#define CLEAT_API __attribute__((visibility("hidden")))
#define CLEAT_NORETURN __attribute__((noreturn))
#define CLEAT_UNUSED __attribute__((unused))
#define CLEAT_LIKELY(x) __builtin_expect(!!(x), 1)
#define CLEAT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CLEAT_INLINE static inline __attribute__((always_inline))
#else
#define CLEAT_API
#define CLEAT_NORETURN
#define CLEAT_UNUSED
#define CLEAT_LIKELY(x) (x)
#define CLEAT_UNLIKELY(x) (x)
#define CLEAT_INLINE static inline
#endif

/* ======================================================================
 * 1. Set-up
 * ====================================================================== */

/* Defines (or finds, when another Cleat-based extension got there first)
 * the module Cleat, Cleat::VERSION (this CLEAT_VERSION, unless defined
 * already) and its exception classes. Idempotent; called for you by
 * cleat_type_define_class, so an Init_ function rarely needs it: one that
 * defines no type calls it before anything can run without the GVL. Raises
 * TypeError when Cleat::Error or a sibling exists with another superclass. */
CLEAT_API void cleat_init(void);

/* ======================================================================
 * 2. Types: a C struct described once, everything else derived
 * ======================================================================
 *
 * Example:
 *   typedef struct { VALUE name, hobbies, friend; } person_t;
 *   static cleat_type person_type;
 *   static const cleat_field person_fields[] = {
 *       CLEAT_FIELD(person_t, name, &rb_cString),           // a String
 *       CLEAT_FIELD(person_t, hobbies, &rb_cArray),         // an Array
 *       CLEAT_FIELD_OR_NIL(person_t, friend, &person_type), // a Person or nil
 *       CLEAT_FIELDS_END};
 *   CLEAT_TYPE(person_type, "CleatExamples::Person", person_t, person_fields);
 *
 * From the description Cleat derives mark (rb_gc_mark_movable), compaction
 * (rb_gc_location), memsize, allocation, free and dup/clone. Allocation
 * zeroes the struct and sets every declared VALUE field to nil (never the
 * zero word, which Ruby reads as false), then runs .init_fields, if any,
 * for starting values. A field declared with CLEAT_FIELD
 * (no _OR_NIL) is nil only until the object is initialised: initialize,
 * cleat_type_ready and dup/clone raise TypeError when they would leave one
 * nil, so methods may trust the declaration. Types
 * are RUBY_TYPED_FREE_IMMEDIATELY and RUBY_TYPED_WB_PROTECTED unless a flag
 * says otherwise; every VALUE field is stored with cleat_write.
 */

typedef struct cleat_type cleat_type;

/* A counted array of VALUEs that the struct owns: declare it with
 * CLEAT_FIELD_VALUES and Cleat marks, moves, sizes and frees it. Grow it
 * only with cleat_values_push (GC-safe at every step); never set ptr, len or
 * capa by hand, nor put back a copy of the struct saved before a push (the
 * push freed that buffer): debug builds report both. Store into an element
 * with cleat_write(self, &vals->ptr[i], v), i < len. */
typedef struct cleat_values {
    VALUE *ptr;  /* ptr[0..len) are live and marked */
    size_t len;
    size_t capa; /* allocated slots, capa >= len */
} cleat_values;

enum cleat_field_kind {
    CLEAT_KIND_END = 0,
    CLEAT_KIND_VALUE = 1,  /* one VALUE */
    CLEAT_KIND_VALUES = 2, /* a cleat_values */
    CLEAT_KIND_REGION = 3, /* a cleat_region (section 11) */
};

/* One declared field. Build these with the CLEAT_FIELD* macros. */
typedef struct cleat_field {
    const char *name;
    size_t offset;
    int kind;                /* enum cleat_field_kind */
    bool nil_ok;             /* nil accepted even when a class is checked */
    const VALUE *klass;      /* values must be kind_of?(*klass), or NULL */
    const cleat_type *type; /* values must be this Cleat type, or NULL */
    bool view_owner;         /* a cleat_view's owner: stored only by cleat_view_init */
} cleat_field;

/* Type flags (cleat_type.flags). */
enum cleat_type_flag {
    CLEAT_COPYABLE = 1u << 0,          /* dup/clone copy the struct member by member */
    CLEAT_NOT_WB_PROTECTED = 1u << 1,  /* for hand-written marks that store without cleat_write */
    CLEAT_DEFERRED_FREE = 1u << 2,     /* free callback may use the Ruby API (not free_immediately) */
    CLEAT_ZERO_IS_VALID = 1u << 3,     /* a struct as allocated (zeroes, nil fields, then
                                           .init_fields) is a usable object: allocate
                                           initialises. Every VALUE field must then accept nil
                                           (ArgumentError at definition), or, with .init_fields,
                                           be given a value by it (TypeError at allocation) */
    CLEAT_MARK_BY_HAND = 1u << 4,      /* the mark callback marks the declared fields itself
                                           (rb_gc_mark: pinned); debug builds check it does */
    CLEAT_FROZEN_SHAREABLE = 1u << 5,  /* Ractor.make_shareable may deep-freeze and share it:
                                           its fields must then hold shareable values */
    CLEAT_DECL_MARKING = 1u << 6,      /* let Ruby mark and move the fields itself, from a
                                           list of offsets, where it can (3.3+, fixed-offset
                                           fields only): measured slower than Cleat's
                                           callbacks (bench/marking.rb); for comparing */
};

/* Per-type functions generated by CLEAT_TYPE; not for direct use. */
typedef struct cleat_type_hooks {
    void (*mark)(void *data);
    void (*free)(void *data);
    size_t (*memsize)(const void *data);
    void (*compact)(void *data);
    VALUE (*alloc)(VALUE klass);
    VALUE (*init_copy)(VALUE self, VALUE orig);
} cleat_type_hooks;

struct cleat_type {
    /* --- described by the user (CLEAT_TYPE fills the first four) --- */
    const char *class_path;     /* "Outer::Inner::Name" */
    size_t size;                /* sizeof the struct */
    size_t align;               /* _Alignof the struct, at most 16 */
    const cleat_field *fields; /* ends with CLEAT_FIELDS_END; NULL for none */

    /* Optional callbacks, given as designated initializers to CLEAT_TYPE. */
    /* Releases memory the struct owns (not cleat_values: Cleat frees those).
     * Runs during GC: no Ruby API unless CLEAT_DEFERRED_FREE, whose
     * callback runs later and sees the VALUE fields as nil (what they
     * held may be freed or moved by then). */
    void (*free)(void *data);
    /* Bytes the struct owns beyond itself and its cleat_values. */
    size_t (*memsize)(const void *data);
    /* Marks what fields cannot express. Use rb_gc_mark (pins), or
     * rb_gc_mark_movable together with a compact callback. */
    void (*mark)(void *data);
    /* After compaction: update what mark marked movable with rb_gc_location. */
    void (*compact)(void *data);
    /* dup/clone: dst is as allocated (zeroed, VALUE fields nil, then
     * .init_fields if the type has one: replace what the hook put in, do
     * not append to it); store VALUEs with cleat_write(self, ...). A field declared without _OR_NIL
     * that is still nil afterwards makes dup/clone raise TypeError, and so
     * does a cleat_values buffer or region left shared with src. The
     * original is lent shared while it runs: Ruby code it calls (an
     * element's dup) cannot change src under it (an exclusive method on the
     * original raises Cleat::BorrowError). A field still holding the
     * original's block (`*d = *o`) must be cleared before it is filled:
     * cleat_values_push, cleat_region_resize or _release on it raise
     * TypeError. Without it (and without CLEAT_COPYABLE) dup/clone raise
     * TypeError. */
    void (*copy)(VALUE self, void *dst, const void *src);
    /* Starting values: runs when an object is allocated (allocate, new,
     * cleat_type_new, dup/clone's target, cleat_exception_new), after the
     * struct is zeroed and its VALUE fields set to nil, before anyone else
     * sees the object. Stores VALUEs with cleat_write(self, ...) (or
     * cleat_write_known) and sets plain members. The object is uninitialised
     * while it runs (every method raises TypeError), so nothing can observe
     * it half-built; if it raises, allocation raises, and the object stays
     * refused by every door, initialize's included. It may allocate
     * (rb_ary_new, rb_str_new_cstr) but should call no Ruby method: any Ruby
     * code it runs gets an unusable object. See CLEAT_ZERO_IS_VALID. */
    void (*init_fields)(VALUE self, void *data);
    unsigned int flags; /* enum cleat_type_flag */

    /* --- filled by Cleat --- */
    cleat_type_hooks hooks;
    unsigned int abi;  /* CLEAT_ABI of the Cleat that defined the class; just
                          before rb, so cleat_type_of can read it safely */
    rb_data_type_t rb; /* what Ruby sees; valid once the class is defined */
    VALUE klass;       /* the class, once defined */
    size_t prefix;     /* bytes allocated before the struct: header (and debug shadow) */
    size_t value_fields; /* number of CLEAT_KIND_VALUE fields */
    size_t block_fields; /* number of cleat_values and region fields (blocks it owns) */
    size_t *references;  /* Ruby >= 3.3: offsets Ruby marks itself (declarative), or NULL */
    uint64_t value_slots; /* bit i: a declared VALUE field at byte i * 8 (cleat_write_known) */
    size_t field_array_len; /* CLEAT_TYPE: elements of the field array it was given (0: NULL or a pointer),
                               so a list without CLEAT_FIELDS_END is refused, never read past */
};

/* Declares a field holding one VALUE, checked when written: `check` is the
 * address of a class (&rb_cString, &my_class) or of a cleat_type
 * (&person_type). nil is refused unless the _OR_NIL form is used. Any other
 * check (rb_cString without the &, a string, NULL) is a compile error
 * that says what to write instead ("Cleat field name: the check rb_cString
 * is a class, not its address: write &rb_cString"); a field that takes any
 * value is CLEAT_FIELD_ANY. */
#define CLEAT_FIELD(T, f, check) CLEAT__FIELD(T, f, CLEAT__IS_VALUE(T, f), false, check)
#define CLEAT_FIELD_OR_NIL(T, f, check) CLEAT__FIELD(T, f, CLEAT__IS_VALUE(T, f), true, check)
/* A field holding any VALUE. */
#define CLEAT_FIELD_ANY(T, f) CLEAT__FIELD_UNCHECKED(T, f, CLEAT__IS_VALUE(T, f))
/* A cleat_values field; elements are checked like CLEAT_FIELD's. */
#define CLEAT_FIELD_VALUES(T, f, check) CLEAT__FIELD(T, f, CLEAT__IS_VALUES(T, f), false, check)
#define CLEAT_FIELD_VALUES_ANY(T, f) CLEAT__FIELD_UNCHECKED(T, f, CLEAT__IS_VALUES(T, f))
/* A cleat_region field (section 11): Cleat frees its memory, counts it in
 * memsize and marks the IO::Buffers lent over it. */
#define CLEAT_FIELD_REGION(T, f) CLEAT__FIELD_UNCHECKED(T, f, CLEAT__IS_REGION(T, f))
/* A cleat_view field (section 11) whose owner must be of owner_type. */
#define CLEAT_FIELD_VIEW(T, f, owner_type)                                                          \
    {#f ".owner", offsetof(T, f.owner), CLEAT__IS_VALUE(T, f.owner) + CLEAT__CHECKED(f, owner_type), \
     false, CLEAT__KLASS(owner_type), CLEAT__TYPE(owner_type), true}
#define CLEAT_FIELDS_END {NULL, 0, CLEAT_KIND_END, false, NULL, NULL, false}

/* Defines `static cleat_type var` for struct T and the per-type functions
 * Ruby calls. Optional members follow as designated initializers. Example:
 *   typedef struct { char *bytes; size_t size; } mem_t;
 *   static void mem_free(void *p) { ruby_xfree(((mem_t *)p)->bytes); }
 *   static size_t mem_size(const void *p) { return ((const mem_t *)p)->size; }
 *   CLEAT_TYPE(mem_type, "M::Memory", mem_t, NULL,
 *              .free = mem_free, .memsize = mem_size, .flags = CLEAT_ZERO_IS_VALID);
 */
#define CLEAT_TYPE(var, path, T, field_list, ...)                                         \
    typedef T var##__struct; /* the doors give their bodies this, nothing else */         \
    static cleat_type var;                                                                \
    static void var##__mark(void *p)                                                      \
    {                                                                                     \
        cleat__mark_declared(&var, (field_list), CLEAT__FIELD_COUNT(field_list), p);      \
    }                                                                                     \
    static void var##__free(void *p) { cleat__type_free(&var, p); }                       \
    static size_t var##__memsize(const void *p) { return cleat__type_memsize(&var, p); }  \
    static void var##__compact(void *p)                                                   \
    {                                                                                     \
        cleat__compact_declared(&var, (field_list), CLEAT__FIELD_COUNT(field_list), p);   \
    }                                                                                     \
    static VALUE var##__alloc(VALUE klass) { return cleat__type_alloc(&var, klass); }     \
    static VALUE var##__init_copy(VALUE self, VALUE orig)                                 \
    {                                                                                     \
        return cleat__type_init_copy(&var, self, orig);                                   \
    }                                                                                     \
    _Static_assert(_Alignof(T) <= 16, "Cleat types need alignment of at most 16");        \
    static cleat_type var = {.class_path = (path),                                        \
                              .size = sizeof(T),                                          \
                              .align = _Alignof(T),                                       \
                              .fields = (field_list),                                     \
                              .field_array_len = CLEAT__FIELD_COUNT(field_list),          \
                              .hooks = {var##__mark, var##__free, var##__memsize,         \
                                        var##__compact, var##__alloc, var##__init_copy},  \
                              __VA_ARGS__}

/* Defines the class named by type->class_path (creating missing outer
 * modules) as a subclass of `super`, with Cleat's allocator and
 * initialize_copy. Returns the class. Raises TypeError when the name is taken
 * by something else (another Cleat type's class, a class the constant only
 * names, a class with an allocator of its own; a class Ruby code defined
 * with this name and superclass is fine), ArgumentError for
 * an inconsistent description (a CLEAT_COPYABLE type with a free callback
 * but no copy callback, a field list without CLEAT_FIELDS_END). */
CLEAT_API VALUE cleat_type_define_class(cleat_type *type, VALUE super);

/* Makes a new object of `type`, stores it in *obj and returns its struct
 * (zeroed, every declared VALUE field nil, then .init_fields) for the caller to fill; then
 * cleat_type_ready(*obj) makes it usable. Until then every method raises
 * TypeError "uninitialized X", so an exception while filling it (a
 * RangeError from cleat_view_init, say) leaves nothing half-built behind,
 * even for code that finds the object through ObjectSpace. A
 * CLEAT_ZERO_IS_VALID object is usable at once. The object is owned by
 * Ruby; keep it in a local VALUE while you fill it. Raises ArgumentError
 * when the class is not defined yet, NoMemoryError. Runs no Ruby code. */
CLEAT_API void *cleat_type_new(const cleat_type *type, VALUE *obj);

/* Marks an object made by cleat_type_new initialised: its methods work from
 * now on. Raises TypeError when obj is not a Cleat object, is already
 * initialised, or a field declared without _OR_NIL is still nil (the object
 * then stays uninitialised). Runs no Ruby code. */
CLEAT_API void cleat_type_ready(VALUE obj);

/* The Cleat type of obj, or NULL when obj is not a Cleat object of this
 * CLEAT_ABI: any extension's types built with the same ABI are recognised
 * (and then refused by cleat_unwrap as another type); another ABI's objects
 * are foreign. Never raises. */
CLEAT_API const cleat_type *cleat_type_of(VALUE obj);

/* True when Ruby marks and moves the type's references itself from a list
 * of offsets (RUBY_TYPED_DECL_MARKING, Ruby 3.3+), with no mark or
 * compaction callback: types that ask with CLEAT_DECL_MARKING and whose
 * references are all fixed-offset fields. Never raises. */
CLEAT_API bool cleat_type_declarative(const cleat_type *type);

/* Declares the calling extension Ractor-safe (rb_ext_ractor_safe), so its
 * methods may run in any Ractor. Call first thing in Init_. Cleat's own
 * state is Ractor-safe; loans are not taken on frozen objects, so a
 * CLEAT_FROZEN_SHAREABLE object shared between Ractors is only read. An
 * object that is not shareable, sent to another Ractor, is copied by clone:
 * on every Ruby the copy goes only if all it refers to is shareable, and
 * Ractor::Error "can not copy X object." is raised otherwise (Ruby 3.3
 * checks this itself; on 3.1 Cleat's initialize_copy does). A .copy
 * callback must therefore make copies independent of the original. */
CLEAT_API void cleat_ractor_safe(void);

/* The state word before every struct (not for direct use). */
typedef struct cleat_header {
    uint32_t state;  /* CLEAT__INIT | CLEAT__LENT_EXCL | shared count * CLEAT__SHARED_ONE */
    uint32_t holder; /* ID of the method that lent the object, 0 if unknown */
    struct cleat__loan *loans; /* the loans out now, newest first (borrow.c); state sums them */
} cleat_header;

#define CLEAT__INIT 1u
#define CLEAT__LENT_EXCL 2u
#define CLEAT__SHARED_ONE 4u
/* A CLEAT_ZERO_IS_VALID object with .init_fields, untouched since
 * allocation: no exclusive method, store or loan yet (dup/clone may fill it).
 * The first exclusive entry clears it, on the door's slow path. */
#define CLEAT__FRESH (1u << 31)
/* Allocation's .init_fields is running, or raised: no door takes the
 * object, initialize's included, so nothing completes a half-built one. */
#define CLEAT__BUILDING (1u << 30)
/* The bits loans set: LENT_EXCL and the shared count. */
#define CLEAT__LENT_BITS (~(CLEAT__INIT | CLEAT__FRESH | CLEAT__BUILDING))

CLEAT_INLINE cleat_header *cleat__header(void *data) { return (cleat_header *)data - 1; }

/* ======================================================================
 * 3. Fields: the one way to store a VALUE
 * ====================================================================== */

/* Stores value into *slot, a declared VALUE field of self's struct or an
 * element of one of its cleat_values, with the write barrier. Raises
 * TypeError "wrong argument type A for F of X (expected B)" (field F of
 * class X; B ends in "or nil" for an _OR_NIL field) when the field's
 * check refuses the value, ArgumentError when slot is not declared,
 * FrozenError on a frozen self, and Cleat::BorrowError while self is lent
 * (shared means read: a store from a method declared shared, inside
 * another method's block, would change the object under that method).
 * Every store (cleat_write_known, cleat_values_push, cleat_region_resize)
 * refuses a lent object the same way. Runs no Ruby code. */
CLEAT_API void cleat_write(VALUE self, VALUE *slot, VALUE value);

/* ---- stores whose class the caller already knows -------------------- */

CLEAT_API void cleat__write_known_slow(VALUE self, VALUE *slot, VALUE value);
CLEAT_API void cleat__debug_write_known(VALUE self, VALUE *slot, VALUE value);

/* Stores value into *slot, a declared VALUE field of self's struct (self: a
 * Cleat object, the door's receiver), with the write barrier, like
 * cleat_write but without checking value against the field's declaration:
 * for a caller that already knows it fits (it just made the String, or
 * checked the class itself) in a store hot enough for the check to show
 * (bench/door.rb, "field store"). Still raises FrozenError on a frozen
 * self, and ArgumentError when slot is no declared field (checked inline
 * from a per-type bitmap; a slot in a cleat_values or beyond byte 511 takes
 * cleat_write's slower lookup). A debug build also makes cleat_write's value
 * check, and reports a wrong one loudly ("[cleat debug] X: cleat_write_known
 * stored Integer into field name (declared String)") and aborts; a release
 * build stores it as told, so a wrong value breaks what methods trust about
 * the field, though never the GC (the field is still marked). Runs no Ruby
 * code. */
CLEAT_INLINE void cleat_write_known(VALUE self, VALUE *slot, VALUE value)
{
#ifdef CLEAT_DEBUG
    cleat__debug_write_known(self, slot, value); /* checks, stores and records the store */
#else
    const cleat_type *type = (const cleat_type *)RTYPEDDATA_TYPE(self)->data;
    uintptr_t off = (uintptr_t)slot - (uintptr_t)RTYPEDDATA_DATA(self);
    if (CLEAT_LIKELY(off < 64 * sizeof(VALUE) && off % sizeof(VALUE) == 0 &&
                      ((type->value_slots >> (off / sizeof(VALUE))) & 1) && !RB_OBJ_FROZEN_RAW(self) &&
                      !(cleat__header(RTYPEDDATA_DATA(self))->state & (CLEAT__LENT_BITS | CLEAT__FRESH)))) {
        RB_OBJ_WRITE(self, slot, value);
        return;
    }
    cleat__write_known_slow(self, slot, value);
#endif
}

/* Appends value to vals, a declared cleat_values field of self's struct,
 * checking it like cleat_write. Returns the new length. Raises TypeError,
 * ArgumentError (undeclared), NoMemoryError. */
CLEAT_API size_t cleat_values_push(VALUE self, cleat_values *vals, VALUE value);

/* Element i of vals. Raises IndexError when i >= len. */
CLEAT_API VALUE cleat_values_get(const cleat_values *vals, size_t i);

/* A new Array holding vals' elements (the elements are shared, not copied). */
CLEAT_API VALUE cleat_values_to_ary(const cleat_values *vals);

/* Forgets every element (keeps the allocation; the slots hold false again
 * unless a .copy callback runs). Takes time in proportion to the elements
 * forgotten. Runs no Ruby code. */
CLEAT_API void cleat_values_clear(cleat_values *vals);

/* ======================================================================
 * 4. Unwrapping: from a VALUE to its struct, checked
 * ====================================================================== */

typedef enum cleat_borrow_mode {
    CLEAT_BORROW_SHARED = 1,    /* reads: other shared users may run alongside */
    CLEAT_BORROW_EXCLUSIVE = 2, /* writes: nobody else may touch the object */
} cleat_borrow_mode;

/* The door's slow path: raises why obj was refused, or returns its struct
 * when the refusal was a loan whose holder can no longer run (returned now). */
CLEAT_API void *cleat__enter_slow(VALUE obj, const cleat_type *type, int mode);

/* The hot path: a type, frozen, initialised and borrow check in four loads.
 * mode is CLEAT_BORROW_SHARED, CLEAT_BORROW_EXCLUSIVE or 0 (initialize). */
CLEAT_INLINE void *cleat__enter(VALUE obj, const cleat_type *type, int mode)
{
    if (CLEAT_LIKELY(!RB_SPECIAL_CONST_P(obj))) {
        VALUE mask = mode == CLEAT_BORROW_SHARED ? (VALUE)RUBY_T_MASK
                                                  : (VALUE)(RUBY_T_MASK | RUBY_FL_FREEZE);
        if (CLEAT_LIKELY((RBASIC(obj)->flags & mask) == RUBY_T_DATA &&
                          RTYPEDDATA_TYPE(obj) == &type->rb)) {
            void *data = RTYPEDDATA_DATA(obj);
            uint32_t s = cleat__header(data)->state;
            if (mode == CLEAT_BORROW_SHARED) {
                if (CLEAT_LIKELY((s & (CLEAT__INIT | CLEAT__LENT_EXCL)) == CLEAT__INIT))
                    return data;
            } else if (CLEAT_LIKELY(s == (mode ? CLEAT__INIT : 0u))) {
                return data;
            }
        }
    }
    return cleat__enter_slow(obj, type, mode);
}

/* The struct of obj for reading. Raises TypeError "wrong argument type A
 * (expected B)" or "uninitialized B", Cleat::BorrowError when obj is lent
 * exclusively. The pointer is valid until the next call into Ruby. In an
 * exclusive body obj may be the receiver itself (`b.concat(b)`): then both
 * pointers are one struct, and what was read through it before a resize
 * points at the freed block; read after the resize, or refuse the receiver
 * with cleat_unwrap_mut. Runs no Ruby code. */
CLEAT_INLINE void *cleat_unwrap(VALUE obj, const cleat_type *type)
{
    return cleat__enter(obj, type, CLEAT_BORROW_SHARED);
}

/* True when obj is an object of `type` (initialised or not). Never raises. */
CLEAT_INLINE bool cleat_is(VALUE obj, const cleat_type *type)
{
    return !RB_SPECIAL_CONST_P(obj) && RB_BUILTIN_TYPE(obj) == RUBY_T_DATA &&
           RTYPEDDATA_P(obj) && RTYPEDDATA_TYPE(obj) == &type->rb;
}

/* Each door body has two hidden parameters (CLEAT__BODY_PARAMS below):
 * cleat__held, the receiver it holds, by which cleat_unwrap_mut refuses it;
 * and cleat__door_name, the door's cache of its method's Ruby name (an ID,
 * learnt at its first loan), by which a loan names its method without
 * asking Ruby. Outside door bodies the two names are these functions, never
 * called: CLEAT__HELD is then Qundef (nothing held) and CLEAT__DOOR_NAME
 * NULL (a loan asks Ruby). A parameter that shadows a function is no
 * -Wshadow warning, so extensions may build with -Wshadow -Werror. */
static inline void cleat__held(void) {}
static inline void cleat__door_name(void) {}
#define CLEAT__HELD _Generic((cleat__held), VALUE: (cleat__held), default: RUBY_Qundef)
#define CLEAT__DOOR_NAME \
    _Generic((cleat__door_name), atomic_uintptr_t *: (cleat__door_name), default: (atomic_uintptr_t *)NULL)
CLEAT_API CLEAT_NORETURN void cleat__refuse_held(VALUE obj);
CLEAT_INLINE void *cleat__unwrap_mut_held(VALUE obj, const cleat_type *type, VALUE held)
{
    /* Another type's receiver is a TypeError first, as everywhere else.
     * Outside a body held is the constant Qundef: the test folds away (and
     * gcc never sees cleat_is read a Qundef, which -Warray-bounds reports). */
    if (CLEAT_UNLIKELY(obj == held) && held != RUBY_Qundef && cleat_is(obj, type)) cleat__refuse_held(obj);
    return cleat__enter(obj, type, CLEAT_BORROW_EXCLUSIVE);
}

/* The struct of obj for writing: as cleat_unwrap, and also FrozenError when
 * obj is frozen, Cleat::BorrowError when obj is lent at all, and
 * Cleat::BorrowError "X#method was given its own receiver; it holds the X
 * already" when obj is the receiver of the door body that calls it
 * (`a.append_all(a)` would read the buffer it is growing). A helper outside
 * the body is not checked: give it the struct pointer the body holds
 * instead of the VALUE. Runs no Ruby code. */
CLEAT_INLINE void *(cleat_unwrap_mut)(VALUE obj, const cleat_type *type)
{
    return cleat__enter(obj, type, CLEAT_BORROW_EXCLUSIVE); /* the function, for its address: no receiver known */
}
#define cleat_unwrap_mut(obj, type) cleat__unwrap_mut_held((obj), (type), CLEAT__HELD)

/* True when obj is an object of `type` whose methods work: initialize (or
 * cleat_type_ready, or dup/clone) finished, or the type is
 * CLEAT_ZERO_IS_VALID. False for anything else, an object made by allocate
 * or whose initialize raised included: an #inspect written as a
 * CLEAT_FUNCTION can ask before unwrapping. Never raises, runs no Ruby code,
 * ignores loans and frozenness. */
CLEAT_INLINE bool cleat_initialized_p(VALUE obj, const cleat_type *type)
{
    return cleat_is(obj, type) && RTYPEDDATA_DATA(obj) &&
           (cleat__header(RTYPEDDATA_DATA(obj))->state & CLEAT__INIT);
}

/* ======================================================================
 * 5. Methods: the door
 * ======================================================================
 *
 * Example:
 *   typedef struct { int64_t count; } counter_t;
 *   CLEAT_TYPE(counter_type, "Counter", counter_t, NULL);
 *   CLEAT_INIT(counter_initialize, counter_type, counter_t *c, initial) {
 *       c->count = cleat_to_int64(initial);
 *       return self;
 *   }
 *   CLEAT_SHARED(counter_value, counter_type, counter_t *c) {
 *       return LL2NUM(c->count);
 *   }
 *   CLEAT_EXCLUSIVE(counter_reset, counter_type, counter_t *c) {
 *       c->count = 0;
 *       return self;
 *   }
 *   void Init_counter(void) {
 *       VALUE klass = cleat_type_define_class(&counter_type, rb_cObject);
 *       CLEAT_DEFINE_METHOD(klass, "initialize", counter_initialize);
 *       CLEAT_DEFINE_METHOD(klass, "value", counter_value);
 *       CLEAT_DEFINE_METHOD(klass, "reset", counter_reset);
 *   }
 *
 * Each macro defines the Ruby-facing function `name` (arity 0..15, taken from
 * the argument names after the struct pointer) and opens the body, which
 * receives `self`, the checked struct pointer and the arguments as VALUEs.
 * The door checks the receiver's type, that it was initialised, its borrow
 * state, and (exclusive) that it is not frozen; nothing else, and nothing on
 * the way out. Bodies that call Ruby code (yield, call a method, release the
 * GVL) do it through CLEAT_YIELD, CLEAT_CALL, CLEAT_LEND and
 * CLEAT_WITHOUT_GVL, which lend the object for the duration.
 *
 * A CLEAT_SHARED body's struct pointer points to const (the macro adds the
 * qualifier: write the type without it): shared means read, and a store
 * through it does not compile.
 *
 * CLEAT_INIT is for `initialize`: it refuses objects already initialised
 * (TypeError "already initialized X") and marks the object initialised when
 * the body returns normally; until then every other method raises TypeError
 * "uninitialized X". The _ARGV forms take (int argc, const VALUE *argv).
 */
#define CLEAT_SHARED(name, type, ...) CLEAT__DOOR_N(CLEAT_BORROW_SHARED, name, type, __VA_ARGS__)
#define CLEAT_EXCLUSIVE(name, type, ...) \
    CLEAT__DOOR_N(CLEAT_BORROW_EXCLUSIVE, name, type, __VA_ARGS__)
#define CLEAT_INIT(name, type, ...) CLEAT__DOOR_N(0, name, type, __VA_ARGS__)
#define CLEAT_SHARED_ARGV(name, type, decl) CLEAT__DOOR_ARGV(CLEAT_BORROW_SHARED, name, type, decl)
#define CLEAT_EXCLUSIVE_ARGV(name, type, decl) \
    CLEAT__DOOR_ARGV(CLEAT_BORROW_EXCLUSIVE, name, type, decl)
#define CLEAT_INIT_ARGV(name, type, decl) CLEAT__DOOR_ARGV(0, name, type, decl)

/* rb_define_method with the arity the door macro recorded; also records the
 * method (class, name, arity, shared/exclusive/init) in the extension's
 * registry, which `rake test:fuzz` reads (section 15). Raises what
 * rb_define_method raises, NoMemoryError; runs what it runs (a
 * method_added hook). */
#define CLEAT_DEFINE_METHOD(klass, ruby_name, name)                                              \
    ((void)(0 ? (CLEAT__DEFINE(rb_define_method, klass, ruby_name, name), 0) : 0), /* type check */ \
     cleat__define_method((klass), (ruby_name), RUBY_METHOD_FUNC(name), name##__arity, name##__door))

/* ---- private methods, singleton methods, module functions ------------
 *
 * Example:
 *   CLEAT_EXCLUSIVE(counter_clear, counter_type, counter_t *c) {
 *       c->count = 0;
 *       return Qnil;
 *   }
 *   CLEAT_FUNCTION(counter_s_limit) { return LL2NUM(INT64_MAX); } // self: the class
 *   CLEAT_FUNCTION(guide_double, x) { return rb_funcall(x, '+', 1, x); }
 *   CLEAT_FUNCTION_ARGV(guide_count) { return INT2NUM(argc); }   // argc, argv, self
 *   void counter_define_more(VALUE klass, VALUE module) {
 *       CLEAT_DEFINE_PRIVATE_METHOD(klass, "clear", counter_clear);
 *       CLEAT_DEFINE_SINGLETON_METHOD(klass, "limit", counter_s_limit);
 *       CLEAT_DEFINE_MODULE_FUNCTION(module, "double", guide_double);
 *       CLEAT_DEFINE_MODULE_FUNCTION(module, "count", guide_count);
 *   }
 *
 * A door (CLEAT_SHARED, CLEAT_EXCLUSIVE, CLEAT_INIT) checks that its
 * receiver is an object of its type, so it makes instance methods, public
 * or private. CLEAT_FUNCTION makes a method whose receiver is not a Cleat
 * object (a class, a module, any object): the body gets `self` and the
 * arguments as VALUEs (0..15 of them; CLEAT_FUNCTION_ARGV: int argc,
 * const VALUE *argv, VALUE self), with no door, no borrow state and no
 * cleat_mode (call Ruby with rb_yield and rb_funcall directly; unwrap a
 * Cleat argument with cleat_unwrap). Each records its arity like a door, so
 * every CLEAT_DEFINE_* passes it for you. Singleton methods and module
 * functions take only CLEAT_FUNCTIONs: a door there is a compile error
 * ("a door checks an instance of its type"). CLEAT_DEFINE_METHOD and
 * CLEAT_DEFINE_PRIVATE_METHOD take either. */

/* rb_define_private_method with the recorded arity: a door or a CLEAT_FUNCTION. */
#define CLEAT_DEFINE_PRIVATE_METHOD(klass, ruby_name, name) \
    CLEAT__DEFINE(rb_define_private_method, klass, ruby_name, name)
/* rb_define_singleton_method (obj: a class, module or any object) with the
 * recorded arity of a CLEAT_FUNCTION. */
#define CLEAT_DEFINE_SINGLETON_METHOD(obj, ruby_name, name) \
    CLEAT__DEFINE_FUNCTION(rb_define_singleton_method, obj, ruby_name, name)
/* rb_define_module_function (a private instance method and a singleton
 * method of module) with the recorded arity of a CLEAT_FUNCTION. */
#define CLEAT_DEFINE_MODULE_FUNCTION(module, ruby_name, name) \
    CLEAT__DEFINE_FUNCTION(rb_define_module_function, module, ruby_name, name)

/* Defines `static VALUE name(VALUE self, VALUE a1, ...)` and records its
 * arity (0..15, from the argument names); the body follows. */
#define CLEAT_FUNCTION(...) CLEAT__CAT(CLEAT__FUNCTION_, CLEAT__NARG(__VA_ARGS__))(__VA_ARGS__)
/* Defines `static VALUE name(int argc, const VALUE *argv, VALUE self)`
 * (arity -1: use rb_scan_args); the body follows. */
#define CLEAT_FUNCTION_ARGV(name)                                  \
    enum { name##__arity = -1, name##__door = CLEAT__NO_DOOR };     \
    static VALUE name(CLEAT_UNUSED int argc, CLEAT_UNUSED const VALUE *argv, CLEAT_UNUSED VALUE self)

/* Every CLEAT_DEFINE_* goes through here: the one place that knows a
 * method's (target, name, function, arity, door kind). name##__door is the
 * door's borrow mode (0 for CLEAT_INIT) or CLEAT__NO_DOOR. */
#define CLEAT__NO_DOOR (-1)
#define CLEAT__DEFINE(define, target, ruby_name, name) \
    define((target), (ruby_name), (name), name##__arity)
#define CLEAT__DEFINE_FUNCTION(define, target, ruby_name, name)                               \
    do {                                                                                       \
        _Static_assert(name##__door == CLEAT__NO_DOOR,                                         \
                       #name ": a door checks an instance of its type; singleton methods and " \
                       "module functions are CLEAT_FUNCTION");                                 \
        CLEAT__DEFINE(define, target, ruby_name, name);                                        \
    } while (0)
#define CLEAT__FUNCTION(f, n, params)                            \
    enum { f##__arity = n, f##__door = CLEAT__NO_DOOR };          \
    static VALUE f(CLEAT_UNUSED VALUE self CLEAT__STRIP params)
#define CLEAT__FUNCTION_1(f) CLEAT__FUNCTION(f, 0, ())
#define CLEAT__FUNCTION_2(f, a1) CLEAT__FUNCTION(f, 1, (, VALUE a1))
#define CLEAT__FUNCTION_3(f, a1, a2) CLEAT__FUNCTION(f, 2, (, VALUE a1, VALUE a2))
#define CLEAT__FUNCTION_4(f, a1, a2, a3) CLEAT__FUNCTION(f, 3, (, VALUE a1, VALUE a2, VALUE a3))
#define CLEAT__FUNCTION_5(f, a1, a2, a3, a4) \
    CLEAT__FUNCTION(f, 4, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4))
#define CLEAT__FUNCTION_6(f, a1, a2, a3, a4, a5) \
    CLEAT__FUNCTION(f, 5, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5))
#define CLEAT__FUNCTION_7(f, a1, a2, a3, a4, a5, a6) \
    CLEAT__FUNCTION(f, 6, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6))
#define CLEAT__FUNCTION_8(f, a1, a2, a3, a4, a5, a6, a7) \
    CLEAT__FUNCTION(f, 7, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7))
#define CLEAT__FUNCTION_9(f, a1, a2, a3, a4, a5, a6, a7, a8) \
    CLEAT__FUNCTION(f, 8, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8))
#define CLEAT__FUNCTION_10(f, a1, a2, a3, a4, a5, a6, a7, a8, a9) \
    CLEAT__FUNCTION(f, 9, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9))
#define CLEAT__FUNCTION_11(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) \
    CLEAT__FUNCTION(f, 10, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10))
#define CLEAT__FUNCTION_12(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) \
    CLEAT__FUNCTION(f, 11, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11))
#define CLEAT__FUNCTION_13(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) \
    CLEAT__FUNCTION(f, 12, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12))
#define CLEAT__FUNCTION_14(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) \
    CLEAT__FUNCTION(f, 13, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13))
#define CLEAT__FUNCTION_15(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) \
    CLEAT__FUNCTION(f, 14, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13, VALUE a14))
#define CLEAT__FUNCTION_16(f, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) \
    CLEAT__FUNCTION(f, 15, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13, VALUE a14, VALUE a15))

/* Marks obj initialised (not for direct use). */
CLEAT_INLINE void cleat__initialized(void *data) { cleat__header(data)->state |= CLEAT__INIT; }
/* After CLEAT_INIT's body returned: checks that no field refusing nil is nil
 * (TypeError), then marks the object initialised (not for direct use). */
CLEAT_API void cleat__init_done(const cleat_type *type, VALUE self, void *data);

#define CLEAT__STRIP(...) __VA_ARGS__
#define CLEAT__CAT(a, b) CLEAT__CAT_(a, b)
#define CLEAT__CAT_(a, b) a##b
#define CLEAT__NARG(...) \
    CLEAT__NARG_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define CLEAT__NARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N,  \
                      ...)                                                                      \
    N
#define CLEAT__DOOR_N(m, f, t, ...) CLEAT__CAT(CLEAT__DOOR_, CLEAT__NARG(__VA_ARGS__))(m, f, t, __VA_ARGS__)

/* The body's hidden `cleat_mode` parameter is how CLEAT_YIELD and friends
 * know whether to lend the object shared or exclusively; its hidden
 * `cleat__held` (the receiver) is how cleat_unwrap_mut refuses it, and
 * `cleat__door_name` how a loan names its method without asking Ruby. A shared body's
 * struct pointer points to const: shared means read, and a store through it
 * is a compile error (the declaration's type is written without const). */
#define CLEAT__BODY_PARAMS(m, decl)                                                  \
    CLEAT_UNUSED VALUE self, CLEAT_UNUSED cleat_borrow_mode cleat_mode,                  \
        CLEAT_UNUSED VALUE cleat__held, CLEAT_UNUSED atomic_uintptr_t *cleat__door_name,  \
        CLEAT__CAT(CLEAT__QUAL_, m) decl
#define CLEAT__QUAL_CLEAT_BORROW_SHARED const
#define CLEAT__QUAL_CLEAT_BORROW_EXCLUSIVE
#define CLEAT__QUAL_0
/* Debug builds check each call on the way in and out (section 13). */
#ifdef CLEAT_DEBUG
#define CLEAT__DEBUG_ENTRY(t, m) \
    const uint64_t cleat_debug_frame_ = cleat__debug_enter(self, &(t), (m), __builtin_frame_address(0));
#define CLEAT__DEBUG_EXIT(t, m) cleat__debug_exit(self, &(t), (m), cleat_debug_frame_);
#else
#define CLEAT__DEBUG_ENTRY(t, m)
#define CLEAT__DEBUG_EXIT(t, m)
#endif
/* A body declared with another type's struct (CLEAT_EXCLUSIVE(count,
 * buf_type, rec_t *r, n): a copy-paste slip that wrote past the struct) is
 * a compile error, -Werror or not: the door passes the struct CLEAT_TYPE
 * declared for the type. */
#if defined(__GNUC__) || defined(__clang__)
#define CLEAT__STRICT_POINTERS_BEGIN \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic error \"-Wincompatible-pointer-types\"")
#define CLEAT__STRICT_POINTERS_END _Pragma("GCC diagnostic pop")
#else
#define CLEAT__STRICT_POINTERS_BEGIN
#define CLEAT__STRICT_POINTERS_END
#endif
#define CLEAT__DOOR(m, f, t, decl, n, params, fwd)                                             \
    enum { f##__arity = n, f##__door = (m) };                                                  \
    static atomic_uintptr_t f##__name;                                                         \
    static VALUE f##__body(CLEAT__BODY_PARAMS(m, decl) CLEAT__STRIP params);                      \
    static VALUE f(VALUE self CLEAT__STRIP params)                                             \
    {                                                                                          \
        void *cleat_data_ = cleat__enter(self, &(t), (m));                                     \
        CLEAT__DEBUG_ENTRY(t, m)                                                               \
        CLEAT__STRICT_POINTERS_BEGIN                                                           \
        VALUE cleat_ret_ = f##__body(self, (m) ? (cleat_borrow_mode)(m)                        \
                                                : CLEAT_BORROW_EXCLUSIVE,                      \
                                      self, &f##__name, (t##__struct *)cleat_data_ CLEAT__STRIP fwd);      \
        CLEAT__STRICT_POINTERS_END                                                             \
        if (!(m)) cleat__init_done(&(t), self, cleat_data_);                                   \
        CLEAT__DEBUG_EXIT(t, m)                                                                \
        return cleat_ret_;                                                                     \
    }                                                                                          \
    static VALUE f##__body(CLEAT__BODY_PARAMS(m, decl) CLEAT__STRIP params)
#define CLEAT__DOOR_ARGV(m, f, t, decl)                                                        \
    enum { f##__arity = -1, f##__door = (m) };                                                 \
    static atomic_uintptr_t f##__name;                                                         \
    static VALUE f##__body(CLEAT__BODY_PARAMS(m, decl), int argc, const VALUE *argv);             \
    static VALUE f(int argc, VALUE *argv, VALUE self)                                          \
    {                                                                                          \
        void *cleat_data_ = cleat__enter(self, &(t), (m));                                     \
        CLEAT__DEBUG_ENTRY(t, m)                                                               \
        CLEAT__STRICT_POINTERS_BEGIN                                                           \
        VALUE cleat_ret_ = f##__body(self, (m) ? (cleat_borrow_mode)(m)                        \
                                                : CLEAT_BORROW_EXCLUSIVE,                      \
                                      self, &f##__name, (t##__struct *)cleat_data_, argc, argv);           \
        CLEAT__STRICT_POINTERS_END                                                             \
        if (!(m)) cleat__init_done(&(t), self, cleat_data_);                                   \
        CLEAT__DEBUG_EXIT(t, m)                                                                \
        return cleat_ret_;                                                                     \
    }                                                                                          \
    static VALUE f##__body(CLEAT__BODY_PARAMS(m, decl), int argc, const VALUE *argv)

#define CLEAT__DOOR_1(m, f, t, decl) \
    CLEAT__DOOR(m, f, t, decl, 0, (), ())
#define CLEAT__DOOR_2(m, f, t, decl, a1) \
    CLEAT__DOOR(m, f, t, decl, 1, (, VALUE a1), (, a1))
#define CLEAT__DOOR_3(m, f, t, decl, a1, a2) \
    CLEAT__DOOR(m, f, t, decl, 2, (, VALUE a1, VALUE a2), (, a1, a2))
#define CLEAT__DOOR_4(m, f, t, decl, a1, a2, a3) \
    CLEAT__DOOR(m, f, t, decl, 3, (, VALUE a1, VALUE a2, VALUE a3), (, a1, a2, a3))
#define CLEAT__DOOR_5(m, f, t, decl, a1, a2, a3, a4) \
    CLEAT__DOOR(m, f, t, decl, 4, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4), (, a1, a2, a3, a4))
#define CLEAT__DOOR_6(m, f, t, decl, a1, a2, a3, a4, a5) \
    CLEAT__DOOR(m, f, t, decl, 5, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5), (, a1, a2, a3, a4, a5))
#define CLEAT__DOOR_7(m, f, t, decl, a1, a2, a3, a4, a5, a6) \
    CLEAT__DOOR(m, f, t, decl, 6, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6), (, a1, a2, a3, a4, a5, a6))
#define CLEAT__DOOR_8(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7) \
    CLEAT__DOOR(m, f, t, decl, 7, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7), (, a1, a2, a3, a4, a5, a6, a7))
#define CLEAT__DOOR_9(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8) \
    CLEAT__DOOR(m, f, t, decl, 8, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8), (, a1, a2, a3, a4, a5, a6, a7, a8))
#define CLEAT__DOOR_10(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9) \
    CLEAT__DOOR(m, f, t, decl, 9, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9), (, a1, a2, a3, a4, a5, a6, a7, a8, a9))
#define CLEAT__DOOR_11(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10) \
    CLEAT__DOOR(m, f, t, decl, 10, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10))
#define CLEAT__DOOR_12(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11) \
    CLEAT__DOOR(m, f, t, decl, 11, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11))
#define CLEAT__DOOR_13(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12) \
    CLEAT__DOOR(m, f, t, decl, 12, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12))
#define CLEAT__DOOR_14(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13) \
    CLEAT__DOOR(m, f, t, decl, 13, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13))
#define CLEAT__DOOR_15(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14) \
    CLEAT__DOOR(m, f, t, decl, 14, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13, VALUE a14), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14))
#define CLEAT__DOOR_16(m, f, t, decl, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15) \
    CLEAT__DOOR(m, f, t, decl, 15, (, VALUE a1, VALUE a2, VALUE a3, VALUE a4, VALUE a5, VALUE a6, VALUE a7, VALUE a8, VALUE a9, VALUE a10, VALUE a11, VALUE a12, VALUE a13, VALUE a14, VALUE a15), (, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15))

/* ======================================================================
 * 6. Borrowing: lending the object while other code runs
 * ======================================================================
 *
 * Inside a door body nothing else can reach the object until the body calls
 * Ruby code. These functions are those calls: they mark `self` as lent
 * (shared or exclusively, as the running method was declared) for exactly
 * as long as the Ruby code runs, and restore it on return, exception,
 * break or throw. Meanwhile a conflicting method on the object raises
 * Cleat::BorrowError "X is borrowed by #holder; #needer needs it
 * exclusively". A Fiber that suspends inside keeps the loan until it is
 * resumed to its end, or until the GC collects it (an external enumerator
 * dropped after #next); a thread gone in a child after fork returns its
 * loans the same way. The next conflicting call then goes in. Pass the `self` and `cleat_mode` of the running
 * door; the CLEAT_* macros below do that for you. */

/* Runs func(arg) with self lent; returns what func returns. An exclusive
 * loan of an object frozen meanwhile raises FrozenError once func returns
 * (so do the others below, which lend through it). */
CLEAT_API VALUE cleat_borrow_lend(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE),
                                    VALUE arg);
/* Yields value to the block with self lent; returns the block's value.
 * Raises LocalJumpError without a block, and whatever the block raises. */
CLEAT_API VALUE cleat_borrow_yield(VALUE self, cleat_borrow_mode mode, VALUE value);
/* Calls recv.mid(*argv) (public or private) with self lent. */
CLEAT_API VALUE cleat_borrow_call(VALUE self, cleat_borrow_mode mode, VALUE recv, ID mid,
                                    int argc, const VALUE *argv);
/* Yields value(data, 0) ... value(data, count - 1) to the block, one at a
 * time, with self lent once around them all: the loop a method that yields
 * many values wants, at the cost of one loan (CLEAT_YIELD lends once per
 * value). The object cannot change while lent, so data (the body's struct,
 * say) and count stay right throughout; value runs Ruby code at its peril
 * (it is inside the loan: an allocation is fine). A continuation that comes
 * back into the loop after the loan ended raises Cleat::BorrowError before
 * value runs again. Returns nil (a break leaves with its value, as
 * anywhere). Raises ArgumentError without a value function, LocalJumpError
 * without a block, and whatever the block or value raise. */
CLEAT_API VALUE cleat_borrow_yield_each(VALUE self, cleat_borrow_mode mode, size_t count,
                                        VALUE (*value)(const void *data, size_t i), const void *data);

/* The same, naming the loans' method from the door's cache (not for direct use). */
CLEAT_API VALUE cleat__borrow_lend_as(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE), VALUE arg,
                                        atomic_uintptr_t *name);
CLEAT_API VALUE cleat__borrow_yield_as(VALUE self, cleat_borrow_mode mode, VALUE value, atomic_uintptr_t *name);
CLEAT_API VALUE cleat__borrow_call_as(VALUE self, cleat_borrow_mode mode, VALUE recv, ID mid, int argc,
                                        const VALUE *argv, atomic_uintptr_t *name);
CLEAT_API VALUE cleat__borrow_yield_each_as(VALUE self, cleat_borrow_mode mode, size_t count,
                                            VALUE (*value)(const void *data, size_t i), const void *data,
                                            atomic_uintptr_t *name);

#define CLEAT_LEND(func, arg) cleat__borrow_lend_as(self, cleat_mode, (func), (arg), CLEAT__DOOR_NAME)
#define CLEAT_YIELD(value) cleat__borrow_yield_as(self, cleat_mode, (value), CLEAT__DOOR_NAME)
#define CLEAT_CALL(recv, mid, argc, argv) \
    cleat__borrow_call_as(self, cleat_mode, (recv), (mid), (argc), (argv), CLEAT__DOOR_NAME)
#define CLEAT_YIELD_EACH(count, value, data) \
    cleat__borrow_yield_each_as(self, cleat_mode, (count), (value), (data), CLEAT__DOOR_NAME)

/* ======================================================================
 * 7. Without the GVL
 * ====================================================================== */

/* Set when Ruby wants the thread back (Thread#kill, Ctrl-C, a signal). */
typedef struct cleat_cancel {
    atomic_int requested;
} cleat_cancel;

/* True once the running GVL-free function should stop early. Safe to call
 * without the GVL; poll it in long loops. */
CLEAT_INLINE bool cleat_cancelled(const cleat_cancel *cancel)
{
    return atomic_load_explicit(&((cleat_cancel *)cancel)->requested, memory_order_relaxed) != 0;
}

/* Runs func(arg, cancel) without the GVL while self stays lent (shared or
 * exclusive as mode says), so no other thread can use it in a conflicting
 * way. func must not touch Ruby objects or call the Ruby API; it returns true
 * when it finished and false when it stopped because cleat_cancelled(cancel).
 * On an interrupt Cleat lets Ruby handle it (Thread#kill and Interrupt raise
 * here, the loan is returned; trap handlers run, with self still lent); if
 * Ruby carries on, func is called again with the same arg and must resume
 * where it stopped, keeping its progress in arg. Interrupts may come faster
 * than any amount of work (Thread#wakeup in a loop, a signal storm): to be
 * sure to finish, func does some work before each poll, never only polls.
 * A func that starts over instead may never finish. Raises what interrupts
 * raise, Cleat::Error when func returns false uncancelled, BorrowError. */
CLEAT_API void cleat_without_gvl(VALUE self, cleat_borrow_mode mode,
                                   bool (*func)(void *arg, const cleat_cancel *cancel), void *arg);

#define CLEAT_WITHOUT_GVL(func, arg) cleat_without_gvl(self, cleat_mode, (func), (arg))

/* ======================================================================
 * 8. Arguments
 * ====================================================================== */

/* An Integer as int64_t. Raises TypeError "wrong argument type Float
 * (expected Integer)" for anything but an Integer (no Float truncation, no
 * nil), RangeError "integer N out of range of int64" when it does not fit,
 * or "integer too big for int64" when N has more than 256 bits (the message
 * does not print a number that long). The other conversions say the same
 * with their own type name. */
CLEAT_API int64_t cleat__to_int64_slow(VALUE v);
CLEAT_INLINE int64_t cleat_to_int64(VALUE v)
{
    return CLEAT_LIKELY(RB_FIXNUM_P(v)) ? (int64_t)RB_FIX2LONG(v) : cleat__to_int64_slow(v);
}
/* An Integer as uint64_t; negative numbers raise RangeError. */
CLEAT_API uint64_t cleat_to_uint64(VALUE v);
/* An Integer as size_t; negative numbers raise RangeError. */
CLEAT_API size_t cleat_to_size(VALUE v);
/* An Integer as size_t in *out, returning false (no exception) when it is
 * negative or too large: for offsets whose out-of-range is the caller's own
 * error (a Trap, say). Non-Integers still raise TypeError. */
CLEAT_API bool cleat_try_to_size(VALUE v, size_t *out);
/* Raises TypeError "wrong argument type A (expected B)" unless v.kind_of?(klass). */
CLEAT_API void cleat_check_kind(VALUE v, VALUE klass);

/* ---- conversions that may run Ruby code, with the object lent ----------
 *
 * NUM2DBL, StringValue and NUM2LL call to_f, to_str and to_int: Ruby code,
 * which may reach the object whose method is running. These take the door
 * (the receiver and how its method holds it) and lend the object for just
 * as long as that code runs, with the owners of the views its struct
 * declares lent shared (so bytes from cleat_view_bytes stay valid across
 * the conversion), so a conflicting call from it raises Cleat::BorrowError;
 * a Float, an Integer or a real String converts without calling anything.
 *
 * A helper function that converts for a door body takes a `cleat_door`
 * parameter, and the body passes CLEAT_DOOR: the one convention by which
 * code outside a body acts for it (it lends as the body would). Example:
 *   typedef struct { double x, y; } point_t;
 *   CLEAT_TYPE(point_type, "Point", point_t, NULL, .flags = CLEAT_ZERO_IS_VALID);
 *   CLEAT_EXCLUSIVE(point_set_x, point_type, point_t *p, x) {
 *       p->x = cleat_to_double(CLEAT_DOOR, x);
 *       return x;
 *   }
 *   static double coordinate(cleat_door door, VALUE v) { // a helper acting for a body
 *       double d = cleat_to_double(door, v);
 *       if (!(d >= -1e9 && d <= 1e9)) rb_raise(rb_eRangeError, "coordinate out of range");
 *       return d;
 *   }
 *   CLEAT_EXCLUSIVE(point_move, point_type, point_t *p, dx, dy) {
 *       double x = coordinate(CLEAT_DOOR, dx), y = coordinate(CLEAT_DOOR, dy);
 *       p->x += x; // converted first: no pointer is kept across Ruby code
 *       p->y += y;
 *       return self;
 *   }
 *   void Init_point(void) {
 *       VALUE klass = cleat_type_define_class(&point_type, rb_cObject);
 *       CLEAT_DEFINE_METHOD(klass, "x=", point_set_x);
 *       CLEAT_DEFINE_METHOD(klass, "move", point_move);
 *   }
 */
typedef struct cleat_door {
    VALUE self;              /* the receiver */
    cleat_borrow_mode mode; /* shared or exclusive, as the method holds it */
    atomic_uintptr_t *name;  /* the door's name cache (CLEAT_DOOR fills it; NULL: none) */
} cleat_door;
/* Inside a door body: the door of the running method. */
#define CLEAT_DOOR ((cleat_door){self, cleat_mode, CLEAT__DOOR_NAME})

CLEAT_API double cleat__to_double_slow(cleat_door door, VALUE v);
CLEAT_API VALUE cleat__str_value_slow(cleat_door door, VALUE v);
CLEAT_API int64_t cleat__num_to_int64_slow(cleat_door door, VALUE v);

/* v as a double, as NUM2DBL converts it: a Float or an Integer directly;
 * nil, true, false and Strings raise TypeError; anything else through to_f,
 * with door.self lent. Raises what to_f raises, BorrowError. */
CLEAT_INLINE double cleat_to_double(cleat_door door, VALUE v)
{
    if (RB_FLOAT_TYPE_P(v)) return RFLOAT_VALUE(v);
    if (RB_FIXNUM_P(v)) return (double)RB_FIX2LONG(v);
    return cleat__to_double_slow(door, v);
}
/* v as a String, as StringValue converts it: a String itself; anything else
 * through to_str, with door.self lent (TypeError when it has none or it
 * returns no String). Keep the result in a VALUE while you use its bytes,
 * and take RSTRING_PTR again after anything that runs Ruby code
 * (CLEAT_YIELD, CLEAT_CALL): only self is lent, not the String, which that
 * code may change or resize (its old bytes are freed; no build notices). Or
 * work on a frozen copy (rb_str_new_frozen), whose bytes stay put. */
CLEAT_INLINE VALUE cleat_str_value(cleat_door door, VALUE v)
{
    return RB_TYPE_P(v, RUBY_T_STRING) ? v : cleat__str_value_slow(door, v);
}
/* v as int64_t, as NUM2LL converts it but never truncating a Float: an
 * Integer directly (RangeError when it does not fit); a Float raises
 * TypeError, as nil, true, false and Strings do; anything else through
 * to_int, with door.self lent. */
CLEAT_INLINE int64_t cleat_num_to_int64(cleat_door door, VALUE v)
{
    return CLEAT_LIKELY(RB_FIXNUM_P(v)) ? (int64_t)RB_FIX2LONG(v) : cleat__num_to_int64_slow(door, v);
}

/* rb_reg_search(re, str, pos, reverse) with door.self lent (and its views'
 * owners, shared): the byte offset where re matches str searching from
 * pos (backwards with reverse), or -1; sets $~ as rb_reg_search does. A
 * regex search runs Ruby code without saying so: Onigmo checks for
 * interrupts while it matches, and trap handlers, finalizers and
 * Thread#raise run there, so a handler that calls the object gets
 * BorrowError instead of changing it under the body. A str not frozen is
 * searched through a frozen copy (sharing its bytes: no copy of them), so
 * that code may change str without harm; $~ refers to the copy. Raises TypeError
 * unless re is a Regexp and str a String, what matching raises (an encoding
 * mismatch, Regexp::TimeoutError) and what the interrupts raise. Costs one
 * loan (tens of ns) on top of the search. */
CLEAT_API long cleat_reg_search(cleat_door door, VALUE re, VALUE str, long pos, bool reverse);

/* ======================================================================
 * 9. Errors
 * ====================================================================== */

/* Cleat::Error < StandardError, Cleat::BorrowError < RuntimeError and
 * Cleat::StaleReferenceError < RuntimeError; defined once per process
 * however many Cleat-based extensions load. Valid after cleat_init. */
CLEAT_API extern VALUE cleat_eError;
CLEAT_API extern VALUE cleat_eBorrowError;
CLEAT_API extern VALUE cleat_eStaleReferenceError;

/* Structured errors: an exception class that is a Cleat type, so each
 * exception carries a struct (a code, say). Define the type with
 * CLEAT_ZERO_IS_VALID (Klass.new("message") from Ruby then works too) and
 * its class under an exception class. Returns a new exception with the given
 * message (a String) in *exc and its struct (zeroed, VALUE fields nil) to fill; raise it with
 * rb_exc_raise(*exc). Raises TypeError when type's class is not an
 * exception class or message is not a String (no to_str), ArgumentError
 * when the type lacks CLEAT_ZERO_IS_VALID. Runs the class's initialize,
 * which Ruby code may redefine: call it only right before raising. */
CLEAT_API void *cleat_exception_new(const cleat_type *type, VALUE message, VALUE *exc);

/* ======================================================================
 * 10. GC helpers
 * ====================================================================== */

/* Makes the C global at address a GC root: its value is marked (and pinned)
 * for the rest of the process. Assign it freely afterwards. */
CLEAT_API void cleat_gc_root(VALUE *address);
/* Tells the GC that the extension took (grew) or gave back (shrank) bytes
 * of native memory it allocated with plain malloc, so GC pressure stays
 * honest. Not needed for ruby_xmalloc memory, which Ruby already counts. */
CLEAT_API void cleat_gc_memory_grew(size_t bytes);
CLEAT_API void cleat_gc_memory_shrank(size_t bytes);

/* ======================================================================
 * 11. Guarded memory: regions that move, views that notice
 * ======================================================================
 *
 * A region is native memory owned by a Cleat object that may move, shrink
 * or be freed (a Wasm memory, a resizable buffer). Its generation changes
 * whenever that happens. A view (an offset and length into a region, held by
 * another Ruby object) remembers the generation it was made at; every access
 * checks generation and bounds first and raises
 * Cleat::StaleReferenceError "memory was resized, reference is no longer
 * valid" instead of reading freed memory.
 *
 * Example:
 *   typedef struct { cleat_region region; } memory_t;
 *   static const cleat_field memory_fields[] = {
 *       CLEAT_FIELD_REGION(memory_t, region), CLEAT_FIELDS_END};
 *   CLEAT_TYPE(memory_type, "Memory", memory_t, memory_fields);
 *   typedef struct { cleat_view view; } slice_t;
 *   static const cleat_field slice_fields[] = {
 *       CLEAT_FIELD_VIEW(slice_t, view, &memory_type), CLEAT_FIELDS_END};
 *   CLEAT_TYPE(slice_type, "Memory::Slice", slice_t, slice_fields);
 */
typedef struct cleat_region {
    unsigned char *base; /* never NULL while allocated */
    size_t size;         /* bytes */
    uint64_t generation; /* changes whenever base or size does; 0 = never allocated */
    VALUE buffers;       /* the IO::Buffers lent over the region (a hidden Array, marked
                            strongly until the region changes), or 0 */
} cleat_region;

typedef struct cleat_view {
    VALUE owner;                 /* the object holding the region: kept alive */
    const cleat_region *region; /* inside owner's struct, which never moves */
    size_t offset, length;
    uint64_t generation; /* the region's generation when the view was made */
} cleat_view;

/* Gives the region `size` zeroed bytes in a fresh allocation, copying what
 * fits of the old contents, then frees the old memory. Every view and lent
 * IO::Buffer over the old memory goes stale. owner is the object whose struct
 * holds r. Raises NoMemoryError, or Cleat::BorrowError while owner is lent
 * (nothing changed either way). Calls no Ruby code, so
 * nothing can re-enter the owner meanwhile. Compute `size` overflow-checked:
 * it is taken as given. */
CLEAT_API void cleat_region_resize(VALUE owner, cleat_region *r, size_t size);
/* Frees the region's memory; views and buffers go stale. Never raises,
 * calls no Ruby code. */
CLEAT_API void cleat_region_release(VALUE owner, cleat_region *r);

/* True when [offset, offset + length) lies inside the region; never overflows. */
CLEAT_INLINE bool cleat_region_contains(const cleat_region *r, size_t offset, size_t length)
{
    return r->base && length <= r->size && offset <= r->size - length;
}

/* Makes *v (a declared CLEAT_FIELD_VIEW of self) a view of
 * r[offset, offset + length), r being a region of owner's struct. Raises
 * RangeError "view out of bounds" when it does not fit, StaleReferenceError
 * when the region was released, ArgumentError when r is not owner's. */
CLEAT_API void cleat_view_init(VALUE self, cleat_view *v, VALUE owner, const cleat_region *r,
                                 size_t offset, size_t length);

/* The slow path: raises why the view was refused, or returns its bytes
 * when the refusal was a loan whose holder can no longer run (returned now). */
CLEAT_API const unsigned char *cleat__view_failed(const cleat_view *v);
#ifdef CLEAT_DEBUG
/* Reports a Cleat call made without the GVL (a GVL-free function's). */
CLEAT_API void cleat__debug_needs_gvl(const char *function);
#endif

/* The view's first byte, after checking it: StaleReferenceError when the
 * region changed since the view was made, Cleat::BorrowError when the owner
 * is lent exclusively. Valid until the next call into Ruby. */
CLEAT_INLINE const unsigned char *cleat_view_bytes(const cleat_view *v)
{
#ifdef CLEAT_DEBUG
    cleat__debug_needs_gvl("cleat_view_bytes");
#endif
    const cleat_region *r = v->region;
    if (CLEAT_LIKELY(r->generation == v->generation && v->length <= r->size &&
                      v->offset <= r->size - v->length &&
                      !(cleat__header(RTYPEDDATA_DATA(v->owner))->state & CLEAT__LENT_EXCL)))
        return r->base + v->offset;
    return cleat__view_failed(v);
}

/* A read-only IO::Buffer over the view's bytes, without copying. Cleat
 * frees it (IO::Buffer#get_string and friends then raise) when the region
 * changes; the buffer keeps the owner alive, and is locked so Ruby code can
 * neither free nor transfer it. The same bytes lent again before the region
 * changes give the same buffer. On a Ruby whose IO::Buffer#slice drops the
 * read-only flag (3.1) or whose operators ~ & | ^ read a slice of a freed
 * buffer (3.3, 3.4), both probed once at load (see
 * cleat_view_buffer_zero_copy), and for a frozen owner (Ractors may share
 * it), the buffer holds a private copy of the bytes instead, so nothing
 * written through it or its slices reaches the region and nothing freed is
 * read; such a copy is not freed when the region changes. Raises as cleat_view_bytes, NoMemoryError. Calls
 * no Ruby code. */
CLEAT_API VALUE cleat_view_buffer(const cleat_view *v);

/* True when cleat_view_buffer lends the memory itself (this Ruby's
 * IO::Buffer slices keep read-only and notice a freed source), false when it
 * lends copies (every Ruby tested today). Never
 * raises, runs no Ruby code. */
CLEAT_API bool cleat_view_buffer_zero_copy(void);

/* ======================================================================
 * 12. Strings from native memory
 * ====================================================================== */

/* A new binary (ASCII-8BIT) String holding a copy of ptr[0, len): the one
 * copy a Ruby String needs. Raises ArgumentError when len exceeds LONG_MAX. */
CLEAT_API VALUE cleat_str_binary(const void *ptr, size_t len);

/* A new UTF-8 String holding a copy of ptr[0, len), validated in one pass:
 * EncodingError "invalid UTF-8 at byte offset N" names the first invalid
 * sequence. The coderange is recorded, so Ruby never scans it again. */
CLEAT_API VALUE cleat_str_utf8(const void *ptr, size_t len);

typedef enum cleat_utf8_result {
    CLEAT_UTF8_ASCII = 0,   /* valid, every byte < 0x80 */
    CLEAT_UTF8_VALID = 1,   /* valid, with multibyte characters */
    CLEAT_UTF8_INVALID = 2, /* *error_offset is the first invalid sequence */
} cleat_utf8_result;

/* Validates ptr[0, len) as UTF-8 (RFC 3629: no surrogates, no overlongs,
 * nothing above U+10FFFF) with the fastest code the CPU runs (AVX2, SSSE3,
 * or portable C, chosen by the first validation from the CPU's cpuid, so
 * an extension that never validates links none of them). Never raises;
 * needs no GVL. */
CLEAT_API cleat_utf8_result cleat_str_utf8_check(const void *ptr, size_t len,
                                                    size_t *error_offset);
/* Which implementation cleat_str_utf8_check uses: "avx2", "ssse3" or "portable". */
CLEAT_API const char *cleat_str_utf8_implementation(void);
/* Switches to the named implementation (NULL: the fastest this CPU runs), for
 * tests and benchmarks, in one atomic store: a validation running meanwhile
 * uses either the old or the new one. Returns false, changing nothing, when
 * the CPU cannot run it. */
CLEAT_API bool cleat_str_utf8_use(const char *name);

/* ======================================================================
 * 13. Debug builds
 * ======================================================================
 *
 * Compiled with CLEAT_DEBUG (create_cleat_makefile(debug: true),
 * CLEAT_DEBUG=1 or --enable-cleat-debug), Cleat checks what it cannot
 * make impossible, and reports "[cleat debug] <class>: <what>" on stderr,
 * then aborts (like a sanitizer; CLEAT_DEBUG_CONTINUE=1 keeps going):
 *  - a declared VALUE field that changed without cleat_write (a missing
 *    write barrier), found at the next method call or GC;
 *  - a CLEAT_MARK_BY_HAND mark callback that left a declared field unmarked
 *    ("mark function forgot field f"), or marked it with
 *    rb_gc_mark_movable although nothing updates it after GC.compact
 *    (extension code's rb_gc_mark and rb_gc_mark_movable go through Cleat
 *    in debug builds, which tells them apart);
 *  - a member no CLEAT_FIELD declares left holding a heap object that the
 *    type's marking does not reach ("X#m left VALUE String in an undeclared
 *    member at offset 8"), checked at the end of each method;
 *  - a cleat_region member that no CLEAT_FIELD_REGION declares, when it is
 *    first resized (its memory would never be freed);
 *  - a write through a pointer into region memory that was resized or
 *    released: the old memory is not freed at once but kept in quarantine
 *    (the last 32 blocks, 8 MiB at most), filled with CLEAT__FREED_BYTE and
 *    poisoned for AddressSanitizer, so a stale read sees 0xCE bytes (under
 *    ASan: use-after-poison), and a stale write is found by the next method
 *    of the owner's class (first 4 KiB of each block), when the block leaves
 *    quarantine, or at exit;
 *  - a free callback of a free_immediately type calling Cleat (or, caught
 *    when Ruby aborts, the Ruby API);
 *  - an exclusive method that returns while the object is still lent out
 *    (an external enumerator left suspended inside it, say);
 *  - a Cleat function that needs the GVL called without it (a view's check
 *    or a Cleat raise inside a cleat_without_gvl function), or a function
 *    given to cleat_without_gvl left by an exception (rb_raise);
 *  - a cleat_write_known whose value the field refuses;
 *  - Ruby code (a method or block) run in a door body while the object is
 *    not lent: rb_yield, rb_funcall, NUM2LONG calling to_int... instead of
 *    CLEAT_YIELD, CLEAT_CALL, cleat_num_to_int64 and friends (an event hook);
 *  - a cleat_values element stored without cleat_write (at the door's exit
 *    for lists up to 256 elements, at the next call, or by the GC).
 * docs/misuse.md lists each with its report and its release behaviour.
 * Release builds compile none of it. */

/* What freed region memory holds in debug builds (see above). */
#define CLEAT__FREED_BYTE 0xCE

#ifdef CLEAT_DEBUG
/* rb_gc_mark (movable false) or rb_gc_mark_movable, noting which one a
 * mark callback used for which object while a debug check runs it. */
CLEAT_API void cleat__debug_gc_mark(VALUE obj, bool movable);
/* rb_gc_register_address, rb_global_variable, rb_gc_register_mark_object,
 * noting what they keep pinned: a plain member may cache such a value
 * (rb_gc_unregister_address takes an address out). */
CLEAT_API void cleat__debug_register_address(VALUE *address);
CLEAT_API void cleat__debug_unregister_address(VALUE *address);
CLEAT_API void cleat__debug_register_mark_object(VALUE obj);
/* rb_define_variable, rb_define_readonly_variable, rb_define_hooked_variable:
 * Ruby marks the C variable behind the global, a root too. */
CLEAT_API void cleat__debug_define_variable(const char *name, VALUE *address);
CLEAT_API void cleat__debug_define_readonly_variable(const char *name, const VALUE *address);
CLEAT_API void cleat__debug_define_hooked_variable(const char *name, VALUE *address, rb_gvar_getter_t *getter,
                                                   rb_gvar_setter_t *setter);
/* rb_mark_tbl, rb_mark_tbl_no_pin, rb_mark_set, rb_mark_hash: each
 * element marked through cleat__debug_gc_mark (pinned, or movable for
 * _no_pin), as Ruby marks it. */
CLEAT_API void cleat__debug_mark_tbl(struct st_table *tbl);
CLEAT_API void cleat__debug_mark_tbl_no_pin(struct st_table *tbl);
CLEAT_API void cleat__debug_mark_set(struct st_table *tbl);
CLEAT_API void cleat__debug_mark_hash(struct st_table *tbl);
/* rb_thread_call_without_gvl, _gvl2 and rb_nogvl, reporting a door body
 * that releases the GVL without lending its object (cleat_without_gvl
 * does). */
CLEAT_API void *cleat__debug_call_without_gvl(void *(*func)(void *), void *data1, rb_unblock_function_t *ubf,
                                              void *data2);
CLEAT_API void *cleat__debug_call_without_gvl2(void *(*func)(void *), void *data1, rb_unblock_function_t *ubf,
                                               void *data2);
CLEAT_API void *cleat__debug_nogvl(void *(*func)(void *), void *data1, rb_unblock_function_t *ubf, void *data2,
                                   int flags);
#endif

/* A debug build's compaction callback, before it moves the declared
 * fields: the write-barrier check's copy of them moves along. Runs in the
 * GC: no Ruby code, no allocation. */
CLEAT_API void cleat__debug_before_compact(const cleat_type *type, void *data);

/* For CLEAT_MARK_BY_HAND mark callbacks: marks *slot (pinned). */
CLEAT_INLINE void cleat_mark_field(VALUE *slot)
{
#ifdef CLEAT_DEBUG
    cleat__debug_gc_mark(*slot, false);
#else
    rb_gc_mark(*slot);
#endif
}

/* The door's checks in debug builds: entry returns the door's record (see
 * debug.c), which exit takes back; frame is the door function's own. */
CLEAT_API uint64_t cleat__debug_enter(VALUE self, const cleat_type *type, int mode, const void *frame);
CLEAT_API void cleat__debug_exit(VALUE self, const cleat_type *type, int mode, uint64_t record);

/* ======================================================================
 * 14. Cleanup: scratch memory and ensure
 * ======================================================================
 *
 * A Ruby exception is a longjmp: C code between the raise and the rescue is
 * abandoned, and a free() it had not reached never runs. Scratch memory for
 * the length of one call needs no cleanup at all when it comes from
 * CLEAT_SCRATCH; any other resource (a C library's handle, a FILE, a lock)
 * is released by cleat_ensure, on return, exception, break or throw alike.
 *
 * Example:
 *   CLEAT_FUNCTION(sum_of_squares, ary) { // [1, 2, 3] -> 14.0
 *       Check_Type(ary, T_ARRAY);
 *       size_t count = (size_t)RARRAY_LEN(ary);
 *       VALUE tmp;
 *       double *xs = CLEAT_SCRATCH(double, tmp, count); // ArgumentError if count * 8 overflows
 *       for (size_t i = 0; i < count; i++)
 *           xs[i] = NUM2DBL(rb_ary_entry(ary, (long)i)); // may raise: nothing leaks
 *       double sum = 0;
 *       for (size_t i = 0; i < count; i++) sum += xs[i] * xs[i];
 *       CLEAT_SCRATCH_END(tmp);                         // optional: its use ends here
 *       return DBL2NUM(sum);
 *   }
 *   void Init_squares(void) {
 *       CLEAT_DEFINE_MODULE_FUNCTION(rb_define_module("Squares"), "sum_of_squares", sum_of_squares);
 *   }
 */

/* Runs body(arg), then cleanup(arg) however body ends (return, exception,
 * break, throw), and returns body's result; an exception then goes on.
 * rb_ensure with typed pointers: arg (yours, on your stack usually) is passed
 * to both. Runs whatever Ruby code body runs. cleanup runs once: a
 * continuation replaying it raises Cleat::Error instead; one that jumps out
 * of body skips cleanup on Ruby 3.4 (which runs no C ensure on a
 * continuation jump; 3.1 and 3.3 do). A continuation taken in Ruby code
 * that body runs, and called after cleat_ensure returned, resumes body
 * after cleanup ran (C cannot stop it): what cleanup releases, body must
 * not touch after its first call into Ruby code, unless it reaches it
 * through a Ruby object that knows (an IO closes itself). cleanup should not
 * raise (an exception from it replaces body's). Inside a door, a body that calls Ruby
 * code still does it through CLEAT_YIELD and friends. */
CLEAT_API VALUE cleat_ensure(VALUE (*body)(void *arg), void (*cleanup)(void *arg), void *arg);

/* Scratch memory for `count` objects of C type `type`, for the rest of the
 * calling function: Ruby's ALLOCV_N, overflow-checked. Small requests (under
 * about 1 KiB) live on the C stack, larger ones in a hidden Ruby object that
 * `holder` (a VALUE local you declare, one per CLEAT_SCRATCH: a second
 * scratch given the same holder lets the GC free the first's memory while
 * you use it; keep it in scope) keeps alive; an
 * exception frees neither at once but leaks neither: the stack unwinds and
 * the GC collects the object. Not zeroed. Raises ArgumentError when count *
 * sizeof(type) overflows or count exceeds LONG_MAX, NoMemoryError. A macro
 * because stack memory must belong to the caller's frame; never use the
 * memory after the function returns. `count` is evaluated once (ALLOCV_N
 * evaluates its own twice: a count from NUM2SIZET, whose to_int is Ruby
 * code, could pass the size check with one value and size the alloca with
 * another). */
#define CLEAT_SCRATCH(type, holder, count)                                     \
    __extension__({                                                            \
        const long cleat__scratch_n = cleat__scratch_count(count);             \
        ALLOCV_N(type, holder, cleat__scratch_n);                              \
    })
/* Marks the end of CLEAT_SCRATCH's memory in the function: holder is kept
 * alive to here, and the GC frees the hidden object after. It does not
 * free it at once (as ALLOCV_END does): a continuation (callcc) taken in
 * Ruby code the function ran (a to_f) and called after the function
 * returned comes back into it before this point, and would write memory
 * freed here (the hostile review: a double free on Ruby 3.4). */
#define CLEAT_SCRATCH_END(holder) ((void)RB_GC_GUARD(holder))

CLEAT_API CLEAT_NORETURN void cleat__scratch_too_large(size_t count);
CLEAT_INLINE long cleat__scratch_count(size_t count)
{
    if (CLEAT_UNLIKELY(count > (size_t)LONG_MAX)) cleat__scratch_too_large(count);
    return (long)count;
}

/* ======================================================================
 * 15. The registry: what the extension declared, for the fuzzer
 * ======================================================================
 *
 * Every type given to cleat_type_define_class and every method defined with
 * CLEAT_DEFINE_METHOD is recorded (private methods are not: the fuzzer
 * calls methods from outside), per extension (each has its own copy of the
 * library), and read from Ruby by `rake test:fuzz` (lib/cleat/fuzz.rb,
 * docs/api.md "Registry"): nothing to call by hand. */

/* Records that ruby_name (arity, door: CLEAT_BORROW_SHARED,
 * CLEAT_BORROW_EXCLUSIVE or 0 for an initializer) was defined on klass.
 * CLEAT_DEFINE_METHOD calls it after rb_define_method, and so must any
 * other macro that defines a door method. Raises NoMemoryError. Runs no
 * Ruby code. */
CLEAT_API void cleat__registry_method(VALUE klass, const char *ruby_name, int arity, int door);
/* CLEAT_DEFINE_METHOD's one call (one call per method in Init_ rather than
 * two): rb_define_method, then cleat__registry_method. Raises and runs what
 * those do. The macro has the compiler check func's type against arity as
 * rb_define_method does, in a branch never taken. */
CLEAT_API void cleat__define_method(VALUE klass, const char *ruby_name, VALUE (*func)(ANYARGS), int arity,
                                    int door);
/* Records a type whose class was just defined (cleat_type_define_class). */
CLEAT_API void cleat__registry_type(const cleat_type *type);
/* This extension's registry, made and appended to Cleat::REGISTRIES once. */
CLEAT_API void cleat__registry_init(void);

/* ======================================================================
 * Internals used by the macros above
 * ====================================================================== */
CLEAT_API void cleat__type_mark(const cleat_type *type, void *data);
CLEAT_API void cleat__type_free(const cleat_type *type, void *data);
CLEAT_API size_t cleat__type_memsize(const cleat_type *type, const void *data);
CLEAT_API void cleat__type_compact(const cleat_type *type, void *data);
/* One cleat_values or region field; the type's own callback and, in debug
 * builds, the hand-mark check and the shadow update. */
CLEAT_API void cleat__mark_field(void *data, const cleat_field *f);
CLEAT_API void cleat__compact_field(void *data, const cleat_field *f);
CLEAT_API void cleat__type_mark_rest(const cleat_type *type, void *data);
CLEAT_API void cleat__type_compact_rest(const cleat_type *type, void *data);

/* The number of elements of a field array CLEAT_TYPE was given, or 0 for
 * NULL or a pointer (then the fields are walked at run time). */
#define CLEAT__FIELD_COUNT(list) (sizeof(list) / sizeof(cleat_field))
#ifdef CLEAT_DEBUG
#define CLEAT__DEBUG_BUILD 1
#else
#define CLEAT__DEBUG_BUILD 0
#endif
#if defined(__clang__)
#define CLEAT__UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define CLEAT__UNROLL _Pragma("GCC unroll 64")
#else
#define CLEAT__UNROLL
#endif

/* CLEAT_TYPE's mark and compaction functions. The field array is in sight
 * (count, a compile-time constant): the loop unrolls and each field's kind
 * and offset fold, leaving one rb_gc_mark_movable (rb_gc_location) per
 * declared VALUE, as a hand-written function has. */
CLEAT_INLINE void cleat__mark_declared(const cleat_type *type, const cleat_field *fields, size_t count,
                                        void *data)
{
    if (count == 0) {
        cleat__type_mark(type, data);
        return;
    }
    bool by_hand = type->flags & CLEAT_MARK_BY_HAND; /* its VALUEs: the callback's */
    CLEAT__UNROLL
    for (size_t i = 0; i < count; i++) {
        const cleat_field *f = &fields[i];
        if (f->kind == CLEAT_KIND_END) break;
        if (f->kind != CLEAT_KIND_VALUE) cleat__mark_field(data, f);
        else if (!by_hand) rb_gc_mark_movable(*(VALUE *)(void *)((char *)data + f->offset));
    }
    if (type->mark || CLEAT__DEBUG_BUILD) cleat__type_mark_rest(type, data);
}

CLEAT_INLINE void cleat__compact_declared(const cleat_type *type, const cleat_field *fields, size_t count,
                                           void *data)
{
    if (count == 0) {
        cleat__type_compact(type, data);
        return;
    }
#ifdef CLEAT_DEBUG
    cleat__debug_before_compact(type, data); /* the barrier check's shadow moves with the fields */
#endif
    bool by_hand = type->flags & CLEAT_MARK_BY_HAND; /* pinned: nothing of ours moved */
    CLEAT__UNROLL
    for (size_t i = 0; i < count; i++) {
        const cleat_field *f = &fields[i];
        if (f->kind == CLEAT_KIND_END) break;
        if (f->kind != CLEAT_KIND_VALUE) {
            cleat__compact_field(data, f);
        } else if (!by_hand) {
            VALUE *slot = (VALUE *)(void *)((char *)data + f->offset);
            *slot = rb_gc_location(*slot);
        }
    }
    if (type->compact || CLEAT__DEBUG_BUILD) cleat__type_compact_rest(type, data);
}
CLEAT_API VALUE cleat__type_alloc(const cleat_type *type, VALUE klass);
CLEAT_API VALUE cleat__type_init_copy(const cleat_type *type, VALUE self, VALUE orig);

/* Each yields the field's kind, and fails to compile when the member has another type. */
#define CLEAT__IS_VALUE(T, f) _Generic(((T *)0)->f, VALUE: CLEAT_KIND_VALUE)
#define CLEAT__IS_VALUES(T, f) _Generic(((T *)0)->f, cleat_values: CLEAT_KIND_VALUES)
#define CLEAT__IS_REGION(T, f) _Generic(((T *)0)->f, cleat_region: CLEAT_KIND_REGION)
/* A field's check, sorted: 0 the address of a class or of a cleat_type (what
 * the macros take), 1 a class itself (&rb_cString written rb_cString), 2 a
 * cleat_type itself (&person_type written person_type), 3 a string ("String"),
 * 4 anything else (NULL, 0, the address of something else). */
#define CLEAT__CHECK_KIND(check)                                                            \
    _Generic((check), VALUE *: 0, const VALUE *: 0, cleat_type *: 0, const cleat_type *: 0, \
             VALUE: 1, cleat_type: 2, char *: 3, const char *: 3, default: 4)
/* Zero, or a compile error naming the mistake and what to write instead: a
 * check of another type would otherwise pick neither pointer below and
 * silently check nothing. An integer constant, so that it can sit in the
 * static field array's initializer (C11 allows _Static_assert in a struct). */
#define CLEAT__CHECKED(f, check)                                                                 \
    ((int)(0 * sizeof(struct {                                                                   \
        _Static_assert(CLEAT__CHECK_KIND(check) != 1,                                            \
                       "Cleat field " #f ": the check " #check " is a class, not its address: "  \
                       "write &" #check);                                                        \
        _Static_assert(CLEAT__CHECK_KIND(check) != 2,                                            \
                       "Cleat field " #f ": the check " #check " is a cleat_type, not its "      \
                       "address: write &" #check);                                               \
        _Static_assert(CLEAT__CHECK_KIND(check) != 3,                                            \
                       "Cleat field " #f ": the check " #check " is a string: write the "        \
                       "address of the class (&rb_cString) or of the type (&person_type)");     \
        _Static_assert(CLEAT__CHECK_KIND(check) != 4,                                            \
                       "Cleat field " #f ": the check " #check " must be the address of a "      \
                       "class (&rb_cString) or of a cleat_type (&person_type); a field without " \
                       "a check is CLEAT_FIELD_ANY or CLEAT_FIELD_VALUES_ANY");                  \
        char cleat_checked_;                                                                     \
    })))
/* The check as a class or as a type, the other NULL. The default branches
 * are only the other kind's: CLEAT__CHECKED refused every other check. */
#define CLEAT__KLASS(check) \
    _Generic((check), VALUE *: (check), const VALUE *: (check), default: (const VALUE *)0)
#define CLEAT__TYPE(check)                                                                  \
    _Generic((check), cleat_type *: (check), const cleat_type *: (check), default: \
                 (const cleat_type *)0)
#define CLEAT__FIELD(T, f, kind, nil_ok, check)                                         \
    {#f, offsetof(T, f), (kind) + CLEAT__CHECKED(f, check), (nil_ok), CLEAT__KLASS(check), \
     CLEAT__TYPE(check), false}
/* A field that checks nothing (CLEAT_FIELD_ANY, CLEAT_FIELD_VALUES_ANY, a region). */
#define CLEAT__FIELD_UNCHECKED(T, f, kind) {#f, offsetof(T, f), (kind), true, NULL, NULL, false}

/* Debug builds: the extension's own marks and roots go through Cleat
 * (section 13), which passes them on to Ruby. Cleat's sources call Ruby's. */
#if defined(CLEAT_DEBUG) && !defined(CLEAT__LIBRARY)
#include <ruby/thread.h> /* declared before the names below become macros */
#define rb_gc_mark(obj) cleat__debug_gc_mark((obj), false)
#define rb_gc_mark_movable(obj) cleat__debug_gc_mark((obj), true)
#define rb_gc_register_address(address) cleat__debug_register_address(address)
#define rb_gc_unregister_address(address) cleat__debug_unregister_address(address)
#define rb_global_variable(address) cleat__debug_register_address(address)
#define rb_gc_register_mark_object(obj) cleat__debug_register_mark_object(obj)
#define rb_define_variable(name, address) cleat__debug_define_variable((name), (address))
#define rb_define_readonly_variable(name, address) cleat__debug_define_readonly_variable((name), (address))
#define rb_define_hooked_variable(name, address, getter, setter) \
    cleat__debug_define_hooked_variable((name), (address), (getter), (setter))
#define rb_mark_tbl(tbl) cleat__debug_mark_tbl(tbl)
#define rb_mark_tbl_no_pin(tbl) cleat__debug_mark_tbl_no_pin(tbl)
#define rb_mark_set(tbl) cleat__debug_mark_set(tbl)
#define rb_mark_hash(tbl) cleat__debug_mark_hash(tbl)
/* Variadic: an argument may hold a comma of its own (a compound literal). */
#define rb_thread_call_without_gvl(...) cleat__debug_call_without_gvl(__VA_ARGS__)
#define rb_thread_call_without_gvl2(...) cleat__debug_call_without_gvl2(__VA_ARGS__)
#define rb_nogvl(...) cleat__debug_nogvl(__VA_ARGS__)
#endif

#endif /* CLEAT_H */
