# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"

class TestGem < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  tether_skip_under_gc_stress :test_gemspec_ships_header_and_sources,
                              :test_demo_runs,
                              :test_extension_before_ruby_side

  ROOT = File.expand_path("..", __dir__)

  def test_version_matches_the_header
    assert_equal Tether::VERSION, TetherTest.header_version
  end

  def test_error_hierarchy
    assert_operator Tether::Error, :<, StandardError
    assert_operator Tether::BorrowError, :<, RuntimeError
    out, status = Open3.capture2e(RbConfig.ruby, "-I#{ROOT}/lib", "-e",
                                  'require "tether"; p Tether::StaleReferenceError.superclass')
    assert status.success?, out
    assert_equal "RuntimeError\n", out
  end

  # Either side may define the classes first; the other must find them.
  def test_extension_before_ruby_side
    script = 'require "tether_examples"; require "tether"; ' \
             'g = TetherExamples::Game.new; g.add_player("a"); ' \
             'begin; g.each_player { g.add_player("b") }; rescue Tether::BorrowError => e; puts e.class; end'
    out, status = Open3.capture2e(RbConfig.ruby, "-I#{ROOT}/lib", "-e", script)
    assert status.success?, out
    assert_equal "Tether::BorrowError\n", out
  end

  def test_gemspec_ships_header_and_sources
    spec = Gem::Specification.load(File.join(ROOT, "tether.gemspec"))
    %w[include/tether.h src/type.c src/borrow.c lib/tether/mkmf.rb lib/tether.rb].each do |file|
      assert_includes spec.files, file
    end
  end

  def test_demo_runs
    out, status = Open3.capture2e(RbConfig.ruby, "-I#{ROOT}/lib", File.join(ROOT, "examples/demo.rb"))
    assert status.success?, out
    assert_match(/Tether::BorrowError: TetherExamples::Game is borrowed by #each_player/, out)
    assert_match(/uninitialized TetherExamples::Counter/, out)
  end
end
