# frozen_string_literal: true

$LOAD_PATH.unshift(File.expand_path("../../../lib", __dir__))
require "cleat/mkmf"

create_cleat_makefile("cleat_planted", werror: true)
