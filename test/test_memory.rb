# frozen_string_literal: true

require "test_helper"

Warning[:experimental] = false # IO::Buffer warns on Ruby 3.1

class TestMemory < Minitest::Test
  # Under `rake test:stress`: about the GC itself (promotion, compaction, GC
  # loops), already under stress, or loops too slow to stress; the rest run.
  cleat_skip_under_gc_stress :test_checksum_is_fnv1a,
                              :test_slices_and_memory_under_gc_stress_and_compaction,
                              :test_a_slice_keeps_its_memory_alive,
                              :test_random_operations_match_the_model,
                              :test_grow_during_checksum_raises_borrow_error_and_reads_proceed

  Memory = CleatExamples::Memory
  MemorySlice = CleatExamples::MemorySlice
  Trap = CleatExamples::Trap
  PAGE = 65_536
  STALE = "memory was resized, reference is no longer valid"
  # Reading bytes of a freed buffer: AllocationError on Ruby 3.1; on 3.3 a
  # freed buffer is a null buffer of size 0, and any offset is out of range.
  BUFFER_GONE = [IO::Buffer::AllocationError, IO::Buffer::InvalidatedError, ArgumentError].freeze

  def test_pages_and_sizes
    assert_equal 65_536, Memory::PAGE_SIZE
    m = Memory.new(2)
    assert_equal 2, m.size
    assert_equal 2 * PAGE, m.data_size
    assert_equal 0, Memory.new(0).data_size
    assert_equal "\0" * 16, m.read(PAGE - 8, 16)
  end

  def test_bad_construction
    assert_raises(TypeError) { Memory.new("1") }
    assert_raises(RangeError) { Memory.new(-1) }
    assert_raises(RangeError) { Memory.new(65_537) }
    assert_equal "initial pages 3 exceed the maximum of 2", assert_raises(RangeError) { Memory.new(3, 2) }.message
    assert_raises(ArgumentError) { Memory.new }
    assert_raises(ArgumentError) { Memory.new(1, 2, 3) }
  end

  def test_grow_moves_and_keeps_contents
    m = Memory.new(1, 3)
    m.write(PAGE - 3, "end")
    assert_equal 1, m.grow(1)
    assert_equal 2, m.size
    assert_equal "end\0\0", m.read(PAGE - 3, 5)
    assert_equal 2, m.grow(0)
    e = assert_raises(RangeError) { m.grow(2) }
    assert_equal "cannot grow memory by 2 pages: it has 2 of at most 3", e.message
    assert_raises(RangeError) { m.grow(-1) }
    assert_raises(RangeError) { m.grow(2**64) }
    assert_raises(TypeError) { m.grow(1.0) }
    assert_equal 2, m.size
  end

  def test_read_and_write
    m = Memory.new(1)
    assert_equal 5, m.write(100, "hello")
    s = m.read(100, 5)
    assert_equal "hello", s
    assert_equal Encoding::ASCII_8BIT, s.encoding
    assert_equal 0, m.write(PAGE, "")
    assert_equal "", m.read(PAGE, 0)
    assert_raises(TypeError) { m.write(0, :sym) }
    assert_raises(TypeError) { m.read("0", 1) }
  end

  def test_out_of_bounds_access_traps
    m = Memory.new(1)
    [[PAGE, 1], [PAGE - 1, 2], [-1, 1], [0, -1], [2**64, 1], [1, 2**64 - 1], [2**100, 0], [0, 2**64],
     [0, 2**100]].each do |offset, length|
      e = assert_raises(Trap) { m.read(offset, length) }
      assert_equal :MEMORY_OUT_OF_BOUNDS, e.code
      # A hostile review: a length no size_t holds was printed as SIZE_MAX.
      assert_equal "out of bounds memory access: offset #{offset}, length #{length}, memory size 65536", e.message
    end
    e = assert_raises(Trap) { m.write(PAGE - 2, "abc") }
    assert_equal :MEMORY_OUT_OF_BOUNDS, e.code
    assert_equal "out of bounds memory access: offset 65534, length 3, memory size 65536", e.message
    assert_equal "\0\0", m.read(PAGE - 2, 2) # nothing was written
  end

  def test_slice_bounds
    m = Memory.new(1)
    assert_equal 0, m.slice(PAGE, 0).size
    [[PAGE, 1], [0, PAGE + 1], [-1, 1], [0, -1], [2**64, 0], [1, 2**64 - 1], [2**63, 2**63]].each do |offset, size|
      e = assert_raises(RangeError) { m.slice(offset, size) }
      assert_equal "memory slice out of bounds", e.message
    end
    assert_raises(TypeError) { m.slice(nil, 1) }
  end

  def test_slice_reads
    m = Memory.new(1)
    m.write(10, "héllo")
    s = m.slice(10, 6)
    assert_equal [10, 6], [s.offset, s.size]
    assert_equal "h\xC3\xA9llo".b, s.to_str
    assert_equal Encoding::ASCII_8BIT, s.to_str.encoding
    assert_equal "héllo", s.to_utf8_str
    assert_equal Encoding::UTF_8, s.to_utf8_str.encoding
    assert_equal :valid, CleatTest.coderange(s.to_utf8_str)
    m.write(11, "\xFF")
    e = assert_raises(EncodingError) { s.to_utf8_str }
    assert_equal "invalid UTF-8 at byte offset 1", e.message
  end

  def test_slices_are_made_by_memory_only
    assert_raises(NoMethodError) { MemorySlice.new }
    assert_equal "uninitialized CleatExamples::MemorySlice", assert_raises(TypeError) { MemorySlice.allocate.to_str }.message
  end

  def test_every_slice_method_raises_after_grow
    m = Memory.new(1, 2)
    s = m.slice(0, 4)
    copy = s.dup
    m.grow(1)
    %i[offset size to_str to_utf8_str to_buffer].each do |name|
      [s, copy].each do |slice|
        e = assert_raises(Cleat::StaleReferenceError) { slice.public_send(name) }
        assert_equal STALE, e.message
      end
    end
    assert_operator Cleat::StaleReferenceError, :<, RuntimeError
    assert_equal 4, m.slice(0, 4).size # a new slice works
  end

  def test_buffer_is_a_zero_copy_read_only_view
    m = Memory.new(1)
    m.write(0, "abcdef")
    b = m.slice(1, 4).to_buffer
    assert_kind_of IO::Buffer, b
    assert_equal 4, b.size
    assert_equal "bcde", b.get_string
    m.write(1, "XY")
    if MemorySlice::ZERO_COPY_BUFFERS
      assert_equal "XYde", b.get_string # the memory itself, not a copy
    else
      assert_equal "bcde", b.get_string # a copy: this Ruby's slices would be writable
    end
    assert_predicate b, :readonly?
    assert_raises(IO::Buffer::AccessError, FrozenError) { b.set_string("zz") }
    assert_raises(IO::Buffer::LockedError) { b.free }
    assert_raises(IO::Buffer::LockedError) { b.transfer }
  end

  def test_buffers_and_their_slices_raise_after_grow
    m = Memory.new(1, 2)
    m.write(0, "abcdef")
    b = m.slice(0, 6).to_buffer
    part = b.slice(1, 2)
    assert_equal "bc", part.get_string
    m.grow(1)
    unless MemorySlice::ZERO_COPY_BUFFERS # a copy shows no memory: it may live on
      assert_equal ["abcdef", "bc"], [b.get_string, part.get_string]
      return
    end
    assert_predicate b, :null?
    assert_equal 0, b.size
    assert_raises(*BUFFER_GONE) { b.get_string(0, 6) }
    assert_raises(*BUFFER_GONE) { b.get_value(:U8, 0) }
    assert_raises(*BUFFER_GONE) { part.get_string }
    assert_equal "abcdef", m.read(0, 6)
  end

  # The slice lives on a thread of its own, whose stack is gone afterwards:
  # nothing but the slice can have kept the memory alive, and once the thread
  # ends nothing (not even a stale stack word) keeps it from being collected.
  def test_a_slice_keeps_its_memory_alive
    finalized = []
    seen = Thread.new do
      slice = make_slice_with_finalizer(finalized)
      3.times { GC.start(full_mark: true, immediate_sweep: true) }
      [finalized.dup, slice.to_str, slice.to_buffer.get_string]
    end.value
    assert_equal [[], "kept", "kept"], seen
    wait_until(10) { GC.start(full_mark: true, immediate_sweep: true); !finalized.empty? }
  end

  def make_slice_with_finalizer(finalized)
    m = Memory.new(1)
    m.write(0, "kept")
    ObjectSpace.define_finalizer(m, self.class.finalizer(finalized))
    m.slice(0, 4)
  end

  def self.finalizer(list) = proc { list << :memory }

  def test_checksum_is_fnv1a
    m = Memory.new(1)
    m.write(1000, "The quick brown fox")
    expected = 0xcbf29ce484222325
    m.read(0, PAGE).each_byte { |byte| expected = ((expected ^ byte) * 0x100000001b3) & 0xFFFF_FFFF_FFFF_FFFF }
    assert_equal expected, m.checksum
    assert_equal 0xcbf29ce484222325, Memory.new(0).checksum
  end

  def test_grow_during_checksum_raises_borrow_error_and_reads_proceed
    m = Memory.new(256, 512)
    running = true
    worker = Thread.new { m.checksum while running }
    error = wait_until(20) do
      m.grow(1)
      nil
    rescue Cleat::BorrowError => e
      e
    end
    assert_equal "CleatExamples::Memory is borrowed by #checksum; #grow needs it exclusively", error.message
    assert_equal "\0\0", m.read(0, 2)
    running = false
    worker.join
    size = m.size
    assert_equal size, m.grow(1)
  end

  def test_memory_cannot_be_copied
    assert_equal "can't copy CleatExamples::Memory", assert_raises(TypeError) { Memory.new(1).dup }.message
  end

  def test_memsize_counts_the_pages
    assert_operator ObjectSpace.memsize_of(Memory.new(4)), :>=, 4 * PAGE
  end

  def test_slices_and_memory_under_gc_stress_and_compaction
    m = Memory.new(1, 3)
    m.write(0, "survives")
    slices = with_gc_stress { Array.new(8) { |i| m.slice(i, 8 - i) } }
    compact_heap
    assert_equal Array.new(8) { |i| "survives".byteslice(i, 8 - i) }, slices.map(&:to_str)
    with_gc_stress { m.grow(1) }
    assert_raises(Cleat::StaleReferenceError) { slices.first.to_str }
  end

  # A plain-Ruby model of Memory; random operations must agree with it.
  class Model
    attr_reader :bytes, :pages, :maximum, :generation

    def initialize(pages, maximum)
      @pages = pages
      @maximum = maximum
      @bytes = "\0".b * (pages * PAGE)
      @generation = 0
    end

    def in_bounds?(offset, length) = offset >= 0 && length >= 0 && offset + length <= @bytes.bytesize

    def grow(delta)
      raise RangeError if delta.negative? || @pages + delta > @maximum

      previous = @pages
      if delta.positive?
        @bytes << ("\0".b * (delta * PAGE))
        @pages += delta
        @generation += 1
      end
      previous
    end
  end

  def test_random_operations_match_the_model
    seed = ENV.fetch("CLEAT_SEED", Random.new_seed.to_s).to_i
    rng = Random.new(seed)
    m = Memory.new(1, 4)
    model = Model.new(1, 4)
    slices = []
    buffers = []
    offsets = -> { [0, 1, PAGE - 1, PAGE, model.bytes.bytesize - 3, model.bytes.bytesize, -1, 2**64, rng.rand(model.bytes.bytesize + 1)].sample(random: rng) }
    log = []
    1500.times do
      op = %i[grow read write slice to_str utf8 to_buffer buffer_read].sample(random: rng)
      log << op
      case op
      when :grow
        delta = [0, 1, 2, -1].sample(random: rng)
        expected = begin; model.grow(delta); rescue RangeError; RangeError; end
        if expected == RangeError then assert_raises(RangeError) { m.grow(delta) }
        else assert_equal expected, m.grow(delta)
        end
      when :read
        offset = offsets.call
        length = rng.rand(0..20)
        if model.in_bounds?(offset, length) then assert_equal model.bytes.byteslice(offset, length), m.read(offset, length)
        else assert_raises(Trap) { m.read(offset, length) }
        end
      when :write
        offset = offsets.call
        data = Array.new(rng.rand(0..10)) { rng.rand(256).chr }.join.b
        if model.in_bounds?(offset, data.bytesize)
          assert_equal data.bytesize, m.write(offset, data)
          model.bytes[offset, data.bytesize] = data
        else
          assert_raises(Trap) { m.write(offset, data) }
        end
      when :slice
        offset = offsets.call
        size = rng.rand(0..20)
        if model.in_bounds?(offset, size) then slices << [m.slice(offset, size), offset, size, model.generation]
        else assert_raises(RangeError) { m.slice(offset, size) }
        end
      when :to_str, :utf8, :to_buffer
        next if slices.empty?

        slice, offset, size, generation = slices.sample(random: rng)
        if generation != model.generation
          assert_raises(Cleat::StaleReferenceError) { slice.to_str }
        elsif op == :to_str
          assert_equal model.bytes.byteslice(offset, size), slice.to_str
        elsif op == :utf8
          expected = model.bytes.byteslice(offset, size).force_encoding(Encoding::UTF_8)
          if expected.valid_encoding? then assert_equal expected, slice.to_utf8_str
          else assert_raises(EncodingError) { slice.to_utf8_str }
          end
        else
          buffers << [slice.to_buffer, offset, size, generation, model.bytes.byteslice(offset, size)]
        end
      when :buffer_read
        next if buffers.empty?

        buffer, offset, size, generation, copied = buffers.sample(random: rng)
        if !MemorySlice::ZERO_COPY_BUFFERS # a copy of the bytes when lent
          assert_equal copied, buffer.get_string
        elsif generation != model.generation
          assert_predicate buffer, :null?
          assert_raises(*BUFFER_GONE) { buffer.get_string(0, size) } if size.positive?
        else
          assert_equal model.bytes.byteslice(offset, size), buffer.get_string
        end
      end
    end
    assert_equal model.bytes, m.read(0, m.data_size)
  rescue Minitest::Assertion => e
    raise e.class, "#{e.message}\nCLEAT_SEED=#{seed}, operations: #{log.last(20).inspect}"
  end
end

class TestTrap < Minitest::Test
  Trap = CleatExamples::Trap

  def trap_from_memory
    CleatExamples::Memory.new(1).read(1 << 20, 1)
  rescue Trap => e
    e
  end

  def test_code_message_inspect
    t = trap_from_memory
    assert_equal :MEMORY_OUT_OF_BOUNDS, t.code
    assert_match(/\Aout of bounds memory access/, t.message)
    assert_match(/\A#<CleatExamples::Trap:0x\h{16} @trap_code=MEMORY_OUT_OF_BOUNDS>\z/, t.inspect)
    refute_nil t.backtrace
  end

  def test_trap_is_a_standard_error_made_from_ruby_too
    assert_operator Trap, :<, StandardError
    t = Trap.new("made in Ruby")
    assert_nil t.code
    assert_equal "made in Ruby", t.message
    assert_match(/@trap_code=nil>\z/, t.inspect)
    e = assert_raises(Trap) { raise Trap, "raised" }
    assert_equal "raised", e.message
  end

  def test_reraise_with_a_new_message_keeps_the_code
    e = assert_raises(Trap) { raise trap_from_memory, "new message" }
    assert_equal "new message", e.message
    assert_equal :MEMORY_OUT_OF_BOUNDS, e.code
    assert_equal :MEMORY_OUT_OF_BOUNDS, trap_from_memory.dup.code
  end

  def test_types_without_references_are_not_marked
    refute CleatTest.gc_marks?(trap_from_memory)
    refute CleatTest.gc_marks?(CleatExamples::Counter.new(1))
    assert CleatTest.gc_marks?(CleatExamples::Person.new("a", []))
    assert CleatTest.gc_marks?(CleatExamples::Memory.new(0))
  end

  def test_traps_under_gc_stress
    traps = with_gc_stress { Array.new(5) { trap_from_memory } }
    GC.start
    assert_equal [:MEMORY_OUT_OF_BOUNDS] * 5, traps.map(&:code)
  end
end
