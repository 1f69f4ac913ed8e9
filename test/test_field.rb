# frozen_string_literal: true

require "test_helper"

# cleat_write and cleat_values through the test extension's Holder.
class TestField < Minitest::Test
  # An index that runs Ruby code when converted.
  ToInt = Struct.new(:block) do
    def to_int = block.call
  end

  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_values_survive_gc_stress_while_growing,
                              :test_elements_replaced_in_an_old_holder_survive_minor_gcs,
                              :test_values_after_compaction,
                              :test_known_stores_into_an_old_object_survive_minor_gcs

  Holder = CleatTest::Holder

  def test_any_field_takes_anything
    h = Holder.new(nil)
    [1, "s", :sym, 1.5, Object.new].each do |v|
      assert_same v, h.set(v)
      assert_same v, h.value
    end
    assert_nil h.set(nil)
    assert_nil h.value
  end

  def test_writing_an_undeclared_slot_is_an_argument_error
    e = assert_raises(ArgumentError) { Holder.new(1).write_undeclared(2) }
    assert_equal "cleat_write: the slot is not a declared VALUE field of CleatTest::Holder", e.message
  end

  def test_values_push_get_clear
    h = Holder.new(nil)
    assert_equal [], h.list
    100.times { |i| assert_equal i + 1, h.push("item #{i}") }
    assert_equal "item 42", h.at(42)
    e = assert_raises(IndexError) { h.at(100) }
    assert_equal "index 100 outside of 100 elements", e.message
    assert_raises(RangeError) { h.at(-1) }
    assert_raises(IndexError) { h.replace_element(100, 1) }
    h.clear
    assert_equal [], h.list
    assert_equal 1, h.push(:again)
  end

  def test_values_survive_gc_stress_while_growing
    h = Holder.new(nil)
    with_gc_stress { 40.times { |i| h.push("stress #{i}") } }
    assert_equal Array.new(40) { |i| "stress #{i}" }, h.list
  end

  def test_elements_replaced_in_an_old_holder_survive_minor_gcs
    h = Holder.new(nil)
    5.times { h.push(nil) }
    promote(h)
    5.times { |i| h.replace_element(i, +"young #{i}") }
    h.set(+"young value")
    minor_gcs
    assert_equal Array.new(5) { |i| "young #{i}" }, h.list
    assert_equal "young value", h.value
  end

  def test_values_after_compaction
    h = Holder.new(+"value")
    50.times { |i| h.push("moved #{i}") }
    compact_heap
    assert_equal Array.new(50) { |i| "moved #{i}" }, h.list
    assert_equal "value", h.value
  end

  # ---- cleat_write_known: the caller vouches for the class ----

  Defaults = CleatTest::Defaults

  def test_known_store_stores
    d = Defaults.new
    assert_same d, d.rename_known("renamed")
    assert_equal "renamed", d.name
  end

  def test_known_store_into_a_values_element
    h = Holder.new(nil)
    h.push(1)
    h.push(2)
    assert_equal :two, h.replace_known(1, :two)
    assert_equal [1, :two], h.list
  end

  def test_known_store_into_an_undeclared_slot_is_an_argument_error
    d = Defaults.new
    e = assert_raises(ArgumentError) { d.store_known_undeclared(+"x") }
    assert_equal "cleat_write_known: the slot is not a declared VALUE field of CleatTest::Defaults", e.message
    assert_equal 7, d.count
  end

  def test_known_store_into_an_object_frozen_by_the_block
    d = Defaults.new
    ran = false
    e = assert_raises(FrozenError) do
      d.store_known_after_yield do
        ran = true
        d.freeze
      end
    end
    assert ran
    assert_match(/can't modify frozen CleatTest::Defaults/, e.message)
    assert_nil d.label
  end

  def test_known_stores_into_an_old_object_survive_minor_gcs
    d = promote(Defaults.new)
    d.rename_known(+"young name")
    minor_gcs
    assert_equal "young name", d.name
  end

  # In a release build a broken promise is stored as told (a debug build
  # aborts instead: test_debug.rb); the GC still marks the field.
  def test_release_build_stores_a_wrong_class_as_told
    skip "debug builds report it (test_debug.rb)" if CleatTest.debug_build?
    d = Defaults.new
    d.store_known(12_345)
    GC.start
    assert_equal 12_345, d.name
  end

  # The tenth review, C side: a list's len raised past its room by hand
  # (an append by hand): cleat_write took the slot past the buffer, and every
  # loop over the list, the GC's marking included, ran off it ([BUG] or heap
  # corruption). Release builds refuse the store and stop at the buffer's
  # end, where the slots hold false (a debug build reports it: test_debug).
  def test_release_build_stops_at_the_buffer_of_a_list_whose_len_was_raised
    skip "debug builds report it (test_debug.rb)" if CleatTest.debug_build?
    u = CleatTest::Undo.new
    u.push(+"a")
    e = assert_raises(ArgumentError) { u.append_past_the_room(+"b") }
    assert_equal "cleat_write: the slot is not a declared VALUE field of CleatTest::Undo", e.message
    3.times { GC.start }
    GC.compact if GC.respond_to?(:compact)
    assert_equal ["a", false, false, false], u.items
    e = assert_raises(RuntimeError) { u.push(+"c") }
    assert_equal "cleat_values_push: field items of CleatTest::Undo holds 5 elements in room for 4: its len was " \
                 "changed by hand (only cleat_values_push and cleat_values_clear change it)", e.message
    # A review of that fix: the slots a clear forgot kept their objects,
    # which the GC then freed (a String took one over).
    v = CleatTest::Undo.new
    2.times { v.push(Object.new) }
    v.clear_then_push(1)
    3.times { GC.start }
    assert_raises(ArgumentError) { v.append_past_the_room(2) }
    assert_equal [1, false, false, false], v.items
  end

  # Found by the hostile review: a view's owner was an ordinary declared
  # field, so a store could replace it and leave the view's region pointer
  # inside the old owner's struct, kept alive by nothing.
  # Found by the hostile review: a shared method of a view took its bytes,
  # then converted an index, whose to_int released the owner's memory; the
  # method read freed memory. The conversion now lends the owner too.
  def test_a_conversion_lends_the_owner_of_the_views_the_method_holds
    block = CleatTest::Block.new(8).fill(65)
    window = CleatTest::Window.new(block)
    runs = 0
    index = ToInt.new(lambda {
      runs += 1
      e = assert_raises(Cleat::BorrowError) { block.release }
      assert_match(/CleatTest::Block is borrowed by #read_at; #release needs it exclusively/, e.message)
      3
    })
    assert_equal 65, window.read_at(index)
    assert_equal 1, runs
    block.release
    assert_raises(Cleat::StaleReferenceError) { window.read_at(0) }
  end

  # ...and a view whose owner was lent by a fiber collected since (an
  # enumerator abandoned in a thread) takes the loan back itself, as a door
  # on the owner would: a program may use only the view.
  def test_a_view_returns_the_loan_of_a_collected_fiber
    block = CleatTest::Block.new(8)
    window = CleatTest::Window.new(block)
    suspended = false
    Thread.new do
      enum = Enumerator.new { |y| block.fill(ToInt.new(-> { y << 1; 1 })) }
      enum.next
      suspended = true
    end.join
    assert suspended
    # GC from several stack depths (collect_until): at one depth a stale
    # copy of the fiber's address may keep it alive (a flake in test:release).
    returned = collect_until do
      window.size
    rescue Cleat::BorrowError
      false
    end
    assert returned, "the view stayed refused after its owner's loan holder was collected"
  end

  def test_only_cleat_view_init_stores_a_views_owner
    window = CleatTest::Window.new(CleatTest::Block.new(16))
    other = CleatTest::Block.new(4)
    runs = 0
    %i[swap_owner swap_owner_known].each do |swap|
      e = assert_raises(ArgumentError, swap) { window.public_send(swap, other) }
      runs += 1
      assert_match(/field view\.owner of CleatTest::Window is a view's owner: set the view with cleat_view_init/, e.message)
    end
    assert_equal 2, runs
    GC.start
    assert_equal 16, window.size
  end

  # A check of the wrong type used to fall to a _Generic's default branch and
  # check nothing at run time: each now fails to compile, naming the mistake.
  def fields_snippet(*fields)
    <<~C
      #include "cleat.h"
      typedef struct { VALUE a; cleat_values list; cleat_region region; } thing_t;
      static const VALUE klass_const;
      static cleat_type thing_type;
      static const cleat_field thing_fields[] = {
          #{fields.join(",
    ")},
          CLEAT_FIELDS_END};
      CLEAT_TYPE(thing_type, "T::Thing", thing_t, thing_fields);
      const cleat_type *thing(void) { return &thing_type; }
    C
  end

  # Found by a hostile review: a macro only, cleat_unwrap_mut lost its address.
  def test_the_unwrap_functions_have_addresses
    skip "compiler runs only in the default suite" unless Cleat::Testing::Mode.current.empty?
    out, status = compile_c(<<~C)
      #include "cleat.h"
      typedef void *(*unwrapper)(VALUE, const cleat_type *);
      const unwrapper unwrappers[] = {cleat_unwrap, cleat_unwrap_mut};
    C
    assert status.success?, out
  end

  def test_a_field_check_of_the_wrong_type_does_not_compile
    skip "compiler runs only in the default suite" unless Cleat::Testing::Mode.current.empty?
    good = ["CLEAT_FIELD(thing_t, a, &rb_cString)", "CLEAT_FIELD_OR_NIL(thing_t, a, &klass_const)",
            "CLEAT_FIELD(thing_t, a, &thing_type)", "CLEAT_FIELD_OR_NIL(thing_t, a, (const cleat_type *)&thing_type)",
            "CLEAT_FIELD_ANY(thing_t, a)", "CLEAT_FIELD_VALUES(thing_t, list, &rb_cArray)",
            "CLEAT_FIELD_VALUES_ANY(thing_t, list)", "CLEAT_FIELD_REGION(thing_t, region)"]
    good.each do |field|
      out, status = compile_c(fields_snippet(field))
      assert status.success?, "#{field} should compile:\n#{out}"
    end
    bad = {
      "CLEAT_FIELD(thing_t, a, rb_cString)" => "Cleat field a: the check rb_cString is a class, not its address: " \
                                               "write &rb_cString",
      "CLEAT_FIELD_VALUES(thing_t, list, rb_cArray)" => "the check rb_cArray is a class, not its address",
      "CLEAT_FIELD_OR_NIL(thing_t, a, thing_type)" => "Cleat field a: the check thing_type is a cleat_type, not " \
                                                      "its address: write &thing_type",
      'CLEAT_FIELD(thing_t, a, "String")' => "is a string: write the address of the class (&rb_cString) or of the type (&person_type)",
      "CLEAT_FIELD(thing_t, a, NULL)" => "must be the address of a class (&rb_cString) or of a cleat_type " \
                                         "(&person_type); a field without a check is CLEAT_FIELD_ANY",
      "CLEAT_FIELD(thing_t, a, 0)" => "Cleat field a: the check 0 must be the address of a class",
      "CLEAT_FIELD(thing_t, a, &thing_fields)" => "the check &thing_fields must be the address of a class"
    }
    bad.each do |field, message|
      out, status = compile_c(fields_snippet(field))
      refute status.success?, "#{field} compiled"
      assert_includes out, message, field
      assert_equal 1, out.scan("static assertion failed").size, "#{field}: one error, not a cascade:\n#{out}"
    end
  end
end
