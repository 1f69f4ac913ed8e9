/* debug.c - the checks of debug builds (CLEAT_DEBUG): what Cleat cannot
 * make impossible, it reports with the class and field name, then aborts,
 * the way a sanitizer does. Release builds compile this file to nothing. */
#include "internal.h"

#ifdef CLEAT_DEBUG

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
static _Thread_local const char *in_nogvl;

__attribute__((format(printf, 1, 2))) static void report(const char *format, ...)
{
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    fprintf(stderr, "[cleat debug] %s\n", message);
    fflush(stderr);
    if (!getenv("CLEAT_DEBUG_CONTINUE")) abort();
}

void cleat__debug_report(const char *message) { report("%s", message); }

/* ---- missing write barriers: a shadow copy of every declared VALUE field ---- */

/* The shadow lies just before the header: value_fields VALUEs, preceded by
 * the GC's compaction count when it was last in step with the fields. */
static VALUE *shadow_of(const cleat_type *type, void *data)
{
    return (VALUE *)((char *)data - sizeof(cleat_header)) - type->value_fields;
}

static size_t *shadow_epoch(const cleat_type *type, void *data)
{
    return (size_t *)(shadow_of(type, data) - 1);
}

static size_t compactions(void)
{
    static VALUE key;
    if (!key) key = ID2SYM(rb_intern("compact_count"));
    return rb_gc_stat(key);
}

/* Compares each VALUE field with what cleat_write last stored. A heap
 * object that appeared any other way got no write barrier. Immediates need
 * none: their shadow just follows. */
static void check_fields(const cleat_type *type, void *data)
{
    if (type->flags & CLEAT_NOT_WB_PROTECTED) return;
    /* A compaction moves fields without telling Cleat when Ruby marks the
     * type declaratively: after one, take the fields as they are. */
    if (*shadow_epoch(type, data) != compactions()) {
        cleat__debug_sync(type, data);
        return;
    }
    VALUE *shadow = shadow_of(type, data);
    size_t i = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind != CLEAT_KIND_VALUE) continue;
        VALUE v = *cleat__field_slot(data, f);
        if (v != shadow[i]) {
            if (RB_SPECIAL_CONST_P(v)) shadow[i] = v;
            else report("%s: field %s changed without cleat_write (missing write barrier)", type->class_path, f->name);
        }
        i++;
    }
}

void cleat__debug_wrote(const cleat_type *type, void *data, const cleat_field *f)
{
    size_t i = 0;
    CLEAT__EACH_FIELD(type, g)
    {
        if (g == f) {
            shadow_of(type, data)[i] = *cleat__field_slot(data, f);
            return;
        }
        if (g->kind == CLEAT_KIND_VALUE) i++;
    }
}

void cleat__debug_sync(const cleat_type *type, void *data)
{
    *shadow_epoch(type, data) = compactions();
    VALUE *shadow = shadow_of(type, data);
    size_t i = 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) shadow[i++] = *cleat__field_slot(data, f);
    }
}

/* After mark: fields checked. */
void cleat__debug_mark_check(const cleat_type *type, void *data) { check_fields(type, data); }

/* ---- the door: fields on the way in, loans on the way out ---- */

void cleat__debug_enter(VALUE self, const cleat_type *type)
{
    cleat__debug_needs_gvl("a Cleat method");
    check_fields(type, RTYPEDDATA_DATA(self));
}

static const char *method_name(void)
{
    ID id = rb_frame_this_func();
    const char *name = id ? rb_id2name(id) : NULL;
    return name ? name : "(unknown)";
}

/* An exclusive method held the object alone from entry to exit: any loan
 * left now was started inside it (an external enumerator suspended in a
 * shared method of self, say). A shared method cannot tell its own loans
 * from those of other fibers, so only an exclusive loan counts there. */
void cleat__debug_exit(VALUE self, const cleat_type *type, int mode)
{
    cleat__debug_memory_exit(self, type); /* debug_memory.c */
    const cleat_header *h = cleat__header(RTYPEDDATA_DATA(self));
    uint32_t state = h->state;
    bool leaked = mode == CLEAT_BORROW_SHARED ? (state & CLEAT__LENT_EXCL) != 0 : (state & ~CLEAT__INIT) != 0;
    if (!leaked) return;
    const char *holder = h->holder ? rb_id2name((ID)h->holder) : NULL;
    report("%s#%s returned while the object is still lent out (by #%s)", type->class_path, method_name(),
           holder ? holder : "?");
}

/* ---- free callbacks and the GVL ---- */

void cleat__debug_free_begin(const cleat_type *type)
{
    if (!(type->flags & CLEAT_DEFERRED_FREE)) in_free = type;
}

void cleat__debug_free_end(void) { in_free = NULL; }

void cleat__debug_nogvl_begin(VALUE self)
{
    const cleat_type *type = cleat_type_of(self);
    in_nogvl = type ? type->class_path : "a Cleat object";
}

void cleat__debug_nogvl_end(void) { in_nogvl = NULL; }

void cleat__debug_needs_gvl(const char *function)
{
    if (in_free)
        report("%s: its free callback called %s; free_immediately types may not call Cleat or the Ruby API "
               "from free (use CLEAT_DEFERRED_FREE)",
               in_free->class_path, function);
#ifdef HAVE_RUBY_THREAD_HAS_GVL_P
    if (!ruby_thread_has_gvl_p())
        report("%s: %s called without the GVL (inside cleat_without_gvl?)", in_nogvl ? in_nogvl : "(no object)",
               function);
#endif
}

/* Ruby aborts (rb_bug) when a free callback allocates during GC: name the
 * type on the way down. */
static void on_abort(int signal)
{
    const cleat_type *type = in_free;
    if (type) {
        static const char prefix[] = "[cleat debug] ";
        static const char suffix[] = ": its free callback called the Ruby API; free_immediately types may not "
                                     "(use CLEAT_DEFERRED_FREE)\n";
        ssize_t ignored = write(2, prefix, sizeof prefix - 1);
        ignored = write(2, type->class_path, strlen(type->class_path));
        ignored = write(2, suffix, sizeof suffix - 1);
        (void)ignored;
    }
    raise(signal); /* the default action again: SA_RESETHAND */
}

void cleat__debug_install(void)
{
    compactions(); /* look the key up now, never first during a GC */
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_abort;
    action.sa_flags = (int)SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(SIGABRT, &action, NULL);
}

#else
/* ISO C wants something in every file. */
typedef int cleat_debug_disabled;
#endif
