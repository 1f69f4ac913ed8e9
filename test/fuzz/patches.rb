# frozen_string_literal: true

module Fuzz
  # Monkeypatched core classes (issue 14). Nothing in Cleat may run a
  # Ruby-level method that user code can redefine while an object is inside
  # a door, unless the object is lent: a redefined WeakMap#keys that returned
  # nil once crashed Memory#grow, a WeakMap#initialize that called grow
  # handed out a buffer over freed memory.
  #
  # A [:patch, n, on] operation turns method PATCHES[n] into a trap (on
  # true) or back (false). The trap is a prepended method that calls the
  # original, except when the main thread is inside the real side of an
  # operation (Patches.watch) and not inside the fuzzer's own Ruby code
  # (Patches.outside: blocks, signal handlers): there it reports which door
  # ran it, as a Mismatch. The modules are prepended the first time a method
  # is turned on and stay; turning off makes them pass straight through, so
  # a shrunk sequence replays the same way.
  module Patches
    PATCHES = [
      [ObjectSpace::WeakMap, :initialize], [ObjectSpace::WeakMap, :[]=], [ObjectSpace::WeakMap, :[]],
      [ObjectSpace::WeakMap, :keys], [ObjectSpace::WeakMap, :key?],
      [IO::Buffer, :initialize], [IO::Buffer, :slice], [IO::Buffer, :free], [IO::Buffer, :resize],
      [IO::Buffer, :get_string], [IO::Buffer, :set_string], [IO::Buffer, :size],
      [String, :to_str], [String, :to_s], [String, :inspect], [String, :encode], [String, :force_encoding],
      [String, :b], [String, :dup], [String, :initialize_copy], [String, :hash], [String, :eql?],
      [String, :valid_encoding?], [String, :encoding], [String, :bytesize], [String, :unpack1],
      [Array, :to_ary], [Array, :push], [Array, :dup], [Array, :initialize_copy], [Array, :hash],
      [Array, :each], [Array, :freeze],
      [Integer, :to_int], [Integer, :to_i], [Integer, :to_s], [Integer, :inspect], [Integer, :coerce],
      [Integer, :to_f], [Float, :to_int], [Float, :to_i], [Float, :to_s],
      [Symbol, :to_s], [Symbol, :to_proc], [NilClass, :to_s], [NilClass, :to_a],
      [Kernel, :inspect], [Kernel, :to_s], [Kernel, :respond_to?], [Kernel, :class], [Kernel, :frozen?],
      [Module, :name], [Module, :to_s], [Module, :inspect]
    ].freeze
    MAIN = Ractor.current

    @active = Array.new(PATCHES.size, false) # (by index: a Hash would call patched #hash)
    @modules = {}.compare_by_identity
    @door = nil
    @outside = 0

    class << self
      attr_reader :door

      # Turns patch n on or off.
      def set(n, on)
        install(n) if on
        @active[n] = on
      end

      # Runs the real side of an operation, described by what (a String or
      # a lambda that makes one), with the traps armed for the main thread.
      def watch(what)
        saved = [@door, @outside]
        @door = what
        @outside = 0
        yield
      ensure
        @door, @outside = saved
      end

      # Runs the fuzzer's own Ruby code (a block, a handler) with the traps
      # disarmed.
      def outside
        @outside += 1
        yield
      ensure
        @outside -= 1
      end

      # Called by every trap before the original method.
      def fire(n)
        return unless Ractor.current.equal?(MAIN) && @door && @outside.zero? && @active[n]
        return unless Thread.current.equal?(Thread.main)

        door = @door
        @door = nil # (the report itself calls patched methods)
        door = door.call if door.respond_to?(:call)
        klass, name = PATCHES[n]
        raise Mismatch, "#{door} ran #{klass}##{name}, Ruby code a user can redefine, from inside the door"
      end

      private

      def install(n)
        klass, name = PATCHES[n]
        @modules[klass] ||= Module.new.tap { |mod| klass.prepend(mod) }
        mod = @modules[klass]
        return if mod.method_defined?(name, false) || mod.private_method_defined?(name, false)

        # A plain def, not define_method: a Ractor may call it too.
        mod.module_eval(<<~RUBY, __FILE__, __LINE__ + 1)
          def #{name}(*args, **kw, &block)
            ::Fuzz::Patches.fire(#{n})
            super
          end
        RUBY
        mod.send(:private, name) if klass.private_method_defined?(name)
      end
    end
  end
end
