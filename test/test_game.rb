# frozen_string_literal: true

require "test_helper"

class TestGame < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_players_survive_gc_stress_and_compaction,
                              :test_players_pushed_into_an_old_game_survive_minor_gcs,
                              :test_memsize_counts_the_players_array

  Game = CleatExamples::Game
  BORROWED = "CleatExamples::Game is borrowed by #each_player; " \
             "%s needs it exclusively"

  def game_with(*names)
    Game.new.tap { |g| names.each { |n| g.add_player(n) } }
  end

  def test_players_and_scores
    g = Game.new
    assert_equal [], g.players
    assert_equal 0, g.score
    assert_equal 1, g.add_player("Alice")
    assert_equal 2, g.add_player("Bob")
    assert_equal %w[Alice Bob], g.players
    assert_equal "Alice scored 10 points! New total: 10", g.next_player_scores(10)
    assert_equal "Bob scored 5 points! New total: 15", g.next_player_scores(5)
    assert_equal "Alice scored -3 points! New total: 12", g.next_player_scores(-3)
    assert_equal 12, g.score
  end

  def test_no_players
    e = assert_raises(RuntimeError) { Game.new.next_player_scores(1) }
    assert_equal "No players in game", e.message
  end

  def test_bad_arguments
    g = game_with("Alice")
    assert_equal "wrong argument type Integer (expected String)", assert_raises(TypeError) { g.add_player(1) }.message
    assert_raises(TypeError) { g.add_player(nil) }
    assert_raises(TypeError) { g.next_player_scores("10") }
    assert_raises(RangeError) { g.next_player_scores(2**64) }
    g.next_player_scores(2**63 - 1)
    assert_equal "result too large", assert_raises(RangeError) { g.next_player_scores(1) }.message
    assert_equal 2**63 - 1, g.score
    assert_equal %w[Alice], g.players
  end

  # Found by the fuzzer: formatting the name with rb_sprintf refused NULs.
  def test_any_string_is_a_player_name
    g = Game.new
    g.add_player("a\0b")
    g.add_player("\xFF".b)
    assert_equal "a\0b scored 1 points! New total: 1", g.next_player_scores(1)
    message = g.next_player_scores(2)
    assert_equal "\xFF scored 2 points! New total: 3".b, message
    assert_equal Encoding::BINARY, message.encoding
  end

  def test_player_names_are_frozen_copies
    name = +"Alice"
    g = game_with(name)
    name << " changed"
    assert_equal ["Alice"], g.players
    assert_predicate g.players.first, :frozen?
  end

  def test_each_player_yields_names_and_allows_reads
    g = game_with("Alice", "Bob")
    seen = []
    result = g.each_player do |name|
      seen << [name, g.players, g.score]
    end
    assert_same g, result
    assert_equal [["Alice", %w[Alice Bob], 0], ["Bob", %w[Alice Bob], 0]], seen
  end

  def test_each_player_without_block_is_an_enumerator
    g = game_with("Alice", "Bob")
    e = g.each_player
    assert_kind_of Enumerator, e
    assert_equal 2, e.size
    assert_equal %w[Alice Bob], e.to_a
  end

  def test_writes_inside_each_player_raise_borrow_error
    g = game_with("Alice", "Bob")
    runs = 0
    g.each_player do
      runs += 1
      e = assert_raises(Cleat::BorrowError) { g.add_player("Carol") }
      assert_equal format(BORROWED, "#add_player"), e.message
      e = assert_raises(Cleat::BorrowError) { g.next_player_scores(1) }
      assert_equal format(BORROWED, "#next_player_scores"), e.message
    end
    assert_equal 2, runs, "each_player ran its block once a player"
    assert_equal %w[Alice Bob], g.players
    assert_equal 0, g.score
    assert_equal 3, g.add_player("Carol")
  end

  def test_nested_shared_iteration_is_allowed
    g = game_with("Alice", "Bob")
    pairs = []
    g.each_player { |a| g.each_player { |b| pairs << [a, b] } }
    assert_equal [%w[Alice Alice], %w[Alice Bob], %w[Bob Alice], %w[Bob Bob]], pairs
    assert_raises(Cleat::BorrowError) { g.each_player { g.each_player { g.add_player("X") } } }
    assert_equal 3, g.add_player("Carol")
  end

  def test_exception_in_block_propagates_and_releases
    g = game_with("Alice")
    e = assert_raises(ArgumentError) { g.each_player { raise ArgumentError, "from the block" } }
    assert_equal "from the block", e.message
    assert_usable(g)
  end

  def test_borrow_error_in_block_propagates_and_releases
    g = game_with("Alice")
    assert_raises(Cleat::BorrowError) { g.each_player { g.add_player("X") } }
    assert_usable(g)
  end

  def test_break_and_throw_release
    g = game_with("Alice", "Bob")
    assert_equal :broke, g.each_player { break :broke }
    assert_usable(g)
    assert_equal :thrown, catch(:out) { g.each_player { throw :out, :thrown } }
    assert_usable(g)
    assert_equal :returned, return_helper(g)
    assert_usable(g)
  end

  def return_helper(game)
    game.each_player { return :returned }
  end

  def test_next_from_block_continues
    g = game_with("Alice", "Bob")
    names = []
    g.each_player { |n| names << n; next }
    assert_equal %w[Alice Bob], names
    assert_usable(g)
  end

  def test_fiber_suspended_inside_the_block_keeps_the_borrow
    g = game_with("Alice", "Bob")
    fiber = Fiber.new do
      g.each_player { |name| Fiber.yield name }
      :done
    end
    assert_equal "Alice", fiber.resume
    assert_raises(Cleat::BorrowError) { g.add_player("Carol") }
    assert_equal %w[Alice Bob], g.players
    assert_equal "Bob", fiber.resume
    assert_raises(Cleat::BorrowError) { g.next_player_scores(1) }
    assert_equal :done, fiber.resume
    assert_usable(g)
  end

  def test_external_enumerator_holds_the_borrow_until_finished
    g = game_with("Alice")
    e = g.each_player
    assert_equal "Alice", e.next
    assert_raises(Cleat::BorrowError) { g.add_player("Bob") }
    assert_raises(StopIteration) { e.next }
    assert_usable(g)
  end

  def test_two_fibers_finishing_in_any_order
    g = game_with("Alice", "Bob")
    f1 = Fiber.new { g.each_player { Fiber.yield }; :f1 }
    f2 = Fiber.new { g.each_player { Fiber.yield }; :f2 }
    f1.resume
    f2.resume
    f1.resume
    assert_equal :f1, f1.resume
    assert_raises(Cleat::BorrowError) { g.add_player("Carol") }
    f2.resume
    assert_equal :f2, f2.resume
    assert_usable(g)
  end

  def test_dup_and_clone_are_refused
    g = game_with("Alice")
    assert_equal "can't copy CleatExamples::Game", assert_raises(TypeError) { g.dup }.message
    assert_raises(TypeError) { g.clone }
    assert_usable(g)
  end

  def test_frozen_game
    g = game_with("Alice").freeze
    assert_equal ["Alice"], g.players
    assert_raises(FrozenError) { g.add_player("Bob") }
    assert_raises(FrozenError) { g.next_player_scores(1) }
    assert_equal ["Alice"], g.each_player.to_a
  end

  def test_players_survive_gc_stress_and_compaction
    g = Game.new
    with_gc_stress { 20.times { |i| g.add_player("player #{i}") } }
    compact_heap
    assert_equal Array.new(20) { |i| "player #{i}" }, g.players
  end

  def test_players_pushed_into_an_old_game_survive_minor_gcs
    g = promote(game_with("Alice"))
    10.times { |i| g.add_player(+"young #{i}") }
    minor_gcs
    assert_equal ["Alice"] + Array.new(10) { |i| "young #{i}" }, g.players
  end

  def test_memsize_counts_the_players_array
    g = Game.new
    empty = ObjectSpace.memsize_of(g)
    100.times { |i| g.add_player("p#{i}") }
    assert_operator ObjectSpace.memsize_of(g), :>=, empty + 100 * 8
  end

  def test_borrow_behaviour_under_gc_stress
    with_gc_stress do
      g = game_with("Alice", "Bob")
      assert_raises(Cleat::BorrowError) { g.each_player { g.add_player("x") } }
      fiber = Fiber.new { g.each_player { Fiber.yield }; :done }
      fiber.resume
      assert_raises(Cleat::BorrowError) { g.add_player("x") }
      fiber.resume
      fiber.resume
      assert_equal 3, g.add_player("Carol")
    end
  end

  def assert_usable(game)
    count = game.players.size
    assert_equal count + 1, game.add_player("Player #{count}")
    assert_match(/ scored 1 points! /, game.next_player_scores(1))
  end

  run_every_test_under_gc_stress except: %i[test_players_survive_gc_stress_and_compaction
                                           test_players_pushed_into_an_old_game_survive_minor_gcs
                                           test_memsize_counts_the_players_array
                                           test_borrow_behaviour_under_gc_stress]
end
