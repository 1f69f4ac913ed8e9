# frozen_string_literal: true

require "test_helper"

# cleat_ensure and CLEAT_SCRATCH: cleanup that survives exceptions.
class TestCleanup < Minitest::Test
  def cleanups_during
    before = CleatTest.cleanups
    yield
    CleatTest.cleanups - before
  end

  def test_ensure_returns_the_body_value_and_cleans_up
    result = nil
    assert_equal 1, cleanups_during { result = CleatTest.with_cleanup(21) { |x| x * 2 } }
    assert_equal 42, result
  end

  def test_ensure_cleans_up_when_the_body_raises
    ran = false
    count = cleanups_during do
      e = assert_raises(RuntimeError) do
        CleatTest.with_cleanup(1) do
          ran = true
          raise "boom"
        end
      end
      assert_equal "boom", e.message
    end
    assert ran
    assert_equal 1, count
  end

  def test_ensure_cleans_up_on_break_and_throw
    assert_equal 1, cleanups_during { assert_equal :out, CleatTest.with_cleanup(1) { break :out } }
    assert_equal 1, cleanups_during { assert_equal :thrown, catch(:t) { CleatTest.with_cleanup(1) { throw :t, :thrown } } }
  end

  def test_scratch_on_the_stack_and_on_the_heap
    assert_equal [3.5, false], CleatTest.scratch_sum([1, 2.5]) # 16 bytes: the stack
    assert_equal [0.0, false], CleatTest.scratch_sum([])
    assert_equal [2000.0, true], CleatTest.scratch_sum(Array.new(1000, 2)) # 8000 bytes: a hidden object
  end

  def test_scratch_survives_an_exception_midway
    big = Array.new(1000, 1.0) << "not a number"
    50.times { assert_raises(TypeError) { CleatTest.scratch_sum(big) } }
    GC.start
    assert_equal [1000.0, true], CleatTest.scratch_sum(big[0, 1000])
  end

  def test_scratch_sizes_are_overflow_checked
    e = assert_raises(ArgumentError) { CleatTest.scratch_count(2**64 - 1) }
    assert_equal "CLEAT_SCRATCH: 18446744073709551615 elements are more than LONG_MAX", e.message
    assert_raises(ArgumentError) { CleatTest.scratch_count(2**62) } # 2**62 * 8 overflows size_t
  end

  # ALLOCV_N evaluates its count twice: a to_int that answers 16 to the size
  # check and 2**36 to the alloca moved the stack pointer wherever it liked
  # (a hostile script aimed it at a String and wrote into it). CLEAT_SCRATCH
  # evaluates its count once.
  def test_scratch_evaluates_its_count_once
    calls = 0
    count = Object.new
    count.define_singleton_method(:to_int) { (calls += 1) == 1 ? 16 : 1 << 36 }
    assert_equal 1, CleatTest.scratch_num2sizet(count)
    assert_equal 1, calls
  end
end
