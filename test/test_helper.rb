# frozen_string_literal: true

require "minitest/autorun"
require "objspace"
require "tether"
require "tether_examples"
require "tether_test"

# Helpers shared by the suite.
module TetherTestHelpers
  # Runs the block with GC.stress on (a GC at every allocation point).
  def under_gc_stress
    previous = GC.stress
    GC.stress = true
    yield
  ensure
    GC.stress = previous
  end

  # Moves every movable object (and checks references) the way the running
  # Ruby spells it: expand_heap on 3.3+, double_heap on 3.1.
  def compact_everything
    keys = GC.method(:verify_compaction_references).parameters.map(&:last)
    if keys.include?(:expand_heap)
      GC.verify_compaction_references(expand_heap: true, toward: :empty)
    else
      GC.verify_compaction_references(double_heap: true, toward: :empty)
    end
  end

  # Number of objects the last compaction moved.
  def objects_moved_by_last_compaction
    GC.latest_compact_info.fetch(:moved).values.sum
  end

  # Makes obj old (survives several GCs), so that a minor GC will not trace it
  # again unless a write barrier says it changed.
  def promote(obj)
    4.times { GC.start(full_mark: true, immediate_sweep: true) }
    obj
  end

  def minor_gcs(count = 5)
    count.times do
      Array.new(1000) { +"garbage" }
      GC.start(full_mark: false, immediate_sweep: true)
    end
  end

  # Polls the block (up to `seconds`) until it returns truthy.
  def wait_until(seconds = 5)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until (result = yield)
      flunk "condition not met within #{seconds}s" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      sleep 0.005
    end
    result
  end
end

Minitest::Test.include(TetherTestHelpers)

# Gives every test of a class a twin that runs it with GC.stress on:
#   class TestBorrow < Minitest::Test; ...; run_every_test_under_gc_stress; end
# `except` names tests about the GC itself (promotion, compaction), whose
# forced GCs under stress only cost time.
module GCStressTwins
  def run_every_test_under_gc_stress(except: [])
    (public_instance_methods(false).grep(/\Atest_/) - except).each do |name|
      define_method(:"#{name}_under_gc_stress") { under_gc_stress { public_send(name) } }
    end
  end
end

Minitest::Test.extend(GCStressTwins)
