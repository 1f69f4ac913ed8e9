/* scanner_raw.c - CleatBench::RawScanner (bench/ext/cleat_bench) built
 * alone, so bench/size.rb can weigh it against the Cleat one. */
#include "../../ext/cleat_bench/scanner_raw.c"

void Init_scanner_raw(void) { scanner_raw_define(rb_define_module("CleatBench")); }
