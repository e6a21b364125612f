"""Runs pytest suites against a sanitized scopebox-server and fails on any
sanitizer report, even one the suites would not notice (a report at the
server's exit, after the test that caused it passed).

    run_sanitized.py REPORT_DIR TEST_FILE...

SCOPEBOX_SERVER names the sanitized binary (tests/sanitize/CMakeLists.txt).
The reports go to REPORT_DIR/report.<pid> (the runtimes' log_path), and
halt_on_error stops the server at the first one, so the suite fails too.
"""
import glob
import os
import shutil
import subprocess
import sys

def main():
    reports, tests = sys.argv[1], sys.argv[2:]
    shutil.rmtree(reports, ignore_errors=True)
    os.makedirs(reports)
    log = os.path.join(reports, "report")
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = f"halt_on_error=1:detect_leaks=1:log_path={log}"
    env["UBSAN_OPTIONS"] = f"halt_on_error=1:print_stacktrace=1:log_path={log}"
    # No suppressions: the server's own races are fixed, and MHD's and
    # glibc's locks are seen through the interceptors.
    env["TSAN_OPTIONS"] = f"halt_on_error=1:second_deadlock_stack=1:log_path={log}"
    rc = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], env=env)
    found = sorted(glob.glob(log + ".*"))
    for path in found:
        with open(path, errors="replace") as f:
            print(f"==== sanitizer report {path}\n{f.read()}", flush=True)
    if found:
        print(f"{len(found)} sanitizer report(s): failing", flush=True)
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
