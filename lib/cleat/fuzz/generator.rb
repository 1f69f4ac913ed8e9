# frozen_string_literal: true

module Cleat
  module Fuzz
    # Makes operations from the registry alone: each a line of Ruby for
    # World#op, generated from a seed without looking at any state, so that a
    # sequence can be replayed, cut and shrunk (an operation whose slot holds
    # nothing does nothing).
    class Generator
      SLOTS = World::SLOTS

      # Ruby source of the argument pool, by family. Integers at the edges of
      # every C type, Floats that no integer conversion may accept, Strings
      # frozen, shared, in other encodings and broken.
      INTEGERS = %w[0 1 2 3 7 -1 2**31-1 2**31 2**32 2**62 2**63-1 2**63 2**64-1 2**64 -2**63 -2**63-1
                    2**100 -2**100].freeze
      FLOATS = %w[1.5 -0.0 Float::NAN Float::INFINITY 1e300].freeze
      STRINGS = ['"abc"', '+""', '"abc".freeze', '("x" * 64)[1..]', '"h\u00e9llo"', '"\xFF\xFE".b',
                 '"\xC3(".dup.force_encoding(Encoding::UTF_8)', '"caf\u00e9".encode(Encoding::UTF_16LE)',
                 '"\u20ac" * 3', 'sub(String).new("abc")', '"\0\0\0".b'].freeze
      OTHERS = ["nil", "true", "false", ":sym", "[]", "{}", "[1, \"a\"]", "sub(Array).new([\"a\"])", "Object.new",
                "Class.new", "1r", "(1..2)"].freeze
      CONVERSIONS = %i[to_int to_int to_int to_int to_str to_str to_str to_f hash to_ary].freeze
      # Every block starts with `tick`, which ends the operation (a throw)
      # after World::TICKS calls: a method may rightly yield 2**62 times.
      BLOCKS = ["{ |*a| tick }", "{ |*a| raise Cleat::Fuzz::Boom }", "{ |*a| throw :cleat_fuzz }",
                "{ |*a| break }"].freeze

      def initialize(registry, rng)
        @types = registry.types
        @rng = rng
        raise ArgumentError, "no Cleat types to fuzz: is the extension loaded, are CLEAT_FUZZ_CLASSES right?" if @types.empty?
      end

      def generate(count) = Array.new(count) { operation }

      private

      def pick(list) = list[@rng.rand(list.size)]
      def slot = @rng.rand(SLOTS)
      def chance(p) = @rng.rand < p

      def operation
        type = pick(@types)
        k = slot
        r = @rng.rand(1000)
        case r
        when 0...110 then construct(type, k)
        when 110...130 then allocate(type, k)
        when 130...150 then with(type, k, "r.send(:initialize#{arguments(type.init_arity, nil, leading: true)})")
        when 150...200 then copy(type, k)
        when 200...215 then with(type, k, "r.freeze")
        when 215...230 then with(type, k, "shareable(r)")
        when 230...260 then with(type, k, "in_fiber(-> { #{call(type, "r", block: "{ |*a| tick; Fiber.yield }")} }) { #{call(type, "r")} }")
        when 260...290 then with(type, k, "in_thread(-> { #{call(type, "r")} }) { #{call(type, "r")} }")
        when 290...296 then "gc #{pick(%i[minor minor major major compact]).inspect}"
        when 296...310 then with(type, k, "stressed { #{call(type, "r")} }")
        else with(type, k, "keep #{slot}, #{call(type, "r", block: chance(0.2) ? block(type) : nil)}")
        end
      end

      def allocate(type, k)
        return "gc :minor" unless type.klass.respond_to?(:allocate)

        "set #{cpath(type)}, #{k}, #{chance(0.2) ? "sub(#{cpath(type)})" : cpath(type)}.allocate"
      end

      def with(type, k, body) = "with(#{cpath(type)}, #{k}) { |r| #{body} }"

      # The class as a constant path from the top: a gem's module named like
      # one of the fuzzer's own (World, Failure...) must not resolve to it.
      def cpath(type) = "::#{type.path}"

      def construct(type, k)
        return allocate(type, k) unless type.klass.respond_to?(:new)

        klass = chance(0.15) ? "sub(#{cpath(type)})" : cpath(type)
        "set #{cpath(type)}, #{k}, #{klass}.new#{arguments(type.init_arity, [type, :slot])}"
      end

      def copy(type, k)
        how = pick(["dup", "clone", "clone(freeze: true)"])
        with(type, k, "set #{cpath(type)}, #{slot}, r.#{how}")
      end

      # A call of one of type's methods on recv (Ruby source).
      def call(type, recv, block: nil, depth: 0)
        return "#{recv}.frozen?" if type.public_methods.empty?

        name, arity, = pick(type.public_methods)
        receiver = depth.zero? ? [type, recv] : nil
        # Setters (x=) and operators ([], +) are no plain call syntax.
        source = if name.to_s.match?(/\A[a-z_][A-Za-z0-9_]*[?!]?\z/)
                 "#{recv}.#{name}#{arguments(arity, receiver)}"
               else
                 "#{recv}.public_send(#{name.to_sym.inspect}#{arguments(arity, receiver, leading: true)})"
               end
        "#{source}#{" #{block}" if block}"
      end

      def block(type)
        chance(0.4) ? "{ |*a| tick; #{call(type, "r", depth: 1)} }" : pick(BLOCKS)
      end

      # "(a, b)" for a method of that arity: the right count mostly, one
      # more or one fewer sometimes; 0..3 for optional arguments.
      def arguments(arity, receiver, leading: false)
        count = if arity.nil? || arity.negative? then @rng.rand(4)
                elsif chance(0.06) then [arity + pick([-1, 1]), 0].max
                else arity
                end
        return "" if count.zero?

        args = Array.new(count) { argument(receiver) }.join(", ")
        leading ? ", #{args}" : "(#{args})"
      end

      # receiver: [type, source] of the object being called, which a hostile
      # argument may re-enter; nil inside a re-entry (no deeper nesting).
      def argument(receiver)
        r = @rng.rand(100)
        case r
        when 0...25 then @rng.rand(-1..8).to_s
        when 25...35 then pick(INTEGERS)
        when 35...40 then pick(FLOATS)
        when 40...55 then pick(STRINGS)
        when 55...63 then pick(OTHERS)
        when 63...78
          type = pick(@types)
          chance(0.1) ? cpath(type) : "o(#{cpath(type)}, #{slot})"
        else receiver ? hostile(receiver) : @rng.rand(0..3).to_s
        end
      end

      def hostile(receiver)
        conversion = pick(CONVERSIONS).inspect
        case @rng.rand(10)
        when 0, 1 then "hostile(#{conversion}, :raise)"
        when 2 then "hostile(#{conversion}, :throw)"
        when 3 then "hostile(#{conversion}, :value)"
        else
          type, recv = receiver
          return "hostile(#{conversion}) { #{call(type, recv, depth: 1)} }" unless recv == :slot

          # A constructor's receiver is out of reach: re-enter another object.
          "hostile(#{conversion}) { #{with(type, slot, call(type, "q", depth: 1)).sub("|r|", "|q|")} }"
        end
      end
    end
  end
end
