/* cleat_examples.c - require "cleat_examples": the chapter's examples in C. */
#include "examples.h"

void Init_cleat_examples(void)
{
    cleat_ractor_safe(); /* every method may run in any Ractor */
    /*
     * The examples of Cleat's guide (docs/guide.md), each a Ruby class
     * written in C with Cleat: Counter, MutCounter, Person, Game, Trap,
     * Memory and MemorySlice.
     */
    VALUE mod = rb_define_module("CleatExamples");
    cleat_examples_init_counter(mod);
    cleat_examples_init_person(mod);
    cleat_examples_init_game(mod);
    cleat_examples_init_trap(mod);
    cleat_examples_init_memory(mod);
}
