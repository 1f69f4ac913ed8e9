# frozen_string_literal: true

# Runs every benchmark in one process and writes the report:
#   bundle exec rake bench
# prints Markdown and writes bench/results.md and bench/results.svg.
# TETHER_BENCH_OUT=dir writes elsewhere; TETHER_BENCH_QUICK=1 runs one tiny
# round of everything (what the test suite does, so the benchmarks cannot rot).
require_relative "lib/bench_support"
require_relative "lib/svg_chart"
require_relative "door"
require_relative "objects"
require_relative "strings"

module BenchReport
  module_function

  def quick? = ENV["TETHER_BENCH_QUICK"] == "1"

  def collect
    if quick?
      { door: DoorBench.run(rounds: 1, iterations: 1000),
        objects: ObjectBench.run(rounds: 1, iterations: 1000, count: 2000, samples: 1, gc_rounds: 1),
        strings: StringBench.run(rounds: 1, iterations: 1) }
    else
      { door: DoorBench.run, objects: ObjectBench.run, strings: StringBench.run }
    end
  end

  # [label, speed-up] pairs for the chart: how many times faster than the
  # baseline Tether is (below 1: slower).
  def chart_items(results)
    items = results[:door].map { |name, tether, raw| [name, raw / tether] }
    alloc, _memsize, _rss, gc_raw, gc_plain = results[:objects]
    items << [alloc[0], alloc[2] / alloc[1]]
    items << [gc_raw[0], gc_raw[2] / gc_raw[1]]
    items << [gc_plain[0], gc_plain[2] / gc_plain[1]]
    results[:strings].each do |name, tether, base, _ratio, _what|
      next if name.include?("ssse3") || name.include?("portable")

      speedup = name.include?("GB/s") ? tether / base : base / tether
      items << [name.sub(" (GB/s)", "").sub(" (ns/call)", "").sub(" (ns/access)", ""), speedup]
    end
    items
  end

  def markdown(results)
    [BenchSupport.header("Tether benchmarks"),
     "Medians of interleaved rounds in one process (RSS: one fresh process per kind). " \
     "Regenerate with `bundle exec rake bench`.\n",
     "### Method calls (ns/call, empty loop subtracted)\n", DoorBench.table(results[:door]), "",
     "### Objects\n", ObjectBench.table(results[:objects]), "",
     "### Strings and views\n", StringBench.table(results[:strings]), ""].join("\n")
  end

  def write(results, dir)
    md = markdown(results)
    File.write(File.join(dir, "results.md"), md)
    svg = SvgChart.bars("Tether against raw C API code (higher is better)", chart_items(results),
                        subtitle: "ruby #{RUBY_VERSION}, YJIT #{BenchSupport.yjit? ? 'on' : 'off'}, #{BenchSupport.cpu}")
    File.write(File.join(dir, "results.svg"), svg)
    md
  end
end

if $PROGRAM_NAME == __FILE__
  out = ENV.fetch("TETHER_BENCH_OUT", __dir__)
  puts BenchReport.write(BenchReport.collect, out)
  puts "\nwrote #{File.join(out, 'results.md')} and #{File.join(out, 'results.svg')}"
end
