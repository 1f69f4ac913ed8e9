# frozen_string_literal: true

require "minitest/autorun"
require "objspace"
require "open3"
require "rbconfig"
require "cleat"
require "cleat/testing"
require "cleat_examples"
require "cleat_test"

# Helpers shared by the suite, beyond Cleat::Testing's.
module CleatTestHelpers
  include Cleat::Testing

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

  # Compiles one C translation unit (-fsyntax-only, -Wall -Wextra -Wshadow
  # -Werror, Ruby's headers and include/) as `file` from `line` on; returns
  # [compiler output, status]. For tests of what must or must not compile.
  # -Wshadow: the doors' hidden parameters must not break it.
  # werror: false compiles as a user who does not ask for -Werror.
  def compile_c(code, file: "snippet.c", line: 1, werror: true)
    root = File.expand_path("..", __dir__)
    cc = [*RbConfig::CONFIG["CC"].split, "-fsyntax-only", "-std=gnu11", "-Wall", "-Wextra", "-Wshadow",
          *("-Werror" if werror),
          # Ruby's own headers are not -Wextra clean: -isystem; Cleat's header is held to it.
          "-isystem", RbConfig::CONFIG["rubyarchhdrdir"], "-isystem", RbConfig::CONFIG["rubyhdrdir"],
          "-I#{root}/include", "-x", "c", "-"]
    Open3.capture2e(*cc, stdin_data: "#line #{line} \"#{file}\"\n#{code}")
  end

  # Runs full GCs from stacks of several depths until the block returns
  # truthy (or tries run out; then the block's last answer): a stale copy of
  # a dead fiber's address on the machine stack, which the GC scans
  # conservatively, keeps it alive at one depth but not at all of them.
  def collect_until(tries = 20)
    tries.times do |i|
      return true if yield

      burn_stack(i * 7) { GC.start(full_mark: true, immediate_sweep: true) }
    end
    yield
  end

  def burn_stack(depth, &block)
    depth.zero? ? block.call : burn_stack(depth - 1, &block)
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

  # Code for a child Ruby, put before its own: defines usr1_storm(every),
  # which runs its block while a forked process sends this one SIGUSR1 every
  # `every` seconds (a thread could not: it would need the GVL the block
  # holds), then stops the sender. One line, so the line numbers of the code
  # after it stay as written.
  USR1_STORM = "def usr1_storm(every); parent = Process.pid; " \
               "sender = fork { loop { Process.kill(:USR1, parent); sleep every } }; yield; " \
               "ensure; if sender; Process.kill(:KILL, sender); Process.wait(sender); end; end; "
end

Minitest::Test.include(CleatTestHelpers)

# Gives every test of a class a twin that runs it with GC.stress on:
#   class TestBorrow < Minitest::Test; ...; run_every_test_under_gc_stress; end
# `except` names tests about the GC itself (promotion, compaction), whose
# forced GCs under stress only cost time.
module GCStressTwins
  def run_every_test_under_gc_stress(except: [])
    case Cleat::Testing::Mode.current
    when "stress" then return # every test is, already
    when "valgrind" then return # a GC costs ~50x more there; test:stress covers the twins
    when "compact" then return # stress pauses auto-compaction anyway (Cleat::Testing#with_gc_stress)
    end

    (public_instance_methods(false).grep(/\Atest_/) - except).each do |name|
      define_method(:"#{name}_under_gc_stress") { with_gc_stress { public_send(name) } }
    end
  end
end

Minitest::Test.extend(GCStressTwins)
