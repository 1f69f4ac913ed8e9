# frozen_string_literal: true

require "test_helper"
require "open3"
require "rbconfig"
require "tmpdir"
require "cleat/rake_tasks"
require "cleat/valgrind_report"

# test:asan and test:valgrind are only worth their time if they fail on a
# real bug in an extension. Each test here runs a tiny Ruby the way the task
# runs the suite (same environment, same valgrind command line, same report
# filter) and calls a deliberately broken method of the test extension: the
# task's machinery must report it, and must stay quiet for a correct call.
# They run in the mode whose build and tools they need.
class TestSafetyTasks < Minitest::Test
  LIBS = $LOAD_PATH.select { |dir| File.exist?(File.join(dir, "cleat_test.so")) || dir.end_with?("/lib") }

  def ruby_command(code)
    [RbConfig.ruby, "--disable-gems", *LIBS.map { |dir| "-I#{dir}" }, "-rcleat_test", "-e", code]
  end

  # ---- test:asan: the sanitized build, libasan preloaded, reports in files ----

  def run_sanitized(code)
    skip "needs the sanitized build: runs under rake test:asan" unless Cleat::Testing::Mode.current == "asan"
    Dir.mktmpdir do |dir|
      out, status = Open3.capture2e(Cleat::RakeTasks.sanitizer_env(dir), *ruby_command(code))
      [status, Cleat::RakeTasks.sanitizer_reports(dir).map(&:last).join, out]
    end
  end

  def test_asan_reports_a_heap_overflow_in_the_extension
    status, reports, out = run_sanitized("CleatTest::Deliberate.heap_write(8, 8)")
    refute status.success?, out
    assert_equal Cleat::RakeTasks::ASAN_OPTIONS.fetch("exitcode"), status.exitstatus, out
    assert_match(/ERROR: AddressSanitizer: heap-buffer-overflow/, reports)
    assert_match(/in test_deliberate_heap_write .*cleat_test\.c/, reports)
  end

  # UBSan writes to stderr (see Cleat::RakeTasks::ASAN_OPTIONS), and aborts.
  def test_ubsan_reports_undefined_behaviour_in_the_extension
    status, _reports, out = run_sanitized("CleatTest::Deliberate.signed_overflow(1)")
    refute status.success?, out
    assert_match(/cleat_test\.c:\d+:\d+: runtime error: signed integer overflow/, out)
    assert_match Cleat::RakeTasks::SANITIZER_REPORT, out
  end

  def test_sanitizers_stay_quiet_for_correct_calls
    status, reports, out = run_sanitized("CleatTest::Deliberate.heap_write(8, 7); " \
                                         "CleatTest::Deliberate.signed_overflow(-1); GC.start")
    assert status.success?, out + reports
    assert_empty reports
    refute_match Cleat::RakeTasks::SANITIZER_REPORT, out
  end

  # ---- test:valgrind: memcheck, XML, errors kept only through our objects ----

  def run_valgrind(code)
    skip "needs valgrind: runs under rake test:valgrind" unless Cleat::Testing::Mode.current == "valgrind"
    Dir.mktmpdir do |dir|
      out, status = Open3.capture2e(Cleat::RakeTasks::VALGRIND_ENV, *Cleat::RakeTasks.valgrind_command(dir),
                                    *ruby_command(code))
      objects = LIBS.flat_map { |lib| Dir[File.join(File.expand_path(lib), "*.#{RbConfig::CONFIG["DLEXT"]}")] }
      [status, Cleat::ValgrindReport.new(Dir["#{dir}/*.xml"], objects), out]
    end
  end

  def test_valgrind_keeps_the_extensions_errors_and_filters_ruby_noise
    status, report, out = run_valgrind("CleatTest::Deliberate.heap_write(8, 8); CleatTest::Deliberate.leak(64); " \
                                       "CleatTest::Deliberate.uninitialised_branch(3)")
    assert status.success?, out # memcheck reports; the task decides
    found = report.errors.to_h { |e| [e.kind, e.frames.map(&:fn)] }
    assert_equal %w[InvalidWrite Leak_DefinitelyLost UninitCondition], found.keys.sort, report.summary
    assert_includes found["InvalidWrite"], "test_deliberate_heap_write", report.summary
    assert_includes found["Leak_DefinitelyLost"], "test_deliberate_leak", report.summary
    assert_includes found["UninitCondition"], "test_deliberate_uninitialised_branch", report.summary
    assert_operator report.ignored, :>, 0, "Ruby's own errors and leaks should be there, and filtered"
  end

  def test_valgrind_finds_nothing_in_correct_calls
    status, report, out = run_valgrind("CleatTest::Deliberate.heap_write(8, 7); " \
                                       "CleatTest::Holder.new(+'x').value; GC.start")
    assert status.success?, out
    assert_empty report.errors, report.summary
  end

  # ---- the valgrind filter itself, on reports of the shape valgrind writes ----

  def leak_xml(*frames)
    stack = frames.map { |fn, obj| "<frame><fn>#{fn}</fn><obj>#{obj}</obj></frame>" }.join
    "<error><kind>Leak_DefinitelyLost</kind><xwhat><text>16 bytes lost</text></xwhat><stack>#{stack}</stack></error>"
  end

  def filter(xml, extension)
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "1.xml"), xml)
      Cleat::ValgrindReport.new([File.join(dir, "1.xml")], [extension])
    end
  end

  # Found on a generated gem under GC.stress: a collection that our
  # allocation triggered lost one of Ruby 3.1's mark stack chunks.
  def test_valgrind_filter_leaves_leaks_of_a_gc_our_allocation_ran_to_ruby
    ext = "/gems/my_gem/lib/my_gem.so"
    ruby = "/usr/lib/libruby-3.1.so.3.1"
    gc_leak = leak_xml(["malloc", "vgpreload_memcheck-amd64-linux.so"], ["???", ruby], ["???", ruby],
                       ["rb_st_foreach", ruby], ["???", ruby], ["cleat__type_alloc", ext],
                       ["rb_class_new_instance_pass_kw", ruby])
    ours = leak_xml(["malloc", "vgpreload_memcheck-amd64-linux.so"], ["ruby_xmalloc", ruby],
                    ["my_gem_make_table", ext], ["rb_class_new_instance_pass_kw", ruby])
    report = filter(gc_leak + ours, ext)
    assert_equal 1, report.ignored
    assert_equal [["Leak_DefinitelyLost", "my_gem_make_table"]],
                 report.errors.map { |e| [e.kind, e.frames[2].fn] }
  end

  # Ruby 3.4 makes ASan warn about its large stacks; a warning alone is no
  # report, and test:asan failed on it.
  def test_asan_warnings_alone_are_no_report
    Dir.mktmpdir do |dir|
      File.write(File.join(dir, "asan.1"), "==1==WARNING: ASan is ignoring requested __asan_handle_no_return: " \
                                            "stack type: default\nFalse positive error reports may follow\n")
      assert_empty Cleat::RakeTasks.sanitizer_reports(dir)
      File.write(File.join(dir, "asan.2"), "==2==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n")
      assert_equal [File.join(dir, "asan.2")], Cleat::RakeTasks.sanitizer_reports(dir).map(&:first)
    end
  end
end
