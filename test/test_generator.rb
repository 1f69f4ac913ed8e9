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

      assert_match(/MIT License/, File.read(File.join(gem, "LICENSE")))
      assert_includes spec.files, "LICENSE"

      env = { "RUBYLIB" => File.join(ROOT, "lib"), "CLEAT_DEBUG" => "1", "CLEAT_FUZZ_OPS" => "3000" }
      out, status = Open3.capture2e(env, RbConfig.ruby, "-S", "rake", "compile", "test", "test:stress", "test:fuzz",
                                    chdir: gem)
      assert status.success?, out
      assert_equal 2, out.scan(/5 runs, \d+ assertions, 0 failures, 0 errors, 0 skips/).size, out
      assert_match(/FUZZ OK 3000 operations on 1 classes/, out)

      # A .c file added after the first build is compiled by the next one
      # (extconf runs again): before, loading failed on an undefined symbol.
      add_source_file(gem)
      out, status = Open3.capture2e(env, RbConfig.ruby, "-S", "rake", "compile", chdir: gem)
      assert status.success?, out
      assert_match(/compiling .*extra\.c/, out)
      out, status = Open3.capture2e(env, RbConfig.ruby, "-Ilib", "-e", 'require "word_tally"; p WordTally::EXTRA',
                                    chdir: gem)
      assert status.success?, out
      assert_equal "42\n", out
    end
  end

  def add_source_file(gem)
    ext = File.join(gem, "ext", "word_tally")
    File.write(File.join(ext, "extra.c"), <<~C)
      #include <ruby.h>
      void word_tally_init_extra(VALUE mod) { rb_define_const(mod, "EXTRA", INT2FIX(42)); }
    C
    main = File.join(ext, "word_tally.c")
    code = File.read(main)
    code.sub!("void Init_word_tally(void)", "void word_tally_init_extra(VALUE mod);\n\nvoid Init_word_tally(void)")
    code.sub!(/rb_define_module\("WordTally"\);/, 'word_tally_init_extra(rb_define_module("WordTally"));')
    File.write(main, code)
  end

  # --test-unit: the same gem, tested with test-unit (built and run by
  # script/test-user-path).
  def test_test_unit_gem
    Dir.mktmpdir do |dir|
      _out, err, status = cleat("new", "word_tally", "--test-unit", chdir: dir)
      assert status.success?, err
      gem = File.join(dir, "word_tally")
      gemfile = File.read(File.join(gem, "Gemfile"))
      assert_includes gemfile, 'gem "test-unit", "~> 3.5"'
      refute_includes gemfile, "minitest"
      assert_match(/\Arequire "test\/unit"$/, File.read(File.join(gem, "test/test_helper.rb")).lines.grep(/\Arequire/).first)
      test = File.read(File.join(gem, "test/test_word_tally.rb"))
      assert_includes test, "class TestWordTally < Test::Unit::TestCase"
      refute_includes test, "Minitest"
      out, status = Open3.capture2e(RbConfig.ruby, "-c", File.join(gem, "test/test_word_tally.rb"))
      assert status.success?, out
    end
  end

  def test_bad_names_say_what_would_work
    Dir.mktmpdir do |dir|
      _out, err, _status = cleat("new", "My-Shapes", chdir: dir)
      assert_equal "cleat new: invalid gem name \"My-Shapes\": a gem with a C extension is named in lowercase " \
                   "letters, digits and underscores, starting with a letter (it names the extension, its Init_ " \
                   "function and, camelized, its module): try \"my_shapes\"\n", err
      _out, err, _status = cleat("new", "MyShapes", chdir: dir)
      assert_match(/try "my_shapes"/, err)
      _out, err, _status = cleat("new", "", chdir: dir)
      assert_equal "cleat new: a gem name is needed\n", err
      _out, err, _status = cleat("new", "cleat", chdir: dir)
      assert_match(/the name cleat is Cleat's own/, err)
      # The fifth hostile review: `object` made a gem that failed to load
      # ("Object is not a module"), `kernel` one that reopened Kernel.
      _out, err, status = cleat("new", "object", chdir: dir)
      refute status.success?
      assert_equal "cleat new: invalid gem name \"object\": its module Object would reopen Ruby's class Object: " \
                   "choose another name\n", err
      _out, err, _status = cleat("new", "kernel", chdir: dir)
      assert_match(/its module Kernel would reopen Ruby's module Kernel/, err)
      # The eighth: Data, a class from Ruby 3.2 on, was accepted on 3.1, and
      # the gem failed to load on 3.3 ("Data is not a module").
      _out, err, status = cleat("new", "data", chdir: dir)
      refute status.success?
      assert_match(/invalid gem name "data": its module Data would reopen Ruby's class /, err)
      # And prism or syntax_suggest, libraries of 3.3 and 3.2 on (a review).
      %w[prism syntax_suggest].each do |name|
        _out, err, status = cleat("new", name, chdir: dir)
        refute status.success?, name
        assert_match(/invalid gem name "#{name}": its (lib\/#{name}.rb would hide Ruby's own library|module)/, err)
      end
      # The sixth: what RubyGems and Bundler load, which `bundle install`
      # has when it loads the gemspec (`monitor`: "Monitor is not a module";
      # `gem`: Gem::VERSION became the gem's).
      { "monitor" => "class Monitor", "gem" => "module Gem", "did_you_mean" => "module DidYouMean",
        "bundler" => "module Bundler", "pathname" => "class Pathname" }.each do |name, what|
        _out, err, status = cleat("new", name, chdir: dir)
        refute status.success?, name
        assert_match(/its module \S+ would reopen Ruby's #{what}: choose another name/, err)
      end
      # The seventh round: a library of Ruby's own, which lib/NAME.rb would
      # hide (fileutils broke rake, set broke bundle install).
      %w[fileutils optparse set uri].each do |name|
        _out, err, status = cleat("new", name, chdir: dir)
        refute status.success?, name
        # (Set and URI may be loaded by Bundler already: then their constant is named instead.)
        assert_match(/invalid gem name "#{name}": (its lib\/#{name}.rb would hide Ruby's own library #{name}|its module)/, err)
      end
      # A review: names whose files collide with the generator's own, or
      # with the wrappers cleat/mkmf writes for Cleat's sources.
      { "version" => %r{lib/version/version.rb would be both}, "helper" => %r{test/test_helper.rb would be both},
        "cleat_gvl" => /compiles Cleat's sources as cleat_gvl.c beside the extension's own cleat_gvl.c/ }.each do |name, message|
        _out, err, status = cleat("new", name, chdir: dir)
        refute status.success?, name
        assert_match message, err
      end
      # The seventh round: a gem the generated bundle has already.
      %w[minitest rake power_assert].each do |name|
        _out, err, status = cleat("new", name, chdir: dir)
        refute status.success?, name
        assert_match(/invalid gem name "#{name}": the generated gem's bundle has the gem #{name} already/, err)
      end
      assert_empty Dir.children(dir)
    end
  end

  def test_bad_names_write_nothing
    Dir.mktmpdir do |dir|
      ["My Gem", "1gem", "gem-name", "Gem", ""].each do |bad|
        _out, err, status = cleat("new", bad, chdir: dir)
        refute status.success?
        assert_match(/cleat new: (invalid gem name|a gem name is needed)/, err)
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
    assert_match(/--test-unit/, out)
    _out, err, status = cleat("frobnicate", chdir: Dir.tmpdir)
    refute status.success?
    assert_match(/unknown command "frobnicate"/, err)
    _out, err, status = cleat("new", chdir: Dir.tmpdir)
    refute status.success?
    assert_match(/give exactly one gem name/, err)
  end
end
