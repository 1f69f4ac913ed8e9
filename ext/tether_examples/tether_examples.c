/* tether_examples.c - require "tether_examples": the chapter's examples in C. */
#include "examples.h"

void Init_tether_examples(void)
{
    tether_ractor_safe(); /* every method may run in any Ractor */
    VALUE mod = rb_define_module("TetherExamples");
    tether_examples_init_counter(mod);
    tether_examples_init_person(mod);
    tether_examples_init_game(mod);
    tether_examples_init_trap(mod);
    tether_examples_init_memory(mod);
}
