# frozen_string_literal: true

# The method door against hand-written TypedData_Get_Struct methods:
#   bundle exec rake bench     (after a compile: ruby -Ilib -Itmp/lib bench/door.rb)
# Prints a Markdown table of median ns/call and the ratio Tether / raw.
# Target: ratio <= 1.00, borrow check included.
require_relative "lib/bench_support"
require "tether_bench"
require "ffi"

# The same counter as a plain Ruby class.
class PlainCounter
  attr_reader :value

  def initialize(initial) = @value = initial

  def increment(amount)
    @value += amount
  end
end

# The same counter as a C function called through the ffi gem.
module FFICounter
  extend FFI::Library
  ffi_lib $LOADED_FEATURES.find { |f| f.end_with?("/tether_bench.so") }
  attach_function :increment, :tether_bench_ffi_increment, %i[pointer int64], :int64
end

module DoorBench
  module_function

  def cases
    raw = TetherBench::RawCounter.new(0)
    tether = TetherBench::Counter.new(0)
    plain = PlainCounter.new(0)
    ffi_count = FFI::MemoryPointer.new(:int64)
    {
      "ffi increment(1)" => ->(n) { i = 0; while i < n; FFICounter.increment(ffi_count, 1); i += 1; end },
      "plain increment(1)" => ->(n) { i = 0; while i < n; plain.increment(1); i += 1; end },
      "raw increment(1)" => ->(n) { i = 0; while i < n; raw.increment(1); i += 1; end },
      "tether increment(1) (exclusive)" => ->(n) { i = 0; while i < n; tether.increment(1); i += 1; end },
      "raw value" => ->(n) { i = 0; while i < n; raw.value; i += 1; end },
      "tether value (shared)" => ->(n) { i = 0; while i < n; tether.value; i += 1; end },
      "empty loop" => ->(n) { i = 0; while i < n; i += 1; end }
    }
  end

  # Returns rows [name, tether ns, raw ns, ratio, ffi ns, plain Ruby ns]
  # with the empty loop removed.
  def run(rounds: 15, iterations: 2_000_000)
    t = BenchSupport.measure(cases, rounds: rounds, iterations: iterations)
    base = t["empty loop"]
    ffi = t["ffi increment(1)"] - base
    plain = t["plain increment(1)"] - base
    [
      ["Counter#increment(1), exclusive", t["tether increment(1) (exclusive)"] - base, t["raw increment(1)"] - base, ffi, plain],
      ["Counter#value, shared", t["tether value (shared)"] - base, t["raw value"] - base, nil, nil]
    ].map { |name, tether, raw, f, pl| [name, tether, raw, tether / raw, f, pl] }
  end

  def table(rows)
    BenchSupport.markdown_table(
      ["method call", "Tether ns/call", "raw TypedData ns/call", "Tether / raw", "ffi gem ns/call", "plain Ruby ns/call"],
      rows.map { |name, tether, raw, ratio, ffi, plain| [name, tether, raw, BenchSupport.ratio(ratio), ffi, plain] }
    )
  end
end

if $PROGRAM_NAME == __FILE__
  puts BenchSupport.header("Method door: Tether against raw TypedData_Get_Struct")
  puts "median of 15 interleaved rounds of 2,000,000 calls, empty-loop time subtracted\n\n"
  puts DoorBench.table(DoorBench.run)
end
