# frozen_string_literal: true

require "etc"

# Shared by the benchmark scripts: timing by medians of interleaved rounds,
# and the environment header every table carries.
module BenchSupport
  module_function

  # The thread's CPU time: on a shared machine, the time other processes
  # take from this one is not billed to whatever it was running.
  def clock = Process.clock_gettime(Process::CLOCK_THREAD_CPUTIME_ID, :nanosecond)

  # ns per iteration: the block receives the iteration count and runs the
  # loop itself (callers subtract an empty loop measured the same way).
  def ns_per_call(iterations, &loop_body)
    start = clock
    loop_body.call(iterations)
    (clock - start).fdiv(iterations)
  end

  def median(values)
    sorted = values.sort
    mid = sorted.size / 2
    sorted.size.odd? ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2.0
  end

  # Runs every case once per round, in a rotating order, and returns
  # { name => median ns/call }. gc: says what the GC does around a sample:
  # - true: nothing; it runs when due.
  # - :minor: each sample starts from a minor GC (untimed), so the
  #   collections it runs are those its own garbage triggers, not one the
  #   previous case's garbage left due. For cases that allocate a few
  #   objects a call: it took Scanner#rest from 1.18-1.22x raw to 0.96x on
  #   3.1, where both twins make the same calls and the same objects.
  # - false: each sample starts after a full GC and runs with the GC off
  #   (for cases that allocate megabytes).
  def measure(cases, rounds:, iterations:, gc: true)
    raise ArgumentError, "gc: must be true, :minor or false, not #{gc.inspect}" unless [true, :minor, false].include?(gc)

    samples = Hash.new { |h, k| h[k] = [] }
    cases.each { |_, body| body.call(iterations / 10 + 1) } # warm up
    rounds.times do |round|
      cases.to_a.rotate(round).each do |name, body|
        samples[name] << case gc
                         when true then ns_per_call(iterations, &body)
                         when :minor then from_a_minor_gc { ns_per_call(iterations, &body) }
                         else without_gc { ns_per_call(iterations, &body) }
                         end
      end
    end
    samples.transform_values { |v| median(v) }
  end

  def from_a_minor_gc
    GC.start(full_mark: false, immediate_sweep: true)
    yield
  end

  def without_gc
    GC.start
    GC.disable
    yield
  ensure
    GC.enable
  end

  def cpu
    line = File.foreach("/proc/cpuinfo").find { |l| l.start_with?("model name") }
    line ? line.split(":", 2).last.strip : RbConfig::CONFIG["host_cpu"]
  rescue SystemCallError
    RbConfig::CONFIG["host_cpu"]
  end

  def yjit?
    defined?(RubyVM::YJIT) && RubyVM::YJIT.respond_to?(:enabled?) && RubyVM::YJIT.enabled?
  end

  # A Markdown table: numeric columns (numbers, ratios like "0.93x", nil)
  # right-aligned, text left; Floats with two decimals, nil as "-".
  def markdown_table(titles, rows)
    cell = ->(v) { v.nil? ? "-" : v.is_a?(Float) ? format("%.2f", v) : v.to_s }
    numeric = ->(v) { v.nil? || v.is_a?(Numeric) || v.to_s.match?(/\A-?[\d.]+x\z/) }
    rule = titles.each_index.map { |i| rows.all? { |row| numeric.call(row[i]) } ? "---:" : "---" }
    lines = ["| #{titles.join(' | ')} |", "|#{rule.join('|')}|"]
    rows.each { |row| lines << "| #{row.map(&cell).join(' | ')} |" }
    lines.join("\n")
  end

  def ratio(value) = format("%.2fx", value)

  # 4.91 -> "4.91x faster", 0.75 -> "1.33x slower"
  def speedup_text(speedup)
    speedup >= 1 ? format("%.2fx faster", speedup) : format("%.2fx slower", 1 / speedup)
  end

  # 1000000 -> "1,000,000"
  def count(number) = number.to_s.reverse.scan(/\d{1,3}/).join(",").reverse

  # The loop without a call, written two ways ({ name => lambda }), for
  # the same measure as the cases; loop_ns takes the smaller median. On
  # Ruby 3.3.8 here an empty `while i < n` loop took 22 ns an iteration and
  # the same loop as `until i >= n` 8.7 ns, while the loops with a call took
  # 23 ns either way (on 3.1 and 3.4 all empty loops took 9-12 ns): the
  # `while` loop alone, subtracted, left Counter#value 0.47 ns against 2.76
  # (0.17x). every: the loops also test `i % every == 0` each iteration, as
  # the loops of methods that reset every so many calls do.
  def empty_loops(name, every: nil)
    if every
      { "#{name} (while)" => ->(n) { i = 0; while i < n; i += 1; nil if i % every == 0; end },
        "#{name} (until)" => ->(n) { i = 0; until i >= n; i += 1; nil if i % every == 0; end } }
    else
      { "#{name} (while)" => ->(n) { i = 0; while i < n; i += 1; end },
        "#{name} (until)" => ->(n) { i = 0; until i >= n; i += 1; end } }
    end
  end

  def loop_ns(medians, name) = [medians["#{name} (while)"], medians["#{name} (until)"]].min

  # A call's time with the empty loop's taken off, never below NET_FLOOR_NS:
  # in a noisy round (the smoke test's quick one) a call can measure as fast
  # as the loop itself, and no ratio may divide by zero (JSON refuses the
  # Infinity).
  NET_FLOOR_NS = 0.01
  def net(time, loop) = [time - loop, NET_FLOOR_NS].max

  # One measured row, the same shape from every benchmark (and in the JSON
  # each Ruby's run writes): Cleat's figure against a baseline's, the ratio
  # as text (default Cleat / baseline: below 1x Cleat takes less), speedup
  # for the chart (above 1 Cleat is better; default baseline / Cleat),
  # target for the summary table, chart: its label in the chart (nil: not
  # charted), na: why there is no figure on this Ruby.
  def row(measure, baseline, cleat, base, ratio: nil, speedup: nil, target: nil, chart: nil, na: nil, note: nil)
    unless na
      ratio ||= ratio(cleat / base)
      speedup ||= base / cleat
    end
    { "measure" => measure, "baseline" => baseline, "cleat" => cleat, "base" => base, "ratio" => ratio,
      "speedup" => speedup, "target" => target, "chart" => chart, "na" => na, "note" => note }
  end

  # 3 significant digits, at most 2 decimals: 25.5, 141245, 0.47.
  def figure(value)
    return "-" if value.nil?
    return value.to_s if value.is_a?(Integer)

    magnitude = value.abs
    format(magnitude >= 100 ? "%.0f" : magnitude >= 10 ? "%.1f" : "%.2f", value)
  end

  # "25.5 vs 27.3 (0.93x)", or why there is no figure; note: with the row's note.
  def cell(row, note: true)
    return row["na"] if row["na"]

    text = "#{figure(row['cleat'])} vs #{figure(row['base'])} (#{row['ratio']})"
    note && row["note"] ? "#{text}; #{row['note']}" : text
  end

  # The rows of one Ruby as a Markdown table.
  def rows_table(rows)
    markdown_table(["measure", "baseline", "Cleat vs baseline"], rows.map { |r| [r["measure"], r["baseline"], cell(r)] })
  end

  def header(title)
    "## #{title}\n\nruby #{RUBY_VERSION} (#{RUBY_PLATFORM}), YJIT #{yjit? ? 'on' : 'off'}, " \
      "#{cpu}, #{Etc.nprocessors} cores\n"
  end
end
