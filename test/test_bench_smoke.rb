# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"
require "tmpdir"
require "tether_bench"

# One tiny round of every benchmark so the benchmark code cannot rot. No
# timing is asserted: speed is judged by bench/, not by tests.
class TestBenchSmoke < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  tether_skip_under_gc_stress :test_report_runs_and_writes_markdown_and_svg

  ROOT = File.expand_path("..", __dir__)

  def test_report_runs_and_writes_markdown_and_svg
    Dir.mktmpdir do |dir|
      env = { "TETHER_BENCH_QUICK" => "1", "TETHER_BENCH_OUT" => dir }
      out, status = Open3.capture2e(env, RbConfig.ruby, "-I#{ROOT}/lib", "-I#{ROOT}/tmp/lib",
                                    File.join(ROOT, "bench/report.rb"))
      assert status.success?, out
      md = File.read(File.join(dir, "results.md"))
      ["Counter#increment(1), exclusive", "Counter.new", "memsize_of(Counter)", "minor GC marking, 2000 live Persons",
       "MemorySlice#to_str", "UTF-8 validation, multilingual", "view access"].each do |row|
        assert_includes md, row
      end
      svg = File.read(File.join(dir, "results.svg"))
      assert_match(/\A<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/, svg)
      assert_operator svg.scan("<rect ").size, :>=, 10
    end
  end

  def test_raw_twins_behave_like_the_tether_types
    raw = TetherBench::RawCounter.new(1)
    tether = TetherBench::Counter.new(1)
    assert_equal raw.increment(2), tether.increment(2)
    assert_equal raw.value, tether.value
    person = TetherBench::RawPerson.new("raw", [])
    assert_equal "raw", person.add_friend(person).name
  end
end
