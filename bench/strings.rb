# frozen_string_literal: true

# Strings and views from guarded memory (the memory issue's benchmarks):
#   bundle exec rake bench
# - MemorySlice#to_str of 1 MiB against rb_str_new on the same bytes;
# - UTF-8: validation alone in GB/s for each implementation against Ruby's
#   own coderange scan, and the whole #to_utf8_str against rb_str_new +
#   force_encoding + valid_encoding?;
# - a checked view access against a raw pointer read.
require_relative "lib/bench_support"
require "tether_bench"
require "tether_examples"
Warning[:experimental] = false

module StringBench
  MIB = 1 << 20

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
    memory = TetherExamples::Memory.new(MIB / TetherExamples::Memory::PAGE_SIZE + 1)
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
      "tether" => ->(n) { n.times { ascii_slice.to_str } },
      "raw" => ->(n) { n.times { TetherBench.raw_str_new(buffer) } }
    }, rounds: rounds, iterations: iterations, gc: false)
    rows << ["MemorySlice#to_str, 1 MiB (ns/call)", t["tether"], t["raw"], t["raw"] / t["tether"], "rb_str_new"]

    samples.each do |name, text|
      _memory, slice = memory_slice(text)
      buf = slice.to_buffer
      ruby_string = text.dup
      cases = {
        "ruby scan" => ->(n) { n.times { TetherBench.ruby_scan(ruby_string) } },
        "tether call" => ->(n) { n.times { slice.to_utf8_str } },
        "ruby call" => ->(n) { n.times { TetherBench.raw_str_new(buf).force_encoding(Encoding::UTF_8).valid_encoding? } }
      }
      TetherBench.utf8_implementations.each do |impl|
        cases["validate #{impl}"] = ->(n) { n.times { TetherBench.tether_validate(buf, impl) } }
      end
      t = BenchSupport.measure(cases, rounds: rounds, iterations: iterations, gc: false)
      bytes = text.bytesize
      TetherBench.utf8_implementations.each do |impl|
        rows << ["UTF-8 validation, #{name}, #{impl} (GB/s)", gbps(bytes, t["validate #{impl}"]),
                 gbps(bytes, t["ruby scan"]), t["ruby scan"] / t["validate #{impl}"], "Ruby's coderange scan"]
      end
      rows << ["#to_utf8_str, #{name}, whole call (GB/s)", gbps(bytes, t["tether call"]), gbps(bytes, t["ruby call"]),
               t["ruby call"] / t["tether call"], "rb_str_new + force_encoding + valid_encoding?"]
    end

    view = TetherBench::Region.new(4096).view
    checked, raw = Array.new(rounds) { view.access_ns(iterations * 100_000) }.transpose.map { |v| BenchSupport.median(v) }
    rows << ["view access (ns/access)", checked, raw, raw / checked, "raw pointer read; added: #{format('%.2f', checked - raw)} ns"]
    rows
  end

  def table(rows)
    BenchSupport.markdown_table(
      ["measure", "Tether", "baseline", "speed-up (>1 is Tether faster)", "baseline is"],
      rows.map { |name, tether, base, ratio, what| [name, tether, base, BenchSupport.ratio(ratio), what] }
    )
  end
end

if $PROGRAM_NAME == __FILE__
  puts BenchSupport.header("Strings and views: Tether against raw C and Ruby's own scan")
  puts "median of 9 interleaved rounds; 1 MiB texts; UTF-8 default: #{TetherBench.utf8_implementations.first}\n\n"
  puts StringBench.table(StringBench.run)
end
