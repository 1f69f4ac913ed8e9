# frozen_string_literal: true

require_relative "lib/cleat/version"

Gem::Specification.new do |spec|
  spec.name = "cleat"
  spec.version = Cleat::VERSION
  spec.authors = ["The Cleat developers"]
  spec.summary = "Ruby C extensions that cannot crash the interpreter, at the speed of hand-written C"
  spec.description = <<~DESC
    A C library for writing Ruby native extensions: declarative TypedData types from
    which mark, compaction, write barriers and memsize are derived; type-checked
    unwrapping; borrow checks that raise Cleat::BorrowError instead of corrupting
    memory; and the tools to prove an extension safe. A gem that uses it compiles
    Cleat into its own extension (require "cleat/mkmf" in extconf.rb); installing
    cleat itself compiles nothing.
  DESC
  spec.license = "MIT"
  spec.homepage = Cleat::HOMEPAGE
  spec.metadata = {
    "source_code_uri" => "#{spec.homepage}/tree/main",
    "changelog_uri" => "#{spec.homepage}/blob/main/CHANGELOG.md",
    "documentation_uri" => "#{spec.homepage}/blob/main/docs/guide.md",
    "bug_tracker_uri" => "#{spec.homepage}/issues",
    "rubygems_mfa_required" => "true"
  }
  spec.required_ruby_version = ">= 3.1"

  # The header, the library's sources (compiled into each dependent gem's
  # extension) and the Ruby side. The examples extension is not shipped: it
  # is built in a checkout for the demo and the tests, never on users'
  # machines, so installing cleat compiles nothing.
  spec.files = Dir["include/**/*.h", "src/**/*.{c,h}", "lib/**/*.rb", "exe/*", "docs/**/*.md",
                   "README.md", "CHANGELOG.md", "LICENSE"]
  spec.require_paths = ["lib"]
  spec.bindir = "exe"
  spec.executables = ["cleat"]
end
