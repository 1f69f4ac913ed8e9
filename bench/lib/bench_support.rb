# frozen_string_literal: true

require "etc"

# Shared by the benchmark scripts: timing by medians of interleaved rounds,
# and the environment header every table carries.
module BenchSupport
  module_function

  def clock = Process.clock_gettime(Process::CLOCK_MONOTONIC, :nanosecond)

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
  # { name => median ns/call }. With gc: false each sample starts after a full
  # GC and runs with the GC off, so a collection triggered by one case's
  # garbage is not billed to another (for cases that allocate megabytes).
  def measure(cases, rounds:, iterations:, gc: true)
    samples = Hash.new { |h, k| h[k] = [] }
    cases.each { |_, body| body.call(iterations / 10 + 1) } # warm up
    rounds.times do |round|
      cases.to_a.rotate(round).each do |name, body|
        samples[name] << (gc ? ns_per_call(iterations, &body) : without_gc { ns_per_call(iterations, &body) })
      end
    end
    samples.transform_values { |v| median(v) }
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

  def header(title)
    "## #{title}\n\nruby #{RUBY_VERSION} (#{RUBY_PLATFORM}), YJIT #{yjit? ? 'on' : 'off'}, " \
      "#{cpu}, #{Etc.nprocessors} cores\n"
  end
end
