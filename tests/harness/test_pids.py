"""stop_pid() stops the process spawn() started, and never another process that holds its pid later
(harness/util.py, PID_DIR): a pid is reused within minutes here (pid_max 32768), and a SIGTERM meant for an
exited double once killed another lane's pytest."""
import os
import subprocess
import sys

from harness import util


def sleeper(tmp_path):
    return util.spawn([sys.executable, "-c", "import time; time.sleep(60)"], str(tmp_path / "sleep.log"))


def test_spawn_records_the_start_time_and_stop_pid_stops_the_process(tmp_path):
    pid = sleeper(tmp_path)
    started = util._starttime(pid)
    assert util.alive(pid)
    assert util._recorded_starttime(pid) == started
    util.stop_pid(pid, "sleeper", grace=5)
    assert not util.alive(pid)
    # The record stays: a second stop of this number (machines.down after a power-off) must still know whose it was.
    assert util._recorded_starttime(pid) == started


def test_a_pid_held_by_a_process_that_started_at_another_time_is_never_signalled(tmp_path):
    """What a reused pid looks like: the number names a running process whose start time is not the recorded
    one. Simulated on a process of this test (another start time is written as the recorded one)."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.makedirs(util.PID_DIR, exist_ok=True)
        with open(util._marker(other.pid), "w") as f:
            f.write(str(int(util._starttime(other.pid)) - 100) + "\n")   # "our" process, gone, started earlier
        assert not util.alive(other.pid)
        util.stop_pid(other.pid, "a double that exited", grace=1)
        assert other.poll() is None, "stop_pid signalled a process it did not start"
    finally:
        other.kill()
        other.wait()


def test_a_pid_with_no_record_is_stopped_as_before(tmp_path):
    """A process started before this change, or by Popen without record_pid: the old behaviour."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        if os.path.exists(util._marker(other.pid)):
            os.unlink(util._marker(other.pid))
        util.stop_pid(other.pid, "unrecorded", grace=5)
        assert other.wait(5) is not None
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()
