# frozen_string_literal: true

require "test_helper"

class TestCounter < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_many_counters_under_gc_stress

  Counter = CleatExamples::Counter
  MutCounter = CleatExamples::MutCounter

  def test_new_increment_value
    c = Counter.new(5)
    assert_equal 5, c.value
    assert_equal 7, c.increment(2)
    assert_equal 4, c.increment(-3)
    assert_equal 4, c.value
  end

  def test_64_bit_limits
    assert_equal 2**63 - 1, Counter.new(2**63 - 1).value
    assert_equal(-2**63, Counter.new(-2**63).value)
    assert_equal 2**63 - 1, Counter.new(2**63 - 2).increment(1)
  end

  def test_non_integers_are_type_errors
    c = Counter.new(1)
    [1.5, nil, "1", :one, 2r, Object.new].each do |bad|
      e = assert_raises(TypeError) { c.increment(bad) }
      assert_match(/\Awrong argument type \S+ \(expected Integer\)\z/, e.message)
    end
    assert_equal "wrong argument type Float (expected Integer)", assert_raises(TypeError) { Counter.new(1.0) }.message
    assert_equal "wrong argument type nil (expected Integer)", assert_raises(TypeError) { c.increment(nil) }.message
    assert_equal 1, c.value
  end

  def test_out_of_range_and_overflow_leave_value_unchanged
    c = Counter.new(10)
    e = assert_raises(RangeError) { c.increment(2**63) }
    assert_equal "integer 9223372036854775808 out of range of int64", e.message
    assert_raises(RangeError) { c.increment(-2**63 - 1) }
    assert_equal "integer too big for int64", assert_raises(RangeError) { c.increment(10**100) }.message
    assert_equal 10, c.value

    big = Counter.new(2**63 - 1)
    assert_equal "result too large", assert_raises(RangeError) { big.increment(1) }.message
    assert_equal 2**63 - 1, big.value
    small = Counter.new(-2**63)
    assert_raises(RangeError) { small.increment(-1) }
    assert_equal(-2**63, small.value)
  end

  def test_arity_is_checked_by_ruby
    assert_raises(ArgumentError) { Counter.new }
    assert_raises(ArgumentError) { Counter.new(1).increment }
    assert_raises(ArgumentError) { Counter.new(1).value(1) }
  end

  def test_frozen_counter_reads_but_refuses_writes
    c = Counter.new(3).freeze
    assert_equal 3, c.value
    e = assert_raises(FrozenError) { c.increment(1) }
    assert_match(/\Acan't modify frozen CleatExamples::Counter/, e.message)
    assert_same c, e.receiver
    assert_equal 3, c.value
  end

  def test_dup_and_clone_copy_the_struct
    c = Counter.new(3)
    d = c.dup
    d.increment(10)
    assert_equal [3, 13], [c.value, d.value]
    frozen = c.clone(freeze: true)
    assert_predicate frozen, :frozen?
    assert_equal 3, frozen.value
    assert_raises(FrozenError) { frozen.increment(1) }
  end

  def test_mut_counter
    m = MutCounter.new(1)
    assert_equal 1, m.count
    assert_equal 2, m.increment
    assert_equal 42, m.add(40)
    assert_equal "result too large", assert_raises(RangeError) { m.add(2**63 - 1) }.message
    assert_equal 42, m.count
    assert_raises(TypeError) { m.add(1.5) }
    assert_raises(RangeError) { MutCounter.new(2**63 - 1).increment }
    assert_raises(FrozenError) { MutCounter.new(1).freeze.increment }
  end

  def test_counter_and_mut_counter_are_different_types
    refute_same Counter, MutCounter
    assert_raises(TypeError) { Counter.instance_method(:value).bind_call(MutCounter.new(1)) }
  end

  def test_many_counters_under_gc_stress
    with_gc_stress do
      counters = Array.new(50) { |i| Counter.new(i) }
      counters.each { |c| c.increment(1) }
      assert_equal (1..50).to_a, counters.map(&:value)
    end
  end
end
