# frozen_string_literal: true

require "test_helper"

class TestConvert < Minitest::Test
  def test_int64
    assert_equal 2**63 - 1, CleatTest.to_int64(2**63 - 1)
    assert_equal(-2**63, CleatTest.to_int64(-2**63))
    assert_equal 0, CleatTest.to_int64(0)
    assert_equal(-5, CleatTest.to_int64(-5))
    assert_equal "integer 9223372036854775808 out of range of int64",
                 assert_raises(RangeError) { CleatTest.to_int64(2**63) }.message
    assert_equal "integer -9223372036854775809 out of range of int64",
                 assert_raises(RangeError) { CleatTest.to_int64(-2**63 - 1) }.message
    assert_equal "integer too big for int64", assert_raises(RangeError) { CleatTest.to_int64(-10**400) }.message
  end

  def test_uint64_and_size
    assert_equal 2**64 - 1, CleatTest.to_uint64(2**64 - 1)
    assert_equal 2**64 - 1, CleatTest.to_size(2**64 - 1)
    assert_equal "integer -1 out of range of uint64", assert_raises(RangeError) { CleatTest.to_uint64(-1) }.message
    assert_equal "integer -1 out of range of size_t", assert_raises(RangeError) { CleatTest.to_size(-1) }.message
    assert_raises(RangeError) { CleatTest.to_uint64(2**64) }
    assert_raises(RangeError) { CleatTest.to_size(-2**70) }
  end

  def test_non_integers
    [1.0, nil, true, "1", :a, 1r, 1i, Object.new].each do |v|
      %i[to_int64 to_uint64 to_size].each do |m|
        e = assert_raises(TypeError) { CleatTest.public_send(m, v) }
        assert_match(/\Awrong argument type \S+ \(expected Integer\)\z/, e.message)
      end
    end
    assert_equal "wrong argument type true (expected Integer)", assert_raises(TypeError) { CleatTest.to_int64(true) }.message
  end

  def test_check_kind
    assert CleatTest.check_kind("s", String)
    assert CleatTest.check_kind(1, Comparable)
    assert_equal "wrong argument type Symbol (expected String)",
                 assert_raises(TypeError) { CleatTest.check_kind(:s, String) }.message
  end
end
