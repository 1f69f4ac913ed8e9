# frozen_string_literal: true

# Full-GC marking with 1,000,000 live Persons, one struct declared to Cleat
# twice (bench/ext/cleat_bench):
#   bundle exec rake bench     (after a compile: ruby -Ilib -Itmp/lib bench/marking.rb)
# - CleatBench::Person, marked declaratively on Ruby 3.3+ (CLEAT_DECL_MARKING:
#   RUBY_TYPED_DECL_MARKING, the offsets in dmark, Ruby's GC reads the fields);
# - CleatBench::CallbackPerson, the same fields on Cleat's generated mark and
#   compaction callbacks, what every type gets unless it asks otherwise;
# - CleatBench::RawWBPerson, hand-written TypedData with rb_gc_mark_movable.
# Each sample is one GC.start(full_mark: true, immediate_sweep: true) timed
# from the GC's start event to its end-of-marking event in the thread's CPU
# time (CleatBench.gc_mark_ns). Every kind lives in a process of its own,
# built the same way (in one process each population would inherit the heap
# pages, and their fragmentation, the previous one left); the processes wait
# side by side and take turns, one GC each in a rotating order, so the
# machine's changing load falls on every kind alike.
require_relative "lib/bench_support"
require "rbconfig"
require "cleat_bench"

module MarkBench
  KINDS = { "declarative" => "CleatBench::Person", "callbacks" => "CleatBench::CallbackPerson",
            "raw" => "CleatBench::RawWBPerson" }.freeze

  module_function

  # Builds `objects`, count live people of `klass`: each has a friend.
  PEOPLE = <<~RUBY
    hobbies = %w[chess go]
    previous = nil
    objects = Array.new(count) do |i|
      person = klass.new("person \#{i}", hobbies)
      person.add_friend(previous) if previous
      previous = person
    end
  RUBY

  # A Ruby holding count live objects of class_name (none: an empty heap,
  # what marking costs before any of them), built by the `populate` script
  # (given klass and count, it sets objects), that runs one full GC per line
  # it reads and answers "cpu_ms gcs stat_ms" (stat: GC.stat(:marking_time)
  # difference, Ruby 3.3+; "-" before).
  def holder(class_name, count, populate = PEOPLE)
    script = <<~RUBY
      require "cleat_bench"
      klass = #{class_name || 'Object'}
      count = #{class_name ? count : 0}
      #{populate}
      3.times { GC.start(full_mark: true, immediate_sweep: true) }
      $stdout.sync = true
      puts "ready"
      while $stdin.gets
        stat = GC.stat.key?(:marking_time) ? GC.stat(:marking_time) : nil
        ns, gcs = CleatBench.gc_mark_ns { GC.start(full_mark: true, immediate_sweep: true) }
        puts "\#{ns / 1e6} \#{gcs} \#{stat ? GC.stat(:marking_time) - stat : '-'}"
      end
      objects.size # alive until here
    RUBY
    flags = BenchSupport.yjit? ? ["--yjit"] : []
    IO.popen([RbConfig.ruby, *flags, *$LOAD_PATH.map { |dir| "-I#{dir}" }, "-e", script], "r+")
  end

  # One full GC in the holder: [CPU ms marking, GC.stat ms or nil].
  def sample(io, kind)
    io.puts "gc"
    line = io.gets or raise "#{kind}: the holder process died"
    ms, gcs, stat = line.split
    raise "#{kind}: expected one GC, saw #{gcs}" unless gcs == "1"

    [Float(ms), stat == "-" ? nil : Float(stat)]
  end

  # { kind => [median CPU ms, median GC.stat ms or nil] } of full GCs, kinds
  # ({ kind => class name }) and an empty heap ("empty") each held by
  # `processes` holders taking turns, `samples` GCs each.
  def compare(kinds, count:, samples:, processes:, populate: PEOPLE)
    kinds = kinds.merge("empty" => nil)
    holders = kinds.flat_map { |kind, class_name| Array.new(processes) { [kind, holder(class_name, count, populate)] } }
    holders.each { |kind, io| io.gets == "ready\n" or raise "#{kind}: the holder process failed" }
    results = Hash.new { |h, k| h[k] = [] }
    stats = Hash.new { |h, k| h[k] = [] }
    samples.times do |round|
      holders.rotate(round).each do |kind, io|
        ms, stat = sample(io, kind)
        results[kind] << ms
        stats[kind] << stat if stat
      end
    end
    holders.each { |_, io| io.close }
    kinds.keys.to_h do |kind|
      [kind, [BenchSupport.median(results[kind]), stats[kind].empty? ? nil : BenchSupport.median(stats[kind])]]
    end
  end

  # Rows (see BenchSupport.row). Where Ruby has no declarative marking both
  # Cleat kinds are the same thing: the declarative one is not measured.
  # processes per kind: a heap layout that happens to suit one process
  # (addresses, malloc's choices) is averaged out.
  def run(count: 1_000_000, samples: 15, processes: 2)
    declarative = CleatBench.declarative_marking?
    kinds = declarative ? KINDS : KINDS.reject { |k, _| k == "declarative" }
    medians = compare(kinds, count: count, samples: samples, processes: processes)
    t = medians.transform_values(&:first)
    # Ruby's own figure (3.3+; whole ms, wall clock) for the same GCs, and
    # the empty heap's marking, which every figure here includes.
    empty = "empty heap #{BenchSupport.figure(t['empty'])} ms#{stat_note(medians)}"
    measure = "full GC marking, #{BenchSupport.count(count)} live Persons (ms)"
    decl_row = if declarative
                 BenchSupport.row(measure, "declarative vs Cleat's callbacks", t["declarative"], t["callbacks"],
                                  target: "< 1.00x", chart: "full GC mark: declarative vs callbacks",
                                  note: empty)
               else
                 BenchSupport.row(measure, "declarative vs Cleat's callbacks", nil, nil,
                                  na: "n/a (no declarative marking)", target: "< 1.00x",
                                  chart: "full GC mark: declarative vs callbacks")
               end
    [decl_row,
     BenchSupport.row(measure, "Cleat's callbacks vs raw hand-written mark", t["callbacks"], t["raw"],
                      target: "<= 1.10x", chart: "full GC mark: callbacks vs raw", note: declarative ? nil : empty)]
  end

  # "; GC.stat(:marking_time) kind N, ... ms" for the measured kinds (3.3+), or "".
  def stat_note(medians)
    measured = medians.reject { |kind, (_, stat)| kind == "empty" || stat.nil? }
    return "" if measured.empty?

    "; GC.stat(:marking_time) #{measured.map { |kind, (_, stat)| "#{kind} #{format('%.0f', stat)}" }.join(', ')} ms"
  end
end

if $PROGRAM_NAME == __FILE__
  puts BenchSupport.header("Full-GC marking: declarative, Cleat's callbacks, hand-written")
  puts BenchSupport.rows_table(MarkBench.run)
end
