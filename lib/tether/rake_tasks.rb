# frozen_string_literal: true

require "rake"
require "rbconfig"
require "fileutils"
require "etc"

module Tether
  # The safety tasks, for any gem whose extensions use Tether. One line in
  # the Rakefile (after the rake-compiler tasks):
  #
  #   require "tether/rake_tasks"; Tether::RakeTasks.new
  #
  # defines
  #   test:stress   - the suite with GC.stress on in every test it allows;
  #   test:compact  - the suite with GC.auto_compact and a verified compaction
  #                   after every test;
  #   test:asan     - extensions rebuilt with AddressSanitizer and UBSan, the
  #                   suite run with the sanitizer runtime preloaded into Ruby;
  #   test:valgrind - the suite under valgrind memcheck, keeping only errors and
  #                   definite leaks whose stacks pass through the extensions.
  # Test files must `require "tether/testing"` (the test helper usually does).
  class RakeTasks
    include Rake::DSL

    attr_reader :libs, :test_files, :extensions

    # libs: load path for the tests; test_files: the suite; extensions:
    # [[extconf.rb, lib_dir]] to rebuild for test:asan (by default every
    # ext/**/extconf.rb, installed into lib/); valgrind_files: the part of the
    # suite test:valgrind runs (default: the whole suite).
    def initialize(libs: %w[lib test], test_files: FileList["test/**/test_*.rb"],
                   extensions: Dir["ext/**/extconf.rb"].sort.map { |c| [c, "lib"] },
                   valgrind_files: nil, build_dir: "tmp/tether")
      @libs = libs
      @test_files = test_files
      @extensions = extensions
      @valgrind_files = valgrind_files || test_files
      @build_dir = build_dir
      define
    end

    def compile_prerequisites
      Rake::Task.task_defined?(:compile) ? [:compile] : []
    end

    def define
      namespace :test do
        desc "Run the tests with GC.stress on"
        task stress: compile_prerequisites do
          run_suite(test_files, { "TETHER_TEST_MODE" => "stress" })
        end

        desc "Run the tests with automatic and verified compaction"
        task compact: compile_prerequisites do
          run_suite(test_files, { "TETHER_TEST_MODE" => "compact" })
        end

        desc "Rebuild the extensions with AddressSanitizer and UBSan and run the tests"
        task :asan do
          run_asan
        end

        desc "Run the tests under valgrind memcheck, failing on errors in the extensions"
        task valgrind: compile_prerequisites do
          run_valgrind
        end
      end
    end

    # Loads the test files and leaves the other arguments (TESTOPTS, such as
    # -v or --seed) to minitest.
    LOADER = 'files, opts = ARGV.partition { |a| a.end_with?(".rb") }; ARGV.replace(opts); ' \
             "files.each { |f| require File.expand_path(f) }"

    def ruby_test_command(files, load_path)
      [RbConfig.ruby, *load_path.map { |dir| "-I#{dir}" }, "-e", LOADER, "--", *files,
       *ENV.fetch("TESTOPTS", "").split]
    end

    def run_suite(files, env, load_path: libs, prefix: [])
      sh(env, *prefix, *ruby_test_command(files, load_path))
    end

    # ---- test:asan ----

    def sanitizer_runtime
      path = `#{RbConfig::CONFIG["CC"] || "gcc"} -print-file-name=libasan.so`.strip
      raise "libasan not found: install gcc's libasan (Debian: libasan8)" unless File.exist?(path)

      path
    end

    def run_asan
      lib = File.expand_path(File.join(@build_dir, "asan", "lib"))
      FileUtils.mkdir_p(lib)
      extensions.each { |extconf, _lib_dir| build_variant(extconf, lib, "TETHER_SANITIZE" => "1") }
      env = {
        "LD_PRELOAD" => sanitizer_runtime,
        # Ruby frees little at exit: leak reports would all be Ruby's own.
        # Ruby keeps its own alternate signal stacks and SEGV handler.
        "ASAN_OPTIONS" => "detect_leaks=0:halt_on_error=1:exitcode=86:use_sigaltstack=0:allow_user_segv_handler=1",
        "UBSAN_OPTIONS" => "print_stacktrace=1:halt_on_error=1",
        "TETHER_TEST_MODE" => "asan"
      }
      log = File.join(@build_dir, "asan", "test.log")
      ok = system(env, *ruby_test_command(test_files, [lib, *libs]), out: log, err: %i[child out])
      output = File.read(log)
      puts output
      reports = output.lines.grep(/ERROR: AddressSanitizer|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/)
      raise "test:asan: #{reports.size} sanitizer report(s)" unless reports.empty?
      raise "test:asan: the suite failed" unless ok
    end

    # Builds the extension of extconf with env (TETHER_SANITIZE, TETHER_DEBUG)
    # in a directory of its own and installs it into lib, for this Ruby or the
    # one at `ruby` (each Ruby needs a lib of its own).
    def build_variant(extconf, lib, env, ruby: RbConfig.ruby)
      name = File.basename(File.dirname(extconf))
      dir = File.join(File.dirname(lib), "build", name)
      FileUtils.mkdir_p([dir, lib])
      Dir.chdir(dir) do
        sh(env, ruby, File.expand_path(extconf, Rake.original_dir))
        sh "make", "-s", "-j#{Etc.nprocessors}"
        sh "make", "-s", "install", "sitearchdir=#{lib}", "sitelibdir=#{lib}"
      end
    end

    # ---- test:valgrind ----

    def run_valgrind
      dir = File.expand_path(File.join(@build_dir, "valgrind"))
      FileUtils.rm_rf(dir)
      FileUtils.mkdir_p(dir)
      prefix = ["valgrind", "--tool=memcheck", "--num-callers=60", "--error-limit=no", "--leak-check=full",
                "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite", "--trace-children=no",
                "--xml=yes", "--xml-file=#{dir}/%p.xml"]
      env = { "TETHER_TEST_MODE" => "valgrind", "RUBY_FREE_AT_EXIT" => "1" }
      ok = system(env, *prefix, *ruby_test_command(@valgrind_files, libs))
      require_relative "valgrind_report"
      report = ValgrindReport.new(Dir["#{dir}/*.xml"], extension_objects)
      puts report.summary
      raise "test:valgrind: #{report.errors.size} error(s) in the extensions" unless report.errors.empty?
      raise "test:valgrind: the suite failed" unless ok
    end

    # The shared objects whose frames make an error ours.
    def extension_objects
      libs.flat_map { |dir| Dir[File.join(File.expand_path(dir), "**", "*.#{RbConfig::CONFIG["DLEXT"]}")] }.uniq
    end
  end
end
