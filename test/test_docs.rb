# frozen_string_literal: true

require "test_helper"
require "json"
require "open3"
require "rbconfig"
require "tempfile"
require "tmpdir"

# The documentation cannot rot: every code block of docs/guide.md is checked,
# and docs/api.md must name every public function and macro of the header.
#
# How a fenced block of docs/guide.md is treated depends on its info string:
#
#   ```c                a complete translation unit: compiled on its own with
#                       -fsyntax-only -Wall -Wextra -Werror against Ruby's
#                       headers and include/ (one compiler run per block).
#   ```c runnable       also a complete translation unit, defining one
#                       `void Init_<name>(void)`. Every runnable block becomes
#                       one file of ONE extension (built with
#                       create_cleat_makefile, debug checks on, -Werror), whose
#                       Init calls each block's Init_<name> in document order.
#   ```c compile-fails  a mistake Cleat turns into a compile error: the block
#                       must fail to compile, and must compile once the lines
#                       marked `/* does not compile */` are removed (so it fails
#                       for the reason the guide gives, not for a typo). A
#                       marker `/* does not compile: text */` also requires the
#                       compiler's errors to contain `text` (Cleat's own
#                       message, say).
#   ```ruby run         run, after every runnable block is loaded, in one
#                       subprocess (each block in a fresh binding, in document
#                       order). A line `expr # => value` asserts expr.inspect
#                       is value; `expr # raises Klass: message` asserts expr
#                       raises Klass (exactly) with that message (": message"
#                       is optional). Failures name the guide's line.
#   ```ruby             syntax-checked only (Rakefiles, extconf.rb, tests).
#   anything else       (sh, text) left alone.
#
# The header's examples are compiled too. In include/cleat.h an example is
# introduced by a comment line ending in "Example:"; its code is the lines
# after it indented two spaces more than the comment's text (` *   code`), up
# to the first line that is not. Every example, in header order, goes into
# one translation unit after #include "cleat.h" (an example may use what an
# earlier one declared), compiled like a ```c block. A run of such indented
# lines that looks like code (a line ending in `;`, `{` or `}`) without the
# marker fails: an example that does not compile is not an example.
#
# The compiler and the build are subprocesses with nothing to do with the GC:
# under test:stress, test:compact, test:asan and test:valgrind they are
# skipped (the default suite runs them on every Ruby); the rest is text
# processing, kept out of GC.stress.
class TestDocs < Minitest::Test
  ROOT = File.expand_path("..", __dir__)
  GUIDE = File.join(ROOT, "docs/guide.md")
  API = File.join(ROOT, "docs/api.md")
  HEADER = File.join(ROOT, "include/cleat.h")

  Block = Struct.new(:info, :code, :line) do # line: of the block's first code line
    def lang = info.split.first.to_s
    def tags = info.split.drop(1)
    def where = "docs/guide.md:#{line}"
  end

  def self.blocks(path = GUIDE)
    blocks = []
    current = nil
    File.foreach(path).with_index(1) do |text, number|
      if current.nil? && (m = text.match(/\A```(\S.*)?\s*\z/))
        current = Block.new(m[1].to_s.strip, +"", number + 1)
      elsif current && text.match?(/\A```\s*\z/)
        blocks << current
        current = nil
      elsif current
        current.code << text
      end
    end
    raise "#{path}: unclosed code block at line #{current.line - 1}" if current

    blocks
  end

  def blocks_tagged(lang, tag = nil)
    TestDocs.blocks.select { |b| b.lang == lang && (tag.nil? || b.tags.include?(tag)) }
  end

  def skip_unless_default_mode
    mode = Cleat::Testing::Mode.current
    skip "CLEAT_TEST_MODE=#{mode}: compiler and build subprocesses only run in the default suite" unless mode.empty?
  end

  # ---- compiling -----------------------------------------------------------

  # [compiler output, status] for one translation unit (compile_c,
  # test_helper.rb), with #line so errors point into the guide.
  def compile(block, code = block.code)
    out, status = compile_c(code, file: "docs/guide.md", line: block.line)
    [out.lines.first(30).join, status]
  end

  def test_guide_has_blocks_of_every_kind
    kinds = TestDocs.blocks.map(&:info).tally
    %w[c c\ runnable c\ compile-fails ruby\ run ruby].each do |kind|
      assert_operator kinds.fetch(kind, 0), :>, 0, "docs/guide.md has no ```#{kind} block"
    end
    unknown = TestDocs.blocks.reject do |b|
      %w[c ruby sh text].include?(b.lang) && (b.tags - %w[runnable compile-fails run]).empty?
    end
    assert_empty unknown.map { |b| "#{b.where}: ```#{b.info}" }, "info strings this test does not know"
  end

  def test_every_c_block_compiles
    skip_unless_default_mode
    failures = (blocks_tagged("c") - blocks_tagged("c", "compile-fails")).filter_map do |block|
      out, status = compile(block)
      "#{block.where}:\n#{out}" unless status.success?
    end
    assert_empty failures, "guide blocks that do not compile"
  end

  def test_compile_fails_blocks_fail_for_the_marked_reason
    skip_unless_default_mode
    blocks_tagged("c", "compile-fails").each do |block|
      marker = %r{/\* does not compile(?:: (.*?))? \*/}
      marked = block.code.lines.grep(marker)
      refute_empty marked, "#{block.where}: a compile-fails block marks its bad line /* does not compile */"
      out, status = compile(block)
      refute status.success?, "#{block.where}: expected a compile error"
      marked.filter_map { |l| l[marker, 1] }.each do |text|
        assert_includes out, text, "#{block.where}: the compiler's errors should say this"
      end
      fixed = block.code.lines.map { |l| l.match?(marker) ? "\n" : l }.join
      out, status = compile(block, fixed)
      assert status.success?, "#{block.where}: without the marked lines it must compile:\n#{out}"
    end
  end

  # ---- the header's examples ------------------------------------------------

  HeaderExample = Struct.new(:code, :line) # line: of the example's first code line

  # [examples, unmarked code-like runs] of the header, each with its line.
  def self.header_examples(path = HEADER)
    examples = []
    unmarked = []
    lines = File.readlines(path)
    i = 0
    while i < lines.size
      if lines[i].match?(%r{\A(?: \*|/\*) .*\bExample:\s*\z})
        i += 1
        start = i
        i += 1 while i < lines.size && lines[i].start_with?(" *   ")
        code = lines[start...i].map { |l| l.delete_prefix(" *   ") }.join
        examples << HeaderExample.new(code, start + 1)
      elsif lines[i].match?(/\A \*   \S/) # a run not introduced by the marker
        start = i
        i += 1 while i < lines.size && lines[i].start_with?(" *   ")
        run = lines[start...i]
        unmarked << HeaderExample.new(run.join, start + 1) if run.any? { |l| l.match?(%r{[;{}]\s*(?://.*)?\z}) }
      else
        i += 1
      end
    end
    [examples, unmarked]
  end

  def test_the_headers_examples_compile
    skip_unless_default_mode
    examples, unmarked = TestDocs.header_examples
    assert_operator examples.size, :>=, 7, "the scan found too few examples in include/cleat.h"
    assert_empty unmarked.map { |e| "include/cleat.h:#{e.line}:\n#{e.code}" },
                 "indented code in include/cleat.h's comments without an \"Example:\" line before it"
    unit = +"#include \"cleat.h\"\n"
    examples.each { |e| unit << "#line #{e.line} \"include/cleat.h\"\n#{e.code}" }
    out, status = compile_c(unit)
    assert status.success?, "include/cleat.h's examples do not compile:\n#{out.lines.first(40).join}"
  end

  def test_the_header_example_scan
    header = <<~C
      /* Does things. Example:
       *   int one = 1;
       *   int two = 2;
       * The end.
       *   static int three = 3;
       *
       * Table:
       *   1. Set-up          cleat_init
       */
    C
    Tempfile.create(["cleat", ".h"]) do |f|
      f.write(header)
      f.close
      examples, unmarked = TestDocs.header_examples(f.path)
      assert_equal [["int one = 1;\nint two = 2;\n", 2]], examples.map(&:to_a)
      assert_equal [[" *   static int three = 3;\n", 5]], unmarked.map(&:to_a)
    end
  end

  # ---- running ---------------------------------------------------------------

  def test_runnable_blocks_build_and_the_ruby_blocks_run
    skip_unless_default_mode
    Dir.mktmpdir("cleat-guide") do |dir|
      build_guide_extension(dir)
      runs = blocks_tagged("ruby", "run").map { |b| { "code" => b.code, "line" => b.line } }
      File.write(File.join(dir, "blocks.json"), JSON.generate(runs))
      out, status = Open3.capture2e(RbConfig.ruby, "-I#{dir}", "-I#{ROOT}/lib", File.join(__dir__, "docs_runner.rb"),
                                    File.join(dir, "blocks.json"))
      assert status.success?, out
      assert_match(/^#{runs.size} guide blocks ran, \d+ results checked\n\z/, out)
    end
  end

  def build_guide_extension(dir)
    inits = []
    blocks_tagged("c", "runnable").each_with_index do |block, i|
      names = block.code.scan(/^void (Init_\w+)\(void\)/).flatten
      assert_equal 1, names.size, "#{block.where}: a runnable block defines exactly one void Init_<name>(void)"
      inits << names.first
      File.write(File.join(dir, format("guide_%02d.c", i)), "#line #{block.line} \"#{GUIDE}\"\n#{block.code}")
    end
    File.write(File.join(dir, "guide_examples.c"), <<~C)
      #include "cleat.h"
      #{inits.map { |n| "void #{n}(void);" }.join("\n")}
      void Init_guide_examples(void)
      {
      #{inits.map { |n| "    #{n}();" }.join("\n")}
      }
    C
    File.write(File.join(dir, "extconf.rb"), <<~RUBY)
      $LOAD_PATH.unshift(#{File.join(ROOT, "lib").dump})
      require "cleat/mkmf"
      create_cleat_makefile("guide_examples", werror: true, debug: true)
    RUBY
    out, status = Open3.capture2e(RbConfig.ruby, "extconf.rb", chdir: dir)
    assert status.success?, out
    out, status = Open3.capture2e("make", "-s", "-j2", chdir: dir)
    assert status.success?, "the guide's runnable blocks do not build:\n#{out}"
  end

  def test_ruby_blocks_are_valid_ruby
    verbose, $VERBOSE = $VERBOSE, nil # `x == y # => true` is a check, not a useless comparison
    blocks_tagged("ruby").each do |block|
      RubyVM::InstructionSequence.compile(block.code, block.where, block.where, block.line)
    rescue SyntaxError => e
      flunk "#{block.where}: #{e.message}"
    end
  ensure
    $VERBOSE = verbose
  end

  # ---- the API reference -----------------------------------------------------

  # Public names: cleat_* functions and variables, CLEAT_* macros, types and
  # enum constants, outside comments, except the internal cleat__ / CLEAT__
  # ones, the macros' locals and the include guard.
  def self.public_names(header = File.read(HEADER))
    text = header.gsub(%r{/\*.*?\*/}m, "").gsub(%r{//[^\n]*}, "")
    names = text.scan(/\b(?:cleat|CLEAT)_[A-Za-z0-9]\w*/).uniq
    # cleat_data_ and cleat_ret_: locals of the door macros.
    names.reject { |n| n.start_with?("cleat__", "CLEAT__") || n.end_with?("_") || n == "CLEAT_H" }.sort
  end

  def test_api_reference_names_every_public_function_and_macro
    names = TestDocs.public_names
    assert_operator names.size, :>, 60, "the header scan found too few names: #{names.inspect}"
    %w[cleat_write cleat_unwrap CLEAT_TYPE CLEAT_SHARED CLEAT_FIELD_VIEW cleat_str_utf8].each do |n|
      assert_includes names, n
    end
    # Named in code: an inline `span` or a fenced block.
    api = File.read(API)
    code = api.scan(/^```[^\n]*\n(.*?)^```$/m).flatten + api.gsub(/^```.*?^```$/m, "").scan(/`([^`\n]+)`/).flatten
    documented = code.join("\n").scan(/\b(?:cleat|CLEAT)_\w+/).uniq
    missing = names - documented
    assert_empty missing, "docs/api.md does not document these public names of include/cleat.h"
  end

  def test_api_reference_names_nothing_the_header_lacks
    api_names = File.read(API).scan(/\b(?:cleat|CLEAT)_[A-Za-z0-9]\w*/).uniq
    extra = api_names - File.read(HEADER).scan(/\b(?:cleat|CLEAT)_[A-Za-z0-9]\w*/) # comments too
    assert_empty extra, "docs/api.md names things include/cleat.h does not declare"
  end

  # Text processing, nothing about the GC: under GC.stress each of these took
  # two minutes.
  cleat_skip_under_gc_stress(*public_instance_methods(false).grep(/\Atest_/))
end
