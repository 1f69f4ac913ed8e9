# frozen_string_literal: true

require_relative "test_helper"
require_relative "fuzz/world"
require "cleat/fuzz/shrink"
require "open3"
require "tmpdir"

# Hostile input: random operations on every example class, checked against a
# plain-Ruby model (test/fuzz/world.rb), in a child process so that a crash or
# a hang fails the test instead of ending the suite. A failure prints the seed
# and the shortest sequence of operations found that fails the same way:
#
#   CLEAT_SEED=1234 bundle exec rake test TEST=test/test_fuzz.rb
#
# CLEAT_FUZZ_OPS sets the number of operations (100,000 by default; fewer
# under test:stress and test:compact, see FUZZ_OPS).
class TestFuzz < Minitest::Test
  CHILD = File.expand_path("fuzz/child.rb", __dir__)

  # How one run of the child ended: :ok, :mismatch, :crash or :hang; the
  # index of the operation it was performing; what it printed.
  Run = Struct.new(:outcome, :index, :output, :seconds)

  # Operations per mode: under GC.stress every allocation collects (1,500
  # operations take about 2 minutes, all of them under stress); under
  # auto-compaction on 3.3 the child slows down and grows past 100,000 (over
  # 5 minutes and 1.5 GB, not yet understood), so those modes run fewer.
  # Under GC.stress each operation costs about a quarter of a second since
  # the hostile families came (1,500 took 9 minutes of test:stress's 13 on a
  # loaded machine).
  FUZZ_OPS = { "stress" => "1000", "compact" => "10000" }.freeze

  cleat_skip_in_mode :valgrind, :test_random_operations_match_the_model,
                      reason: "the child process would run outside valgrind"
  %i[stress compact asan valgrind release].each do |mode|
    cleat_skip_in_mode mode, :test_a_mismatch_is_reported_with_the_shortest_sequence,
                        :test_a_crash_is_reported_with_the_shortest_sequence, :test_a_hang_is_reported,
                        :test_the_stress_and_compact_modes_act_on_every_operation,
                        :test_the_hostile_families_are_generated, # (20,000 operations made under GC.stress: an hour)
                        :test_the_same_seed_makes_the_same_operations, # (1,000 of them under GC.stress: 100 s)
                        reason: "the harness is tested in the default suite"
  end

  def test_random_operations_match_the_model
    seed = Integer(ENV.fetch("CLEAT_SEED", Random.new_seed.to_s))
    count = Integer(ENV.fetch("CLEAT_FUZZ_OPS", FUZZ_OPS.fetch(Cleat::Testing::Mode.current, "100000")))
    run = run_child(["#{seed}", "#{count}"], timeout: 900)
    if run.outcome == :ok
      # The modes did what they say, for the whole run.
      case Cleat::Testing::Mode.current
      when "stress" then assert_match(/ #{count} under GC\.stress/, run.output)
      when "compact" then assert_match(/ [1-9]\d* compactions/, run.output) if count >= 1000
      end
      return
    end

    ops = Fuzz.generate(Random.new(seed), count)
    flunk failure_report(seed, run, shrink(ops, run))
  end

  # The harness itself: a wrong model is found and shrunk to the few
  # operations that show it...
  def test_a_mismatch_is_reported_with_the_shortest_sequence
    seed = 42
    ops = Fuzz.generate(Random.new(seed), 3000)
    run = run_child(["--ops", dump(ops)], inject: "mismatch")
    assert_equal :mismatch, run.outcome, run.output
    shortest = shrink(ops, run, inject: "mismatch")
    # A Counter made, copied, and the copy read: the injected bug forgets
    # the count of copies.
    kinds = shortest.map(&:first)
    assert_equal :new, kinds.first, shortest.inspect
    assert_equal :call, kinds.last, shortest.inspect
    assert_includes kinds, :copy
    assert_empty kinds[1...-1] - %i[copy alias], shortest.inspect
    assert_operator kinds.size, :<=, 4
    assert_match(/CLEAT_SEED=42/, failure_report(seed, run, shortest))
  end

  # ...and so are a crash and a hang, each as its own kind of failure.
  def test_a_crash_is_reported_with_the_shortest_sequence
    ops = Fuzz.generate(Random.new(7), 2000)
    run = run_child(["--ops", dump(ops)], inject: "crash")
    assert_equal :crash, run.outcome, run.output
    shortest = shrink(ops, run, inject: "crash")
    # A Game made or allocated, then frozen (perhaps through another slot).
    kinds = shortest.map(&:first)
    assert_includes %i[new allocate], kinds.first, shortest.inspect
    assert_equal [:alias] * (kinds.size - 2), kinds[1...-1], shortest.inspect
    assert_equal :freeze, kinds.last
    assert_operator kinds.size, :<=, 3
  end

  def test_a_hang_is_reported
    ops = Fuzz.generate(Random.new(7), 2000)
    run = run_child(["--ops", dump(ops)], inject: "hang", timeout: 5)
    assert_equal :hang, run.outcome, run.output
    assert_operator run.index, :<, ops.size
    assert_equal :freeze, ops[run.index].first
  end

  # The stress mode stays on: a call that a [:gc, :stress] operation put
  # under GC.stress used to turn it off for the rest of the run.
  def test_a_stressed_call_leaves_gc_stress_as_it_was
    ops = [[:new, 0, :counter, false, [1]], [:gc, :stress], [:call, 0, 1, Fuzz.call_args(Random.new(1))],
           [:gc, :stress], [:call, 0, 0, Fuzz.call_args(Random.new(2))]]
    # A stress run, set by hand: with_gc_stress leaves stress off under valgrind.
    begin
      GC.stress = true
      Fuzz::World.new.run(ops)
      after = GC.stress
    ensure
      GC.stress = false
    end
    assert_equal true, after, "GC.stress after a stressed call, in a stress run"
    Fuzz::World.new.run(ops)
    assert_equal false, GC.stress, "GC.stress after a stressed call, in a default run"
  end

  # The child says how many operations began under GC.stress and how many
  # compactions ran: every one under the stress mode, and some under the
  # compact mode on every Ruby (3.1 has no safe auto-compaction).
  def test_the_stress_and_compact_modes_act_on_every_operation
    ops = Fuzz.generate(Random.new(11), 600)
    ops[10, 0] = [[:gc, :stress], [:call, ops[0][1], 0, Fuzz.call_args(Random.new(3))]]
    run = run_child(["--ops", dump(ops.first(40))], gc: "stress")
    assert_equal :ok, run.outcome, run.output
    assert_match(/FUZZ OK 40 operations, 40 under GC\.stress/, run.output)

    run = run_child(["--ops", dump(ops)], gc: "compact")
    assert_equal :ok, run.outcome, run.output
    expected = ops.count { |op| Fuzz.compact_before?(op) }
    assert_operator expected, :>, 0, "the seed has operations the compact mode compacts before"
    assert_match(/ #{expected} compactions/, run.output)
  end

  # The families of issue 14 are in every default run.
  def test_the_hostile_families_are_generated
    names = Fuzz.generate(Random.new(5), 20_000).map(&:first).tally
    %i[ractor_send enum_open enum_step enum_abandon patch storm fork_loan].each do |family|
      assert_operator names.fetch(family, 0), :>=, 5, "#{family} in 20,000 operations"
    end
  end

  # Found by the abandoned-enumerator family: a loan taken in a thread
  # reused a pooled token whose address a stale slot of the main thread's
  # stack still held, so the GC never collected it and the game stayed
  # borrowed for ever. Loans off the main stack now take tokens of their own.
  def test_an_enumerator_abandoned_after_loans_on_the_main_stack_returns_its_loan
    ops = [[:new, 3, :memory, false, [2, 3]], [:new, 6, :game, false, []],
           [:call, 3, 41, { int: 2**64, small: 0, text: "", other: [:slot, 5], offset: 3, length: 131_072, bytes: 2**64 }],
           [:call, 6, 20, { int: -798, small: 1, text: "", other: [:slot, 5], offset: 274, length: 44, bytes: "\0\0\0" }],
           [:each_player, 6, :break, [:copy, 6, 5, :clone_freeze]], [:enum_abandon, 6, :peek]]
    run = run_child(["--ops", dump(ops)])
    assert_equal :ok, run.outcome, run.output
  end

  # Found by the monkeypatch family: "can't copy X", "already initialized X"
  # and the BorrowError message formatted the class with PRIsVALUE, which
  # calls Module#to_s, Ruby code, from inside the door.
  def test_refusals_inside_a_door_run_no_redefinable_method
    to_s = Fuzz::Patches::PATCHES.index([Module, :to_s])
    ops = [[:patch, to_s, true], [:new, 0, :game, false, []], [:copy, 0, 1, :dup],
           [:call, 0, 0, { text: "Alice" }], [:init, 0, { game: [] }], [:thread_each_player, 0, "Bob"]]
    run = run_child(["--ops", dump(ops)])
    assert_equal :ok, run.outcome, run.output
    assert_match(/FUZZ OK 6 operations/, run.output)
  end

  # ...and the trap that found them works: a patched method run from inside
  # a door is reported, with the door and the method.
  def test_a_patched_method_run_inside_a_door_is_reported
    to_s = Fuzz::Patches::PATCHES.index([Integer, :to_s])
    Fuzz::Patches.set(to_s, true)
    error = assert_raises(Fuzz::Mismatch) { Fuzz::Patches.watch(-> { "Counter#value" }) { 42.to_s } }
    assert_equal "Counter#value ran Integer#to_s, Ruby code a user can redefine, from inside the door", error.message
    assert_equal "42", Fuzz::Patches.outside { Fuzz::Patches.watch("x") { Fuzz::Patches.outside { 42.to_s } } }
    assert_equal "42", 42.to_s # (outside any operation)
  ensure
    Fuzz::Patches.set(to_s, false)
  end

  def test_the_same_seed_makes_the_same_operations
    assert_equal Fuzz.generate(Random.new(5), 500), Fuzz.generate(Random.new(5), 500)
    refute_equal Fuzz.generate(Random.new(5), 500), Fuzz.generate(Random.new(6), 500)
  end

  private

  def tmpdir
    @dir ||= Dir.mktmpdir("cleat-fuzz")
  end

  def dump(ops)
    path = File.join(tmpdir, "ops-#{ops.hash}.bin")
    File.binwrite(path, Marshal.dump(ops))
    path
  end

  def teardown
    FileUtils.rm_rf(@dir) if @dir
  end

  # Runs the child with args; a run longer than timeout seconds is a hang.
  # gc: the child's mode (CLEAT_FUZZ_GC), by default the suite's.
  def run_child(args, inject: nil, timeout: 120, gc: Cleat::Testing::Mode.current)
    progress = File.join(tmpdir, "progress")
    env = { "CLEAT_FUZZ_PROGRESS" => progress, "CLEAT_FUZZ_INJECT" => inject, "CLEAT_FUZZ_GC" => gc }
    command = [RbConfig.ruby, *$LOAD_PATH.map { |dir| "-I#{dir}" }, CHILD, *args]
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    output, status = capture(env, command, timeout)
    seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    index = File.exist?(progress) ? File.binread(progress)[-4..]&.unpack1("L<") : nil
    outcome = if status.nil? then :hang
              elsif status.success? then :ok
              elsif status.exitstatus == 1 then :mismatch
              else :crash
              end
    Run.new(outcome, index, output, seconds)
  end

  # Output and status of command, or status nil when it ran out of time
  # (then it is killed, with its whole process group).
  def capture(env, command, timeout)
    Open3.popen2e(env, *command, pgroup: true) do |stdin, out, wait|
      stdin.close
      reader = Thread.new { out.read }
      unless wait.join(timeout)
        Process.kill(:KILL, -wait.pid)
        wait.join
        return [reader.value, nil]
      end
      [reader.value, wait.value]
    end
  end

  # The shortest sequence found that fails the way run did
  # (Cleat::Fuzz::Shrink, which test:fuzz uses too). Stops after a time budget.
  def shrink(ops, run, inject: nil, budget: 120)
    timeout = [(run.seconds * 2) + 5, 60].min
    Cleat::Fuzz::Shrink.call(ops, index: run.index, budget: budget) do |candidate|
      attempt = run_child(["--ops", dump(candidate)], inject: inject, timeout: timeout)
      [attempt.outcome == run.outcome, attempt.index]
    end
  end

  def failure_report(seed, run, shortest)
    <<~REPORT
      The fuzzer found a #{run.outcome} at operation #{run.index} (CLEAT_SEED=#{seed}).
      #{run.output.lines.last(30).join}
      Shortest failing sequence (#{shortest.size} operations, replay with test/fuzz/child.rb --ops FILE):
      #{shortest.map(&:inspect).join("\n")}
    REPORT
  end
end
