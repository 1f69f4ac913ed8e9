# frozen_string_literal: true

# Built the way a dependent gem builds: through tether/mkmf. Our own sources
# compile with warnings as errors.
$LOAD_PATH.unshift(File.expand_path("../../lib", __dir__))
require "tether/mkmf"

create_tether_makefile("tether_examples", werror: true)
