# frozen_string_literal: true

module Cleat
  module Fuzz
    # What the loaded Cleat-based extensions declared, read from the
    # registries their copies of the library keep (src/registry.c): every
    # type with its class and fields, every method with its arity and door.
    class Registry
      # One declared type. methods: [[name, arity, door]], door :shared,
      # :exclusive or :init; init_arity: initialize's arity, or nil.
      Type = Struct.new(:klass, :path, :flags, :fields, :methods, :init_arity) do
        def copyable? = flags.include?(:copyable)
        def exception? = klass <= Exception

        # The methods Ruby code can call (a registered method may be private).
        def public_methods
          @public_methods ||= methods.select { |name, _| klass.public_method_defined?(name) }
        end
      end

      attr_reader :types, :gem_errors

      # classes: names of classes or namespaces to fuzz (nil: every one);
      # errors: names of exception classes the gem raises on purpose.
      def initialize(classes: nil, errors: [])
        @sources = Cleat.const_defined?(:REGISTRIES, false) ? Cleat::REGISTRIES.dup : []
        methods = @sources.flat_map(&:declared_methods)
        all = @sources.flat_map(&:types).filter_map do |t|
          next unless t[:class]

          own = methods.select { |m| m[0] == t[:class] }
          init = own.find { |m| m[1] == :initialize && m[3] == :init }
          calls = own.reject { |m| m[1] == :initialize }.map { |m| m[1..] }
          Type.new(t[:class], t[:path], t[:flags], t[:fields], calls, init && init[2])
        end
        @classes = all.to_h { |t| [t.klass, t] }
        @types = classes ? all.select { |t| Registry.selected?(t.path, classes) } : all
        @gem_errors = errors.map { |name| Object.const_get(name) } + all.select(&:exception?).map(&:klass)
      end

      def self.selected?(path, classes)
        classes.any? { |c| path == c || path.start_with?("#{c}::") }
      end

      # The registered class obj is an instance of (of a subclass of), or nil.
      def class_of(obj)
        return nil unless obj.is_a?(Object) && (klass = obj.class) # BasicObject aside

        klass.ancestors.find { |k| @classes.key?(k) }
      end

      # nil, or what is wrong with obj (see Cleat::REGISTRIES' check).
      def check(obj)
        @sources.each do |source|
          problem = source.check(obj)
          return problem if problem
        end
        nil
      end
    end
  end
end
