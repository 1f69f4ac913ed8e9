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
    assert_reported "CleatTest::ForgetfulMark: mark function forgot field forgotten",
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

  def test_continue_mode_reports_and_goes_on
    _out, err, status = run_ruby('n = CleatTest::NoBarrier.new; n.store(+"x"); n.item; puts :alive',
                                 "CLEAT_DEBUG_CONTINUE" => "1")
    assert status.success?, err
    assert_includes err, "[cleat debug] CleatTest::NoBarrier: field item changed"
  end

  # ---- memory and marking (docs/misuse.md) ----

  def test_hand_written_mark_that_pins_a_field_the_type_moves
    assert_reported "CleatTest::PinnedMark: field item is marked but not movable (rb_gc_mark pins it; " \
                    "use rb_gc_mark_movable, which its compact callback expects)",
                    'CleatTest::PinnedMark.new(+"item")'
  end

  def test_hand_written_mark_that_moves_a_field_nothing_moves_back
    assert_reported "CleatTest::MovableMark: field item is marked movable but nothing updates it after GC.compact",
                    'CleatTest::MovableMark.new(+"item")'
  end

  def test_hand_written_mark_movable_with_a_compact_callback_is_quiet
    _out, err, status = run_ruby('m = CleatTest::MovedMark.new(+"item"); GC.start; m.item; print m.item')
    assert status.success?, err
    assert_empty err
  end

  def test_value_kept_in_an_undeclared_member
    assert_reported "CleatTest::Undeclared#keep left VALUE String in an undeclared member at offset 8: " \
                    "declare it with CLEAT_FIELD",
                    'CleatTest::Undeclared.new.keep(+"heap object")'
  end

  # Plain members holding what only looks like a VALUE: the raw bits of a
  # Fixnum, a number aligned like an address, a pointer to a String's bytes,
  # immediates; and a member the type's own .mark callback marks.
  def test_undeclared_members_without_heap_objects_are_quiet
    _out, err, status = run_ruby(<<~RUBY)
      u = CleatTest::Undeclared.new
      u.keep_bits(42)
      u.keep_number(4096)
      u.keep_number(2**40)
      s = +"abc"
      u.keep_bytes_of(s)
      u.keep_bytes_of("x" * 100)
      u.keep(nil)
      u.keep(:symbol)
      u.keep(1.5)
      u.store(+"declared")
      u.grow(10)
      CleatTest::SelfMarked.new.keep(+"marked by its .mark")
      GC.start
      print :quiet
    RUBY
    assert status.success?, err
    assert_empty err
  end

  def test_region_member_that_is_not_declared
    assert_reported "CleatTest::Undeclared: cleat_region at offset 56 is not declared; its memory leaks",
                    "CleatTest::Undeclared.new.grow_lost(10)"
  end

  # Without AddressSanitizer, a pointer kept past a resize reads the
  # quarantine's pattern, never memory reused by someone else.
  def test_stale_view_pointer_reads_the_freed_pattern
    out, err, status = run_ruby("s = CleatTest::StaleView.new(16); s.keep; s.resize(32); print s.stale_read")
    assert status.success?, err
    assert_equal 0xCE.to_s, out
  end

  def test_write_through_a_stale_view_after_a_resize
    assert_reported "CleatTest::StaleView: a write through a stale view of region bytes " \
                    "(resized in CleatTest::StaleView#resize), at byte 1",
                    "s = CleatTest::StaleView.new(16); s.keep; s.resize(32); s.stale_write(1, 1)"
  end

  def test_write_through_a_stale_view_after_a_release
    assert_reported "CleatTest::StaleView: a write through a stale view of region bytes " \
                    "(released in CleatTest::StaleView#release)",
                    "s = CleatTest::StaleView.new(16); s.keep; s.release; s.stale_write(1, 1)"
  end

  # Beyond the first 4 KiB, which methods of the class check: found when the
  # block leaves quarantine (32 blocks later, here in another class's method)...
  def test_write_through_a_stale_view_is_found_when_the_block_leaves_quarantine
    assert_reported "CleatTest::StaleView: a write through a stale view of region bytes " \
                    "(resized in CleatTest::StaleView#resize), at byte 5000",
                    "s = CleatTest::StaleView.new(8192); s.keep; s.resize(16); s.stale_write(5000, 1); " \
                    "u = CleatTest::Undeclared.new; 40.times { |i| u.grow(i + 1) }; puts :not_reached"
  end

  # ...or at exit.
  def test_write_through_a_stale_view_is_found_at_exit
    assert_reported "CleatTest::StaleView: a write through a stale view of region bytes " \
                    "(resized in CleatTest::StaleView#resize), at byte 5000",
                    "s = CleatTest::StaleView.new(8192); s.keep; s.resize(16); s.stale_write(5000, 1)"
  end

  # Under test:asan the quarantined memory is poisoned: the stale read is
  # AddressSanitizer's use-after-poison. The child reports on its stderr, not
  # into the task's report files (where a report fails the task).
  def test_stale_view_pointer_under_address_sanitizer
    skip "runs under rake test:asan" unless Cleat::Testing::Mode.current == "asan"
    options = ENV.fetch("ASAN_OPTIONS").split(":").reject { |o| o.start_with?("log_path=") }.join(":")
    _out, err, status = run_ruby("s = CleatTest::StaleView.new(16); s.keep; s.resize(32); print s.stale_read",
                                 "ASAN_OPTIONS" => options)
    refute status.success?
    assert_match(/AddressSanitizer: use-after-poison/, err)
  end

  cleat_skip_in_mode :asan, :test_stale_view_pointer_reads_the_freed_pattern,
                     :test_write_through_a_stale_view_after_a_resize,
                     :test_write_through_a_stale_view_after_a_release,
                     :test_write_through_a_stale_view_is_found_when_the_block_leaves_quarantine,
                     :test_write_through_a_stale_view_is_found_at_exit,
                     reason: "AddressSanitizer reports the stale access itself (use-after-poison)"

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
