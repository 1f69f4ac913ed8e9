# frozen_string_literal: true

require "test_helper"

# What Cleat derives from a type description: allocation, initialisation
# state, copying, memsize, hand-written callbacks, alignment.
class TestType < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_hand_written_mark_keeps_its_value,
                              :test_member_by_member_copy_keeps_no_buffer_of_the_hook

  Counter = CleatExamples::Counter

  def test_allocated_objects_raise_from_every_method
    {
      CleatExamples::Counter => [[:value], [:increment, 1]],
      CleatExamples::MutCounter => [[:count], [:increment], [:add, 1]],
      CleatExamples::Game => [[:players], [:score], [:add_player, "A"], [:next_player_scores, 1], [:each_player]],
      CleatTest::Holder => [[:value], [:set, 1], [:yield_shared, 1]]
    }.each do |klass, calls|
      obj = klass.allocate
      calls.each do |name, *args|
        e = assert_raises(TypeError) { obj.public_send(name, *args) {} }
        assert_equal "uninitialized #{klass}", e.message
      end
    end
  end

  def test_initialize_twice_is_refused
    c = Counter.new(1)
    e = assert_raises(TypeError) { c.send(:initialize, 5) }
    assert_equal "already initialized CleatExamples::Counter", e.message
    assert_equal 1, c.value
  end

  def test_initialize_on_a_frozen_allocated_object
    c = Counter.allocate.freeze
    assert_raises(FrozenError) { c.send(:initialize, 5) }
  end

  def test_subclasses_share_the_type
    sub = Class.new(Counter) { def double = increment(value) }
    c = sub.new(2)
    assert_equal 4, c.double
    e = assert_raises(TypeError) { sub.allocate.value }
    assert_match(/\Auninitialized #<Class:/, e.message)
  end

  def test_copy_of_uninitialized_or_mismatched_objects
    assert_equal "uninitialized CleatExamples::Counter", assert_raises(TypeError) { Counter.allocate.dup }.message
    c = Counter.new(1)
    e = assert_raises(TypeError) { c.send(:initialize_copy, Counter.new(2)) }
    assert_equal "already initialized CleatExamples::Counter", e.message
    e = assert_raises(TypeError) { Counter.allocate.send(:initialize_copy, CleatExamples::MutCounter.new(1)) }
    assert_equal "initialize_copy should take same class object", e.message
    assert_same c, c.send(:initialize_copy, c)
  end

  def test_copy_callback_makes_an_independent_copy
    tag = +"tag"
    n = CleatTest::Native.new(64, tag)
    copy = n.dup
    assert_equal 64, copy.length
    assert_same tag, copy.tag
    refute copy.same_bytes?(n)
    assert n.same_bytes?(n)
  end

  def test_copyable_values_get_their_own_buffer
    h = CleatTest::Holder.new(:v)
    3.times { |i| h.push(i) }
    copy = h.dup
    copy.push(:only_in_copy)
    copy.replace_element(0, :changed)
    assert_equal [0, 1, 2], h.list
    assert_equal [:changed, 1, 2, :only_in_copy], copy.list
    assert_equal :v, copy.value
  end

  def test_memsize_covers_struct_and_native_memory
    n = CleatTest::Native.new(1_000_000, :tag)
    assert_operator ObjectSpace.memsize_of(n), :>=, 1_000_000 + 3 * 8
    assert_operator ObjectSpace.memsize_of(Counter.new(1)), :>=, 8
  end

  def test_hand_written_mark_keeps_its_value
    n = CleatTest::Native.new(16, "tag #{rand(100)}")
    with_gc_stress { 10.times { CleatTest::Native.new(8, +"junk") } }
    compact_heap
    GC.start
    assert_match(/\Atag \d+\z/, n.tag)
  end

  def test_struct_alignment_is_respected
    5.times { assert_equal 0, CleatTest::Aligned.new.address_mod16 }
  end

  def test_objects_made_from_c_are_initialized
    h = CleatTest.make_holder(+"made in C")
    assert_equal "made in C", h.value
    assert CleatTest.holder?(h)
    refute CleatTest.holder?(Counter.new(1))
    refute CleatTest.holder?(nil)
    refute CleatTest.holder?("string")
  end

  def test_inconsistent_descriptions_are_refused
    e = assert_raises(ArgumentError) { CleatTest.define_copyable_with_free }
    assert_match(/CleatTest::Leaky: CLEAT_COPYABLE .* give the type a copy callback/, e.message)
  end

  # The seventh hostile review: a field list without CLEAT_FIELDS_END was
  # read past its end (a crash at load, or the next type's fields taken for
  # its own); a second type naming a class another type defined took its
  # allocator over, silently, though cleat.h promised TypeError.
  def test_a_field_list_without_its_end_and_a_class_path_taken_are_refused
    e = assert_raises(ArgumentError) { CleatTest.define_unended_type }
    assert_equal "CleatTest::Unended: its field list does not end with CLEAT_FIELDS_END (add it after the last field)",
                 e.message
    refute CleatTest.const_defined?(:Unended, false), "the class was defined all the same"
    e = assert_raises(TypeError) { CleatTest.define_holder_again }
    assert_match(/\ACleatTest::Holder is already the class of another Cleat type/, e.message)
    assert_equal 5, CleatTest::Holder.new(5).value, "the first type lost its class"
    refute_includes CleatTest::Holder.instance_variables.map(&:to_s), "__cleat_type__"
  end

  # The eighth hostile review: a class path whose constant Ruby code pointed
  # at String before the extension loaded gave String Cleat's allocator,
  # and String's own methods crashed on what String.allocate made. A class
  # C code made with an allocator of its own is refused the same way; one
  # Ruby code defined with the same name and superclass is fine (a gem's
  # lib/ often defines the class before requiring its extension).
  def test_a_class_path_naming_a_class_cleat_did_not_make_is_refused
    CleatTest.const_set(:Aliased, String)
    e = assert_raises(TypeError) { CleatTest.define_aliased }
    assert_equal "CleatTest::Aliased is String, a class of another name: a Cleat type needs a class of its own", e.message
    assert_equal "xy", String.allocate << "x" << "y"
    assert_equal "ab", "a".dup << "b"
    e = assert_raises(TypeError) { CleatTest.define_over_raw }
    assert_equal "CleatTest::RawNamed has an allocator of its own (C code made the class): a Cleat type needs a class " \
                 "of its own", e.message
    assert_kind_of Object, CleatTest::RawNamed.allocate
    CleatTest.const_set(:Predefined, Class.new { def greet = "hi" })
    old = CleatTest::Predefined.new
    assert_equal CleatTest::Predefined, CleatTest.define_predefined
    made = CleatTest::Predefined.new
    assert [CleatTest.predefined?(made), CleatTest.predefined?(old), made.greet] == [true, false, "hi"]
  ensure
    CleatTest.send(:remove_const, :Aliased) if CleatTest.const_defined?(:Aliased, false)
  end

  # The eighth review, C side: a .copy callback that copies the struct whole
  # left the copy sharing the original's cleat_values buffer (or region),
  # and both objects freed it: a crash or a double free in either build.
  # The copy is refused now, and forgets what is not its own.
  def test_a_copy_sharing_the_originals_memory_is_refused
    values = CleatTest::SharedValues.new.push("a").push("b")
    e = assert_raises(TypeError) { values.dup }
    assert_equal "CleatTest::SharedValues: its copy callback left field items sharing the original's cleat_values " \
                 "buffer (both objects would free it): give the copy its own (cleat_values_push each element), not the " \
                 "original's pointer", e.message
    region = CleatTest::SharedRegion.new.resize(64)
    e = assert_raises(TypeError) { region.clone }
    assert_match(/\ACleatTest::SharedRegion: its copy callback left field r sharing the original's region /, e.message)
    # A review of that fix: a callback that raised after sharing skipped the
    # check, and the half-made copy freed the original's buffer.
    raising = CleatTest::SharedValues.new.push(:raise).push("b")
    assert_raises(RuntimeError) { raising.dup }
    # A second review: Ruby code the callback ran grew the original, freeing
    # the block the callback read and the copy held. The original is lent
    # (shared) while the callback runs: growing it raises.
    growing = CleatTest::SharedValues.new.push(:grow)
    grown = false
    growing.push(-> { grown = true; growing.push(0) })
    e = assert_raises(Cleat::BorrowError) { growing.dup }
    assert grown, "the callback ran the lambda"
    assert_equal "CleatTest::SharedValues is borrowed by #initialize_copy; #push needs it exclusively", e.message
    # A third: the callback then did what the refusal advises, on the field
    # it had copied: the push (the resize) freed the original's block.
    pushing = CleatTest::SharedValues.new.push(:push).push("b")
    e = assert_raises(TypeError) { pushing.dup }
    assert_equal "CleatTest::SharedValues: its copy callback pushed onto the original's cleat_values buffer of " \
                 "field items (copied with the struct: that would free it under the original): clear the copy's " \
                 "field first (d->items = (cleat_values){0}), then fill it", e.message
    resizing = CleatTest::SharedRegion.new.resize(4096).then_resize!
    e = assert_raises(TypeError) { resizing.dup }
    assert_match(/\ACleatTest::SharedRegion: its copy callback resized the original's region of field r .*\(d->r = \(cleat_region\)\{0\}\)/,
                 e.message)
    # A review of that: one field given the original's other field (d->back
    # = o->front) was compared with the same field only.
    crossed = CleatTest::CrossShared.new.push("a")
    e = assert_raises(TypeError) { crossed.dup }
    assert_match(/\ACleatTest::CrossShared: its copy callback left field back sharing the original's cleat_values buffer /,
                 e.message)
    # A review of the tenth round's fixes: the callback cleared the copied
    # field, which still held the original's buffer; the original's
    # elements were zeroed.
    clearing = CleatTest::SharedValues.new.push(:clear).push("b")
    assert_raises(TypeError) { clearing.dup }
    assert_equal [:clear, "b"], clearing.to_a
    4.times { GC.start } # the refused copies go, the originals keep theirs
    assert_equal [:push, "b", "c"], pushing.push("c").to_a
    crossed.push("b")
    assert_equal 8192, resizing.resize(8192).size
    assert_equal %w[a b c], values.push("c").to_a
    assert_equal [:raise, "b", "c"], raising.push("c").to_a
    assert_equal 3, growing.push(1).to_a.size, "the loan ended with the callback"
    region.resize(128).release
  end

  def test_every_example_type_is_wb_protected
    [Counter.new(1), CleatExamples::MutCounter.new(1), CleatExamples::Person.new("a", []),
     CleatExamples::Game.new, CleatTest::Holder.new(1)].each do |obj|
      assert_match(/"wb_protected":true/, ObjectSpace.dump(obj), obj.class.name)
    end
  end

  # ---- starting values (.init_fields) and cleat_initialized_p ----

  Defaults = CleatTest::Defaults
  Fresh = CleatTest::FreshDefaults

  def test_init_fields_gives_starting_values
    d = Defaults.new
    assert_equal "unnamed", d.name
    assert_equal [], d.items
    assert_equal 7, d.count
    assert_nil d.label # not given one: nil as ever
    refute_same d.items, Defaults.new.items
  end

  def test_init_fields_runs_once_per_allocation_and_initialize_overrides
    runs = CleatTest.defaults_hook_runs
    d = Defaults.new("given")
    assert_equal runs + 1, CleatTest.defaults_hook_runs
    assert_equal "given", d.name
    Defaults.allocate
    assert_equal runs + 2, CleatTest.defaults_hook_runs
  end

  def test_allocated_object_with_starting_values_is_still_uninitialised
    d = Defaults.allocate
    refute CleatTest.initialized?(d)
    e = assert_raises(TypeError) { d.name }
    assert_equal "uninitialized CleatTest::Defaults", e.message
    d.send(:initialize)
    assert CleatTest.initialized?(d)
    assert_equal "unnamed", d.name
  end

  def test_init_fields_that_raises_leaves_nothing_usable
    CleatTest.defaults_hook_raises = true
    e = assert_raises(RuntimeError) { Defaults.new("x") }
    assert_equal "init_fields raised", e.message
    assert_raises(RuntimeError) { Defaults.allocate }
  ensure
    CleatTest.defaults_hook_raises = false
  end

  # Hostile code may find what the hook made before it raised (the test
  # hook keeps it, as ObjectSpace.each_object could): never usable.
  def test_objects_found_after_init_fields_raised_are_not_initialised
    CleatTest.defaults_half_built
    CleatTest.defaults_hook_raises = true
    3.times { assert_raises(RuntimeError) { Defaults.new } }
    CleatTest.defaults_hook_raises = false
    found = CleatTest.defaults_half_built
    assert_equal 3, found.size
    found.each do |o|
      assert_instance_of Defaults, o
      refute CleatTest.initialized?(o)
      assert_equal "uninitialized CleatTest::Defaults", assert_raises(TypeError) { o.name }.message
      assert_equal "#<CleatTest::Defaults (uninitialized)>", o.inspect
    end
    ObjectSpace.each_object(Defaults) do |o| # whatever else the heap holds
      assert_raises(TypeError) { o.name } unless CleatTest.initialized?(o)
    end
  ensure
    CleatTest.defaults_hook_raises = false
  end

  # Even initialize refuses such an object: its body would trust the
  # starting values the hook never gave (a buffer the hook allocates, say).
  def test_objects_whose_init_fields_raised_refuse_initialize
    CleatTest.defaults_half_built
    CleatTest.defaults_hook_raises = true
    assert_raises(RuntimeError) { Defaults.new }
    CleatTest.defaults_hook_raises = false
    half = CleatTest.defaults_half_built.first
    message = "unusable CleatTest::Defaults: its init_fields or copy callback did not finish"
    assert_equal message, assert_raises(TypeError) { half.send(:initialize, "x") }.message
    assert_equal message, assert_raises(TypeError) { half.send(:initialize_copy, Defaults.new) }.message
    assert_equal "uninitialized CleatTest::Defaults", assert_raises(TypeError) { half.name }.message
    refute CleatTest.initialized?(half)
  ensure
    CleatTest.defaults_hook_raises = false
  end

  def test_copies_start_from_the_original
    d = Defaults.new("orig")
    d.items << 1
    c = d.dup
    assert_equal "orig", c.name
    assert_same d.items, c.items # member by member (CLEAT_COPYABLE)
    assert_equal 7, c.count
  end

  def test_zero_is_valid_with_init_fields_is_usable_at_once
    f = Fresh.allocate
    assert CleatTest.initialized?(Fresh.new) == false # another type: false, never raises
    assert_equal [], f.tags
    assert_equal 42, f.code
    f.code = 5
    assert_equal 5, f.dup.code
    assert_equal 5, f.clone.code
  end

  def test_zero_is_valid_copy_fills_only_an_untouched_object
    orig = Fresh.allocate
    orig.code = 9
    untouched = Fresh.allocate
    untouched.code # a shared method leaves it untouched
    assert_same untouched, untouched.send(:initialize_copy, orig)
    assert_equal 9, untouched.code
    used = Fresh.allocate
    used.code = 1
    e = assert_raises(TypeError) { used.send(:initialize_copy, orig) }
    assert_equal "already initialized CleatTest::FreshDefaults", e.message
    assert_equal 1, used.code
    e = assert_raises(TypeError) { untouched.send(:initialize_copy, orig) } # filled once is used
    assert_equal "already initialized CleatTest::FreshDefaults", e.message
  end

  # cleat_type_new hands the struct to C to fill: no longer as the hook
  # left it, so a copy may not fill it again.
  def test_zero_is_valid_object_filled_from_c_is_not_filled_again_by_a_copy
    f = Fresh.build(5)
    e = assert_raises(TypeError) { f.send(:initialize_copy, Fresh.allocate) }
    assert_equal "already initialized CleatTest::FreshDefaults", e.message
    assert_equal 5, f.code
  end

  # A member-by-member copy replaces the cleat_values its target's hook
  # filled: that buffer is freed, not lost (about 1 KiB a copy here).
  def test_member_by_member_copy_keeps_no_buffer_of_the_hook
    v = CleatTest::ListedDefaults.allocate
    assert_equal 100, v.dup.size
    GC.start
    GC.disable
    before = GC.stat(:malloc_increase_bytes)
    100.times { v.dup }
    per_copy = (GC.stat(:malloc_increase_bytes) - before) / 100
    assert_operator per_copy, :<, 1500, "each copy lost the buffer its .init_fields filled"
  ensure
    GC.enable
  end

  def test_zero_is_valid_init_fields_must_fill_fields_that_refuse_nil
    e = assert_raises(TypeError) { CleatTest::ForgettingFresh.allocate }
    assert_equal "CleatTest::ForgettingFresh: init_fields left field tags nil (declared Array, not nil)", e.message
    assert_raises(TypeError) { CleatTest::ForgettingFresh.new }
  end

  def test_initialized_p_never_raises
    [nil, 1, :sym, "str", Object.new, Defaults, CleatTest::Holder.new(1), Fresh.allocate].each do |obj|
      refute CleatTest.initialized?(obj), obj.inspect
    end
    d = Defaults.new
    assert CleatTest.initialized?(d)
    assert CleatTest.initialized?(d.freeze)
    assert(d.instance_eval { CleatTest.initialized?(self) })
  end

  def test_initialized_p_while_lent
    d = Defaults.new
    seen = nil
    d.store_known_after_yield { seen = CleatTest.initialized?(d) }
    assert_equal true, seen
  end
end
