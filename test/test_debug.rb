# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"

# Each debug check, proven by a deliberately broken type of the test
# extension: the report must name the class (and field), and the process
# must abort. Each case runs in its own Ruby.
class TestDebug < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_missing_write_barrier_is_found_at_the_next_call,
                              :test_missing_write_barrier_is_found_by_the_gc,
                              :test_immediates_need_no_barrier,
                              :test_hand_written_mark_that_forgets_a_field,
                              :test_cleat_called_from_a_free_immediately_free_callback,
                              :test_ruby_called_from_a_free_immediately_free_callback,
                              :test_exclusive_method_returning_while_lent_out,
                              :test_cleat_called_without_the_gvl,
                              :test_continue_mode_reports_and_goes_on

  LIBS = $LOAD_PATH.select { |dir| File.exist?(File.join(dir, "cleat_test.so")) || dir.end_with?("/lib") }

  def run_ruby(code, env = {})
    Open3.capture3(env, RbConfig.ruby, *LIBS.map { |dir| "-I#{dir}" }, "-rcleat_test", "-e", code)
  end

  def assert_reported(message, code)
    _out, err, status = run_ruby(code)
    assert_includes err, "[cleat debug] #{message}", err
    refute status.success?, "the process should abort"
    assert_equal "ABRT", Signal.signame(status.termsig.to_i) if status.signaled?
  end

  def test_this_is_a_debug_build
    assert CleatTest.debug_build?
  end

  def test_missing_write_barrier_is_found_at_the_next_call
    assert_reported "CleatTest::NoBarrier: field item changed without cleat_write (missing write barrier)",
                    'n = CleatTest::NoBarrier.new; n.store(+"heap object"); n.item'
  end

  def test_missing_write_barrier_is_found_by_the_gc
    assert_reported "CleatTest::NoBarrier: field item changed without cleat_write",
                    'n = CleatTest::NoBarrier.new; n.store(+"heap object"); GC.start'
  end

  def test_immediates_need_no_barrier
    _out, err, status = run_ruby('n = CleatTest::NoBarrier.new; n.store_nil; n.item; GC.start; n.store(42); n.item')
    assert status.success?, err
    assert_empty err
  end

  def test_known_store_of_a_value_the_field_refuses
    assert_reported "CleatTest::Defaults: cleat_write_known stored Integer into field name (declared String)",
                    "CleatTest::Defaults.new.store_known(42)"
  end

  def test_known_store_of_a_value_the_field_accepts_is_quiet
    _out, err, status = run_ruby('d = CleatTest::Defaults.new; d.store_known(+"fine"); GC.start; print d.name')
    assert status.success?, err
    assert_empty err
  end

  def test_hand_written_mark_that_forgets_a_field
    assert_reported "CleatTest::ForgetfulMark: the mark callback left field forgotten unmarked (forgotten)",
                    'o = CleatTest::ForgetfulMark.new(+"kept", +"forgotten")'
  end

  def test_cleat_called_from_a_free_immediately_free_callback
    assert_reported "CleatTest::CallsFromFree: its free callback called cleat_str_binary",
                    'def make = CleatTest::CallsFromFree.new(false); 10.times { make }; ' \
                    '5.times { GC.start(full_mark: true, immediate_sweep: true) }'
  end

  def test_ruby_called_from_a_free_immediately_free_callback
    _out, err, status = run_ruby('def make = CleatTest::CallsFromFree.new(true); 10.times { make }; ' \
                                 '5.times { GC.start(full_mark: true, immediate_sweep: true) }')
    refute status.success?
    assert_includes err, "[cleat debug] CleatTest::CallsFromFree: its free callback called the Ruby API", err
  end

  def test_exclusive_method_returning_while_lent_out
    assert_reported "CleatTest::Holder#leave_lent returned while the object is still lent out (by #yield_shared)",
                    "CleatTest::Holder.new(1).leave_lent"
  end

  def test_cleat_called_without_the_gvl
    assert_reported "CleatTest::Holder: cleat_str_binary called without the GVL",
                    "CleatTest::Holder.new(1).cleat_without_gvl"
  end

  # Found by the hostile review: dup copied the fields, then allocated the
  # cleat_values buffer, and a GC there saw the copied fields as stores
  # without cleat_write.
  def test_a_gc_inside_dup_reports_nothing
    out, err, status = run_ruby(<<~RUBY)
      h = CleatTest::Holder.new(+"value")
      h.push(1)
      GC.stress = true
      copy = h.dup
      GC.stress = false
      p [copy.value, copy.list]
    RUBY
    assert status.success?, err
    assert_equal "[\"value\", [1]]\n", out
    refute_includes err, "[cleat debug]"
  end

  def test_continue_mode_reports_and_goes_on
    _out, err, status = run_ruby('n = CleatTest::NoBarrier.new; n.store(+"x"); n.item; puts :alive',
                                 "CLEAT_DEBUG_CONTINUE" => "1")
    assert status.success?, err
    assert_includes err, "[cleat debug] CleatTest::NoBarrier: field item changed"
  end

  # Every test above, by name: rake test:release builds without the checks.
  cleat_skip_in_mode :release, *public_instance_methods(false).grep(/\Atest_/),
                     reason: "release builds compile the debug checks out"

  # ...and in their place, proof that rake test:release tests what it says:
  # the builds loaded here and in a child have no checks, so a missing write
  # barrier goes unreported.
  def test_release_mode_loads_release_builds
    skip "runs under rake test:release" unless Cleat::Testing::Mode.current == "release"
    refute CleatTest.debug_build?, "CleatTest is a debug build"
    out, err, status = run_ruby('n = CleatTest::NoBarrier.new; n.store(+"x"); n.item; print CleatTest.debug_build?')
    assert status.success?, err
    assert_equal "false", out
    refute_includes err, "[cleat debug]"
  end
end
