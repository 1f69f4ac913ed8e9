# frozen_string_literal: true

require "test_helper"
require "json"
require "open3"
require "rbconfig"

# Every message include/cleat.h quotes is one the code produces: the header
# promised "X#field: wrong argument type A (expected B)" for a field store
# while src/field.c said "wrong argument type A for name of X (expected B)".
#
# A quoted message is a "..." in a comment of the header that follows
#   - an exception class (TypeError "...", Cleat::BorrowError "...", also
#     inside parentheses: RangeError ("..."));
#   - "reports" (up to four words later: `reports it loudly ("...")`): a debug
#     build's report on stderr;
#   - "compile error" (up to six words later): the compiler's message;
#   - or, after such a message, "or": `TypeError "a" or "b"` (same class).
# In a message, a capital letter standing alone (X, A, B, F, N), a <word>
# and a #word are placeholders: each matches any text.
#
# Each message found must have a trigger below, and each trigger must make
# the code produce a message matching its pattern (with that exception
# class): a message that drifts, in the header or in the code, fails here, and
# so does a new quoted message without a trigger.
class TestHeaderMessages < Minitest::Test
  HEADER = File.expand_path("../include/cleat.h", __dir__)

  # [exception class, message] => Ruby code that raises it (several: each must).
  RAISED = {
    ["TypeError", "uninitialized X"] => ["CleatExamples::Counter.allocate.value"],
    ["TypeError", "uninitialized B"] => ["CleatExamples::Person.new(+'A', []).add_friend(CleatExamples::Person.allocate)"],
    ["TypeError", "already initialized X"] => ["CleatExamples::Counter.new(1).send(:initialize, 2)",
                                               "CleatTest.ready_twice(1)"],
    ["Ractor::Error", "can not copy X object."] => ["Ractor.new(CleatExamples::Person.new(+'A', [])) { |p| p }.take"],
    ["TypeError", "wrong argument type A for F of X (expected B)"] => ["CleatExamples::Person.new(:alice, [])"],
    ["TypeError", "wrong argument type A (expected B)"] => ["CleatExamples::Person.new(+'A', []).add_friend('Carol')",
                                                            "CleatTest.check_kind(1, String)"],
    ["Cleat::BorrowError", "X is borrowed by #holder; #needer needs it exclusively"] =>
      ["h = CleatTest::Holder.new(1); h.yield_shared(:x) { h.store_from_shared(2) }"],
    ["Cleat::BorrowError", "X#method was given its own receiver; it holds the X already"] =>
      ["b = CleatTest::Block.new(4); b.absorb(b)"],
    ["TypeError", "wrong argument type Float (expected Integer)"] => ["CleatTest.to_int64(1.5)"],
    ["RangeError", "integer N out of range of int64"] => ["CleatTest.to_int64(2**63)"],
    ["RangeError", "integer too big for int64"] => ["CleatTest.to_int64(-10**400)"],
    ["Cleat::StaleReferenceError", "memory was resized, reference is no longer valid"] =>
      ["m = CleatExamples::Memory.new(1, 2); s = m.slice(0, 4); m.grow(1); s.to_str"],
    ["RangeError", "view out of bounds"] => ["CleatTest::Window.new(CleatTest::Block.new(16)).reframe(8, 9)"],
    ["EncodingError", "invalid UTF-8 at byte offset N"] => ["CleatTest.str_utf8(\"ab\\xFF\".b)"]
  }.freeze

  # Debug-build reports (the test extension is a debug build): Ruby code
  # that makes one, in a process of its own (it aborts).
  REPORTED = {
    "[cleat debug] X: cleat_write_known stored Integer into field name (declared String)" =>
      "CleatTest::Defaults.new.store_known(42)",
    "[cleat debug] <class>: <what>" => "CleatTest::Defaults.new.store_known(42)"
  }.freeze

  # Compile errors: a translation unit that makes one.
  COMPILED = {
    "a door checks an instance of its type" => <<~C,
      #include "cleat.h"
      typedef struct { long n; } box_t;
      CLEAT_TYPE(box_type, "T::Box", box_t, NULL);
      CLEAT_SHARED(box_n, box_type, box_t *b) { return LONG2NUM(b->n); }
      void Init_box(void) { CLEAT_DEFINE_SINGLETON_METHOD(cleat_type_define_class(&box_type, rb_cObject), "n", box_n); }
    C
    "Cleat field name: the check rb_cString is a class, not its address: write &rb_cString" => <<~C
      #include "cleat.h"
      typedef struct { VALUE name; } pet_t;
      static const cleat_field pet_fields[] = {CLEAT_FIELD(pet_t, name, rb_cString), CLEAT_FIELDS_END};
      CLEAT_TYPE(pet_type, "T::Pet", pet_t, pet_fields);
      void Init_pet(void) { cleat_type_define_class(&pet_type, rb_cObject); }
    C
  }.freeze

  # [kind, message] for every message the header quotes, in order; kind is
  # the exception class's name, :report or :compile.
  def self.quoted_messages(text = File.read(HEADER))
    found = []
    text.scan(%r{/\*.*?\*/}m) do |comment|
      flat = comment.gsub(%r{\s*\n\s*\*(?!/)\s?}, " ")
      last_end = last_kind = nil
      flat.to_enum(:scan, /"([^"]+)"/).each do
        m = Regexp.last_match
        before = flat[0...m.begin(0)]
        kind = quoted_kind(before)
        kind ||= last_kind if last_end && flat[last_end...m.begin(0)].match?(/\bor\s*\z/)
        found << [kind, m[1]] if kind
        last_kind = kind
        last_end = m.end(0)
      end
    end
    found
  end

  def self.quoted_kind(before)
    if (klass = before[/\b((?:[A-Z]\w*::)*(?:[A-Z]\w*)?(?:Error|Exception))\s+\(?\z/, 1])
      klass
    elsif before.match?(/\breports(?:\s+[\w-]+){0,4}\s+\(?\z/)
      :report
    elsif before.match?(/\bcompile error(?:\s+[\w-]+){0,6}\s+\(?\z/)
      :compile
    end
  end

  # The message as a Regexp matching a whole message, placeholders as wildcards.
  def self.pattern(message)
    parts = message.split(/(\b[A-Z]\b|<\w+>|#[a-z]\w*)/)
    body = parts.each_with_index.map do |part, i|
      if i.odd? then part.start_with?("#") ? "#\\S+" : ".+?"
      else Regexp.escape(part)
      end
    end
    /\A#{body.join}\z/
  end

  def test_the_scan_finds_the_messages_it_should
    quoted = TestHeaderMessages.quoted_messages
    assert_includes quoted, ["TypeError", "wrong argument type A for F of X (expected B)"]
    assert_includes quoted, ["RangeError", "integer too big for int64"] # after "... or"
    assert_includes quoted, ["Ractor::Error", "can not copy X object."]
    assert_includes quoted, [:report, "[cleat debug] <class>: <what>"]
    refute(quoted.any? { |_, m| m == "CleatExamples::Person" }, "a class path is no message")
    refute(quoted.any? { |_, m| m == "or nil" }, "a quoted fragment is no message")
  end

  def test_placeholders_match_any_text_and_nothing_else
    pattern = TestHeaderMessages.pattern("X is borrowed by #holder; #needer needs it exclusively")
    assert_match pattern, "CleatTest::Holder is borrowed by #yield_shared; #set needs it exclusively"
    refute_match pattern, "CleatTest::Holder is exclusively borrowed by #yield_shared; #set needs it exclusively"
    pattern = TestHeaderMessages.pattern("wrong argument type A for F of X (expected B)")
    assert_match pattern, "wrong argument type Symbol for name of CleatExamples::Person (expected String)"
    refute_match pattern, "CleatExamples::Person#name: wrong argument type Symbol (expected String)"
    assert_match TestHeaderMessages.pattern("[cleat debug] <class>: <what>"), "[cleat debug] T: something"
  end

  def test_every_quoted_message_has_a_trigger
    quoted = TestHeaderMessages.quoted_messages.uniq
    triggers = RAISED.keys + REPORTED.keys.map { |m| [:report, m] } + COMPILED.keys.map { |m| [:compile, m] }
    assert_empty quoted - triggers, "messages include/cleat.h quotes that no trigger here proves"
    assert_empty triggers - quoted, "triggers here for messages include/cleat.h no longer quotes"
  end

  LIBS = $LOAD_PATH.select { |dir| File.exist?(File.join(dir, "cleat_test.so")) || dir.end_with?("/lib") }

  # Runs each trigger in one child process (Ractors warn, and leave threads).
  def test_raised_messages_are_the_codes
    runner = <<~'RUBY'
      require "json"
      Warning[:experimental] = false
      JSON.parse(STDIN.read).each do |code|
        begin
          eval(code)
          puts JSON.generate(["nothing raised"])
        rescue Exception => e
          puts JSON.generate([e.class.name, e.message])
        end
      end
    RUBY
    cases = RAISED.flat_map { |key, codes| codes.map { |code| [key, code] } }
    out, err, status = Open3.capture3(RbConfig.ruby, *LIBS.map { |dir| "-I#{dir}" }, "-rcleat_examples", "-rcleat_test",
                                      "-e", runner, stdin_data: JSON.generate(cases.map(&:last)))
    assert status.success?, err
    results = out.lines.map { |l| JSON.parse(l) }
    assert_equal cases.size, results.size, err
    cases.zip(results).each do |((klass, message), code), (raised, got)|
      assert_equal [klass, true], [raised, TestHeaderMessages.pattern(message).match?(got.to_s)],
                   "#{code}\n  include/cleat.h: #{klass} #{message.inspect}\n  the code:       #{raised} #{got.inspect}"
    end
  end

  cleat_skip_in_mode :release, :test_reported_messages_are_the_debug_builds,
                     reason: "release builds compile the debug checks out"

  def test_reported_messages_are_the_debug_builds
    REPORTED.each do |message, code|
      _out, err, status = Open3.capture3(RbConfig.ruby, *LIBS.map { |dir| "-I#{dir}" }, "-rcleat_test", "-e", code)
      refute status.success?, "#{code}: the process should abort"
      line = err.lines.map(&:chomp).find { |l| l.start_with?("[cleat debug]") }
      assert_match TestHeaderMessages.pattern(message), line.to_s, "#{code}: stderr was\n#{err}"
    end
  end

  def test_compile_errors_are_the_compilers
    skip "compiler runs only in the default suite" unless Cleat::Testing::Mode.current.empty?
    COMPILED.each do |message, code|
      out, status = compile_c(code)
      refute status.success?, "compiled:\n#{code}"
      assert_includes out, message
    end
  end

  # Child processes and text: nothing about the GC.
  cleat_skip_under_gc_stress(*public_instance_methods(false).grep(/\Atest_/))
end
