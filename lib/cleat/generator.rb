# frozen_string_literal: true

require "fileutils"
require "optparse"
require_relative "version"
require "rbconfig"

module Cleat
  # Writes a complete gem skeleton whose C extension uses Cleat: gemspec,
  # extconf through cleat/mkmf, one Cleat type with a declared field and
  # shared and exclusive methods, tests using Cleat::Testing (minitest, or
  # test-unit), a Rakefile with compile, test and the safety tasks, and a
  # README.
  class Generator
    class Error < StandardError; end

    NAME = /\A[a-z][a-z0-9_]*\z/
    # The test frameworks a generated gem can use: its Gemfile line, what
    # the test helper requires, the test classes' superclass.
    FRAMEWORKS = {
      minitest: { gem: 'gem "minitest", "~> 5.16"', require: "minitest/autorun", base: "Minitest::Test" },
      test_unit: { gem: 'gem "test-unit", "~> 3.5"', require: "test/unit", base: "Test::Unit::TestCase" }
    }.freeze

    attr_reader :name, :root, :test_framework

    # name: the gem's name (snake_case); dir: where to create it;
    # cleat_path: a Cleat checkout to build against instead of the gem;
    # test_framework: :minitest or :test_unit.
    def initialize(name, dir: Dir.pwd, cleat_path: nil, test_framework: :minitest)
      problem = Generator.name_problem(name)
      raise Error, problem if problem
      raise Error, "unknown test framework #{test_framework.inspect}" unless FRAMEWORKS.key?(test_framework)

      @test_framework = test_framework

      @name = name
      @module = camelize(name)
      @root = File.expand_path(name, dir)
      @cleat_path = cleat_path && File.expand_path(cleat_path)
      raise Error, "#{@root} already exists" if File.exist?(@root)
    end

    # Gems every generated bundle has besides the gem itself: the Gemfile's
    # (minitest, rake; rake-compiler and test-unit cannot clash, having a
    # dash) and what they need (test-unit's power_assert). A gem of the same
    # name could never be bundled (the seventh round's hostile review:
    # `cleat new minitest`).
    BUNDLED_GEMS = %w[minitest rake power_assert].freeze

    # Names whose files collide with other files the generator writes (a
    # review of the seventh round: `version` made lib/version.rb require
    # lib/version/version.rb instead of the extension; `helper` made the
    # test file the test helper).
    GENERATED_FILE_NAMES = {
      "version" => "lib/version/version.rb would be both the gem's version file and what lib/version.rb requires " \
                   "for the extension",
      "helper" => "test/test_helper.rb would be both the gem's test and the test helper"
    }.freeze

    # Why +name+ cannot name a generated gem, or nil when it can. The name
    # is also the extension's file and Init_ function, and camelized, its
    # module: lowercase letters, digits and underscores only.
    # Top-level constants of the newer Rubies a generated gem supports
    # (its gemspec says >= 3.1) that an older one lacks: `cleat new data` on
    # 3.1 made a gem that failed to load on 3.3 ("Data is not a module", the
    # eighth review).
    NEWER_RUBY_CONSTANTS = { "Data" => "class (Ruby 3.2 and later)" }.freeze

    # Libraries of the newer Rubies' own (default gems) that an older one
    # lacks: `cleat new prism` on 3.1 made a gem that loaded 3.3's prism
    # instead of itself (a review of the eighth round).
    NEWER_RUBY_LIBRARIES = %w[syntax_suggest prism bundled_gems].freeze

    def self.name_problem(name)
      return "a gem name is needed" if name.to_s.empty?
      return "the name cleat is Cleat's own: choose another" if name == "cleat"
      if (file = GENERATED_FILE_NAMES[name])
        return "invalid gem name #{name.inspect}: #{file}: choose another name"
      end
      if (library = Dir[File.expand_path("../../src/*.c", __dir__)].map { |f| "cleat_#{File.basename(f, '.c')}" }.find { |w| w == name })
        return "invalid gem name #{name.inspect}: cleat/mkmf compiles Cleat's sources as #{library}.c beside the " \
               "extension's own #{name}.c: choose another name"
      end
      if BUNDLED_GEMS.include?(name)
        return "invalid gem name #{name.inspect}: the generated gem's bundle has the gem #{name} already " \
               "(its Gemfile, or a gem it lists, needs it), and Bundler refuses a gem named twice: choose another name"
      end
      if NAME.match?(name)
        constant = camelize(name)
        kind = ruby_constants[constant] || NEWER_RUBY_CONSTANTS[constant]
        unless kind
          return nil unless NEWER_RUBY_LIBRARIES.include?(name) || ruby_library?(name)

          return "invalid gem name #{name.inspect}: its lib/#{name}.rb would hide Ruby's own library #{name} " \
                 "(require #{name.inspect} would load the gem instead, and rake or Bundler fail): choose another name"
        end

        # `cleat new object` made a gem whose `module Object` failed to load,
        # and `kernel` or `math` put the gem's classes into Ruby's own
        # modules (the fifth hostile review).
        return "invalid gem name #{name.inspect}: its module #{constant} would reopen Ruby's #{kind} #{constant}: " \
               "choose another name"
      end

      rule = "invalid gem name #{name.inspect}: a gem with a C extension is named in lowercase letters, " \
             "digits and underscores, starting with a letter (it names the extension, its Init_ function " \
             "and, camelized, its module)"
      suggestion = name.to_s.gsub(/([a-z0-9])([A-Z])/, '\1_\2').downcase.gsub(/[^a-z0-9]+/, "_")
                       .sub(/\A[^a-z]+/, "").sub(/_+\z/, "")
      NAME.match?(suggestion) ? "#{rule}: try #{suggestion.inspect}" : rule
    end

    def camelize(text) = Generator.camelize(text)

    # { name => "class" | "module" | "constant" }: the top-level constants of
    # a fresh Ruby like this one with RubyGems and Bundler loaded, as when
    # `bundle install` loads the gem's gemspec (Gem, Monitor, DidYouMean,
    # Bundler, Pathname...: `cleat new monitor` made a gem that could not be
    # bundled, a hostile review), and nothing of this process's (a gem or
    # class loaded here, such as a gem generated earlier, names nothing of
    # Ruby's). Without Bundler (not installed), RubyGems' alone.
    def self.ruby_constants
      @ruby_constants ||= begin
        code = 'Object.constants.each { |c| v = Object.const_get(c); ' \
               'puts "#{c} #{v.is_a?(Class) ? "class" : v.is_a?(Module) ? "module" : "constant"}" }'
        env = { "RUBYOPT" => nil, "BUNDLE_GEMFILE" => nil, "BUNDLE_BIN_PATH" => nil }
        listed = [["-rbundler"], []].lazy.map do |options|
          IO.popen(env, [RbConfig.ruby, *options, "-e", code], err: File::NULL, &:read)
        end.find { |out| out.include?(" class") }
        listed.to_s.lines.to_h { |line| line.split(" ", 2).map(&:strip) }
      rescue SystemCallError
        {}
      end
    end

    # Whether `require name` finds a file of Ruby's own (its standard
    # library and default gems) in a fresh Ruby: the generated gem's
    # lib/NAME.rb, first on the load path under Bundler, would be loaded
    # instead (the seventh round: fileutils and optparse broke rake before
    # any task ran, set broke bundle install, uri clashed with the default
    # gem).
    def self.ruby_library?(name)
      env = { "RUBYOPT" => nil, "BUNDLE_GEMFILE" => nil, "BUNDLE_BIN_PATH" => nil, "RUBYLIB" => nil }
      code = "print($LOAD_PATH.resolve_feature_path(ARGV[0]) ? 1 : 0) rescue print(0)"
      IO.popen(env, [RbConfig.ruby, "-e", code, name], err: File::NULL, &:read) == "1"
    rescue SystemCallError
      false
    end

    def self.camelize(text) = text.split("_").map(&:capitalize).join

    # Writes every file; returns their paths. Nothing is written when a check
    # fails, and a failure half-way removes what was written.
    def generate
      written = files.map do |path, content|
        full = File.join(root, path)
        FileUtils.mkdir_p(File.dirname(full))
        File.write(full, content)
        File.chmod(0o755, full) if path.start_with?("bin/")
        full
      end
      written
    rescue StandardError
      FileUtils.rm_rf(root)
      raise
    end

    def files
      {
        "#{name}.gemspec" => gemspec,
        "Gemfile" => gemfile,
        "Rakefile" => rakefile,
        "README.md" => readme,
        "LICENSE" => license,
        "lib/#{name}.rb" => lib_main,
        "lib/#{name}/version.rb" => version,
        "ext/#{name}/extconf.rb" => extconf,
        "ext/#{name}/#{name}.c" => extension,
        "test/test_helper.rb" => test_helper,
        "test/test_#{name}.rb" => test_file,
        ".gitignore" => "/tmp/\n/pkg/\n*.so\n*.bundle\n*.o\nGemfile.lock\n/doc/\n/.yardoc/\n",
        # YARD reads Cleat's macros through the cleat gem's plugin (RDoc finds its own).
        ".yardopts" => "--plugin cleat\n"
      }
    end

    private

    def gemspec
      <<~RUBY
        # frozen_string_literal: true

        require_relative "lib/#{name}/version"

        Gem::Specification.new do |spec|
          spec.name = "#{name}"
          spec.version = #{@module}::VERSION
          spec.summary = "#{@module}: a C extension built with Cleat"
          spec.authors = ["#{@module} authors"]
          spec.license = "MIT"
          spec.required_ruby_version = ">= 3.1"
          spec.files = Dir["lib/**/*.rb", "ext/**/*.{c,h,rb}", "README.md", "LICENSE"]
          spec.extensions = ["ext/#{name}/extconf.rb"]
          spec.add_dependency "cleat", "~> #{Cleat::VERSION.split('.').first(2).join('.')}"
        end
      RUBY
    end

    def gemfile
      cleat = @cleat_path ? %(gem "cleat", path: #{@cleat_path.inspect}\n) : ""
      <<~RUBY
        # frozen_string_literal: true

        source "https://rubygems.org"

        gemspec
        #{cleat}
        #{FRAMEWORKS.fetch(test_framework)[:gem]}
        gem "rake", "~> 13.0"
        gem "rake-compiler", "~> 1.2"
      RUBY
    end

    def rakefile
      <<~RUBY
        # frozen_string_literal: true

        require "rake/extensiontask"
        require "rake/testtask"
        require "cleat/rake_tasks"

        extension = Rake::ExtensionTask.new("#{name}") do |ext|
          ext.lib_dir = "lib/#{name}"
        end
        # A .c file added to ext/#{name}/ reruns extconf (which lists the sources).
        Cleat::RakeTasks.reconfigure_when_files_change(extension)

        Rake::TestTask.new(:test) do |t|
          t.libs << "test" << "lib"
          t.test_files = FileList["test/**/test_*.rb"]
        end
        task test: :compile

        # test:stress, test:compact, test:asan, test:valgrind, test:release,
        # test:fuzz (hostile operations derived from the declarations)
        Cleat::RakeTasks.new(extensions: [["ext/#{name}/extconf.rb", "lib/#{name}"]])

        task default: :test
      RUBY
    end

    def lib_main
      <<~RUBY
        # frozen_string_literal: true

        require_relative "#{name}/version"
        require "#{name}/#{name}"
      RUBY
    end

    def version
      <<~RUBY
        # frozen_string_literal: true

        module #{@module}
          VERSION = "0.1.0"
        end
      RUBY
    end

    def extconf
      <<~RUBY
        # frozen_string_literal: true

        require "cleat/mkmf"

        # Debug checks on while developing: CLEAT_DEBUG=1 (or --enable-cleat-debug).
        create_cleat_makefile("#{name}/#{name}")
      RUBY
    end

    def extension
      <<~C
        /* #{name}.c - #{@module}::Tally, a label and a count, built with Cleat. */
        #include "cleat.h"

        typedef struct tally {
            VALUE label;   /* a String: declared, so Cleat marks and moves it */
            int64_t count;
        } tally_t;

        static const cleat_field tally_fields[] = {
            CLEAT_FIELD(tally_t, label, &rb_cString),
            CLEAT_FIELDS_END,
        };

        /* A label and a count that only grows. dup and clone copy it. */
        CLEAT_TYPE(tally_type, "#{@module}::Tally", tally_t, tally_fields, .flags = CLEAT_COPYABLE);

        /*
         * call-seq:
         *   Tally.new(label) -> tally
         *
         * A tally of nothing yet; TypeError unless label is a String.
         *
         *   #{@module}::Tally.new("apples").count #=> 0
         */
        CLEAT_INIT(tally_initialize, tally_type, tally_t *t, label)
        {
            cleat_write(self, &t->label, label); /* TypeError unless a String */
            return self;
        }

        /*
         * call-seq:
         *   tally.label -> string
         *
         * The label given to ::new.
         */
        CLEAT_SHARED(tally_label, tally_type, tally_t *t) { return t->label; }

        /*
         * call-seq:
         *   tally.count -> integer
         *
         * The sum of everything added so far.
         */
        CLEAT_SHARED(tally_count, tally_type, tally_t *t) { return LL2NUM(t->count); }

        /*
         * call-seq:
         *   tally.add(n) -> new count
         *
         * Adds n; RangeError when the count would not fit in 64 bits (the
         * count is then unchanged).
         *
         *   #{@module}::Tally.new("apples").add(3) #=> 3
         */
        CLEAT_EXCLUSIVE(tally_add, tally_type, tally_t *t, n)
        {
            int64_t sum;
            if (__builtin_add_overflow(t->count, cleat_to_int64(n), &sum)) rb_raise(rb_eRangeError, "result too large");
            t->count = sum;
            return LL2NUM(sum);
        }

        /*
         * call-seq:
         *   tally.merge(other) -> new count
         *
         * Adds other's count; TypeError unless other is a Tally.
         */
        CLEAT_EXCLUSIVE(tally_merge, tally_type, tally_t *t, other)
        {
            const tally_t *o = cleat_unwrap(other, &tally_type);
            int64_t sum;
            if (__builtin_add_overflow(t->count, o->count, &sum)) rb_raise(rb_eRangeError, "result too large");
            t->count = sum;
            return LL2NUM(sum);
        }

        /*
         * call-seq:
         *   tally.each_step { |i| ... } -> tally
         *
         * Yields 1 up to count. The tally is lent to the block meanwhile:
         * calling #add from it raises Cleat::BorrowError.
         */
        CLEAT_SHARED(tally_each_step, tally_type, tally_t *t)
        {
            for (int64_t i = 1; i <= t->count; i++) CLEAT_YIELD(LL2NUM(i));
            return self;
        }

        void Init_#{name}(void)
        {
            /* #{@module}: a C extension built with Cleat. */
            rb_define_module("#{@module}");
            VALUE klass = cleat_type_define_class(&tally_type, rb_cObject);
            CLEAT_DEFINE_METHOD(klass, "initialize", tally_initialize);
            CLEAT_DEFINE_METHOD(klass, "label", tally_label);
            CLEAT_DEFINE_METHOD(klass, "count", tally_count);
            CLEAT_DEFINE_METHOD(klass, "add", tally_add);
            CLEAT_DEFINE_METHOD(klass, "merge", tally_merge);
            CLEAT_DEFINE_METHOD(klass, "each_step", tally_each_step);
        }
      C
    end

    def test_helper
      <<~RUBY
        # frozen_string_literal: true

        require "#{FRAMEWORKS.fetch(test_framework)[:require]}"
        require "cleat/testing"
        require "#{name}"
      RUBY
    end

    def test_file
      <<~RUBY
        # frozen_string_literal: true

        require "test_helper"

        class Test#{@module} < #{FRAMEWORKS.fetch(test_framework)[:base]}
          include Cleat::Testing

          def test_counts
            tally = #{@module}::Tally.new("apples")
            assert_equal 3, tally.add(3)
            assert_equal "apples", tally.label
            assert_raises(TypeError) { #{@module}::Tally.new(:not_a_string) }
            assert_raises(RangeError) { tally.add(2**63 - 1) }
            assert_equal 3, tally.count
          end

          def test_merge_takes_only_tallies
            tally = #{@module}::Tally.new("apples")
            tally.add(2)
            assert_equal 3, tally.merge(#{@module}::Tally.new("pears").tap { |t| t.add(1) })
            assert_raises(TypeError) { tally.merge("pears") }
          end

          def test_uninitialized_objects_raise
            assert_raises(TypeError) { #{@module}::Tally.allocate.count }
          end

          def test_borrowed_while_yielding
            tally = #{@module}::Tally.new("pears")
            tally.add(2)
            assert_raises(Cleat::BorrowError) { tally.each_step { tally.add(1) } }
            assert_equal [1, 2], tally.enum_for(:each_step).to_a
          end

          def test_gc_safety
            tallies = with_gc_stress { Array.new(10) { |i| #{@module}::Tally.new("label \#{i}") } }
            with_compaction { GC.start }
            assert_equal Array.new(10) { |i| "label \#{i}" }, tallies.map(&:label)
            assert_wb_protected tallies.first
            assert_memsize_covers tallies.first, 16
          end
        end
      RUBY
    end

    def readme
      <<~MD
        # #{@module}

        A Ruby C extension built with [Cleat](#{Cleat::HOMEPAGE}): its struct is described once
        (`ext/#{name}/#{name}.c`) and Cleat derives marking, compaction, write barriers and
        memsize, checks every method's receiver, and raises `Cleat::BorrowError` instead of
        corrupting memory. Cleat's [guide](#{Cleat::HOMEPAGE}/blob/main/docs/guide.md) explains each
        part; its [API reference](#{Cleat::HOMEPAGE}/blob/main/docs/api.md) lists every function.

        ```sh
        bundle install
        bundle exec rake test          # compile and run the tests
        bundle exec rake test:stress   # the tests with GC.stress
        bundle exec rake test:compact  # with compaction after every test
        bundle exec rake test:asan     # AddressSanitizer + UBSan build
        bundle exec rake test:valgrind # under valgrind memcheck
        bundle exec rake test:fuzz     # 100,000 hostile operations on every declared class
        ```

        `rake test:fuzz` needs no test of yours: it calls every method the extension declared
        with hostile arguments, blocks, threads and GCs, and fails on a crash, an exception
        that is not an argument error, a loan left out or a field holding what it was not
        declared to hold. A failure is shrunk and written to `tmp/cleat/fuzz/failure-SEED.rb`,
        a Ruby script that reproduces it; `CLEAT_SEED=SEED` repeats the run.

        `CLEAT_DEBUG=1 bundle exec rake clobber test` builds with Cleat's debug checks. A new `.c`
        file in `ext/#{name}/` is picked up by the next `rake compile`.
      MD
    end

    # Cleat's own MIT license, with the gem's authors in the copyright line.
    def license
      File.read(File.expand_path("../../LICENSE", __dir__))
          .sub(/^Copyright .*$/, "Copyright (c) #{Time.now.year} The #{@module} authors")
    end
  end

  # The `cleat` command.
  module CLI
    USAGE = <<~TEXT
      Usage: cleat new NAME [--test-unit] [--cleat-path DIR]
             cleat version

      new NAME       write a gem skeleton NAME/ whose C extension uses Cleat
      --test-unit    its tests use test-unit (default: minitest)
      --cleat-path  build against a Cleat checkout (Gemfile path: dependency)
    TEXT

    def self.run(argv, out: $stdout, err: $stderr)
      command = argv.first
      case command
      when "new" then generate(argv.drop(1), out, err)
      when "version", "--version" then out.puts(Cleat::VERSION) || 0
      when nil, "help", "-h", "--help" then out.puts(USAGE) || 0
      else
        err.puts "cleat: unknown command #{command.inspect}\n\n#{USAGE}"
        1
      end
    end

    def self.generate(args, out, err)
      options = {}
      names = OptionParser.new do |o|
        o.on("--cleat-path DIR") { |dir| options[:cleat_path] = dir }
        o.on("--test-unit") { options[:test_framework] = :test_unit }
      end.parse(args)
      unless names.size == 1
        err.puts "cleat new: give exactly one gem name\n\n#{USAGE}"
        return 1
      end
      generator = Generator.new(names.first, **options)
      generator.generate.each { |path| out.puts "  create  #{path}" }
      out.puts "\nNext: cd #{names.first} && bundle install && bundle exec rake test"
      0
    rescue Generator::Error, OptionParser::ParseError => e
      err.puts "cleat new: #{e.message}"
      1
    end
  end
end
