# frozen_string_literal: true

module Cleat
  # RDoc and YARD read a C extension's classes and methods from the calls
  # they know (rb_define_class_under, rb_define_method, VALUE func(...)), and
  # see nothing in Cleat's: a class named in CLEAT_TYPE and defined by
  # cleat_type_define_class, methods written with CLEAT_SHARED /
  # CLEAT_EXCLUSIVE / CLEAT_INIT and defined with CLEAT_DEFINE_METHOD.
  # DocSource.translate rewrites a file's text into those calls, line for
  # line, for the documentation tools only (lib/rdoc/discover.rb hooks it
  # into RDoc, lib/yard-cleat.rb into YARD); the compiler never sees it.
  #
  # What it rewrites, in a file that uses Cleat:
  #   CLEAT_TYPE(t, "A::B", ...) + `k = cleat_type_define_class(&t, parent)`
  #       -> `k = rb_define_class_under(<A>, "B", parent)`, A defined as a
  #          module unless the file defines it otherwise;
  #   the comment above CLEAT_TYPE -> the class's comment (Document-class);
  #   CLEAT_SHARED(f, t, decl, a, b) { -> VALUE f(VALUE self, VALUE a, VALUE b) {
  #       (its comment, call-seq included, is the method's);
  #   CLEAT_DEFINE_METHOD(k, "name", f) -> rb_define_method(k, "name", f, arity),
  #       and the same for the _PRIVATE_METHOD, _SINGLETON_METHOD and
  #       _MODULE_FUNCTION forms.
  module DocSource
    DOOR = /\bCLEAT_(?:SHARED|EXCLUSIVE|INIT)(?<argv>_ARGV)?\s*\((?<args>[^()]*)\)/m
    TYPE = /\bCLEAT_TYPE\s*\(\s*(?<var>\w+)\s*,\s*"(?<name>[\w:]+)"/
    DEFINE_CLASS = /(?<lhs>(?:\bVALUE\s+)?[\w.]+\s*=\s*)?\bcleat_type_define_class\s*\(\s*&\s*(?<type>\w+)\s*,
                    \s*(?<parent>[\w.>-]+)\s*\)/x
    DEFINE = /\bCLEAT_DEFINE_(?<kind>METHOD|PRIVATE_METHOD|SINGLETON_METHOD|MODULE_FUNCTION)\s*\(
              \s*(?<klass>[\w.]+)\s*,\s*(?<name>"[^"]+")\s*,\s*(?<function>\w+)\s*\)/x
    RUBY_CALL = {
      "METHOD" => "rb_define_method", "PRIVATE_METHOD" => "rb_define_private_method",
      "SINGLETON_METHOD" => "rb_define_singleton_method", "MODULE_FUNCTION" => "rb_define_module_function"
    }.freeze

    module_function

    # The comment right above each CLEAT_TYPE becomes its class's
    # (Document-class), one line more at its top and one less after it, so
    # line numbers stay. The comment is found from its "*/" back to the
    # first "/*" after the comment before it (comments do not nest), not by
    # a pattern tried at every "/*": that took minutes on a comment full of
    # them (the fifth hostile review), and stopping at the last "/*" cut a
    # comment holding a glob such as ext/*.so. The search works on the
    # bytes (a character index into a String with any non-ASCII character
    # counts from its start) and looks no further than the comment, so the
    # whole file is read a bounded number of times (the sixth review: a file
    # of `*/ CLEAT_TYPE` lines took 10 s a megabyte).
    def document_classes(text)
      bytes = text.b
      out = +"".b
      done = 0
      bytes.scan(TYPE) do
        match = Regexp.last_match
        from = comment_start(bytes, match.begin(0))
        next unless from && from >= done

        comment = bytes.byteslice(from, match.begin(0) - from)
        document = comment.sub(%r{\A/\*}, "/* Document-class: #{match[:name]}\n *").sub(/\*\/(\s*)\n/, '*/\1 ')
        out << bytes.byteslice(done, from - done) << document
        done = match.begin(0)
      end
      (out << bytes.byteslice(done, bytes.bytesize - done)).force_encoding(text.encoding)
    end

    SPACE_BYTES = " \t\n\v\f\r".bytes.freeze

    # Where the comment that ends right before pos (whitespace between)
    # starts, or nil; bytes is a binary String.
    def comment_start(bytes, pos)
      close = pos
      close -= 1 while close.positive? && SPACE_BYTES.include?(bytes.getbyte(close - 1))
      return nil unless close >= 2 && bytes.byteslice(close - 2, 2) == "*/"

      previous = bytes.rindex("*/", close - 3)
      start = previous ? previous + 2 : 0
      return nil if close - 2 <= start

      offset = bytes.byteslice(start, close - 2 - start).index("/*")
      offset && start + offset
    end

    # The text of a C file as RDoc and YARD understand it; a file without
    # Cleat's macros comes back unchanged.
    def translate(source)
      return source unless source.include?("CLEAT_")

      types = source.scan(TYPE).to_h
      arities = {}
      text = source.gsub(DOOR) do
        match = Regexp.last_match
        function, _type, _decl, *params = match[:args].split(",").map(&:strip)
        arities[function] = match[:argv] ? -1 : params.size
        head = match[:argv] ? "VALUE #{function}(int argc, VALUE *argv, VALUE self)" :
                              "VALUE #{function}(#{['VALUE self', *params.map { |p| "VALUE #{p}" }].join(', ')})"
        head + ("\n" * match[0].count("\n")) # line numbers stay
      end
      text = document_classes(text)
      defined = {}
      text = text.gsub(DEFINE_CLASS) do
        match = Regexp.last_match
        name = types[match[:type]] or next match[0]
        *outer, last = name.split("::")
        lhs = match[:lhs] || "cleat_doc_class_#{match[:type]} = "
        next "#{lhs}rb_define_class(\"#{last}\", #{match[:parent]})" if outer.empty?

        under = define_modules(outer, defined)
        "#{defined.delete(:code)}#{lhs}rb_define_class_under(#{under}, \"#{last}\", #{match[:parent]})"
      end
      text.gsub(DEFINE) do
        match = Regexp.last_match
        "#{RUBY_CALL[match[:kind]]}(#{match[:klass]}, #{match[:name]}, #{match[:function]}, " \
          "#{arities.fetch(match[:function], -1)})"
      end
    end

    # The variable naming module path (A::B) for the tools, defined once
    # per file: code to put before the class definition in defined[:code].
    def define_modules(path, defined)
      code = +""
      path.each_index do |i|
        var = "cleat_doc_#{path[0..i].join('_')}"
        next if defined[var]

        defined[var] = true
        code << (i.zero? ? "#{var} = rb_define_module(\"#{path[i]}\"); " :
                           "#{var} = rb_define_module_under(cleat_doc_#{path[0...i].join('_')}, \"#{path[i]}\"); ")
      end
      defined[:code] = code
      "cleat_doc_#{path.join('_')}"
    end
  end
end
