# frozen_string_literal: true

require "mkmf"

$CFLAGS << " -Werror"
create_makefile("tally_raw")
