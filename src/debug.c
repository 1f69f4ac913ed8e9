/* debug.c - the checks of debug builds (CLEAT_DEBUG): what Cleat cannot
 * make impossible, it reports with the class and field name, then aborts,
 * the way a sanitizer does. Release builds compile this file to nothing. */
#include "internal.h"

#ifdef CLEAT_DEBUG

#include <ruby/debug.h>
#include <ruby/thread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_RUBY_THREAD_HAS_GVL_P
int ruby_thread_has_gvl_p(void);
#endif
/* The type whose free callback is running, and the class of the object whose
 * GVL-free section is running, on this thread. */
static _Thread_local const cleat_type *in_free;
/* The C frame that began the innermost CLEAT_DEFERRED_FREE callback
 * running on this thread, or 0: doors whose frames lie above it (entered
 * before the callback) did not call what the callback does. */
static _Thread_local uintptr_t deferred_free_frame;
static _Thread_local const char *in_nogvl;
enum { NOGVL_NAMES = 16 };
static _Thread_local char nogvl_names[NOGVL_NAMES][256];
static _Thread_local int nogvl_depth;
/* Set once a report has been made, so the abort it calls adds nothing. */
static volatile sig_atomic_t reported;

void cleat__debug_reportf(const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fprintf(stderr, "[cleat debug] %s\n", message);
    fflush(stderr);
    reported = 1;
    if (!getenv("CLEAT_DEBUG_CONTINUE")) abort();
}

void cleat__debug_report(const char *message) { cleat__debug_reportf("%s", message); }

/* ---- missing write barriers: a shadow copy of every declared VALUE field ---- */

/* The shadow lies just before the header: value_fields VALUEs. */
static VALUE *shadow_of(const cleat_type *type, void *data)
{
    return (VALUE *)((char *)data - sizeof(cleat_header)) - type->value_fields;
}

/* What the shadow keeps of a field's value v. Ruby moves the fields of a
 * type it marks declaratively without telling Cleat, so the shadow keeps
 * their object ids, which compaction leaves alone (ids are made on first
 * use: a debug build's cost). The other types' compaction callbacks move
 * the shadow with the fields (cleat__debug_before_compact): it keeps v. */
static VALUE shadow_value(const cleat_type *type, VALUE v)
{
    if (!type->references || RB_SPECIAL_CONST_P(v)) return v;
    /* An object freed under the field (what a missing barrier leads to) has
     * no id to ask for: its raw value then differs from any shadow. */
    if (cleat__debug_dead_object_p(v)) return v;
    /* Never a field's VALUE: not 8-aligned as objects are, and 0x04 is no
     * immediate's tag (an id as a Fixnum could equal an Integer field). */
    return (VALUE)(NUM2ULL(rb_obj_id(v)) << 8 | 0x04);
}

/* Each cleat_values field has a shadow of its elements too, on the heap,
 * its pointer just below the fields' shadow (declarative types have no
 * cleat_values fields). */
enum { DOOR_LIST_CHECK = 256 };

typedef struct list_shadow {
    size_t len, capa;
    const VALUE *buffer; /* the list's buffer when Cleat last stored into it */
    VALUE elements[];
} list_shadow;

static size_t list_count(const cleat_type *type)
{
    size_t lists = 0;
    CLEAT__EACH_FIELD(type, f) lists += f->kind == CLEAT_KIND_VALUES;
    return lists;
}

static list_shadow **list_shadows(const cleat_type *type, void *data)
{
    return (list_shadow **)(shadow_of(type, data) - list_count(type));
}

/* Room for n elements in *s (plain malloc: it may run inside the GC). */
static list_shadow *list_room(list_shadow **s, size_t n)
{
    if (*s && (*s)->capa >= n) return *s;
    size_t capa = n < 8 ? 8 : n * 2;
    list_shadow *grown = realloc(*s, sizeof **s + capa * sizeof(VALUE));
    if (!grown) {
        fprintf(stderr, "[cleat debug] out of memory for the shadow of a cleat_values\n");
        abort();
    }
    if (!*s) grown->len = 0, grown->buffer = NULL;
    grown->capa = capa;
    return *s = grown;
}

static int compare_values(const void *a, const void *b)
{
    VALUE x = *(const VALUE *)a, y = *(const VALUE *)b;
    return x < y ? -1 : x > y;
}

/* Whether v is among the elements the list's shadow holds: an element that
 * moved within the list (a delete by memmove, a swap, a copy of another
 * element) is no new reference and needs no barrier (the eighth review, C
 * side: a memmove delete_at was reported). *sorted: the shadow's elements,
 * sorted on first use (plain malloc: this may run inside the GC), so a
 * long list costs n log n, not n squared; NULL when out of memory (then
 * every moved element counts as new). */
static bool moved_within(const list_shadow *s, VALUE v, VALUE **sorted, bool *tried)
{
    if (!s || !s->len) return false;
    if (!*tried) {
        *tried = true;
        *sorted = malloc(s->len * sizeof(VALUE));
        if (*sorted) {
            memcpy(*sorted, s->elements, s->len * sizeof(VALUE));
            qsort(*sorted, s->len, sizeof(VALUE), compare_values);
        }
    }
    return *sorted && bsearch(&v, *sorted, s->len, sizeof(VALUE), compare_values);
}

/* Whether v (a field's new value, as shadow_value keeps it) is what
 * another VALUE field of the object held at the last check: moved between
 * fields (a swap, `front = back`), no new reference, no barrier needed (a
 * review, C side: a swap by hand was reported). fields: the shadows as the
 * check found them. */
static bool held_by_a_field(const VALUE *fields, size_t count, VALUE v)
{
    for (size_t i = 0; i < count; i++)
        if (fields[i] == v) return true;
    return false;
}

/* Whether one of the object's lists held v at the last check (a list
 * element moved into a field, or a field into a list). */
static bool held_by_a_list(list_shadow *const *lists, size_t count, VALUE v)
{
    for (size_t k = 0; k < count; k++) {
        const list_shadow *s = lists[k];
        for (size_t j = 0; s && j < s->len; j++)
            if (s->elements[j] == v) return true;
    }
    return false;
}

/* Whether the list's buffer is the one Cleat last gave it (or unknown). */
static bool list_buffer_known(const list_shadow *s, const cleat_values *vals)
{
    return !s || !s->buffer || !vals->ptr || vals->ptr == s->buffer;
}

static void report_unknown_buffer(const cleat_type *type, const cleat_field *f, const char *when)
{
    cleat__debug_reportf("%s: field %s points at a buffer that is not the one cleat_values_push last gave it, %s: a "
                         "struct put back from a copy saved before a push (`saved = *p; ...; *p = saved`), whose "
                         "buffer the push freed, or lists swapped or moved by hand? Only cleat_values_push and "
                         "cleat_values_clear may change a list: undo with cleat_values_clear, then push again; never "
                         "copy a struct with cleat_values or regions over a live one",
                         type->class_path, f->name, when);
}

/* A list whose length or buffer Cleat did not set: reported, and its
 * elements are not read (they may lie in freed memory). */
static bool list_damaged(const cleat_type *type, const cleat_field *f, const cleat_values *vals,
                         const list_shadow *s, const char *when)
{
    if (vals->len > vals->capa) {
        cleat__debug_reportf("%s: field %s holds %zu elements in room for %zu, %s: its len (or capa) was changed by "
                             "hand; only cleat_values_push and cleat_values_clear change them",
                             type->class_path, f->name, vals->len, vals->capa, when);
        return true;
    }
    if (!list_buffer_known(s, vals)) {
        report_unknown_buffer(type, f, when);
        return true;
    }
    return false;
}

/* Compares each VALUE field, and each cleat_values element, with what
 * cleat_write (or cleat_values_push) last stored. A heap object that
 * appeared any other way got no write barrier, unless the object held it
 * already (another field, a list). Immediates need none: their shadow just
 * follows. */
static void check_fields(const cleat_type *type, void *data, const char *when)
{
    if (type->flags & CLEAT_NOT_WB_PROTECTED) return;
    VALUE *shadow = shadow_of(type, data);
    list_shadow **lists = list_shadows(type, data);
    size_t nlists = list_count(type);
    /* The fields' shadows as found, for held_by_a_field (plain malloc: this
     * may run inside the GC); taken at the first change. */
    VALUE *before = NULL;
    bool by_gc = rb_during_gc(), lists_changed = false;
    size_t i = 0, k = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUES) {
            const cleat_values *vals = cleat__field_values(data, f);
            list_shadow *s = lists[k++];
            if (list_damaged(type, f, vals, s, when)) continue;
            /* A door checks short lists only (pushing n elements must not
             * cost n squared); the GC, which walks them anyway, all. */
            if (!by_gc && vals->len > DOOR_LIST_CHECK) continue;
            VALUE *sorted = NULL;
            bool tried = false, changed = false;
            for (size_t j = 0; j < vals->len; j++) {
                VALUE v = vals->ptr[j];
                if (s && j < s->len && v == s->elements[j]) continue;
                changed = true;
                /* The fields' shadows as they were: before, once a field's
                 * shadow followed it (below). */
                if (RB_SPECIAL_CONST_P(v) || moved_within(s, v, &sorted, &tried) ||
                    (!type->references && held_by_a_field(before ? before : shadow, type->value_fields, v)))
                    continue;
                cleat__debug_reportf("%s: element %zu of field %s changed without cleat_write or cleat_values_push (missing write "
                       "barrier), %s: store it with cleat_write(self, &vals->ptr[i], v)",
                       type->class_path, j, f->name, when);
            }
            free(sorted);
            lists_changed |= changed || (s && s->len > vals->len);
            continue;
        }
        if (f->kind != CLEAT_KIND_VALUE) continue;
        VALUE v = *cleat__field_slot(data, f);
        /* An id is asked only of a live object (asked of a freed slot, Ruby
         * would file an id under it), and only the main Ractor can tell:
         * elsewhere the fields of a type Ruby marks itself go unchecked, as
         * warn_of_other_ractors says. */
        if (type->references && !RB_SPECIAL_CONST_P(v) && !cleat__debug_in_main_ractor()) {
            i++;
            continue;
        }
        VALUE kept = shadow_value(type, v);
        if (kept != shadow[i]) {
            if (!before) {
                before = malloc(type->value_fields * sizeof(VALUE));
                if (before) memcpy(before, shadow, type->value_fields * sizeof(VALUE));
            }
            /* Only for types Cleat marks: the GC's check refreshes their
             * shadows whenever it marks them. Ruby marks declarative ones
             * itself, so their shadows may be older than the last GC, and a
             * value dropped before it may be dead or young now (a review of
             * the check: a real miss went unreported). */
            if (RB_SPECIAL_CONST_P(v) ||
                (!type->references && before && held_by_a_field(before, type->value_fields, kept)) ||
                (!type->references && held_by_a_list(lists, nlists, v)))
                shadow[i] = kept;
            else
                cleat__debug_reportf("%s: field %s changed without cleat_write (missing write barrier), %s", type->class_path,
                       f->name, when);
        }
        i++;
    }
    free(before);
    /* The lists' shadows follow last, once every field and element was
     * compared with them as they were (CLEAT_DEBUG_CONTINUE=1: reported
     * once), and forget what the lists no longer hold (popped: putting it
     * back by hand would be a new reference). */
    if (!lists_changed) return;
    k = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind != CLEAT_KIND_VALUES) continue;
        const cleat_values *vals = cleat__field_values(data, f);
        list_shadow *s = lists[k++];
        if (!s || vals->len > vals->capa || !list_buffer_known(s, vals)) continue;
        if (!by_gc && vals->len > DOOR_LIST_CHECK) continue;
        for (size_t j = 0; j < s->len && j < vals->len; j++) s->elements[j] = vals->ptr[j];
        if (s->len > vals->len) s->len = vals->len;
    }
}

void cleat__debug_wrote(const cleat_type *type, void *data, const cleat_field *f)
{
    size_t i = 0;
    CLEAT__EACH_FIELD(type, g)
    {
        if (g == f) {
            shadow_of(type, data)[i] = shadow_value(type, *cleat__field_slot(data, f));
            return;
        }
        if (g->kind == CLEAT_KIND_VALUE) i++;
    }
}

/* The shadow of list field f, or NULL (none yet). */
static list_shadow **list_shadow_of(const cleat_type *type, void *data, const cleat_field *f)
{
    list_shadow **lists = list_shadows(type, data);
    size_t k = 0;
    CLEAT__EACH_FIELD(type, g)
    {
        if (g == f) return &lists[k];
        if (g->kind == CLEAT_KIND_VALUES) k++;
    }
    return NULL;
}

void cleat__debug_list_push(const cleat_type *type, void *data, const cleat_field *f)
{
    list_shadow **s = list_shadow_of(type, data, f);
    if (s && !list_buffer_known(*s, cleat__field_values(data, f))) report_unknown_buffer(type, f, "in cleat_values_push");
}

void cleat__debug_list_moved(const cleat_type *type, void *data, const cleat_field *f)
{
    list_shadow **s = list_shadow_of(type, data, f);
    if (s && *s) (*s)->buffer = cleat__field_values(data, f)->ptr;
}

void cleat__debug_wrote_element(const cleat_type *type, void *data, const cleat_field *f, size_t i)
{
    list_shadow **shadow = list_shadow_of(type, data, f);
    if (!shadow) return;
    const cleat_values *vals = cleat__field_values(data, f);
    /* A store into a buffer Cleat did not give the list is no way to make
     * it known (a review of the check: one cleat_write hid it). */
    if (!list_buffer_known(*shadow, vals)) report_unknown_buffer(type, f, "in cleat_write");
    list_shadow *s = list_room(shadow, vals->len > i ? vals->len : i + 1);
    /* The shadow knows elements [0, len): one more when i extends them (a
     * push); a gap left by stores it never saw stays unknown, and is
     * reported. */
    s->elements[i] = vals->ptr[i];
    if (!s->buffer) s->buffer = vals->ptr;
    if (s->len == i) s->len = i + 1;
}

void cleat__debug_free_shadows(const cleat_type *type, void *data)
{
    list_shadow **lists = list_shadows(type, data);
    size_t k = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind != CLEAT_KIND_VALUES) continue;
        free(lists[k]);
        lists[k++] = NULL;
    }
}

void cleat__debug_sync(const cleat_type *type, void *data)
{
    VALUE *shadow = shadow_of(type, data);
    list_shadow **lists = list_shadows(type, data);
    size_t i = 0, k = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) shadow[i++] = shadow_value(type, *cleat__field_slot(data, f));
        if (f->kind != CLEAT_KIND_VALUES) continue;
        const cleat_values *vals = cleat__field_values(data, f);
        list_shadow **s = &lists[k++];
        if (!vals->len && !*s) continue;
        size_t count = cleat__values_count(vals);
        list_room(s, count);
        if (count) memcpy((*s)->elements, vals->ptr, count * sizeof(VALUE));
        (*s)->len = count;
        (*s)->buffer = vals->ptr;
    }
}

/* A compaction callback, before it moves the fields: the shadow of each
 * field (element) that matches it moves with it. One that does not match
 * keeps its stale value, which is only ever compared, never followed, so
 * the missing barrier is still reported at the next check (the sixth
 * hostile review: the shadow was taken afresh after every compaction, and
 * under test:compact no missing barrier was reported at all). The fields'
 * objects are live (this object marks them): their new places are known. */
void cleat__debug_before_compact(const cleat_type *type, void *data)
{
    if (type->flags & CLEAT_NOT_WB_PROTECTED) return;
    VALUE *shadow = shadow_of(type, data);
    list_shadow **lists = list_shadows(type, data);
    size_t i = 0, k = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) {
            VALUE v = *cleat__field_slot(data, f);
            if (shadow[i] == v) shadow[i] = rb_gc_location(v);
            i++;
        } else if (f->kind == CLEAT_KIND_VALUES) {
            const cleat_values *vals = cleat__field_values(data, f);
            list_shadow *s = lists[k++];
            for (size_t j = 0; s && j < vals->len && j < s->len; j++)
                if (s->elements[j] == vals->ptr[j]) s->elements[j] = rb_gc_location(vals->ptr[j]);
        }
    }
}

bool cleat__debug_holds_expected(const cleat_type *type, void *data, const cleat_field *f)
{
    size_t i = 0;
    CLEAT__EACH_FIELD(type, g)
    {
        if (g == f) return shadow_of(type, data)[i] == shadow_value(type, *cleat__field_slot(data, f));
        if (g->kind == CLEAT_KIND_VALUE) i++;
    }
    return true;
}

/* After mark: fields checked. */
void cleat__debug_mark_check(const cleat_type *type, void *data) { check_fields(type, data, "found by the GC"); }

/* ---- Ruby code in a door body while its object is not lent ----
 *
 * Each Ractor keeps a list of records: one per door running in it (pushed
 * at entry, popped at exit) and one per loan (CLEAT_YIELD, CLEAT_CALL,
 * CLEAT_LEND, CLEAT_WITHOUT_GVL, the lending conversions), each tagged with
 * its fiber and the address of its C frame. An event hook sees every Ruby
 * method and block that starts: if the current fiber has a door whose object
 * no later loan lends, that Ruby code could reach the object unchecked.
 *
 * A door left by an exception, throw or break never reaches its exit. Ruby
 * reports the C method's return while unwinding (c_return), from a C frame
 * above the door's: a record whose frame lies below the current one on the
 * same fiber's stack (stacks grow down) is gone, and is dropped then, and at
 * every entry. A fiber belongs to one thread, and sees only its own
 * records, so other threads' Ruby code (a GVL released in a body) is never
 * charged to this thread's doors; but for the C calls another fiber of its
 * thread has an unlent body waiting in (a switch to this fiber, below).
 *
 * A fiber is known by its object id, never reused, not by its VALUE: the
 * records of an abandoned enumerator's fiber stay behind when the GC
 * collects it, and the next fiber may get the same slot (and the same C
 * stack); it took them for its own and reported its block (the hostile
 * review, 300 enumerators). Such records are dropped when the list fills:
 * records of other fibers only, so the worst it can do to a live suspended
 * fiber is miss a report, never make one. */
typedef struct record {
    VALUE self;
    uint64_t fiber; /* rb_obj_id of the fiber */
    const cleat_type *type; /* NULL for a loan */
    uintptr_t frame;        /* the door's or the lending function's C frame */
    uint64_t serial;
    ID method;
    int mode;   /* a door's: CLEAT_BORROW_SHARED, _EXCLUSIVE, or 0 (initialize); PENDING_C_CALL */
    bool quiet; /* reported once already, or leaving through an exception */
    VALUE recv;      /* a pending C call's receiver */
    uint64_t door;   /* a pending C call's door (its serial) */
    uint64_t thread; /* a pending C call's Ruby thread (rb_obj_id) */
} record;

/* The mode of a record that is no door and no loan: a C method an unlent
 * body called, not returned yet (type NULL, self 0: it lends nothing). */
enum { PENDING_C_CALL = -1 };

/* The records of one Ractor, whose threads take turns under its GVL. Kept
 * per Ractor, not per native thread: under M:N threads (RUBY_MN_THREADS=1,
 * Ractors other than the main one on 3.3+) a Ruby thread moves between
 * native threads, and its door's record stayed behind on the one it left,
 * for the next to report (the seventh hostile review: false reports from
 * Game#each_player). Every record names its fiber, and each check reads
 * only its own fiber's (and a pending C call, its own thread's). */
typedef struct record_list {
    record *items;
    size_t count, capa;
    uint64_t serial;
} record_list;

#ifdef HAVE_RB_EXT_RACTOR_SAFE
#include <ruby/ractor.h>
static void free_record_list(void *p)
{
    record_list *l = p;
    if (l) free(l->items);
    free(l);
}
static const struct rb_ractor_local_storage_type record_list_type = {NULL, free_record_list};
static rb_ractor_local_key_t record_list_key;

/* This Ractor's records (the main Ractor's lookup reads a value Ruby caches
 * in the key: no hash lookup). */
static record_list *the_records(void)
{
    record_list *l = rb_ractor_local_storage_ptr(record_list_key);
    if (l) return l;
    l = calloc(1, sizeof *l);
    if (!l) rb_memerror();
    rb_ractor_local_storage_ptr_set(record_list_key, l);
    return l;
}
#else
static record_list process_records;
static record_list *the_records(void) { return &process_records; }
#endif

/* The current fiber's identity: its object id (unique for the process). */
static uint64_t current_fiber(void) { return NUM2ULL(rb_obj_id(rb_fiber_current())); }

/* Drops the records of fiber whose C frame lies below frame: returned. */
static void drop_returned(uint64_t fiber, uintptr_t frame)
{
    record_list *l = the_records();
    size_t kept = 0;
    for (size_t i = 0; i < l->count; i++) {
        /* A pending C call's frame is its hook's, which the method may run
         * above: those go at their C_RETURN, or with their door. A frame at
         * the same address is gone too: no two live frames share one (a
         * door left by an exception inside a TracePoint hook, which gets no
         * C return, and entered again from the hook's next run at the same
         * depth: the seventh hostile review). */
        const record *r = &l->items[i];
        if (r->fiber == fiber && r->frame <= frame && r->mode != PENDING_C_CALL) continue;
        l->items[kept++] = *r;
    }
    l->count = kept;
}

/* Records a door (type set) or a loan (type NULL) of fiber, whose records
 * of returned frames drop_returned dropped already. */
static uint64_t push_record(uint64_t fiber, VALUE self, const cleat_type *type, int mode, uintptr_t frame)
{
    record_list *l = the_records();
    if (l->count == l->capa && l->capa >= 1024) {
        size_t kept = 0; /* full: forget other fibers' (abandoned enumerators') */
        for (size_t i = 0; i < l->count; i++)
            if (l->items[i].fiber == fiber) l->items[kept++] = l->items[i];
        l->count = kept;
    }
    if (l->count == l->capa) {
        size_t capa = l->capa ? l->capa * 2 : 16;
        record *grown = realloc(l->items, capa * sizeof *grown);
        if (!grown) rb_memerror();
        l->items = grown;
        l->capa = capa;
    }
    ID method = rb_frame_this_func();
    l->items[l->count++] = (record){self, fiber, type, frame, ++l->serial, method, mode, false, 0, 0, 0};
    return l->serial;
}

/* Pops the record with this serial, with the records of its fiber above it
 * (left by an exception without a C method return in between). */
static void pop_record(uint64_t serial)
{
    record_list *l = the_records();
    for (size_t i = l->count; i-- > 0;) {
        if (l->items[i].serial != serial) continue;
        uint64_t fiber = l->items[i].fiber;
        size_t kept = i;
        for (size_t j = i + 1; j < l->count; j++)
            if (l->items[j].fiber != fiber) l->items[kept++] = l->items[j];
        l->count = kept;
        return;
    }
}

/* A C method returns: a door that returned normally popped its record
 * already, so a record of this fiber still innermost for the same object and
 * method is one an exception, throw or break unwound. Frame addresses alone
 * do not tell (Ruby 3.3 reports the return from deeper than the door's
 * frame), and neither does a stack more than 128 frames deep. */
static void drop_unwound_door(uint64_t fiber, rb_trace_arg_t *arg)
{
    record_list *l = the_records();
    for (size_t i = l->count; i-- > 0;) {
        const record *r = &l->items[i];
        if (r->fiber != fiber || r->mode == PENDING_C_CALL) continue;
        if (!r->type || r->self != rb_tracearg_self(arg)) return;
        VALUE mid = rb_tracearg_method_id(arg);
        if (RB_SYMBOL_P(mid) && SYM2ID(mid) == r->method) pop_record(r->serial);
        return;
    }
}

/* The innermost door of fiber (of self, unless 0) that no loan after it
 * lends. */
static record *unlent_door_of(uint64_t fiber, VALUE self)
{
    record_list *l = the_records();
    for (size_t i = l->count; i-- > 0;) {
        const record *door = &l->items[i];
        if (door->fiber != fiber || !door->type || (self && door->self != self)) continue;
        bool lent = false;
        for (size_t j = i + 1; j < l->count && !lent; j++)
            lent = l->items[j].fiber == fiber && !l->items[j].type && l->items[j].self == door->self;
        if (!lent) return &l->items[i];
    }
    return NULL;
}

/* The frames rb_profile_frames sees from the current one outwards, at most
 * FRAMES_LOOKED_AT (no line numbers: unused, and they cost a search each). */
enum { FRAMES_LOOKED_AT = 128 };
typedef struct frames {
    VALUE at[FRAMES_LOOKED_AT];
    int count;
} frames;

static void take_frames(frames *f) { f->count = rb_profile_frames(0, FRAMES_LOOKED_AT, f->at, NULL); }

/* Whether frame is the door's C method: a C frame (no path) of the door's
 * method name and class (Array#each is no Histogram#each). */
static bool frame_is_door(VALUE frame, const record *door)
{
    VALUE want = door->method ? rb_id2str(door->method) : 0;
    if (!want || !NIL_P(rb_profile_frame_path(frame))) return false;
    VALUE name = rb_profile_frame_method_name(frame);
    if (!RB_TYPE_P(name, T_STRING) || rb_str_equal(name, want) != Qtrue) return false;
    return cleat__string_is(rb_profile_frame_classpath(frame), door->type->class_path, strlen(door->type->class_path));
}

/* Whether the door's C method is still on this fiber's Ruby stack. A door
 * left by an exception is dropped when the unwinding reports its C return
 * from a frame above it, but Ruby 3.3 reported it from a deeper C frame
 * than the door's own, and the stale record then charged the test's next
 * Ruby method to Memory#read. Asked only before a report. */
static bool door_on_stack(const record *door)
{
    if (!door->method || !rb_id2str(door->method)) return true; /* cannot tell: keep it */
    frames f;
    take_frames(&f);
    for (int i = 0; i < f.count; i++)
        if (frame_is_door(f.at[i], door)) return true;
    return f.count == FRAMES_LOOKED_AT; /* deeper than looked: keep it */
}

/* Whether the C method being entered (frame 0) was called from the door's
 * C method through C frames only: a C call such as rb_funcall. A Ruby frame
 * between them is code the hook did not report, because Ruby fires no
 * events inside a hook: a TracePoint's block (the seventh hostile review: a
 * :c_call hook on an exception's #initialize read the object while a body
 * raised, which is no way back into the body), or a :line hook calling a
 * door that raised and got no C return, whose record then looked live. A
 * missed report at worst. Asked only before a report. */
static bool called_from_door_by_c(const record *door)
{
    frames f;
    take_frames(&f);
    for (int i = 1; i < f.count; i++) {
        if (!NIL_P(rb_profile_frame_path(f.at[i]))) return false; /* Ruby code */
        if (frame_is_door(f.at[i], door)) return true;
    }
    return false; /* not found, or deeper than looked: cannot tell */
}

/* Whether the door being entered has no Ruby frame of its own: frame 0 is
 * the outer door's C method, the only frame of it on the stack, so the
 * body called another door's C function directly (the eighth review, C
 * side: the rb_funcall form was reported, and its advice, "call the C
 * function behind it", led to this one, silent, a use after free). Asked
 * only before a report. */
static bool called_directly_from_door(const record *door)
{
    frames f;
    take_frames(&f);
    if (f.count == 0 || f.count == FRAMES_LOOKED_AT || !frame_is_door(f.at[0], door)) return false;
    for (int i = 1; i < f.count; i++)
        if (frame_is_door(f.at[i], door)) return false; /* frame 0 is a call of its own (rb_funcall, a hook) */
    return true;
}

/* Whether Ruby code starting now runs inside TracePoint.allow_reentry
 * (a frame of Ruby's own trace_point.rb) above the door's C frame: the
 * block of a hook, which Ruby lets fire events again there (a review: a
 * :c_call hook on the exception's #initialize, run while a body raised,
 * called allow_reentry, and its block was reported as the body's Ruby
 * code). A hook's code is the program's tracing, not the body's doing (as
 * without allow_reentry, when Ruby fires no events in a hook at all). A
 * Ruby method given that path by eval only makes a missed report. Asked
 * only before a report. */
static bool inside_reentered_hook(const record *door)
{
    static const char hooks[] = "<internal:trace_point>", reentry[] = "allow_reentry";
    frames f;
    take_frames(&f);
    for (int i = 0; i < f.count; i++) {
        if (cleat__string_is(rb_profile_frame_path(f.at[i]), hooks, sizeof hooks - 1) &&
            cleat__string_is(rb_profile_frame_method_name(f.at[i]), reentry, sizeof reentry - 1))
            return true;
        if (frame_is_door(f.at[i], door)) return false; /* reached the door */
    }
    return false;
}

/* unlent_door_of, past records an exception left (popped on the way). */
static record *live_unlent_door(uint64_t fiber, VALUE self)
{
    record *door = unlent_door_of(fiber, self);
    while (door && !door_on_stack(door)) {
        pop_record(door->serial);
        door = unlent_door_of(fiber, self);
    }
    return door;
}

/* ---- a body that switched fibers unlent ----
 *
 * A body's C call (rb_funcall of Enumerator#next, Fiber#resume, or of
 * anything that calls them) may switch to another fiber, whose Ruby code
 * then runs in the middle of the body: the hook sees it on that fiber,
 * where no door of this object runs (the sixth hostile review: an
 * Enumerator's block called the object's #grow, which freed the region the
 * body was reading). So each C call an unlent body makes is recorded until
 * it returns (normally, or unwound: Ruby reports both), and Ruby code on
 * another fiber of the thread while one is pending is reported. A body
 * that lends the object first (CLEAT_CALL) records nothing; a switch to a
 * fiber that runs no Ruby code (an enumerator over Array#each) is no
 * report. */

/* The current Ruby thread's identity: another thread's Ruby code run while
 * this one waits is no switch of this one's (a review: a false report under
 * M:N threads, where Ruby threads share native ones). */
static uint64_t current_thread(void) { return NUM2ULL(rb_obj_id(rb_thread_current())); }

static record *record_of(uint64_t serial)
{
    record_list *l = the_records();
    for (size_t i = l->count; i-- > 0;)
        if (l->items[i].serial == serial) return &l->items[i];
    return NULL;
}

/* The C methods that switch fibers: Enumerator#next and its kin (any
 * receiver: a Ruby #next may resume a Fiber itself, and is Ruby code the
 * hook sees anyway), Fiber#resume, #transfer, #raise, #kill, Fiber.yield.
 * Others reach them by a call of their own, which the hook sees. */
static ID switching_ids[9];
static VALUE fiber_class; /* a core class: never moved or freed */

/* At load, in the main Ractor: the hooks of every Ractor only read them. */
static void learn_switching_methods(void)
{
    const char *names[] = {"next", "peek", "next_values", "peek_values", "resume", "transfer", "yield", "raise", "kill"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) switching_ids[i] = rb_intern(names[i]);
    fiber_class = rb_path2class("Fiber");
}

static bool switching_method(ID id, VALUE recv)
{
    for (size_t i = 0; i < 4; i++)
        if (id == switching_ids[i]) return true;
    for (size_t i = 4; i < 9; i++)
        if (id == switching_ids[i]) return RTEST(rb_obj_is_fiber(recv)) || (id == switching_ids[6] && recv == fiber_class);
    return false;
}

static void note_c_call(uint64_t fiber, rb_trace_arg_t *arg, uintptr_t frame)
{
    record_list *l = the_records();
    VALUE mid = rb_tracearg_method_id(arg), recv = rb_tracearg_self(arg);
    ID id = RB_SYMBOL_P(mid) ? SYM2ID(mid) : 0;
    if (!switching_method(id, recv) || !unlent_door_of(fiber, 0)) return;
    /* Rare calls: the door is checked to be on the stack (one left by an
     * exception would make a false report from the other fiber). */
    const record *door = live_unlent_door(fiber, 0);
    if (!door || door->quiet) return;
    uint64_t serial = door->serial; /* push_record may move the records */
    push_record(fiber, 0, NULL, PENDING_C_CALL, frame);
    record *call = &l->items[l->count - 1];
    call->method = id;
    call->recv = recv;
    call->door = serial;
    call->thread = current_thread();
}

/* The C call returns: its record goes, with what its fiber left above it. */
static void end_c_call(uint64_t fiber, rb_trace_arg_t *arg)
{
    record_list *l = the_records();
    VALUE mid = rb_tracearg_method_id(arg), recv = rb_tracearg_self(arg);
    ID id = RB_SYMBOL_P(mid) ? SYM2ID(mid) : 0;
    for (size_t i = l->count; i-- > 0;) {
        const record *r = &l->items[i];
        if (r->fiber == fiber && r->mode == PENDING_C_CALL && r->recv == recv && r->method == id) {
            pop_record(r->serial);
            return;
        }
    }
}

/* Ruby code starts on fiber (or a door of self, unless 0): the door (of
 * self) of another fiber's pending C call, still unlent and not yet
 * reported, or NULL; *call is that call. */
static record *switched_from(uint64_t fiber, VALUE self, const record **call)
{
    record_list *l = the_records();
    uint64_t thread = 0;
    for (size_t i = l->count; i-- > 0;) {
        const record *c = &l->items[i];
        if (c->mode != PENDING_C_CALL || c->fiber == fiber) continue;
        if (!thread) thread = current_thread();
        if (c->thread != thread) continue;
        record *door = record_of(c->door);
        if (door && self && door->self != self) continue;
        if (!door || door->quiet || unlent_door_of(door->fiber, door->self) != door) continue;
        *call = c;
        return door;
    }
    return NULL;
}

static const char *id_name(ID id)
{
    const char *name = id ? rb_id2name(id) : NULL;
    return name ? name : "(unknown)";
}

/* Building and raising an exception calls its methods (initialize,
 * exception, backtrace; Ruby code when a class defines them): the body is
 * leaving, and the exception is no way back into the object. */
static bool about_an_exception(VALUE self)
{
    if (RB_SPECIAL_CONST_P(self)) return false;
    if (RTEST(rb_obj_is_kind_of(self, rb_eException))) return true;
    return RB_TYPE_P(self, T_CLASS) && rb_class_inherited_p(self, rb_eException) == Qtrue;
}

static const char *lending_fix(rb_event_flag_t event, ID mid)
{
    if (event == RUBY_EVENT_B_CALL)
        return "call the block with CLEAT_YIELD, which lends the object (a trap handler or a finalizer: lend around the C "
               "API call that ran it, a regex search through cleat_reg_search)";
    const char *name = id_name(mid);
    if (!strcmp(name, "to_int") || !strcmp(name, "to_i"))
        return "convert with cleat_num_to_int64(CLEAT_DOOR, v), which lends the object";
    if (!strcmp(name, "to_f")) return "convert with cleat_to_double(CLEAT_DOOR, v), which lends the object";
    if (!strcmp(name, "to_str")) return "convert with cleat_str_value(CLEAT_DOOR, v), which lends the object";
    if (!strcmp(name, "to_s") || !strcmp(name, "inspect"))
        return "format from C data (rb_class_name, numbers), or get the String through CLEAT_CALL first";
    return "call Ruby code through CLEAT_CALL, CLEAT_YIELD or CLEAT_LEND, which lend the object";
}

/* What started: "a block at file:line" or "Class#method". */
static void describe_code(rb_event_flag_t event, rb_trace_arg_t *arg, ID mid, char *what, size_t size)
{
    if (event == RUBY_EVENT_B_CALL) {
        const char *file = rb_sourcefile();
        snprintf(what, size, "a block at %s:%d", file ? file : "?", rb_sourceline());
    } else {
        VALUE klass = rb_tracearg_defined_class(arg);
        VALUE owner = RTEST(klass) ? rb_class_real(klass) : 0;
        snprintf(what, size, "%s#%s", owner ? rb_class2name(owner) : "?", id_name(mid));
    }
}

/* The class a pending call was made on, for messages. */
static const char *call_class(const record *call)
{
    VALUE klass = RB_SPECIAL_CONST_P(call->recv) ? rb_obj_class(call->recv) : rb_class_real(CLASS_OF(call->recv));
    if (RB_TYPE_P(call->recv, T_CLASS) || RB_TYPE_P(call->recv, T_MODULE)) klass = call->recv; /* Fiber.yield */
    return klass ? rb_class2name(klass) : "?";
}

static void report_switch(record *door, const record *call, rb_event_flag_t event, rb_trace_arg_t *arg, ID mid)
{
    door->quiet = true; /* once per call (CLEAT_DEBUG_CONTINUE=1) */
    char what[256];
    describe_code(event, arg, mid, what, sizeof what);
    cleat__debug_reportf("%s#%s switched to another fiber through %s#%s (a C call) while %s was not lent, and Ruby code "
                         "ran there (%s): call it through CLEAT_CALL, which lends the object",
                         door->type->class_path, id_name(door->method), call_class(call), id_name(call->method),
                         door->type->class_path, what);
}

/* Ruby code, or a C method called as a method (rb_funcall), inside a
 * cleat_without_gvl function: it runs without the GVL, beside other
 * threads' Ruby code (the seventh hostile review: an rb_yield there ran its
 * block unreported, and with another thread allocating Ruby died with
 * [BUG]). Allocation (rb_str_new) makes no event: not seen. */
#ifdef HAVE_RUBY_THREAD_HAS_GVL_P
static void report_code_without_gvl(rb_event_flag_t event, rb_trace_arg_t *arg)
{
    const char *nogvl = in_nogvl;
    in_nogvl = NULL; /* once */
    VALUE name = event == RUBY_EVENT_B_CALL ? Qnil : rb_tracearg_method_id(arg);
    char what[256];
    describe_code(event, arg, RB_SYMBOL_P(name) ? SYM2ID(name) : 0, what, sizeof what);
    if (about_an_exception(rb_tracearg_self(arg)))
        cleat__debug_reportf("%s: the Ruby API (rb_raise: %s ran) called without the GVL inside cleat_without_gvl: keep "
                             "the error in the function's argument and raise after cleat_without_gvl returns",
                             nogvl, what);
    cleat__debug_reportf("%s: %s ran without the GVL inside cleat_without_gvl (rb_yield, rb_funcall or another Ruby API "
                         "call in the GVL-free function): keep the function to plain C, and call Ruby after "
                         "cleat_without_gvl returns",
                         nogvl, what);
}
#endif

static void on_ruby_code(VALUE data, rb_trace_arg_t *arg)
{
    (void)data;
    rb_event_flag_t event = rb_tracearg_event_flag(arg);
#ifdef HAVE_RUBY_THREAD_HAS_GVL_P
    /* (rb_thread_call_with_gvl takes the GVL back: Ruby code may run there.) */
    if (in_nogvl && event != RUBY_EVENT_C_RETURN && !ruby_thread_has_gvl_p()) report_code_without_gvl(event, arg);
#endif
    record_list *l = the_records();
    if (!l->count) return;
    uint64_t fiber = current_fiber();
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    drop_returned(fiber, frame);
    if (event == RUBY_EVENT_C_RETURN) {
        end_c_call(fiber, arg);
        drop_unwound_door(fiber, arg);
        return;
    }
    /* C methods matter only as an exception's (below) and as calls that may
     * switch fibers (above): they are not Ruby code. */
    VALUE self = rb_tracearg_self(arg);
    bool an_exceptions_c_method = event == RUBY_EVENT_C_CALL;
    if (an_exceptions_c_method && !about_an_exception(self)) {
        note_c_call(fiber, arg, frame);
        return;
    }
    record *door = live_unlent_door(fiber, 0);
    if (!door && !an_exceptions_c_method) {
        const record *call;
        record *from = switched_from(fiber, 0, &call);
        VALUE name = event == RUBY_EVENT_CALL ? rb_tracearg_method_id(arg) : Qnil;
        if (from && !inside_reentered_hook(from)) report_switch(from, call, event, arg, RB_SYMBOL_P(name) ? SYM2ID(name) : 0);
        return;
    }
    if (!door || door->quiet) return;
    /* The body is raising (it never resumes after rb_raise): the exception's
     * methods, Ruby or C, and what they run are no way back in: a logger its
     * initialize calls, a trap handler or finalizer run at the interrupt
     * checks of Exception#initialize (they aborted correct programs, a
     * hostile review). Quiet for the rest of the call, not only while the
     * method runs: trap handlers also run after Exception#initialize
     * returned, still inside rb_raise. So a body that builds an exception
     * and keeps it, or rescues one in C, is no longer watched: a missed
     * report at worst, never a false one (docs/misuse.md). */
    if (an_exceptions_c_method || about_an_exception(self)) {
        door->quiet = true;
        return;
    }
    if (inside_reentered_hook(door)) return;
    VALUE name = event == RUBY_EVENT_CALL ? rb_tracearg_method_id(arg) : Qnil;
    ID mid = RB_SYMBOL_P(name) ? SYM2ID(name) : 0;
    door->quiet = true; /* once per call (CLEAT_DEBUG_CONTINUE=1) */
    char what[256];
    describe_code(event, arg, mid, what, sizeof what);
    cleat__debug_reportf("%s#%s ran Ruby code (%s) while %s was not lent: %s", door->type->class_path, id_name(door->method), what,
           door->type->class_path, lending_fix(event, mid));
}

VALUE cleat__debug_lend(VALUE self, VALUE (*lend)(VALUE), VALUE arg)
{
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    uint64_t fiber = current_fiber();
    drop_returned(fiber, frame);
    uint64_t serial = push_record(fiber, self, NULL, 0, frame);
    return rb_ensure(lend, arg, cleat__debug_lend_end, (VALUE)serial);
}

VALUE cleat__debug_lend_end(VALUE serial)
{
    pop_record((uint64_t)serial);
    return Qnil;
}

/* ---- the door: fields on the way in, loans on the way out ---- */

/* Ruby keeps event hooks per Ractor: on_ruby_code watches only the Ractors
 * it was added in. Added in the main Ractor when Cleat loads, and in any
 * other at its first door call (the hostile review: misuse went unreported
 * in a Ractor, its block back in the object mid-body); a Ractor-local
 * marker says it is there. */
static void add_hook(void)
{
    /* A raw-argument hook has its own signature: Ruby's API casts it (through
     * void (*)(void), which says so to the compiler). */
    rb_add_event_hook2((rb_event_hook_func_t)(void (*)(void))on_ruby_code,
                       RUBY_EVENT_CALL | RUBY_EVENT_B_CALL | RUBY_EVENT_C_CALL | RUBY_EVENT_C_RETURN, Qnil,
                       RUBY_EVENT_HOOK_FLAG_RAW_ARG);
}

#ifdef HAVE_RB_EXT_RACTOR_SAFE
static rb_ractor_local_key_t hooked_key;
static int hooked_marker;

/* Once per process: what stays main-Ractor-only says so. */
static void warn_of_other_ractors(void)
{
    static atomic_flag warned = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&warned)) return;
    static const char message[] =
        "[cleat debug] a Cleat method ran in a Ractor other than the main one: reports of Ruby code run "
        "while the object was not lent work there too, but the check for Ruby objects kept in undeclared "
        "struct members (it walks the heap), and the missing-write-barrier check of types Ruby marks "
        "declaratively (CLEAT_DECL_MARKING), run in the main Ractor only (docs/misuse.md)\n";
    ssize_t ignored = write(2, message, sizeof message - 1);
    (void)ignored;
}
#endif

/* At load (the main Ractor), then at every door call: a no-op once this
 * Ractor has the hook. In the main Ractor the lookup reads the value Ruby
 * caches in the key itself (no hash lookup: ractor.c, ractor_local_ref on
 * 3.1 to 3.4); other Ractors pay an st_lookup per door call. */
static void hook_this_ractor(bool at_load)
{
#ifdef HAVE_RB_EXT_RACTOR_SAFE
    if (at_load) hooked_key = rb_ractor_local_storage_ptr_newkey(NULL);
    if (rb_ractor_local_storage_ptr(hooked_key) == &hooked_marker) return;
    add_hook();
    rb_ractor_local_storage_ptr_set(hooked_key, &hooked_marker);
    if (!at_load) warn_of_other_ractors(); /* extensions load in the main Ractor only */
#else
    if (at_load) add_hook(); /* no Ractors: one hook */
#endif
}

static const char *method_name(void) { return id_name(rb_frame_this_func()); }

/* A door of self entered from a body of self on this fiber that did not
 * lend it: a C call (rb_funcall, rb_funcallv) reached a C method of the
 * object, which the hook does not watch (C methods are no Ruby code). Two
 * readers are harmless (inspect calling to_s); a writer on either side
 * changes the struct under the other (the fifth hostile review: a shared
 * body called `grow` through rb_funcall and read the freed region). */
static void check_nested_door(uint64_t fiber, VALUE self, const cleat_type *type, int mode)
{
    record *outer = live_unlent_door(fiber, self);
    if (!outer) {
        /* A body of self on another fiber, waiting in a C call that switched
         * here (a fiber resumed in the middle of its Ruby code makes no new
         * call the hook would see: a review of the fiber-switch report). */
        const record *call;
        record *waiting = switched_from(fiber, self, &call);
        if (!waiting || (waiting->mode == CLEAT_BORROW_SHARED && mode == CLEAT_BORROW_SHARED)) return;
        waiting->quiet = true;
        cleat__debug_reportf("%s#%s was called on the object while %s#%s's body, on another fiber, waited in %s#%s (a C "
                             "call that switched fibers) without lending it: call that through CLEAT_CALL, which lends "
                             "the object",
                             type->class_path, method_name(), waiting->type->class_path, id_name(waiting->method),
                             call_class(call), id_name(call->method));
        return;
    }
    if (outer->quiet || (outer->mode == CLEAT_BORROW_SHARED && mode == CLEAT_BORROW_SHARED)) return;
    if (called_directly_from_door(outer)) {
        outer->quiet = true;
        cleat__debug_reportf("a door of %s ran on the object inside %s#%s's body: its C function was called directly "
                             "(a door inside a door: what the inner body changes, the outer one holds); put the shared "
                             "code in a plain C function taking the struct, and call that from both bodies",
                             type->class_path, outer->type->class_path, id_name(outer->method));
        return;
    }
    if (!called_from_door_by_c(outer)) return;
    outer->quiet = true; /* once per call (CLEAT_DEBUG_CONTINUE=1) */
    cleat__debug_reportf("%s#%s was called from %s#%s's body on the same object while it was not lent (a C call such as "
                         "rb_funcall reached it): call it through CLEAT_CALL, which lends the object, or put what it "
                         "does in a plain C function taking the struct (not its door's function: a door inside a door)",
                         type->class_path, method_name(), outer->type->class_path, id_name(outer->method));
}

uint64_t cleat__debug_enter(VALUE self, const cleat_type *type, int mode, const void *frame)
{
    cleat__debug_needs_gvl("a Cleat method");
    hook_this_ractor(false);
    cleat__debug_memory_enter(); /* an object a factory filled since (debug_memory.c) */
    check_fields(type, RTYPEDDATA_DATA(self), "found at the next call");
    uint64_t fiber = current_fiber();
    drop_returned(fiber, (uintptr_t)frame);
    check_nested_door(fiber, self, type, mode);
    return push_record(fiber, self, type, mode, (uintptr_t)frame);
}


/* An exclusive method held the object alone from entry to exit: any loan
 * left now was started inside it (an external enumerator suspended in a
 * shared method of self, say). A shared method cannot tell its own loans
 * from those of other fibers, so only an exclusive loan counts there. */
void cleat__debug_exit(VALUE self, const cleat_type *type, int mode, uint64_t record)
{
    pop_record(record);
    char when[256];
    snprintf(when, sizeof when, "in %s#%s", type->class_path, method_name());
    check_fields(type, RTYPEDDATA_DATA(self), when);
    cleat__debug_memory_exit(self, type); /* debug_memory.c */
    const cleat_header *h = cleat__header(RTYPEDDATA_DATA(self));
    uint32_t state = h->state;
    bool leaked = mode == CLEAT_BORROW_SHARED ? (state & CLEAT__LENT_EXCL) != 0 : (state & ~CLEAT__INIT) != 0;
    if (!leaked) return;
    const char *holder = h->holder ? rb_id2name((ID)h->holder) : NULL;
    cleat__debug_reportf("%s#%s returned while the object is still lent out (by #%s)", type->class_path, method_name(),
           holder ? holder : "?");
}

/* ---- the GVL released by hand in a body ----
 *
 * rb_thread_call_without_gvl (and _gvl2, rb_nogvl) called by the
 * extension's own code lets other threads run Ruby code meanwhile, and one
 * may call a writer of the object whose body released it, changing the
 * struct under the GVL-free function (a review, C side: a sum over a region
 * that another thread's resize freed; a release crash, and debug builds
 * said nothing). Reported when the innermost door of this fiber released
 * it without lending its object (cleat_without_gvl lends it); a frozen
 * object, which nothing changes, and an initialize, whose object no other
 * door takes, are quiet. */
static void check_gvl_release(const char *function)
{
    if (!ruby_native_thread_p() || !ruby_thread_has_gvl_p()) return;
#ifdef HAVE_RB_EXT_RACTOR_SAFE
    if (!record_list_key) return; /* before cleat_init (an Init_ releasing the GVL first): no door has run */
#endif
    const record *door = live_unlent_door(current_fiber(), 0);
    if (!door || door->quiet || door->mode == 0 || OBJ_FROZEN(door->self)) return;
    /* A CLEAT_DEFERRED_FREE callback run at an interrupt check inside a
     * body is not the body's call (a review: the body was blamed); a door
     * the callback entered is its own (a review of that fix: all muted). */
    if (deferred_free_frame && door->frame > deferred_free_frame) return;
    cleat__debug_reportf("%s#%s released the GVL with %s without lending its object: other threads' Ruby code may "
                         "call a method of the object meanwhile and change what the function reads; release it "
                         "through cleat_without_gvl (CLEAT_WITHOUT_GVL), which lends the object",
                         door->type->class_path, id_name(door->method), function);
}

void *cleat__debug_call_without_gvl(void *(*func)(void *), void *data1, rb_unblock_function_t *ubf, void *data2)
{
    check_gvl_release("rb_thread_call_without_gvl");
    return rb_thread_call_without_gvl(func, data1, ubf, data2);
}

void *cleat__debug_call_without_gvl2(void *(*func)(void *), void *data1, rb_unblock_function_t *ubf, void *data2)
{
    check_gvl_release("rb_thread_call_without_gvl2");
    return rb_thread_call_without_gvl2(func, data1, ubf, data2);
}

void *cleat__debug_nogvl(void *(*func)(void *), void *data1, rb_unblock_function_t *ubf, void *data2, int flags)
{
    check_gvl_release("rb_nogvl");
    return rb_nogvl(func, data1, ubf, data2, flags);
}

/* ---- free callbacks and the GVL ---- */

void cleat__debug_free_begin(const cleat_type *type)
{
    if (!(type->flags & CLEAT_DEFERRED_FREE)) in_free = type;
}

void cleat__debug_free_end(void) { in_free = NULL; }

/* A CLEAT_DEFERRED_FREE callback running with its VALUE fields hidden
 * (read as nil: the C API does not check, so using one crashes): named if
 * it crashes. Ruby 3.1 ends a crash report with abort (on_abort below);
 * 3.3 and 3.4 die of the signal itself, so a SIGSEGV handler of Cleat's
 * is in place for the callback's duration: it speaks, puts Ruby's handler
 * back, and returns, and the faulting access repeats under Ruby's. */
static _Thread_local const cleat_type *deferred_type;
static _Thread_local const char *deferred_freed_field;
static struct sigaction ruby_segv;
/* Callbacks inside callbacks, and other Ractors' (each takes a deferred
 * list of its own): the first hooks, the last unhooks, under a spin lock
 * (a count alone let a late first hook save Cleat's own handler as Ruby's). */
static int segv_hooked;
static atomic_flag segv_lock = ATOMIC_FLAG_INIT;

static void name_deferred_crash(void)
{
    static const char prefix[] = "[cleat debug] ", middle[] = ": its free callback crashed; its VALUE fields (";
    static const char suffix[] = "...) read nil there: a deferred free callback may not use them (what they held "
                                 "may be freed or moved by then)\n";
    ssize_t ignored = write(2, prefix, sizeof prefix - 1);
    ignored = write(2, deferred_type->class_path, strlen(deferred_type->class_path));
    ignored = write(2, middle, sizeof middle - 1);
    ignored = write(2, deferred_freed_field, strlen(deferred_freed_field));
    ignored = write(2, suffix, sizeof suffix - 1);
    (void)ignored;
}

/* A fault of another thread (deferred_type is this thread's) is not the
 * callback's: nothing said. Either way Ruby's handler takes the repeat. */
static void on_segv_in_deferred_free(int signal)
{
    (void)signal;
    if (deferred_type && deferred_freed_field && !reported) {
        reported = 1; /* on_abort adds nothing */
        name_deferred_crash();
    }
    sigaction(SIGSEGV, &ruby_segv, NULL);
}

cleat__deferred_scope cleat__debug_deferred_free_begin(const cleat_type *type, const char *freed_field)
{
    cleat__deferred_scope outer = {deferred_type, deferred_freed_field, type && freed_field, deferred_free_frame};
    deferred_free_frame = (uintptr_t)__builtin_frame_address(0);
    deferred_type = outer.hooked ? type : NULL; /* nothing hidden: nothing to name */
    deferred_freed_field = outer.hooked ? freed_field : NULL;
    if (!outer.hooked) return outer;
    while (atomic_flag_test_and_set_explicit(&segv_lock, memory_order_acquire)) {
    }
    if (segv_hooked++ == 0) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_segv_in_deferred_free;
        action.sa_flags = SA_ONSTACK; /* as Ruby's own (a stack overflow runs on its alternate stack) */
        sigemptyset(&action.sa_mask);
        sigaction(SIGSEGV, &action, &ruby_segv);
    }
    atomic_flag_clear_explicit(&segv_lock, memory_order_release);
    return outer;
}

void cleat__debug_deferred_free_end(cleat__deferred_scope outer)
{
    deferred_free_frame = outer.frame;
    deferred_type = outer.type;
    deferred_freed_field = outer.field;
    if (!outer.hooked) return;
    while (atomic_flag_test_and_set_explicit(&segv_lock, memory_order_acquire)) {
    }
    if (--segv_hooked == 0) sigaction(SIGSEGV, &ruby_segv, NULL);
    atomic_flag_clear_explicit(&segv_lock, memory_order_release);
}

/* Without the GVL: plain C only. method is the door's name, found with the
 * GVL (method names are never freed). */
/* Nested: a GVL-free function that takes the GVL back
 * (rb_thread_call_with_gvl) may call a method that goes GVL-free again;
 * its end gives the outer section back (a review: it cleared it, and Ruby
 * code the outer function ran afterwards went unreported). Each level
 * names itself in a buffer of its own (the outermost sixteen). */
const char *cleat__debug_nogvl_begin(VALUE self, const char *method)
{
    const char *outer = in_nogvl;
    const cleat_type *type = cleat_type_of(self);
    bool deep = nogvl_depth >= NOGVL_NAMES;
    char *name = nogvl_names[deep ? NOGVL_NAMES - 1 : nogvl_depth];
    nogvl_depth++;
    snprintf(name, sizeof nogvl_names[0], "%s#%s%s", type ? type->class_path : "a Cleat object",
             method ? method : "(unknown)", deep ? " (or a GVL-free section nested deeper in it)" : "");
    in_nogvl = name;
    return outer;
}

void cleat__debug_nogvl_end(const char *outer)
{
    if (nogvl_depth > 0) nogvl_depth--;
    in_nogvl = outer;
}

int cleat__debug_nogvl_depth(void) { return nogvl_depth; }

/* outer: the nesting depth before this cleat_without_gvl began. Back to
 * it, the function returned and the exception came after, with the GVL
 * (an interrupt: Timeout, Thread#raise), also when an outer GVL-free
 * function had taken the GVL back to call this one (a review: that was
 * reported, aborting a correct program). Depths, not names: sections
 * nested past the sixteenth share a name. */
void cleat__debug_nogvl_left(int outer)
{
    const char *nogvl = in_nogvl;
    if (nogvl_depth <= outer || !nogvl) return; /* raised after the function returned, with the GVL */
    nogvl_depth = outer;
    in_nogvl = outer ? nogvl_names[outer <= NOGVL_NAMES ? outer - 1 : NOGVL_NAMES - 1] : NULL;
    cleat__debug_reportf("%s: the Ruby API (rb_raise?) called without the GVL inside cleat_without_gvl: the function left by "
           "an exception; keep the error in its argument and raise after cleat_without_gvl returns",
           nogvl);
}

void cleat__debug_needs_gvl(const char *function)
{
    if (in_free)
        cleat__debug_reportf("%s: its free callback called %s; free_immediately types may not call Cleat or the Ruby API "
               "from free (use CLEAT_DEFERRED_FREE)",
               in_free->class_path, function);
#ifdef HAVE_RUBY_THREAD_HAS_GVL_P
    if (!ruby_thread_has_gvl_p()) {
        if (in_nogvl)
            cleat__debug_reportf("%s: %s called without the GVL inside cleat_without_gvl (do it before or after the GVL-free "
                   "function, which may use only plain C data)",
                   in_nogvl, function);
        cleat__debug_reportf("(no object): %s called without the GVL", function);
    }
#endif
}

/* The SIGABRT disposition the program had when Cleat loaded. */
static struct sigaction previous_abort;

/* Ruby aborts (rb_bug) when a free callback allocates during GC: name the
 * type on the way down. */
static void on_abort(int signal)
{
    const cleat_type *type = in_free;
    const char *nogvl = in_nogvl;
    static const char prefix[] = "[cleat debug] ";
    if (reported) {
        /* cleat__debug_reportf() spoke: nothing to add. */
    } else if (type) {
        static const char suffix[] = ": its free callback called the Ruby API; free_immediately types may not "
                                     "(use CLEAT_DEFERRED_FREE)\n";
        ssize_t ignored = write(2, prefix, sizeof prefix - 1);
        ignored = write(2, type->class_path, strlen(type->class_path));
        ignored = write(2, suffix, sizeof suffix - 1);
        (void)ignored;
    } else if (deferred_type && deferred_freed_field) {
        name_deferred_crash();
    } else if (nogvl) {
        /* rb_raise and most of the Ruby API end in rb_bug without the GVL. */
        static const char suffix[] = ": the Ruby API (rb_raise?) called without the GVL inside cleat_without_gvl\n";
        ssize_t ignored = write(2, prefix, sizeof prefix - 1);
        ignored = write(2, nogvl, strlen(nogvl));
        ignored = write(2, suffix, sizeof suffix - 1);
        (void)ignored;
    }
    /* Then hand the signal on, once this handler returns: to the default
     * action, or to the program's own handler (a trap("ABRT") made before
     * Cleat loaded, which debug builds used to take away: the hostile review). */
    sigaction(SIGABRT, &previous_abort, NULL);
    raise(signal);
}

void cleat__debug_install(void)
{
    learn_switching_methods();
#ifdef HAVE_RB_EXT_RACTOR_SAFE
    record_list_key = rb_ractor_local_storage_ptr_newkey(&record_list_type);
#endif
    hook_this_ractor(true);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_abort;
    action.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGABRT, &action, &previous_abort);
}

#else
/* ISO C wants something in every file. */
typedef int cleat_debug_disabled;
#endif
