# frozen_string_literal: true

# A class of real-world shape written twice (bench/ext/cleat_bench): a
# tokenizer over a String with three VALUE fields (the source, the last
# MatchData, a callable) among a dozen plain members, token offsets in
# native memory it owns, and 32 methods: regexp matching (rb_reg_search,
# rb_reg_nth_match), a block (rb_yield / CLEAT_YIELD), a callable
# (rb_funcallv / CLEAT_CALL), accessors, conversions, dup.
#   bundle exec rake bench     (after a compile: ruby -Ilib -Itmp/lib bench/scanner.rb)
# - CleatBench::RawScanner (scanner_raw.c): the careful raw C API version,
#   WB-protected, embedded in the object slot where Ruby has
#   RUBY_TYPED_EMBEDDABLE, its own mark and compaction;
# - CleatBench::Scanner (scanner_cleat.c): the Cleat version.
# Reports every method's ratio Cleat / raw (medians of interleaved rounds
# in this process, the empty loop subtracted), their median and maximum;
# the objects they allocate;
# full-GC marking with 1,000,000 live scanners of each (MarkBench's
# processes taking turns); memsize_of per scanner. bench/size.rb weighs
# the two as shared objects.
require_relative "lib/bench_support"
require_relative "marking"
require "objspace"
require "cleat_bench"

module ScannerBench
  LINE = "2026-11-26 19:20:46 INFO user=alice action=login ip=10.0.0.1 took=12ms\n"
  SOURCE = (LINE * 400).freeze
  WORD = /\w+|\W/ # matches at every position
  DATE = /(\d+)-(\d+)-(\d+)/
  EQUALS = /=/
  CALLBACK = ->(token) { token }
  RESET_EVERY = 1000 # calls that move the scanner forward, then a reset
  KINDS = { "cleat" => CleatBench::Scanner, "raw" => CleatBench::RawScanner }.freeze

  # Builds `objects` for MarkBench: count scanners of klass over 1,000
  # frozen sources, each having matched (a MatchData held) and recorded tokens.
  POPULATION = <<~RUBY
    sources = Array.new(1000) { |i| "GET /item/\#{i} 200 \#{i * 7}ms\\n".freeze }
    callback = ->(token) { token }
    objects = Array.new(count) do |i|
      scanner = klass.new(sources[i % 1000], callback)
      scanner.skip(/\\w+/)
      scanner.skip_space
      scanner.scan(/\\S+/)
      scanner
    end
  RUBY

  module_function

  # A scanner of klass that has matched DATE at the start (captures held)
  # and recorded 10 tokens, then gone back to the start.
  def scanner(klass)
    s = klass.new(SOURCE, CALLBACK)
    10.times { s.scan(WORD) }
    s.pos = 0
    s.scan(DATE)
    s
  end

  # { method => ->(scanner) { a loop body of n calls } }: Ruby loops of the
  # same shape for both kinds. Methods that move forward reset every
  # RESET_EVERY calls (their empty loop, "forward", pays the same test).
  def bodies
    {
      "string" => ->(s) { ->(n) { i = 0; while i < n; s.string; i += 1; end } },
      "pos" => ->(s) { ->(n) { i = 0; while i < n; s.pos; i += 1; end } },
      "pos=(Integer)" => ->(s) { ->(n) { i = 0; while i < n; s.pos = 0; i += 1; end } },
      "eos?" => ->(s) { ->(n) { i = 0; while i < n; s.eos?; i += 1; end } },
      "rest" => ->(s) { ->(n) { i = 0; while i < n; s.rest; i += 1; end } },
      "rest_size" => ->(s) { ->(n) { i = 0; while i < n; s.rest_size; i += 1; end } },
      "peek(4)" => ->(s) { ->(n) { i = 0; while i < n; s.peek(4); i += 1; end } },
      "skip_space" => ->(s) { ->(n) { i = 0; while i < n; s.skip_space; i += 1; end } },
      "matched" => ->(s) { ->(n) { i = 0; while i < n; s.matched; i += 1; end } },
      "matched?" => ->(s) { ->(n) { i = 0; while i < n; s.matched?; i += 1; end } },
      "[](2), rb_reg_nth_match" => ->(s) { ->(n) { i = 0; while i < n; s[2]; i += 1; end } },
      "line" => ->(s) { ->(n) { i = 0; while i < n; s.line; i += 1; end } },
      "column" => ->(s) { ->(n) { i = 0; while i < n; s.column; i += 1; end } },
      "tokens (10)" => ->(s) { ->(n) { i = 0; while i < n; s.tokens; i += 1; end } },
      "token_count" => ->(s) { ->(n) { i = 0; while i < n; s.token_count; i += 1; end } },
      "each_token (10 yields)" => ->(s) { ->(n) { i = 0; while i < n; s.each_token { |_t| }; i += 1; end } },
      "emit (calls a lambda)" => ->(s) { ->(n) { i = 0; while i < n; s.emit; i += 1; end } },
      "on_token=" => ->(s) { ->(n) { i = 0; while i < n; s.on_token = CALLBACK; i += 1; end } },
      "stats" => ->(s) { ->(n) { i = 0; while i < n; s.stats; i += 1; end } },
      "inspect" => ->(s) { ->(n) { i = 0; while i < n; s.inspect; i += 1; end } },
      "check(re)" => ->(s) { ->(n) { i = 0; while i < n; s.check(DATE); i += 1; end } },
      "match?(re)" => ->(s) { ->(n) { i = 0; while i < n; s.match?(DATE); i += 1; end } },
      "getch + unscan" => ->(s) { ->(n) { i = 0; while i < n; s.getch; s.unscan; i += 1; end } },
      "save + restore" => ->(s) { ->(n) { i = 0; while i < n; s.save; s.restore; i += 1; end } },
      "terminate" => ->(s) { ->(n) { i = 0; while i < n; s.terminate; i += 1; end } },
      "scan(re)" => ->(s) { ->(n) { i = 0; while i < n; s.scan(WORD); i += 1; s.reset if i % RESET_EVERY == 0; end } },
      "skip(re)" => ->(s) { ->(n) { i = 0; while i < n; s.skip(WORD); i += 1; s.reset if i % RESET_EVERY == 0; end } },
      "scan_until(re)" => lambda do |s|
        ->(n) { i = 0; while i < n; s.scan_until(EQUALS); i += 1; s.reset if i % RESET_EVERY == 0; end }
      end,
      "getch" => ->(s) { ->(n) { i = 0; while i < n; s.getch; i += 1; s.reset if i % RESET_EVERY == 0; end } },
      "reset" => ->(s) { ->(n) { i = 0; while i < n; s.reset; i += 1; end } },
      "dup (initialize_copy)" => ->(s) { ->(n) { i = 0; while i < n; s.dup; i += 1; end } },
      "new (allocate + initialize)" => lambda do |s|
        klass = s.class
        ->(n) { i = 0; while i < n; klass.new(SOURCE, nil); i += 1; end }
      end
    }
  end

  FORWARD = ["scan(re)", "skip(re)", "scan_until(re)", "getch"].freeze

  # The loops without a call: "forward" with the reset test of the methods
  # that move forward (the resets themselves, one per RESET_EVERY calls,
  # stay in their figures).
  def empty_loops
    BenchSupport.empty_loops("empty").merge(BenchSupport.empty_loops("forward", every: RESET_EVERY))
  end

  # { method => [cleat ns, raw ns] }, empty loops subtracted.
  def methods_ns(rounds:, iterations:)
    cases = empty_loops
    bodies.each do |name, body|
      KINDS.each { |kind, klass| cases["#{kind} #{name}"] = body.call(scanner(klass)) }
    end
    t = BenchSupport.measure(cases, rounds: rounds, iterations: iterations, gc: :minor)
    bodies.keys.to_h do |name|
      empty = BenchSupport.loop_ns(t, FORWARD.include?(name) ? "forward" : "empty")
      [name, KINDS.keys.map { |kind| BenchSupport.net(t["#{kind} #{name}"], empty) }]
    end
  end

  # [cleat objects, raw objects]: what all the methods allocate, per call
  # each, summed. Their timings include the GC their own garbage costs
  # (each sample starts from a minor GC, methods_ns; before, a collection
  # fell where it would and once made `rest` 2.35x on identical code): this
  # row says whether the garbage itself differs. (Timing them with the GC
  # off was worse: every allocation then grew the heap, and `tokens` came
  # out 3x.)
  def allocations(calls: 1000)
    per_call = bodies.map do |_, body|
      KINDS.values.map do |klass|
        run = body.call(scanner(klass))
        run.call(10)
        before = GC.stat(:total_allocated_objects)
        run.call(calls)
        (GC.stat(:total_allocated_objects) - before).fdiv(calls)
      end
    end
    per_call.transpose.map(&:sum)
  end

  # [cleat bytes, raw bytes]: memsize_of a scanner with 10 tokens.
  def memsize
    KINDS.values.map { |klass| ObjectSpace.memsize_of(scanner(klass)) }
  end

  def run(rounds: 7, iterations: 100_000, count: 1_000_000, samples: 7, processes: 2)
    ns = methods_ns(rounds: rounds, iterations: iterations)
    rows = ns.map do |name, (cleat, raw)|
      BenchSupport.row("Scanner##{name} (ns/call)", "raw C API", cleat, raw) # their target: the largest's
    end
    ratios = ns.values.map { |cleat, raw| cleat / raw }
    rows << BenchSupport.row("Scanner, median of #{ratios.size} methods' ratios", "raw C API",
                             BenchSupport.median(ratios), 1.0, target: "<= 1.00x", chart: "Scanner methods (median) vs raw C")
    rows << BenchSupport.row("Scanner, largest of #{ratios.size} methods' ratios", "raw C API", ratios.max, 1.0,
                             target: "<= 1.03x", note: ns.keys[ratios.index(ratios.max)])
    cleat_objects, raw_objects = allocations
    rows << BenchSupport.row("Scanner, objects allocated per call, #{ratios.size} methods summed", "raw C API",
                             cleat_objects, raw_objects, ratio: format("%+.2f objects", cleat_objects - raw_objects),
                             target: "<= raw")
    medians = MarkBench.compare({ "cleat" => "CleatBench::Scanner", "raw" => "CleatBench::RawScanner" },
                                count: count, samples: samples, processes: processes, populate: POPULATION)
    t = medians.transform_values(&:first)
    rows << BenchSupport.row("full GC marking, #{BenchSupport.count(count)} live Scanners (ms)", "raw hand-written mark",
                             t["cleat"], t["raw"], target: "<= 1.00x", chart: "full GC mark: Scanner vs raw",
                             note: "empty heap #{BenchSupport.figure(t['empty'])} ms#{MarkBench.stat_note(medians)}")
    cleat_bytes, raw_bytes = memsize
    rows << BenchSupport.row("memsize_of(Scanner) with 10 tokens (bytes)", "raw TypedData, embedded where Ruby can (3.3+)",
                             cleat_bytes, raw_bytes, ratio: format("%+d bytes", cleat_bytes - raw_bytes), target: "<= raw")
  end
end

if $PROGRAM_NAME == __FILE__
  puts BenchSupport.header("Scanner: a real-world-shaped class, Cleat against raw C API")
  puts BenchSupport.rows_table(ScannerBench.run)
end
