/* gc.c - roots for C globals and honest accounting of native memory. */
#include "internal.h"

#include <sys/types.h>

void cleat_gc_root(VALUE *address)
{
    rb_gc_register_address(address);
#ifdef CLEAT_DEBUG
    cleat__debug_gc_root(address); /* its value, pinned, may be cached in a plain member */
#endif
}

/* rb_gc_adjust_memory_usage takes an ssize_t: report large sizes in steps. */
static void adjust(size_t bytes, int sign)
{
    const size_t step = (size_t)SSIZE_MAX;
    while (bytes) {
        size_t chunk = bytes < step ? bytes : step;
        rb_gc_adjust_memory_usage(sign * (ssize_t)chunk);
        bytes -= chunk;
    }
}

void cleat_gc_memory_grew(size_t bytes) { adjust(bytes, 1); }
void cleat_gc_memory_shrank(size_t bytes) { adjust(bytes, -1); }
