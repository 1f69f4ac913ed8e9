/* scanner_raw.c - CleatBench::RawScanner: the Scanner (scanner.h) written
 * the way a careful author writes it with the raw C API: WB-protected,
 * free-immediately, embedded in the object slot where Ruby can
 * (RUBY_TYPED_EMBEDDABLE, probed by extconf.rb), its own mark with
 * rb_gc_mark_movable and compaction with rb_gc_location, RB_OBJ_WRITE for
 * every store, TypedData_Get_Struct and an initialised check in every
 * method. scanner_cleat.c is the same class written with Cleat. */
#include "scanner.h"

static void raw_scanner_mark(void *p)
{
    scanner_t *s = p;
    rb_gc_mark_movable(s->source);
    rb_gc_mark_movable(s->last_match);
    rb_gc_mark_movable(s->on_token);
}

static void raw_scanner_compact(void *p)
{
    scanner_t *s = p;
    s->source = rb_gc_location(s->source);
    s->last_match = rb_gc_location(s->last_match);
    s->on_token = rb_gc_location(s->on_token);
}

/* An embeddable struct lives in the object slot, or Ruby frees it itself:
 * either way only the tokens are ours to free, and to count. */
#ifdef HAVE_CONST_RUBY_TYPED_EMBEDDABLE
#define RAW_SCANNER_EMBEDDABLE RUBY_TYPED_EMBEDDABLE
#define RAW_SCANNER_SELF_SIZE 0
#else
#define RAW_SCANNER_EMBEDDABLE 0
#define RAW_SCANNER_SELF_SIZE sizeof(scanner_t)
#endif

static void raw_scanner_free(void *p)
{
    scanner_t *s = p;
    ruby_xfree(s->tokens);
#ifndef HAVE_CONST_RUBY_TYPED_EMBEDDABLE
    ruby_xfree(s);
#endif
}

static size_t raw_scanner_memsize(const void *p)
{
    const scanner_t *s = p;
    return RAW_SCANNER_SELF_SIZE + s->capa * sizeof(long);
}

static const rb_data_type_t raw_scanner_type = {
    .wrap_struct_name = "CleatBench::RawScanner",
    .function = {.dmark = raw_scanner_mark,
                 .dfree = raw_scanner_free,
                 .dsize = raw_scanner_memsize,
                 .dcompact = raw_scanner_compact},
    .flags = RUBY_TYPED_FREE_IMMEDIATELY | RUBY_TYPED_WB_PROTECTED | RAW_SCANNER_EMBEDDABLE,
};

static VALUE raw_scanner_alloc(VALUE klass)
{
    scanner_t *s;
    VALUE obj = TypedData_Make_Struct(klass, scanner_t, &raw_scanner_type, s);
    s->source = s->last_match = s->on_token = Qnil;
    return obj;
}

/* The struct of an initialised scanner; ArgumentError for one made by allocate. */
static scanner_t *get_scanner(VALUE self)
{
    scanner_t *s;
    TypedData_Get_Struct(self, scanner_t, &raw_scanner_type, s);
    if (RB_UNLIKELY(NIL_P(s->source))) rb_raise(rb_eArgError, "uninitialized CleatBench::RawScanner");
    return s;
}

static void raw_forget_match(VALUE self, scanner_t *s)
{
    s->flags &= ~SCANNER_MATCHED;
    RB_OBJ_WRITE(self, &s->last_match, Qnil);
}

static VALUE raw_scanner_initialize(VALUE self, VALUE str, VALUE on_token)
{
    scanner_t *s;
    TypedData_Get_Struct(self, scanner_t, &raw_scanner_type, s);
    VALUE source = rb_str_new_frozen(StringValue(str));
    RB_OBJ_WRITE(self, &s->source, source);
    RB_OBJ_WRITE(self, &s->on_token, on_token);
    RB_OBJ_WRITE(self, &s->last_match, Qnil);
    scanner_reset_plain(s);
    return self;
}

static VALUE raw_scanner_init_copy(VALUE self, VALUE orig)
{
    if (self == orig) return self;
    rb_check_frozen(self);
    scanner_t *dst, *src = get_scanner(orig);
    TypedData_Get_Struct(self, scanner_t, &raw_scanner_type, dst);
    scanner_copy_plain(dst, src);
    RB_OBJ_WRITE(self, &dst->source, src->source);
    RB_OBJ_WRITE(self, &dst->last_match, src->last_match);
    RB_OBJ_WRITE(self, &dst->on_token, src->on_token);
    return self;
}

static VALUE raw_scanner_string(VALUE self) { return get_scanner(self)->source; }
static VALUE raw_scanner_pos(VALUE self) { return LONG2NUM(get_scanner(self)->pos); }

static VALUE raw_scanner_set_pos(VALUE self, VALUE pos)
{
    scanner_t *s = get_scanner(self);
    long to = NUM2LONG(pos), len = scanner_len(s);
    if (to < 0) to += len;
    if (to < 0 || to > len) rb_raise(rb_eRangeError, "position out of range");
    rb_check_frozen(self);
    scanner_seek(s, to);
    return pos;
}

static VALUE raw_scanner_eos_p(VALUE self)
{
    scanner_t *s = get_scanner(self);
    return SCANNER_BOOL(s->pos >= scanner_len(s));
}

static VALUE raw_scanner_rest(VALUE self)
{
    scanner_t *s = get_scanner(self);
    return rb_str_subseq(s->source, s->pos, scanner_len(s) - s->pos);
}

static VALUE raw_scanner_rest_size(VALUE self)
{
    scanner_t *s = get_scanner(self);
    return LONG2NUM(scanner_len(s) - s->pos);
}

static VALUE raw_scanner_peek(VALUE self, VALUE n)
{
    scanner_t *s = get_scanner(self);
    long want = NUM2LONG(n), rest = scanner_len(s) - s->pos;
    if (want < 0) rb_raise(rb_eArgError, "negative length");
    return rb_str_subseq(s->source, s->pos, want < rest ? want : rest);
}

static VALUE raw_scanner_getch(VALUE self)
{
    rb_check_frozen(self);
    scanner_t *s = get_scanner(self);
    long n = scanner_char_len(s);
    if (!n) {
        raw_forget_match(self, s);
        return Qnil;
    }
    RB_OBJ_WRITE(self, &s->last_match, Qnil);
    s->prev_pos = s->match_start = s->pos;
    s->match_end = s->pos + n;
    s->flags |= SCANNER_MATCHED;
    scanner_advance(s, s->match_end);
    return scanner_matched(s);
}

static VALUE raw_scanner_skip_space(VALUE self)
{
    rb_check_frozen(self);
    long n = scanner_skip_space(get_scanner(self));
    return n ? LONG2NUM(n) : Qnil;
}

/* The scan-like methods: records the match and returns its end, or
 * forgets the last match and returns -1. */
static long raw_scan(VALUE self, scanner_t *s, VALUE re, bool anchored, bool advance)
{
    rb_check_frozen(self);
    Check_Type(re, T_REGEXP);
    long start, end;
    VALUE match;
    s->scans++;
    end = scanner_match(rb_reg_search(re, s->source, s->pos, 0), s->pos, anchored, &start, &match);
    if (end < 0) {
        raw_forget_match(self, s);
        return -1;
    }
    scanner_record(s, start, end, advance);
    RB_OBJ_WRITE(self, &s->last_match, match);
    return end;
}

static VALUE raw_scanner_scan(VALUE self, VALUE re)
{
    scanner_t *s = get_scanner(self);
    return raw_scan(self, s, re, true, true) < 0 ? Qnil : scanner_matched(s);
}

static VALUE raw_scanner_skip(VALUE self, VALUE re)
{
    scanner_t *s = get_scanner(self);
    long before = s->pos, end = raw_scan(self, s, re, true, true);
    return end < 0 ? Qnil : LONG2NUM(end - before);
}

static VALUE raw_scanner_check(VALUE self, VALUE re)
{
    scanner_t *s = get_scanner(self);
    return raw_scan(self, s, re, true, false) < 0 ? Qnil : scanner_matched(s);
}

static VALUE raw_scanner_match_p(VALUE self, VALUE re)
{
    scanner_t *s = get_scanner(self);
    long end = raw_scan(self, s, re, true, false);
    return end < 0 ? Qnil : LONG2NUM(end - s->pos);
}

static VALUE raw_scanner_scan_until(VALUE self, VALUE re)
{
    scanner_t *s = get_scanner(self);
    long before = s->pos, end = raw_scan(self, s, re, false, true);
    return end < 0 ? Qnil : rb_str_subseq(s->source, before, end - before);
}

static VALUE raw_scanner_matched(VALUE self) { return scanner_matched(get_scanner(self)); }

static VALUE raw_scanner_matched_p(VALUE self)
{
    return SCANNER_BOOL(get_scanner(self)->flags & SCANNER_MATCHED);
}

static VALUE raw_scanner_aref(VALUE self, VALUE n)
{
    scanner_t *s = get_scanner(self);
    int nth = NUM2INT(n);
    if (!(s->flags & SCANNER_MATCHED)) return Qnil;
    if (NIL_P(s->last_match)) return nth == 0 ? scanner_matched(s) : Qnil;
    return rb_reg_nth_match(nth, s->last_match);
}

static VALUE raw_scanner_unscan(VALUE self)
{
    rb_check_frozen(self);
    scanner_t *s = get_scanner(self);
    if (!(s->flags & SCANNER_MATCHED)) rb_raise(rb_eRuntimeError, "nothing to unscan");
    scanner_seek(s, s->prev_pos);
    raw_forget_match(self, s);
    return self;
}

static VALUE raw_scanner_line(VALUE self) { return LONG2NUM(get_scanner(self)->line); }

static VALUE raw_scanner_column(VALUE self)
{
    scanner_t *s = get_scanner(self);
    return LONG2NUM(s->pos - s->line_start + 1);
}

static VALUE raw_scanner_tokens(VALUE self)
{
    scanner_t *s = get_scanner(self);
    VALUE ary = rb_ary_new_capa((long)s->ntokens);
    for (size_t i = 0; i < s->ntokens; i++) rb_ary_push(ary, LONG2NUM(s->tokens[i]));
    return ary;
}

static VALUE raw_scanner_token_count(VALUE self) { return SIZET2NUM(get_scanner(self)->ntokens); }

/* The block may reset or scan: the struct is read again every time. */
static VALUE raw_scanner_each_token(VALUE self)
{
    for (size_t i = 0; i < get_scanner(self)->ntokens; i++) rb_yield(LONG2NUM(get_scanner(self)->tokens[i]));
    return self;
}

static ID id_call;

static VALUE raw_scanner_emit(VALUE self)
{
    scanner_t *s = get_scanner(self);
    if (NIL_P(s->on_token) || !(s->flags & SCANNER_MATCHED)) return Qnil;
    VALUE token = scanner_matched(s);
    return rb_funcallv(s->on_token, id_call, 1, &token);
}

static VALUE raw_scanner_set_on_token(VALUE self, VALUE callable)
{
    rb_check_frozen(self);
    RB_OBJ_WRITE(self, &get_scanner(self)->on_token, callable);
    return callable;
}

static VALUE raw_scanner_reset(VALUE self)
{
    rb_check_frozen(self);
    scanner_t *s = get_scanner(self);
    scanner_reset_plain(s);
    RB_OBJ_WRITE(self, &s->last_match, Qnil);
    return self;
}

static VALUE raw_scanner_terminate(VALUE self)
{
    rb_check_frozen(self);
    scanner_t *s = get_scanner(self);
    scanner_advance(s, scanner_len(s));
    raw_forget_match(self, s);
    return self;
}

static VALUE raw_scanner_save(VALUE self)
{
    rb_check_frozen(self);
    scanner_t *s = get_scanner(self);
    if (s->nsaved == SCANNER_SAVED) rb_raise(rb_eIndexError, "save stack full");
    s->saved[s->nsaved++] = s->pos;
    return INT2NUM(s->nsaved);
}

static VALUE raw_scanner_restore(VALUE self)
{
    rb_check_frozen(self);
    scanner_t *s = get_scanner(self);
    if (!s->nsaved) rb_raise(rb_eIndexError, "nothing saved");
    scanner_seek(s, s->saved[--s->nsaved]);
    return LONG2NUM(s->pos);
}

static VALUE raw_scanner_stats(VALUE self)
{
    scanner_t *s = get_scanner(self);
    return rb_assoc_new(ULL2NUM(s->scans), ULL2NUM(s->hits));
}

static VALUE raw_scanner_inspect(VALUE self)
{
    scanner_t *s;
    TypedData_Get_Struct(self, scanner_t, &raw_scanner_type, s);
    if (NIL_P(s->source)) return rb_sprintf("#<%" PRIsVALUE " (uninitialized)>", rb_class_name(rb_obj_class(self)));
    return scanner_inspect(rb_obj_class(self), s);
}

void scanner_raw_define(VALUE mod)
{
    id_call = rb_intern("call");
    VALUE klass = rb_define_class_under(mod, "RawScanner", rb_cObject);
    rb_define_alloc_func(klass, raw_scanner_alloc);
    rb_define_method(klass, "initialize", raw_scanner_initialize, 2);
    rb_define_method(klass, "initialize_copy", raw_scanner_init_copy, 1);
    rb_define_method(klass, "string", raw_scanner_string, 0);
    rb_define_method(klass, "pos", raw_scanner_pos, 0);
    rb_define_method(klass, "pos=", raw_scanner_set_pos, 1);
    rb_define_method(klass, "eos?", raw_scanner_eos_p, 0);
    rb_define_method(klass, "rest", raw_scanner_rest, 0);
    rb_define_method(klass, "rest_size", raw_scanner_rest_size, 0);
    rb_define_method(klass, "peek", raw_scanner_peek, 1);
    rb_define_method(klass, "getch", raw_scanner_getch, 0);
    rb_define_method(klass, "skip_space", raw_scanner_skip_space, 0);
    rb_define_method(klass, "scan", raw_scanner_scan, 1);
    rb_define_method(klass, "skip", raw_scanner_skip, 1);
    rb_define_method(klass, "check", raw_scanner_check, 1);
    rb_define_method(klass, "match?", raw_scanner_match_p, 1);
    rb_define_method(klass, "scan_until", raw_scanner_scan_until, 1);
    rb_define_method(klass, "matched", raw_scanner_matched, 0);
    rb_define_method(klass, "matched?", raw_scanner_matched_p, 0);
    rb_define_method(klass, "[]", raw_scanner_aref, 1);
    rb_define_method(klass, "unscan", raw_scanner_unscan, 0);
    rb_define_method(klass, "line", raw_scanner_line, 0);
    rb_define_method(klass, "column", raw_scanner_column, 0);
    rb_define_method(klass, "tokens", raw_scanner_tokens, 0);
    rb_define_method(klass, "token_count", raw_scanner_token_count, 0);
    rb_define_method(klass, "each_token", raw_scanner_each_token, 0);
    rb_define_method(klass, "emit", raw_scanner_emit, 0);
    rb_define_method(klass, "on_token=", raw_scanner_set_on_token, 1);
    rb_define_method(klass, "reset", raw_scanner_reset, 0);
    rb_define_method(klass, "terminate", raw_scanner_terminate, 0);
    rb_define_method(klass, "save", raw_scanner_save, 0);
    rb_define_method(klass, "restore", raw_scanner_restore, 0);
    rb_define_method(klass, "stats", raw_scanner_stats, 0);
    rb_define_method(klass, "inspect", raw_scanner_inspect, 0);
}
