# frozen_string_literal: true

require_relative "../cleat"

module Cleat
  # `rake test:fuzz`: a hostile fuzzer for any Cleat-based gem, derived from
  # what its extensions declared (Cleat::REGISTRIES, src/registry.c). It
  # needs no model: every correct Cleat class keeps the same promises (no
  # crash, hang or sanitizer report; only allowed exceptions; no loan left
  # out at the top level; every declared field holding its declared class;
  # compaction verified at the end). A failure is shrunk and printed as a
  # Ruby script that reproduces it (docs/guide.md, "Fuzzing").
  module Fuzz
  end
end

require_relative "fuzz/registry"
require_relative "fuzz/world"
require_relative "fuzz/generator"
require_relative "fuzz/shrink"
