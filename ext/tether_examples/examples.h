/* examples.h - the chapter's examples, each in its own file. */
#ifndef TETHER_EXAMPLES_H
#define TETHER_EXAMPLES_H 1

#include "tether.h"

void tether_examples_init_counter(VALUE mod);
void tether_examples_init_person(VALUE mod);
void tether_examples_init_game(VALUE mod);
void tether_examples_init_trap(VALUE mod);
void tether_examples_init_memory(VALUE mod);

/* Trap codes, as wasmtime names them. */
enum trap_code {
    TRAP_NONE = 0,
    TRAP_STACK_OVERFLOW,
    TRAP_MEMORY_OUT_OF_BOUNDS,
    TRAP_UNREACHABLE,
    TRAP_CODE_COUNT
};

/* Raises TetherExamples::Trap with the code and a printf-style message. */
TETHER_NORETURN __attribute__((format(printf, 2, 3))) void tether_examples_raise_trap(enum trap_code code,
                                                                                 const char *format, ...);

#endif
