# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"
require "tmpdir"

class TestGem < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_gemspec_ships_header_and_sources,
                              :test_demo_runs,
                              :test_extension_before_ruby_side

  ROOT = File.expand_path("..", __dir__)

  def test_version_matches_the_header
    assert_equal Cleat::VERSION, CleatTest.header_version
  end

  def test_error_hierarchy
    assert_operator Cleat::Error, :<, StandardError
    assert_operator Cleat::BorrowError, :<, RuntimeError
    out, status = Open3.capture2e(RbConfig.ruby, "-I#{ROOT}/lib", "-e",
                                  'require "cleat"; p Cleat::StaleReferenceError.superclass')
    assert status.success?, out
    assert_equal "RuntimeError\n", out
  end

  # Either side may define the classes first; the other must find them.
  def test_extension_before_ruby_side
    script = 'require "cleat_examples"; require "cleat"; ' \
             'g = CleatExamples::Game.new; g.add_player("a"); ' \
             'begin; g.each_player { g.add_player("b") }; rescue Cleat::BorrowError => e; puts e.class; end'
    out, status = Open3.capture2e(RbConfig.ruby, "-I#{ROOT}/lib", "-e", script)
    assert status.success?, out
    assert_equal "Cleat::BorrowError\n", out
  end

  def test_gemspec_ships_header_and_sources
    spec = Gem::Specification.load(File.join(ROOT, "cleat.gemspec"))
    %w[include/cleat.h src/type.c src/borrow.c lib/cleat/mkmf.rb lib/cleat.rb LICENSE CHANGELOG.md].each do |file|
      assert_includes spec.files, file
    end
    # Installing cleat compiles nothing: the examples are built in a checkout only.
    assert_empty spec.extensions
    assert_empty spec.files.grep(%r{\Aext/})
    %w[source_code_uri changelog_uri documentation_uri].each { |key| assert spec.metadata[key], key }
  end

  # `gem build` warns about nothing (no license file, homepage, metadata...).
  def test_gem_builds_without_warnings
    Dir.mktmpdir do |dir|
      out, status = Open3.capture2e(Gem.ruby, "-S", "gem", "build", File.join(ROOT, "cleat.gemspec"),
                                    "--output", File.join(dir, "cleat.gem"), chdir: ROOT)
      assert status.success?, out
      refute_match(/warn/i, out)
      assert File.exist?(File.join(dir, "cleat.gem"))
    end
  end

  # Cleat::VERSION exists as soon as any Cleat-based extension is loaded,
  # and lib/cleat/version.rb loaded afterwards neither warns nor replaces it.
  def test_version_defined_by_the_extension
    script = 'require "cleat_examples"; print Cleat::VERSION, " ", Cleat::VERSION.frozen?; ' \
             'require "cleat"; print " ", Cleat::VERSION'
    # Without bundle exec's RUBYOPT: Bundler itself warns under -w on 3.3.
    out, status = Open3.capture2e({ "RUBYOPT" => nil }, RbConfig.ruby, "-w", "-I#{ROOT}/lib", "-e", script)
    assert status.success?, out
    assert_equal "#{Cleat::VERSION} true #{Cleat::VERSION}", out
  end

  # Objects of a type defined by a Cleat with another ABI are foreign:
  # cleat_type_of says nil, and a typed field refuses them with TypeError.
  def test_objects_of_another_abi_are_foreign
    foreign = CleatTest.other_abi_object
    assert_nil CleatTest.type_path(foreign)
    assert_equal "CleatExamples::Person", CleatTest.type_path(CleatExamples::Person.new("a", []))
    person = CleatExamples::Person.new("a", [])
    error = assert_raises(TypeError) { person.add_friend(foreign) }
    assert_match(/CleatExamples::Person/, error.message)
  end

  def test_demo_runs
    out, status = Open3.capture2e(RbConfig.ruby, "-I#{ROOT}/lib", File.join(ROOT, "examples/demo.rb"))
    assert status.success?, out
    assert_match(/Cleat::BorrowError: CleatExamples::Game is borrowed by #each_player/, out)
    assert_match(/uninitialized CleatExamples::Counter/, out)
  end
end
