# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"
require "tmpdir"
require "fileutils"

# Cleat::Testing under minitest and test-unit alike: the helpers, the
# class-level skips and the suite-wide modes of `rake test:stress` and
# `rake test:compact`, each proved on a small suite run in a child Ruby.
class TestTesting < Minitest::Test
  ROOT = File.expand_path("..", __dir__)

  cleat_skip_under_gc_stress :test_minitest_suite, :test_test_unit_suite
  cleat_skip_in_mode :valgrind, :test_minitest_suite, :test_test_unit_suite,
                      reason: "the suites run in child Rubies, outside valgrind"

  # Each test records [its name, GC.stress, compactions so far]; the log is
  # written after the framework's own at_exit has run the tests.
  SUITE = <<~'RUBY'
    $log = []
    at_exit { File.binwrite(ENV.fetch("CLEAT_KIT_LOG"), Marshal.dump($log)) }
    require "cleat/testing" if ENV["CLEAT_KIT_FIRST"] # before the framework: its modes wait for it
    require ENV.fetch("CLEAT_KIT_FRAMEWORK")
    require "cleat/testing"

    class TestKit < (defined?(Minitest::Test) ? Minitest::Test : Test::Unit::TestCase)
      include Cleat::Testing
      cleat_skip_under_gc_stress :test_b_not_stressed
      cleat_skip_in_mode :compact, :test_d_skipped_in_compact, reason: "not in this mode"

      def record(name) = $log << [name, GC.stress, GC.stat(:compact_count)]

      def test_a_stressed = record(:a)
      def test_b_not_stressed = record(:b)
      def test_c_helpers
        record(:c)
        return unless Cleat::Testing::Mode.current.empty? # compacts: would hide test:compact's

        assert with_gc_stress { GC.stress }
        assert_equal 3, with_compaction { 1 + 2 }
        compact_heap
        assert_wb_protected(+"a string")
        assert_memsize_covers("x" * 4096, 4096)
      end
      def test_d_skipped_in_compact = record(:d)
      def test_e_twin_under_gc_stress = record(:e)
    end
  RUBY

  # Runs SUITE with framework in mode; returns { test => [GC.stress, compactions] }
  # and the output.
  def run_suite(framework, mode, first: false)
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "suite.rb"), SUITE)
      log = File.join(dir, "log")
      env = { "CLEAT_TEST_MODE" => mode, "CLEAT_KIT_FRAMEWORK" => framework, "CLEAT_KIT_LOG" => log,
              "CLEAT_KIT_FIRST" => (first ? "1" : nil) }
      out, status = Open3.capture2e(env, RbConfig.ruby, "-I#{ROOT}/lib", File.join(dir, "suite.rb"))
      assert status.success?, out
      [Marshal.load(File.binread(log)).to_h { |name, *rest| [name, rest] }, out] # rubocop:disable Security/MarshalLoad
    end
  end

  def check_modes(framework, skipped_word, first: false)
    plain, = run_suite(framework, "", first: first)
    assert_equal %i[a b c d e], plain.keys.sort
    assert(plain.values.none? { |stress, _| stress }, "GC.stress on outside test:stress")

    stress, = run_suite(framework, "stress", first: first)
    assert_equal true, stress[:a].first, "test:stress: GC.stress on in every test"
    assert_equal false, stress[:b].first, "cleat_skip_under_gc_stress"
    assert_equal false, stress[:e].first, "an _under_gc_stress twin is stressed by itself"

    compact, out = run_suite(framework, "compact", first: first)
    refute compact.key?(:d), "cleat_skip_in_mode :compact ran the test"
    assert_match(/not under CLEAT_TEST_MODE=compact: not in this mode/, out) if framework == "test/unit"
    assert_match(/#{skipped_word}/, out)
    counts = compact.values.map(&:last)
    assert_equal counts.uniq.size, counts.size, "a compaction after every test: #{compact}"
  end

  def test_minitest_suite
    check_modes("minitest/autorun", "1 skips")
  end

  # test-unit comes through Bundler (the Gemfile), like any gem's.
  def test_test_unit_suite
    check_modes("test/unit", "1 omissions")
  end

  # The hostile review: with cleat/testing required before the framework,
  # the modes found nothing to install into and the suite passed without
  # GC.stress or compaction. A test class including Cleat::Testing now
  # installs them.
  def test_minitest_suite_with_cleat_testing_required_first
    check_modes("minitest/autorun", "1 skips", first: true)
  end

  def test_test_unit_suite_with_cleat_testing_required_first
    check_modes("test/unit", "1 omissions", first: true)
  end

  # A suite's helper module that includes Cleat::Testing before the framework
  # loads installs the modes once a test class includes the module (they
  # stayed off before, and the run failed at exit).
  def test_a_helper_module_made_before_the_framework_installs_the_modes
    { "minitest/autorun" => ["Minitest::Test", /1 runs, 1 assertions, 0 failures, 0 errors, 0 skips/],
      "test/unit" => ["Test::Unit::TestCase", /1 tests, 1 assertions, 0 failures, 0 errors, 0 pendings, 0 omissions/] }
      .each do |framework, (base, passed)|
      code = 'require "cleat/testing"; module Helpers; include Cleat::Testing; end; module More; include Helpers; end; ' \
             "require #{framework.dump}; class TestHelped < #{base}; include More; " \
             'def test_x = assert(GC.stress, "GC.stress on under test:stress"); end'
      out, status = Open3.capture2e({ "CLEAT_TEST_MODE" => "stress" }, RbConfig.ruby, "-I#{ROOT}/lib", "-e", code)
      assert status.success?, out
      assert_match passed, out
    end
    # ActiveSupport::Concern's `included do ... end` calls included with
    # no module (a review: ArgumentError from the kit's hook).
    concern = 'require "minitest"; require "cleat/testing"; module C; def included(base = nil, &block) = ' \
              "block ? (@block = block) : super; end; module H; extend C; include Cleat::Testing; included { }; end; print :ok"
    out, status = child({ "CLEAT_TEST_MODE" => "stress" }, concern)
    assert status.success?, out
    assert_equal "ok", out
  end

  # ...and when no test class includes it, the run fails instead of passing
  # untested.
  def test_a_mode_no_test_ran_in_fails_the_run
    code = 'require "cleat/testing"; require "minitest/autorun"; ' \
           "class TestPlain < Minitest::Test; def test_x = assert(true); end"
    out, status = Open3.capture2e({ "CLEAT_TEST_MODE" => "stress" }, RbConfig.ruby, "-I#{ROOT}/lib", "-e", code)
    refute status.success?, out
    assert_match(/1 runs, 1 assertions, 0 failures/, out) # the test itself ran and passed
    assert_match(/CLEAT_TEST_MODE=stress is set, but minitest tests ran outside that mode/, out)
    out, status = Open3.capture2e({ "CLEAT_TEST_MODE" => "" }, RbConfig.ruby, "-I#{ROOT}/lib", "-e", code)
    assert status.success?, out # no mode asked for: nothing to fail
    # minitest loaded first (installed), test-unit after cleat/testing, its
    # test classes without Cleat::Testing: they ran unstressed, and passed.
    mixed = 'require "minitest"; require "cleat/testing"; require "test/unit"; ' \
            "class TestUnitPlain < Test::Unit::TestCase; def test_y = assert(true); end"
    out, status = Open3.capture2e({ "CLEAT_TEST_MODE" => "stress" }, RbConfig.ruby, "-I#{ROOT}/lib", "-e", mixed)
    refute status.success?, out
    assert_match(/1 tests, 1 assertions, 0 failures/, out)
    assert_match(/CLEAT_TEST_MODE=stress is set, but test-unit tests ran outside that mode/, out)
    helper = 'require "cleat/testing"; print :helper' # no framework, no tests: the fuzzer's child processes
    out, status = Open3.capture2e({ "CLEAT_TEST_MODE" => "stress" }, RbConfig.ruby, "-I#{ROOT}/lib", "-e", helper)
    assert status.success?, out
    assert_equal "helper", out
  end

  # A child Ruby in an empty directory: test-unit's autorunner, finding no
  # test case, loads the test files it finds under the current directory.
  def child(env, code, *args)
    Dir.mktmpdir { |dir| Open3.capture2e(env, RbConfig.ruby, "-I#{ROOT}/lib", "-e", code, *args, chdir: dir) }
  end

  # The fifth hostile review: GC.stress is process-wide, and a test running
  # beside another lost its stress when the neighbour's teardown turned it
  # off. minitest's parallelize_me! classes now run one at a time under
  # test:stress; a test that starts while another runs (test-unit's
  # --parallel) fails.
  def test_parallel_tests_under_stress_run_stressed_or_fail
    steps = "5.times { assert GC.stress, 'GC.stress on'; sleep 0.01 }"
    code = 'require "minitest/autorun"; require "cleat/testing"; ' \
           "class TestPar < Minitest::Test; parallelize_me!; def test_a; #{steps}; end; def test_b; #{steps}; end; end"
    out, status = child({ "CLEAT_TEST_MODE" => "stress", "MT_CPU" => "2" }, code)
    assert status.success?, out
    assert_match(/2 runs, 10 assertions, 0 failures, 0 errors/, out)

    code = 'require "test/unit"; require "cleat/testing"; ' \
           "class TestPar < Test::Unit::TestCase; def test_a; #{steps}; end; def test_b; #{steps}; end; end"
    out, status = child({ "CLEAT_TEST_MODE" => "stress" }, code, "--", "--parallel=thread", "--n-workers=2")
    refute status.success?, out
    assert_match(/runs one test at a time \(GC.stress is process-wide\)/, out)
  end

  # The fifth hostile review: a suite whose files the task did not load
  # ran no test and passed in every mode. The check holds the suite's own
  # process (CLEAT_TEST_TASK_RUN, from the rake task) only: a child Ruby
  # with the test helper, or a process-parallel runner's parent, defines or
  # runs no test there (a review of the fix).
  def test_a_suite_without_tests_fails_its_task
    task = { "CLEAT_TEST_MODE" => "stress", "CLEAT_TEST_TASK_RUN" => "1" }
    code = 'require "minitest/autorun"; require "cleat/testing"; class TestNone < Minitest::Test; end'
    out, status = child(task, code)
    refute status.success?, out
    assert_match(/0 runs/, out)
    assert_match(/CLEAT_TEST_MODE=stress is set, but the suite defines no minitest test/, out)
    out, status = child(task.merge("CLEAT_TEST_TASK_RUN" => nil), "#{code}; puts :child")
    assert status.success?, out # a child Ruby the tests start: not the suite
    out, status = child(task, "#{code}; class TestOne < Minitest::Test; def test_x = assert(true); end")
    assert status.success?, out
  end

  # A test whose own after_teardown raises before calling super skips the
  # kit's: the next test must still run, not count as started beside it.
  def test_a_teardown_that_raises_does_not_fail_the_next_tests
    code = 'require "minitest/autorun"; require "cleat/testing"; class TestT < Minitest::Test; ' \
           'def after_teardown; raise "leak" if name == "test_a"; super; end; ' \
           "def test_a = assert(true); def test_b = assert(GC.stress); def test_c = assert(GC.stress); end"
    out, = child({ "CLEAT_TEST_MODE" => "stress" }, code)
    assert_match(/3 runs, 3 assertions, 0 failures, 1 errors/, out)
    assert_match(/RuntimeError: leak/, out)
  end

  # The fifth hostile review: test:asan and test:release put their builds
  # first on the load path, and a gem loading its extension with
  # require_relative tested the ordinary build instead, and passed.
  def test_an_extension_loaded_past_the_variant_build_fails_the_run
    Dir.mktmpdir do |dir|
      FileUtils.mkdir_p(File.join(dir, "variant", "gemx"))
      File.write(File.join(dir, "variant", "gemx", "gemx.so"), "")
      code = 'require "minitest/autorun"; require "cleat/testing"; $LOADED_FEATURES << "/elsewhere/lib/gemx/gemx.so"; ' \
             "class TestV < Minitest::Test; def test_v = assert(true); end"
      task = { "CLEAT_TEST_MODE" => "release", "CLEAT_TEST_TASK_RUN" => "1", "CLEAT_TEST_VARIANT_LIB" => File.join(dir, "variant") }
      out, status = child(task, code)
      refute status.success?, out
      assert_match(%r{/elsewhere/lib/gemx/gemx.so was loaded, not the release build .*gemx/gemx.so}, out)
      out, status = child(task.merge("CLEAT_TEST_TASK_RUN" => nil), code)
      assert status.success?, out # a child Ruby the tests start: not checked
      out, status = child(task, code.sub("/elsewhere/lib", File.join(dir, "variant")))
      assert status.success?, out
    end
  end

  # The fifth hostile review: growing the heap before every compaction made
  # test:compact quadratic on 3.2+ (the pages stay): it grows the first time.
  def test_compact_mode_grows_the_heap_once
    code = 'require "minitest/autorun"; require "cleat/testing"; $calls = []; ' \
           "Cleat::Testing.define_singleton_method(:compact_heap) { |expand: true| $calls << expand }; " \
           "Minitest.after_run { print $calls.inspect }; " \
           "class TestC < Minitest::Test; 3.times { |i| define_method(:\"test_\#{i}\") { assert true } }; end"
    out, status = child({ "CLEAT_TEST_MODE" => "compact" }, code)
    assert status.success?, out
    assert_includes out, "[true, false, false]"
  end

  # The fifth hostile review: Cleat::RakeTasks' default file list missed
  # test-unit's convention (test/*_test.rb) and ran no test.
  # The sixth hostile review: the modes and every check after a run live in
  # cleat/testing, and a suite that never required it passed test:stress
  # with GC.stress off. The task's loader now installs them once the test
  # files are loaded, for either framework; files that load neither fail
  # the run, and so do files that ran their tests while loading. A suite
  # that requires cleat/testing itself has its class methods while loading.
  def test_the_tasks_install_the_modes_in_a_suite_that_never_requires_cleat_testing
    { "minitest" => 'require "minitest/autorun"; class TestX < Minitest::Test',
      "test-unit" => 'require "test/unit"; class TestX < Test::Unit::TestCase' }.each do |framework, head|
      out, status = run_task_on_suite("test:stress", "#{head}; def test_x = File.write(ENV.fetch('SEEN'), GC.stress.to_s); end") do |seen|
        assert_equal "true", File.read(seen), "#{framework}: the test ran without GC.stress"
      end
      assert status.success?, "#{framework}: #{out}"
    end
    out, status = run_task_on_suite("test:stress", "File.write(ENV.fetch('SEEN'), 'loaded')") do |seen|
      assert_equal "loaded", File.read(seen)
    end
    refute status.success?, out
    assert_match(/CLEAT_TEST_MODE=stress is set, but the test files loaded neither minitest nor test-unit/, out)
    # A review: a file that runs its tests while it loads ran them before
    # the modes were installed, and the task passed.
    head = 'require "minitest"; class TestX < Minitest::Test; def test_x = File.write(ENV.fetch("SEEN"), GC.stress.to_s); end'
    { "#{head}; Minitest.run([])" => /ran their minitest tests while loading \(Minitest.run\), before the modes/,
      "#{head}; exit Minitest.run([])" => /the test files exited while loading \(exit Minitest.run/ }.each do |code, message|
      out, status = run_task_on_suite("test:stress", code) { |seen| assert_equal "false", File.read(seen) }
      refute status.success?, out
      assert_match message, out
    end
    # The seventh session: test-unit's runner called while loading, without
    # exit, ran the tests before the modes were installed, and passed.
    tu = 'require "test/unit"; class TestX < Test::Unit::TestCase; def test_x = File.write(ENV.fetch("SEEN"), GC.stress.to_s); end'
    out, status = run_task_on_suite("test:stress", "#{tu}; Test::Unit::AutoRunner.run") { |seen| assert_equal "false", File.read(seen) }
    refute status.success?, out
    assert_match(/ran their test-unit tests while loading \(Test::Unit::AutoRunner.run\), before the modes/, out)
    # Autorun turned off while loading, the tests run later from the file's
    # own at_exit: under the modes, and it passes.
    code = "#{tu}; Test::Unit::AutoRunner.need_auto_run = false; at_exit { exit Test::Unit::AutoRunner.run }"
    out, status = run_task_on_suite("test:stress", code) { |seen| assert_equal "true", File.read(seen) }
    assert status.success?, out
    # A review of that fix: loading cleat/testing before the files took its
    # class methods away from suites that call them while loading.
    code = 'require "minitest/autorun"; require "cleat/testing"; class TestX < Minitest::Test; ' \
           "cleat_skip_in_mode :stress, :test_y, reason: 'not stressed'; " \
           "def test_x = File.write(ENV.fetch('SEEN'), GC.stress.to_s); def test_y = flunk; end"
    out, status = run_task_on_suite("test:stress", code) { |seen| assert_equal "true", File.read(seen) }
    assert status.success?, out
    # A file that runs its tests while loading, after including the kit: stressed, and it passes.
    code = 'require "minitest"; require "cleat/testing"; class TestX < Minitest::Test; include Cleat::Testing; ' \
           "def test_x = File.write(ENV.fetch('SEEN'), GC.stress.to_s); end; exit Minitest.run([])"
    out, status = run_task_on_suite("test:stress", code) { |seen| assert_equal "true", File.read(seen) }
    assert status.success?, out
  end

  # Runs `rake task` (Cleat::RakeTasks, no extensions) on a suite of one
  # file, test/test_x.rb holding code, in an empty directory; yields the
  # file the test writes (ENV["SEEN"]) once it exists, then returns the
  # task's output and status.
  def run_task_on_suite(task, code)
    Dir.mktmpdir do |dir|
      FileUtils.mkdir_p(File.join(dir, "test"))
      File.write(File.join(dir, "test", "test_x.rb"), code)
      seen = File.join(dir, "seen")
      rake = "require 'rake'; require 'cleat/rake_tasks'; Cleat::RakeTasks.new(extensions: []); Rake::Task[#{task.inspect}].invoke"
      out, status = Open3.capture2e({ "SEEN" => seen }, RbConfig.ruby, "-I#{ROOT}/lib", "-e", rake, chdir: dir)
      assert File.exist?(seen), "the suite did not run: #{out}"
      yield seen
      [out, status]
    end
  end

  def test_the_rake_tasks_find_both_test_file_conventions
    Dir.mktmpdir do |dir|
      FileUtils.mkdir_p(File.join(dir, "test"))
      %w[test_one.rb two_test.rb helper.rb].each { |f| File.write(File.join(dir, "test", f), "") }
      code = 'require "rake"; require "cleat/rake_tasks"; print Cleat::RakeTasks.new.test_files.to_a.sort.join(",")'
      out, status = Open3.capture2e(RbConfig.ruby, "-I#{ROOT}/lib", "-e", code, chdir: dir)
      assert status.success?, out
      assert_equal "test/test_one.rb,test/two_test.rb", out
    end
  end

  # The hostile review: memsize_of includes the object's own slot, so the
  # assertion passed for an object with no memory of its own.
  def test_memsize_covers_counts_beyond_an_empty_slot
    assert_memsize_covers("x" * 4096, 4096)
    error = assert_raises(Minitest::Assertion) { assert_memsize_covers(Object.new, 1) }
    assert_match(/memsize_of\(Object\) counts 0 bytes beyond an empty object's slot, expected >= 1/, error.message)
  end
end
