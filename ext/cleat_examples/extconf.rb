# frozen_string_literal: true

# Built the way a dependent gem builds: through cleat/mkmf. Our own sources
# compile with warnings as errors.
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "cleat/mkmf"

create_cleat_makefile("cleat_examples", werror: true)
