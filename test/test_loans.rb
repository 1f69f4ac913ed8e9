# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"
require "cleat/fuzz"

# Loans whose holder can no longer run are returned (issue 14, item 5): an
# external enumerator left suspended inside each_player (#next, #peek, then
# dropped or rewound) and collected, or, after fork, a thread that no longer
# exists in the child. A loan lasts for as long as its fiber or thread can
# run: it is returned once the GC has collected the fiber (a conservative
# GC may need a few runs to see that), and never while it can still run.
class TestLoans < Minitest::Test
  Game = CleatExamples::Game

  def game
    g = Game.new
    g.add_player("Alice")
    g.add_player("Bob")
    g
  end

  # Each leaves a fiber suspended inside a loan of g and drops every
  # reference to it. They run in a thread of their own that then ends: the
  # GC scans machine stacks conservatively, and a stale copy of the fiber's
  # address left on this thread's stack could keep it alive a while longer.
  def abandon_after_next(g) = in_thread { g.each_player.next }
  def abandon_after_peek(g) = in_thread { g.each_player.peek }
  def rewind_after_next(g) = in_thread { e = g.each_player; e.next; e.rewind }
  def abandon_after_two(g) = in_thread { e = g.each_player; e.next; e.next }

  def in_thread(&block)
    Thread.new(&block).join
    nil
  end

  def usable?(g)
    g.add_player("Carol")
    true
  rescue Cleat::BorrowError
    false
  end

  %i[abandon_after_next abandon_after_peek rewind_after_next abandon_after_two].each do |way|
    define_method(:"test_#{way}_then_collected_returns_the_loan") do
      g = game
      send(way, g)
      assert collect_until { usable?(g) }, "the game stayed borrowed by a collected enumerator"
      assert_equal %w[Alice Bob Carol], g.players
      assert_equal 4, g.add_player("Dave")
    end
  end

  # The eighth hostile review: an object frozen while a dropped enumerator
  # held its loan stayed borrowed for ever (frozen objects never gave loans
  # back, for fear of other Ractors sharing them; those now take turns).
  def test_an_object_frozen_while_lent_gets_its_loan_back
    holder = CleatTest::Holder.new(1)
    in_thread { e = holder.enum_for(:yield_exclusive, 5); e.next; holder.freeze }
    assert_predicate holder, :frozen?
    returned = collect_until do
      holder.value
      true
    rescue Cleat::BorrowError
      false
    end
    assert returned, "the frozen Holder stayed borrowed by a collected enumerator"
    assert_equal 1, holder.value
    g = game
    in_thread { g.each_player.next; g.freeze }
    registry = Cleat::Fuzz::Registry.new(classes: ["CleatExamples::Game"])
    assert collect_until { registry.check(g).nil? }, "the frozen Game stayed lent out"
    assert_equal %w[Alice Bob], g.players
  end

  def test_a_live_enumerator_keeps_its_loan
    g = game
    e = g.each_player
    assert_equal "Alice", e.next
    5.times { GC.start }
    assert_raises(Cleat::BorrowError) { g.add_player("Carol") }
    assert_equal "Bob", e.next
    assert_raises(Cleat::BorrowError) { g.add_player("Carol") }
    assert_raises(StopIteration) { e.next }
    assert_equal 3, g.add_player("Carol")
  end

  def test_a_suspended_fiber_keeps_its_loan_until_it_finishes
    g = game
    fiber = Fiber.new { g.each_player { Fiber.yield }; :done }
    fiber.resume
    5.times { GC.start }
    assert_raises(Cleat::BorrowError) { g.add_player("Carol") }
    fiber.resume
    assert_equal :done, fiber.resume
    assert_equal 3, g.add_player("Carol")
  end

  def test_many_abandoned_enumerators
    g = game
    10.times { abandon_after_next(g) }
    abandon_after_peek(g)
    assert collect_until { usable?(g) }
    assert_equal 4, g.add_player("Dave")
  end

  def test_loans_of_the_living_survive_the_return_of_the_dead
    g = game
    abandon_after_next(g)
    e = g.each_player
    e.next
    collect_until { false } # collects the abandoned one, not e
    assert_raises(Cleat::BorrowError) { g.add_player("Carol") }
    assert_equal ["Alice", 2], [g.players.first, g.players.size] # shared use proceeds
    e.next
    assert_raises(StopIteration) { e.next }
    assert collect_until { usable?(g) }
  end

  # Only a conflicting entry used to return the loans of collected fibers:
  # on an object only ever read they piled up (the hostile review: each
  # later loan walked them all, 600x slower after 5,000). Any loan returns
  # them now.
  def test_a_shared_loan_returns_the_loans_of_collected_fibers
    g = game
    50.times { abandon_after_next(g) }
    refute_equal 0, CleatTest.loans(g).first
    ran = 0
    assert collect_until { g.each_player { ran += 1 }; CleatTest.loans(g) == [0, false] }
    assert_operator ran, :>, 0
  end

  # Dead loans used to count against the limit of shared loans: the
  # reclaim came after the check. The count is set to the limit by hand
  # (2^28 enumerators would take too long); the one real loan on the list is
  # a collected fiber's, so the next shared loan recounts and proceeds.
  def test_the_loans_of_collected_fibers_do_not_count_against_the_limit
    g = game
    abandon_after_next(g)
    ran = 0
    assert(collect_until do
      CleatTest.fill_shared_count(g)
      g.each_player { ran += 1 }
      true
    rescue Cleat::BorrowError => e
      assert_match(/too many shared loans/, e.message)
      false
    end)
    assert_equal 2, ran
    assert_equal [0, false], CleatTest.loans(g)
  end

  # Runs script (which forks) in a Ruby of its own; returns its output,
  # having checked that it neither crashed nor failed.
  def run_forking(script)
    libs = $LOAD_PATH.select { |dir| File.exist?(File.join(dir, "cleat_examples.so")) || dir.end_with?("/lib") }
    out, err, status = Open3.capture3(RbConfig.ruby, *libs.map { |dir| "-I#{dir}" }, "-e", script)
    refute_match(/\[BUG\]|Segmentation fault/, err)
    assert status.success?, err
    out
  end

  # The fork scripts' common part: a Game with Alice; the child GCs from
  # stacks of several depths until it can add a player (exit 0) or gives up
  # (exit 3); the parent waits and says whether the game is still borrowed.
  FORK_PROBES = <<~RUBY
    require "cleat_examples"
    g = CleatExamples::Game.new
    g.add_player("Alice")
    def burn(n, &b) = n.zero? ? b.call : burn(n - 1, &b)
    def child_adds?(g)
      20.times.any? do |i|
        burn(i * 7) { GC.start }
        begin
          g.add_player("child")
          true
        rescue Cleat::BorrowError
          false
        end
      end
    end
    def child_then_parent(g, pid)
      Process.wait(pid)
      puts "child: \#{$?.exitstatus}"
      g.add_player("parent")
      puts "parent: not borrowed"
    rescue Cleat::BorrowError
      puts "parent: borrowed"
    end
  RUBY

  # A thread inside each_player holds a loan; fork keeps only the forking
  # thread. In the child the loan is returned; in the parent it is not.
  def test_a_loan_of_a_thread_gone_after_fork_is_returned_in_the_child
    skip "no fork here" unless Process.respond_to?(:fork)

    script = FORK_PROBES + <<~RUBY
      inside = Queue.new
      t = Thread.new { g.each_player { inside << 1; sleep } }
      inside.pop
      child_then_parent(g, fork { exit!(child_adds?(g) && g.players.size == 2 ? 0 : 3) })
      t.kill
      t.join
      puts "parent after kill: \#{g.add_player("parent")}"
    RUBY
    out = run_forking(script)
    assert_equal "child: 0\nparent: borrowed\nparent after kill: 2\n", out
  end

  # The main thread's loans take pooled tokens (src/borrow.c). A child
  # forked by another thread has no main thread to end them; one forked by
  # a fiber of the main thread runs on in that fiber, which Ruby makes the
  # child's root fiber (the old one can never resume). Either way the child
  # returns the loan once the GC collects its token; the parent's goes on.
  def test_a_main_thread_loan_is_returned_in_a_child_forked_by_another_thread
    assert_equal "child: 0\nparent: borrowed\nran: true, after: 2\n", run_forking(main_loan_fork_script("Thread.new"))
  end

  def test_a_main_thread_loan_is_returned_in_a_child_forked_by_a_fiber_of_that_thread
    assert_equal "child: 0\nparent: borrowed\nran: true, after: 2\n", run_forking(main_loan_fork_script("Fiber.new"))
  end

  # A script whose main thread, inside each_player, forks from `within`
  # (Thread.new or Fiber.new) and reports what the child and parent see.
  def main_loan_fork_script(within)
    skip "no fork here" unless Process.respond_to?(:fork)

    FORK_PROBES + <<~RUBY
      ran = false
      g.each_player do
        ran = true
        forker = #{within} { fork { exit!(child_adds?(g) && g.players.size == 2 ? 0 : 3) } }
        child_then_parent(g, forker.respond_to?(:value) ? forker.value : forker.resume)
      end
      puts "ran: \#{ran}, after: \#{g.add_player("parent")}"
    RUBY
  end
end
