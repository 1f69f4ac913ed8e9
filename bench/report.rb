# frozen_string_literal: true

# Runs every benchmark and writes the report. `bundle exec rake bench` runs
# this once per Ruby (3.1; 3.3 and 3.4, each with and without YJIT), each with its own release
# build, and then combines their results into one table with a column per Ruby:
#   ruby bench/report.rb --json FILE --label LABEL   measure in this Ruby, write FILE
#   ruby bench/report.rb --combine [--readme README.md] LABEL=FILE|LABEL=-why ...
#                                                    write the report from those files
#   ruby bench/report.rb                             measure in this Ruby and write the report
# The report is Markdown (printed, and bench/results.md) and a chart
# (bench/results.svg); --readme also replaces the summary table in the README.
# CLEAT_BENCH_OUT=dir writes elsewhere; CLEAT_BENCH_QUICK=1 runs one tiny
# round of everything (what the test suite does, so the benchmarks cannot rot).
require "json"
require_relative "lib/bench_support"
require_relative "lib/svg_chart"

module BenchReport
  SECTIONS = {
    "door" => "Method calls (ns/call, empty loop subtracted)",
    "objects" => "Objects: allocation, bytes per object, minor GC",
    "marking" => "Full-GC marking: declarative (Ruby 3.3+) against callbacks",
    "strings" => "Strings and views",
    "scanner" => "Scanner: a real-world-shaped class (32 methods), Cleat against the raw C API",
    "size" => "Shared object size: the generated gem's Tally and the Scanner, built by each Ruby"
  }.freeze
  README_BEGIN = "<!-- bench:summary (rake bench writes this table) -->"
  README_END = "<!-- /bench:summary -->"

  module_function

  def quick? = ENV["CLEAT_BENCH_QUICK"] == "1"

  # This Ruby's results: { "label", "description", ..., "sections" => { name => rows } }.
  def collect(label)
    require_relative "door"
    require_relative "objects"
    require_relative "marking"
    require_relative "strings"
    require_relative "size"
    require_relative "scanner"
    sections = if quick?
                 { "door" => DoorBench.run(rounds: 1, iterations: 1000),
                   "objects" => ObjectBench.run(rounds: 1, iterations: 1000, count: 2000, samples: 1, gc_rounds: 1),
                   "marking" => MarkBench.run(count: 2000, samples: 1, processes: 1),
                   "strings" => StringBench.run(rounds: 1, iterations: 1),
                   "scanner" => ScannerBench.run(rounds: 1, iterations: 100, count: 2000, samples: 1, processes: 1),
                   "size" => SizeBench.run }
               else
                 { "door" => DoorBench.run, "objects" => ObjectBench.run, "marking" => MarkBench.run,
                   "strings" => StringBench.run, "scanner" => ScannerBench.run, "size" => SizeBench.run }
               end
    { "label" => label, "description" => RUBY_DESCRIPTION, "version" => RUBY_VERSION, "yjit" => BenchSupport.yjit?,
      "cpu" => BenchSupport.cpu, "cores" => Etc.nprocessors, "declarative" => CleatBench.declarative_marking?,
      "loaded" => $LOADED_FEATURES.grep(/cleat_(bench|examples)\.so\z/), "sections" => sections }
  end

  def default_label
    "Ruby #{RUBY_VERSION[/\A\d+\.\d+/]}#{BenchSupport.yjit? ? ' + YJIT' : ''}"
  end

  # ---- the combined report ----

  # Rows of every run by [measure, baseline], in first-seen order.
  def keys(runs, section)
    runs.flat_map { |run| run.dig("sections", section) || [] }.map { |r| [r["measure"], r["baseline"]] }.uniq
  end

  def find(run, section, key)
    (run.dig("sections", section) || []).find { |r| [r["measure"], r["baseline"]] == key }
  end

  def cell(run, section, key, note: true)
    return run["missing"] if run["missing"]

    row = find(run, section, key)
    row ? BenchSupport.cell(row, note: note) : "-"
  end

  def section_table(runs, section)
    BenchSupport.markdown_table(["measure", "baseline", *runs.map { |r| r["label"] }],
                                keys(runs, section).map { |key| [*key, *runs.map { |run| cell(run, section, key) }] })
  end

  # The rows that have a target, every section: the README's table.
  def summary_table(runs)
    rows = SECTIONS.keys.flat_map do |section|
      keys(runs, section).filter_map do |key|
        target = runs.filter_map { |run| find(run, section, key)&.fetch("target") }.first
        [*key, target, *runs.map { |run| cell(run, section, key, note: false) }] if target
      end
    end
    BenchSupport.markdown_table(["measure", "baseline", "target", *runs.map { |r| r["label"] }], rows)
  end

  def rubies(runs)
    lines = runs.map do |run|
      what = run["missing"] || "`#{run['description']}`"
      "- **#{run['label']}**: #{what}"
    end
    measured = runs.find { |run| !run["missing"] }
    lines << "- machine: #{measured['cpu']}, #{measured['cores']} cores" if measured
    lines.join("\n")
  end

  def elapsed_note
    seconds = ENV["CLEAT_BENCH_ELAPSED"]&.to_f
    seconds ? format(" The whole run took %d min %02d s.", seconds / 60, seconds % 60) : ""
  end

  def markdown(runs)
    parts = ["## Cleat benchmarks\n", "Rubies measured (one column each):\n", rubies(runs), "",
             "Each cell: Cleat's figure vs the baseline's, and in brackets Cleat / baseline (below 1x Cleat " \
             "takes less time; \"faster\" marks a speed-up, \"bytes\" and \"ns added\" a difference). Every Ruby runs the same " \
             "benchmarks against raw C API twins built into the same release extension, in one process, as " \
             "medians of interleaved rounds, timed in the thread's CPU time (the machine is shared); RSS is " \
             "measured in a fresh process per kind, full-GC marking in two processes per kind taking turns. " \
             "Every Ruby marks Cleat's types with Cleat's generated callbacks; on Ruby 3.3 and 3.4 the marking " \
             "rows also time a Person that asks Ruby to mark it declaratively (CLEAT_DECL_MARKING); YJIT compiles the Ruby side (the loops, the " \
             "calls into C, plain Ruby methods), not the C code. Regenerate with `bundle exec rake bench`.#{elapsed_note}\n",
             "### Summary\n", summary_table(runs), ""]
    SECTIONS.each do |section, title|
      next if keys(runs, section).empty?

      parts << "### #{title}\n" << section_table(runs, section) << ""
    end
    parts.join("\n")
  end

  def chart(runs)
    charted = SECTIONS.keys.flat_map do |section|
      keys(runs, section).filter_map do |key|
        label = runs.filter_map { |run| find(run, section, key)&.fetch("chart") }.first
        [label, runs.map { |run| run["missing"] ? nil : find(run, section, key)&.fetch("speedup") }] if label
      end
    end
    measured = runs.find { |run| !run["missing"] }
    SvgChart.grouped_bars("Cleat against its baselines, per Ruby (higher is better)", charted,
                          runs.map { |run| run["missing"] ? "#{run['label']} (#{run['missing']})" : run["label"] },
                          subtitle: measured ? "#{measured['cpu']}, #{measured['cores']} cores" : "")
  end

  def replace_readme_table(path, runs)
    text = File.read(path)
    first = text.index(README_BEGIN) or raise "#{path}: no #{README_BEGIN}"
    last = text.index(README_END) or raise "#{path}: no #{README_END}"
    table = "#{README_BEGIN}\n#{summary_table(runs)}\n"
    File.write(path, text[0...first] + table + text[last..])
  end

  def write(runs, dir, readme: nil)
    md = markdown(runs)
    File.write(File.join(dir, "results.md"), md)
    File.write(File.join(dir, "results.svg"), chart(runs))
    replace_readme_table(readme, runs) if readme
    md
  end

  # "LABEL=FILE" (a run's JSON) or "LABEL=-why" (not measured: why).
  def load_run(spec)
    label, source = spec.split("=", 2)
    return { "label" => label, "missing" => source.delete_prefix("-") } if source.start_with?("-")

    JSON.parse(File.read(source)).merge("label" => label)
  end
end

if $PROGRAM_NAME == __FILE__
  out = ENV.fetch("CLEAT_BENCH_OUT", __dir__)
  args = ARGV.dup
  option = ->(name) { (i = args.index(name)) ? args.slice!(i, 2).last : nil }
  if (file = option.call("--json"))
    label = option.call("--label") || BenchReport.default_label
    File.write(file, JSON.pretty_generate(BenchReport.collect(label)))
    puts "#{label}: wrote #{file}"
  else
    readme = option.call("--readme")
    runs = if args.delete("--combine")
             args.map { |spec| BenchReport.load_run(spec) }
           else
             [BenchReport.collect(BenchReport.default_label)]
           end
    puts BenchReport.write(runs, out, readme: readme)
    puts "\nwrote #{File.join(out, 'results.md')} and #{File.join(out, 'results.svg')}"
  end
end
