/* scanner.h - the struct and the plain C both Scanners share (a tokenizer
 * over a String, of the shape real extensions have: a few VALUE fields
 * among many plain members, and native memory it owns). scanner_raw.c
 * wraps it with the raw C API, scanner_cleat.c with Cleat; what is here
 * touches no VALUE field, so the two differ only in what the benchmark
 * compares: type checks, unwrapping, stores, marking, conversions, calls
 * into Ruby. */
#ifndef CLEAT_BENCH_SCANNER_H
#define CLEAT_BENCH_SCANNER_H 1

#include <ruby.h>
#include <ruby/encoding.h>
#include <ruby/re.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SCANNER_SAVED 4     /* depth of the save/restore stack */
#define SCANNER_MATCHED 1u  /* flags: the last scan-like call matched */
#define SCANNER_BOOL(x) ((x) ? Qtrue : Qfalse) /* RBOOL, which Ruby 3.1 lacks */

typedef struct scanner {
    VALUE source;     /* a frozen String (our own copy): offsets stay valid */
    VALUE last_match; /* the last regexp match's MatchData, or nil */
    VALUE on_token;   /* what #emit calls, or nil */
    long pos;         /* byte offset of the scan pointer, 0..length */
    long prev_pos;    /* pos before the last successful match (#unscan) */
    long match_start; /* the last match, as byte offsets */
    long match_end;
    long line;        /* 1-based line of pos */
    long line_start;  /* byte offset where that line starts */
    uint64_t scans;   /* scan-like calls */
    uint64_t hits;    /* of which matched */
    uint32_t flags;   /* SCANNER_MATCHED */
    int nsaved;
    long saved[SCANNER_SAVED]; /* positions #save pushed */
    long *tokens;              /* start offsets of the tokens matched, ruby_xmalloc'd */
    size_t ntokens, capa;
} scanner_t;

static inline long scanner_len(const scanner_t *s) { return RSTRING_LEN(s->source); }
static inline const char *scanner_ptr(const scanner_t *s) { return RSTRING_PTR(s->source); }

/* Moves pos forward to `to` (<= length), counting the newlines passed. */
static inline void scanner_advance(scanner_t *s, long to)
{
    const char *p = scanner_ptr(s);
    for (const char *nl = memchr(p + s->pos, '\n', (size_t)(to - s->pos)); nl;
         nl = memchr(nl + 1, '\n', (size_t)(to - (nl + 1 - p)))) {
        s->line++;
        s->line_start = nl + 1 - p;
    }
    s->pos = to;
}

/* Moves pos anywhere in 0..length, recounting lines from the start when it
 * goes back. */
static inline void scanner_seek(scanner_t *s, long to)
{
    if (to < s->pos) {
        s->pos = 0;
        s->line = 1;
        s->line_start = 0;
    }
    scanner_advance(s, to);
}

/* Everything #reset resets but the VALUE fields (the caller stores nil). */
static inline void scanner_reset_plain(scanner_t *s)
{
    s->pos = s->prev_pos = s->match_start = s->match_end = 0;
    s->line = 1;
    s->line_start = 0;
    s->scans = s->hits = 0;
    s->flags = 0;
    s->nsaved = 0;
    s->ntokens = 0;
}

/* Records a token starting at `start`. Raises NoMemoryError, ArgumentError
 * when the count would overflow. */
static inline void scanner_push_token(scanner_t *s, long start)
{
    if (s->ntokens == s->capa) {
        size_t capa;
        if (__builtin_mul_overflow(s->capa ? s->capa : 8, (size_t)2, &capa))
            rb_raise(rb_eArgError, "too many tokens");
        s->tokens = ruby_xrealloc2(s->tokens, capa, sizeof(long));
        s->capa = capa;
    }
    s->tokens[s->ntokens++] = start;
}

/* dst's plain members from src, with a copy of src's tokens (dst's own, if
 * any, freed). Raises NoMemoryError before changing anything. */
static inline void scanner_copy_plain(scanner_t *dst, const scanner_t *src)
{
    long *tokens = src->ntokens ? ruby_xmalloc2(src->ntokens, sizeof(long)) : NULL;
    if (tokens) memcpy(tokens, src->tokens, src->ntokens * sizeof(long));
    ruby_xfree(dst->tokens);
    dst->pos = src->pos;
    dst->prev_pos = src->prev_pos;
    dst->match_start = src->match_start;
    dst->match_end = src->match_end;
    dst->line = src->line;
    dst->line_start = src->line_start;
    dst->scans = src->scans;
    dst->hits = src->hits;
    dst->flags = src->flags;
    dst->nsaved = src->nsaved;
    memcpy(dst->saved, src->saved, sizeof(dst->saved));
    dst->tokens = tokens;
    dst->ntokens = dst->capa = src->ntokens;
}

/* The result of a search for re from byte offset pos that found a match at
 * `at` (-1: none); anchored, the match must start at pos. Returns the
 * match's end and sets *start and *match (the MatchData, also $~), or
 * returns -1. The search itself is each twin's: rb_reg_search runs Ruby
 * code (trap handlers, finalizers) at Onigmo's interrupt checks, so the
 * Cleat twin searches with the object lent (cleat_reg_search); the raw
 * twin calls rb_reg_search as hand-written extensions do, and a trap
 * handler that calls it during a search gets in. */
static inline long scanner_match(long at, long pos, bool anchored, long *start, VALUE *match)
{
    if (at < 0 || (anchored && at != pos)) return -1;
    VALUE m = rb_backref_get();
    *start = at;
    *match = m;
    return RMATCH_REGS(m)->end[0];
}

/* Records a match of [start, end) in the plain members, and with advance
 * a token at start, pos moving to end. The caller stores the MatchData (or
 * nil). Raises NoMemoryError (the token) before moving. */
static inline void scanner_record(scanner_t *s, long start, long end, bool advance)
{
    if (advance) scanner_push_token(s, start);
    s->hits++;
    s->flags |= SCANNER_MATCHED;
    s->match_start = start;
    s->match_end = end;
    if (advance) {
        s->prev_pos = s->pos;
        scanner_advance(s, end);
    }
}

/* A new String of the last match's bytes, or nil when there is none. */
static inline VALUE scanner_matched(const scanner_t *s)
{
    if (!(s->flags & SCANNER_MATCHED)) return Qnil;
    return rb_str_subseq(s->source, s->match_start, s->match_end - s->match_start);
}

/* Bytes of the character at pos (at least 1), 0 at the end. */
static inline long scanner_char_len(const scanner_t *s)
{
    const char *p = scanner_ptr(s), *e = p + scanner_len(s);
    if (s->pos >= scanner_len(s)) return 0;
    int n = rb_enc_mbclen(p + s->pos, e, rb_enc_get(s->source));
    return n > 0 ? n : 1;
}

/* Spaces, tabs and line ends skipped from pos (pos moves past them). */
static inline long scanner_skip_space(scanner_t *s)
{
    const char *p = scanner_ptr(s);
    long i = s->pos, len = scanner_len(s);
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')) i++;
    long skipped = i - s->pos;
    scanner_advance(s, i);
    return skipped;
}

/* #inspect's text: "#<Class pos/length line N "next bytes...">". Runs no
 * Ruby code (rb_str_inspect is called directly, not dispatched). */
static inline VALUE scanner_inspect(VALUE klass, const scanner_t *s)
{
    long rest = scanner_len(s) - s->pos;
    VALUE next = rb_str_inspect(rb_str_subseq(s->source, s->pos, rest < 8 ? rest : 8));
    return rb_sprintf("#<%" PRIsVALUE " %ld/%ld line %ld %" PRIsVALUE "%s>", rb_class_name(klass), s->pos,
                      scanner_len(s), s->line, next, rest > 8 ? "..." : "");
}

/* Defines CleatBench::RawScanner (scanner_raw.c) and CleatBench::Scanner
 * (scanner_cleat.c) under mod. */
void scanner_raw_define(VALUE mod);
void scanner_cleat_define(VALUE mod);

#endif /* CLEAT_BENCH_SCANNER_H */
