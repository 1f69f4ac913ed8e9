# frozen_string_literal: true

require_relative "patches"

module Fuzz
  # The operation families a hostile review used against the examples
  # (issue 14): Ractor sends, external enumerators left suspended inside a
  # loan, monkeypatched core classes, interrupt storms during GVL-free work
  # and fork while another thread holds a loan. Included in World; each
  # operation is plain data like the rest, so sequences replay and shrink.
  module Hostile
    ENUMS = 4 # enumerators the world holds at once
    STORM_PAGES = 8 # 512 KB: a checksum of about 2 ms, interrupted often

    def self.generate(rng)
      case rng.rand(100)
      when 0...28 then [:ractor_send, rng.rand(SLOTS), Fuzz.pick(rng, %i[copy copy move shareable_copy])]
      when 28...50 then [:enum_open, rng.rand(SLOTS), rng.rand(ENUMS), rng.rand < 0.3]
      when 50...70 then [:enum_step, rng.rand(ENUMS), Fuzz.pick(rng, %i[next next next peek rewind drop])]
      when 70...76 then [:enum_abandon, rng.rand(SLOTS), Fuzz.pick(rng, %i[next peek rewind two])]
      when 76...90 then [:patch, rng.rand(Patches::PATCHES.size), rng.rand < 0.6]
      when 90...97
        [:storm, Fuzz.pick(rng, %i[wakeup signal]), rng.rand(STORM_PAGES * PAGE), Fuzz.pick(rng, TEXTS)]
      else [:fork_loan, rng.rand(SLOTS)]
      end
    end

    # ---- Ractors ----

    # What the receiving Ractor does with an object: every mutation it can
    # try. A copy that shared anything with the original shows up in the
    # sender's model checks afterwards.
    module Receiver
      def self.poke(obj)
        e = CleatExamples
        steps = case obj
                when e::Counter then [-> { obj.increment(5) }, -> { obj.value }]
                when e::MutCounter then [-> { obj.add(5) }, -> { obj.count }]
                when e::Person then [-> { obj.hobbies << +"ractor" }, -> { obj.add_friend(obj) }, -> { obj.name }]
                when e::Game then [-> { obj.add_player(+"ractor") }, -> { obj.players }]
                when e::Memory then [-> { obj.grow(1) }, -> { obj.write(0, "ractor") }, -> { obj.checksum }]
                when e::MemorySlice then [-> { obj.to_str }]
                when e::Trap then [-> { obj.code }, -> { obj.message }]
                else []
                end
        steps.map do |step|
          step.call.inspect
        rescue StandardError => e
          e.class.name
        end.join(" ")
      end
    end

    def ractor
      @ractor ||= Ractor.new { loop { Ractor.yield(Receiver.poke(Ractor.receive)) } }
    end

    # Sends the object to another Ractor (a copy, or moved), or makes a
    # shareable deep copy. Either Ruby or Cleat refuses it with Ractor::Error,
    # or the copy is independent: the receiver mutates it, and the sender's
    # object still matches its model. A moved object is gone from the slots.
    def op_ractor_send(s, how)
      entry = @slots[s] or return
      # A moved exception takes its message along, which a copy made by
      # dup shares (Ruby's own business, not the model's).
      return if how == :move && entry.model.kind == :trap

      real = entry.real
      hobbies = person_hobbies(entry)
      copy = nil
      begin
        case how
        when :copy then ractor.send(real)
        when :move then ractor.send(real, move: true)
        else copy = Ractor.make_shareable(real, copy: true)
        end
        ractor.take unless copy
      rescue Ractor::Error, TypeError => e
        # Refused: by Ruby or Cleat (Ractor::Error), or by the class, which
        # cannot be copied at all, or not yet (TypeError from clone).
        refusal = e.is_a?(TypeError) ? /\A(can't copy|uninitialized) / : /\Acan not (copy|move|make shareable object for) /
        raise Mismatch, "#{how} of a #{entry.model.klass} raised #{e.class}: #{e.message}" unless refusal.match?(e.message)

        return
      end
      if how == :move
        @slots.map! { |other| other&.equal?(entry) ? nil : other }
        return
      end
      if copy
        expect_equal(true, Ractor.shareable?(copy), "Ractor.shareable? of a shareable copy")
        expect_equal(false, copy.equal?(real) && !entry.model.frozen, "a shareable copy of an unfrozen object is another object")
      end
      expect_equal(hobbies, person_hobbies(entry), "the sender's hobbies after a #{how}") if hobbies
      verify(s)
    end

    def person_hobbies(entry)
      return unless entry.model.kind == :person && entry.model.init

      Patches.outside { entry.real.hobbies.dup }
    end

    # The shared methods without arguments, each checked against the model.
    def verify(s)
      entry = @slots[s] or return
      METHODS.fetch(entry.model.kind).each_with_index do |(name, doorway), n|
        next unless doorway == :shared && method_args(entry.model.kind, name, {}).empty?
        next if name == :to_buffer

        op_call(s, n, {})
      end
    end

    # ---- external enumerators ----

    # An external enumerator over a game, left suspended inside each_player
    # with the game lent shared until it finishes or its fiber is collected.
    Enum = Struct.new(:enumerator, :entry, :position, :lent)

    def enums = (@enums ||= Array.new(ENUMS))

    def op_enum_open(s, k, peek)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :game

      abandon(k)
      enumerator = check(-> { "#{m.klass}#each_player without a block" },
                         lambda {
                           door(m, :shared)
                           ->(e) { e.is_a?(Enumerator) }
                         },
                         -> { entry.real.each_player })
      return unless enumerator

      enums[k] = Enum.new(enumerator, entry, 0, false)
      op_enum_step(k, peek ? :peek : :next)
    end

    # next and peek resume the fiber inside each_player: the model says which
    # name comes, or StopIteration when the loop ended (its loan returned).
    # rewind and drop leave the fiber suspended for the GC to collect: the
    # loan stays until then (the model knows it as abandoned).
    def op_enum_step(k, action)
      rec = enums[k] or return
      m = rec.entry.model
      case action
      when :next, :peek
        players = m.state[:players]
        if rec.position < players.size && !rec.lent && !m.frozen
          m.lent += 1
          rec.lent = true
        end
        expected = players[rec.position]
        actual = begin
          Patches.watch("Enumerator##{action} over #{m.klass}#each_player") { rec.enumerator.public_send(action) }
        rescue StopIteration
          :stop
        end
        if expected.nil?
          release(rec)
          enums[k] = nil
        elsif action == :next
          rec.position += 1
        end
        expect_equal(expected || :stop, actual, "#{m.klass}#each_player enumerator's #{action}")
      when :rewind then abandon(k, keep: true)
      else abandon(k)
      end
    end

    # Rewinds enumerator k (starting over from the first name) and drops it
    # unless keep: the fiber it leaves suspended is the GC's to collect, and
    # a loan it held is returned then (the model knows it as abandoned).
    def abandon(k, keep: false)
      rec = enums[k] or return
      rec.enumerator.rewind
      rec.position = 0
      enums[k] = nil unless keep
      return unless rec.lent

      release(rec)
      rec.entry.model.abandoned += 1
    end

    def release(rec)
      return unless rec.lent

      rec.lent = false
      rec.entry.model.lent -= 1
    end

    # An enumerator abandoned in a thread that then ends (nothing else
    # refers to it, not even a stale copy on this thread's stack): its loan
    # must come back after a few collections, seen by add_player succeeding.
    def op_enum_abandon(s, how)
      entry = @slots[s] or return
      m = entry.model
      return unless m.kind == :game && m.init && !m.frozen && m.lent.zero? && m.abandoned.zero?
      return if m.state[:players].empty?

      game = entry.real
      Thread.new do
        e = game.each_player
        case how
        when :next then e.next
        when :peek then e.peek
        when :rewind then e.next && e.rewind
        else e.next && e.next
        end
      rescue StopIteration
        nil
      ensure
        e = nil # (the thread keeps its block, and the block its variables)
      end.join
      game = nil
      returned = 20.times.any? do |i|
        # (Ruby 3.1 frees a dead fiber only after another fiber has run.)
        Fiber.new { nil }.resume
        burn_stack(i * 7) { GC.start(full_mark: true, immediate_sweep: true) }
        begin
          entry.real.add_player(+"probe")
          true
        rescue Cleat::BorrowError
          false
        end
      end
      raise Mismatch, "#{m.klass} stayed borrowed by an enumerator abandoned (#{how}) and collected" unless returned

      m.state[:players] += ["probe"]
    end

    def burn_stack(depth, &block) = depth.zero? ? block.call : burn_stack(depth - 1, &block)

    # ---- monkeypatched core classes ----

    def op_patch(n, on) = Patches.set(n, on)

    # ---- interrupt storms during GVL-free work ----

    # A 512 KB memory hashed without the GVL while another thread wakes the
    # hashing thread, or signals the process (a trap handler runs and tries
    # to grow the memory), as fast as it can: each time the GVL is free. The checksum must finish, and
    # be right: an interrupted section resumes instead of restarting.
    def op_storm(kind, offset, text)
      memory, bytes = storm_memory
      offset = [offset, bytes.bytesize - text.bytesize].min
      memory.write(offset, text)
      bytes[offset, text.bytesize] = text.b
      expected = fnv1a(bytes)
      sum = case kind
            when :wakeup
              worker = Thread.new { memory.checksum }
              while worker.alive?
                begin
                  worker.wakeup
                rescue ThreadError # (it just ended)
                  nil
                end
                Thread.pass
              end
              worker.value
            else
              install_trap
              stormer = Thread.new do
                loop do
                  Process.kill(:USR1, Process.pid)
                  Thread.pass
                end
              end
              begin
                memory.checksum
              ensure
                stormer.kill
                stormer.join
              end
            end
      expect_equal(expected, sum, "checksum of a memory under a #{kind} storm")
    end

    def storm_memory
      @storm_memory ||= [E::Memory.new(STORM_PAGES, STORM_PAGES), ("\0" * (STORM_PAGES * PAGE)).b]
    end

    # Once per process, and never removed: a late USR1 must not end it.
    def install_trap
      return if @trap_installed

      @trap_installed = true
      memory = storm_memory[0]
      trap("USR1") do
        Patches.outside do
          memory.grow(0) # lent during the checksum: BorrowError; else a no-op
        rescue Cleat::BorrowError
          nil
        end
      end
    end

    # ---- fork ----

    # A thread holds the game lent inside each_player; the process forks.
    # In the child that thread does not exist: its loan is returned and
    # add_player works. In the parent the game stays lent until the thread
    # leaves the block.
    def op_fork_loan(s)
      entry = @slots[s] or return
      m = entry.model
      return unless Process.respond_to?(:fork) && m.kind == :game && m.init && !m.frozen
      return unless m.lent.zero? && m.abandoned.zero? && !m.state[:players].empty?

      while_lent_by_a_thread(entry) do
        pid = fork do
          names = m.state[:players] + ["child"]
          ok = 5.times.any? do |i|
            GC.start if i.positive?
            entry.real.add_player(+"child")
            entry.real.players == names
          rescue Cleat::BorrowError
            false
          end
          exit!(ok ? 0 : 3)
        end
        _, status = Process.wait2(pid)
        expect_equal(0, status.exitstatus, "exit status of a child that adds a player the dead thread had lent")
        reenter(m, [:call, s, 0, { text: "parent" }]) # add_player: BorrowError
      end
    end
  end
end
