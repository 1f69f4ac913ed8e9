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

  # Conversions that run Ruby code lend the object meanwhile (issue 15,
  # item 2): a to_f, to_str or to_int that re-enters the receiver gets
  # Cleat::BorrowError instead of meeting it mid-method.
  class Reenters
    attr_reader :runs

    def initialize(holder, result, &reentry)
      @holder = holder
      @result = result
      @reentry = reentry
      @runs = 0
    end

    def call
      @runs += 1
      @reentry.call(@holder)
      @result
    end

    def to_f = call
    def to_str = call
    def to_int = call
  end

  def test_conversions_lend_the_receiver_while_ruby_code_runs
    h = CleatTest::Holder.new(1)
    %i[double_exclusive str_exclusive int_exclusive].each do |method|
      sneaky = Reenters.new(h, method == :str_exclusive ? +"abc" : 2) { |holder| holder.set(5) }
      e = assert_raises(Cleat::BorrowError, method) { h.public_send(method, sneaky) }
      assert_equal "CleatTest::Holder is exclusively borrowed by ##{method}; #set needs it exclusively", e.message
      assert_equal 1, sneaky.runs, "#{method} converted through Ruby code"
    end
    assert_equal 1, h.value
    # A shared method lends shared: reads go on, writes raise.
    reader = Reenters.new(h, 2.5) { |holder| assert_equal 1, holder.value }
    assert_equal 2.5, h.double_shared(reader)
    writer = Reenters.new(h, 2.5) { |holder| holder.set(7) }
    assert_raises(Cleat::BorrowError) { h.double_shared(writer) }
    assert_equal [1, 1], [reader.runs, writer.runs]
    # Unlent again afterwards.
    assert_equal 9, h.set(9)
  end

  def test_conversions_of_plain_values_call_nothing
    h = CleatTest::Holder.new(1)
    assert_equal 5.0, h.double_exclusive(2.5) # the helper doubles
    assert_equal 8.0, h.double_exclusive(4)
    assert_equal 2.0**65, h.double_exclusive(2**64)
    assert_equal 3, h.str_exclusive("abc")
    assert_equal(-7, h.int_exclusive(-7))
    assert_equal 2**62, h.int_exclusive(2**62)
    [nil, true, false, "1"].each do |v|
      assert_raises(TypeError) { h.double_exclusive(v) }
    end
    [nil, 1.5, "1", :a].each { |v| assert_raises(TypeError) { h.int_exclusive(v) } }
    assert_raises(TypeError) { h.str_exclusive(:sym) }
    assert_raises(RangeError) { h.int_exclusive(2**64) }
    assert_equal 3, h.int_exclusive(Reenters.new(h, 3) { nil })
    assert_equal 2.0, h.double_shared(Reenters.new(h, 2.0) { nil })
    assert_raises(TypeError) { h.double_shared(Reenters.new(h, 2) { nil }) } # to_f must answer a Float
  end

  cleat_skip_in_mode :valgrind, :test_regex_search_lends_the_receiver,
                     reason: "valgrind runs one thread at a time: no thread switch came inside 30 searches"

  # cleat_reg_search: rb_reg_search's answer, with the object lent.
  def test_regex_search
    h = CleatTest::Holder.new(1)
    at, match = h.search_exclusive(/b+/, "aabbb", 0, false)
    assert_equal [2, "bbb"], [at, match[0]]
    assert_equal [1, "b"], h.search_exclusive(/b/, "abab", 2, true).then { |a, m| [a, m[0]] } # backwards from 2
    assert_equal [-1, nil], h.search_exclusive(/c/, "abab", 0, false)
    assert_equal [-1, nil], h.search_exclusive(/a/, "abab", 5, false) # past the end
    assert_equal [-1, nil], h.search_exclusive(/a/, "abab", -1, false)
    assert_equal "wrong argument type String (expected Regexp)",
                 assert_raises(TypeError) { h.search_exclusive("b", "abc", 0, false) }.message
    assert_equal "wrong argument type Symbol (expected String)",
                 assert_raises(TypeError) { h.search_exclusive(/b/, :abc, 0, false) }.message
    assert_raises(Encoding::CompatibilityError) { h.search_exclusive(/\xff/n, "\u00e9t\u00e9", 0, false) }
    assert_equal 1, h.set(1) # not left lent
  end

  # Onigmo checks for interrupts while it matches, and Ruby switches threads
  # there: another thread's call finds the object lent. Without the loan the
  # thread got in (the bench Scanner's pos= then made scan segfault; its
  # trap-handler twin is in test_hostile.rb). A search takes about 12 ms on
  # 3.4 (Ruby caches the match), a time slice 100 ms: searches go on until
  # one is interrupted, for 20 s at most (30 searches were once not enough
  # in CI on 3.4).
  def test_regex_search_lends_the_receiver
    h = CleatTest::Holder.new(1)
    s = ("ab" * 300_000) + "c"
    t = Thread.new do
      loop do
        h.set(2)
        Thread.pass
      rescue Cleat::BorrowError => e
        break e.message
      end
    end
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
    searches = 0
    while t.alive? && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      assert_equal 0, h.search_exclusive(/(?=(?:a|b|ab)*c)a/, s, 0, false).first
      searches += 1
    end
    assert_operator searches, :>, 0
    t.kill unless t.join(0)
    assert_equal "CleatTest::Holder is exclusively borrowed by #search_exclusive; #set needs it exclusively", t.value
  end
end
