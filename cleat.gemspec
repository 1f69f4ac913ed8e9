# frozen_string_literal: true

require_relative "lib/cleat/version"

Gem::Specification.new do |spec|
  spec.name = "cleat"
  spec.version = Cleat::VERSION
  spec.authors = ["Cleat developers"]
  spec.summary = "Ruby C extensions that cannot crash the interpreter, at the speed of hand-written C"
  spec.description = <<~DESC
    A C library for writing Ruby native extensions: declarative TypedData types from
    which mark, compaction, write barriers and memsize are derived; type-checked
    unwrapping; borrow checks that raise Cleat::BorrowError instead of corrupting
    memory; and the tools to prove an extension safe.
  DESC
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"

  spec.files = Dir["include/**/*.h", "src/**/*.{c,h}", "lib/**/*.rb", "ext/**/*.{c,h,rb}", "exe/*",
                   "README.md", "docs/**/*.md", "LICENSE"]
  spec.require_paths = ["lib"]
  spec.bindir = "exe"
  spec.executables = ["cleat"]
  spec.extensions = ["ext/cleat_examples/extconf.rb"]
end
