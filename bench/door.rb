# frozen_string_literal: true

# The method door against hand-written TypedData_Get_Struct methods:
#   bundle exec rake bench     (after a compile: ruby -Ilib -Itmp/lib bench/door.rb)
# Prints a Markdown table of median ns/call: Cleat against raw, ffi, plain Ruby.
# Target: ratio <= 1.00, borrow check included.
require_relative "lib/bench_support"
require "cleat_bench"
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
  ffi_lib $LOADED_FEATURES.find { |f| f.end_with?("/cleat_bench.so") }
  attach_function :increment, :cleat_bench_ffi_increment, %i[pointer int64], :int64
end

module DoorBench
  module_function

  def cases
    raw = CleatBench::RawCounter.new(0)
    cleat = CleatBench::Counter.new(0)
    plain = PlainCounter.new(0)
    ffi_count = FFI::MemoryPointer.new(:int64)
    store, raw_store, str = stores
    {
      "ffi increment(1)" => ->(n) { i = 0; while i < n; FFICounter.increment(ffi_count, 1); i += 1; end },
      "plain increment(1)" => ->(n) { i = 0; while i < n; plain.increment(1); i += 1; end },
      "raw increment(1)" => ->(n) { i = 0; while i < n; raw.increment(1); i += 1; end },
      "cleat increment(1) (exclusive)" => ->(n) { i = 0; while i < n; cleat.increment(1); i += 1; end },
      "raw value" => ->(n) { i = 0; while i < n; raw.value; i += 1; end },
      "cleat value (shared)" => ->(n) { i = 0; while i < n; cleat.value; i += 1; end },
      "raw set" => ->(n) { i = 0; while i < n; raw_store.set(str); i += 1; end },
      "cleat set_checked" => ->(n) { i = 0; while i < n; store.set_checked(str); i += 1; end },
      "cleat set_known" => ->(n) { i = 0; while i < n; store.set_known(str); i += 1; end },
      **BenchSupport.empty_loops("empty loop")
    }
  end

  # A scanner-shaped Store and its raw twin, and the String they store, all
  # old: a long-lived object, as a scanner or parser is.
  def stores
    @stores ||= begin
      source = +"source"
      objects = [CleatBench::Store.new(source), CleatBench::RawStore.new(source), +"stored"]
      4.times { GC.start(full_mark: true, immediate_sweep: true) }
      objects
    end
  end

  # Median ns per store of [cleat_write, cleat_write_known, RB_OBJ_WRITE],
  # timed in C (the store alone), the three in turn each round.
  def store_ns(rounds:, iterations:)
    store, = stores
    a = +"a"
    b = +"b"
    4.times { GC.start(full_mark: true, immediate_sweep: true) }
    samples = Array.new(rounds) { store.store_ns(a, b, iterations) }
    samples.transpose.map { |column| BenchSupport.median(column) }
  end

  # Rows (BenchSupport.row) of median ns/call with the empty loop removed.
  def run(rounds: 15, iterations: 2_000_000)
    t = BenchSupport.measure(cases, rounds: rounds, iterations: iterations)
    base = BenchSupport.loop_ns(t, "empty loop")
    ns = ->(name) { BenchSupport.net(t[name], base) }
    checked, known, raw = store_ns(rounds: rounds, iterations: iterations)
    increment = "Counter#increment(1), exclusive (ns/call)"
    set_checked = "Store#last=(String), class checked, then cleat_write (ns/call)"
    set_known = "Store#last=(String), class checked, then cleat_write_known (ns/call)"
    raw_setter = "raw TypedData_Get_Struct + RB_OBJ_WRITE"
    write = "cleat_write, String field 4 of 4, old object (ns/store)"
    write_known = "cleat_write_known, String field 4 of 4, old object (ns/store)"
    [BenchSupport.row(increment, "raw TypedData_Get_Struct", ns["cleat increment(1) (exclusive)"], ns["raw increment(1)"],
                      target: "<= 1.00x", chart: "Counter#increment(1) vs raw C"),
     BenchSupport.row(increment, "ffi gem", ns["cleat increment(1) (exclusive)"], ns["ffi increment(1)"],
                      chart: "Counter#increment(1) vs ffi gem"),
     BenchSupport.row(increment, "plain Ruby", ns["cleat increment(1) (exclusive)"], ns["plain increment(1)"],
                      chart: "Counter#increment(1) vs plain Ruby"),
     BenchSupport.row("Counter#value, shared (ns/call)", "raw TypedData_Get_Struct", ns["cleat value (shared)"],
                      ns["raw value"], target: "<= 1.00x", chart: "Counter#value vs raw C"),
     BenchSupport.row(set_checked, raw_setter, ns["cleat set_checked"], ns["raw set"],
                      chart: "setter with cleat_write vs raw C"),
     BenchSupport.row(set_known, raw_setter, ns["cleat set_known"], ns["raw set"], target: "<= 1.00x",
                      chart: "setter with cleat_write_known vs raw C"),
     BenchSupport.row(write, "RB_OBJ_WRITE", checked, raw),
     BenchSupport.row(write_known, "RB_OBJ_WRITE", known, raw),
     BenchSupport.row(write_known, "cleat_write", known, checked)]
  end
end

if $PROGRAM_NAME == __FILE__
  puts BenchSupport.header("Method door: Cleat against raw TypedData_Get_Struct")
  puts "median of 15 interleaved rounds of 2,000,000 calls, empty-loop time subtracted\n\n"
  puts BenchSupport.rows_table(DoorBench.run)
end
