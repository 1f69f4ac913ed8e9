# frozen_string_literal: true

require "rake"
require "rbconfig"
require "fileutils"
require "etc"
require "open3"

module Cleat
  # The safety tasks, for any gem whose extensions use Cleat. One line in
  # the Rakefile (after the rake-compiler tasks):
  #
  #   require "cleat/rake_tasks"; Cleat::RakeTasks.new
  #
  # defines
  #   test:stress   - the suite with GC.stress on in every test it allows;
  #   test:compact  - the suite with GC.auto_compact and a verified compaction
  #                   after every test;
  #   test:asan     - extensions rebuilt with AddressSanitizer, UBSan and the
  #                   Cleat debug checks, the suite run with the sanitizer
  #                   runtime preloaded into Ruby, failing on any report;
  #   test:valgrind - the suite under valgrind memcheck, keeping only errors and
  #                   definite leaks whose stacks pass through the extensions;
  #   test:release  - extensions rebuilt without the Cleat debug checks, as
  #                   users ship them, and the suite run against them;
  #   test:fuzz     - hostile operations on every class the extensions
  #                   declared, derived from the declarations (Cleat::Fuzz):
  #                   CLEAT_SEED, CLEAT_FUZZ_OPS (100,000), CLEAT_FUZZ_CLASSES;
  #                   under AddressSanitizer when test:asan built the
  #                   extensions since the last compile (CLEAT_FUZZ_ASAN=0: not);
  #   test:fuzz:release - the same against release builds.
  # Test files must `require "cleat/testing"` (the test helper usually does),
  # after minitest or test-unit: the tasks run either, the same way.
  class RakeTasks
    include Rake::DSL

    attr_reader :libs, :test_files, :extensions

    # libs: load path for the tests; test_files: the suite (by default
    # test/**/test_*.rb and test/**/*_test.rb, the two conventions); extensions:
    # [[extconf.rb, lib_dir]] to rebuild for test:asan (by default every
    # ext/**/extconf.rb, installed into lib/); valgrind_files: the part of the
    # suite test:valgrind runs (default: the whole suite).
    # For test:fuzz: fuzz_requires, what loads the extensions (default: each
    # extension's name); fuzz_classes, the class or namespace names to fuzz
    # (default: every class they registered); fuzz_errors, names of the
    # exception classes the gem raises on purpose (its exception classes
    # that are Cleat types count already).
    def initialize(libs: %w[lib test], test_files: FileList["test/**/test_*.rb", "test/**/*_test.rb"],
                   extensions: Dir["ext/**/extconf.rb"].sort.map { |c| [c, "lib"] },
                   valgrind_files: nil, build_dir: "tmp/cleat",
                   fuzz_requires: nil, fuzz_classes: nil, fuzz_errors: [])
      @libs = libs
      @test_files = test_files
      @extensions = extensions
      @valgrind_files = valgrind_files || test_files
      @build_dir = build_dir
      @fuzz_requires = fuzz_requires || extensions.map { |extconf, _lib_dir| File.basename(File.dirname(extconf)) }
      @fuzz_classes = fuzz_classes
      @fuzz_errors = fuzz_errors
      define
    end

    # rake-compiler runs extconf.rb once, and extconf lists the C sources:
    # a .c file added later is not compiled ("undefined symbol" at load).
    # Makes the extension's Makefile depend on its source directory (whose
    # mtime changes when a file is added or removed) and on +more+ files or
    # directories, so extconf runs again. +ext+ is a Rake::ExtensionTask.
    def self.reconfigure_when_files_change(ext, *more)
      makefile = File.join(ext.tmp_dir, ext.platform, ext.name, RUBY_VERSION, "Makefile")
      Rake::FileTask.define_task(makefile => [ext.ext_dir, *more])
    end

    def compile_prerequisites
      Rake::Task.task_defined?(:compile) ? [:compile] : []
    end

    def define
      namespace :test do
        desc "Run the tests with GC.stress on"
        task stress: compile_prerequisites do
          run_suite(test_files, { "CLEAT_TEST_MODE" => "stress" })
        end

        desc "Run the tests with automatic and verified compaction"
        task compact: compile_prerequisites do
          run_suite(test_files, { "CLEAT_TEST_MODE" => "compact" })
        end

        desc "Rebuild the extensions with AddressSanitizer and UBSan and run the tests"
        task :asan do
          run_asan
        end

        desc "Run the tests under valgrind memcheck, failing on errors in the extensions"
        task valgrind: compile_prerequisites do
          run_valgrind
        end

        desc "Rebuild the extensions without the Cleat debug checks (what users ship) and run the tests"
        task :release do
          run_release
        end

        desc "Fuzz every declared class with hostile operations (CLEAT_SEED, CLEAT_FUZZ_OPS, CLEAT_FUZZ_CLASSES)"
        task fuzz: compile_prerequisites do
          run_fuzz(:default)
        end

        namespace :fuzz do
          desc "Fuzz release builds of the extensions (without the Cleat debug checks)"
          task :release do
            run_fuzz(:release)
          end
        end
      end
    end

    # Loads the test files and leaves the other arguments (TESTOPTS, such as
    # -v, minitest's --seed or test-unit's --name) to the test framework,
    # which runs the tests at exit (minitest/autorun, test/unit). Then
    # cleat/testing installs the modes in the frameworks the files loaded: a
    # suite that never requires it is stressed and compacted all the same (a
    # hostile review: test:stress passed such a suite with GC.stress off). A
    # handler registered before the files, so run after the tests, fails a
    # run whose files exited while loading (exit Minitest.run(ARGV)) before
    # the modes could be installed. cleat/testing itself is not required
    # first: a suite requiring it after its framework gets the class methods
    # (cleat_skip_in_mode) at once, as when it runs alone.
    LOADER = 'files, opts = ARGV.partition { |a| a.end_with?(".rb") }; ARGV.replace(opts); loaded = false; ' \
             'at_exit { require "cleat/testing"; Cleat::Testing::Mode.check_files_loaded(loaded) }; ' \
             "files.each { |f| require File.expand_path(f) }; " \
             'require "cleat/testing"; Cleat::Testing::Mode.install_after_loading; loaded = true'

    # The suite's Ruby: load_path first, then this Cleat's lib (for
    # cleat/testing, when the suite's Ruby would not find it by itself).
    def ruby_test_command(files, load_path)
      [RbConfig.ruby, *load_path.map { |dir| "-I#{dir}" }, "-I#{File.expand_path('..', __dir__)}", "-e", LOADER, "--",
       *files, *ENV.fetch("TESTOPTS", "").split]
    end

    # The suite's own process only (cleat/testing takes it out of ENV): the
    # checks after the run (some test defined; the variant build loaded)
    # are for the suite, not for Rubies its tests start.
    TASK_RUN = { "CLEAT_TEST_TASK_RUN" => "1" }.freeze

    def run_suite(files, env, load_path: libs, prefix: [])
      sh(TASK_RUN.merge(env), *prefix, *ruby_test_command(files, load_path))
    end

    # ---- test:asan ----

    # Sanitizer options. ASan reports go to files, one per process, children
    # included: a report from a Ruby that a test spawned (and whose stderr
    # the test may swallow) fails the task as well. UBSan (a runtime of its
    # own, linked into the extensions) ignores log_path: its reports go to
    # stderr, where the task looks for them in the suite's output; in a
    # child, the abort that follows (-fno-sanitize-recover) fails its test.
    ASAN_OPTIONS = {
      # Ruby frees little at exit: leak reports would all be Ruby's own.
      "detect_leaks" => 0,
      "halt_on_error" => 1,
      "exitcode" => 86,
      # Ruby keeps its own alternate signal stacks and SEGV handler.
      "use_sigaltstack" => 0,
      "allow_user_segv_handler" => 1
    }.freeze
    UBSAN_OPTIONS = { "print_stacktrace" => 1, "halt_on_error" => 1 }.freeze
    # A report in a process's output.
    SANITIZER_REPORT = /ERROR: AddressSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/

    # libasan, to preload into a Ruby that was not built with it.
    def self.sanitizer_runtime
      path = `#{RbConfig::CONFIG["CC"] || "gcc"} -print-file-name=libasan.so`.strip
      raise "libasan not found: install gcc's libasan (Debian: libasan8)" unless File.exist?(path)

      path
    end

    # The environment that runs Ruby with sanitized extensions, writing ASan's
    # reports into report_dir.
    def self.sanitizer_env(report_dir)
      options = ->(opts) { opts.map { |k, v| "#{k}=#{v}" }.join(":") }
      {
        "LD_PRELOAD" => sanitizer_runtime,
        "ASAN_OPTIONS" => options.call(ASAN_OPTIONS.merge("log_path" => File.join(report_dir, "asan"))),
        "UBSAN_OPTIONS" => options.call(UBSAN_OPTIONS),
        "CLEAT_TEST_MODE" => "asan"
      }
    end

    # The reports written into report_dir, as [path, text].
    #
    # A file holding only warnings is not a report: on Ruby 3.4 ASan warns
    # that it ignores __asan_handle_no_return on Ruby's large thread and
    # fiber stacks ("False positive error reports may follow"); an error that
    # did follow would be in the file, and count.
    def self.sanitizer_reports(report_dir)
      sanitizer_files(report_dir).select { |_path, text| SANITIZER_REPORT.match?(text) }
    end

    def self.sanitizer_files(report_dir)
      Dir[File.join(report_dir, "*")].sort.reject { |f| File.zero?(f) }.map { |f| [f, File.read(f)] }
    end

    def run_asan
      root = File.expand_path(File.join(@build_dir, "asan"))
      lib = File.join(root, "lib")
      report_dir = File.join(root, "reports")
      FileUtils.rm_rf(report_dir)
      FileUtils.mkdir_p([lib, report_dir])
      # The debug checks too: a sanitizer run is where a report is wanted.
      extensions.each do |extconf, _lib_dir|
        build_variant(extconf, lib, { "CLEAT_SANITIZE" => "1", "CLEAT_DEBUG" => "1" })
      end
      env = RakeTasks.sanitizer_env(report_dir).merge(TASK_RUN, "CLEAT_TEST_VARIANT_LIB" => lib)
      ok, output = run_streaming(env, ruby_test_command(test_files, [lib, *libs]))
      RakeTasks.sanitizer_files(report_dir).each { |path, text| puts "---- #{path}", text }
      reports = RakeTasks.sanitizer_reports(report_dir)
      reports += output.lines.grep(SANITIZER_REPORT).map { |line| ["output", line] }
      raise "test:asan: #{reports.size} sanitizer report(s)" unless reports.empty?
      raise "test:asan: the suite failed" unless ok
    end

    # Runs command, copying its output (stdout and stderr) to ours as it
    # comes; returns whether it succeeded, and the output.
    def run_streaming(env, command)
      output = +""
      status = Open3.popen2e(env, *command) do |stdin, out, wait|
        stdin.close
        out.each_line { |line| $stdout.write(line); output << line }
        wait.value
      end
      [status.success?, output]
    end

    # Builds the extension of extconf with env (CLEAT_SANITIZE, CLEAT_DEBUG)
    # in a directory of its own and installs it into lib, for this Ruby or the
    # one at `ruby` (each Ruby needs a lib of its own).
    def build_variant(extconf, lib, env, ruby: RbConfig.ruby)
      name = File.basename(File.dirname(extconf))
      dir = File.join(File.dirname(lib), "build", name)
      # make rebuilds on source changes, not on flag changes: start afresh
      # when the build environment differs from last time.
      stamp = File.join(dir, ".cleat-build-env")
      FileUtils.rm_rf(dir) if File.exist?(stamp) && File.read(stamp) != env.inspect
      FileUtils.mkdir_p([dir, lib])
      File.write(stamp, env.inspect)
      Dir.chdir(dir) do
        sh(env, ruby, File.expand_path(extconf, Rake.original_dir))
        sh "make", "-s", "-j#{Etc.nprocessors}"
        sh "make", "-s", "install", "sitearchdir=#{lib}", "sitelibdir=#{lib}"
      end
    end

    # ---- test:release ----

    # The suite against release builds (no CLEAT_DEBUG), loaded ahead of the
    # debug builds in libs; tests that need the debug checks skip with
    # `cleat_skip_in_mode :release, ...`.
    def run_release
      lib = release_lib
      extensions.each { |extconf, _lib_dir| build_variant(extconf, lib, { "CLEAT_DEBUG" => "0" }) }
      run_suite(test_files, { "CLEAT_TEST_MODE" => "release", "CLEAT_TEST_VARIANT_LIB" => lib }, load_path: [lib, *libs])
    end

    # ---- test:fuzz ----

    def release_lib = File.expand_path(File.join(@build_dir, "release", "lib"))
    def asan_lib = File.expand_path(File.join(@build_dir, "asan", "lib"))

    # Whether test:asan built the fuzzed extensions (those fuzz_requires
    # names, or else all) since their sources, or Cleat's, last changed.
    def asan_build_fresh?
      return false if ENV["CLEAT_FUZZ_ASAN"] == "0"

      cleat_sources = Dir[File.expand_path("../../{include,src}/*.{c,h}", __dir__)]
      fuzzed_extensions.all? do |extconf, _lib_dir|
        name = File.basename(File.dirname(extconf))
        built = Dir[File.join(asan_lib, "**", "#{name}.#{RbConfig::CONFIG["DLEXT"]}")].first
        sources = Dir[File.join(File.dirname(extconf), "**", "*.{c,h,rb}")] + cleat_sources
        built && sources.all? { |source| File.mtime(source) <= File.mtime(built) }
      end
    end

    # The extensions fuzz_requires names, or all when it names none by
    # their extension's name.
    def fuzzed_extensions
      fuzzed = extensions.select { |extconf, _| @fuzz_requires.include?(File.basename(File.dirname(extconf))) }
      fuzzed.empty? ? extensions : fuzzed
    end

    # Fuzzes in a child Ruby; on failure prints the shrunk reproduction
    # (also written under tmp/cleat/fuzz) and raises.
    def run_fuzz(build)
      require_relative "fuzz/runner"
      seed = Integer(ENV.fetch("CLEAT_SEED", rand(2**32).to_s))
      count = Integer(ENV.fetch("CLEAT_FUZZ_OPS", "100000"))
      # Zero operations would say FUZZ OK having tested nothing (the seventh round).
      raise ArgumentError, "CLEAT_FUZZ_OPS must be at least 1, not #{count}" if count < 1
      classes = ENV["CLEAT_FUZZ_CLASSES"]&.split(",") || @fuzz_classes
      load_path = (libs + extensions.map { |_extconf, lib_dir| lib_dir }).uniq
      env = {}
      report_dir = nil
      variant = nil
      if build == :release
        fuzzed_extensions.each { |extconf, _lib_dir| build_variant(extconf, release_lib, { "CLEAT_DEBUG" => "0" }) }
        load_path.unshift(release_lib)
        variant = ["release", release_lib]
        puts "test:fuzz: release builds (#{release_lib})"
      elsif asan_build_fresh?
        report_dir = File.expand_path(File.join(@build_dir, "fuzz", "asan-reports"))
        FileUtils.rm_rf(report_dir)
        FileUtils.mkdir_p(report_dir)
        env = RakeTasks.sanitizer_env(report_dir)
        load_path.unshift(asan_lib)
        variant = ["asan", asan_lib]
        puts "test:fuzz: under AddressSanitizer, the builds test:asan made (#{asan_lib}; CLEAT_FUZZ_ASAN=0: not)"
      end
      runner = Fuzz::Runner.new(requires: @fuzz_requires, load_path: load_path, classes: classes,
                                errors: @fuzz_errors, env: env, work_dir: File.join(@build_dir, "fuzz"),
                                variant: variant)
      ok = runner.fuzz(seed: seed, count: count)
      if report_dir && !RakeTasks.sanitizer_reports(report_dir).empty?
        RakeTasks.sanitizer_reports(report_dir).first(1).each { |path, text| puts "---- #{path}", text }
      end
      raise "test:fuzz: failed with CLEAT_SEED=#{seed} (what and why above)" unless ok
    end

    # ---- test:valgrind ----

    # The valgrind command line that writes one XML file per process into
    # xml_dir. Children (compilers, other Rubies) run outside valgrind.
    # For the Ruby under valgrind: 3.3+ frees its memory at exit, so fewer
    # of Ruby's leaks reach the filter (Cleat::Testing drops it again for
    # the Rubies the tests start, which would warn about it).
    VALGRIND_ENV = { "RUBY_FREE_AT_EXIT" => "1" }.freeze

    def self.valgrind_command(xml_dir)
      ["valgrind", "--tool=memcheck", "--num-callers=60", "--error-limit=no", "--leak-check=full",
       "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite", "--trace-children=no",
       "--xml=yes", "--xml-file=#{xml_dir}/%p.xml"]
    end

    def run_valgrind
      dir = File.expand_path(File.join(@build_dir, "valgrind"))
      FileUtils.rm_rf(dir)
      FileUtils.mkdir_p(dir)
      env = { "CLEAT_TEST_MODE" => "valgrind" }.merge(VALGRIND_ENV, TASK_RUN)
      ok = system(env, *RakeTasks.valgrind_command(dir),
                  *ruby_test_command(@valgrind_files, libs))
      require_relative "valgrind_report"
      report = ValgrindReport.new(Dir["#{dir}/*.xml"], extension_objects)
      puts report.summary
      raise "test:valgrind: #{report.errors.size} error(s) in the extensions, in #{dir}" unless report.errors.empty?
      raise "test:valgrind: the suite failed" unless ok
    end

    # The shared objects whose frames make an error ours.
    def extension_objects
      libs.flat_map { |dir| Dir[File.join(File.expand_path(dir), "**", "*.#{RbConfig::CONFIG["DLEXT"]}")] }.uniq
    end
  end
end
