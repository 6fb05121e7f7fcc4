"""
benchlib.py — what the Python benchmarks share: a section of
docs/PERFORMANCE.md replaced in place between its markers (or appended),
the commit being measured, the load average, percentiles, a process's
memory from /proc.
"""
import os
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def status_of(pid):
    """Peak and current RSS (KiB) and threads of a process, from /proc."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS", "Threads"):
                out[k] = int(v.split()[0])
    return out


def commit():
    """The short commit measured, with -dirty when the tree has changes."""
    try:
        c = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                           text=True, check=True).stdout.strip()
        return c or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def loadavg():
    """The 1-minute load average, as text."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def now_utc():
    return time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())


def machine():
    """One line: cores, CPU model, memory, kernel."""
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    u = os.uname()
    return "%d cores (%s), %d GiB, %s %s" % (os.cpu_count(), cpu, round(mem_kib / 1048576), u.sysname,
                                             u.release)


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def write_section(path, name, lines):
    """Replaces the section between <!-- name:begin --> and <!-- name:end --> (appends it if absent)."""
    begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
    body = "\n".join([begin] + lines + [end])
    text = open(path).read() if os.path.exists(path) else "# Performance\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + body + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    with open(path, "w") as f:
        f.write(text)
    print("bench: wrote the %s section of %s" % (name, path))
