# frozen_string_literal: true

require "test_helper"
require "timeout"
require "json"
require "open3"
require "rbconfig"
require "tmpdir"
require "cleat/generator"
require "cleat/doc_source"

# RDoc and YARD list the classes and methods of extensions written with
# Cleat (lib/rdoc/discover.rb and lib/yard-cleat.rb hook Cleat::DocSource
# into their C parsers): every method the examples' classes have at run
# time, and the `cleat new` template's, each with its call-seq.
class TestRDoc < Minitest::Test
  ROOT = File.expand_path("..", __dir__)

  CHILDREN = %i[test_rdoc_lists_every_method_the_examples_define test_rdoc_lists_the_generated_gems_methods
                test_rdoc_without_cleat_sees_no_method test_yard_lists_every_method_the_examples_define].freeze
  cleat_skip_under_gc_stress(*CHILDREN, :test_a_comment_full_of_comment_openers_is_no_hang,
                             :test_many_types_and_non_ascii_text_are_no_hang)
  cleat_skip_in_mode :valgrind, *CHILDREN, reason: "rdoc and yard run in child processes, outside valgrind"
  cleat_skip_in_mode :valgrind, :test_many_types_and_non_ascii_text_are_no_hang,
                     reason: "a hang guard on megabytes: valgrind's slowdown is no hang"

  # Methods Cleat itself defines on every type (documented in docs/api.md).
  CLEAT_OWN = ["#initialize_copy"].freeze

  # { class name => { "#meth" or "::meth" => call-seq } } as `rdoc` finds
  # them in files, in a child Ruby that finds RDoc plugins the way `rdoc`
  # does (Gem.find_files "rdoc/discover", which looks in the load path).
  def rdoc_methods(files, load_path: [File.join(ROOT, "lib")])
    script = <<~RUBY
      require "rdoc"
      require "json"
      rdoc = RDoc::RDoc.new
      rdoc.document(["--dry-run", "--quiet", *ARGV])
      print JSON.dump(rdoc.store.all_classes_and_modules.to_h { |c|
        [c.full_name, c.method_list.to_h { |m| [(m.singleton ? "::" : "#") + m.name, m.call_seq.to_s] }]
      })
    RUBY
    Dir.mktmpdir do |dir|
      # Not through this process's Bundler, which puts Cleat's lib on the path.
      env = { "RUBYOPT" => nil, "RUBYLIB" => nil, "BUNDLE_GEMFILE" => nil }
      out, err, status = Open3.capture3(env, RbConfig.ruby, *load_path.map { |d| "-I#{d}" }, "-e", script, "--",
                                        *files, chdir: dir)
      assert status.success?, err
      JSON.parse(out)
    end
  end

  # { class name => { "#meth" or ".meth" => [signatures] } } as YARD
  # finds them, with the plugin `yard --plugin cleat` loads.
  def yard_methods(files)
    script = <<~RUBY
      require "yard"
      require "json"
      YARD::Config.load_plugin("cleat") or abort "no plugin"
      YARD.parse(ARGV)
      print JSON.dump(YARD::Registry.all(:class).to_h { |c|
        [c.path, c.meths(inherited: false, included: false).to_h { |m|
          [(m.scope == :class ? "." : "#") + m.name.to_s, m.tags(:overload).map(&:signature)]
        }]
      })
    RUBY
    Dir.mktmpdir do |dir|
      out, err, status = Open3.capture3(RbConfig.ruby, "-I#{ROOT}/lib", "-e", script, "--", *files, chdir: dir)
      assert status.success?, err
      JSON.parse(out)
    end
  end

  # What the examples' classes answer at run time, as RDoc names it
  # (initialize is ::new) or YARD does (#initialize, class methods .name).
  def runtime_methods(klass, tool: :rdoc)
    names = klass.public_instance_methods(false) + klass.private_instance_methods(false)
    names.map { |name| name == :initialize && tool == :rdoc ? "::new" : "##{name}" } +
      klass.singleton_methods(false).map { |name| "#{tool == :rdoc ? '::' : '.'}#{name}" } - CLEAT_OWN
  end

  def example_classes
    classes = CleatExamples.constants.map { |c| CleatExamples.const_get(c) }.grep(Class)
    assert_operator classes.size, :>=, 7
    classes
  end

  def test_yard_lists_every_method_the_examples_define
    found = yard_methods(Dir[File.join(ROOT, "ext/cleat_examples/*.c")].sort)
    example_classes.each do |klass|
      documented = found.fetch(klass.name) { flunk "YARD does not list #{klass.name} (it found #{found.keys})" }
      assert_empty runtime_methods(klass, tool: :yard) - documented.keys, "YARD does not list these methods of #{klass.name}"
      assert_empty documented.select { |_name, signatures| signatures.empty? }.keys, "#{klass.name}: no call-seq"
    end
  end

  def test_rdoc_lists_every_method_the_examples_define
    found = rdoc_methods(Dir[File.join(ROOT, "ext/cleat_examples/*.c")].sort)
    example_classes.each do |klass|
      documented = found.fetch(klass.name) { flunk "rdoc does not list #{klass.name} (it found #{found.keys})" }
      missing = runtime_methods(klass) - documented.keys
      assert_empty missing, "rdoc does not list these methods of #{klass.name}"
      without_call_seq = documented.select { |_name, call_seq| call_seq.empty? }.keys
      assert_empty without_call_seq, "#{klass.name}: no call-seq comment"
    end
  end

  def test_rdoc_lists_the_generated_gems_methods
    Dir.mktmpdir do |dir|
      Cleat::Generator.new("word_tally", dir: dir).generate
      source = File.join(dir, "word_tally/ext/word_tally/word_tally.c")
      defined = File.read(source).scan(/CLEAT_DEFINE_METHOD\(\w+, "(\w+)"/).flatten
      assert_operator defined.size, :>=, 5
      documented = rdoc_methods([source]).fetch("WordTally::Tally")
      expected = defined.map { |name| name == "initialize" ? "::new" : "##{name}" }
      assert_equal expected.sort, documented.keys.sort
      assert documented.values.none?(&:empty?), "a method without call-seq: #{documented}"
    end
  end

  # Without the plugin RDoc sees none of it: what the plugin is for.
  def test_rdoc_without_cleat_sees_no_method
    found = rdoc_methods([File.join(ROOT, "ext/cleat_examples/counter.c")], load_path: [])
    assert_empty found.values.flat_map(&:keys)
  end

  def test_translation_keeps_line_numbers_and_leaves_other_c_alone
    plain = "static VALUE f(VALUE self) { return self; }\nvoid Init_x(void) { rb_define_method(c, \"f\", f, 0); }\n"
    assert_same plain, Cleat::DocSource.translate(plain)
    source = File.read(File.join(ROOT, "ext/cleat_examples/memory.c"))
    assert_equal source.count("\n"), Cleat::DocSource.translate(source).count("\n")
  end

  # The fifth hostile review: the class-comment pattern, tried at every
  # "/*", ran to the comment's end each time; 449 KB of comment took 58 s,
  # and rdoc loads the plugin for every installed gem's C files. The
  # timeout guards against a hang only (linear: well under a second).
  def test_a_comment_full_of_comment_openers_is_no_hang
    source = "/* #{'a /* b ' * 30_000} */\nCLEAT_TYPE(t, \"A::B\", x, f);\n"
    text = Timeout.timeout(60) { Cleat::DocSource.translate(source) }
    assert text.start_with?("/* Document-class: A::B\n * a /* b a /* b"), text[0, 80]
    assert_equal source.count("\n"), text.count("\n")
    # The whole comment, a glob in it included (a review: the first fix cut
    # it at its last "/*").
    glob = "int x; /* done */\n/* A buffer; loads ext/*.so. */\nCLEAT_TYPE(t, \"A::B\", x, f);\nCLEAT_TYPE(u, \"A::C\", y, g);\n"
    assert_equal "int x; /* done */\n/* Document-class: A::B\n * A buffer; loads ext/*.so. */ CLEAT_TYPE(t, \"A::B\", x, f);\n" \
                 "CLEAT_TYPE(u, \"A::C\", y, g);\n", Cleat::DocSource.translate(glob)
  end

  # The sixth hostile review: the search still read on past the comment to
  # the next "/*" anywhere (a file of `*/ CLEAT_TYPE` lines: 10 s a
  # megabyte), and indexed characters, which a String with any non-ASCII
  # character counts from its start. The timeout guards against a hang; the
  # figures are no speed target.
  def test_many_types_and_non_ascii_text_are_no_hang
    many = "/* Written by Zoë. */\n" + ("*/\nCLEAT_TYPE(t, \"A\", x_t, f);\n" * 40_000)
    text = Timeout.timeout(20) { Cleat::DocSource.translate(many) }
    assert_equal many.count("\n"), text.count("\n")
    assert_equal Encoding::UTF_8, text.encoding
    assert text.valid_encoding?
    assert text.start_with?("/* Written by Zoë. */\n*/\nCLEAT_TYPE"), text[0, 60]
    spaced = "/* é */\n/* The A. */" + (" " * 1_000_000) + "\nCLEAT_TYPE(t, \"A\", x_t, f);\n"
    text = Timeout.timeout(20) { Cleat::DocSource.translate(spaced) }
    assert text.start_with?("/* é */\n/* Document-class: A\n * The A. */ "), text[0, 60]
    assert_equal spaced.count("\n"), text.count("\n")
  end

  def test_translation_of_each_form
    source = <<~C
      /* A thing. */
      CLEAT_TYPE(thing_type, "Outer::Inner::Thing", thing_t, NULL);
      CLEAT_SHARED(thing_two, thing_type, thing_t *t, a, b) { return a; }
      CLEAT_EXCLUSIVE_ARGV(thing_any, thing_type, thing_t *t) { return self; }
      void Init_thing(void) {
          VALUE k = cleat_type_define_class(&thing_type, rb_cObject);
          CLEAT_DEFINE_METHOD(k, "two", thing_two);
          CLEAT_DEFINE_PRIVATE_METHOD(k, "any", thing_any);
      }
    C
    text = Cleat::DocSource.translate(source)
    assert_includes text, "/* Document-class: Outer::Inner::Thing\n * A thing. */ CLEAT_TYPE"
    assert_includes text, "VALUE thing_two(VALUE self, VALUE a, VALUE b) {"
    assert_includes text, "VALUE thing_any(int argc, VALUE *argv, VALUE self) {"
    assert_includes text, 'cleat_doc_Outer = rb_define_module("Outer"); ' \
                          'cleat_doc_Outer_Inner = rb_define_module_under(cleat_doc_Outer, "Inner"); ' \
                          'VALUE k = rb_define_class_under(cleat_doc_Outer_Inner, "Thing", rb_cObject);'
    assert_includes text, 'rb_define_method(k, "two", thing_two, 2);'
    assert_includes text, 'rb_define_private_method(k, "any", thing_any, -1);'
  end
end
