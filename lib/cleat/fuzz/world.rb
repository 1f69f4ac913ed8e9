# frozen_string_literal: true

require_relative "registry"

module Cleat
  module Fuzz
    # What the fuzzer's own hostile blocks and conversions raise: allowed
    # anywhere, since the extension only lets it pass.
    class Boom < StandardError; end

    # A property every correct Cleat class keeps was broken. kind is
    # :exception (an exception of a class nobody allowed), :invariant (a
    # loan left out or a field holding what it was declared not to) or
    # :verify (GC.verify_compaction_references at the end).
    class Failure < Exception # rubocop:disable Lint/InheritException
      attr_reader :kind, :detail

      def initialize(kind, detail, message)
        @kind = kind
        @detail = detail
        super(message)
      end

      # What a shrunk sequence must still show to count as the same failure.
      def signature = "#{kind} #{detail}"
    end

    # The exceptions any correct Cleat method may raise at hostile input,
    # besides the gem's own (Registry#gem_errors) and Boom.
    ALLOWED = [TypeError, ArgumentError, RangeError, FrozenError, EncodingError, IndexError, LocalJumpError,
               Cleat::BorrowError, Cleat::StaleReferenceError].freeze

    # An argument whose conversion method (to_int, to_str, to_f, hash,
    # to_ary) raises, throws, or runs the block (re-entering an object
    # while a method is converting its arguments) and then answers a valid
    # value, so that the method carries on with whatever it cached before.
    class Hostile
      VALID = { to_int: 1, to_str: "x", to_f: 1.0, hash: 1, to_ary: [] }.freeze

      def initialize(world, conversion, action, &reenter)
        @world = world
        @action = action
        @reenter = reenter
        define_singleton_method(conversion) { |*| convert(conversion) }
      end

      def inspect = "#<Cleat::Fuzz::Hostile>"

      private

      def convert(conversion)
        case @action
        when :raise then raise Boom, "raised by #{conversion}"
        when :throw then throw :cleat_fuzz
        when :reenter
          begin
            @reenter.call
          rescue StandardError => e
            raise unless @world.allowed?(e)
          end
        end
        @action.is_a?(Symbol) ? VALID.fetch(conversion) : @action
      end
    end

    # Named subclasses of the registered classes and of String and Array,
    # made on first use, so that messages and reproductions read well.
    module Sub
      def self.of(klass)
        name = klass.name.gsub("::", "_")
        const_defined?(name, false) ? const_get(name, false) : const_set(name, Class.new(klass))
      end
    end

    # Where the operations run: slots holding objects of each registered
    # class, and the helpers an operation's Ruby code calls. Every operation
    # is a line of Ruby run through #op, which is also what a reproduction
    # script runs (Cleat::Fuzz.replay), so the two cannot disagree:
    #
    #   op { set CleatExamples::Counter, 0, CleatExamples::Counter.new(3) }
    #   op { with(CleatExamples::Counter, 0) { |r| r.increment(hostile(:to_int) { r.value }) } }
    class World
      SLOTS = 4

      attr_reader :registry, :operations

      def initialize(registry = Registry.new)
        @registry = registry
        @slots = Hash.new { |h, k| h[k] = Array.new(SLOTS) }
        @operations = 0
        @ticks = 0
        @allowed = ALLOWED + [Boom] + registry.gem_errors
      end

      # Runs one operation (the block) and checks what must hold afterwards.
      # Raises Failure.
      def op
        @operations += 1
        @ticks = 0
        begin
          catch(:cleat_fuzz) { yield }
        rescue Failure
          raise
        rescue Exception => e # rubocop:disable Lint/RescueException
          GC.stress = false
          raise Failure.new(:exception, e.class.name, "#{e.class}: #{e.message}\n  " \
                                                      "#{e.backtrace&.first(6)&.join("\n  ")}") unless allowed?(e)
        end
        check
      end

      # Runs the operation written as Ruby source.
      def run_source(source, index = 0)
        op { instance_eval(source, "(operation #{index})", 1) }
      end

      def allowed?(exception) = @allowed.any? { |klass| exception.is_a?(klass) }

      # Every object in a slot keeps its declaration's promises.
      def check
        @slots.each_value do |list|
          list.each do |obj|
            next unless obj

            problem = @registry.check(obj)
            raise Failure.new(:invariant, problem[/\A\S+/], problem) if problem
          end
        end
      end

      # The end of a run: compaction moves everything and Ruby verifies every
      # reference; then the slots are checked once more.
      def finish
        GC.stress = false
        begin
          GC.verify_compaction_references(toward: :empty) if GC.respond_to?(:verify_compaction_references)
        rescue NotImplementedError
          nil
        rescue StandardError => e
          raise Failure.new(:verify, e.class.name, "GC.verify_compaction_references: #{e.class}: #{e.message}")
        end
        check
      end

      # ---- the helpers operations call ----

      def o(klass, k) = @slots[klass][k]

      def set(klass, k, value)
        @slots[klass][k] = value if value.is_a?(klass)
        value
      end

      # Stores a method's result into slot k of its registered class, when
      # it is an object of one.
      def keep(k, value)
        klass = @registry.class_of(value)
        @slots[klass][k] = value if klass
        value
      end

      # Yields the object in slot k, if there is one.
      def with(klass, k)
        obj = @slots[klass][k]
        yield obj if obj
      end

      def sub(klass) = Sub.of(klass)

      # Called by every block the fuzzer passes: after TICKS calls in one
      # operation it throws, ending it (a method may rightly yield 2**62
      # times; the run must not count that as a hang).
      TICKS = 1000
      def tick
        @ticks += 1
        throw :cleat_fuzz if @ticks > TICKS
      end

      def hostile(conversion, action = :reenter, &reenter) = Hostile.new(self, conversion, action, &reenter)

      def gc(kind)
        case kind
        when :minor then GC.start(full_mark: false, immediate_sweep: true)
        when :major then GC.start(full_mark: true, immediate_sweep: true)
        when :compact
          GC.verify_compaction_references(toward: :empty) if GC.respond_to?(:verify_compaction_references)
        end
      end

      # The block under GC.stress: a minor GC at every allocation of one
      # call, which is what write barriers are for (and cheap enough to do
      # often; a full GC at every allocation costs milliseconds each).
      def stressed
        previous = GC.stress
        GC.stress = 1
        yield
      ensure
        GC.stress = previous
      end

      def shareable(obj)
        return nil if reaches_fuzzer?(obj)

        Ractor.make_shareable(obj)
      rescue Ractor::Error
        nil
      end

      # Whether Ractor.make_shareable, which deep-freezes everything obj
      # refers to, would reach the fuzzer's own objects: a hostile argument
      # kept in a field holds this world, which frozen could not go on (found
      # by a hostile review), or an object make_shareable cannot freeze.
      # Also true past `limit` objects.
      def reaches_fuzzer?(obj, limit: 10_000)
        require "objspace"
        seen = {}.compare_by_identity
        todo = [obj]
        until todo.empty?
          o = todo.pop
          # Module#=== and BasicObject#equal? from the classes' side: the
          # object's own is_a? may be missing (BasicObject) or run its code.
          next if seen[o] || Ractor.shareable?(o) || ObjectSpace::InternalObjectWrapper === o
          return true if equal?(o) || Hostile === o || Proc === o || seen.size >= limit
          # make_shareable calls freeze, which a BasicObject lacks: Ruby's
          # NoMethodError, not the gem's bug.
          return true unless Kernel === o

          seen[o] = true
          todo.concat(ObjectSpace.reachable_objects_from(o) || [])
        end
        false
      end

      # Calls inside in a fiber; when a block suspends it (Fiber.yield),
      # runs the given block meanwhile, then resumes the fiber to its end.
      def in_fiber(inside)
        fiber = Fiber.new do
          inside.call
          nil
        end
        fiber.resume
        begin
          yield if fiber.alive?
        ensure
          fiber.resume while fiber.alive?
        end
      end

      # Calls inside in another thread and the block in this one meanwhile.
      def in_thread(inside)
        thread = Thread.new do
          Thread.current.report_on_exception = false
          inside.call
        end
        3.times { Thread.pass }
        begin
          yield
        ensure
          thread.value
        end
      end
    end

    # Runs a reproduction script's operations (each `op { ... }`), then
    # checks the end of the run as the fuzzer does: raises Failure when the
    # failure still shows, prints "no failure" otherwise.
    def self.replay(registry = Registry.new, &block)
      world = World.new(registry)
      world.instance_eval(&block)
      world.finish
      puts "no failure"
      world
    end
  end
end
