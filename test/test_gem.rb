# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"

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
    %w[include/cleat.h src/type.c src/borrow.c lib/cleat/mkmf.rb lib/cleat.rb].each do |file|
      assert_includes spec.files, file
    end
  end

  def test_demo_runs
    out, status = Open3.capture2e(RbConfig.ruby, "-I#{ROOT}/lib", File.join(ROOT, "examples/demo.rb"))
    assert status.success?, out
    assert_match(/Cleat::BorrowError: CleatExamples::Game is borrowed by #each_player/, out)
    assert_match(/uninitialized CleatExamples::Counter/, out)
  end
end
