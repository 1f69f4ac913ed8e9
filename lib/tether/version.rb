# frozen_string_literal: true

module Tether
  # Kept equal to TETHER_VERSION in include/tether.h (a test checks it).
  VERSION = "0.1.0"
end
