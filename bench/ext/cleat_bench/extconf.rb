# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../../../lib", __dir__))
require "cleat/mkmf"

# The raw Scanner embeds its struct in the object slot where Ruby can (3.3+).
have_const("RUBY_TYPED_EMBEDDABLE", "ruby.h")
create_cleat_makefile("cleat_bench", werror: true)
