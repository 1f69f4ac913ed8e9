# frozen_string_literal: true

require "test_helper"
require_relative "../bench/door"

# One quick round of each benchmark so the benchmark code cannot rot. No
# timing is asserted: speed is judged by bench/, not by tests.
class TestBenchSmoke < Minitest::Test
  def test_door_benchmark_runs
    rows = DoorBench.run(rounds: 1, iterations: 1000)
    assert_equal 2, rows.size
    table = DoorBench.table(rows)
    assert_match(/\| Counter#increment\(1\), exclusive \|/, table)
    raw = TetherBench::RawCounter.new(1)
    tether = TetherBench::Counter.new(1)
    assert_equal raw.increment(2), tether.increment(2)
    assert_equal raw.value, tether.value
  end
end

require_relative "../bench/strings"

class TestStringBenchSmoke < Minitest::Test
  def test_string_benchmark_runs
    rows = StringBench.run(rounds: 1, iterations: 1)
    names = rows.map(&:first)
    assert_includes names, "MemorySlice#to_str, 1 MiB (ns/call)"
    assert_includes names, "view access (ns/access)"
    assert(rows.all? { |row| row[1].positive? && row[2].positive? })
    assert_match(/\| UTF-8 validation, multilingual, portable \(GB\/s\) \|/, StringBench.table(rows))
  end
end
