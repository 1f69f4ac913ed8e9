/* internal.h - what the library's own files share; not installed for users. */
#ifndef CLEAT_INTERNAL_H
#define CLEAT_INTERNAL_H 1
/* Cleat's own sources: they mark Ruby's way (cleat.h, end). */
#define CLEAT__LIBRARY 1

#include "cleat.h"

/* Bytes reserved before the struct (computed when the class is defined):
 * the cleat_header and, in debug builds, a shadow copy of every declared
 * VALUE field, rounded up so the struct keeps its alignment. */
static inline size_t cleat__header_bytes(const cleat_type *type) { return type->prefix; }

/* Calls fn(type, data, field) for every declared field. */
#define CLEAT__EACH_FIELD(type, f) \
    for (const cleat_field *f = (type)->fields; f && f->kind != CLEAT_KIND_END; f++)

static inline VALUE *cleat__field_slot(void *data, const cleat_field *f)
{
    return (VALUE *)((char *)data + f->offset);
}

static inline cleat_values *cleat__field_values(void *data, const cleat_field *f)
{
    return (cleat_values *)((char *)data + f->offset);
}

static inline cleat_region *cleat__field_region(void *data, const cleat_field *f)
{
    return (cleat_region *)((char *)data + f->offset);
}

/* Bytes a field occupies in the struct. */
static inline size_t cleat__field_width(const cleat_field *f)
{
    switch (f->kind) {
    case CLEAT_KIND_VALUES: return sizeof(cleat_values);
    case CLEAT_KIND_REGION: return sizeof(cleat_region);
    default: return sizeof(VALUE);
    }
}

/* The VALUE a region field holds (its lent buffers), which the GC must see. */
static inline VALUE *cleat__region_buffers_slot(void *data, const cleat_field *f)
{
    return &cleat__field_region(data, f)->buffers;
}

/* Whether str (a class or frame name or path: a String, or nil) is the
 * len bytes at s. CLEAT__STRING_IS takes a literal, whose length is known
 * when compiling. */
static inline bool cleat__string_is(VALUE str, const char *s, size_t len)
{
    return RB_TYPE_P(str, T_STRING) && (size_t)RSTRING_LEN(str) == len && !memcmp(RSTRING_PTR(str), s, len);
}
#define CLEAT__STRING_IS(str, lit) cleat__string_is((str), (lit), sizeof(lit) - 1)

/* How many of vals' elements lie in its buffer: len, or capa when len was
 * set past it by hand (a review, C side: `b->items.len++` then a store,
 * and every loop over len, the GC's marking included, ran off the buffer).
 * Every loop of Cleat's over a list's elements stops here. */
static inline size_t cleat__values_count(const cleat_values *vals)
{
    return vals->len <= vals->capa ? vals->len : vals->capa;
}

/* Probes how this Ruby's IO::Buffer behaves (region.c); from cleat_init. */
CLEAT_API void cleat__region_init(void);

/* Code that runs once per process (set-up, class definition, the
 * registry) or only to report an error: optimized for size, kept out of the
 * way of the hot code (GCC and Clang: "cold"), and so are the helpers only
 * it calls. Not for what runs per call or per object, with two exceptions
 * that are off the hot path: the door's slow path (a refusal, or loans to
 * reclaim) and dup/clone's initialize_copy. Most of an extension's Cleat
 * code is this kind: over half the machine code of the generated gem's
 * extension (bench/size.rb). */
#if defined(__GNUC__) || defined(__clang__)
#define CLEAT__COLD __attribute__((cold))
#else
#define CLEAT__COLD
#endif

/* The name of obj's class, for messages: from C, never the class's to_s
 * (Ruby code). One call where messages would make two. */
CLEAT_API VALUE cleat__class_name(VALUE obj);
/* Ruby's way of naming what it got: "nil", "true", "false" or the class name. */
CLEAT_API VALUE cleat__describe_class(VALUE obj);
/* TypeError "wrong argument type A (expected B)". */
CLEAT_API CLEAT_NORETURN void cleat__raise_wrong_type(VALUE obj, const char *expected);
/* Cleat::BorrowError naming the class, the holder and the method in need. */
CLEAT_API CLEAT_NORETURN void cleat__borrow_conflict(VALUE obj, const cleat_header *h,
                                                        int mode);
/* Returns the loans of obj (h its header) whose holder can no longer run
 * (its fiber collected, its thread gone after fork); true when there were
 * any. Frozen objects too: loans made before the freeze come back as well
 * (the eighth hostile review: they stayed out for ever). */
CLEAT_API bool cleat__reclaim_loans(VALUE obj, cleat_header *h);
/* cleat_write for cleat_view_init, the one store into a view's owner field. */
CLEAT_API void cleat__write_view_owner(VALUE self, VALUE *slot, VALUE value);
/* BorrowError when self (a Cleat object) is lent: stores need it unborrowed. */
CLEAT_API void cleat__refuse_lent(VALUE self);
/* Sets up the pool of loan tokens; called by cleat_init. */
CLEAT_API void cleat__borrow_init(void);
/* copy.c: runs type->copy for dup/clone of orig (src) into self (dst). */
CLEAT_API void cleat__run_copy(const cleat_type *type, VALUE self, void *dst, VALUE orig, const void *src);
/* Sets up the copies' root; called by cleat_init. */
CLEAT_API void cleat__copy_init(void);
/* How many .copy callbacks of types with blocks are listed now. */
CLEAT_API extern atomic_size_t cleat__copies_running;
/* Whether data is a copy whose callback never returned, being freed (at
 * exit): it must free none of its blocks. Forgets it. */
CLEAT_API bool cleat__unfinished_copy(const void *data);
/* Whether a listed copy could be data's: some copy is listed, and data is
 * building (a copy is, while its callback runs; so is an object whose
 * .init_fields runs or raised), a header bit, so nothing else pays. */
static inline bool cleat__maybe_copy(const void *data)
{
    return CLEAT_UNLIKELY(atomic_load_explicit(&cleat__copies_running, memory_order_relaxed) != 0) &&
           (cleat__header((void *)data)->state & CLEAT__BUILDING);
}
/* The struct data is freed: no listed copy's original is it any more. */
CLEAT_API void cleat__original_freed(const void *data);
/* Raises TypeError when self is a copy whose .copy callback is running and
 * block is one of its original's (a struct copied whole): resize, release
 * and push would free it under the original. verb: "resized", "released",
 * "pushed onto". */
CLEAT_API void cleat__refuse_originals_block(VALUE self, const void *block, const char *verb);
/* For a Cleat object self: looks only at a building object while a copy
 * is listed (cleat__maybe_copy). */
static inline void cleat__refuse_if_originals_block(VALUE self, const void *block, const char *verb)
{
    if (block && cleat__maybe_copy(RTYPEDDATA_DATA(self))) cleat__refuse_originals_block(self, block, verb);
}
/* Forgets every loan record of an object being freed. */
CLEAT_API void cleat__release_loans(cleat_header *h);
/* rb_protect(func, arg, state) with self lent (mode) meanwhile, unless
 * frozen; the loan has ended when this returns, whatever func did (dup's
 * .copy callback: the original must not change under it, and the copy must
 * be mended before an exception goes on). Raises only when the loan cannot
 * be taken (BorrowError, NoMemoryError), before func runs. name: the
 * lending method's cache, as a door's (NULL: asked each time). Returns false
 * when a continuation came back after the loan ended (the caller raises,
 * once it mended what it must). */
CLEAT_API bool cleat__borrow_protect(VALUE self, cleat_borrow_mode mode, VALUE (*func)(VALUE), VALUE arg,
                                     atomic_uintptr_t *name, int *state);

/* One run of something a continuation could run again (cleat_ensure's
 * cleanup): a pooled loan record whose serial, kept on the heap, tells the
 * first end from a later one replayed from a copy of the stack. begin
 * stores the record's token in *token, for the caller's stack. */
typedef struct cleat__once {
    struct cleat__loan *record;
    VALUE token;
    uint64_t serial;
} cleat__once;
CLEAT_API void cleat__once_begin(cleat__once *o, VALUE *token);
/* True the first time; false when this run already ended. */
CLEAT_API bool cleat__once_end(cleat__once *o);
/* The current method's ID squeezed into the header's 32 bits (0 if it won't fit). */
CLEAT_API uint32_t cleat__current_method(void);

/* utf8.c: which UTF-8 validator is chosen, NULL before the first
 * validation (or cleat_str_utf8_use) chose one. */
CLEAT_API const char *cleat__str_utf8_chosen(void);

/* Bytes debug builds allocate past a region's end, to see writes there. */
#ifdef CLEAT_DEBUG
#define CLEAT__REGION_CANARY 16
#else
#define CLEAT__REGION_CANARY 0
#endif

/* ---- debug builds (debug.c); each compiles to nothing without CLEAT_DEBUG ---- */
#ifdef CLEAT_DEBUG
/* "[cleat debug] message" on stderr, then abort (unless CLEAT_DEBUG_CONTINUE). */
CLEAT_API void cleat__debug_report(const char *message);
/* The same, formatted like printf. */
CLEAT_API __attribute__((format(printf, 1, 2))) void cleat__debug_reportf(const char *format, ...);
CLEAT_API void cleat__debug_needs_gvl(const char *function);
CLEAT_API void cleat__debug_mark_check(const cleat_type *type, void *data);
/* Runs the type's .mark callback, noting whose it is: a movable mark of
 * anything but a declared field then needs a .compact callback. */
CLEAT_API void cleat__debug_run_mark(const cleat_type *type, void *data);
/* Whether field f holds what the barrier check's shadow expects of it
 * (after a compaction: moved along with the object it held). */
CLEAT_API bool cleat__debug_holds_expected(const cleat_type *type, void *data, const cleat_field *f);
/* After a compact callback: reports a declared field it left at its object's old address. */
CLEAT_API void cleat__debug_after_compact(const cleat_type *type, void *data);
/* Fills the bytes past a new region block's end (CLEAT__REGION_CANARY). */
CLEAT_API void cleat__debug_region_made(unsigned char *base, size_t size);
/* Reports a value about to be stored into field f that is neither an
 * immediate nor a live object: a plain number (a size_t member declared as
 * a VALUE field), which the GC would crash on. */
CLEAT_API void cleat__debug_check_stored(const cleat_type *type, const cleat_field *f, VALUE value);
/* Around a deferred free callback whose field freed_field (the first
 * hidden, or NULL) reads nil: a crash of the callback is named (3.1's
 * abort, 3.3 and 3.4's SIGSEGV). begin returns what end puts back
 * (callbacks run inside callbacks, and in several Ractors at once). */
typedef struct cleat__deferred_scope {
    const cleat_type *type;
    const char *field;
    bool hooked;
    uintptr_t frame; /* the outer callback's begin frame, or 0 */
} cleat__deferred_scope;
CLEAT_API cleat__deferred_scope cleat__debug_deferred_free_begin(const cleat_type *type, const char *freed_field);
CLEAT_API void cleat__debug_deferred_free_end(cleat__deferred_scope outer);
CLEAT_API void cleat__debug_wrote(const cleat_type *type, void *data, const cleat_field *f);
CLEAT_API void cleat__debug_sync(const cleat_type *type, void *data);
/* After cleat_write or cleat_values_push stored vals->ptr[i] of field f. */
CLEAT_API void cleat__debug_wrote_element(const cleat_type *type, void *data, const cleat_field *f, size_t i);
/* cleat_values_push of list field f: before it changes anything (reports a
 * buffer Cleat did not give the list), and after it moved the elements to a
 * bigger buffer. */
CLEAT_API void cleat__debug_list_push(const cleat_type *type, void *data, const cleat_field *f);
CLEAT_API void cleat__debug_list_moved(const cleat_type *type, void *data, const cleat_field *f);
CLEAT_API void cleat__debug_free_shadows(const cleat_type *type, void *data);
/* True only when v is known to be no live object on Ruby's heap (the heap
 * walk runs in the main Ractor: false elsewhere). debug_memory.c. */
CLEAT_API bool cleat__debug_dead_object_p(VALUE v);
/* True in the main Ractor (or where Ruby has no Ractors). */
CLEAT_API bool cleat__debug_in_main_ractor(void);
CLEAT_API const char *cleat__debug_nogvl_begin(VALUE self, const char *method); /* returns the outer section's */
CLEAT_API void cleat__debug_nogvl_end(const char *outer);
/* After an exception left cleat_without_gvl: reports one that left the
 * GVL-free function itself. */
CLEAT_API int cleat__debug_nogvl_depth(void);
CLEAT_API void cleat__debug_nogvl_left(int outer);
CLEAT_API void cleat__debug_free_begin(const cleat_type *type);
CLEAT_API void cleat__debug_free_end(void);
CLEAT_API void cleat__debug_install(void);
/* Runs lend(arg) (the loan itself) with a record that the object is lent,
 * for the hook that looks for Ruby code in unlent door bodies. */
CLEAT_API VALUE cleat__debug_lend(VALUE self, VALUE (*lend)(VALUE), VALUE arg);
CLEAT_API VALUE cleat__debug_lend_end(VALUE serial);
/* debug_memory.c: at the end of each door, hand-written marks, VALUEs in
 * undeclared members and writes into quarantined region memory. */
CLEAT_API void cleat__debug_memory_exit(VALUE self, const cleat_type *type);
/* From cleat_init, in the main Ractor. */
CLEAT_API void cleat__debug_memory_install(void);
/* The undeclared-member check of obj after `by` (".init_fields") wrote it. */
CLEAT_API void cleat__debug_memory_check(VALUE obj, const cleat_type *type, const char *by);
/* cleat_type_new made obj: checked at Cleat's next cleat_type_new, door entry or door exit. */
CLEAT_API void cleat__debug_memory_new(VALUE obj);
CLEAT_API void cleat__debug_memory_enter(void);
/* cleat_gc_root(address): a member holding its value is not reported. */
CLEAT_API void cleat__debug_gc_root(VALUE *address);
/* Region memory owner resized or released (verb): kept in quarantine, filled
 * with CLEAT__FREED_BYTE, instead of freed. Reports a region of owner's
 * struct that is not declared. */
CLEAT_API void cleat__debug_region_retire(VALUE owner, const cleat_region *r, unsigned char *old,
                                          size_t old_size, const char *verb);
/* The same for a declared region of an object being freed (no Ruby API). */
CLEAT_API void cleat__debug_region_collected(const cleat_type *type, const cleat_field *f,
                                             unsigned char *old, size_t old_size);
#define CLEAT__NEEDS_GVL() cleat__debug_needs_gvl(__func__)
#else
#define CLEAT__NEEDS_GVL() ((void)0)
#endif

#endif
