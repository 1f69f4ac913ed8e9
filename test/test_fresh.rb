# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"

# Nothing observable half-built (issue 14, item 7): declared fields start as
# nil, never as the zero word Ruby reads as false; an object becomes usable
# only once whatever makes it (initialize, cleat_type_new + cleat_type_ready,
# dup/clone) has finished, and a declared non-nil field is never left nil.
class TestFresh < Minitest::Test
  def test_zero_is_valid_exception_fields_start_as_nil
    e = CleatTest::DetailedError.new("x")
    assert_nil e.detail
    assert_nil CleatTest::DetailedError.allocate.detail
    assert_nil e.clone.detail
    raised = assert_raises(CleatTest::DetailedError) { raise CleatTest::DetailedError, "boom" }
    assert_nil raised.detail
  end

  def test_zero_is_valid_type_with_a_field_refusing_nil_cannot_be_defined
    e = assert_raises(ArgumentError) { CleatTest.define_zero_valid_refusing_nil }
    assert_match(/CleatTest::ZeroRefusingNil: CLEAT_ZERO_IS_VALID .* field name refuses nil/, e.message)
    refute CleatTest.const_defined?(:ZeroRefusingNil, false)
  end

  def test_a_copy_callback_gets_nil_fields
    copy = CleatTest::Labelled.new("a", 5).dup
    assert_equal "a", copy.label
    assert_nil copy.extra # the callback never copies it
  end

  def test_a_copy_that_leaves_a_declared_field_nil_is_refused
    original = CleatTest::Labelled.new("forget", 1)
    e = assert_raises(TypeError) { original.dup }
    assert_equal "CleatTest::Labelled: the copy callback left field label nil (declared String, not nil)", e.message
    assert_raises(TypeError) { original.clone }
    assert_equal "forget", original.label
  end

  def test_an_initializer_that_leaves_a_declared_field_nil_is_refused
    e = assert_raises(TypeError) { CleatTest::ForgettingLabelled.new(1) }
    assert_equal "CleatTest::Labelled: #initialize left field label nil (declared String, not nil)", e.message
    assert_uninitialized_everywhere(CleatTest::ForgettingLabelled)
  end

  def test_new_objects_are_usable_only_once_ready
    assert_equal :v, CleatTest.make_holder(:v).value
    e = assert_raises(TypeError) { CleatTest.make_labelled_unfilled }
    assert_equal "CleatTest::Labelled: cleat_type_ready left field label nil (declared String, not nil)", e.message
    assert_equal "already initialized CleatTest::Holder", assert_raises(TypeError) { CleatTest.ready_twice(1) }.message
  end

  def test_an_object_whose_filling_raised_is_never_usable
    marker = Object.new
    GC.disable
    begin
      assert_raises(RangeError) { CleatTest.make_holder_then_raise(marker) }
      found = ObjectSpace.each_object(CleatTest::Holder).select do |h|
        h.value.equal?(marker)
      rescue TypeError => e
        assert_match(/uninitialized CleatTest::Holder/, e.message)
        false
      end
      assert_empty found, "the half-built Holder is usable"
    ensure
      GC.enable
    end
  end

  # Found through ObjectSpace (as hostile code can), a half-built object
  # raises TypeError from every method, in a child process that must not crash.
  def test_half_built_slices_found_by_object_space_raise
    script = <<~RUBY
      require "cleat_examples"
      m = CleatExamples::Memory.new(1)
      ObjectSpace.each_object(CleatExamples::MemorySlice) { |s| (s.to_str rescue TypeError) }
      s = CleatExamples::MemorySlice.allocate
      begin; s.to_str; rescue TypeError => e; puts e.message; end
      puts m.slice(0, 4).to_str.bytesize
    RUBY
    out, err, status = Open3.capture3(RbConfig.ruby, *$LOAD_PATH.map { |d| "-I#{d}" }, "-e", script)
    refute_match(/\[BUG\]|Segmentation fault/, err)
    assert status.success?, err
    assert_equal "uninitialized CleatExamples::MemorySlice\n4\n", out
  end

  def assert_uninitialized_everywhere(klass)
    ObjectSpace.each_object(klass) do |obj|
      assert_raises(TypeError) { obj.label }
    end
  end

  run_every_test_under_gc_stress except: %i[test_half_built_slices_found_by_object_space_raise]
end
