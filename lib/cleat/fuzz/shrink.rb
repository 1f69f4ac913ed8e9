# frozen_string_literal: true

module Cleat
  module Fuzz
    # Delta debugging: the shortest sequence found that still fails the same
    # way. First cut after the failing operation, then remove chunks,
    # halving their size, while the failure stays. Stops after budget
    # seconds with the shortest found so far.
    module Shrink
      # ops: the failing sequence; index: the operation that failed (or nil).
      # The block runs a candidate and returns [fails_the_same_way, index].
      def self.call(ops, index: nil, budget: 120)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + budget
        ops = ops.first(index + 1) if index
        chunk = ops.size / 2
        while chunk >= 1
          i = 0
          while i < ops.size
            return ops if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

            candidate = ops[0...i] + (ops[(i + chunk)..] || [])
            same, at = yield candidate
            if same
              ops = at ? candidate.first(at + 1) : candidate
            else
              i += chunk
            end
          end
          chunk /= 2
        end
        ops
      end

      # Rewrites that make an operation read more simply, tried on each
      # operation after shrinking: a registered class for its subclass, a
      # call without keeping its result, without GC.stress.
      REWRITES = [
        [/sub\(((?:::)?[A-Z][\w:]*)\)/, '\1'],
        [/keep \d+, /, ""],
        [/stressed \{ (.*) \}/, '\1']
      ].freeze

      # Each rewrite of each operation that still fails the same way (the
      # block as for call) is kept, until budget seconds have passed.
      def self.simplify(ops, budget: 30)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + budget
        ops = ops.dup
        ops.each_index do |i|
          REWRITES.each do |pattern, replacement|
            next unless ops[i].match?(pattern)
            return ops if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

            candidate = ops.dup
            candidate[i] = ops[i].sub(pattern, replacement)
            same, = yield candidate
            ops = candidate if same
          end
        end
        ops
      end
    end
  end
end
