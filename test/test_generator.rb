# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"
require "tmpdir"
require "cleat/generator"

# `cleat new`: the skeleton it writes builds against this checkout and its
# tests pass, plain and under GC.stress.
class TestGenerator < Minitest::Test
  ROOT = File.expand_path("..", __dir__)

  cleat_skip_under_gc_stress :test_generated_gem_builds_and_passes_its_tests
  cleat_skip_in_mode :valgrind, :test_generated_gem_builds_and_passes_its_tests,
                      reason: "its work (compiler, rake, the gem's tests) runs in child processes, outside valgrind"
  cleat_skip_in_mode :release, :test_generated_gem_builds_and_passes_its_tests,
                      reason: "the generated gem builds its own extension (debug): nothing here is a release build"

  def cleat(*args, chdir:)
    Open3.capture3(RbConfig.ruby, File.join(ROOT, "exe/cleat"), *args, chdir: chdir)
  end

  def test_generated_gem_builds_and_passes_its_tests
    Dir.mktmpdir do |dir|
      out, err, status = cleat("new", "word_tally", "--cleat-path", ROOT, chdir: dir)
      assert status.success?, err
      assert_match %r{create  .*/word_tally/ext/word_tally/word_tally\.c}, out
      gem = File.join(dir, "word_tally")
      spec = Gem::Specification.load(File.join(gem, "word_tally.gemspec"))
      assert_equal "word_tally", spec.name
      assert_equal ["cleat"], spec.runtime_dependencies.map(&:name)
      assert_includes File.read(File.join(gem, "Gemfile")), %(gem "cleat", path: #{ROOT.inspect})

      env = { "RUBYLIB" => File.join(ROOT, "lib"), "CLEAT_DEBUG" => "1" }
      out, status = Open3.capture2e(env, RbConfig.ruby, "-S", "rake", "compile", "test", "test:stress", chdir: gem)
      assert status.success?, out
      assert_equal 2, out.scan(/4 runs, \d+ assertions, 0 failures, 0 errors, 0 skips/).size, out
    end
  end

  def test_bad_names_write_nothing
    Dir.mktmpdir do |dir|
      ["My Gem", "1gem", "gem-name", "Gem", ""].each do |bad|
        _out, err, status = cleat("new", bad, chdir: dir)
        refute status.success?
        assert_match(/cleat new: invalid gem name/, err)
      end
      assert_empty Dir.children(dir)
    end
  end

  def test_existing_directory_is_left_alone
    Dir.mktmpdir do |dir|
      Dir.mkdir(File.join(dir, "taken"))
      File.write(File.join(dir, "taken", "keep.txt"), "mine")
      _out, err, status = cleat("new", "taken", chdir: dir)
      refute status.success?
      assert_match(/taken already exists/, err)
      assert_equal ["keep.txt"], Dir.children(File.join(dir, "taken"))
    end
  end

  def test_usage
    out, _err, status = cleat("help", chdir: Dir.tmpdir)
    assert status.success?
    assert_match(/Usage: cleat new NAME/, out)
    _out, err, status = cleat("frobnicate", chdir: Dir.tmpdir)
    refute status.success?
    assert_match(/unknown command "frobnicate"/, err)
    _out, err, status = cleat("new", chdir: Dir.tmpdir)
    refute status.success?
    assert_match(/give exactly one gem name/, err)
  end
end
