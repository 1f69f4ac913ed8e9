/* examples.h - the chapter's examples, each in its own file. */
#ifndef CLEAT_EXAMPLES_H
#define CLEAT_EXAMPLES_H 1

#include "cleat.h"

void cleat_examples_init_counter(VALUE mod);
void cleat_examples_init_person(VALUE mod);
void cleat_examples_init_game(VALUE mod);
void cleat_examples_init_trap(VALUE mod);
void cleat_examples_init_memory(VALUE mod);

/* Trap codes, as wasmtime names them. */
enum trap_code {
    TRAP_NONE = 0,
    TRAP_STACK_OVERFLOW,
    TRAP_MEMORY_OUT_OF_BOUNDS,
    TRAP_UNREACHABLE,
    TRAP_CODE_COUNT
};

/* Raises CleatExamples::Trap with the code and a printf-style message. */
CLEAT_NORETURN __attribute__((format(printf, 2, 3))) void cleat_examples_raise_trap(enum trap_code code,
                                                                                 const char *format, ...);

#endif
