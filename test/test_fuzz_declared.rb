# frozen_string_literal: true

require_relative "test_helper"
require "cleat/fuzz"
require "cleat/fuzz/runner"
require "open3"
require "stringio"
require "tmpdir"

# `rake test:fuzz`: the registry every extension keeps, and the fuzzer
# derived from it finding the bugs planted in test/ext/cleat_planted (which
# only the fuzzer's child processes load: its classes crash Ruby).
class TestFuzzDeclared < Minitest::Test
  include CleatTestHelpers

  E = CleatExamples
  LOAD_PATH = $LOAD_PATH.select { |dir| File.directory?(dir) }.freeze

  %i[stress compact asan valgrind release].each do |mode|
    cleat_skip_in_mode mode, :test_a_nil_field_read_as_a_string_is_found,
                        :test_a_pointer_cached_across_a_conversion_is_found,
                        :test_a_ruby_object_made_without_the_gvl_is_found,
                        :test_an_off_by_one_in_an_owned_buffer_is_found,
                        :test_a_store_skipping_the_declared_check_is_found,
                        :test_the_examples_run_clean,
                        reason: "the fuzzer's children load the debug builds; the harness is tested in the default suite"
  end
  # Generating operations is plain Ruby: under GC.stress, 300 of them took
  # 276 s of test:stress and proved nothing the default suite does not.
  %i[stress valgrind].each do |mode|
    cleat_skip_in_mode mode, :test_the_same_seed_makes_the_same_operations,
                        :test_operations_parse_for_setters_and_operators_and_name_classes_from_the_top,
                        reason: "generation is plain Ruby, tested in the default suite"
  end

  def registry = Cleat::Fuzz::Registry.new(errors: ["RuntimeError"])

  # ---- the registry ----

  def test_the_registry_describes_every_declared_class
    types = registry.types.to_h { |t| [t.klass, t] }
    assert_includes types.keys, E::Counter
    assert_includes types.keys, E::MemorySlice
    refute_includes types.keys, Cleat::Fuzz::Boom
    person = types.fetch(E::Person)
    assert_equal "CleatExamples::Person", person.path
    assert_equal [[:name, false, String], [:hobbies, false, Array], [:friend, true, E::Person]],
                 person.fields.map { |f| [f[:name], f[:nil_ok], f[:class]] }
    assert_includes person.flags, :frozen_shareable
    assert_equal 2, person.init_arity
    counter = types.fetch(E::Counter)
    assert_includes counter.methods, [:increment, 1, :exclusive]
    assert_includes counter.methods, [:value, 0, :shared]
    assert_includes types.fetch(E::Game).methods, [:each_player, 0, :shared]
  end

  # Each extension has its own copy of the library, and its own registry:
  # the examples and the test extension are both loaded here.
  def test_every_loaded_extension_contributes_its_registry
    assert_operator Cleat::REGISTRIES.size, :>=, 2
    owners = Cleat::REGISTRIES.map { |r| r.types.map { |t| t[:path].split("::").first }.uniq }
    assert_includes owners, ["CleatExamples"]
    assert_includes owners, ["CleatTest"]
    classes = registry.types.map(&:klass)
    assert_includes classes, E::Counter
    assert_includes classes, CleatTest::Holder
  end

  def test_the_gem_errors_are_the_declared_ones_and_its_exception_types
    errors = registry.gem_errors
    assert_includes errors, RuntimeError
    assert_includes errors, E::Trap
  end

  def test_classes_select_types_by_name_or_namespace
    assert_equal [E::Counter], Cleat::Fuzz::Registry.new(classes: ["CleatExamples::Counter"]).types.map(&:klass)
    assert_operator Cleat::Fuzz::Registry.new(classes: ["CleatExamples"]).types.size, :>=, 7
    assert_empty Cleat::Fuzz::Registry.new(classes: ["CleatExample"]).types
  end

  def test_check_passes_a_sound_object_and_names_a_loan_left_out
    game = E::Game.new
    game.add_player("ann")
    assert_nil registry.check(game)
    assert_nil registry.check(E::Person.allocate), "an uninitialised object's nil fields are as declared"
    enum = game.enum_for(:each_player)
    enum.next # a fiber suspended inside each_player holds the loan
    assert_match(/\ACleatExamples::Game is still lent out \(by #each_player\)/, registry.check(game))
    loop { enum.next } # to its end: the loan comes back
    assert_nil registry.check(game)
    # The seventh round: a loan whose fiber the GC collected is given back
    # by check too, as by the next method call (it was reported after
    # add_player had gone in). In a Ruby of its own: this process's stack
    # may keep the fiber.
    code = <<~RUBY
      require "cleat_examples"
      g = CleatExamples::Game.new
      g.add_player("a")
      def drop(g) = (e = g.to_enum(:each_player); e.next; nil)
      drop(g)
      r = Cleat::REGISTRIES.find { |x| x.types.any? { |t| t[:class] == CleatExamples::Game } }
      before = r.check(g)
      5.times { GC.start; Fiber.new {}.resume } # (3.1 collects a dropped fiber after another fiber ran)
      after = r.check(g)
      g.add_player("b")
      print [before.to_s[/still lent out/], after].inspect
    RUBY
    out, err, status = Open3.capture3(RbConfig.ruby, *LOAD_PATH.map { |d| "-I#{d}" }, "-e", code)
    assert status.success?, err
    assert_equal '["still lent out", nil]', out
    assert_nil registry.check("not a Cleat object")
    fresh = CleatTest::FreshDefaults.new # untouched since .init_fields: no loan
    assert_nil registry.check(fresh), "found by the hostile review"
  end

  # The seventh round: the registry object answered `methods` with its
  # declarations (Object#methods shadowed: methods(false) raised), a frozen
  # Cleat::REGISTRIES made every later extension fail to load, and zero
  # fuzz operations said FUZZ OK.
  def test_registries_stay_plain_objects_and_take_later_extensions
    Cleat::REGISTRIES.each do |r|
      assert r.methods.all?(Symbol), "a registry's methods are not Object#methods"
      assert_includes r.singleton_methods, :declared_methods
    end
    code = 'require "cleat_examples"; Cleat::REGISTRIES.freeze; require "cleat_test"; ' \
           "print [Cleat::REGISTRIES.size, Cleat::REGISTRIES.frozen?, CleatTest::Holder.new(3).value].inspect"
    out, err, status = Open3.capture3(RbConfig.ruby, *LOAD_PATH.map { |d| "-I#{d}" }, "-e", code)
    assert status.success?, err
    assert_equal "[2, false, 3]", out
    # An autoload Ruby code set for the constant would run at the next load, and fail it.
    code = 'require "cleat_examples"; Cleat.send(:remove_const, :REGISTRIES); Cleat.autoload(:REGISTRIES, "/nonexistent"); ' \
           'require "cleat_test"; print [Cleat::REGISTRIES.size, CleatTest::Holder.new(3).value].inspect'
    out, err, status = Open3.capture3(RbConfig.ruby, *LOAD_PATH.map { |d| "-I#{d}" }, "-e", code)
    assert status.success?, err
    assert_equal "[1, 3]", out
    runner, = runner_for(requires: ["cleat_examples"])
    assert_match(/at least 1 operation, not 0/, assert_raises(ArgumentError) { runner.fuzz(seed: 1, count: 0) }.message)
  end

  # Found by the hostile review: make_shareable on an object holding a
  # hostile argument deep-froze the fuzzer's world.
  def test_shareable_leaves_objects_that_reach_the_fuzzer_alone
    world = Cleat::Fuzz::World.new(registry)
    holder = E::Person.new(+"ann", [world.hostile(:to_int)])
    assert_nil world.shareable(holder)
    refute holder.frozen?
    refute world.frozen?
    # Looked at without calling the objects' own methods (a BasicObject has no is_a?).
    odd = E::Person.new(+"cy", [BasicObject.new])
    assert_nil world.shareable(odd)
    refute odd.frozen?
    plain = E::Person.new(+"bob", [+"chess"])
    assert_same plain, world.shareable(plain)
    assert Ractor.shareable?(plain)
  end

  # ---- the world: what an operation may do ----

  def test_an_allowed_exception_passes_and_any_other_is_a_failure
    world = Cleat::Fuzz::World.new(registry)
    world.op { E::Counter.new("x") } # TypeError
    world.op { throw :cleat_fuzz }
    world.op { raise Cleat::Fuzz::Boom }
    failure = assert_raises(Cleat::Fuzz::Failure) { world.op { nil.frobnicate } }
    assert_equal "exception NoMethodError", failure.signature
  end

  def test_hostile_conversions_raise_throw_or_reenter_then_answer
    world = Cleat::Fuzz::World.new(registry)
    calls = 0
    assert_equal 1, world.hostile(:to_int) { calls += 1 }.to_int
    assert_equal 1, calls
    assert_equal "x", world.hostile(:to_str) { raise TypeError }.to_str, "an allowed error in the re-entry stays there"
    assert_raises(ZeroDivisionError) { world.hostile(:to_int) { 1 / 0 }.to_int }
    assert_raises(Cleat::Fuzz::Boom) { world.hostile(:hash, :raise).hash }
    assert_nil catch(:cleat_fuzz) { world.hostile(:to_int, :throw).to_int && :not_thrown }
    assert_equal 1.0, world.hostile(:to_f, :value).to_f
    refute_respond_to world.hostile(:to_f, :value), :to_int
  end

  def test_a_suspended_fiber_is_finished_within_the_operation
    world = Cleat::Fuzz::World.new(registry)
    game = E::Game.new
    game.add_player("ann")
    world.set(E::Game, 0, game)
    outside = nil
    world.op do
      world.in_fiber(-> { game.each_player { Fiber.yield } }) do
        outside = begin
          game.add_player("bob")
        rescue Cleat::BorrowError => e
          e.class
        end
      end
    end
    assert_equal Cleat::BorrowError, outside
    assert_nil registry.check(game)
  end

  def test_the_same_seed_makes_the_same_operations
    make = ->(seed) { Cleat::Fuzz::Generator.new(registry, Random.new(seed)).generate(300) }
    assert_equal make.call(3), make.call(3)
    refute_equal make.call(3), make.call(4)
  end

  # Found by the hostile review: a setter became `r.x=(v) { }`, a
  # SyntaxError, and a gem's class named World resolved to the fuzzer's own.
  def test_operations_parse_for_setters_and_operators_and_name_classes_from_the_top
    klass = Class.new do
      def x=(value); end
      def [](index); end
      def size = 0
    end
    type = Cleat::Fuzz::Registry::Type.new(klass, "World", [], [], [["x=", 1, :exclusive], ["[]", 1, :shared],
                                                                      ["size", 0, :shared]], 0)
    fake = Struct.new(:types, :gem_errors).new([type], [])
    ops = Cleat::Fuzz::Generator.new(fake, Random.new(5)).generate(400)
    ops.each { |op| RubyVM::InstructionSequence.compile(op) } # raises SyntaxError otherwise
    assert(ops.any? { |op| op.include?("public_send(:x=") })
    assert(ops.any? { |op| op.include?("public_send(:[]") })
    assert(ops.any? { |op| op.include?(".size") })
    refute(ops.any? { |op| op.match?(/(?<!::)\bWorld\b/) }, "every World is ::World")
  end

  def test_a_shrunk_sequence_is_simplified_while_it_fails_the_same_way
    ops = ["set K, 0, sub(K).new(1)", "with(K, 0) { |r| keep 1, stressed { r.m(2) } }"]
    tried = []
    simple = Cleat::Fuzz::Shrink.simplify(ops) do |candidate|
      tried << candidate
      [candidate.join.include?("r.m(2)") && candidate.join.include?("stressed"), nil]
    end
    assert_equal ["set K, 0, K.new(1)", "with(K, 0) { |r| stressed { r.m(2) } }"], simple
    assert_equal 3, tried.size
  end

  # ---- finding planted bugs, as `rake test:fuzz` does ----

  def test_the_examples_run_clean
    runner, out = runner_for(requires: ["cleat_examples"], errors: ["RuntimeError"])
    assert runner.fuzz(seed: 11, count: 3000), out.string
    assert_match(/FUZZ OK 3000 operations on [7-9] classes/, out.string)
  end

  # The sixth hostile review: test:fuzz:release put the release builds first
  # on the load path, and a gem loading its extension with require_relative
  # fuzzed its debug build instead, and said FUZZ OK. The child now checks
  # that the extensions it loaded are the variant's before any operation.
  def test_an_extension_loaded_past_the_variant_build_stops_the_fuzzer
    require "cleat_examples"
    loaded = $LOADED_FEATURES.grep(%r{/cleat_examples\.(so|bundle)\z}).first
    Dir.mktmpdir do |variant|
      File.write(File.join(variant, File.basename(loaded)), "") # what the task built, never loaded
      @dir ||= Dir.mktmpdir("cleat-fuzz-declared")
      out = StringIO.new
      runner = Cleat::Fuzz::Runner.new(requires: ["cleat_examples"], load_path: LOAD_PATH, errors: ["RuntimeError"],
                                       work_dir: @dir, out: out, variant: ["release", variant])
      refute runner.fuzz(seed: 11, count: 100), out.string
      assert_match(/cleat fuzz: #{Regexp.escape(loaded)} was loaded, not the release build #{Regexp.escape(variant)}/,
                   out.string)
      assert_match(/the child failed before the first operation/, out.string)
    end
    runner = Cleat::Fuzz::Runner.new(requires: ["cleat_examples"], load_path: LOAD_PATH, errors: ["RuntimeError"],
                                     work_dir: @dir, out: StringIO.new, variant: ["release", File.dirname(loaded)])
    assert runner.fuzz(seed: 11, count: 100) # the build it names: fuzzed
  end

  def test_a_nil_field_read_as_a_string_is_found
    script = find_planted("CleatPlanted::Note", /Segmentation fault/)
    assert_match(/r\.title_length/, script)
  end

  def test_a_pointer_cached_across_a_conversion_is_found
    # NUM2LONG runs to_int while the Mask is not lent: the debug build's hook
    # sees it before to_int can resize anything (in release builds, the
    # resize it does frees the buffer apply still holds).
    script = find_planted("CleatPlanted::Mask",
                          /CleatPlanted::Mask#apply ran Ruby code \(\S+#to_int\) while CleatPlanted::Mask was not lent/)
    assert_match(/r\.apply\(hostile\(:to_int/, script)
  end

  def test_a_ruby_object_made_without_the_gvl_is_found
    script = find_planted("CleatPlanted::Worker", /cleat_str_binary called without the GVL/)
    assert_match(/r\.digest\(/, script)
  end

  def test_an_off_by_one_in_an_owned_buffer_is_found
    script = find_planted("CleatPlanted::Bytes", /Segmentation fault/)
    assert_match(/r\.at\(\d+\)/, script)
  end

  def test_a_store_skipping_the_declared_check_is_found
    # RB_OBJ_WRITE instead of cleat_write: the debug build's shadow of the
    # field sees the store at rename's exit, before the harness reads it.
    script = find_planted("CleatPlanted::Tag",
                          /CleatPlanted::Tag: field name changed without cleat_write .*, in CleatPlanted::Tag#rename/)
    assert_match(/r\.rename\(/, script)
  end

  private

  def runner_for(requires:, classes: nil, errors: [])
    @dir ||= Dir.mktmpdir("cleat-fuzz-declared")
    out = StringIO.new
    runner = Cleat::Fuzz::Runner.new(requires: requires, load_path: LOAD_PATH, classes: classes, errors: errors,
                                     work_dir: @dir, out: out)
    [runner, out]
  end

  def teardown
    FileUtils.rm_rf(@dir) if @dir
  end

  # Fuzzes one planted class with the default budget: the bug must be found,
  # shrunk to at most 5 operations, and the script written must reproduce it
  # (what it prints matches expected). Returns the script.
  def find_planted(klass, expected, seed: 1)
    runner, out = runner_for(requires: ["cleat_planted"], classes: [klass])
    refute runner.fuzz(seed: seed, count: 100_000), "#{klass}: nothing found\n#{out.string}"
    path = File.join(runner.work_dir, "failure-#{seed}.rb")
    script = File.read(path)
    ops = script.lines.grep(/^  op \{/)
    assert_operator ops.size, :<=, 5, script
    assert_operator ops.size, :>=, 1, script
    assert_match(/#{Regexp.escape(klass)}/, script)
    output, status = Open3.capture2e(RbConfig.ruby, *LOAD_PATH.map { |d| "-I#{d}" }, path)
    refute status.success?, "the reproduction did not fail:\n#{script}\n#{output}"
    assert_match(expected, output, script)
    script
  end
end
