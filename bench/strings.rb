# frozen_string_literal: true

# Strings and views from guarded memory (the memory issue's benchmarks):
#   bundle exec rake bench
# - MemorySlice#to_str of 1 MiB against rb_str_new on the same bytes;
# - UTF-8: validation alone in GB/s for each implementation against Ruby's
#   own coderange scan, and the whole #to_utf8_str against rb_str_new +
#   force_encoding + valid_encoding?;
# - a checked view access against a raw pointer read.
require_relative "lib/bench_support"
require "cleat_bench"
require "cleat_examples"
Warning[:experimental] = false

module StringBench
  MIB = 1 << 20
  UTF8_TARGETS = { "ASCII" => ">= 1x faster", "multilingual" => ">= 10x faster" }.freeze

  module_function

  def texts
    english = "The quick brown fox jumps over the lazy dog; naïve café résumé. "
    multilingual = "Привет мир! 你好，世界。γειά σου κόσμε — こんにちは 😀 안녕하세요. "
    {
      "ASCII" => ("The quick brown fox jumps over the lazy dog. " * (MIB / 40)).byteslice(0, MIB),
      "mostly ASCII" => fill(english),
      "multilingual" => fill(multilingual)
    }
  end

  # MIB bytes of text cut at a character boundary (so it stays valid).
  def fill(sample)
    text = sample * (MIB / sample.bytesize + 1)
    cut = MIB
    cut -= 1 until text.byteslice(0, cut).valid_encoding?
    text.byteslice(0, cut)
  end

  def memory_slice(text)
    memory = CleatExamples::Memory.new(MIB / CleatExamples::Memory::PAGE_SIZE + 1)
    memory.write(0, text)
    [memory, memory.slice(0, text.bytesize)]
  end

  def gbps(bytes, ns) = bytes / ns # bytes per ns == GB/s

  def run(rounds: 9, iterations: 20)
    rows = []
    samples = texts
    _, ascii_slice = memory_slice(samples["ASCII"])
    buffer = ascii_slice.to_buffer
    t = BenchSupport.measure({
      "cleat" => ->(n) { n.times { ascii_slice.to_str } },
      "raw" => ->(n) { n.times { CleatBench.raw_str_new(buffer) } }
    }, rounds: rounds, iterations: iterations, gc: false)
    rows << BenchSupport.row("MemorySlice#to_str, 1 MiB (us/call)", "rb_str_new", t["cleat"] / 1e3, t["raw"] / 1e3,
                             target: "<= 1.05x", chart: "MemorySlice#to_str vs rb_str_new")

    samples.each do |name, text|
      _memory, slice = memory_slice(text)
      buf = slice.to_buffer
      ruby_string = text.dup
      cases = {
        "ruby scan" => ->(n) { n.times { CleatBench.ruby_scan(ruby_string) } },
        "cleat call" => ->(n) { n.times { slice.to_utf8_str } },
        "ruby call" => ->(n) { n.times { CleatBench.raw_str_new(buf).force_encoding(Encoding::UTF_8).valid_encoding? } }
      }
      CleatBench.utf8_implementations.each do |impl|
        cases["validate #{impl}"] = ->(n) { n.times { CleatBench.cleat_validate(buf, impl) } }
      end
      t = BenchSupport.measure(cases, rounds: rounds, iterations: iterations, gc: false)
      bytes = text.bytesize
      CleatBench.utf8_implementations.each_with_index do |impl, i| # the first is the default
        rows << throughput("UTF-8 validation, #{name}, #{impl} (GB/s)", "Ruby's coderange scan", bytes,
                           t["validate #{impl}"], t["ruby scan"],
                           chart: i.zero? ? "UTF-8 validation, #{name} (#{impl})" : nil,
                           target: i.zero? ? UTF8_TARGETS[name] : nil)
      end
      rows << throughput("#to_utf8_str, #{name}, whole call (GB/s)", "rb_str_new + force_encoding + valid_encoding?",
                         bytes, t["cleat call"], t["ruby call"], chart: "#to_utf8_str, #{name}")
    end

    view = CleatBench::Region.new(4096).view
    checked, raw = Array.new(rounds) { view.access_ns(iterations * 100_000) }.transpose.map { |v| BenchSupport.median(v) }
    rows << BenchSupport.row("view access (ns/access)", "raw pointer read", checked, raw,
                             ratio: format("%+.2f ns added", checked - raw), target: "<= 2 ns added",
                             chart: "view access vs raw pointer")
    rows
  end

  # A GB/s row from ns per pass over bytes: the ratio is the speed-up.
  def throughput(measure, baseline, bytes, cleat_ns, base_ns, chart:, target: nil)
    BenchSupport.row(measure, baseline, gbps(bytes, cleat_ns), gbps(bytes, base_ns),
                     ratio: BenchSupport.speedup_text(base_ns / cleat_ns), speedup: base_ns / cleat_ns,
                     chart: chart, target: target)
  end
end

if $PROGRAM_NAME == __FILE__
  puts BenchSupport.header("Strings and views: Cleat against raw C and Ruby's own scan")
  puts "median of 9 interleaved rounds; 1 MiB texts; UTF-8 default: #{CleatBench.utf8_implementations.first}\n\n"
  puts BenchSupport.rows_table(StringBench.run)
end
