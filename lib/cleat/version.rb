# frozen_string_literal: true

module Cleat
  # Kept equal to CLEAT_VERSION in include/cleat.h (a test checks it).
  VERSION = "0.1.0"
end
