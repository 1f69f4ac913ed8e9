# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../../../lib", __dir__))
require "tether/mkmf"

create_tether_makefile("tether_test", werror: true)
