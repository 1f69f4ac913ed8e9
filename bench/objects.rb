# frozen_string_literal: true

# Allocation, bytes per object and minor GC time:
#   bundle exec rake bench
# - Counter.new against raw TypedData_Make_Struct (target <= 1.05x);
# - memsize_of and RSS growth per object over 1,000,000 Counters against raw
#   (target <= 8 bytes more);
# - minor GC (marking; sweep left lazy) with 1,000,000 live Persons holding references, against raw
#   non-WB-protected TypedData holders (target: Cleat >= 5x faster) and plain
#   Ruby objects (target: Cleat <= 1.3x).
require_relative "lib/bench_support"
require "objspace"
require "rbconfig"
require "cleat_bench"
require "cleat_examples"

# The chapter's Person as a plain Ruby class.
class PlainPerson
  attr_reader :name, :hobbies, :friend

  def initialize(name, hobbies)
    @name = name
    @hobbies = hobbies
    @friend = nil
  end

  def add_friend(other)
    @friend = other
    self
  end
end

module ObjectBench
  module_function

  def allocation(rounds:, iterations:)
    t = BenchSupport.measure({
      "cleat" => ->(n) { i = 0; while i < n; CleatBench::Counter.new(i); i += 1; end },
      "raw" => ->(n) { i = 0; while i < n; CleatBench::RawCounter.new(i); i += 1; end },
      "plain" => ->(n) { i = 0; while i < n; PlainCounter.new(i); i += 1; end }
    }, rounds: rounds, iterations: iterations, gc: false) # collection is measured by the GC rows

    [BenchSupport.row("Counter.new (ns/object)", "raw TypedData_Make_Struct", t["cleat"], t["raw"],
                      target: "<= 1.05x", chart: "Counter.new vs raw C"),
     BenchSupport.row("Counter.new (ns/object)", "plain Ruby", t["cleat"], t["plain"])]
  end

  # [memsize_of per object, RSS growth per object] for count objects of the
  # named class, measured in a fresh Ruby: in this process the second class
  # would reuse the heap pages the first one left.
  def bytes_per_object(class_name, count)
    script = <<~RUBY
      require "objspace"; require "cleat_bench"
      GC.start
      before = CleatBench.rss_bytes
      objects = Array.new(#{count}) { |i| #{class_name}.new(i) }
      GC.start
      grown = CleatBench.rss_bytes - before - ObjectSpace.memsize_of(objects)
      print Marshal.dump([ObjectSpace.memsize_of(objects.first), grown.fdiv(#{count})])
    RUBY
    out = IO.popen([RbConfig.ruby, *$LOAD_PATH.map { |dir| "-I#{dir}" }, "-e", script], &:read)
    Marshal.load(out) # rubocop:disable Security/MarshalLoad -- our own child's output
  end

  def memory(count:)
    cleat_memsize, cleat_rss = bytes_per_object("CleatBench::Counter", count)
    raw_memsize, raw_rss = bytes_per_object("CleatBench::RawCounter", count)
    bytes = ->(difference) { format("%+g bytes", difference.round(1)) }
    [BenchSupport.row("memsize_of(Counter) (bytes)", "raw TypedData", cleat_memsize, raw_memsize,
                      ratio: bytes[cleat_memsize - raw_memsize], target: "<= +8 bytes"),
     BenchSupport.row("RSS growth per Counter (bytes)", "raw TypedData", cleat_rss, raw_rss, ratio: bytes[cleat_rss - raw_rss],
                      target: "<= +8 bytes")]
  end

  def people(klass, count)
    hobbies = %w[chess go]
    previous = nil
    Array.new(count) do |i|
      person = klass.new("person #{i}", hobbies)
      person.add_friend(previous) if previous
      previous = person
    end
  end

  # Median ms of a minor GC with count live people of klass, all promoted.
  # The sweep is left lazy (it runs during later allocations, and costs the
  # same for every kind): what write-barrier protection changes is marking,
  # where a minor GC must trace every unprotected object again.
  def minor_gc_ms(klass, count, samples)
    list = people(klass, count)
    4.times { GC.start(full_mark: true, immediate_sweep: true) }
    times = Array.new(samples) do
      Array.new(1000) { +"young garbage" }
      GC.start(full_mark: false, immediate_sweep: true) # finish the previous sweep, untimed
      Array.new(1000) { +"young garbage" }
      start = BenchSupport.clock
      GC.start(full_mark: false, immediate_sweep: false)
      (BenchSupport.clock - start) / 1e6
    end
    list.size # keep them alive until here
    BenchSupport.median(times)
  ensure
    list = nil # rubocop:disable Lint/UselessAssignment
    GC.start
  end

  def minor_gc(count:, samples:, rounds:)
    kinds = { "cleat" => CleatExamples::Person, "raw" => CleatBench::RawPerson, "plain" => PlainPerson }
    results = Hash.new { |h, k| h[k] = [] }
    rounds.times do |round|
      kinds.to_a.rotate(round).each { |name, klass| results[name] << minor_gc_ms(klass, count, samples) }
    end
    t = results.transform_values { |v| BenchSupport.median(v) }
    measure = "minor GC marking, #{BenchSupport.count(count)} live Persons (ms)"
    [BenchSupport.row(measure, "raw TypedData, not WB-protected", t["cleat"], t["raw"],
                      ratio: BenchSupport.speedup_text(t["raw"] / t["cleat"]), target: ">= 5x faster",
                      chart: "minor GC vs raw non-WB"),
     BenchSupport.row(measure, "plain Ruby objects", t["cleat"], t["plain"], target: "<= 1.30x",
                      chart: "minor GC vs plain Ruby")]
  end

  def run(rounds: 9, iterations: 500_000, count: 1_000_000, samples: 9, gc_rounds: 3)
    allocation(rounds: rounds, iterations: iterations) + memory(count: count) +
      minor_gc(count: count, samples: samples, rounds: gc_rounds)
  end
end

if $PROGRAM_NAME == __FILE__
  require_relative "door" # PlainCounter
  puts BenchSupport.header("Objects: allocation, bytes and minor GC against raw C and plain Ruby")
  puts BenchSupport.rows_table(ObjectBench.run)
end
