# frozen_string_literal: true

# CleatBench::RawScanner alone in a shared object, for its size (bench/size.rb).
require "mkmf"

$CFLAGS << " -Werror"
have_const("RUBY_TYPED_EMBEDDABLE", "ruby.h")
create_makefile("scanner_raw")
