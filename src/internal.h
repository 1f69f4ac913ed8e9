/* internal.h - what the library's own files share; not installed for users. */
#ifndef TETHER_INTERNAL_H
#define TETHER_INTERNAL_H 1

#include "tether.h"

/* Bytes reserved before the struct (computed when the class is defined):
 * the tether_header and, in debug builds, a shadow copy of every declared
 * VALUE field, rounded up so the struct keeps its alignment. */
static inline size_t tether__header_bytes(const tether_type *type) { return type->prefix; }

/* Calls fn(type, data, field) for every declared field. */
#define TETHER__EACH_FIELD(type, f) \
    for (const tether_field *f = (type)->fields; f && f->kind != TETHER_KIND_END; f++)

static inline VALUE *tether__field_slot(void *data, const tether_field *f)
{
    return (VALUE *)((char *)data + f->offset);
}

static inline tether_values *tether__field_values(void *data, const tether_field *f)
{
    return (tether_values *)((char *)data + f->offset);
}

static inline tether_region *tether__field_region(void *data, const tether_field *f)
{
    return (tether_region *)((char *)data + f->offset);
}

/* Bytes a field occupies in the struct. */
static inline size_t tether__field_width(const tether_field *f)
{
    switch (f->kind) {
    case TETHER_KIND_VALUES: return sizeof(tether_values);
    case TETHER_KIND_REGION: return sizeof(tether_region);
    default: return sizeof(VALUE);
    }
}

/* The VALUE a region field holds (its lent buffers), which the GC must see. */
static inline VALUE *tether__region_buffers_slot(void *data, const tether_field *f)
{
    return &tether__field_region(data, f)->buffers;
}

/* Ruby's way of naming what it got: "nil", "true", "false" or the class name. */
TETHER_API VALUE tether__describe_class(VALUE obj);
/* TypeError "wrong argument type A (expected B)". */
TETHER_API TETHER_NORETURN void tether__raise_wrong_type(VALUE obj, const char *expected);
/* Tether::BorrowError naming the class, the holder and the method in need. */
TETHER_API TETHER_NORETURN void tether__borrow_conflict(VALUE obj, const tether_header *h,
                                                        int mode);
/* The current method's ID squeezed into the header's 32 bits (0 if it won't fit). */
TETHER_API uint32_t tether__current_method(void);

/* ---- debug builds (debug.c); each compiles to nothing without TETHER_DEBUG ---- */
#ifdef TETHER_DEBUG
TETHER_API void tether__debug_needs_gvl(const char *function);
TETHER_API void tether__debug_mark_check(const tether_type *type, void *data);
TETHER_API void tether__debug_wrote(const tether_type *type, void *data, const tether_field *f);
TETHER_API void tether__debug_sync(const tether_type *type, void *data);
TETHER_API void tether__debug_nogvl_begin(VALUE self);
TETHER_API void tether__debug_nogvl_end(void);
TETHER_API void tether__debug_free_begin(const tether_type *type);
TETHER_API void tether__debug_free_end(void);
TETHER_API void tether__debug_install(void);
#define TETHER__NEEDS_GVL() tether__debug_needs_gvl(__func__)
#else
#define TETHER__NEEDS_GVL() ((void)0)
#endif

#endif
