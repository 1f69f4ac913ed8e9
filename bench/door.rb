# frozen_string_literal: true

# The method door against hand-written TypedData_Get_Struct methods:
#   bundle exec rake bench     (after a compile: ruby -Ilib -Itmp/lib bench/door.rb)
# Prints a Markdown table of median ns/call and the ratio Tether / raw.
# Target: ratio <= 1.00, borrow check included.
require_relative "lib/bench_support"
require "tether_bench"

module DoorBench
  module_function

  def cases
    raw = TetherBench::RawCounter.new(0)
    tether = TetherBench::Counter.new(0)
    {
      "raw increment(1)" => ->(n) { i = 0; while i < n; raw.increment(1); i += 1; end },
      "tether increment(1) (exclusive)" => ->(n) { i = 0; while i < n; tether.increment(1); i += 1; end },
      "raw value" => ->(n) { i = 0; while i < n; raw.value; i += 1; end },
      "tether value (shared)" => ->(n) { i = 0; while i < n; tether.value; i += 1; end },
      "empty loop" => ->(n) { i = 0; while i < n; i += 1; end }
    }
  end

  # Returns rows [name, tether ns, raw ns, ratio] with the empty loop removed.
  def run(rounds: 15, iterations: 2_000_000)
    t = BenchSupport.measure(cases, rounds: rounds, iterations: iterations)
    base = t["empty loop"]
    [
      ["Counter#increment(1), exclusive", t["tether increment(1) (exclusive)"] - base, t["raw increment(1)"] - base],
      ["Counter#value, shared", t["tether value (shared)"] - base, t["raw value"] - base]
    ].map { |name, tether, raw| [name, tether, raw, tether / raw] }
  end

  def table(rows)
    lines = ["| method call | Tether ns/call | raw TypedData ns/call | Tether / raw |",
             "|---|---:|---:|---:|"]
    rows.each { |name, tether, raw, ratio| lines << format("| %s | %.2f | %.2f | %.2fx |", name, tether, raw, ratio) }
    lines.join("\n")
  end
end

if $PROGRAM_NAME == __FILE__
  puts BenchSupport.header("Method door: Tether against raw TypedData_Get_Struct")
  puts "median of 15 interleaved rounds of 2,000,000 calls, empty-loop time subtracted\n\n"
  puts DoorBench.table(DoorBench.run)
end
