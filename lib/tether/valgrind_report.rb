# frozen_string_literal: true

module Tether
  # Reads valgrind memcheck XML files and keeps what concerns the extensions,
  # the way Shopify's ruby_memcheck does: an error or definite leak counts
  # only when its stack passes through one of the extensions' shared objects,
  # and not when Ruby itself caused it by scanning the machine stack
  # conservatively (which reads uninitialised words by design).
  class ValgrindReport
    Frame = Struct.new(:fn, :obj, :file, :line) do
      def to_s = "#{fn || '???'} (#{file ? "#{file}:#{line}" : File.basename(obj.to_s)})"
    end
    Error = Struct.new(:kind, :what, :frames) do
      def to_s = "#{kind}: #{what}\n" + frames.first(25).map { |f| "    #{f}" }.join("\n")
    end

    CONSERVATIVE_SCAN = /\A(mark_locations_array|gc_mark_maybe|rb_gc_mark_maybe|gc_mark_and_pin_maybe|
                            mark_current_machine_context|rb_gc_mark_machine_stack|each_location|
                            gc_mark_stack_values|rb_gc_mark_vm_stack_values|rb_gc_mark_locations|
                            each_stack_location|mark_stack_locations|rb_execution_context_mark)\b/x

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
      stack = body[%r{<stack>(.*?)</stack>}m, 1].to_s
      frames = stack.scan(%r{<frame>(.*?)</frame>}m).map do |(frame)|
        Frame.new(unescape(frame[%r{<fn>(.*?)</fn>}m, 1]), frame[%r{<obj>(.*?)</obj>}m, 1],
                  frame[%r{<file>(.*?)</file>}m, 1], frame[%r{<line>(.*?)</line>}m, 1])
      end
      Error.new(kind, unescape(what), frames)
    end

    def ours?(error)
      return false unless error.frames.any? { |f| f.obj && @objects.include?(File.expand_path(f.obj)) }
      return false if error.kind.to_s.start_with?("Leak_") && error.kind != "Leak_DefinitelyLost"

      error.frames.none? { |f| f.fn&.match?(CONSERVATIVE_SCAN) }
    end

    def unescape(text) = text&.gsub("&lt;", "<")&.gsub("&gt;", ">")&.gsub("&amp;", "&")
  end
end
