# frozen_string_literal: true

# The hostile-input fuzzer's world: random operations on every example class,
# each checked against a plain-Ruby model.
#
# An operation is plain data ([:name, *params], Marshal-able), generated from
# a seed without looking at any state, so a sequence can be replayed, cut and
# shrunk: an operation whose slot holds nothing suitable does nothing. Every
# operation must either succeed with the model's result or raise exactly the
# exception class the model predicts, with its message. test/test_fuzz.rb
# runs the world in a child process (test/fuzz/child.rb), so a crash or a hang
# is a failure too, and shrinks failing sequences. HOSTILE_PERCENT of the
# operations come from the hostile families of test/fuzz/hostile.rb.

require "cleat"
require "cleat_examples"
require "cleat/testing"
require "zlib"
require_relative "hostile"

module Fuzz
  E = CleatExamples
  SLOTS = 8
  PAGE = E::Memory::PAGE_SIZE
  INT64 = (-(2**63)..(2**63) - 1)
  SIZE = (0..(2**64) - 1)

  # Subclasses of the example classes, and of the argument classes, with
  # names, so that messages and reproductions read well.
  module Sub
    Counter = Class.new(E::Counter)
    MutCounter = Class.new(E::MutCounter)
    Person = Class.new(E::Person)
    Game = Class.new(E::Game)
    Memory = Class.new(E::Memory)
    Trap = Class.new(E::Trap)
    String = Class.new(::String)
    Array = Class.new(::Array)
  end

  class FuzzError < StandardError; end

  # The model predicts an exception: its class and message (String or Regexp).
  class Expected < StandardError
    attr_reader :klass, :pattern

    def initialize(klass, pattern)
      @klass = klass
      @pattern = pattern
      super("#{klass}: #{pattern.inspect}")
    end
  end

  # The real object disagreed with the model.
  # (An Exception, not a StandardError: it passes through the rescue clauses
  # of the operations, nested ones included.)
  class Mismatch < Exception; end # rubocop:disable Lint/InheritException

  # A slot's object and its model. Two slots may hold the same Entry.
  Entry = Struct.new(:real, :model)

  # What the model knows of one object: its kind, whether it is initialised
  # and frozen, how many shared loans are out, and the kind's state.
  # abandoned: shared loans held by fibers that can no longer run (dropped
  # enumerators), which the library returns once the GC has collected them.
  class Model
    attr_accessor :kind, :klass, :init, :frozen, :lent, :abandoned, :state

    def initialize(kind, klass, init: false, state: nil)
      @kind = kind
      @klass = klass
      @init = init
      @frozen = false
      @lent = 0
      @abandoned = 0
      @state = state
    end
  end

  KINDS = {
    counter: [E::Counter, Sub::Counter],
    mut_counter: [E::MutCounter, Sub::MutCounter],
    person: [E::Person, Sub::Person],
    game: [E::Game, Sub::Game],
    memory: [E::Memory, Sub::Memory],
    trap: [E::Trap, Sub::Trap]
  }.freeze
  KIND_NAMES = KINDS.keys.freeze
  COPYABLE = %i[counter mut_counter person slice trap].freeze

  # Methods by kind: [name, door]; door :shared, :exclusive or :none (Ruby's).
  METHODS = {
    counter: [%i[value shared], %i[increment exclusive]],
    mut_counter: [%i[count shared], %i[increment exclusive], %i[add exclusive]],
    person: [%i[name shared], %i[hobbies shared], %i[friend shared], %i[add_friend exclusive]],
    game: [%i[add_player exclusive], %i[players shared], %i[score shared], %i[next_player_scores exclusive]],
    memory: [%i[size shared], %i[data_size shared], %i[grow exclusive], %i[read shared], %i[write exclusive],
             %i[checksum shared]],
    slice: [%i[offset shared], %i[size shared], %i[to_str shared], %i[to_utf8_str shared], %i[to_buffer shared]],
    trap: [%i[code shared], %i[inspect shared], %i[message none]]
  }.freeze

  # ---- generation: plain data from a seed ----

  INTEGERS = [0, 1, 2, 3, -1, 7, 100, 2**31, 2**62, (2**63) - 1, 2**63, -(2**63), -(2**63) - 1, 2**64,
              (2**64) - 1, 2**100, -(2**100), 2**300].freeze
  HOSTILE = [nil, true, 1.5, -0.0, Float::NAN, Float::INFINITY, "7", :sym, [], {}, 2**64, -1, 2**300].freeze
  OFFSETS = [0, 1, 3, 100, PAGE - 2, PAGE - 1, PAGE, PAGE + 1, (2 * PAGE) - 1, 2 * PAGE, -1, 2**64, 2**70,
             (2**64) - 1, nil, 1.0].freeze
  LENGTHS = [0, 1, 2, 5, 64, PAGE, PAGE + 1, 2 * PAGE, -1, (2**64) - 1, 2**64, nil, "1"].freeze
  TEXTS = ["", "a", "hello", "h\u00e9llo", "\u20ac\u{1F600}", "\xFF".b, "ab\xC3".b, "\xE2\x82".b, "\0\0\0"].freeze

  module_function

  # The compact mode compacts before an operation chosen by its content, not
  # its index, so that a shrunk sequence compacts before the same operations.
  COMPACT_ONE_IN = 100
  def compact_before?(op) = Zlib.crc32(Marshal.dump(op)) % COMPACT_ONE_IN == 0

  # Operations from the hostile families (test/fuzz/hostile.rb), in percent.
  HOSTILE_PERCENT = 4

  def generate(rng, count)
    Array.new(count) { generate_op(rng) }
  end

  def pick(rng, list) = list[rng.rand(list.size)]
  def slot(rng) = rng.rand(SLOTS)

  def int(rng)
    rng.rand < 0.6 ? rng.rand(-1000..1000) : pick(rng, INTEGERS)
  end

  def hostile(rng)
    r = rng.rand
    return [:slot, slot(rng)] if r < 0.3

    pick(rng, HOSTILE)
  end

  def text(rng)
    rng.rand < 0.1 ? Sub::String.new(pick(rng, TEXTS)) : pick(rng, TEXTS).dup
  end

  # Mostly inside a page, else at and across the edges, negative or huge.
  def offset(rng) = rng.rand < 0.6 ? rng.rand(0..300) : pick(rng, OFFSETS)
  def length(rng) = rng.rand < 0.6 ? rng.rand(0..64) : pick(rng, LENGTHS)

  def maybe_hostile(rng, good) = rng.rand < 0.85 ? good : hostile(rng)

  def constructor_args(rng, kind)
    args = case kind
           when :counter, :mut_counter then [maybe_hostile(rng, int(rng))]
           when :person
             hobbies = Array.new(rng.rand(3)) { text(rng) }
             hobbies = Sub::Array.new(hobbies) if rng.rand < 0.1
             [maybe_hostile(rng, text(rng)), maybe_hostile(rng, hobbies)]
           when :game then []
           when :memory
             max = rng.rand < 0.2 ? nil : maybe_hostile(rng, rng.rand(4))
             [maybe_hostile(rng, rng.rand(3)), *([max] if rng.rand < 0.9)]
           when :trap then [rng.rand < 0.9 ? "trap #{rng.rand(10)}" : pick(rng, [nil, 1, :sym, 1.5])]
           end
    rng.rand < 0.03 ? args + [1] : args # wrong arity, sometimes
  end

  # Arguments for method number n of any kind: the generator does not know
  # the slot's kind, so it draws arguments that suit each one the same way.
  def call_args(rng)
    {
      int: maybe_hostile(rng, int(rng)), small: maybe_hostile(rng, rng.rand(3)),
      text: maybe_hostile(rng, text(rng)), other: [:slot, slot(rng)],
      offset: offset(rng), length: length(rng), bytes: maybe_hostile(rng, text(rng))
    }
  end

  def generate_op(rng, nested: false)
    return Hostile.generate(rng) if !nested && rng.rand(100) < HOSTILE_PERCENT

    r = rng.rand(100)
    case r
    when 0...10
      kind = pick(rng, KIND_NAMES)
      [:new, slot(rng), kind, rng.rand < 0.2, constructor_args(rng, kind)]
    when 10...13 then [:allocate, slot(rng), pick(rng, KIND_NAMES + [:slice]), rng.rand < 0.2]
    when 13...16 then [:init, slot(rng), KIND_NAMES.to_h { |kind| [kind, constructor_args(rng, kind)] }]
    when 16...21 then [:copy, slot(rng), slot(rng), pick(rng, %i[dup clone clone_freeze])]
    when 21...23 then [:freeze, slot(rng)]
    when 23...25 then [:alias, slot(rng), slot(rng)]
    when 25...31 then [:slice, slot(rng), slot(rng), offset(rng), length(rng)]
    when 31...35 then [:make_shareable, slot(rng)]
    when 35...80 then [:call, slot(rng), rng.rand(60), call_args(rng)]
    else
      return [:call, slot(rng), rng.rand(60), call_args(rng)] if nested

      case r
      when 80...90
        [:each_player, slot(rng), pick(rng, %i[none nested nested nested raise throw break]), generate_op(rng, nested: true)]
      when 90...96
        # A GC costs milliseconds (under GC.stress, one per allocation of
        # the next call): one operation in 200.
        if rng.rand(6).zero?
          [:gc, pick(rng, %i[minor minor major stress stress stress compact])]
        else
          [:thread_each_player, slot(rng), call_args(rng)[:text]]
        end
      when 96...98 then [:thread_checksum, slot(rng), pick(rng, [0, 1, 1, 2])]
      when 98 then [:raise_trap, slot(rng), pick(rng, [nil, "again"])]
      else [:trap_from_memory, slot(rng), slot(rng)]
      end
    end
  end

  # ---- the world: slots, models, execution ----

  class World
    include Hostile

    # stressed_operations: how many operations began with GC.stress on;
    # compactions: how many GC.compact the compact mode ran.
    attr_reader :slots, :stressed_operations, :compactions

    # inject: a deliberate model bug or crash, to test the harness itself;
    # compact: run GC.compact before about one operation in COMPACT_ONE_IN
    # (the compact mode: Ruby 3.1 cannot run with GC.auto_compact on).
    def initialize(inject: nil, compact: false)
      @slots = Array.new(SLOTS)
      @inject = inject
      @compact = compact
      @fnv = {}
      @stressed_operations = 0
      @compactions = 0
    end

    def run(ops, progress: nil)
      ops.each_with_index do |op, i|
        progress&.syswrite([i].pack("L<"))
        @stressed_operations += 1 if GC.stress
        if @compact && Fuzz.compact_before?(op)
          GC.compact
          @compactions += 1
        end
        begin
          perform(op)
        rescue Mismatch => e
          raise Mismatch, "operation #{i} #{op.inspect}: #{e.message}"
        end
      end
    end

    def perform(op)
      name, *params = op
      send(:"op_#{name}", *params)
    end

    # ---- generic operations ----

    def op_new(s, kind, sub, args)
      klass = KINDS.fetch(kind)[sub ? 1 : 0]
      model = Model.new(kind, klass, init: kind == :trap)
      reals = resolve(args)
      result = check(-> { "#{klass}.new(#{reals.map(&:inspect).join(", ")})" },
                     -> { initialize_model(model, reals) }, -> { klass.new(*reals) })
      @slots[s] = Entry.new(result, model) if result
    end

    def op_allocate(s, kind, sub)
      klass = kind == :slice ? E::MemorySlice : KINDS.fetch(kind)[sub ? 1 : 0]
      model = Model.new(kind, klass, init: kind == :trap)
      model.state = { message: klass.name, code: nil } if kind == :trap # zero is a valid Trap
      @slots[s] = Entry.new(klass.allocate, model)
    end

    # initialize called again, or on an allocated object.
    def op_init(s, args)
      entry = @slots[s] or return
      m = entry.model
      return if %i[trap slice].include?(m.kind) # Exception's and Object's own

      reals = resolve(args.fetch(m.kind))
      check(-> { "#{m.klass}#initialize(#{reals.map(&:inspect).join(", ")})" },
            lambda {
              check_arity(m.kind, reals) unless m.kind == :memory # Ruby checks fixed arities first
              door(m, :init)
              initialize_model(m, reals)
            },
            -> { entry.real.send(:initialize, *reals) })
    end

    def op_copy(s, d, how)
      entry = @slots[s] or return
      m = entry.model
      real = check(-> { "#{m.klass}##{how}" }, -> { copy_model(m, how) }, lambda {
        case how
        when :dup then entry.real.dup
        when :clone then entry.real.clone
        else entry.real.clone(freeze: true)
        end
      })
      @slots[d] = Entry.new(real, @copied) if real
    end

    def op_freeze(s)
      entry = @slots[s] or return
      inject_fault if entry.model.kind == :game
      entry.real.freeze
      entry.model.frozen = true
      expect_equal(true, entry.real.frozen?, "frozen? after freeze")
    end

    def op_alias(s, d)
      @slots[d] = @slots[s]
    end

    def op_make_shareable(s)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :person && m.init

      real = check(-> { "Ractor.make_shareable(#{m.klass})" }, lambda {
        share_person(entry, {}.compare_by_identity)
        Same.new(entry.real)
      }, -> { Ractor.make_shareable(entry.real) }, watch: false)
      return unless real

      expect_equal(true, Ractor.shareable?(real), "Ractor.shareable? after make_shareable")
      expect_equal(true, real.name.frozen? && real.hobbies.frozen?, "fields frozen after make_shareable")
    end

    def op_gc(kind)
      case kind
      when :minor then GC.start(full_mark: false, immediate_sweep: true)
      when :major then GC.start(full_mark: true, immediate_sweep: true)
      when :compact then Cleat::Testing.compact_heap(expand: false) if GC.respond_to?(:verify_compaction_references)
      when :stress then @stress_next = true
      end
    end

    def op_call(s, n, args)
      entry = @slots[s] or return
      m = entry.model
      name, doorway = METHODS.fetch(m.kind)[n % METHODS.fetch(m.kind).size]
      argv = method_args(m.kind, name, args)
      stress = @stress_next
      @stress_next = false
      check(-> { "#{m.klass}##{name}(#{argv.map(&:inspect).join(", ")})" },
            lambda {
              door(m, doorway)
              model_call(entry, name, argv)
            },
            lambda do
              previous = GC.stress # true for the whole run in the stress mode
              GC.stress = 1 if stress # a minor GC at every allocation: what write barriers are for
              entry.real.public_send(name, *argv)
            ensure
              GC.stress = previous if stress
            end, watch: doorway != :none)
    end

    # ---- re-entrance, exceptions and throw from blocks ----

    # each_player with a block that does nothing, performs another operation
    # (re-entering the game, lent shared), raises, throws or breaks.
    def op_each_player(s, action, nested)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :game

      yielded = []
      expected_names = []
      block = lambda do |name|
        Patches.outside do
          yielded << name
          case action
          when :raise then raise FuzzError, "from the block"
          when :throw then throw :fuzz, :thrown
          when :break then :broken
          when :nested then reenter(m, nested) if yielded.size == 1
          end
        end
      end
      check(-> { "#{m.klass}#each_player with #{action}" },
            lambda {
              door(m, :shared)
              players = m.state[:players]
              next Same.new(entry.real) if players.empty?

              expected_names = %i[none nested].include?(action) ? players : players.first(1)
              case action
              when :raise then raise Expected.new(FuzzError, "from the block")
              when :throw then :thrown
              when :break then :broken
              else Same.new(entry.real)
              end
            },
            lambda {
              catch(:fuzz) do
                if action == :break
                  entry.real.each_player { |name| break block.call(name) }
                else
                  entry.real.each_player(&block)
                end
              end
            })
      expect_equal(expected_names, yielded, "names yielded by #{m.klass}#each_player")
    end

    # Performs op while m is lent shared (frozen objects take no loans).
    def reenter(m, op)
      lent = !m.frozen
      m.lent += 1 if lent
      perform(op)
    ensure
      m.lent -= 1 if lent
    end

    # A thread holds the game lent inside each_player while this thread calls
    # add_player on it: Cleat::BorrowError, until the block returns.
    def op_thread_each_player(s, name)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :game && m.init && !m.state[:players].empty? && m.lent.zero?

      while_lent_by_a_thread(entry) do
        reenter(m, [:call, s, 0, { text: name }]) # add_player: BorrowError
        reenter(m, [:call, s, 1, {}])             # players
      end
    end

    # Runs the block while another thread is inside the game's each_player
    # (the game lent shared), then lets that thread leave the loop.
    def while_lent_by_a_thread(entry)
      inside = Queue.new
      release = Queue.new
      thread = Thread.new do
        entry.real.each_player do |_|
          inside << true
          release.pop
          break
        end
      end
      inside.pop
      begin
        yield
      ensure
        release << true
        thread.join
      end
    end

    # A thread computes the checksum without the GVL while this one tries to
    # grow the memory: either the grow waits its turn as BorrowError, or it
    # wins; the checksum matches the contents before or after accordingly.
    def op_thread_checksum(s, delta)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :memory && m.init && m.lent.zero?

      before = fnv1a(m.state[:bytes])
      thread = Thread.new { entry.real.checksum }
      grown = begin
        entry.real.grow(delta)
        true
      rescue Cleat::BorrowError
        false
      rescue FrozenError
        raise Mismatch, "grow of an unfrozen memory raised FrozenError" unless m.frozen

        false
      rescue RangeError
        raise Mismatch, "grow(#{delta}) raised RangeError within the maximum" if delta <= m.state[:max] - m.state[:pages]

        false
      end
      sum = thread.value
      grow_model(m, delta) if grown
      allowed = grown ? [before, fnv1a(m.state[:bytes])] : [before]
      raise Mismatch, "checksum #{sum} is none of #{allowed}" unless allowed.include?(sum)
    end

    # `raise trap` raises the trap itself; `raise trap, "message"` a copy
    # with the new message and the same code.
    def op_raise_trap(s, message)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :trap && !m.frozen # (Ruby can't set a frozen exception's backtrace)

      raised = begin
        message ? raise(entry.real, message) : raise(entry.real)
      rescue E::Trap => e
        e
      end
      if message.nil?
        raise Mismatch, "raise trap raised another object" unless raised.equal?(entry.real)

        return
      end
      expect_equal([m.klass, message, m.state[:code]], [raised.class, raised.message, raised.code],
                   "class, message and code of a re-raised #{m.klass}")
      @slots[s] = Entry.new(raised, Model.new(:trap, m.klass, init: true, state: m.state.merge(message: message)))
    end

    # A Trap made by Cleat: Memory#read out of bounds.
    def op_trap_from_memory(s, d)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :memory && m.init

      size = m.state[:bytes].bytesize
      check(-> { "#{m.klass}#read(#{size}, 1)" },
            -> { out_of_bounds(size, 1, m.state) },
            -> { entry.real.read(size, 1) })
      trap = @last_error
      @slots[d] = Entry.new(trap, Model.new(:trap, E::Trap, init: true,
                                                            state: { message: trap.message, code: :MEMORY_OUT_OF_BOUNDS }))
    end

    # The deliberate faults that prove the harness: freezing a Game crashes
    # or hangs.
    def inject_fault
      case @inject
      when "crash" then Process.kill(:SEGV, Process.pid)
      when "hang" then sleep
      end
    end

    # ---- the model ----

    # The door's checks, in its order: initialised, frozen, borrowed.
    def door(m, doorway)
      return if doorway == :none

      name = m.klass.to_s
      if doorway == :init
        raise Expected.new(TypeError, "already initialized #{name}") if m.init
      elsif !m.init
        raise Expected.new(TypeError, "uninitialized #{name}")
      end
      raise Expected.new(FrozenError, /can't modify frozen #{Regexp.escape(name)}/) if doorway != :shared && m.frozen
      return if doorway == :shared

      borrowed = /\A#{Regexp.escape(name)} is borrowed/
      raise Expected.new(Cleat::BorrowError, borrowed) if m.lent.positive?
      raise MaybeBorrowed.new(m, borrowed) if m.abandoned.positive?
    end

    ARITY = { counter: 1, mut_counter: 1, person: 2, game: 0, memory: 1..2, trap: 0..1 }.freeze

    def check_arity(kind, args)
      return if ARITY.fetch(kind) === args.size # rubocop:disable Style/CaseEquality

      raise Expected.new(ArgumentError, /wrong number of arguments \(given #{args.size}, expected/)
    end

    def initialize_model(m, args)
      check_arity(m.kind, args)
      case m.kind
      when :counter, :mut_counter then m.state = to_int64(args[0])
      when :person
        check_field(args[0], ::String, "name")
        check_field(args[1], ::Array, "hobbies")
        m.state = { name: args[0], hobbies: args[1], friend: nil }
      when :game then m.state = { players: [], current: 0, score: 0 }
      when :memory then m.state = memory_state(*args)
      when :trap then m.state = { message: args.empty? || args[0].nil? ? m.klass.name : args[0].to_s, code: nil }
      end
      m.init = true
      Expected::Any
    end

    def check_field(value, klass, field)
      return if value.is_a?(klass)

      raise Expected.new(TypeError, "wrong argument type #{describe(value)} for #{field} of CleatExamples::Person " \
                                    "(expected #{klass})")
    end

    def memory_state(initial, maximum = nil)
      pages = page_count(initial, "initial pages")
      max = maximum.nil? ? 65_536 : page_count(maximum, "maximum pages")
      raise Expected.new(RangeError, "initial pages #{pages} exceed the maximum of #{max}") if pages > max

      { pages: pages, max: max, bytes: ("\0" * (pages * PAGE)).b, generation: 0 }
    end

    def page_count(value, what)
      n = to_size(value)
      raise Expected.new(RangeError, "#{what} #{n} exceeds the limit of 65536 pages") if n > 65_536

      n
    end

    def copy_model(m, how)
      raise Expected.new(TypeError, "can't copy #{m.klass}") unless COPYABLE.include?(m.kind)
      raise Expected.new(TypeError, "uninitialized #{m.klass}") unless m.init

      @copied = Model.new(m.kind, m.klass, init: true, state: m.state.is_a?(Hash) ? m.state.dup : m.state)
      @copied.frozen = how == :clone_freeze || (how == :clone && m.frozen)
      @copied.state = 0 if @inject == "mismatch" && m.kind == :counter # a model that forgets
      Expected::Any
    end

    def share_person(entry, seen)
      return if seen[entry.real]

      seen[entry.real] = true
      entry.model.frozen = true
      friend = entry.model.state[:friend]
      share_person(friend, seen) if friend
    end

    def method_args(kind, name, args)
      resolve(
        case [kind, name]
        in [:counter, :increment] | [:mut_counter, :add] then [args[:int]]
        in [:person, :add_friend] then [args[:other]]
        in [:game, :add_player] then [args[:text]]
        in [:game, :next_player_scores] then [args[:int]]
        in [:memory, :grow] then [args[:small]]
        in [:memory, :read] then [args[:offset], args[:length]]
        in [:memory, :write] then [args[:offset], args[:bytes]]
        else []
        end
      )
    end

    def model_call(entry, name, argv)
      m = entry.model
      st = m.state
      case [m.kind, name]
      in [:counter, :value] | [:mut_counter, :count] then st
      in [:counter, :increment] | [:mut_counter, :add] then m.state = checked_add(st, argv[0])
      in [:mut_counter, :increment] then m.state = checked_add(st, 1)
      in [:person, :name] then Same.new(st[:name])
      in [:person, :hobbies] then Same.new(st[:hobbies])
      in [:person, :friend] then st[:friend] ? Same.new(st[:friend].real) : nil
      in [:person, :add_friend]
        other = argv[0]
        friend = @slots.find { |e| e && e.real.equal?(other) }
        person_arg(other, friend)
        st[:friend] = friend
        Same.new(entry.real)
      in [:game, :add_player]
        raise Expected.new(TypeError, "wrong argument type #{describe(argv[0])} (expected String)") unless argv[0].is_a?(::String)

        st[:players] += [argv[0].dup.freeze]
        st[:players].size
      in [:game, :players] then st[:players]
      in [:game, :score] then st[:score]
      in [:game, :next_player_scores] then next_player_scores(st, argv[0])
      in [:memory, :size] then st[:pages]
      in [:memory, :data_size] then st[:bytes].bytesize
      in [:memory, :grow]
        delta = to_size(argv[0])
        if delta > st[:max] - st[:pages]
          raise Expected.new(RangeError, "cannot grow memory by #{argv[0]} pages: it has #{st[:pages]} of at most #{st[:max]}")
        end

        previous = st[:pages]
        grow_model(m, delta)
        previous
      in [:memory, :read] then memory_read(st, *argv)
      in [:memory, :write] then memory_write(st, *argv)
      in [:memory, :checksum] then fnv1a(st[:bytes])
      in [:slice, _] then slice_call(st, name)
      in [:trap, :code] then st[:code]
      in [:trap, :message] then st[:message]
      in [:trap, :inspect] then /\A#<#{Regexp.escape(m.klass.to_s)}:0x\h{16} @trap_code=#{st[:code] || "nil"}>\z/
      end
    end

    def person_arg(other, friend)
      unless other.is_a?(E::Person)
        raise Expected.new(TypeError, "wrong argument type #{describe(other)} (expected CleatExamples::Person)")
      end
      raise Expected.new(TypeError, "uninitialized #{other.class}") unless friend&.model&.init
    end

    def next_player_scores(st, points)
      raise Expected.new(RuntimeError, "No players in game") if st[:players].empty?

      earned = to_int64(points)
      total = st[:score] + earned
      raise Expected.new(RangeError, "result too large") unless INT64.cover?(total)

      message = "#{st[:players][st[:current]]} scored #{earned} points! New total: #{total}"
      st[:score] = total
      st[:current] = (st[:current] + 1) % st[:players].size
      message
    end

    def grow_model(m, delta)
      return if delta.zero?

      st = m.state
      st[:bytes] = st[:bytes] + ("\0" * (delta * PAGE)).b
      st[:pages] += delta
      st[:generation] += 1
    end

    def memory_read(st, offset, length)
      len = to_size_or_nil(length) || ((2**64) - 1)
      start = to_size_or_nil(offset)
      # (a length no size_t holds is named as given)
      out_of_bounds(offset, to_size_or_nil(length) ? len : length, st) unless start && start + len <= st[:bytes].bytesize
      st[:bytes].byteslice(start, len)
    end

    def memory_write(st, offset, string)
      raise Expected.new(TypeError, "wrong argument type #{describe(string)} (expected String)") unless string.is_a?(::String)

      start = to_size_or_nil(offset)
      bytes = string.b
      out_of_bounds(offset, bytes.bytesize, st) unless start && start + bytes.bytesize <= st[:bytes].bytesize
      st[:bytes] = st[:bytes].dup
      st[:bytes][start, bytes.bytesize] = bytes
      bytes.bytesize
    end

    def out_of_bounds(offset, length, st)
      raise Expected.new(E::Trap, "out of bounds memory access: offset #{offset}, length #{length}, " \
                                  "memory size #{st[:bytes].bytesize}")
    end

    def op_slice(s, d, offset, size)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :memory

      slice = check(-> { "#{m.klass}#slice(#{offset.inspect}, #{size.inspect})" }, lambda {
        door(m, :shared)
        start = to_size_or_nil(offset) # (Cleat does not look at size when offset is out of range)
        length = start && to_size_or_nil(size)
        unless start && length && start + length <= m.state[:bytes].bytesize
          raise Expected.new(RangeError, "memory slice out of bounds")
        end

        @sliced = Model.new(:slice, E::MemorySlice, init: true,
                                                    state: { memory: m, generation: m.state[:generation],
                                                             offset: start, size: length })
        Expected::Any
      }, -> { entry.real.slice(offset, size) })
      @slots[d] = Entry.new(slice, @sliced) if slice
    end

    def slice_call(st, name)
      memory = st[:memory].state
      raise Expected.new(Cleat::StaleReferenceError, "memory was resized, reference is no longer valid") if st[:generation] != memory[:generation]

      bytes = memory[:bytes].byteslice(st[:offset], st[:size])
      case name
      when :offset then st[:offset]
      when :size then st[:size]
      when :to_str then bytes
      when :to_utf8_str
        text = bytes.dup.force_encoding(Encoding::UTF_8)
        raise Expected.new(EncodingError, "invalid UTF-8 at byte offset #{invalid_utf8_offset(text)}") unless text.valid_encoding?

        text
      when :to_buffer then ->(buffer) { buffer.is_a?(IO::Buffer) && buffer.size == bytes.bytesize && buffer.get_string == bytes }
      end
    end

    def invalid_utf8_offset(text)
      offset = 0
      text.each_char do |c|
        return offset unless c.valid_encoding?

        offset += c.bytesize
      end
      offset
    end

    # ---- conversions, as Cleat documents them ----

    def describe(value)
      case value
      when nil then "nil"
      when true then "true"
      when false then "false"
      else value.class.to_s
      end
    end

    def integer!(value)
      raise Expected.new(TypeError, "wrong argument type #{describe(value)} (expected Integer)") unless value.is_a?(Integer)
    end

    def out_of_range(value, type)
      raise Expected.new(RangeError, "integer too big for #{type}") if value.abs.bit_length > 256

      raise Expected.new(RangeError, "integer #{value} out of range of #{type}")
    end

    def to_int64(value)
      integer!(value)
      INT64.cover?(value) ? value : out_of_range(value, "int64")
    end

    def to_size(value)
      integer!(value)
      SIZE.cover?(value) ? value : out_of_range(value, "size_t")
    end

    def to_size_or_nil(value)
      integer!(value)
      SIZE.cover?(value) ? value : nil
    end

    def checked_add(count, amount)
      sum = count + to_int64(amount)
      raise Expected.new(RangeError, "result too large") unless INT64.cover?(sum)

      sum
    end

    FNV_PRIME = 0x100000001b3
    MASK64 = (2**64) - 1

    # FNV-1a of the bytes. Runs of zeros, most of any memory here, multiply
    # by a power of the prime: (h ^ 0) * p is h * p. (Found with index: a
    # scan for /\0+/ backtracks through a long run, seconds per megabyte.)
    def fnv1a(bytes)
      @fnv.clear if @fnv.size > 32
      @fnv[bytes] ||= begin
        hash = 0xcbf29ce484222325
        pos = 0
        size = bytes.bytesize
        while pos < size
          data = bytes.index(/[^\0]/n, pos) || size
          hash = (hash * FNV_PRIME.pow(data - pos, MASK64 + 1)) & MASK64
          zero = (bytes.index("\0", data) if data < size) || size
          bytes.byteslice(data, zero - data).each_byte { |b| hash = ((hash ^ b) * FNV_PRIME) & MASK64 }
          pos = zero
        end
        hash
      end
    end

    # ---- comparing ----

    def resolve(args)
      args.map do |a|
        if a.is_a?(Array) && a.size == 2 && a[0] == :slot && a[1].is_a?(Integer)
          @slots[a[1]]&.real
        elsif a.is_a?(Array)
          resolve(a).then { |r| a.instance_of?(::Array) ? r : a.class.new(r) }
        else
          a
        end
      end
    end

    def expect_equal(expected, actual, what)
      raise Mismatch, "#{what}: expected #{expected.inspect}, got #{actual.inspect}" unless expected == actual
    end

    # Runs the model and the real operation; returns the real result (nil
    # when it raised as predicted). The model's state changes stay only when
    # both succeeded.
    # The real side runs with the monkeypatched core methods armed (see
    # Patches), unless watch is false (Ruby's own methods, not doors).
    def check(describe, model, real, watch: true)
      expected = predict(model)
      actual = begin
        [:ok, watch ? Patches.watch(describe) { real.call } : real.call]
      rescue StandardError => e
        @last_error = e
        [:raise, e]
      end
      if MaybeBorrowed === expected[1] && !(actual[0] == :raise && Cleat::BorrowError === actual[1]) # rubocop:disable Style/CaseEquality
        # The abandoned loans are back: the model goes on without them.
        expected[1].model.abandoned = 0
        expected = predict(model)
      end
      compare(describe, expected, actual)
      actual[0] == :ok ? actual[1] : nil
    end

    def predict(model)
      [:ok, model.call]
    rescue Expected => e
      [:raise, e]
    end

    def compare(describe, (ekind, evalue), (akind, avalue))
      if ekind == :raise
        unless akind == :raise && avalue.instance_of?(evalue.klass) && evalue.pattern === avalue.message
          raise Mismatch, "#{describe.call}: expected #{evalue.klass}: #{evalue.pattern.inspect}, got #{outcome(akind, avalue)}"
        end
      elsif akind == :raise
        raise Mismatch, "#{describe.call}: expected #{evalue.inspect}, got #{outcome(akind, avalue)}"
      elsif !matches?(evalue, avalue)
        raise Mismatch, "#{describe.call}: expected #{evalue.inspect}, got #{avalue.inspect}"
      end
    end

    def outcome(kind, value)
      kind == :raise ? "#{value.class}: #{value.message.inspect}" : "success: #{value.inspect}"
    end

    def matches?(expected, actual)
      case expected
      when Expected::Any then true
      when Same then IDENTICAL.bind_call(expected.object, actual) # (a moved object has no equal?)
      when Regexp then actual.is_a?(::String) && expected.match?(actual)
      when Proc then expected.call(actual)
      when ::String then actual.is_a?(::String) && expected == actual && (expected.encoding == actual.encoding || expected.ascii_only? && actual.ascii_only?)
      else expected == actual
      end
    end
  end

  # An expectation that only the same object satisfies.
  Same = Struct.new(:object)
  IDENTICAL = BasicObject.instance_method(:equal?)

  # Any successful result: the operation is checked by what follows.
  class Expected
    Any = Object.new.freeze
  end

  # BorrowError, or success if the library has returned the loans that
  # model's abandoned fibers held (the GC decides when).
  class MaybeBorrowed < Expected
    attr_reader :model

    def initialize(model, pattern)
      @model = model
      super(Cleat::BorrowError, pattern)
    end
  end
end
