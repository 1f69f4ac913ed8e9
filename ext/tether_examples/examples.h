/* examples.h - the chapter's examples, each in its own file. */
#ifndef TETHER_EXAMPLES_H
#define TETHER_EXAMPLES_H 1

#include "tether.h"

void tether_examples_init_counter(VALUE mod);
void tether_examples_init_person(VALUE mod);
void tether_examples_init_game(VALUE mod);

#endif
