# frozen_string_literal: true

require "test_helper"
require "open3"

# cleat_str_binary, cleat_str_utf8 and the UTF-8 validator, every
# implementation the CPU runs checked against Ruby's own UTF-8 rules.
class TestString < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_errors_at_every_offset_across_block_edges,
                              :test_random_inputs_agree_with_ruby,
                              :test_long_valid_inputs_of_every_kind

  IMPLEMENTATIONS = CleatTest.utf8_implementations

  # Ruby's answer: [:ascii | :valid | :invalid, byte offset of the first
  # invalid character or nil].
  def reference(bytes)
    str = bytes.dup.force_encoding(Encoding::UTF_8)
    return [str.ascii_only? ? :ascii : :valid, nil] if str.valid_encoding?

    offset = 0
    str.each_char do |char|
      return [:invalid, offset] unless char.valid_encoding?

      offset += char.bytesize
    end
    raise "unreachable"
  end

  def check_everywhere(bytes, label = bytes.inspect)
    expected = reference(bytes)
    IMPLEMENTATIONS.each do |impl|
      assert_equal expected, CleatTest.utf8_check(bytes, impl), "#{impl}: #{label[0, 200]}"
    end
  end

  # Chosen by the first validation, not when the extension loaded: an
  # extension that never validates UTF-8 links none of the validators.
  def test_the_implementation_is_not_chosen_at_load
    assert_nil CleatTest.utf8_chosen_at_load
  end

  # The first validations may run without the GVL, in several threads at
  # once: each finds the same, fastest implementation.
  def test_threads_choosing_at_once_agree
    out, status = Open3.capture2e(RbConfig.ruby, *$LOAD_PATH.map { |dir| "-I#{dir}" }, "-e", <<~RUBY)
      require "cleat_test"
      abort "chosen at load" if CleatTest.utf8_chosen_at_load
      names = Array.new(8) { Thread.new { CleatTest.utf8_default } }.map(&:value)
      print names.uniq.join(",")
    RUBY
    assert status.success?, out
    assert_equal IMPLEMENTATIONS.first, out
  end

  def test_the_fastest_implementation_is_the_default
    assert_includes %w[avx2 ssse3 portable], CleatTest.utf8_default
    assert_equal IMPLEMENTATIONS.first, CleatTest.utf8_default
    assert_includes IMPLEMENTATIONS, "portable"
  end

  def test_known_cases
    valid = ["", "a", "héllo", "日本語", "😀", "\u{10FFFF}", "\u{FFFD}", "\uD7FF", "\uE000", "a" * 100 + "é"]
    valid.each { |s| check_everywhere(s.b) }
    invalid = {
      "\x80" => 0, "\xC0\x80" => 0, "\xC1\xBF" => 0, "\xE0\x80\x80" => 0, "\xE0\x9F\xBF" => 0,
      "\xED\xA0\x80" => 0, "\xED\xBF\xBF" => 0, "\xF0\x8F\xBF\xBF" => 0, "\xF4\x90\x80\x80" => 0,
      "\xF5\x80\x80\x80" => 0, "\xFF" => 0, "ab\xC3" => 2, "ab\xE2\x82" => 2, "ab\xF0\x9F\x98" => 2,
      "a\xC3(" => 1, "aé\xBF" => 3
    }
    invalid.each do |bytes, offset|
      IMPLEMENTATIONS.each { |impl| assert_equal [:invalid, offset], CleatTest.utf8_check(bytes.b, impl), bytes.inspect }
      check_everywhere(bytes.b)
    end
  end

  # Errors at every position around the 16-, 32- and 64-byte block edges.
  def test_errors_at_every_offset_across_block_edges
    pieces = ["\x80", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xED\xA0\x80", "\xC0\xAF", "\xF4\x90\x80\x80"]
    fillers = ["a", "é", "日", "😀"]
    (0..140).each do |pos|
      fillers.each do |fill|
        prefix = (fill * 140).b.byteslice(0, pos)
        prefix = prefix.byteslice(0, prefix.bytesize - 1) until prefix.dup.force_encoding("UTF-8").valid_encoding?
        pieces.each do |bad|
          bytes = prefix + bad.b + ("z" * 70)
          check_everywhere(bytes, "#{fill} x #{pos} + #{bad.inspect}")
        end
        check_everywhere(prefix + ("z" * 70))
      end
    end
  end

  def test_random_inputs_agree_with_ruby
    rng = Random.new(ENV.fetch("CLEAT_SEED", "1234").to_i)
    alphabet = ["a", "é", "日", "😀", "\x80", "\xBF", "\xC2", "\xE0", "\xED", "\xF0", "\xF4", "\xF5", "\xFF"].map(&:b)
    600.times do
      length = rng.rand(0..300)
      bytes = if rng.rand < 0.5
                Array.new(length) { alphabet.sample(random: rng) }.join.b
              else
                Array.new(length) { rng.rand(256).chr }.join.b
              end
      check_everywhere(bytes)
    end
  end

  def test_long_valid_inputs_of_every_kind
    [("a" * 5000), ("é" * 3000), ("日本" * 2000), ("😀" * 1500), ("aé日😀" * 1000)].each do |s|
      check_everywhere(s.b, s[0, 10])
      check_everywhere(s.b + "\xFF".b, s[0, 10])
    end
  end

  def test_str_utf8_records_the_coderange
    ascii = CleatTest.str_utf8("plain ascii".b)
    assert_equal Encoding::UTF_8, ascii.encoding
    assert_equal :"7bit", CleatTest.coderange(ascii)
    multi = CleatTest.str_utf8("日本語".b)
    assert_equal "日本語", multi
    assert_equal :valid, CleatTest.coderange(multi)
    refute_predicate multi, :frozen?
  end

  def test_str_utf8_names_the_offset
    e = assert_raises(EncodingError) { CleatTest.str_utf8("héllo\xFFworld".b) }
    assert_equal "invalid UTF-8 at byte offset 6", e.message
  end

  def test_str_binary_copies_bytes
    source = +"bytes \xFF\x00 here"
    copy = CleatTest.str_binary(source)
    assert_equal Encoding::ASCII_8BIT, copy.encoding
    assert_equal source.b, copy
    source.replace("changed")
    assert_equal "bytes \xFF\x00 here".b, copy
  end
end
