/* memory.c - the chapter's wasmtime Memory and MemorySlice: Ruby objects
 * pointing into native memory that grows.
 *
 * Memory owns a cleat_region; growing it always moves the bytes to a new
 * allocation. A MemorySlice holds a cleat_view: every method checks the
 * view first, so a slice taken before a grow raises
 * Cleat::StaleReferenceError instead of reading freed memory (the chapter's
 * MemoryGuard compared sizes; a generation also catches moves that keep the
 * size). */
#include "examples.h"

#define PAGE_SIZE ((size_t)65536)
#define MAX_PAGES ((size_t)65536) /* 4 GiB, the wasm32 limit */

typedef struct memory {
    cleat_region region;
    size_t pages;
    size_t maximum; /* pages; MAX_PAGES when none was given */
} memory_t;

static const cleat_field memory_fields[] = {
    CLEAT_FIELD_REGION(memory_t, region),
    CLEAT_FIELDS_END,
};

/* Native memory of whole 64 KiB pages that #grow moves. A Memory is one
 * piece of memory: dup and clone raise TypeError. */
CLEAT_TYPE(memory_type, "CleatExamples::Memory", memory_t, memory_fields);

typedef struct memory_slice {
    cleat_view view;
} memory_slice_t;

static const cleat_field memory_slice_fields[] = {
    CLEAT_FIELD_VIEW(memory_slice_t, view, &memory_type),
    CLEAT_FIELDS_END,
};

/* A view of part of a Memory (Memory#slice). After the Memory grows, every
 * method raises Cleat::StaleReferenceError instead of reading freed memory. */
CLEAT_TYPE(memory_slice_type, "CleatExamples::MemorySlice", memory_slice_t, memory_slice_fields,
            .flags = CLEAT_COPYABLE);

static size_t page_count(VALUE pages, const char *what)
{
    size_t n = cleat_to_size(pages);
    if (n > MAX_PAGES) rb_raise(rb_eRangeError, "%s %zu exceeds the limit of %zu pages", what, n, MAX_PAGES);
    return n;
}

/*
 * call-seq:
 *   Memory.new(initial_pages, maximum_pages = nil) -> memory
 *
 * Zeroed memory of initial_pages pages of Memory::PAGE_SIZE bytes.
 *
 *   CleatExamples::Memory.new(1, 4).data_size #=> 65536
 */
CLEAT_INIT_ARGV(memory_initialize, memory_type, memory_t *m)
{
    VALUE initial, maximum;
    rb_scan_args(argc, argv, "11", &initial, &maximum);
    size_t pages = page_count(initial, "initial pages");
    m->maximum = NIL_P(maximum) ? MAX_PAGES : page_count(maximum, "maximum pages");
    if (pages > m->maximum)
        rb_raise(rb_eRangeError, "initial pages %zu exceed the maximum of %zu", pages, m->maximum);
    size_t bytes;
    if (__builtin_mul_overflow(pages, PAGE_SIZE, &bytes))
        rb_raise(rb_eRangeError, "%zu pages do not fit in memory", pages);
    cleat_region_resize(self, &m->region, bytes);
    m->pages = pages;
    return self;
}

/*
 * call-seq:
 *   memory.size -> pages
 *
 * The number of 64 KiB pages.
 */
CLEAT_SHARED(memory_size, memory_type, memory_t *m) { return SIZET2NUM(m->pages); }

/*
 * call-seq:
 *   memory.data_size -> bytes
 *
 * The size in bytes: size * PAGE_SIZE.
 */
CLEAT_SHARED(memory_data_size, memory_type, memory_t *m) { return SIZET2NUM(m->region.size); }

/*
 * call-seq:
 *   memory.grow(delta) -> previous number of pages
 *
 * Adds delta zeroed pages, moving the data to a new allocation: every
 * MemorySlice and IO::Buffer taken before goes stale. RangeError past the
 * maximum (nothing changes).
 */
CLEAT_EXCLUSIVE(memory_grow, memory_type, memory_t *m, delta)
{
    size_t extra = cleat_to_size(delta), previous = m->pages, pages, bytes;
    /* Every sum and product checked: (pages + extra) * PAGE_SIZE wraps to 0
     * for extra = 2**48 - pages on 64 bits. */
    if (__builtin_add_overflow(previous, extra, &pages) || pages > m->maximum ||
        __builtin_mul_overflow(pages, PAGE_SIZE, &bytes))
        rb_raise(rb_eRangeError, "cannot grow memory by %zu pages: it has %zu of at most %zu", extra,
                 previous, m->maximum);
    if (extra) {
        cleat_region_resize(self, &m->region, bytes); /* runs no Ruby code: nothing re-enters */
        m->pages = pages; /* set, not added: always what the region holds */
    }
    return SIZET2NUM(previous);
}

/* An Integer's decimal digits without calling Integer#to_s (which Ruby code
 * may redefine: formatting it with PRIsVALUE inside a door would run that
 * code while the object is not lent). */
static VALUE integer_digits(VALUE integer)
{
    if (RB_FIXNUM_P(integer)) return rb_fix2str(integer, 10);
    /* Like cleat_to_size's message: no megabyte of digits for a huge offset. */
    if (rb_absint_size(integer, NULL) > 32) return rb_str_new_cstr("(too big to print)");
    return rb_big2str(integer, 10);
}

/* Sets *start to offset when [offset, offset + length) lies inside the
 * memory; else raises a Trap MEMORY_OUT_OF_BOUNDS naming the offset and
 * length given (length_given: the Integer, for a length no size_t holds,
 * or 0). */
static void check_range(const memory_t *m, VALUE offset, size_t length, VALUE length_given, size_t *start)
{
    if (cleat_try_to_size(offset, start) && cleat_region_contains(&m->region, *start, length)) return;
    VALUE digits = length_given ? integer_digits(length_given) : rb_sprintf("%zu", length);
    cleat_examples_raise_trap(TRAP_MEMORY_OUT_OF_BOUNDS,
                               "out of bounds memory access: offset %" PRIsVALUE ", length %" PRIsVALUE ", "
                               "memory size %zu",
                               integer_digits(offset), digits, m->region.size);
}

/*
 * call-seq:
 *   memory.read(offset, length) -> binary string
 *
 * A copy of the bytes. Out of bounds (negative and huge values included)
 * raises CleatExamples::Trap with code :MEMORY_OUT_OF_BOUNDS.
 */
CLEAT_SHARED(memory_read, memory_type, memory_t *m, offset, length)
{
    size_t len = 0, start;
    bool fits = cleat_try_to_size(length, &len);
    if (!fits) len = SIZE_MAX; /* out of bounds below */
    check_range(m, offset, len, fits ? 0 : length, &start);
    return cleat_str_binary(m->region.base + start, len);
}

/*
 * call-seq:
 *   memory.write(offset, string) -> bytes written
 *
 * Copies the string's bytes in. Out of bounds raises a Trap and writes
 * nothing; a non-String raises TypeError.
 */
CLEAT_EXCLUSIVE(memory_write, memory_type, memory_t *m, offset, string)
{
    cleat_check_kind(string, rb_cString);
    size_t len = (size_t)RSTRING_LEN(string), start;
    check_range(m, offset, len, 0, &start);
    memcpy(m->region.base + start, RSTRING_PTR(string), len);
    RB_GC_GUARD(string);
    return SIZET2NUM(len);
}

/*
 * call-seq:
 *   memory.slice(offset, size) -> memory_slice
 *
 * A view of the bytes that keeps the memory alive. RangeError "memory slice
 * out of bounds" when it does not fit (negative, huge and overflowing values
 * included).
 */
CLEAT_SHARED(memory_slice, memory_type, memory_t *m, offset, size)
{
    size_t start, length;
    if (!cleat_try_to_size(offset, &start) || !cleat_try_to_size(size, &length) ||
        !cleat_region_contains(&m->region, start, length))
        rb_raise(rb_eRangeError, "memory slice out of bounds");
    VALUE slice;
    memory_slice_t *s = cleat_type_new(&memory_slice_type, &slice);
    cleat_view_init(slice, &s->view, self, &m->region, start, length);
    cleat_type_ready(slice);
    return slice;
}

typedef struct checksum_job {
    const unsigned char *bytes;
    size_t length;
    size_t done; /* bytes hashed so far: a cancelled run resumes here */
    uint64_t hash;
} checksum_job;

/* FNV-1a, 64 bits, without the GVL. Resumable: the position and the hash so
 * far live in the job, and every run hashes a chunk before it polls for
 * cancellation, so it finishes however often it is interrupted. */
static bool fnv1a(void *arg, const cleat_cancel *cancel)
{
    checksum_job *job = arg;
    uint64_t hash = job->hash;
    for (size_t i = job->done; i < job->length; i++) {
        if (i > job->done && (i & 0xFFFF) == 0 && cleat_cancelled(cancel)) {
            job->done = i;
            job->hash = hash;
            return false;
        }
        hash = (hash ^ job->bytes[i]) * UINT64_C(0x100000001b3);
    }
    job->done = job->length;
    job->hash = hash;
    return true;
}

/*
 * call-seq:
 *   memory.checksum -> integer
 *
 * The 64-bit FNV-1a hash of the whole memory, computed without the GVL while
 * the memory is borrowed shared: another thread's grow raises
 * Cleat::BorrowError meanwhile, reads proceed.
 */
CLEAT_SHARED(memory_checksum, memory_type, memory_t *m)
{
    checksum_job job = {m->region.base, m->region.size, 0, UINT64_C(0xcbf29ce484222325)};
    CLEAT_WITHOUT_GVL(fnv1a, &job);
    return ULL2NUM(job.hash);
}

/* ---- MemorySlice ---- */

/*
 * call-seq:
 *   slice.offset -> integer
 *
 * Where the slice starts in its memory, in bytes;
 * Cleat::StaleReferenceError once the memory has grown.
 */
CLEAT_SHARED(slice_offset, memory_slice_type, memory_slice_t *s)
{
    cleat_view_bytes(&s->view); /* stale slices raise from every method */
    return SIZET2NUM(s->view.offset);
}

/*
 * call-seq:
 *   slice.size -> integer
 *
 * The slice's length in bytes; Cleat::StaleReferenceError once the memory
 * has grown.
 */
CLEAT_SHARED(slice_size, memory_slice_type, memory_slice_t *s)
{
    cleat_view_bytes(&s->view);
    return SIZET2NUM(s->view.length);
}

/*
 * call-seq:
 *   slice.to_str -> binary string
 *
 * The bytes, copied once into a new String (a Ruby String owns its bytes:
 * there is no zero-copy String; see #to_buffer).
 */
CLEAT_SHARED(slice_to_str, memory_slice_type, memory_slice_t *s)
{
    return cleat_str_binary(cleat_view_bytes(&s->view), s->view.length);
}

/*
 * call-seq:
 *   slice.to_utf8_str -> string
 *
 * The bytes as a UTF-8 String, validated in one pass. EncodingError "invalid
 * UTF-8 at byte offset N" otherwise.
 */
CLEAT_SHARED(slice_to_utf8_str, memory_slice_type, memory_slice_t *s)
{
    return cleat_str_utf8(cleat_view_bytes(&s->view), s->view.length);
}

/*
 * call-seq:
 *   slice.to_buffer -> IO::Buffer
 *
 * A read-only IO::Buffer over the memory itself, no copy. When the memory
 * grows the buffer is freed: it becomes a null buffer, and reading any of
 * its former bytes raises instead of reading freed memory. On a Ruby whose
 * IO::Buffer#slice drops read-only (3.1) it is a read-only copy instead, so
 * that no slice of it can write to the memory.
 */
CLEAT_SHARED(slice_to_buffer, memory_slice_type, memory_slice_t *s) { return cleat_view_buffer(&s->view); }

void cleat_examples_init_memory(VALUE mod)
{
    (void)mod;
    VALUE memory = cleat_type_define_class(&memory_type, rb_cObject);
    rb_define_const(memory, "PAGE_SIZE", SIZET2NUM(PAGE_SIZE));
    CLEAT_DEFINE_METHOD(memory, "initialize", memory_initialize);
    CLEAT_DEFINE_METHOD(memory, "size", memory_size);
    CLEAT_DEFINE_METHOD(memory, "data_size", memory_data_size);
    CLEAT_DEFINE_METHOD(memory, "grow", memory_grow);
    CLEAT_DEFINE_METHOD(memory, "read", memory_read);
    CLEAT_DEFINE_METHOD(memory, "write", memory_write);
    CLEAT_DEFINE_METHOD(memory, "slice", memory_slice);
    CLEAT_DEFINE_METHOD(memory, "checksum", memory_checksum);

    VALUE slice = cleat_type_define_class(&memory_slice_type, rb_cObject);
    rb_undef_method(rb_singleton_class(slice), "new"); /* made by Memory#slice only */
    CLEAT_DEFINE_METHOD(slice, "offset", slice_offset);
    CLEAT_DEFINE_METHOD(slice, "size", slice_size);
    CLEAT_DEFINE_METHOD(slice, "to_str", slice_to_str);
    CLEAT_DEFINE_METHOD(slice, "to_utf8_str", slice_to_utf8_str);
    CLEAT_DEFINE_METHOD(slice, "to_buffer", slice_to_buffer);
    /* Whether #to_buffer lends the memory itself (false: read-only copies,
     * on a Ruby whose IO::Buffer#slice drops read-only). */
    rb_define_const(slice, "ZERO_COPY_BUFFERS", cleat_view_buffer_zero_copy() ? Qtrue : Qfalse);
}
