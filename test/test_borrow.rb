# frozen_string_literal: true

require "test_helper"

# Borrow checking through the library's loans, with the test extension's
# Holder, whose methods lend themselves in every way Cleat offers.
class TestBorrow < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_loans_under_gc_stress

  Holder = CleatTest::Holder

  def test_exclusive_yield_refuses_everything
    h = Holder.new(1)
    runs = 0
    h.yield_exclusive(:x) do |v|
      runs += 1
      assert_equal :x, v
      e = assert_raises(Cleat::BorrowError) { h.value }
      assert_equal "CleatTest::Holder is exclusively borrowed by #yield_exclusive; #value needs it shared", e.message
      e = assert_raises(Cleat::BorrowError) { h.set(2) }
      assert_equal "CleatTest::Holder is exclusively borrowed by #yield_exclusive; #set needs it exclusively", e.message
    end
    assert_equal 1, runs, "yield_exclusive ran its block"
    assert_equal 2, h.set(2)
  end

  def test_shared_yield_allows_reads_only
    h = Holder.new(1)
    runs = 0
    value = h.yield_shared(:x) do
      runs += 1
      assert_equal 1, h.value
      assert_raises(Cleat::BorrowError) { h.set(2) }
      :block_value
    end
    assert_equal :block_value, value
    assert_equal 1, runs, "yield_shared ran its block"
    assert_equal 2, h.set(2)
  end

  # cleat_unwrap_mut of the receiver inside its own door (issue 15):
  # `b.absorb(b)` would grow the buffer it reads from.
  def test_unwrap_mut_of_the_receiver_raises
    b = CleatTest::Block.new(4)
    e = assert_raises(Cleat::BorrowError) { b.absorb(b) }
    assert_equal "CleatTest::Block#absorb was given its own receiver; it holds the CleatTest::Block already", e.message
    assert_equal 4, b.size
    other = CleatTest::Block.new(3)
    assert_equal 7, b.absorb(other), "another Block is absorbed"
    # The receiver as another type is the TypeError any other object gets.
    w = CleatTest::Window.new(b)
    e = assert_raises(TypeError) { w.unwrap_self_as_block }
    assert_equal "wrong argument type CleatTest::Window (expected CleatTest::Block)", e.message
    assert_equal 0, other.size
  end

  # Found by the hostile review: a block (or a to_f) froze the object, even
  # made it shareable, and the exclusive method went on writing it.
  def test_an_object_frozen_while_lent_exclusively_raises_frozen_error
    h = Holder.new(1)
    runs = 0
    e = assert_raises(FrozenError) { h.yield_exclusive(:x) { runs += 1; h.freeze } }
    assert_equal 1, runs
    assert_equal "can't modify frozen CleatTest::Holder: frozen while #yield_exclusive lent it", e.message
    assert_same h, e.receiver
    assert_equal 1, h.value, "still readable"
    g = Holder.new(2)
    assert_equal :y, g.yield_shared(:y) { g.freeze; :y }, "a shared loan goes on: its method only reads"
  end

  # Shared means read (issue 15): a store from a method declared shared
  # (the wrong door macro) raises while the object is lent, so it cannot
  # change the object under the lender; unlent, it goes through.
  def test_stores_refuse_a_lent_object_whatever_door_let_the_caller_in
    h = Holder.new(1)
    h.push(:a)
    runs = 0
    h.yield_shared(:x) do
      runs += 1
      %i[store_from_shared store_known_from_shared push_from_shared].each do |store|
        e = assert_raises(Cleat::BorrowError, store) { h.public_send(store, 2) }
        assert_equal "CleatTest::Holder is borrowed by #yield_shared; ##{store} needs it exclusively", e.message
      end
      assert_equal [1, [:a]], [h.value, h.list]
    end
    assert_equal 1, runs, "yield_shared ran its block"
    assert_equal 3, h.store_from_shared(3)
    assert_equal 4, h.store_known_from_shared(4)
    assert_equal 2, h.push_from_shared(:b)
    assert_equal [4, %i[a b]], [h.value, h.list]
  end

  # ...and while another thread holds it lent without the GVL.
  def test_stores_refuse_an_object_lent_to_a_gvl_free_section
    h = Holder.new(1)
    thread = Thread.new { h.hold_shared(0.5) }
    wait_until { begin; h.set(1); false; rescue Cleat::BorrowError; true; end } # now lent
    e = assert_raises(Cleat::BorrowError) { h.store_from_shared(2) }
    assert_equal "CleatTest::Holder is borrowed by #hold_shared; #store_from_shared needs it exclusively", e.message
    assert_equal 1, h.value
    assert_equal :finished, thread.value
    assert_equal 2, h.store_from_shared(2)
  end

  def test_yield_without_block
    h = Holder.new(1)
    assert_raises(LocalJumpError) { h.yield_exclusive(1) }
    assert_equal 2, h.set(2)
  end

  def test_calls_lend_the_object
    h = Holder.new(1)
    assert_equal 1, h.call_shared(h, :value)
    e = assert_raises(Cleat::BorrowError) { h.call_shared(h, :set, 5) }
    assert_equal "CleatTest::Holder is borrowed by #call_shared; #set needs it exclusively", e.message
    assert_raises(Cleat::BorrowError) { h.call_exclusive(h, :value) }
    assert_equal 3, h.call_exclusive([1, 2], :sum)
    assert_equal "ab", h.call_shared("a", :+, "b")
    assert_raises(NoMethodError) { h.call_exclusive(h, :no_such_method) }
    assert_equal 7, h.set(7)
  end

  def test_calls_to_private_methods
    h = Holder.new(1)
    assert_equal :private_ok, h.call_shared(Object.new.tap { |o| def o.secret = :private_ok; o.singleton_class.send(:private, :secret) }, :secret)
  end

  def test_nested_loans_of_one_method
    h = Holder.new(1)
    seen = []
    result = h.nested_loans do |where|
      seen << where
      assert_raises(Cleat::BorrowError) { h.value }
      where
    end
    assert_equal %i[inner outer], seen
    assert_equal %i[inner outer], result
    assert_equal 1, h.value
  end

  def test_borrowing_one_object_does_not_borrow_another
    a = Holder.new(1)
    b = Holder.new(2)
    runs = 0
    a.yield_exclusive(nil) { runs += 1; assert_equal 3, b.set(3) }
    assert_equal 1, runs, "yield_exclusive ran its block"
    assert_equal 3, b.value
  end

  def test_exclusive_gvl_free_section_blocks_other_threads
    h = Holder.new(1)
    t = Thread.new { h.hold_exclusive(0.5) }
    e = wait_until { begin; h.value; nil; rescue Cleat::BorrowError => e; e; end }
    assert_equal "CleatTest::Holder is exclusively borrowed by #hold_exclusive; #value needs it shared", e.message
    assert_equal :finished, t.value
    assert_equal 1, h.value
  end

  def test_shared_gvl_free_sections_run_together
    h = Holder.new(1)
    t = Thread.new { h.hold_shared(0.5) }
    wait_until { begin; h.set(1); false; rescue Cleat::BorrowError; true; end }
    assert_equal 1, h.value # shared with shared proceeds
    other = Thread.new { h.hold_shared(0.05) }
    assert_equal :finished, other.value
    assert_equal :finished, t.value
    assert_equal 5, h.set(5)
  end

  def test_thread_killed_in_gvl_free_section_returns_the_loan
    h = Holder.new(1)
    t = Thread.new { h.hold_exclusive(60) }
    wait_until { begin; h.value; false; rescue Cleat::BorrowError; true; end }
    t.kill
    assert t.join(10), "the killed thread did not stop"
    assert_equal 1, h.value
    assert_equal 2, h.set(2)
  end

  def test_exception_raised_into_gvl_free_section_returns_the_loan
    h = Holder.new(1)
    t = Thread.new { Thread.current.report_on_exception = false; h.hold_shared(60) }
    wait_until { begin; h.set(1); false; rescue Cleat::BorrowError; true; end }
    t.raise(IOError, "stop")
    e = assert_raises(IOError) { t.join(10) }
    assert_equal "stop", e.message
    assert_equal 2, h.set(2)
  end

  def test_trap_that_does_not_raise_restarts_the_section
    h = Holder.new(1)
    trapped = 0
    previous = Signal.trap("USR2") { trapped += 1 }
    t = Thread.new { Thread.current.report_on_exception = false; h.hold_exclusive(0.3) }
    wait_until { begin; h.value; false; rescue Cleat::BorrowError; true; end }
    Process.kill("USR2", Process.pid)
    assert_equal :finished, t.value
    assert_equal 1, trapped
    assert_equal 1, h.value
  ensure
    Signal.trap("USR2", previous || "DEFAULT")
  end

  def test_gvl_free_function_that_gives_up_without_cancel_is_reported
    h = Holder.new(1)
    e = assert_raises(Cleat::Error) { h.misuse_without_gvl }
    assert_match(/returned false without being cancelled/, e.message)
    assert_equal 2, h.set(2)
  end

  def test_borrow_error_is_one_class_for_every_extension
    from_examples = assert_raises(Cleat::BorrowError) do
      g = CleatExamples::Game.new
      g.add_player("A")
      g.each_player { g.add_player("B") }
    end
    from_test = assert_raises(Cleat::BorrowError) { h = Holder.new(1); h.yield_exclusive(1) { h.value } }
    assert_same from_examples.class, from_test.class
    assert_operator Cleat::BorrowError, :<, RuntimeError
  end

  def test_loans_under_gc_stress
    with_gc_stress do
      h = Holder.new([1])
      assert_raises(Cleat::BorrowError) { h.yield_exclusive(nil) { h.value } }
      assert_raises(Cleat::BorrowError) { h.call_shared(h, :set, 2) }
      assert_raises(RuntimeError) { h.yield_shared(nil) { raise "boom" } }
      t = Thread.new { h.hold_exclusive(0.05) }
      t.join
      assert_equal 3, h.set(3)
    end
  end

  run_every_test_under_gc_stress except: %i[test_loans_under_gc_stress]
end
