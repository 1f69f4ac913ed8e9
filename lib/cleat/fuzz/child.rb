# frozen_string_literal: true

# The process the fuzzer's operations run in (started by Cleat::Fuzz::Runner),
# so that a crash or a hang is seen by the parent instead of ending it.
#
#   ruby child.rb [--require NAME]... [--classes A,B] [--errors E,F]
#                 [--variant LABEL:DIR] [--progress FILE]
#                 (--seed N --count N --save FILE | --ops FILE)
#
# --progress gets the index of every operation as it starts (4 bytes each).
# Exit status 0 ("FUZZ OK ..."), or 1 with "FUZZ FAILURE <signature>" and
# what broke; anything else (a signal, a sanitizer's exit code) is a crash.
# --variant: the extensions must be the LABEL builds in DIR (release, asan);
# one loaded from elsewhere ends the run before any operation (exit 2).
require "optparse"
require_relative "../fuzz"
require_relative "../variant_check"

options = { requires: [], classes: nil, errors: [] }
OptionParser.new do |o|
  o.on("--require NAME") { |v| options[:requires] << v }
  o.on("--classes LIST") { |v| options[:classes] = v.split(",") }
  o.on("--errors LIST") { |v| options[:errors] = v.split(",") }
  o.on("--variant LABEL:DIR") { |v| options[:variant] = v.split(":", 2) }
  o.on("--progress FILE") { |v| options[:progress] = v }
  o.on("--seed N", Integer) { |v| options[:seed] = v }
  o.on("--count N", Integer) { |v| options[:count] = v }
  o.on("--save FILE") { |v| options[:save] = v }
  o.on("--ops FILE") { |v| options[:ops] = v }
end.parse!

options[:requires].each { |name| require name }
if options[:variant]
  label, dir = options[:variant]
  problems = Cleat::VariantCheck.problems(dir, label)
  unless problems.empty?
    problems.each { |problem| warn "cleat fuzz: #{problem}" }
    exit 2
  end
end
registry = Cleat::Fuzz::Registry.new(classes: options[:classes], errors: options[:errors])
ops = if options[:ops]
        Marshal.load(File.binread(options[:ops])) # rubocop:disable Security/MarshalLoad
      else
        Cleat::Fuzz::Generator.new(registry, Random.new(options[:seed])).generate(options[:count])
      end
File.binwrite(options[:save], Marshal.dump(ops)) if options[:save]

progress = options[:progress]&.then { |path| File.open(path, "wb") }
world = Cleat::Fuzz::World.new(registry)
started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
begin
  ops.each_with_index do |source, i|
    progress&.syswrite([i].pack("L<"))
    world.run_source(source, i)
  end
  progress&.syswrite([ops.size].pack("L<"))
  world.finish
rescue Cleat::Fuzz::Failure => e
  GC.stress = false
  puts "FUZZ FAILURE #{e.signature}", e.message
  $stdout.flush
  exit! 1
end
seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
puts format("FUZZ OK %d operations on %d classes in %.1f s (%d per second)", ops.size, registry.types.size,
            seconds, ops.size / [seconds, 0.001].max)
