/* scanner_cleat.c - CleatBench::Scanner: the Scanner (scanner.h) written
 * with Cleat as a user writes it: the fields declared once (mark,
 * compaction, memsize, allocation and dup derived from them), doors instead
 * of TypedData_Get_Struct, cleat_write_known for stores whose class the
 * method knows, conversions and calls into Ruby that lend the object.
 * scanner_raw.c is the same class with the raw C API. */
#include "cleat.h"
#include "scanner.h"

#include <limits.h>

static void scanner_free(void *data) { ruby_xfree(((scanner_t *)data)->tokens); }

static size_t scanner_memsize(const void *data) { return ((const scanner_t *)data)->capa * sizeof(long); }

/* dup/clone: dst is as allocated (VALUE fields nil, no tokens). */
static void scanner_copy(VALUE self, void *dst, const void *src)
{
    scanner_t *d = dst;
    const scanner_t *s = src;
    scanner_copy_plain(d, s);
    cleat_write_known(self, &d->source, s->source);
    cleat_write_known(self, &d->last_match, s->last_match);
    cleat_write_known(self, &d->on_token, s->on_token);
}

static const cleat_field scanner_fields[] = {
    CLEAT_FIELD(scanner_t, source, &rb_cString),
    CLEAT_FIELD_OR_NIL(scanner_t, last_match, &rb_cMatch),
    CLEAT_FIELD_ANY(scanner_t, on_token),
    CLEAT_FIELDS_END,
};
CLEAT_TYPE(scanner_type, "CleatBench::Scanner", scanner_t, scanner_fields, .free = scanner_free,
           .memsize = scanner_memsize, .copy = scanner_copy);

static void forget_match(VALUE self, scanner_t *s)
{
    s->flags &= ~SCANNER_MATCHED;
    cleat_write_known(self, &s->last_match, Qnil);
}

CLEAT_INIT(scanner_initialize, scanner_type, scanner_t *s, str, on_token)
{
    VALUE source = rb_str_new_frozen(cleat_str_value(CLEAT_DOOR, str));
    cleat_write_known(self, &s->source, source);
    cleat_write_known(self, &s->on_token, on_token); /* a CLEAT_FIELD_ANY: no class to check */
    scanner_reset_plain(s);
    return self;
}

CLEAT_SHARED(scanner_string, scanner_type, scanner_t *s) { return s->source; }
CLEAT_SHARED(scanner_pos, scanner_type, scanner_t *s) { return LONG2NUM(s->pos); }

CLEAT_EXCLUSIVE(scanner_set_pos, scanner_type, scanner_t *s, pos)
{
    long to = cleat_num_to_int64(CLEAT_DOOR, pos), len = scanner_len(s);
    if (to < 0) to += len;
    if (to < 0 || to > len) rb_raise(rb_eRangeError, "position out of range");
    scanner_seek(s, to);
    return pos;
}

CLEAT_SHARED(scanner_eos_p, scanner_type, scanner_t *s) { return SCANNER_BOOL(s->pos >= scanner_len(s)); }

CLEAT_SHARED(scanner_rest, scanner_type, scanner_t *s)
{
    return rb_str_subseq(s->source, s->pos, scanner_len(s) - s->pos);
}

CLEAT_SHARED(scanner_rest_size, scanner_type, scanner_t *s) { return LONG2NUM(scanner_len(s) - s->pos); }

CLEAT_SHARED(scanner_peek, scanner_type, scanner_t *s, n)
{
    long want = cleat_num_to_int64(CLEAT_DOOR, n), rest = scanner_len(s) - s->pos;
    if (want < 0) rb_raise(rb_eArgError, "negative length");
    return rb_str_subseq(s->source, s->pos, want < rest ? want : rest);
}

CLEAT_EXCLUSIVE(scanner_getch, scanner_type, scanner_t *s)
{
    long n = scanner_char_len(s);
    if (!n) {
        forget_match(self, s);
        return Qnil;
    }
    cleat_write_known(self, &s->last_match, Qnil);
    s->prev_pos = s->match_start = s->pos;
    s->match_end = s->pos + n;
    s->flags |= SCANNER_MATCHED;
    scanner_advance(s, s->match_end);
    return scanner_matched(s);
}

CLEAT_EXCLUSIVE(scanner_skip_space_m, scanner_type, scanner_t *s)
{
    long n = scanner_skip_space(s);
    return n ? LONG2NUM(n) : Qnil;
}

/* The scan-like methods (their door checked self, frozen included):
 * records the match and returns its end, or forgets the last match and
 * returns -1. The search runs with the object lent: a trap handler that
 * calls the Scanner meanwhile gets Cleat::BorrowError. */
static long scan_at(cleat_door door, scanner_t *s, VALUE re, bool anchored, bool advance)
{
    long start, at = cleat_reg_search(door, re, s->source, s->pos, false);
    VALUE match;
    s->scans++;
    long end = scanner_match(at, s->pos, anchored, &start, &match);
    if (end < 0) {
        forget_match(door.self, s);
        return -1;
    }
    scanner_record(s, start, end, advance);
    cleat_write_known(door.self, &s->last_match, match);
    return end;
}

CLEAT_EXCLUSIVE(scanner_scan, scanner_type, scanner_t *s, re)
{
    return scan_at(CLEAT_DOOR, s, re, true, true) < 0 ? Qnil : scanner_matched(s);
}

CLEAT_EXCLUSIVE(scanner_skip, scanner_type, scanner_t *s, re)
{
    long before = s->pos, end = scan_at(CLEAT_DOOR, s, re, true, true);
    return end < 0 ? Qnil : LONG2NUM(end - before);
}

CLEAT_EXCLUSIVE(scanner_check, scanner_type, scanner_t *s, re)
{
    return scan_at(CLEAT_DOOR, s, re, true, false) < 0 ? Qnil : scanner_matched(s);
}

CLEAT_EXCLUSIVE(scanner_match_p, scanner_type, scanner_t *s, re)
{
    long end = scan_at(CLEAT_DOOR, s, re, true, false);
    return end < 0 ? Qnil : LONG2NUM(end - s->pos);
}

CLEAT_EXCLUSIVE(scanner_scan_until, scanner_type, scanner_t *s, re)
{
    long before = s->pos, end = scan_at(CLEAT_DOOR, s, re, false, true);
    return end < 0 ? Qnil : rb_str_subseq(s->source, before, end - before);
}

CLEAT_SHARED(scanner_matched_m, scanner_type, scanner_t *s) { return scanner_matched(s); }
CLEAT_SHARED(scanner_matched_p, scanner_type, scanner_t *s) { return SCANNER_BOOL(s->flags & SCANNER_MATCHED); }

CLEAT_SHARED(scanner_aref, scanner_type, scanner_t *s, n)
{
    int64_t nth = cleat_num_to_int64(CLEAT_DOOR, n);
    if (nth < INT_MIN || nth > INT_MAX) rb_raise(rb_eRangeError, "capture index out of range");
    if (!(s->flags & SCANNER_MATCHED)) return Qnil;
    if (NIL_P(s->last_match)) return nth == 0 ? scanner_matched(s) : Qnil;
    return rb_reg_nth_match((int)nth, s->last_match);
}

CLEAT_EXCLUSIVE(scanner_unscan, scanner_type, scanner_t *s)
{
    if (!(s->flags & SCANNER_MATCHED)) rb_raise(rb_eRuntimeError, "nothing to unscan");
    scanner_seek(s, s->prev_pos);
    forget_match(self, s);
    return self;
}

CLEAT_SHARED(scanner_line, scanner_type, scanner_t *s) { return LONG2NUM(s->line); }
CLEAT_SHARED(scanner_column, scanner_type, scanner_t *s) { return LONG2NUM(s->pos - s->line_start + 1); }

CLEAT_SHARED(scanner_tokens, scanner_type, scanner_t *s)
{
    VALUE ary = rb_ary_new_capa((long)s->ntokens);
    for (size_t i = 0; i < s->ntokens; i++) rb_ary_push(ary, LONG2NUM(s->tokens[i]));
    return ary;
}

CLEAT_SHARED(scanner_token_count, scanner_type, scanner_t *s) { return SIZET2NUM(s->ntokens); }

/* One loan around all the yields (CLEAT_YIELD_EACH): the object is lent,
 * shared, while the blocks run, so the tokens cannot change. */
static VALUE token_at(const void *data, size_t i) { return LONG2NUM(((const scanner_t *)data)->tokens[i]); }

CLEAT_SHARED(scanner_each_token, scanner_type, scanner_t *s)
{
    CLEAT_YIELD_EACH(s->ntokens, token_at, s);
    return self;
}

static ID id_call;

CLEAT_SHARED(scanner_emit, scanner_type, scanner_t *s)
{
    if (NIL_P(s->on_token) || !(s->flags & SCANNER_MATCHED)) return Qnil;
    VALUE token = scanner_matched(s);
    return CLEAT_CALL(s->on_token, id_call, 1, &token);
}

CLEAT_EXCLUSIVE(scanner_set_on_token, scanner_type, scanner_t *s, callable)
{
    cleat_write_known(self, &s->on_token, callable); /* a CLEAT_FIELD_ANY: no class to check */
    return callable;
}

CLEAT_EXCLUSIVE(scanner_reset, scanner_type, scanner_t *s)
{
    scanner_reset_plain(s);
    cleat_write_known(self, &s->last_match, Qnil);
    return self;
}

CLEAT_EXCLUSIVE(scanner_terminate, scanner_type, scanner_t *s)
{
    scanner_advance(s, scanner_len(s));
    forget_match(self, s);
    return self;
}

CLEAT_EXCLUSIVE(scanner_save, scanner_type, scanner_t *s)
{
    if (s->nsaved == SCANNER_SAVED) rb_raise(rb_eIndexError, "save stack full");
    s->saved[s->nsaved++] = s->pos;
    return INT2NUM(s->nsaved);
}

CLEAT_EXCLUSIVE(scanner_restore, scanner_type, scanner_t *s)
{
    if (!s->nsaved) rb_raise(rb_eIndexError, "nothing saved");
    scanner_seek(s, s->saved[--s->nsaved]);
    return LONG2NUM(s->pos);
}

CLEAT_SHARED(scanner_stats, scanner_type, scanner_t *s)
{
    return rb_assoc_new(ULL2NUM(s->scans), ULL2NUM(s->hits));
}

CLEAT_FUNCTION(scanner_inspect_m)
{
    if (!cleat_initialized_p(self, &scanner_type))
        return rb_sprintf("#<%" PRIsVALUE " (uninitialized)>", rb_class_name(rb_obj_class(self)));
    return scanner_inspect(rb_obj_class(self), cleat_unwrap(self, &scanner_type));
}

void scanner_cleat_define(VALUE mod)
{
    (void)mod; /* the class path says where: CleatBench::Scanner */
    id_call = rb_intern("call");
    VALUE klass = cleat_type_define_class(&scanner_type, rb_cObject);
    CLEAT_DEFINE_METHOD(klass, "initialize", scanner_initialize);
    CLEAT_DEFINE_METHOD(klass, "string", scanner_string);
    CLEAT_DEFINE_METHOD(klass, "pos", scanner_pos);
    CLEAT_DEFINE_METHOD(klass, "pos=", scanner_set_pos);
    CLEAT_DEFINE_METHOD(klass, "eos?", scanner_eos_p);
    CLEAT_DEFINE_METHOD(klass, "rest", scanner_rest);
    CLEAT_DEFINE_METHOD(klass, "rest_size", scanner_rest_size);
    CLEAT_DEFINE_METHOD(klass, "peek", scanner_peek);
    CLEAT_DEFINE_METHOD(klass, "getch", scanner_getch);
    CLEAT_DEFINE_METHOD(klass, "skip_space", scanner_skip_space_m);
    CLEAT_DEFINE_METHOD(klass, "scan", scanner_scan);
    CLEAT_DEFINE_METHOD(klass, "skip", scanner_skip);
    CLEAT_DEFINE_METHOD(klass, "check", scanner_check);
    CLEAT_DEFINE_METHOD(klass, "match?", scanner_match_p);
    CLEAT_DEFINE_METHOD(klass, "scan_until", scanner_scan_until);
    CLEAT_DEFINE_METHOD(klass, "matched", scanner_matched_m);
    CLEAT_DEFINE_METHOD(klass, "matched?", scanner_matched_p);
    CLEAT_DEFINE_METHOD(klass, "[]", scanner_aref);
    CLEAT_DEFINE_METHOD(klass, "unscan", scanner_unscan);
    CLEAT_DEFINE_METHOD(klass, "line", scanner_line);
    CLEAT_DEFINE_METHOD(klass, "column", scanner_column);
    CLEAT_DEFINE_METHOD(klass, "tokens", scanner_tokens);
    CLEAT_DEFINE_METHOD(klass, "token_count", scanner_token_count);
    CLEAT_DEFINE_METHOD(klass, "each_token", scanner_each_token);
    CLEAT_DEFINE_METHOD(klass, "emit", scanner_emit);
    CLEAT_DEFINE_METHOD(klass, "on_token=", scanner_set_on_token);
    CLEAT_DEFINE_METHOD(klass, "reset", scanner_reset);
    CLEAT_DEFINE_METHOD(klass, "terminate", scanner_terminate);
    CLEAT_DEFINE_METHOD(klass, "save", scanner_save);
    CLEAT_DEFINE_METHOD(klass, "restore", scanner_restore);
    CLEAT_DEFINE_METHOD(klass, "stats", scanner_stats);
    CLEAT_DEFINE_METHOD(klass, "inspect", scanner_inspect_m);
}
