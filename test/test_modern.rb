# frozen_string_literal: true

require "test_helper"

Warning[:experimental] = false # Ractor

# What newer Rubies offer: declarative marking (3.3+) and Ractors.
class TestModern < Minitest::Test
  Person = CleatExamples::Person
  DECLARATIVE = RUBY_VERSION >= "3.3" # the feature itself is detected by mkmf; this is the expectation

  def test_declarative_marking_only_where_the_type_asks_and_ruby_has_it
    refute CleatTest.declarative?(Person.new("a", [])) # Cleat's callbacks are faster
    refute CleatTest.declarative?(CleatExamples::Memory.new(0))
    refute CleatTest.declarative?(CleatExamples::Game.new) # counted players: callbacks
    refute CleatTest.declarative?(CleatExamples::Counter.new(1)) # nothing to mark at all
    refute CleatTest.gc_marks?(CleatExamples::Counter.new(1))
  end

  def test_people_on_the_callbacks_survive_stress_and_compaction
    people = with_gc_stress { Array.new(20) { |i| Person.new("p#{i}", ["h#{i}"]) } }
    people.each_cons(2) { |a, b| a.add_friend(b) }
    assert CleatTest.gc_marks?(people.first)
    compact_heap
    GC.start
    assert_equal Array.new(20) { |i| ["p#{i}", ["h#{i}"]] }, people.map { |p| [p.name, p.hobbies] }
    assert_same people[1], people[0].friend
  end

  def test_decl_marking_hands_the_fields_to_ruby_where_it_can
    pairs = with_gc_stress { Array.new(20) { |i| CleatTest::DeclPair.new("l#{i}", ["r#{i}"]) } }
    assert_equal DECLARATIVE, CleatTest.declarative?(pairs.first)
    compact_heap
    GC.start
    assert_equal Array.new(20) { |i| ["l#{i}", ["r#{i}"]] }, pairs.map(&:to_a)
  end

  def test_make_shareable_deep_freezes_a_person
    alice = Person.new(+"Alice", [+"chess"])
    bob = Person.new(+"Bob", [])
    alice.add_friend(bob)
    assert_same alice, Ractor.make_shareable(alice)
    assert Ractor.shareable?(alice)
    assert_predicate alice, :frozen?
    assert_predicate alice.name, :frozen?
    assert_predicate alice.hobbies.first, :frozen?
    assert_predicate bob, :frozen?
    assert_raises(FrozenError) { alice.add_friend(alice) }
  end

  def test_unshareable_fields_and_types_refuse
    person = Person.new("Mallory", [Mutex.new])
    assert_raises(Ractor::Error) { Ractor.make_shareable(person) }
    assert_raises(Ractor::Error) { Ractor.make_shareable(CleatExamples::Game.new) }
    refute Ractor.shareable?(CleatExamples::Counter.new(1))
  end

  def test_another_ractor_reads_a_shared_person_and_cannot_write_it
    alice = Ractor.make_shareable(Person.new("Alice", ["chess"]))
    result = Ractor.new(alice) do |p|
      write = begin
        p.add_friend(p)
        :written
      rescue FrozenError => e
        e.class
      end
      [p.name, p.hobbies, write]
    end.take
    assert_equal ["Alice", ["chess"], FrozenError], result
  end

  def test_cleat_objects_live_in_other_ractors
    result = Ractor.new do
      game = CleatExamples::Game.new
      game.add_player("Ractor")
      borrowed = begin
        game.each_player { game.add_player("again") }
      rescue Cleat::BorrowError => e
        e.message
      end
      [game.players, borrowed, CleatExamples::Counter.new(1).increment(2)]
    end.take
    assert_equal [["Ractor"], "CleatExamples::Game is borrowed by #each_player; #add_player needs it exclusively", 3],
                 result
  end

  # A frozen object may be shared between Ractors, whose loans would race on
  # its state word: each_player reads it without lending it. (A conflicting
  # call cannot show a shared loan here, frozen refuses every writer first:
  # CleatTest.loans reads the state word.)
  def test_frozen_objects_take_no_loans
    game = CleatExamples::Game.new
    game.add_player("A")
    lent = []
    game.each_player { lent << CleatTest.loans(game) }
    assert_equal [[1, false]], lent, "an unfrozen game is lent shared to the block"
    game.freeze
    names = []
    lent = []
    game.each_player do |n|
      names << n << game.players.size
      lent << CleatTest.loans(game)
    end
    assert_equal ["A", 1], names
    assert_equal [[0, false]], lent, "a frozen game took a loan"
  end
end
