# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"

# The method macros beyond CLEAT_DEFINE_METHOD: private doors, and
# CLEAT_FUNCTIONs as singleton methods, module functions and instance
# methods, each with the arity its macro recorded.
class TestMethod < Minitest::Test
  Defaults = CleatTest::Defaults
  Functions = CleatTest::Functions

  def test_private_door_is_private_and_keeps_its_checks
    assert Defaults.private_method_defined?(:secret)
    refute Defaults.public_method_defined?(:secret)
    assert_equal 0, Defaults.instance_method(:secret).arity
    d = Defaults.new("n")
    e = assert_raises(NoMethodError) { d.secret }
    assert_match(/private method [`']secret' called/, e.message)
    assert_equal "n!", d.send(:secret)
    e = assert_raises(TypeError) { Defaults.allocate.send(:secret) }
    assert_equal "uninitialized CleatTest::Defaults", e.message
  end

  def test_singleton_method
    assert_equal 1, Defaults.method(:build).arity
    assert_equal [:build], Defaults.singleton_methods(false) & [:build]
    d = Defaults.build("built")
    assert_instance_of Defaults, d
    assert_equal "built", d.name
  end

  def test_module_functions_of_every_arity_form
    assert_equal({ none: 0, add: 2, fifteen: 15, count_args: -1 },
                 %i[none add fifteen count_args].to_h { |m| [m, Functions.method(m).arity] })
    assert_equal Module, Functions.none
    assert_equal 5, Functions.add(2, 3)
    assert_equal (1..15).to_a, Functions.fifteen(*1..15)
    assert_equal 0, Functions.count_args
    assert_equal 3, Functions.count_args(:a, :b, :c)
    assert_raises(ArgumentError) { Functions.add(1) }
  end

  def test_module_functions_are_private_instance_methods_too
    %i[none add fifteen count_args].each { |m| assert Functions.private_method_defined?(m), m }
    user = Object.new.extend(Functions)
    assert_raises(NoMethodError) { user.add(1, 2) }
    assert_equal 3, user.send(:add, 1, 2)
    assert_equal Object, user.send(:none) # self is the receiver: here the object
  end

  def test_a_function_as_an_instance_method_has_no_door
    assert_equal 0, Defaults.instance_method(:inspect).arity
    assert_equal "#<CleatTest::Defaults (uninitialized)>", Defaults.allocate.inspect
    assert_equal '#<CleatTest::Defaults name="x">', Defaults.new("x").inspect
  end

  # ---- compile-time refusals ----

  def compiles(code) = compile_c(code)

  def snippet(definition, function)
    <<~C
      #include "cleat.h"
      typedef struct { long n; } box_t;
      CLEAT_TYPE(box_type, "T::Box", box_t, NULL);
      CLEAT_SHARED(box_n, box_type, box_t *b) { return LONG2NUM(b->n); }
      CLEAT_FUNCTION(box_s_make) { return rb_class_new_instance(0, NULL, self); }
      void Init_box(void);
      void Init_box(void)
      {
          VALUE klass = cleat_type_define_class(&box_type, rb_cObject);
          CLEAT_DEFINE_METHOD(klass, "n", box_n);
          CLEAT_DEFINE_METHOD(klass, "make", box_s_make);
          #{definition}(klass, "x", #{function});
      }
    C
  end

  # Cleat is compiled into every extension: a symbol of its own that an
  # extension exported would be shared with every other (ELF interposition),
  # as cleat__copies_running was (test:asan's odr-violation report).
  def test_no_symbol_of_cleats_is_exported
    so = $LOAD_PATH.map { |dir| File.join(dir, "cleat_examples.so") }.find { |path| File.exist?(path) }
    skip "nm or the examples' .so missing" unless so && system("nm --version", out: File::NULL, err: File::NULL)
    exported = IO.popen(["nm", "-D", "--defined-only", so], &:read).lines.map { |line| line.split.last }
    assert_includes exported, "Init_cleat_examples"
    assert_empty exported.grep(/\Acleat_(?!examples_)/), "Cleat's own symbols exported from #{so}"
  end

  # A review, C side: a door whose body names another type's struct (a
  # copy-paste slip) compiled, and wrote past the struct. A compile error
  # now, with or without -Werror; its own struct, const or not, and void *
  # compile.
  def test_a_door_body_declared_with_another_types_struct_does_not_compile
    skip "compiler runs only in the default suite" unless Cleat::Testing::Mode.current.empty?
    door = lambda do |kind, decl|
      <<~C
        #include "cleat.h"
        typedef struct { long n; } box_t;
        typedef struct { long n, more[8]; } crate_t;
        CLEAT_TYPE(box_type, "T::Box", box_t, NULL);
        CLEAT_TYPE(crate_type, "T::Crate", crate_t, NULL);
        #{kind}(box_poke, box_type, #{decl}) { (void)b; return Qnil; }
        void Init_box(void);
        void Init_box(void)
        {
            CLEAT_DEFINE_METHOD(cleat_type_define_class(&box_type, rb_cObject), "poke", box_poke);
            cleat_type_define_class(&crate_type, rb_cObject);
        }
      C
    end
    %w[CLEAT_SHARED CLEAT_EXCLUSIVE CLEAT_INIT].each do |kind|
      out, status = compile_c(door.call(kind, "crate_t *b"), werror: false)
      refute status.success?, "#{kind} with crate_t compiled:\n#{out}"
      assert_match(/incompatible pointer type/, out)
      ["box_t *b", "void *b"].each do |decl|
        out, status = compile_c(door.call(kind, decl))
        assert status.success?, "#{kind} with #{decl}:\n#{out}"
      end
    end
  end

  def test_a_door_is_no_singleton_method_or_module_function
    skip "compiler runs only in the default suite" unless Cleat::Testing::Mode.current.empty?
    %w[CLEAT_DEFINE_SINGLETON_METHOD CLEAT_DEFINE_MODULE_FUNCTION].each do |definition|
      out, status = compiles(snippet(definition, "box_s_make"))
      assert status.success?, "#{definition} with a CLEAT_FUNCTION:\n#{out}"
      out, status = compiles(snippet(definition, "box_n"))
      refute status.success?, "#{definition} with a door compiled"
      assert_includes out, "box_n: a door checks an instance of its type"
    end
    %w[CLEAT_DEFINE_METHOD CLEAT_DEFINE_PRIVATE_METHOD].each do |definition|
      %w[box_n box_s_make].each do |function|
        out, status = compiles(snippet(definition, function))
        assert status.success?, "#{definition} with #{function}:\n#{out}"
      end
    end
  end
end
