# frozen_string_literal: true

require "fileutils"
require "open3"
require "rbconfig"
require_relative "../fuzz"

module Cleat
  module Fuzz
    # The parent side of `rake test:fuzz`: runs the operations in a child
    # Ruby (lib/cleat/fuzz/child.rb), so that a crash or a hang is a finding
    # rather than the end; on failure shrinks the sequence and writes a Ruby
    # script that reproduces it.
    class Runner
      CHILD = File.expand_path("child.rb", __dir__)

      # outcome: :ok, :failure (a broken promise, signature says which),
      # :crash (a signal, abort, sanitizer exit) or :hang; index: the
      # operation running when it ended; seconds: how long the run took.
      Run = Struct.new(:outcome, :signature, :index, :output, :seconds) do
        def same_as?(other) = outcome == other.outcome && signature == other.signature
        # The line that says what went wrong: for a broken promise the
        # message after FUZZ FAILURE, for a crash Ruby's [BUG], the debug
        # check's or the sanitizer's report.
        def summary
          lines = output.lines
          at = lines.index { |l| l.start_with?("FUZZ FAILURE") }
          return lines[at + 1]&.strip if at

          lines.grep(/\[BUG\]|\[cleat debug\]|ERROR: AddressSanitizer|runtime error|Segmentation|Aborted/).first&.strip
        end
      end

      attr_reader :work_dir

      # requires: what the child requires (the gem's extensions); load_path:
      # its -I directories; classes: class or namespace names to fuzz (nil:
      # every registered type); errors: exception class names the gem raises
      # on purpose; env: the child's environment (the sanitizer's, say);
      # hang: seconds one operation may take before the run counts as hung;
      # variant: [label, dir] when the extensions must be the builds in dir
      # (test:fuzz:release's, test:fuzz's ASan builds), which the child checks.
      def initialize(requires:, load_path:, classes: nil, errors: [], env: {}, ruby: RbConfig.ruby, hang: 30,
                     work_dir: "tmp/cleat/fuzz", out: $stdout, variant: nil)
        @requires = requires
        @variant = variant
        @load_path = load_path.map { |dir| File.expand_path(dir) }
        @classes = classes
        @errors = errors
        @env = env
        @ruby = ruby
        @hang = hang
        @work_dir = File.expand_path(work_dir)
        @out = out
        FileUtils.mkdir_p(@work_dir)
      end

      # Fuzzes count operations from seed. Returns true when the run was
      # clean; otherwise shrinks the failure (for at most shrink_budget
      # seconds), prints the reproduction and returns false.
      def fuzz(seed:, count:, shrink_budget: 120)
        raise ArgumentError, "the fuzzer needs at least 1 operation, not #{count}" unless count.is_a?(Integer) && count >= 1

        @out.puts "cleat fuzz: #{count} operations, CLEAT_SEED=#{seed}"
        saved = File.join(@work_dir, "ops-#{seed}.bin")
        FileUtils.rm_f(saved)
        run = run_child(["--seed", seed.to_s, "--count", count.to_s, "--save", saved])
        if run.outcome == :ok
          File.delete(saved)
          @out.puts run.output.lines.grep(/FUZZ OK/).first
          return true
        end

        @out.puts excerpt(run.output)
        unless File.exist?(saved) # it failed before any operation: loading, or nothing to fuzz
          @out.puts "cleat fuzz: the child failed before the first operation"
          return false
        end

        ops = Marshal.load(File.binread(saved)) # rubocop:disable Security/MarshalLoad
        shortest = shrink(ops, run, budget: shrink_budget)
        path = File.join(@work_dir, "failure-#{seed}.rb")
        File.write(path, script(shortest, run, seed: seed, count: count))
        @out.puts "", "cleat fuzz: a #{run.outcome} at operation #{run.index} of #{count} (CLEAT_SEED=#{seed}), " \
                      "shrunk to #{shortest.size} operation#{"s" unless shortest.size == 1}. Reproduce it with",
                  "  ruby #{@load_path.map { |d| "-I#{relative(d)}" }.join(" ")} #{relative(path)}", "",
                  File.read(path)
        false
      end

      # Runs the given operations (Ruby source lines) in a child.
      def run_ops(ops)
        file = File.join(@work_dir, "candidate-#{Process.pid}.bin")
        File.binwrite(file, Marshal.dump(ops))
        run_child(["--ops", file])
      end

      # The shortest sequence found that fails the way run did.
      def shrink(ops, run, budget: 120)
        same = lambda do |candidate|
          attempt = run_ops(candidate)
          [attempt.same_as?(run), attempt.index]
        end
        shortest = Shrink.call(ops, index: run.index, budget: budget, &same)
        Shrink.simplify(shortest, budget: budget / 4, &same)
      end

      # A Ruby script that replays ops as the fuzzer does.
      def script(ops, run, seed: nil, count: nil)
        found = seed ? " (CLEAT_SEED=#{seed}, CLEAT_FUZZ_OPS=#{count}, operation #{run.index})" : ""
        registry = if @errors.empty? then ""
                   else "(Cleat::Fuzz::Registry.new(errors: #{@errors.inspect}))"
                   end
        <<~RUBY
          # frozen_string_literal: false
          # What `rake test:fuzz` found#{found}:
          #   #{run.outcome}: #{run.summary}
          # Each `op` is one operation; after each, every object in a slot
          # must keep its declaration's promises (Cleat::Fuzz::World#check).
          require "cleat/fuzz"
          #{@requires.map { |r| "require #{r.inspect}" }.join("\n")}

          Cleat::Fuzz.replay#{registry} do
          #{ops.map { |op| "  op { #{op} }" }.join("\n")}
          end
        RUBY
      end

      private

      # What a failed child printed, without Ruby's memory map after a [BUG].
      def excerpt(output)
        lines = output.lines
        start = lines.index { |l| l.include?("[BUG]") }
        return lines.last(40).join unless start

        stop = lines.index { |l| l.start_with?("-- Other runtime information") } || lines.size
        lines[[start - 5, 0].max...stop].first(80).join
      end

      def relative(path)
        path.start_with?("#{Dir.pwd}/") ? path.delete_prefix("#{Dir.pwd}/") : path
      end

      def child_command(args, progress)
        options = @requires.flat_map { |r| ["--require", r] }
        options += ["--classes", @classes.join(",")] if @classes
        options += ["--errors", @errors.join(",")] unless @errors.empty?
        options += ["--variant", @variant.join(":")] if @variant
        [@ruby, *@load_path.map { |dir| "-I#{dir}" }, CHILD, *options, "--progress", progress, *args]
      end

      def run_child(args)
        progress = File.join(@work_dir, "progress-#{Process.pid}")
        File.write(progress, "")
        started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
        output, status = capture(child_command(args, progress), progress)
        seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
        bytes = File.binread(progress)
        index = bytes.size >= 4 ? bytes[-4..].unpack1("L<") : nil
        signature = output[/^FUZZ FAILURE (.*)$/, 1]
        outcome = if status.nil? then :hang
                  elsif status.success? && output.include?("FUZZ OK") then :ok
                  elsif status.exitstatus == 1 && signature then :failure
                  else :crash
                  end
        Run.new(outcome, signature, index, output, seconds)
      end

      # Output and status of command, or status nil when the progress file
      # stopped growing for @hang seconds (the child is then killed, with its
      # whole process group).
      def capture(command, progress)
        Open3.popen2e(@env, *command, pgroup: true) do |stdin, out, wait|
          stdin.close
          reader = Thread.new { out.read }
          size = -1
          still = Process.clock_gettime(Process::CLOCK_MONOTONIC)
          until wait.join(0.25)
            now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
            current = File.size?(progress).to_i
            still = now if current != size
            size = current
            next unless now - still > @hang

            Process.kill(:KILL, -wait.pid)
            wait.join
            return [reader.value, nil]
          end
          [reader.value, wait.value]
        end
      end
    end
  end
end
