# frozen_string_literal: true

# CleatBench::Scanner alone in a shared object with the parts of Cleat it
# uses, built as a user's gem builds it, for its size (bench/size.rb).
$LOAD_PATH.unshift(File.expand_path("../../../lib", __dir__))
require "cleat/mkmf"

create_cleat_makefile("scanner_cleat", werror: true)
