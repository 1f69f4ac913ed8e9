/* scanner_cleat.c - CleatBench::Scanner (bench/ext/cleat_bench) built
 * alone, so bench/size.rb can weigh it against the raw one. */
#include "../../ext/cleat_bench/scanner_cleat.c"

void Init_scanner_cleat(void) { scanner_cleat_define(rb_define_module("CleatBench")); }
