# frozen_string_literal: true

module Cleat
  # Reads valgrind memcheck XML files and keeps what concerns the extensions,
  # the way Shopify's ruby_memcheck does: an error or definite leak counts
  # only when its stack passes through one of the extensions' shared objects.
  # Ruby's own noise that passes through them too is left out:
  #
  # - Uninitialised values. Ruby's GC scans the machine stack conservatively
  #   and reads uninitialised words by design, at any allocation our code
  #   makes; with a stripped libruby (Debian's) those frames have no names to
  #   filter on. Such an error counts when the value was used in the
  #   extension: its innermost frame outside libc and valgrind's own
  #   replacements (memcpy, strlen, ...) is in an extension object.
  # - Definite leaks that Ruby makes on the extension's behalf and never frees
  #   at exit: allocated, below the extension's frames, by a Ruby function
  #   that registers something for the life of the process (classes,
  #   methods, constants, symbols) or calls back into Ruby code (RUBY_KEEPS).
  #
  # Every other error (invalid reads and writes, bad frees, overlaps, syscall
  # parameters) counts when any of its stacks passes through an extension.
  class ValgrindReport
    Frame = Struct.new(:fn, :obj, :file, :line) do
      def to_s = "#{fn || '???'} (#{file ? "#{file}:#{line}" : File.basename(obj.to_s)})"
    end
    # frames: the stack of the error; more: those of the block it concerns
    # (where it was allocated and freed).
    Error = Struct.new(:kind, :what, :frames, :more) do
      def to_s
        ([frames.first(25)] + more.map { |stack| stack.first(12) }).map do |stack|
          stack.map { |f| "    #{f}" }.join("\n")
        end.join("\n  and\n").prepend("#{kind}: #{what}\n")
      end
    end

    # Ruby functions whose allocations are Ruby's to free: registrations for
    # the life of the process (classes, methods, constants, symbols), new
    # objects (the class's allocator, when it is ours, is a frame of ours
    # nearer the allocation), and calls back into Ruby code (blocks, methods,
    # raising), and the collections an allocation of ours triggers: the GC
    # walks its tables (rb_st_foreach, the rb_gc_mark family) and Ruby 3.1
    # loses some of its mark stack chunks there. Ruby 3.1 leaks some at exit
    # (method definitions) and some for good (every ObjectSpace::WeakMap's
    # struct).
    RUBY_KEEPS = /\A(rb_define_|rb_add_method|rb_method_definition_create|rb_method_entry_make|rb_alias|
                     rb_attr\b|rb_class_new\b|rb_module_new|rb_class_boot|rb_singleton_class|rb_intern|rb_sym|
                     rb_const_set|rb_gv_|rb_global_variable|rb_gc_register|rb_ivar_set|rb_include_module|
                     rb_extend_object|rb_prepend_module|rb_undef|rb_ext_ractor_safe|rb_class_new_instance|
                     rb_obj_alloc|rb_obj_call_init|rb_check_funcall|rb_funcall|rb_respond_to|rb_raise|
                     rb_exc_raise|rb_enc_raise|rb_error_|rb_frozen_error_raise|rb_rescue|rb_ensure|rb_protect|
                     rb_yield|rb_block_call|rb_thread_create|
                     rb_st_foreach|rb_gc\b|rb_gc_start|rb_gc_mark|rb_objspace_)/x
    UNINIT = /\AUninit/
    SYSTEM_OBJECT = %r{/(libc\.so|libc-|ld-linux|vgpreload_|libpthread)}

    attr_reader :errors, :ignored

    def initialize(xml_files, extension_objects)
      @objects = extension_objects.map { |o| File.expand_path(o) }
      @errors = []
      @ignored = 0
      xml_files.each { |file| read(File.read(file)) }
    end

    def summary
      lines = ["valgrind: #{@errors.size} error(s) in the extensions, #{@ignored} elsewhere ignored"]
      @errors.each { |e| lines << e.to_s }
      lines.join("\n")
    end

    private

    def read(xml)
      xml.scan(%r{<error>(.*?)</error>}m) do |(body)|
        error = parse_error(body)
        ours?(error) ? @errors << error : @ignored += 1
      end
    end

    def parse_error(body)
      kind = body[%r{<kind>(.*?)</kind>}m, 1]
      what = body[%r{<text>(.*?)</text>}m, 1] || body[%r{<what>(.*?)</what>}m, 1]
      frames, *more = body.scan(%r{<stack>(.*?)</stack>}m).map do |(stack)|
        stack.scan(%r{<frame>(.*?)</frame>}m).map do |(frame)|
          Frame.new(unescape(frame[%r{<fn>(.*?)</fn>}m, 1]), frame[%r{<obj>(.*?)</obj>}m, 1],
                    frame[%r{<file>(.*?)</file>}m, 1], frame[%r{<line>(.*?)</line>}m, 1])
        end
      end
      Error.new(kind, unescape(what), frames || [], more)
    end

    def ours?(error)
      if error.kind.start_with?("Leak_")
        error.kind == "Leak_DefinitelyLost" && through_extension?(error.frames) && !kept_by_ruby?(error.frames)
      elsif UNINIT.match?(error.kind)
        user = error.frames.find { |f| !SYSTEM_OBJECT.match?(f.obj.to_s) }
        user ? extension?(user) : false
      else
        ([error.frames] + error.more).any? { |frames| through_extension?(frames) }
      end
    end

    def extension?(frame) = frame.obj && @objects.include?(File.expand_path(frame.obj))

    def through_extension?(frames) = frames.any? { |f| extension?(f) }

    # Allocated by one of RUBY_KEEPS, called (directly or not) by the
    # extension.
    def kept_by_ruby?(frames)
      first = frames.index { |f| extension?(f) }
      frames[0...first].any? { |f| f.fn&.match?(RUBY_KEEPS) }
    end

    def unescape(text) = text&.gsub("&lt;", "<")&.gsub("&gt;", ">")&.gsub("&amp;", "&")
  end
end
