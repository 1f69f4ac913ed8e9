# frozen_string_literal: true

# Build support for gems whose C extensions use Cleat.
#
#   # ext/my_gem/extconf.rb
#   require "cleat/mkmf"
#   create_cleat_makefile("my_gem/my_gem")
#
# Cleat's sources are compiled into the extension itself (no shared library
# to find at run time); its symbols are hidden, so several Cleat-based gems
# load side by side, and where the linker can drop unused sections, the
# extension keeps only the parts of Cleat it uses.
require "mkmf"

module Cleat
  # Where the gem keeps the header and the library's C sources.
  module Build
    ROOT = File.expand_path("../..", __dir__)
    INCLUDE_DIR = File.join(ROOT, "include")
    SOURCE_DIR = File.join(ROOT, "src")

    module_function

    # Adds Cleat to the mkmf globals: header path, the library's sources
    # (through one-line wrappers named cleat_*.c, so they never collide with
    # the extension's own file names) and the flags.
    # Heap and globals are checked; stack frames are not instrumented
    # (asan-stack=0): Ruby unwinds them with longjmp and switches fiber stacks
    # without telling the sanitizer, which leaves stale redzones that turn
    # into false reports inside Ruby itself.
    SANITIZE_FLAGS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer " \
                     "--param=asan-stack=0 -g -O1"

    # Asked of a child Ruby like the one building, where no program's code
    # runs: src/region.c asked only at load, and a hook present then (a
    # TracePoint raising IO::Buffer::InvalidatedError on a freed slice) made
    # it lend zero-copy buffers that ~, &, | and ^ then read after a resize,
    # a crash (the seventh round's hostile reviews). It asks again at load.
    # The probe may read freed memory (a small heap block): a crash of the
    # child is a no.
    FREED_SLICE_PROBE = <<~'RUBY'
      Warning[:experimental] = false
      ok = %i[~ & | ^].all? do |op|
        root = IO::Buffer.new(64) # malloc'd: a read after free reads the heap, no crash
        slice = root.slice(0, 16)
        mask = IO::Buffer.new(1)
        root.free
        begin
          op == :~ ? ~slice : slice.public_send(op, mask)
          false
        rescue IO::Buffer::InvalidatedError
          true
        end
      end
      print(ok ? "refused" : "read")
    RUBY

    def io_buffer_checks_freed_slices?
      checking_for("IO::Buffer operators that refuse a slice of a freed buffer") do
        env = { "RUBYOPT" => nil, "RUBYLIB" => nil }
        out = IO.popen(env, [RbConfig.ruby, "--disable-gems", "-e", FREED_SLICE_PROBE], err: File::NULL, &:read)
        out == "refused"
      rescue SystemCallError
        false
      end
    end

    def configure(werror:, debug:, sanitize: ENV["CLEAT_SANITIZE"] == "1")
      $INCFLAGS << " -I#{INCLUDE_DIR}"
      own = Dir[File.join($srcdir, "*.c")].map { |path| File.basename(path) }
      wrappers = Dir[File.join(SOURCE_DIR, "*.c")].sort.map do |path|
        name = "cleat_#{File.basename(path)}"
        content = "#include \"#{path}\"\n"
        File.write(name, content) unless File.exist?(name) && File.read(name) == content
        name
      end
      $srcs = own + wrappers
      have_header("ruby/io/buffer.h") # IO::Buffer views (Ruby 3.1+)
      # Zero-copy IO::Buffer views need a Ruby whose IO::Buffer operators
      # refuse a slice of a freed buffer (3.3's and 3.4's read it).
      $defs << "-DCLEAT_IO_BUFFER_CHECKS_SLICES=1" if io_buffer_checks_freed_slices?
      have_const("RUBY_TYPED_DECL_MARKING", "ruby.h") # declarative marking (Ruby 3.3+)
      have_func("rb_ext_ractor_safe", "ruby.h")
      # Ractor copies (Ruby 3.0+): refused by Cleat where the copy would not be independent.
      have_func("rb_ractor_shareable_p", ["ruby.h", "ruby/ractor.h"])
      # The main thread's stack bounds: loans made there reuse their tokens
      # (src/borrow.c); without it every loan allocates one.
      have_func("pthread_getattr_np", "pthread.h")
      if debug
        # Exported by libruby without a public declaration; used only by the
        # debug checks. Where a Ruby lacks one, its check says so, here and
        # at run time: it is never off in silence.
        {
          "ruby_thread_has_gvl_p" => "Cleat calls without the GVL",
          "rb_objspace_reachable_objects_from" => "hand-written marks (CLEAT_MARK_BY_HAND)",
          "rb_objspace_each_objects" => "VALUEs kept in undeclared struct members"
        }.each do |function, check|
          next if have_func(function)

          warn "cleat: this Ruby does not export #{function}: debug builds cannot check #{check}"
        end
        # The object a singleton class belongs to (3.2+; before, a hidden
        # ivar): the undeclared-member check exempts String.singleton_class.
        have_func("rb_class_attached_object", "ruby.h")
        $defs << "-DCLEAT_DEBUG=1"
      end
      link_only_what_is_used
      call_ruby_through_the_got
      $CFLAGS << " -Werror" if werror
      return unless sanitize

      $CFLAGS << " #{SANITIZE_FLAGS}"
      $LDFLAGS << " -fsanitize=address,undefined"
      $DLDFLAGS << " -fsanitize=address,undefined"
    end

    # Every function and object of the library in a section of its own, and
    # a linker that drops the sections nothing reaches: an extension carries
    # the parts of Cleat it uses, not all of them (its Init_ function, and
    # whatever that reaches, stays). Probed, not assumed: GNU ld and lld say
    # --gc-sections, Apple's ld -dead_strip; a toolchain with neither links
    # everything, as before.
    SECTION_FLAGS = "-ffunction-sections -fdata-sections"
    DEAD_CODE_LDFLAGS = ["-Wl,--gc-sections", "-Wl,-dead_strip"].freeze

    def link_only_what_is_used
      program = "static int unused(void) { return 1; }\nint (*keep)(void) = unused;\nint main(void) { return 0; }\n"
      ldflag = checking_for("how to drop unused code (#{SECTION_FLAGS})", "%s") do
        DEAD_CODE_LDFLAGS.find do |flag|
          try_link(program, "#{SECTION_FLAGS} #{flag}")
        end || "no"
      end
      return if ldflag == "no"

      $CFLAGS << " #{SECTION_FLAGS}"
      $DLDFLAGS << " #{ldflag}"
    end

    # Calls into libruby (and libc) through the GOT entry the loader fills,
    # not through a PLT stub that jumps there: one indirect call instead of
    # a call and an indirect jump, and no PLT (16 bytes per function called,
    # 1.3 KB of code for the generated gem's extension, bench/size.rb). With
    # Ruby's usual -z now (and relro) nothing changes but that; without it,
    # those symbols are bound at load rather than at first call. Probed:
    # compilers or targets without it (Mach-O) build as before.
    NO_PLT_FLAG = "-fno-plt"

    def call_ruby_through_the_got
      works = checking_for("calls without a PLT (#{NO_PLT_FLAG})") do
        try_compile("int main(void) { return 0; }\n", "#{NO_PLT_FLAG} -Werror")
      end
      $CFLAGS << " #{NO_PLT_FLAG}" if works
    end

    # make knows the wrappers, not the files they include: name those too, so
    # an edit to Cleat's sources or header rebuilds what depends on it.
    def append_dependencies(makefile = "Makefile")
      headers = Dir[File.join(INCLUDE_DIR, "*.h"), File.join(SOURCE_DIR, "*.h")].sort.join(" ")
      # The Makefile too: a feature newly probed (a -DHAVE_... flag) must rebuild.
      rules = ["", "# Cleat's sources and headers", "$(OBJS): #{headers} #{makefile}"]
      Dir[File.join(SOURCE_DIR, "*.c")].sort.each do |path|
        rules << "cleat_#{File.basename(path, ".c")}.#{$OBJEXT}: #{path}"
      end
      File.write(makefile, rules.join("\n") + "\n", mode: "a")
    end
  end
end

# Writes the Makefile for +target+ with Cleat compiled in. Warnings become
# errors with werror: true (or CLEAT_WERROR=1). The debug checks are on with
# debug: true, CLEAT_DEBUG=1 or `--enable-cleat-debug`; CLEAT_SANITIZE=1
# builds with AddressSanitizer and UBSan (what `rake test:asan` does).
def create_cleat_makefile(target, werror: ENV["CLEAT_WERROR"] == "1",
                           debug: ENV["CLEAT_DEBUG"] == "1" || enable_config("cleat-debug", false))
  Cleat::Build.configure(werror: werror, debug: debug)
  create_makefile(target)
  Cleat::Build.append_dependencies
end
