# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"
require "tmpdir"
require "cleat_bench"
require_relative "../bench/report"

# One tiny round of every benchmark so the benchmark code cannot rot. No
# timing is asserted: speed is judged by bench/, not by tests.
class TestBenchSmoke < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_report_runs_and_writes_markdown_and_svg,
                              :test_the_same_person_marked_declaratively_and_by_callbacks

  ROOT = File.expand_path("..", __dir__)

  # A quick round can time a call as fast as the empty loop: the ratio
  # must stay finite (the report's JSON refused an Infinity, failing CI).
  def test_a_call_timed_as_fast_as_the_empty_loop_keeps_its_ratios_finite
    require_relative "../bench/lib/bench_support"
    row = BenchSupport.row("m", "b", BenchSupport.net(5.0, 7.5), BenchSupport.net(3.0, 3.0))
    assert_equal [BenchSupport::NET_FLOOR_NS, BenchSupport::NET_FLOOR_NS], [row["cleat"], row["base"]]
    assert row["speedup"].finite?
    assert_equal "1.00x", row["ratio"]
  end

  # On Ruby 3.3.8 an empty `while` loop took 22 ns an iteration, the same
  # loop as `until` 8.7, and loops with a call 23 either way: subtracting
  # the `while` loop made Counter#value 0.17x raw. The baseline is the
  # faster of the two shapes, each running the iterations it is given.
  def test_the_loop_baseline_is_the_faster_of_two_loop_shapes
    require_relative "../bench/lib/bench_support"
    loops = BenchSupport.empty_loops("forward", every: 3).merge(BenchSupport.empty_loops("empty"))
    assert_equal ["forward (while)", "forward (until)", "empty (while)", "empty (until)"], loops.keys
    loops.each do |name, body|
      tests = 0 # the loop's tests of i against the limit: 7 iterations, then the one that ends it
      limit = Object.new
      limit.define_singleton_method(:coerce) { |i| [i, (tests += 1) && 7] }
      body.call(limit)
      assert_equal 8, tests, name
    end
    assert_equal 8.7, BenchSupport.loop_ns({ "empty (while)" => 22.0, "empty (until)" => 8.7 }, "empty")
    assert_equal 9.1, BenchSupport.loop_ns({ "empty (while)" => 9.1, "empty (until)" => 10.2 }, "empty")
  end

  # A collection due from one case's garbage was billed to the next case
  # (Scanner#rest came out 1.18-1.34x raw on identical calls on 3.1): with
  # gc: :minor, which the Scanner's methods use, every timed sample starts
  # from a minor GC of its own; by default no sample does.
  def test_minor_gc_samples_start_from_a_minor_gc
    require_relative "../bench/lib/bench_support"
    starts = []
    recorder = Module.new do
      define_method(:start) do |**options|
        starts << options
        super(**options)
      end
    end
    GC.singleton_class.prepend(recorder)
    body = ->(_n) {}
    BenchSupport.measure({ "a" => body, "b" => body }, rounds: 3, iterations: 10, gc: :minor)
    assert_equal [{ full_mark: false, immediate_sweep: true }] * 6, starts # one before each of 3 rounds x 2 cases
    starts.clear
    BenchSupport.measure({ "a" => body, "b" => body }, rounds: 3, iterations: 10)
    assert_empty starts # by default no sample starts with a collection
    assert_match(/gc: must be true, :minor or false/,
                 assert_raises(ArgumentError) { BenchSupport.measure({}, rounds: 1, iterations: 1, gc: :full) }.message)
  ensure
    recorder&.send(:define_method, :start) { |**options| super(**options) } # the prepended module passes through
  end

  def test_report_runs_and_writes_markdown_and_svg
    Dir.mktmpdir do |dir|
      env = { "CLEAT_BENCH_QUICK" => "1", "CLEAT_BENCH_OUT" => dir }
      out, status = Open3.capture2e(env, RbConfig.ruby, "-I#{ROOT}/lib", "-I#{ROOT}/tmp/lib",
                                    File.join(ROOT, "bench/report.rb"), "--json", "#{dir}/here.json", "--label", "here")
      assert status.success?, out
      # The way `rake bench` combines the Rubies, one of them missing.
      File.write("#{dir}/README.md", "before\n#{BenchReport::README_BEGIN}\nold\n#{BenchReport::README_END}\nafter\n")
      out, status = Open3.capture2e(env, RbConfig.ruby, File.join(ROOT, "bench/report.rb"), "--combine",
                                    "--readme", "#{dir}/README.md", "here=#{dir}/here.json", "Ruby 9.9=-not installed")
      assert status.success?, out
      md = File.read(File.join(dir, "results.md"))
      ["Counter#increment(1), exclusive", "Counter.new", "memsize_of(Counter)", "minor GC marking, 2,000 live Persons",
       "full GC marking, 2,000 live Persons", "MemorySlice#to_str", "UTF-8 validation, multilingual", "view access",
       ".so size, stripped (KB): the generated gem's Tally", ".so size, stripped (KB): Scanner (32 methods)",
       "Scanner#scan(re) (ns/call)", "Scanner, largest of 32 methods' ratios", "full GC marking, 2,000 live Scanners",
       "memsize_of(Scanner) with 10 tokens (bytes)",
       "| measure | baseline | here | Ruby 9.9 |", "| not installed |"].each do |text|
        assert_includes md, text
      end
      readme = File.read("#{dir}/README.md")
      assert_match(/\Abefore\n<!-- bench:summary.*\n\| measure \| baseline \| target \| here \| Ruby 9.9 \|\n.*<!-- \/bench:summary -->\nafter\n\z/m,
                   readme)
      svg = File.read(File.join(dir, "results.svg"))
      assert_match(/\A<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/, svg)
      assert_operator svg.scan("<rect ").size, :>=, 10
      assert_includes svg, "Ruby 9.9 (not installed)"
    end
  end

  def test_the_same_person_marked_declaratively_and_by_callbacks
    people = [CleatBench::Person, CleatBench::CallbackPerson, CleatBench::RawWBPerson].map do |klass|
      klass.new("a", []).add_friend(klass.new("b", []))
    end
    GC.start
    assert_equal %w[a a a], people.map(&:name)
    assert_equal RUBY_VERSION >= "3.3", CleatBench.declarative_marking?
    ns, gcs = CleatBench.gc_mark_ns { GC.start(full_mark: true, immediate_sweep: true) }
    assert_equal 1, gcs
    assert_operator ns, :>, 0
  end

  def test_raw_twins_behave_like_the_cleat_types
    raw = CleatBench::RawCounter.new(1)
    cleat = CleatBench::Counter.new(1)
    assert_equal raw.increment(2), cleat.increment(2)
    assert_equal raw.value, cleat.value
    person = CleatBench::RawPerson.new("raw", [])
    assert_equal "raw", person.add_friend(person).name
  end
end
