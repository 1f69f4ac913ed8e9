/* utf8.c - UTF-8 validation fast enough to do on every string.
 *
 * Three implementations, chosen once when the extension loads: AVX2 and SSSE3 versions of
 * the table-lookup algorithm of Keiser and Lemire ("Validating UTF-8 in less
 * than one instruction per byte", 2021), and portable C that skips ASCII a
 * word at a time. The vector code only answers "is this block valid"; the
 * first error's exact offset always comes from the scalar validator, which
 * is the reference the tests compare everything against. */
#include "internal.h"

#include <string.h>

/* ---- scalar: the reference -------------------------------------------------- */

static inline bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Length of the valid sequence at s[0..n), or 0 when it is not valid
 * (RFC 3629 / Unicode table 3-7). */
static size_t sequence_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0) return n >= 2 && is_continuation(s[1]) ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || !is_continuation(s[1]) || !is_continuation(s[2])) return 0;
        if (c == 0xE0 && s[1] < 0xA0) return 0; /* overlong */
        if (c == 0xED && s[1] > 0x9F) return 0; /* surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || !is_continuation(s[1]) || !is_continuation(s[2]) || !is_continuation(s[3])) return 0;
        if (c == 0xF0 && s[1] < 0x90) return 0; /* overlong */
        if (c == 0xF4 && s[1] > 0x8F) return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Validates s[from, len); returns the offset of the first invalid sequence,
 * or len. *ascii is cleared when a multibyte character is seen. */
static size_t scalar_validate(const unsigned char *s, size_t from, size_t len, bool *ascii)
{
    size_t i = from;
    while (i < len) {
        /* ASCII a word at a time */
        while (len - i >= 8) {
            uint64_t word;
            memcpy(&word, s + i, 8);
            if (word & UINT64_C(0x8080808080808080)) break;
            i += 8;
        }
        if (i >= len) break;
        size_t n = sequence_length(s + i, len - i);
        if (!n) return i;
        if (n > 1) *ascii = false;
        i += n;
    }
    return len;
}

/* The start of the character that contains s[p - 1]: where scalar
 * validation may resume after vector code vouched for s[0, p) except, at
 * most, an unfinished character at its end. */
static size_t character_start_before(const unsigned char *s, size_t p)
{
    size_t q = p;
    for (int steps = 0; q > 0 && steps < 4; steps++) {
        q--;
        if (!is_continuation(s[q])) break;
    }
    return q;
}

/* ---- vector code ------------------------------------------------------------- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CLEAT_UTF8_X86 1
#include <cpuid.h>
#include <immintrin.h>

/* Error classes of two-byte windows (Keiser & Lemire, "lookup4"); each
 * lookup yields the classes its nibble allows, and an error survives only
 * where all three agree. */
#define TOO_SHORT (1 << 0)
#define TOO_LONG (1 << 1)
#define OVERLONG_3 (1 << 2)
#define TOO_LARGE (1 << 3)
#define SURROGATE (1 << 4)
#define OVERLONG_2 (1 << 5)
#define TOO_LARGE_1000 (1 << 6)
#define OVERLONG_4 (1 << 6)
#define TWO_CONTS (1 << 7)
#define CARRY (TOO_SHORT | TOO_LONG | TWO_CONTS)

#define BYTE_1_HIGH                                                                              \
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TWO_CONTS, \
        TWO_CONTS, TWO_CONTS, TWO_CONTS, TOO_SHORT | OVERLONG_2, TOO_SHORT,                      \
        TOO_SHORT | OVERLONG_3 | SURROGATE, TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4
#define BYTE_1_LOW                                                                                   \
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4, CARRY | OVERLONG_2, CARRY, CARRY, CARRY | TOO_LARGE, \
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,                      \
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,                      \
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,                      \
        CARRY | TOO_LARGE | TOO_LARGE_1000, CARRY | TOO_LARGE | TOO_LARGE_1000,                      \
        CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE, CARRY | TOO_LARGE | TOO_LARGE_1000,          \
        CARRY | TOO_LARGE | TOO_LARGE_1000
#define BYTE_2_HIGH                                                                             \
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,     \
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,           \
        TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,                             \
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,                              \
        TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE, TOO_SHORT, TOO_SHORT, TOO_SHORT, \
        TOO_SHORT
static const uint8_t byte_1_high[16] = {BYTE_1_HIGH};
static const uint8_t byte_1_low[16] = {BYTE_1_LOW};
static const uint8_t byte_2_high[16] = {BYTE_2_HIGH};
/* The last three bytes of a block may start characters the next block ends:
 * a byte above its limit here leaves a character unfinished. */
static const uint8_t incomplete_max[32] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 0xF0 - 1, 0xE0 - 1, 0xC0 - 1};

/* -- AVX2: 32 bytes a step -- */

__attribute__((target("avx2"))) static inline __m256i avx2_prev(__m256i input, __m256i prev, int n)
{
    /* input shifted right by n bytes across the lane boundary, the gap
     * filled from the end of the previous block */
    __m256i joined = _mm256_permute2x128_si256(prev, input, 0x21);
    switch (n) {
    case 1: return _mm256_alignr_epi8(input, joined, 15);
    case 2: return _mm256_alignr_epi8(input, joined, 14);
    default: return _mm256_alignr_epi8(input, joined, 13);
    }
}

__attribute__((target("avx2"))) static inline __m256i avx2_high_nibbles(__m256i v)
{
    return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(0x0F));
}

__attribute__((target("avx2"))) static inline __m256i avx2_block_errors(__m256i input, __m256i prev_input)
{
    const __m256i byte_1_high_table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)byte_1_high));
    const __m256i byte_1_low_table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)byte_1_low));
    const __m256i byte_2_high_table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)byte_2_high));
    __m256i prev1 = avx2_prev(input, prev_input, 1);
    __m256i special =
        _mm256_and_si256(_mm256_and_si256(_mm256_shuffle_epi8(byte_1_high_table, avx2_high_nibbles(prev1)),
                                          _mm256_shuffle_epi8(byte_1_low_table,
                                                              _mm256_and_si256(prev1, _mm256_set1_epi8(0x0F)))),
                         _mm256_shuffle_epi8(byte_2_high_table, avx2_high_nibbles(input)));
    /* third and fourth bytes must continue a 3- or 4-byte lead */
    __m256i third = _mm256_subs_epu8(avx2_prev(input, prev_input, 2), _mm256_set1_epi8((char)(0xE0 - 0x80)));
    __m256i fourth = _mm256_subs_epu8(avx2_prev(input, prev_input, 3), _mm256_set1_epi8((char)(0xF0 - 0x80)));
    __m256i must_continue = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(must_continue, special);
}

/* Returns p, a multiple of 32: s[0, p) is valid except perhaps an unfinished
 * character at its end, and p is the first block with an error or the start
 * of the tail shorter than 64 bytes. */
__attribute__((target("avx2"))) static size_t avx2_valid_blocks(const unsigned char *s, size_t len, bool *ascii)
{
    const __m256i limits = _mm256_loadu_si256((const __m256i *)incomplete_max);
    __m256i prev_input = _mm256_setzero_si256(), prev_incomplete = _mm256_setzero_si256();
    size_t i = 0;
    while (len - i >= 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(s + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(s + i + 32));
        __m256i error;
        if (!_mm256_movemask_epi8(_mm256_or_si256(a, b))) {
            error = prev_incomplete; /* a character left unfinished before ASCII */
            prev_incomplete = _mm256_setzero_si256();
        } else {
            *ascii = false;
            /* a character split across blocks is checked by the lookups
             * themselves: prev_incomplete only matters before ASCII */
            error = _mm256_or_si256(avx2_block_errors(a, prev_input), avx2_block_errors(b, a));
            prev_incomplete = _mm256_subs_epu8(b, limits);
        }
        if (!_mm256_testz_si256(error, error)) return i;
        prev_input = b;
        i += 64;
    }
    return i;
}

/* -- SSSE3: 16 bytes a step -- */

__attribute__((target("ssse3"))) static inline __m128i sse_prev(__m128i input, __m128i prev, int n)
{
    switch (n) {
    case 1: return _mm_alignr_epi8(input, prev, 15);
    case 2: return _mm_alignr_epi8(input, prev, 14);
    default: return _mm_alignr_epi8(input, prev, 13);
    }
}

__attribute__((target("ssse3"))) static inline __m128i sse_high_nibbles(__m128i v)
{
    return _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0F));
}

__attribute__((target("ssse3"))) static inline __m128i sse_block_errors(__m128i input, __m128i prev_input)
{
    const __m128i byte_1_high_table = _mm_loadu_si128((const __m128i *)byte_1_high);
    const __m128i byte_1_low_table = _mm_loadu_si128((const __m128i *)byte_1_low);
    const __m128i byte_2_high_table = _mm_loadu_si128((const __m128i *)byte_2_high);
    __m128i prev1 = sse_prev(input, prev_input, 1);
    __m128i special = _mm_and_si128(
        _mm_and_si128(_mm_shuffle_epi8(byte_1_high_table, sse_high_nibbles(prev1)),
                      _mm_shuffle_epi8(byte_1_low_table, _mm_and_si128(prev1, _mm_set1_epi8(0x0F)))),
        _mm_shuffle_epi8(byte_2_high_table, sse_high_nibbles(input)));
    __m128i third = _mm_subs_epu8(sse_prev(input, prev_input, 2), _mm_set1_epi8((char)(0xE0 - 0x80)));
    __m128i fourth = _mm_subs_epu8(sse_prev(input, prev_input, 3), _mm_set1_epi8((char)(0xF0 - 0x80)));
    __m128i must_continue = _mm_and_si128(_mm_or_si128(third, fourth), _mm_set1_epi8((char)0x80));
    return _mm_xor_si128(must_continue, special);
}

__attribute__((target("ssse3"))) static size_t sse_valid_blocks(const unsigned char *s, size_t len, bool *ascii)
{
    const __m128i limits = _mm_loadu_si128((const __m128i *)(incomplete_max + 16));
    __m128i prev_input = _mm_setzero_si128(), prev_incomplete = _mm_setzero_si128();
    size_t i = 0;
    while (len - i >= 64) {
        __m128i in[4];
        for (int k = 0; k < 4; k++) in[k] = _mm_loadu_si128((const __m128i *)(s + i + 16 * k));
        __m128i any = _mm_or_si128(_mm_or_si128(in[0], in[1]), _mm_or_si128(in[2], in[3]));
        __m128i error;
        if (!_mm_movemask_epi8(any)) {
            error = prev_incomplete;
            prev_incomplete = _mm_setzero_si128();
        } else {
            *ascii = false;
            error = sse_block_errors(in[0], prev_input);
            for (int k = 1; k < 4; k++) error = _mm_or_si128(error, sse_block_errors(in[k], in[k - 1]));
            prev_incomplete = _mm_subs_epu8(in[3], limits);
        }
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(error, _mm_setzero_si128())) != 0xFFFF) return i;
        prev_input = in[3];
        i += 64;
    }
    return i;
}
#endif /* CLEAT_UTF8_X86 */

/* ---- choosing and running ------------------------------------------------------ */

typedef size_t (*valid_blocks_fn)(const unsigned char *s, size_t len, bool *ascii);

static size_t no_blocks(const unsigned char *s, size_t len, bool *ascii)
{
    (void)s, (void)len, (void)ascii;
    return 0;
}

typedef struct utf8_implementation {
    const char *name;
    valid_blocks_fn fn;
} utf8_implementation;

/* The implementations this CPU runs, fastest first. */
static const utf8_implementation implementations[] = {
#ifdef CLEAT_UTF8_X86
    {"avx2", avx2_valid_blocks},
    {"ssse3", sse_valid_blocks},
#endif
    {"portable", no_blocks},
};

/* The one in use: a single pointer to a constant entry, so a thread without
 * the GVL reads a name and a function that belong together. The first
 * validation sets it (several threads at once, without the GVL, all find and
 * store the same pointer: the choice reads only the CPU's cpuid, kept in
 * one atomic int); cleat_str_utf8_use switches it with one store. */
static _Atomic(const utf8_implementation *) current;

#ifdef CLEAT_UTF8_X86
enum { CPU_KNOWN = 1, CPU_SSSE3 = 2, CPU_AVX2 = 4 };

/* Asks the CPU itself (cpuid, and xgetbv for the registers the OS saves)
 * rather than through __builtin_cpu_supports, which brings libgcc's whole
 * feature table (about 5 KB) into every extension. */
static int cpu_features_now(void)
{
    unsigned int eax, ebx, ecx, edx;
    int features = CPU_KNOWN;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return features;
    if (ecx & bit_SSSE3) features |= CPU_SSSE3;
    if (!(ecx & bit_OSXSAVE) || !(ecx & bit_AVX)) return features;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0x6) != 0x6) return features; /* the OS saves XMM and YMM */
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & bit_AVX2)) features |= CPU_AVX2;
    return features;
}

/* Asked once and kept: cpuid is slow, in a virtual machine a trap to the
 * host, and cleat_str_utf8_use may run around every validation (the
 * benchmarks switch per call). Threads that ask at once, without the GVL,
 * compute the same value and store it whole. */
static int cpu_features(void)
{
    static _Atomic int known;
    int features = atomic_load_explicit(&known, memory_order_relaxed);
    if (!features) {
        features = cpu_features_now();
        atomic_store_explicit(&known, features, memory_order_relaxed);
    }
    return features;
}
#endif

static bool cpu_runs(const char *name)
{
#ifdef CLEAT_UTF8_X86
    if (!strcmp(name, "avx2")) return cpu_features() & CPU_AVX2;
    if (!strcmp(name, "ssse3")) return cpu_features() & CPU_SSSE3;
#endif
    return !strcmp(name, "portable");
}

static const utf8_implementation *find(const char *name)
{
    for (size_t i = 0; i < sizeof implementations / sizeof implementations[0]; i++) {
        if ((name == NULL || !strcmp(name, implementations[i].name)) && cpu_runs(implementations[i].name))
            return &implementations[i];
    }
    return NULL;
}

bool cleat_str_utf8_use(const char *name)
{
    const utf8_implementation *impl = find(name);
    if (!impl) return false;
    atomic_store_explicit(&current, impl, memory_order_release);
    return true;
}

const char *cleat__str_utf8_chosen(void)
{
    const utf8_implementation *impl = atomic_load_explicit(&current, memory_order_acquire);
    return impl ? impl->name : NULL;
}

/* The implementation in use, chosen here by the first validation: every
 * thread that gets here first stores the same pointer, in one atomic store.
 * Not chosen at load (cleat_init), so an extension that never validates
 * UTF-8 links none of the validators. */
static const utf8_implementation *implementation(void)
{
    const utf8_implementation *impl = atomic_load_explicit(&current, memory_order_acquire);
    if (impl) return impl;
    impl = find(NULL);
    atomic_store_explicit(&current, impl, memory_order_release);
    return impl;
}

const char *cleat_str_utf8_implementation(void) { return implementation()->name; }

cleat_utf8_result cleat_str_utf8_check(const void *ptr, size_t len, size_t *error_offset)
{
    const unsigned char *s = ptr;
    bool ascii = true;
    size_t p = implementation()->fn(s, len, &ascii);
    size_t error = scalar_validate(s, character_start_before(s, p), len, &ascii);
    if (error < len) {
        if (error_offset) *error_offset = error;
        return CLEAT_UTF8_INVALID;
    }
    return ascii ? CLEAT_UTF8_ASCII : CLEAT_UTF8_VALID;
}
