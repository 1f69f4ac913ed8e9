# frozen_string_literal: true

require "test_helper"

class TestPerson < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_fields_read_correctly_after_compaction,
                              :test_cycles_are_collected,
                              :test_write_barrier_keeps_young_objects_stored_in_an_old_person,
                              :test_fields_survive_gc_stress,
                              :test_friend_reachable_only_through_a_person_survives

  Person = CleatExamples::Person

  def test_accessors
    hobbies = %w[chess go]
    p = Person.new("Alice", hobbies)
    assert_equal "Alice", p.name
    assert_same hobbies, p.hobbies
    assert_nil p.friend
  end

  def test_field_types_are_checked_when_written
    e = assert_raises(TypeError) { Person.new(1, []) }
    assert_equal "wrong argument type Integer for name of CleatExamples::Person (expected String)", e.message
    e = assert_raises(TypeError) { Person.new("A", "not an array") }
    assert_equal "wrong argument type String for hobbies of CleatExamples::Person (expected Array)", e.message
    e = assert_raises(TypeError) { Person.new(nil, []) }
    assert_equal "wrong argument type nil for name of CleatExamples::Person (expected String)", e.message
  end

  def test_subclasses_of_the_declared_classes_are_accepted
    name_class = Class.new(String)
    p = Person.new(name_class.new("Sub"), Class.new(Array).new)
    assert_instance_of name_class, p.name
  end

  def test_add_friend_takes_only_a_person
    alice = Person.new("Alice", [])
    bob = Person.new("Bob", [])
    assert_same alice, alice.add_friend(bob)
    assert_same bob, alice.friend
    [nil, 1, "Bob", CleatExamples::Counter.new(1)].each do |bad|
      assert_raises(TypeError) { alice.add_friend(bad) }
    end
    e = assert_raises(TypeError) { alice.add_friend(CleatExamples::Counter.new(1)) }
    assert_equal "wrong argument type CleatExamples::Counter (expected CleatExamples::Person)", e.message
    assert_equal "wrong argument type nil (expected CleatExamples::Person)",
                 assert_raises(TypeError) { alice.add_friend(nil) }.message
    e = assert_raises(TypeError) { alice.add_friend(Person.allocate) }
    assert_equal "uninitialized CleatExamples::Person", e.message
    assert_same bob, alice.friend
  end

  def test_a_person_can_be_their_own_friend
    p = Person.new("Narcissus", [])
    p.add_friend(p)
    assert_same p, p.friend
  end

  def test_fields_survive_gc_stress
    seen = with_gc_stress do
      people = Array.new(20) { |i| Person.new("name #{i}", ["hobby #{i}", "other #{i}"]) }
      people.each_cons(2) { |a, b| a.add_friend(b) }
      people.map { |p| [p.name, p.hobbies, p.friend&.name] }
    end
    expected = Array.new(20) { |i| ["name #{i}", ["hobby #{i}", "other #{i}"], i < 19 ? "name #{i + 1}" : nil] }
    assert_equal expected, seen
  end

  def test_friend_reachable_only_through_a_person_survives
    alice = Person.new("Alice", [])
    with_gc_stress do
      alice.add_friend(Person.new("Bob #{rand(10)}", ["fresh #{rand(10)}"]))
    end
    20.times { Array.new(100) { +"garbage" } }
    GC.start(full_mark: true, immediate_sweep: true)
    assert_match(/\ABob \d\z/, alice.friend.name)
    assert_match(/\Afresh \d\z/, alice.friend.hobbies.first)
  end

  def test_write_barrier_keeps_young_objects_stored_in_an_old_person
    alice = promote(Person.new("Alice", []))
    alice.add_friend(Person.new(+"young" * 3, [+"young hobby"]))
    minor_gcs
    assert_equal "youngyoungyoung", alice.friend.name
    assert_equal ["young hobby"], alice.friend.hobbies
  end

  def test_dump_shows_write_barrier_protection_and_memsize_covers_the_struct
    p = Person.new("Alice", [])
    dump = ObjectSpace.dump(p)
    assert_match(/"wb_protected":true/, dump)
    assert_match(/"struct":"CleatExamples::Person"/, dump)
    assert_operator ObjectSpace.memsize_of(p), :>=, 3 * 8 + 8
  end

  def test_cycles_are_collected
    finalized = []
    Thread.new { build_friend_cycles(50, finalized) }.join
    wait_until(10) do
      GC.start(full_mark: true, immediate_sweep: true)
      finalized.size >= 90
    end
    # Ruby's GC traces from roots, so a pair that only refers to itself is
    # garbage. (The chapter says cycles leak; they do not.)
    assert_operator finalized.size, :>=, 90
  end

  def build_friend_cycles(count, finalized)
    count.times do |i|
      a = Person.new("a#{i}", [])
      b = Person.new("b#{i}", [])
      a.add_friend(b)
      b.add_friend(a)
      ObjectSpace.define_finalizer(a, self.class.finalizer(finalized))
      ObjectSpace.define_finalizer(b, self.class.finalizer(finalized))
    end
    nil
  end

  # Built outside the instance so the proc holds no reference to a Person.
  def self.finalizer(list) = proc { list << :collected }

  def test_fields_read_correctly_after_compaction
    people = Array.new(200) { |i| Person.new("name #{i}", ["hobby #{i}"]) }
    people.each_cons(2) { |a, b| a.add_friend(b) }
    compact_heap
    assert_operator objects_moved_by_last_compaction, :>, 0
    people.each_with_index do |p, i|
      assert_equal "name #{i}", p.name
      assert_equal ["hobby #{i}"], p.hobbies
      assert_same people[i + 1], p.friend if i < 199
    end
  end

  def test_dup_is_shallow_like_ruby_objects
    hobbies = ["chess"]
    a = Person.new("Alice", hobbies)
    b = Person.new("Bob", [])
    a.add_friend(b)
    copy = a.dup
    assert_same hobbies, copy.hobbies
    assert_same b, copy.friend
    copy.add_friend(copy)
    assert_same b, a.friend
  end

  def test_uninitialized_person_raises_from_every_method
    p = Person.allocate
    %i[name hobbies friend].each do |m|
      assert_equal "uninitialized CleatExamples::Person", assert_raises(TypeError) { p.public_send(m) }.message
    end
    assert_raises(TypeError) { p.add_friend(Person.new("A", [])) }
  end

  def test_failed_initialize_leaves_the_object_uninitialized
    p = Person.allocate
    assert_raises(TypeError) { p.send(:initialize, "Alice", 1) }
    assert_raises(TypeError) { p.name }
    p.send(:initialize, "Alice", [])
    assert_equal "Alice", p.name
  end
end
