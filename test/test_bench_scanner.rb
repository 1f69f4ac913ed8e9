# frozen_string_literal: true

require "test_helper"
require "cleat_bench"

# bench/scanner.rb compares CleatBench::Scanner with CleatBench::RawScanner:
# that is only fair if they do the same work. Every method, on a few
# inputs, gives the same results from both (class names aside).
class TestBenchScanner < Minitest::Test
  # Under `rake test:stress`: the traces compare results, not GC safety
  # (the compaction test stays), and take minutes under GC.stress.
  cleat_skip_under_gc_stress :test_every_method_gives_the_same_results_from_both

  KINDS = [CleatBench::Scanner, CleatBench::RawScanner].freeze
  INPUTS = ["2026-11-26 19:20:46 INFO user=alice ip=10.0.0.1\nGET /a 200\n", "", "x",
            "naïve café\n\n  ünïcödé = 42\r\n", "a=b\n" * 50].freeze

  # What every method returns, in one sequence, on a scanner over input;
  # exceptions as their class and message.
  def trace(klass, input)
    calls = []
    emitted = []
    s = klass.new(+input, ->(token) { emitted << token; token.upcase })
    step = lambda do |name, *args, &block|
      calls << [name, args, begin
        s.public_send(name, *args, &block)
      rescue StandardError => e
        [e.class, e.message]
      end]
    end
    step.(:eos?)
    step.(:scan, /(\d+)-(\d+)-(\d+)/)
    [0, 1, 3, 4, -1].each { |n| step.(:[], n) }
    step.(:emit)
    step.(:skip_space)
    step.(:check, /\d+/)
    step.(:match?, /\d+:/)
    step.(:scan_until, /=/)
    step.(:matched)
    step.(:matched?)
    step.(:line)
    step.(:column)
    step.(:peek, 5)
    step.(:peek, -1)
    step.(:getch)
    step.(:unscan)
    step.(:unscan)
    step.(:save)
    step.(:skip, /\w+/)
    step.(:scan, /\s+/)
    step.(:restore)
    step.(:restore)
    step.(:scan_until, /\n/)
    step.(:line)
    step.(:column)
    step.(:pos)
    step.(:rest)
    step.(:rest_size)
    step.(:tokens)
    step.(:token_count)
    step.(:stats)
    seen = []
    step.(:each_token) { |t| seen << t }
    calls << [:each_token_yielded, [], seen]
    copy = s.dup
    step.(:terminate)
    step.(:eos?)
    calls << [:dup, [], [copy.pos, copy.line, copy.tokens, copy.matched, copy.rest]]
    step.(:pos=, 3)
    step.(:line)
    step.(:pos=, -2)
    step.(:pos=, 10_000)
    step.(:getch)
    step.(:[], 0)
    step.(:[], 1)
    step.(:on_token=, nil)
    step.(:emit)
    step.(:scan, "not a regexp")
    step.(:reset)
    step.(:pos)
    step.(:tokens)
    step.(:string)
    calls << [:emitted, [], emitted]
    calls.map { |name, args, result| [name, args, normalize(result, klass)] }
  end

  def normalize(result, klass)
    case result
    when klass then :self
    when String then result.gsub(klass.name, "Scanner")
    when Array then result.map { |r| normalize(r, klass) }
    else result
    end
  end

  def test_every_method_gives_the_same_results_from_both
    INPUTS.each do |input|
      cleat, raw = KINDS.map { |klass| trace(klass, input) }
      assert_equal raw, cleat, "input #{input.inspect}"
    end
  end

  # The trace itself checks something: one input's figures written out.
  def test_the_trace_of_a_log_line
    KINDS.each do |klass|
      s = klass.new("2026-11-26 x=1\ny=22\n", ->(t) { "<#{t}>" })
      assert_equal "2026-11-26", s.scan(/(\d+)-(\d+)-(\d+)/)
      assert_equal ["11", "26", nil], [s[2], s[3], s[4]]
      assert_equal "<2026-11-26>", s.emit
      assert_equal 1, s.skip_space
      assert_equal "x=", s.scan_until(/=/)
      assert_equal "1\ny=", s.scan_until(/=/)
      assert_equal [2, 3], [s.line, s.column]
      assert_equal [0, 12, 16], s.tokens
      assert_equal [3, 3], s.stats
      yielded = []
      assert_same s, s.each_token { |t| yielded << t }
      assert_equal [0, 12, 16], yielded
      assert_equal "22\n", s.rest
      assert_match(/\A#<CleatBench::(Raw)?Scanner 17\/20 line 2 "22\\n">\z/, s.inspect)
      assert_equal "#<#{klass} (uninitialized)>", klass.allocate.inspect
    end
  end

  # Cleat's each_token lends the scanner once around its whole loop: the
  # block may read it but not scan, and break or raise give it back.
  def test_each_token_lends_the_scanner_for_the_whole_loop
    s = CleatBench::Scanner.new("a b c", ->(t) { t })
    3.times { s.scan(/\w+/); s.skip_space }
    seen = []
    s.each_token do |t|
      seen << [t, s.tokens.size]
      assert_raises(Cleat::BorrowError) { s.scan(/x/) }
    end
    assert_equal [[0, 3], [2, 3], [4, 3]], seen
    assert_equal :out, s.each_token { break :out }
    assert_raises(LocalJumpError) { s.each_token }
    empty = CleatBench::Scanner.new("", ->(t) { t })
    assert_same empty, empty.each_token { flunk "no tokens, no yield" }
    assert_raises(ZeroDivisionError) { s.each_token { 1 / 0 } }
    s.pos = 0
    assert_equal "a", s.scan(/\w+/)
  end

  def test_both_survive_compaction_and_keep_their_fields
    scanners = KINDS.map do |klass|
      Array.new(200) { |i| klass.new("item #{i} = #{i * 2}", ->(t) { t }).tap { |s| s.scan(/\w+/) } }
    end
    GC.compact if GC.respond_to?(:compact)
    GC.start(full_mark: true, immediate_sweep: true)
    scanners.each do |list|
      list.each_with_index do |s, i|
        assert_equal ["item", "item #{i} = #{i * 2}", [0]], [s[0], s.string, s.tokens]
      end
    end
  end

  def test_memsize_counts_the_tokens
    KINDS.each do |klass|
      s = klass.new("a b c d e f g h i j", nil)
      before = ObjectSpace.memsize_of(s)
      10.times { s.scan(/\w+/) || s.skip_space }
      assert_operator ObjectSpace.memsize_of(s), :>, before, klass
    end
  end

  def test_frozen_scanners_refuse_to_move
    KINDS.each do |klass|
      s = klass.new("abc", nil).freeze
      assert_raises(FrozenError) { s.scan(/a/) }
      assert_raises(FrozenError) { s.pos = 1 }
      assert_equal "abc", s.rest
    end
  end
end
