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
    end
  end
end
