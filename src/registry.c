/* registry.c - what this extension declared (its types, their fields, the
 * methods defined with CLEAT_DEFINE_METHOD), kept so that `rake test:fuzz`
 * can attack any Cleat-based gem from its declarations alone.
 *
 * Each extension compiles its own copy of the library, so each keeps its own
 * registry and hands Ruby one hidden object for it, appended to the
 * constant Cleat::REGISTRIES (created by whichever extension loads first;
 * internal: only lib/cleat/fuzz.rb reads it).
 * That object answers, from this copy's C data:
 *   types      - [{class:, path:, flags:, fields: [{name:, kind:, nil_ok:, class:}]}]
 *   declared_methods - [[class, :name, arity, :shared | :exclusive | :init]]
 *   check(obj) - nil, or why obj (one of this extension's objects) breaks
 *                what its declaration promises: a loan left out, a field
 *                holding what it was declared not to hold.
 * Everything it returns is plain Ruby data, so registries of different
 * Cleat versions in one process can be read alike (docs/api.md, "Registry"). */
#include "internal.h"

#include <ruby/encoding.h>
#include <string.h>

static const cleat_type **types; /* every type defined, in order */
static size_t type_count, type_capa;
static VALUE methods = Qfalse; /* [[klass, name, arity, door], ...]; never handed out */
static VALUE registry = Qfalse;

CLEAT__COLD static VALUE door_name(int door)
{
    const char *name = door == CLEAT_BORROW_SHARED ? "shared" : door == CLEAT_BORROW_EXCLUSIVE ? "exclusive" : "init";
    return ID2SYM(rb_intern(name));
}

CLEAT__COLD static VALUE kind_name(int kind)
{
    const char *name = kind == CLEAT_KIND_VALUES ? "values" : kind == CLEAT_KIND_REGION ? "region" : "value";
    return ID2SYM(rb_intern(name));
}

/* The class a field's values must be, or nil for any. */
CLEAT__COLD static VALUE field_class(const cleat_field *f)
{
    if (f->klass) return *f->klass ? *f->klass : Qnil;
    if (f->type) return f->type->klass ? f->type->klass : Qnil;
    return Qnil;
}

CLEAT__COLD static VALUE sym(const char *name) { return ID2SYM(rb_intern(name)); }

CLEAT__COLD static VALUE describe_type(const cleat_type *type)
{
    VALUE h = rb_hash_new();
    rb_hash_aset(h, sym("class"), type->klass ? type->klass : Qnil);
    rb_hash_aset(h, sym("path"), rb_str_new_cstr(type->class_path));
    VALUE flags = rb_ary_new();
    if (type->flags & CLEAT_COPYABLE || type->copy) rb_ary_push(flags, sym("copyable"));
    if (type->flags & CLEAT_ZERO_IS_VALID) rb_ary_push(flags, sym("zero_is_valid"));
    if (type->flags & CLEAT_FROZEN_SHAREABLE) rb_ary_push(flags, sym("frozen_shareable"));
    rb_hash_aset(h, sym("flags"), flags);
    VALUE fields = rb_ary_new();
    CLEAT__EACH_FIELD(type, f)
    {
        VALUE fh = rb_hash_new();
        rb_hash_aset(fh, sym("name"), sym(f->name));
        rb_hash_aset(fh, sym("kind"), kind_name(f->kind));
        rb_hash_aset(fh, sym("nil_ok"), f->nil_ok ? Qtrue : Qfalse);
        rb_hash_aset(fh, sym("class"), field_class(f));
        rb_ary_push(fields, fh);
    }
    rb_hash_aset(h, sym("fields"), fields);
    return h;
}

/* call-seq: registry.types -> Array of Hash */
CLEAT__COLD static VALUE registry_types(VALUE self)
{
    (void)self;
    VALUE list = rb_ary_new_capa((long)type_count);
    for (size_t i = 0; i < type_count; i++) rb_ary_push(list, describe_type(types[i]));
    return list;
}

/* call-seq: registry.methods -> Array of [Class, Symbol, Integer, Symbol] */
CLEAT__COLD static VALUE registry_methods(VALUE self)
{
    (void)self;
    return methods ? rb_ary_dup(methods) : rb_ary_new();
}

CLEAT__COLD static bool ours(const cleat_type *type)
{
    for (size_t i = 0; i < type_count; i++)
        if (types[i] == type) return true;
    return false;
}

/* Whether v may sit in field f (nil aside). No Ruby code: kind_of? is read
 * from the ancestry in C. */
CLEAT__COLD static bool value_fits(const cleat_field *f, VALUE v)
{
    if (f->klass) return *f->klass && RTEST(rb_obj_is_kind_of(v, *f->klass));
    if (f->type) return cleat_is(v, f->type);
    return true;
}

CLEAT__COLD static VALUE bad_field(const cleat_type *type, const cleat_field *f, VALUE v, bool init)
{
    VALUE expected = field_class(f);
    VALUE message = rb_sprintf("%s#%s holds %" PRIsVALUE ", declared %s%" PRIsVALUE "%s", type->class_path,
                               f->name, cleat__describe_class(v), NIL_P(expected) ? "(any)" : "",
                               NIL_P(expected) ? rb_str_new_cstr("") : rb_class_name(expected),
                               f->nil_ok ? " or nil" : init ? "" : " (nil until initialised)");
    return rb_enc_associate(message, rb_utf8_encoding());
}

/* call-seq: registry.check(obj) -> nil or String
 *
 * nil when obj is not one of this extension's objects, or keeps every
 * promise of its declaration: no loan out (call it at the top level, where
 * no method of obj is running) and every declared field holding what it was
 * declared to hold (nil only where declared _OR_NIL, or before the object is
 * initialised). Otherwise what is wrong, as a message. Runs no Ruby code. */
CLEAT__COLD static VALUE registry_check(VALUE self, VALUE obj)
{
    (void)self;
    const cleat_type *type = cleat_type_of(obj);
    if (!type || !ours(type)) return Qnil;
    void *data = RTYPEDDATA_DATA(obj);
    cleat_header *h = cleat__header(data);
    /* Loans whose fiber the GC collected are given back first, as the next
     * method call would (the seventh round: a dropped enumerator's loan was
     * reported after add_player had gone in). */
    cleat__reclaim_loans(obj, h);
    if (h->state & CLEAT__LENT_BITS) { /* not FRESH or BUILDING: those are no loans */
        const char *holder = h->holder ? rb_id2name((ID)h->holder) : NULL;
        VALUE message = rb_sprintf("%s is still lent out (by #%s) with no method running", type->class_path,
                                   holder ? holder : "?");
        return rb_enc_associate(message, rb_utf8_encoding());
    }
    bool init = (h->state & CLEAT__INIT) != 0;
    CLEAT__EACH_FIELD(type, f)
    {
        if (f->kind == CLEAT_KIND_VALUE) {
            VALUE v = *cleat__field_slot(data, f);
            if (NIL_P(v)) {
                if (!f->nil_ok && init && !(type->flags & CLEAT_ZERO_IS_VALID)) return bad_field(type, f, v, init);
            } else if (!value_fits(f, v)) {
                return bad_field(type, f, v, init);
            }
        } else if (f->kind == CLEAT_KIND_VALUES) {
            const cleat_values *vals = cleat__field_values(data, f);
            if (vals->len > vals->capa)
                return rb_sprintf("%s#%s has %zu elements in room for %zu", type->class_path, f->name, vals->len,
                                  vals->capa);
            for (size_t i = 0; i < vals->len; i++) {
                VALUE v = vals->ptr[i];
                if (NIL_P(v) ? !f->nil_ok : !value_fits(f, v)) return bad_field(type, f, v, true);
            }
        }
    }
    return Qnil;
}

/* This extension's registry object, made on first use and appended to
 * Cleat::REGISTRIES. */
static VALUE registries_of(VALUE mCleat) { return rb_const_get_at(mCleat, rb_intern("REGISTRIES")); }

CLEAT__COLD void cleat__registry_init(void)
{
    if (registry) return;
    cleat_init();
    methods = rb_ary_new();
    rb_gc_register_address(&methods);
    VALUE mCleat = rb_define_module("Cleat");
    ID list_id = rb_intern("REGISTRIES");
    /* Cleat's own constant only (one in a module Ruby code included into
     * Cleat is shadowed, not read); one whose autoload fails is dropped
     * (a review: the load failed half-way, and every later require said the
     * class was already defined). */
    VALUE list = Qnil;
    if (rb_const_defined_at(mCleat, list_id)) {
        int state = 0;
        list = rb_protect(registries_of, mCleat, &state);
        if (state) {
            rb_set_errinfo(Qnil);
            if (rb_const_defined_at(mCleat, list_id)) rb_const_remove(mCleat, list_id);
            list = Qnil;
        }
    }
    /* Ruby code may have frozen it, or put something else there: a new
     * Array then takes its place (the seventh round: a frozen list made
     * every later Cleat extension fail to load, half-defined). */
    if (!RB_TYPE_P(list, T_ARRAY) || OBJ_FROZEN(list)) {
        VALUE fresh = RB_TYPE_P(list, T_ARRAY) ? rb_ary_dup(list) : rb_ary_new();
        if (!NIL_P(list)) rb_const_remove(mCleat, list_id);
        rb_define_const(mCleat, "REGISTRIES", fresh);
        list = fresh;
    }
    VALUE r = rb_obj_alloc(rb_cObject);
    rb_define_singleton_method(r, "types", registry_types, 0);
    /* Not `methods`, which every object answers with its own method names. */
    rb_define_singleton_method(r, "declared_methods", registry_methods, 0);
    rb_define_singleton_method(r, "check", registry_check, 1);
    rb_ary_push(list, r);
    registry = r;
    rb_gc_register_address(&registry);
}

CLEAT__COLD void cleat__registry_type(const cleat_type *type)
{
    cleat__registry_init();
    if (type_count == type_capa) {
        if (type_capa > SIZE_MAX / 2 / sizeof(*types)) rb_raise(rb_eNoMemError, "too many Cleat types");
        size_t capa = type_capa ? type_capa * 2 : 8;
        types = ruby_xrealloc2((void *)types, capa, sizeof(*types)); /* lives as long as the process */
        type_capa = capa;
    }
    types[type_count++] = type;
}

CLEAT__COLD void cleat__registry_method(VALUE klass, const char *ruby_name, int arity, int door)
{
    if (door == CLEAT__NO_DOOR) return; /* a CLEAT_FUNCTION: no type to fuzz it with */
    cleat__registry_init();
    VALUE entry = rb_ary_new_from_args(4, klass, ID2SYM(rb_intern(ruby_name)), INT2FIX(arity), door_name(door));
    rb_ary_push(methods, rb_ary_freeze(entry));
}

CLEAT__COLD void cleat__define_method(VALUE klass, const char *ruby_name, VALUE (*func)(ANYARGS), int arity, int door)
{
    (rb_define_method)(klass, ruby_name, func, arity);
    cleat__registry_method(klass, ruby_name, arity, door);
}
