# frozen_string_literal: true

module Cleat
  # Kept equal to CLEAT_VERSION in include/cleat.h (a test checks it). A
  # Cleat-based extension loaded before this file defines the constant
  # itself (from the CLEAT_VERSION it was built with): keep that one.
  VERSION = "0.1.0" unless const_defined?(:VERSION, false)

  # Where the project lives: its repository, with the guide at docs/guide.md.
  HOMEPAGE = "https://github.com/cleat-rb/cleat"
end
