# frozen_string_literal: true

# Runs fuzzer operations in a process of their own, so that a crash or a hang
# is seen by the parent (test/test_fuzz.rb) instead of ending it.
#
#   ruby child.rb SEED COUNT    the operations the seed generates
#   ruby child.rb --ops FILE    a Marshal dump of operations (shrinking)
#
# Environment: CLEAT_FUZZ_PROGRESS, a file that gets the index of every
# operation as it starts (4 bytes each); CLEAT_FUZZ_GC, "stress" to run with
# GC.stress on, "compact" to run GC.compact before about one operation in
# Fuzz::COMPACT_ONE_IN, with GC.auto_compact on too where the Ruby allows it
# (3.2+: see Cleat::Testing.sweep_time_compaction?); CLEAT_FUZZ_INJECT, a
# deliberate fault to prove the harness ("mismatch", "crash", "hang").
# Exit status: 0 when every operation matched the model ("FUZZ OK", with how
# many operations began under GC.stress and how many compactions ran), 1 on a
# mismatch or an exception the model did not predict (described on stdout).
require_relative "world"

Warning[:experimental] = false # (the Ractor operations)

ops = if ARGV[0] == "--ops"
        Marshal.load(File.binread(ARGV[1])) # rubocop:disable Security/MarshalLoad
      else
        Fuzz.generate(Random.new(Integer(ARGV[0])), Integer(ARGV[1]))
      end

progress = ENV["CLEAT_FUZZ_PROGRESS"]&.then { |path| File.open(path, "wb") }
mode = ENV.fetch("CLEAT_FUZZ_GC", "")
case mode
when "stress" then GC.stress = true
when "compact" then GC.auto_compact = true unless Cleat::Testing.sweep_time_compaction?
end

world = Fuzz::World.new(inject: ENV["CLEAT_FUZZ_INJECT"], compact: mode == "compact")
begin
  world.run(ops, progress: progress)
rescue Fuzz::Mismatch => e
  GC.stress = false
  puts "FUZZ MISMATCH #{e.message}"
  exit 1
rescue Exception => e # rubocop:disable Lint/RescueException
  GC.stress = false
  puts "FUZZ ERROR #{e.class}: #{e.message}\n#{e.backtrace.first(8).join("\n")}"
  exit 1
end
GC.stress = false
puts "FUZZ OK #{ops.size} operations, #{world.stressed_operations} under GC.stress, " \
     "#{world.compactions} compactions"
