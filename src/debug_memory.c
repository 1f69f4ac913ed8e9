/* debug_memory.c - the memory and marking checks of debug builds
 * (CLEAT_DEBUG), run at the end of every door and where regions change:
 *  - hand-written marks: a declared field forgotten, pinned where the type
 *    moves it, or movable where nothing moves it back;
 *  - a VALUE kept in a struct member that no CLEAT_FIELD declares;
 *  - a cleat_region member that is not declared (its memory would leak);
 *  - freed region memory held in quarantine, filled with CLEAT__FREED_BYTE
 *    (and poisoned for AddressSanitizer), so a stale pointer reads the
 *    pattern instead of reused memory, and a write through it is found.
 * Release builds compile this file to nothing. */
#include "internal.h"

#ifdef CLEAT_DEBUG

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CLEAT__ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CLEAT__ASAN)
#define CLEAT__ASAN 1
#endif
#ifdef CLEAT__ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#ifdef HAVE_RB_OBJSPACE_REACHABLE_OBJECTS_FROM
/* Exported for ext/objspace: runs obj's marking (its mark callback
 * included) and calls func for each object it marks. Not during GC. */
void rb_objspace_reachable_objects_from(VALUE obj, void (*func)(VALUE, void *), void *data);
#endif
#ifdef HAVE_RB_OBJSPACE_EACH_OBJECTS
/* Exported for ext/objspace: calls callback once per heap page with its
 * first slot, its end and the slot size. */
void rb_objspace_each_objects(int (*callback)(void *start, void *end, size_t stride, void *data), void *data);
#endif


static const char *method_name(void)
{
    ID id = rb_frame_this_func();
    const char *name = id ? rb_id2name(id) : NULL;
    return name ? name : "(unknown)";
}

/* ---- what a mark function marks, and how --------------------------------- */

/* While a check runs the mark function: each declared field's value, and
 * how the callback marked it (MARKED_PINNED, MARKED_MOVABLE). Marks made
 * outside a check (the real GC) only pass through. */
enum { MARKED_PINNED = 1, MARKED_MOVABLE = 2 };
struct mark_record {
    const VALUE *values;
    unsigned char *how;
    size_t count;
};
static _Thread_local struct mark_record *recording;

/* The type whose .mark callback is running on this thread, and its struct
 * (the GC and the debug checks both run it through cleat__debug_run_mark). */
static _Thread_local const cleat_type *marking_type;
static _Thread_local void *marking_data;

/* A type with a .mark and a .compact keeps, before its list shadows, one
 * word: bit i set when its last .mark marked the struct's word i (one of
 * the first 64, not a declared field) movable. After the .compact, each
 * must hold its object's new address (a review, C side: a .compact that
 * updated one member of two crashed both builds, unreported). */
static uint64_t *movable_words(const cleat_type *type, void *data)
{
    size_t lists = 0;
    CLEAT__EACH_FIELD(type, f) lists += f->kind == CLEAT_KIND_VALUES;
    return (uint64_t *)((VALUE *)((char *)data - sizeof(cleat_header)) - type->value_fields - lists) - 1;
}

static void note_movable_word(const cleat_type *type, void *data, VALUE obj)
{
    if (!type->compact || RB_SPECIAL_CONST_P(obj)) return;
    const VALUE *words = data;
    size_t count = type->size / sizeof(VALUE) < 64 ? type->size / sizeof(VALUE) : 64;
    for (size_t i = 0; i < count; i++)
        if (words[i] == obj && !(type->value_slots >> i & 1)) *movable_words(type, data) |= (uint64_t)1 << i;
}

void cleat__debug_run_mark(const cleat_type *type, void *data)
{
    const cleat_type *outer_type = marking_type;
    void *outer_data = marking_data;
    marking_type = type, marking_data = data;
    if (type->compact) *movable_words(type, data) = 0;
    type->mark(data);
    marking_type = outer_type, marking_data = outer_data;
}

/* Whether obj is the value of a declared VALUE field or a cleat_values
 * element of data: Cleat's own compaction updates those. */
static bool declared_value_p(const cleat_type *type, void *data, VALUE obj)
{
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE && *cleat__field_slot(data, f) == obj) return true;
        if (f->kind != CLEAT_KIND_VALUES) continue;
        const cleat_values *vals = cleat__field_values(data, f);
        for (size_t i = 0; i < vals->len; i++)
            if (vals->ptr[i] == obj) return true;
    }
    return false;
}

/* A .mark callback marking something movable that no .compact callback
 * updates: GC.compact moves it and the member keeps the old address (the
 * eighth review, C side: [BUG] "try to mark T_NONE object" at the next GC,
 * unreported; declared fields of CLEAT_MARK_BY_HAND types were the only
 * ones checked). Declared fields Cleat moves itself, unless marked by hand
 * (check_hand_mark names those). Once per type. */
static bool rooted_p(VALUE word);

static void check_movable_mark(VALUE obj)
{
    const cleat_type *type = marking_type;
    static const cleat_type *said;
    if (!type || type->compact || type == said || RB_SPECIAL_CONST_P(obj)) return;
    if (declared_value_p(type, marking_data, obj)) return; /* Cleat's to move, or check_hand_mark's to report */
    if (rooted_p(obj)) return; /* a root's value: Ruby pins it (a review: reported) */
    said = type;
    cleat__debug_reportf("%s: its mark callback marked an object movable (rb_gc_mark_movable, rb_mark_tbl_no_pin) that no compact callback "
                         "updates: GC.compact would move it and leave the member at its old address; mark it with "
                         "rb_gc_mark (pinned), or add a .compact callback that updates it with rb_gc_location",
                         type->class_path);
}

void cleat__debug_gc_mark(VALUE obj, bool movable)
{
    struct mark_record *rec = recording;
    if (rec) {
        for (size_t i = 0; i < rec->count; i++)
            if (rec->values[i] == obj) rec->how[i] |= movable ? MARKED_MOVABLE : MARKED_PINNED;
    }
    if (movable) check_movable_mark(obj);
    if (movable && marking_type) note_movable_word(marking_type, marking_data, obj);
    if (movable) rb_gc_mark_movable(obj);
    else rb_gc_mark(obj);
}

/* The st_table marks of ruby/internal/intern/gc.h, each element through
 * cleat__debug_gc_mark as Ruby's own would mark it (a review, C side: a
 * table of VALUEs marked with rb_mark_tbl_no_pin by a type without a
 * .compact went unreported, then [BUG] after GC.compact). */
enum { TABLE_KEYS = 1, TABLE_VALUES = 2, TABLE_MOVABLE = 4 };

static int mark_table_entry(st_data_t key, st_data_t value, st_data_t how)
{
    if (how & TABLE_KEYS) cleat__debug_gc_mark((VALUE)key, how & TABLE_MOVABLE);
    if (how & TABLE_VALUES) cleat__debug_gc_mark((VALUE)value, how & TABLE_MOVABLE);
    return ST_CONTINUE;
}

static void mark_table(struct st_table *tbl, int how)
{
    if (tbl) st_foreach(tbl, mark_table_entry, (st_data_t)how);
}

void cleat__debug_mark_tbl(struct st_table *tbl) { mark_table(tbl, TABLE_VALUES); }
void cleat__debug_mark_tbl_no_pin(struct st_table *tbl) { mark_table(tbl, TABLE_VALUES | TABLE_MOVABLE); }
void cleat__debug_mark_set(struct st_table *tbl) { mark_table(tbl, TABLE_KEYS); }
void cleat__debug_mark_hash(struct st_table *tbl) { mark_table(tbl, TABLE_KEYS | TABLE_VALUES); }

/* Everything obj's marking reaches (malloc'd: no GC while it grows). */
struct reached {
    VALUE *objs;
    size_t count, capa;
    bool failed;
};

#ifdef HAVE_RB_OBJSPACE_REACHABLE_OBJECTS_FROM
static void reach(VALUE obj, void *data)
{
    struct reached *r = data;
    if (r->count == r->capa) {
        size_t capa = r->capa ? r->capa * 2 : 16;
        VALUE *objs = realloc(r->objs, capa * sizeof(VALUE));
        if (!objs) {
            r->failed = true;
            return;
        }
        r->objs = objs, r->capa = capa;
    }
    r->objs[r->count++] = obj;
}
#endif

static bool reached_p(const struct reached *r, VALUE obj)
{
    for (size_t i = 0; i < r->count; i++)
        if (r->objs[i] == obj) return true;
    return false;
}

/* Runs self's marking once, recording how the declared VALUE fields were
 * marked into how[] (one per field, in declaration order). False when this
 * Ruby cannot tell. */
static bool run_marking(VALUE self, const cleat_type *type, struct reached *r, VALUE *values, unsigned char *how)
{
#ifdef HAVE_RB_OBJSPACE_REACHABLE_OBJECTS_FROM
    void *data = RTYPEDDATA_DATA(self);
    size_t n = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) values[n] = *cleat__field_slot(data, f), how[n++] = 0;
    }
    struct mark_record rec = {values, how, n};
    recording = &rec;
    rb_objspace_reachable_objects_from(self, reach, r);
    recording = NULL;
    return !r->failed;
#else
    (void)self, (void)type, (void)r, (void)values, (void)how;
    return false;
#endif
}

/* A CLEAT_MARK_BY_HAND type's mark callback must mark every declared VALUE
 * field, and rb_gc_mark_movable only with a compact callback that updates
 * it. rb_gc_mark (pinned) is always safe, with a compact callback too: a
 * field pinned on purpose (a C library keeps the VALUE) beside members the
 * callback moves is correct (the eighth review, C side: it was reported,
 * and the advice, to mark it movable, would have broken the program). */
static void check_hand_mark(const cleat_type *type, const struct reached *r, const VALUE *values,
                            const unsigned char *how)
{
    size_t i = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind != CLEAT_KIND_VALUE) continue;
        size_t k = i++;
        if (RB_SPECIAL_CONST_P(values[k])) continue;
        if (!reached_p(r, values[k])) {
            cleat__debug_reportf("%s: mark function forgot field %s", type->class_path, f->name);
        } else if (how[k] == MARKED_MOVABLE && !type->compact) {
            cleat__debug_reportf("%s: field %s is marked movable but nothing updates it after GC.compact (no compact "
                   "callback): mark it with cleat_mark_field, or add a compact callback",
                   type->class_path, f->name);
        }
    }
}

/* After a CLEAT_MARK_BY_HAND type's compact callback: a declared field
 * whose object moved must hold its new address (the eighth review, C side:
 * one the callback forgot was reported as a missing write barrier, advice
 * the program already followed). Runs in the GC's reference update, when a
 * moved object's old slot still says where it went. */
void cleat__debug_after_compact(const cleat_type *type, void *data)
{
    uint64_t moved = type->mark ? *movable_words(type, data) : 0;
    for (size_t i = 0; moved; i++, moved >>= 1) {
        VALUE v = ((const VALUE *)data)[i];
        if (!(moved & 1) || RB_SPECIAL_CONST_P(v) || rb_gc_location(v) == v) continue;
        cleat__debug_reportf("%s: the member at byte offset %zu still holds the address its object moved from after "
                             "GC.compact: the compact callback must update every member its mark marks movable "
                             "(t->member = rb_gc_location(t->member))",
                             type->class_path, i * sizeof(VALUE));
    }
    if (!(type->flags & CLEAT_MARK_BY_HAND)) return;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind != CLEAT_KIND_VALUE) continue;
        VALUE v = *cleat__field_slot(data, f);
        if (RB_SPECIAL_CONST_P(v)) continue;
        if (rb_gc_location(v) != v) {
            cleat__debug_reportf("%s: field %s still holds the address its object moved from after GC.compact: the "
                                 "compact callback must update every field its mark marks movable "
                                 "(t->%s = rb_gc_location(t->%s))",
                                 type->class_path, f->name, f->name, f->name);
        } else if (!(type->flags & CLEAT_NOT_WB_PROTECTED) && !cleat__debug_holds_expected(type, data, f)) {
            /* What the barrier check last saw, moved along (debug.c): the
             * callback stored another field's object (a review, C side:
             * reported as a missing write barrier). A type without
             * barriers keeps no such shadow (a review of this: a false
             * report). */
            cleat__debug_reportf("%s: field %s holds another object after GC.compact than before it: the compact "
                                 "callback must update each field from its own value (t->%s = rb_gc_location(t->%s))",
                                 type->class_path, f->name, f->name, f->name);
        }
    }
}

/* ---- VALUEs in undeclared members ---------------------------------------- */

/* The heap's pages, as rb_objspace_each_objects last listed them: redone
 * when a GC ran or the heap grew since. */
struct page {
    uintptr_t start, end;
    size_t stride;
};
static struct page *pages;
static size_t page_count, page_capa, pages_gc = SIZE_MAX, pages_allocated = SIZE_MAX;

#ifdef HAVE_RB_OBJSPACE_EACH_OBJECTS
static int list_page(void *start, void *end, size_t stride, void *data)
{
    (void)data;
    if (page_count == page_capa) {
        size_t capa = page_capa ? page_capa * 2 : 256;
        struct page *grown = realloc(pages, capa * sizeof *grown);
        if (!grown) return 1; /* stop: a partial list only misses reports */
        pages = grown, page_capa = capa;
    }
    pages[page_count++] = (struct page){(uintptr_t)start, (uintptr_t)end, stride};
    return 0;
}
#endif

#ifdef HAVE_RB_OBJSPACE_EACH_OBJECTS
static int by_start(const void *a, const void *b)
{
    uintptr_t x = ((const struct page *)a)->start, y = ((const struct page *)b)->start;
    return (x > y) - (x < y);
}
#endif

static size_t allocated_pages(void)
{
    static VALUE key;
    if (!key) key = ID2SYM(rb_intern("heap_allocated_pages"));
    return rb_gc_stat(key);
}

/* The page list is shared by the process, and listing pages walks the
 * heap: only the main Ractor (whose threads take turns under its GVL) does
 * it. Its Ractor-local marker is set when Cleat loads, in the main Ractor. */
#ifdef HAVE_RB_EXT_RACTOR_SAFE
#include <ruby/ractor.h>
static rb_ractor_local_key_t main_ractor_key;
static int main_ractor_marker;
#endif

void cleat__debug_memory_install(void)
{
#ifdef HAVE_RB_EXT_RACTOR_SAFE
    if (main_ractor_key) return;
    main_ractor_key = rb_ractor_local_storage_ptr_newkey(NULL);
    rb_ractor_local_storage_ptr_set(main_ractor_key, &main_ractor_marker);
#endif
}

static bool in_main_ractor(void)
{
#ifdef HAVE_RB_EXT_RACTOR_SAFE
    return main_ractor_key && rb_ractor_local_storage_ptr(main_ractor_key) == &main_ractor_marker;
#else
    return true;
#endif
}

/* True when word is the address of a live object on Ruby's heap: the first
 * byte of a slot of one of its pages, not free, not a zombie, not moved.
 * Main Ractor only (false elsewhere). */
static bool heap_object_p(VALUE word)
{
#ifdef HAVE_RB_OBJSPACE_EACH_OBJECTS
    if (!in_main_ractor()) return false;
    size_t gc = rb_gc_count(), allocated = allocated_pages();
    if (gc != pages_gc || allocated != pages_allocated) {
        page_count = 0;
        rb_objspace_each_objects(list_page, NULL);
        qsort(pages, page_count, sizeof *pages, by_start);
        pages_gc = rb_gc_count(), pages_allocated = allocated_pages();
    }
    uintptr_t p = (uintptr_t)word;
    size_t lo = 0, hi = page_count; /* the last page starting at or below p */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pages[mid].start <= p) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return false;
    const struct page *pg = &pages[lo - 1];
    if (p >= pg->end || !pg->stride || (p - pg->start) % pg->stride) return false;
    switch (RB_BUILTIN_TYPE(word)) {
    case RUBY_T_NONE:
    case RUBY_T_ZOMBIE:
    case RUBY_T_MOVED: return false;
    default: return true;
    }
#else
    (void)word;
#endif
    return false;
}

/* True when bytes [at, at + sizeof(VALUE)) of the struct overlap a declared field. */
static bool declared_p(const cleat_type *type, size_t at)
{
    CLEAT__EACH_FIELD(type, f)
    {
        if (at < f->offset + cleat__field_width(f) && f->offset < at + sizeof(VALUE)) return true;
    }
    return false;
}

static const char *class_of(VALUE obj)
{
    return RBASIC_CLASS(obj) ? rb_obj_classname(obj) : "(a hidden object)";
}

/* ---- quarantine ----------------------------------------------------------- */

/* Region memory that was resized or released, kept (not freed) for a while:
 * the last QUARANTINE_BLOCKS blocks, QUARANTINE_BYTES at most, or one
 * larger block alone, up to QUARANTINE_LARGEST (the eighth review, C side:
 * blocks over 8 MiB were freed at once, so a 16 MiB region's stale reads
 * and writes went unseen); a block larger than that is freed at once. A
 * door of the owner's class checks the
 * first CHECK_AT_DOOR bytes of its blocks; a block is checked whole when it
 * leaves, and every block at exit. */
enum { QUARANTINE_BLOCKS = 32, CHECK_AT_DOOR = 4096 };
#define QUARANTINE_BYTES ((size_t)8 << 20)
#define QUARANTINE_LARGEST ((size_t)256 << 20)

struct retired {
    unsigned char *base;
    size_t size;
    const cleat_type *type; /* the owner's type, or NULL */
    char what[200];         /* "region bytes (resized in X#m)" */
};
static struct retired quarantine[QUARANTINE_BLOCKS];
static size_t oldest, held, held_bytes;
static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;

/* Reports a block whose pattern was overwritten (through a stale pointer). */
static void check_block(const struct retired *b, size_t limit)
{
    size_t n = b->size < limit ? b->size : limit;
    UNPOISON(b->base, n);
    size_t i = 0;
    while (i < n && b->base[i] == CLEAT__FREED_BYTE) i++;
    POISON(b->base, n);
    if (i < n) {
        const char *path = b->type ? b->type->class_path : "(unknown)";
        cleat__debug_reportf("%s: a write through a stale view of %s, at byte %zu", path, b->what, i);
    }
}

static void evict_oldest(void)
{
    struct retired *b = &quarantine[oldest];
    check_block(b, SIZE_MAX);
    UNPOISON(b->base, b->size);
    ruby_xfree(b->base);
    held_bytes -= b->size;
    memset(b, 0, sizeof *b);
    oldest = (oldest + 1) % QUARANTINE_BLOCKS;
    held--;
}

static void check_all_at_exit(void)
{
    pthread_mutex_lock(&quarantine_lock);
    for (size_t i = 0; i < held; i++) check_block(&quarantine[(oldest + i) % QUARANTINE_BLOCKS], SIZE_MAX);
    pthread_mutex_unlock(&quarantine_lock);
}

/* The held block at base, or NULL. Under quarantine_lock. */
static const struct retired *held_block(const unsigned char *base)
{
    for (size_t i = 0; i < held; i++) {
        const struct retired *b = &quarantine[(oldest + i) % QUARANTINE_BLOCKS];
        if (b->base == base) return b;
    }
    return NULL;
}

static void quarantine_block(const cleat_type *type, unsigned char *base, size_t size, const char *what)
{
    if (size > QUARANTINE_LARGEST) {
        ruby_xfree(base);
        return;
    }
    pthread_mutex_lock(&quarantine_lock);
    /* Memory freed a second time while the first free still holds it: two
     * regions pointed at the same memory, which only a copied struct makes
     * (the seventh hostile review: a .copy callback doing memcpy, release
     * double-freed while this went silent). Kept once, so the block is
     * freed once (CLEAT_DEBUG_CONTINUE goes on without a double free). */
    const struct retired *first = held_block(base);
    if (first) {
        char before[sizeof first->what];
        memcpy(before, first->what, sizeof before);
        pthread_mutex_unlock(&quarantine_lock);
        cleat__debug_reportf("%s: %s frees memory that %s already freed: two structs shared one region, as a .copy "
                             "callback that copies the struct (memcpy, or b->r = o->r) makes (give the copy a region "
                             "of its own: cleat_region_resize, then copy the bytes, docs/api.md, section 11), or a "
                             "struct was put back from a copy saved before a resize (`saved = *p; ...; *p = saved`)",
                             type ? type->class_path : "(unknown)", what, before);
        return;
    }
    memset(base, CLEAT__FREED_BYTE, size);
    POISON(base, size);
    static bool at_exit;
    if (!at_exit) at_exit = atexit(check_all_at_exit) == 0;
    while (held == QUARANTINE_BLOCKS || (held && held_bytes + size > QUARANTINE_BYTES)) evict_oldest();
    struct retired *b = &quarantine[(oldest + held) % QUARANTINE_BLOCKS];
    b->base = base, b->size = size, b->type = type;
    snprintf(b->what, sizeof b->what, "%s", what);
    held++;
    held_bytes += size;
    pthread_mutex_unlock(&quarantine_lock);
}

static void check_quarantine(const cleat_type *type)
{
    pthread_mutex_lock(&quarantine_lock);
    for (size_t i = 0; i < held; i++) {
        const struct retired *b = &quarantine[(oldest + i) % QUARANTINE_BLOCKS];
        if (b->type == type) check_block(b, CHECK_AT_DOOR);
    }
    pthread_mutex_unlock(&quarantine_lock);
}

/* ---- regions -------------------------------------------------------------- */

/* The declared region field of owner at r, or NULL. Reports a region inside
 * owner's struct that no CLEAT_FIELD_REGION names: Cleat would never free it. */
static const cleat_field *region_field(VALUE owner, const cleat_type *type, const cleat_region *r)
{
    if (!type) return NULL;
    uintptr_t data = (uintptr_t)RTYPEDDATA_DATA(owner), at = (uintptr_t)r;
    if (at < data || at - data >= type->size) return NULL; /* not in the struct: someone else's */
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_REGION && f->offset == at - data) return f;
    }
    cleat__debug_reportf("%s: cleat_region at offset %zu is not declared; its memory leaks (declare it with "
           "CLEAT_FIELD_REGION)",
           type->class_path, (size_t)(at - data));
    return NULL;
}

/* Past each region's bytes, CLEAT__REGION_CANARY bytes of a pattern
 * (poisoned under ASan, which then reports the write itself): a write past
 * the end (a uint16_t length that wrapped, an index off by one) is reported
 * at the door's exit, a resize, a release or the collection (a review, C
 * side: heap corruption, unreported). */
enum { CANARY_BYTE = 0xCB };

void cleat__debug_region_made(unsigned char *base, size_t size)
{
    memset(base + size, CANARY_BYTE, CLEAT__REGION_CANARY);
    POISON(base + size, CLEAT__REGION_CANARY);
}

static void check_region_end(const char *class_path, const char *field, unsigned char *base, size_t size,
                             const char *when)
{
    UNPOISON(base + size, CLEAT__REGION_CANARY);
    size_t i = 0;
    while (i < CLEAT__REGION_CANARY && base[size + i] == CANARY_BYTE) i++;
    POISON(base + size, CLEAT__REGION_CANARY);
    if (i == CLEAT__REGION_CANARY) return;
    cleat__debug_reportf("%s: region %s was written past its end (byte %zu after its %zu bytes changed), %s: a "
                         "length or index that overflowed, or a size computed for other bytes? Check every write "
                         "against the region's size (cleat_region_contains)",
                         class_path, field, i, size, when);
}

/* Whether a region field points at a block in quarantine, memory a resize
 * or release already freed: a struct put back from a copy saved before
 * the resize (`saved = *m; resize; *m = saved; rb_raise`), which release
 * builds read freed memory through, then free twice (a review, C side).
 * Reported; the block is not read. */
static bool region_freed_already(const cleat_type *type, const cleat_field *f, const cleat_region *r,
                                 const char *when)
{
    pthread_mutex_lock(&quarantine_lock);
    const struct retired *b = held_block(r->base);
    char what[sizeof b->what];
    if (b) memcpy(what, b->what, sizeof what);
    pthread_mutex_unlock(&quarantine_lock);
    if (!b) return false;
    cleat__debug_reportf("%s: region %s points at memory that was already freed (%s), %s: a struct put back from a "
                         "copy saved before a resize (`saved = *p; ...; *p = saved`)? Undo by resizing again; never "
                         "copy a struct with regions or cleat_values over a live one",
                         type->class_path, f->name, what, when);
    return true;
}

static void check_region_ends(const cleat_type *type, void *data, const char *when)
{
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind != CLEAT_KIND_REGION) continue;
        cleat_region *r = cleat__field_region(data, f);
        if (r->base && !region_freed_already(type, f, r, when))
            check_region_end(type->class_path, f->name, r->base, r->size, when);
    }
}

void cleat__debug_region_retire(VALUE owner, const cleat_region *r, unsigned char *old, size_t old_size,
                                 const char *verb)
{
    const cleat_type *type = cleat_type_of(owner);
    const cleat_field *f = region_field(owner, type, r);
    if (!old) return;
    check_region_end(type ? type->class_path : "(unknown)", f ? f->name : "(undeclared)", old, old_size,
                     "found when it was resized or released");
    char what[200];
    snprintf(what, sizeof what, "region %s (%s in %s#%s)", f ? f->name : "(undeclared)", verb,
             type ? type->class_path : "(unknown)", method_name());
    quarantine_block(type, old, old_size, what);
}

void cleat__debug_region_collected(const cleat_type *type, const cleat_field *f, unsigned char *old,
                                    size_t old_size)
{
    if (!old) return;
    check_region_end(type->class_path, f->name, old, old_size, "found when its object was collected");
    char what[200];
    snprintf(what, sizeof what, "region %s (freed when its %s was collected)", f->name, type->class_path);
    quarantine_block(type, old, old_size, what);
}

bool cleat__debug_in_main_ractor(void) { return in_main_ractor(); }

bool cleat__debug_dead_object_p(VALUE v) { return in_main_ractor() && !heap_object_p(v); }

/* The eighth review, C side: a size_t member declared CLEAT_FIELD_ANY
 * (size_t is VALUE's type: it compiles) and given a count by cleat_write
 * crashed the next GC in either build. Main Ractor only (the heap walk's). */
void cleat__debug_check_stored(const cleat_type *type, const cleat_field *f, VALUE value)
{
    if (RB_SPECIAL_CONST_P(value) || !in_main_ractor() || heap_object_p(value)) return;
    cleat__debug_reportf("%s: field %s was given 0x%lx, which is neither an immediate nor a live object: a "
                         "plain C number (a size_t or long member) declared as a VALUE field? Declare only VALUE "
                         "members with CLEAT_FIELD*; for a count, store LONG2NUM(n)",
                         type->class_path, f->name, (unsigned long)value);
}


/* ---- at the end of each door ---------------------------------------------- */

/* The object a singleton class is attached to. */
static VALUE attached_object(VALUE klass)
{
#ifdef HAVE_RB_CLASS_ATTACHED_OBJECT
    return rb_class_attached_object(klass);
#else
    return rb_attr_get(klass, rb_intern("__attached__")); /* Ruby < 3.2 keeps it as a hidden ivar */
#endif
}

/* A class or module a constant keeps: named ("String", "A::B", not a
 * temporary "#<Module:0x...>::B" under an anonymous module), or the
 * singleton class of one (String.singleton_class, which String keeps). */
static bool named_module_p(VALUE mod)
{
    while (RB_TYPE_P(mod, T_CLASS) && RB_FL_TEST(mod, RUBY_FL_SINGLETON)) { /* the bit means more for modules */
        VALUE attached = attached_object(mod);
        if (!RB_TYPE_P(attached, T_CLASS) && !RB_TYPE_P(attached, T_MODULE)) return false;
        mod = attached;
    }
    VALUE name = rb_mod_name(mod);
    return !NIL_P(name) && RSTRING_LEN(name) > 0 && RSTRING_PTR(name)[0] != '#';
}

/* ---- roots ---------------------------------------------------------------- */

/* The addresses given to cleat_gc_root (gc.c) or, in the extension, to
 * rb_gc_register_address and rb_global_variable. Ruby marks each one's value
 * pinned at every GC for the rest of the process, so a member holding a
 * root's current value holds an object that neither dies nor moves while
 * the root keeps it (the seventh hostile review: a cached root value was
 * reported). The extension's rb_gc_unregister_address takes one out (a
 * root's memory may be freed after it); malloc'd, read under the GVL. */
static VALUE **roots;
static size_t root_count, root_capa;
static bool roots_lost;
static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;

void cleat__debug_gc_root(VALUE *address)
{
    pthread_mutex_lock(&roots_lock);
    if (root_count == root_capa) {
        size_t capa = root_capa ? root_capa * 2 : 16;
        VALUE **grown = realloc(roots, capa * sizeof *grown);
        if (!grown) { /* unrecorded, its value would be reported: exempt everything instead */
            roots_lost = true;
            pthread_mutex_unlock(&roots_lock);
            return;
        }
        roots = grown, root_capa = capa;
    }
    roots[root_count++] = address;
    pthread_mutex_unlock(&roots_lock);
}

/* The extension's rb_gc_register_address and rb_global_variable (cleat.h
 * routes them here in debug builds): roots like cleat_gc_root's. */
void cleat__debug_register_address(VALUE *address)
{
    rb_gc_register_address(address);
    cleat__debug_gc_root(address);
}

void cleat__debug_define_variable(const char *name, VALUE *address)
{
    rb_define_variable(name, address);
    cleat__debug_gc_root(address);
}

void cleat__debug_define_readonly_variable(const char *name, const VALUE *address)
{
    rb_define_readonly_variable(name, address);
    cleat__debug_gc_root((VALUE *)address); /* only read */
}

void cleat__debug_define_hooked_variable(const char *name, VALUE *address, rb_gvar_getter_t *getter,
                                         rb_gvar_setter_t *setter)
{
    rb_define_hooked_variable(name, address, getter, setter);
    /* Ruby marks the variable whatever its getter, so it is a root, unless
     * there is none: a virtual variable's NULL (a review: a NULL root
     * crashed the next check). */
    if (address) cleat__debug_gc_root(address);
}

/* The extension's rb_gc_unregister_address: the address is no root any
 * more, and its memory may be freed next (a review: a root in a freed
 * table was still read at the next check, a crash). */
void cleat__debug_unregister_address(VALUE *address)
{
    rb_gc_unregister_address(address);
    pthread_mutex_lock(&roots_lock);
    for (size_t i = root_count; i-- > 0;) {
        if (roots[i] != address) continue;
        roots[i] = roots[--root_count];
        break;
    }
    pthread_mutex_unlock(&roots_lock);
}

/* The extension's rb_gc_register_mark_object: Ruby keeps obj in a list
 * internal to the VM and marks it pinned for ever, so obj is recorded as the
 * value of a root of its own (a cell never freed, never changed). */
void cleat__debug_register_mark_object(VALUE obj)
{
    rb_gc_register_mark_object(obj);
    if (RB_SPECIAL_CONST_P(obj)) return;
    VALUE *cell = malloc(sizeof *cell);
    if (!cell) {
        pthread_mutex_lock(&roots_lock);
        roots_lost = true;
        pthread_mutex_unlock(&roots_lock);
        return;
    }
    *cell = obj;
    cleat__debug_gc_root(cell);
}

/* True when word is the current value of a cleat_gc_root. */
static bool rooted_p(VALUE word)
{
    pthread_mutex_lock(&roots_lock);
    bool found = roots_lost;
    for (size_t i = 0; i < root_count && !found; i++) found = *roots[i] == word;
    pthread_mutex_unlock(&roots_lock);
    return found;
}

/* ---- VALUEs in undeclared members: the check --------------------------------- */

/* The declared field of self whose value word is, as "field title" or
 * "element 3 of field list", into name; false when none, or when the
 * object is pinned by self's marking (rb_gc_mark, cleat_mark_field):
 * compaction moves only what is marked movable, and then updates the
 * declared field alone, never an undeclared copy of it. */
static bool copied_field(const cleat_type *type, void *data, const VALUE *values, const unsigned char *how, VALUE word,
                         char *name, size_t size)
{
    /* A hand-written .mark may pin the object in ways not recorded here
     * (rb_gc_mark_locations, rb_gc_mark_maybe, rb_mark_tbl: a review's
     * correct program, its copy pinned by rb_gc_mark_locations, was
     * reported): in a type with one, only a value its .mark itself marked
     * movable (and nothing pinned) counts (a review of the eighth round:
     * `rb_gc_mark_movable(c->cache)` of a copy of c->name crashed after
     * GC.compact, unreported), and only in VALUE fields. */
    bool by_mark = type->mark != NULL;
    if (by_mark && type->compact) return false; /* its .compact may update the copy (a review: reported) */
    size_t k = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) {
            size_t i = k++;
            if (by_mark && how[i] != MARKED_MOVABLE) continue;
            if (values[i] == word && !(how[i] & MARKED_PINNED)) {
                snprintf(name, size, "field %s", f->name);
                return true;
            }
        } else if (f->kind == CLEAT_KIND_VALUES && !by_mark) {
            const cleat_values *vals = cleat__field_values(data, f);
            for (size_t i = 0; i < vals->len; i++) {
                if (vals->ptr[i] != word) continue;
                snprintf(name, size, "element %zu of field %s", i, f->name);
                return true;
            }
        }
    }
    return false;
}

/* Hand-written marks, and VALUEs in undeclared members of self's struct;
 * `by` names the code that wrote them last ("init_fields"), NULL for the
 * running door (reported as X#method). */
static void check_members(VALUE self, const cleat_type *type, const char *by)
{
    void *data = RTYPEDDATA_DATA(self);
    /* Words of the struct that no declaration covers and that hold a live
     * heap object: found first, then compared with what marking reaches
     * (a .mark callback may mark members it does not declare). */
    /* All of them: a cap (it was eight) left a ninth member unchecked
     * behind eight marked ones (the eighth review, C side). */
    size_t few[16], words = type->size / sizeof(VALUE), n_suspects = 0;
    size_t *suspects = words <= 16 ? few : malloc(words * sizeof *suspects);
    if (!suspects) return; /* (out of memory: no check this time) */
    for (size_t at = 0; at + sizeof(VALUE) <= type->size; at += sizeof(VALUE)) {
        VALUE word;
        memcpy(&word, (char *)data + at, sizeof word);
        if (RB_SPECIAL_CONST_P(word) || declared_p(type, at) || !heap_object_p(word)) continue;
        /* A cached named class (m->klass = rb_cString) lives as long as its
         * constant; an anonymous one (Class.new, a singleton class) may be
         * collected as any object (the sixth hostile review: a factory
         * keeping the class it was given read a freed slot). */
        if (RB_TYPE_P(word, T_ICLASS) || ((RB_TYPE_P(word, T_CLASS) || RB_TYPE_P(word, T_MODULE)) && named_module_p(word)))
            continue;
        if (rooted_p(word)) continue; /* pinned and kept by a cleat_gc_root */
        suspects[n_suspects++] = at;
    }
    bool by_hand = type->flags & CLEAT_MARK_BY_HAND;
    if (!by_hand && !n_suspects) {
        if (suspects != few) free(suspects);
        return;
    }

    struct reached r = {NULL, 0, 0, false};
    size_t n = type->value_fields ? type->value_fields : 1;
    VALUE *values = malloc(n * sizeof(VALUE));
    unsigned char *how = malloc(n);
    bool known = values && how && run_marking(self, type, &r, values, how);
    if (known && by_hand) check_hand_mark(type, &r, values, how);
    char who[256];
    if (by) snprintf(who, sizeof who, "%s: %s", type->class_path, by);
    for (size_t i = 0; known && i < n_suspects; i++) {
        VALUE word;
        memcpy(&word, (char *)data + suspects[i], sizeof word);
        if (!by) snprintf(who, sizeof who, "%s#%s", type->class_path, method_name());
        char field[160];
        /* Reached through a declared field is not enough: the seventh
         * hostile review's d->title_cache = d->title went stale after
         * GC.compact moved the title and updated only d->title. */
        if (copied_field(type, data, values, how, word, field, sizeof field)) {
            cleat__debug_reportf("%s left a copy of %s (VALUE %s) in an undeclared member at offset %zu: GC.compact "
                                 "moves the object and updates only the declared field, so the copy goes stale; "
                                 "read the field instead, or declare the member with CLEAT_FIELD",
                                 who, field, class_of(word), suspects[i]);
            continue;
        }
        if (reached_p(&r, word)) continue;
        cleat__debug_reportf("%s left VALUE %s in an undeclared member at offset %zu: declare it with CLEAT_FIELD", who,
                             class_of(word), suspects[i]);
    }
    free(values);
    free(how);
    free(r.objs);
    if (suspects != few) free(suspects);
#ifndef HAVE_RB_OBJSPACE_REACHABLE_OBJECTS_FROM
    static bool said;
    if (!said) {
        said = true;
        fprintf(stderr, "[cleat debug] %s: hand-written marks and undeclared VALUE members are not checked: this "
                        "Ruby does not export rb_objspace_reachable_objects_from\n", type->class_path);
    }
#endif
}

/* The check runs where Cleat regains control after C code wrote the struct:
 * a door's exit, after .init_fields, at cleat_type_ready, and for an object
 * a factory made with cleat_type_new (filled after it returns, and perhaps
 * never given to cleat_type_ready) at Cleat's next cleat_type_new, door
 * entry or door exit on this thread (the seventh hostile review: such a VALUE was freed
 * before any door of the object ran its check). The pending object is held
 * weakly, as its address and struct: checked only if it is still that
 * live Cleat object. */
static _Thread_local VALUE pending;
static _Thread_local const void *pending_data;

static void check_pending(void)
{
    VALUE obj = pending;
    if (!obj) return;
    pending = 0;
    if (!heap_object_p(obj)) return;
    const cleat_type *type = cleat_type_of(obj);
    if (type && RTYPEDDATA_DATA(obj) == pending_data)
        check_members(obj, type, "the C code that filled it after cleat_type_new");
}

void cleat__debug_memory_enter(void) { check_pending(); }

void cleat__debug_memory_new(VALUE obj)
{
    check_pending();
    pending = obj;
    pending_data = RTYPEDDATA_DATA(obj);
}

void cleat__debug_memory_check(VALUE obj, const cleat_type *type, const char *by)
{
    if (pending == obj) pending = 0;
    check_members(obj, type, by);
}

void cleat__debug_memory_exit(VALUE self, const cleat_type *type)
{
    if (type->block_fields) check_region_ends(type, RTYPEDDATA_DATA(self), "found at the end of a method");
    check_quarantine(type);
    check_pending();
    check_members(self, type, NULL);
}

#else
/* ISO C wants something in every file. */
typedef int cleat_debug_memory_disabled;
#endif
