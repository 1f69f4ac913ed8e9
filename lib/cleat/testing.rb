# frozen_string_literal: true

require "objspace"
require_relative "variant_check"

module Cleat
  # Test helpers for proving a C extension safe, usable from any gem, with
  # minitest or test-unit (require the framework first; required before it,
  # the modes wait for a test class to include Cleat::Testing):
  #
  #   require "minitest/autorun"             # or: require "test/unit"
  #   require "cleat/testing"
  #   class TestThing < Minitest::Test       # or: < Test::Unit::TestCase
  #     include Cleat::Testing
  #     def test_survives_stress
  #       with_gc_stress { Thing.new("x" * 10) }
  #       with_compaction { assert_equal "x" * 10, thing.name }
  #       assert_wb_protected thing
  #     end
  #   end
  #
  # The same file drives the suite-wide modes of `rake test:stress` and
  # `rake test:compact` (CLEAT_TEST_MODE, see Cleat::Testing::Mode).
  module Testing
    # A test class includes the helpers: its framework is loaded by now, even
    # when cleat/testing was required first, so the modes install here too.
    # A module that includes them (a suite's helper module, perhaps made
    # before the framework loaded) installs them when it is included in turn.
    def self.included(base)
      super
      Mode.install
      Mode.follow(base)
    end

    # Runs the block with GC.stress on (a GC at every allocation point) and
    # returns its value.
    #
    # Automatic compaction pauses while the block runs: a compacting GC at
    # every allocation moves the whole heap each time (on 3.4 one GC.stress
    # twin of the suite ran for minutes), and Ruby before 3.2 moves objects
    # during sweeping behind a read barrier that crashes under it (fixed
    # upstream in ruby/ruby#6096 and by 3.2's new compactor). Compaction
    # itself is tested by test:compact, with_compaction and compact_heap.
    #
    # Under `rake test:valgrind` the block runs without GC.stress: a GC costs
    # about 50 times more there, and the collections that stress forces
    # inside the extension's allocations make Ruby 3.1's GC lose blocks of
    # its own (mark stack chunks) that would be reported against the
    # extension. `rake test:stress` runs the same blocks under stress.
    def with_gc_stress
      return yield if Mode.current == "valgrind"

      begin
        previous = GC.stress
        auto_compact = GC.auto_compact
        GC.auto_compact = false if auto_compact
        GC.stress = true
        yield
      ensure
        GC.stress = previous
        GC.auto_compact = auto_compact
      end
    end

    # Moves every object that can move, checking references, the way the
    # running Ruby spells it (expand_heap: on 3.2+, double_heap: on 3.1).
    def compact_heap
      Testing.compact_heap
    end

    # Runs the block with automatic compaction on, then compacts and verifies
    # references once more, and returns the block's value.
    def with_compaction
      previous = GC.auto_compact
      GC.auto_compact = true
      result = yield
      Testing.compact_heap
      result
    ensure
      GC.auto_compact = previous
    end

    # Asserts obj is write-barrier protected, so that minor GCs can skip it
    # once it is old.
    def assert_wb_protected(obj, message = nil)
      dump = ObjectSpace.dump(obj)
      assert_match(/"wb_protected":true/, dump, message || "#{obj.class} is not write-barrier protected")
    end

    # Asserts ObjectSpace.memsize_of(obj) counts at least `bytes` of memory
    # beyond an empty object's slot (the 40 bytes every object has, which
    # memsize_of includes): what the type's memsize reports, and what it
    # embeds in a larger slot.
    def assert_memsize_covers(obj, bytes, message = nil)
      beyond = ObjectSpace.memsize_of(obj) - Testing.empty_slot_size
      assert_operator beyond, :>=, bytes,
                      message || "memsize_of(#{obj.class}) counts #{beyond} bytes beyond an empty object's slot, expected >= #{bytes}"
    end

    # The size of an empty object's slot: Ruby 3.2+ names it BASE_SLOT_SIZE,
    # earlier Rubies RVALUE_SIZE.
    def self.empty_slot_size
      GC::INTERNAL_CONSTANTS.fetch(:BASE_SLOT_SIZE) { GC::INTERNAL_CONSTANTS.fetch(:RVALUE_SIZE) }
    end

    def self.sweep_time_compaction? = RUBY_VERSION < "3.2"

    #
    # expand: false moves what fits in the pages the heap has, without
    # growing it first. Ruby 3.2+ keeps the pages that expand_heap adds, so a
    # loop that compacts hundreds of times (the fuzzer) needs that: with it
    # the heap and each GC grew without bound (1.3 GB and 0.3 s per GC after
    # 40,000 fuzzed operations on 3.4).
    def self.compact_heap(expand: true)
      return GC.verify_compaction_references(toward: :empty) unless expand

      keys = GC.method(:verify_compaction_references).parameters.map(&:last)
      if keys.include?(:expand_heap)
        GC.verify_compaction_references(expand_heap: true, toward: :empty)
      else
        GC.verify_compaction_references(double_heap: true, toward: :empty)
      end
    end

    # Suite-wide modes, chosen by CLEAT_TEST_MODE (set by the rake tasks):
    #   stress   - every test runs with GC.stress on, except those its class
    #              excludes with `cleat_skip_under_gc_stress :test_name`;
    #   compact  - GC.auto_compact is on (Ruby 3.2+) and a verified compaction
    #              runs after every test;
    #   asan     - the extensions are sanitized builds, libasan is preloaded;
    #   valgrind - the suite runs under valgrind memcheck;
    #   release  - the extensions are built without the debug checks.
    # In any mode, a class skips the tests that cannot work there with
    # `cleat_skip_in_mode :valgrind, :test_name, reason: "..."`.
    module Mode
      def self.current = ENV.fetch("CLEAT_TEST_MODE", "")

      # test:valgrind sets RUBY_FREE_AT_EXIT for the Ruby under valgrind
      # (3.3+ frees its memory at exit: fewer leaks of Ruby's to filter),
      # which has read it by now. Rubies the tests start must not inherit it:
      # 3.4 warns about it on stderr ("Free at exit is experimental").
      ENV.delete("RUBY_FREE_AT_EXIT") if current == "valgrind"

      # The suite's own process, started by a Cleat::RakeTasks task: the
      # marker is taken out of ENV at once, so Rubies the tests start (a
      # child with -rtest_helper, a process-parallel worker) are not held
      # to the checks after the run.
      @task_run = !ENV.delete("CLEAT_TEST_TASK_RUN").to_s.empty?
      @lock = Mutex.new
      @test_thread = nil # the thread running a test now, under test:stress
      @tests_started = 0 # tests that began under the kit's hooks (a mode set)

      # Before each test of test_class named test_name: why it is skipped
      # in this mode, or nil, and then GC.stress on where the mode asks.
      # GC.stress is process-wide, so test:stress runs one test at a time: a
      # test that starts in one thread while another thread is in a test
      # (minitest's parallelize_me!, test-unit's --parallel) raises, instead
      # of losing its stress when its neighbour's teardown turns it off (a
      # hostile review).
      def self.before_test(test_class, test_name)
        @tests_started += 1
        if current == "stress"
          other = @lock.synchronize do
            busy = @test_thread
            busy = nil unless busy&.alive? && busy != Thread.current
            @test_thread = Thread.current unless busy
            busy
          end
          if other
            raise "cleat/testing: CLEAT_TEST_MODE=stress runs one test at a time (GC.stress is process-wide), " \
                  "but #{test_class}##{test_name} started while another test ran: run this suite serially " \
                  "under test:stress (no parallelize_me!, no --parallel)"
          end
        end
        if (reason = test_class.cleat_skip_reason(test_name))
          return "not under CLEAT_TEST_MODE=#{current}: #{reason}"
        end

        GC.stress = true if current == "stress" && !test_class.cleat_skipped_under_gc_stress?(test_name)
        nil
      end

      # After each test (its own teardown included). The compaction grows
      # the heap the first time only: Ruby 3.2+ keeps the pages it adds, and
      # growing it after every test made test:compact quadratic (a hostile
      # review: 201 empty tests took 64 s and 233 MB on 3.3).
      def self.after_test
        if current == "stress"
          GC.stress = false
          @lock.synchronize { @test_thread = nil if @test_thread == Thread.current }
        end
        return unless current == "compact"

        Testing.compact_heap(expand: !@expanded)
        @expanded = true
      end

      # After the framework ran its tests, in the suite's own process under
      # a rake task: the run fails when the framework had no test at all (a
      # test file list that loaded none), or when test:asan or test:release
      # built the extensions afresh and the suite loaded others
      # (require_relative past the load path the task set): either would
      # pass without testing anything.
      def self.check_after_run(framework)
        return unless @task_run

        problems = []
        unless tests_defined?(framework)
          problems << "CLEAT_TEST_MODE=#{current} is set, but the suite defines no #{framework} test (did the " \
                      "task's test files load any? Cleat::RakeTasks takes test/**/test_*.rb and test/**/*_test.rb)"
        end
        problems.concat(variant_problems)
        return if problems.empty?

        problems.each { |problem| warn "cleat/testing: #{problem}" }
        exit 1
      end

      def self.tests_defined?(framework)
        return test_unit_tests? if framework == "test-unit"

        Minitest::Runnable.runnables.any? { |runnable| !runnable.runnable_methods.empty? }
      end

      # Extensions loaded from elsewhere than the variant build's directory
      # (CLEAT_TEST_VARIANT_LIB, set by test:asan and test:release).
      def self.variant_problems
        VariantCheck.problems(ENV.fetch("CLEAT_TEST_VARIANT_LIB", ""), current)
      end

      # Hooks into each test; prepended to Minitest::Test when a mode is set.
      module Hooks
        def before_setup
          super
          reason = Mode.before_test(self.class, name)
          skip reason if reason
        end

        def after_teardown
          Mode.after_test
          super
        end
      end

      # The same for test-unit: a setup run before any of the test case's
      # own and a teardown run after them, registered on
      # Test::Unit::TestCase, which every test case inherits. A skipped test
      # is omitted (test-unit's word for it).
      module TestUnitHooks
        private

        def cleat_before_test
          reason = Mode.before_test(self.class, method_name)
          omit reason if reason
        end

        def cleat_after_test
          Mode.after_test
        end
      end

      # Class-level opt-out for tests that are about the GC itself or too slow
      # to run under GC.stress.
      module ClassMethods
        def cleat_skip_under_gc_stress(*names)
          cleat_stress_skips.concat(names.map(&:to_s))
        end

        def cleat_stress_skips
          @cleat_stress_skips ||= []
        end

        # Tests that cannot work in one of the modes (say a timing test under
        # valgrind), skipped there with the reason:
        #   cleat_skip_in_mode :valgrind, :test_rss_stays_flat, reason: "measures RSS"
        def cleat_skip_in_mode(mode, *names, reason:)
          names.each { |test_name| cleat_mode_skips[[mode.to_s, test_name.to_s]] = reason }
        end

        def cleat_mode_skips
          @cleat_mode_skips ||= {}
        end

        def cleat_skip_reason(test_name)
          cleat_mode_skips[[Mode.current, test_name.to_s]]
        end

        def cleat_skipped_under_gc_stress?(test_name)
          cleat_stress_skips.include?(test_name.to_s.sub(/_under_gc_stress\z/, "")) ||
            test_name.to_s.end_with?("_under_gc_stress")
        end
      end

      # Installs into the frameworks loaded so far (minitest, test-unit, or
      # both): the class methods always, the hooks when a mode is set. With
      # neither loaded yet (cleat/testing required before the framework), the
      # first test class that includes Cleat::Testing installs it; tests of
      # a framework the modes never reached fail the run at exit, instead of
      # letting it pass untested (hostile reviews: `rake test:stress` passed
      # without GC.stress).
      def self.install
        install_minitest if defined?(Minitest::Test) && !@minitest
        install_test_unit if defined?(Test::Unit::TestCase) && !@test_unit
        check_at_exit
        return unless @minitest || @test_unit
        return if current != "compact" || @compacting

        @compacting = true

        if Testing.sweep_time_compaction?
          # Ruby < 3.2's sweep-time compactor crashes inside its own GC on
          # this suite (see with_gc_stress); compact between tests only.
          warn "cleat/testing: Ruby #{RUBY_VERSION}: automatic compaction left off, " \
               "verified compaction runs after every test"
        else
          GC.auto_compact = true
        end
      end

      # The rake tasks' loader, at exit (its handler runs after the tests):
      # when its files exited while loading, before the modes could be
      # installed (a file ending in `exit Minitest.run(ARGV)`), the run fails
      # unless a test started under the mode all the same (the files
      # required cleat/testing and included it themselves).
      def self.check_files_loaded(loaded)
        return if current.empty? || !@task_run || @tests_started.positive?
        return if $! && !$!.is_a?(SystemExit) # a file that failed to load fails the run anyway

        if loaded
          return unless @test_unit_ran_while_loading

          warn "cleat/testing: CLEAT_TEST_MODE=#{current} is set, but the test files ran their test-unit tests " \
               "while loading (Test::Unit::AutoRunner.run), before the modes could be installed, and no test ran " \
               "under them: require cleat/testing in them first and include Cleat::Testing, or leave the running " \
               "to test/unit's autorun"
          exit 1
        end

        warn "cleat/testing: CLEAT_TEST_MODE=#{current} is set, but the test files exited while loading " \
             "(exit Minitest.run, Test::Unit::AutoRunner.run), before the modes could be installed: require " \
             "cleat/testing in them first and include Cleat::Testing, or leave the running to the framework's autorun"
        exit 1
      end

      # The rake tasks' loader, once the suite's test files are loaded
      # (Cleat::RakeTasks::LOADER): installs the modes in the frameworks
      # they loaded, even when no file required cleat/testing, and fails a
      # mode's run whose files loaded neither framework (nothing would run
      # in the mode, and the task would pass).
      def self.install_after_loading
        # Minitest.run sets the seed: tests ran, and none of them under the hooks.
        ran_already = defined?(Minitest.seed) && !Minitest.seed.nil? && @tests_started.zero?
        # test-unit's runner turns its autorun off when it runs: told at exit,
        # when no test started under the hooks (a file may turn it off itself
        # and run the tests later, from its own at_exit, under the modes).
        @test_unit_ran_while_loading =
          defined?(Test::Unit::AutoRunner) && !Test::Unit::AutoRunner.need_auto_run? && @tests_started.zero?
        install
        return if current.empty? || !@task_run

        if ran_already
          warn "cleat/testing: CLEAT_TEST_MODE=#{current} is set, but the test files ran their minitest tests while " \
               "loading (Minitest.run), before the modes could be installed: require cleat/testing in them first " \
               "and include Cleat::Testing, or leave the running to minitest/autorun"
          exit 1
        end
        return if @minitest || @test_unit

        warn "cleat/testing: CLEAT_TEST_MODE=#{current} is set, but the test files loaded neither minitest nor " \
             "test-unit, the frameworks whose tests the modes run"
        exit 1
      end

      # Module#included, for modules that include Cleat::Testing: installs
      # the modes wherever the module goes.
      module Follower
        private

        # base is nil for ActiveSupport::Concern's `included do ... end`.
        def included(base = nil, &block)
          return super if base.nil?

          super
          Mode.install
          Mode.follow(base)
        end
      end

      def self.follow(mod)
        return if mod.is_a?(Class) || mod.singleton_class.include?(Follower)

        mod.singleton_class.prepend(Follower)
      end

      # At exit, with a mode set: a framework whose tests ran without the
      # modes installed (loaded after cleat/testing, and no test class of it
      # included Cleat::Testing) fails the run. Frameworks loaded after
      # cleat/testing run their tests in at_exit handlers registered after
      # this one, so before it. A script with no tests (a helper script, the
      # fuzzer's children) has nothing to fail.
      def self.check_at_exit
        return if current.empty? || @checking

        @checking = true
        at_exit do
          missed = frameworks_run_without_the_modes
          next if missed.empty?

          warn "cleat/testing: CLEAT_TEST_MODE=#{current} is set, but #{missed.join(' and ')} tests ran outside " \
               "that mode: cleat/testing was required before the framework, and no test class of it included " \
               "Cleat::Testing (itself or through a module) to install the modes. Require cleat/testing after " \
               "the framework (or include Cleat::Testing in the test classes themselves)."
          exit 1
        end
      end

      def self.frameworks_run_without_the_modes
        missed = []
        missed << "minitest" if !@minitest && defined?(Minitest::Runnable) && tests_defined?("minitest")
        missed << "test-unit" if !@test_unit && defined?(Test::Unit::TestCase) && tests_defined?("test-unit")
        missed
      end

      def self.test_unit_tests?
        ObjectSpace.each_object(Class).any? do |klass|
          klass < Test::Unit::TestCase && klass.public_instance_methods(true).any? { |m| m.start_with?("test") }
        end
      end

      # Under test:stress, minitest's parallelize_me! classes run one at a
      # time (an executor of one thread, after the serial ones, as usual).
      def self.install_minitest
        @minitest = true
        Minitest::Test.extend(ClassMethods)
        return if current.empty?

        Minitest::Test.prepend(Hooks)
        Minitest.after_run { Mode.check_after_run("minitest") }
        if current == "stress" && defined?(Minitest::Parallel::Executor)
          Minitest.parallel_executor = Minitest::Parallel::Executor.new(1)
        end
      end

      def self.install_test_unit
        @test_unit = true
        Test::Unit::TestCase.extend(ClassMethods)
        return if current.empty?

        Test::Unit::TestCase.include(TestUnitHooks)
        Test::Unit::TestCase.setup(:cleat_before_test, before: :prepend)
        Test::Unit::TestCase.teardown(:cleat_after_test, after: :append)
        Test::Unit.at_exit { Mode.check_after_run("test-unit") }
      end
    end
  end
end

Cleat::Testing::Mode.install
