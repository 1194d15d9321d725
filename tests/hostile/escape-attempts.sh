#!/bin/bash
# Escape attempts, run inside a sandbox as root and as user by the Rust isolation tests and the
# JS scenario. Each attempt prints one line, `HELD <name> — <why>` when the sandbox held, or
# `ESCAPED <name> — <what happened>`; the last line is `DONE <number of attempts>`. What only
# the host can see (its files unchanged, sandkitd alive) the caller checks afterwards.
#
# Environment (all optional):
#   SECRET_PATHS   host paths (':'-separated) holding SECRET_TEXT, planted outside the template
#   SECRET_TEXT    a string no file of the sandbox may contain
#   MARKER_DIR     a host directory the caller hashes before and after
#   HOST_ONLY      host paths (':'-separated) that must not exist in the sandbox
#   SANDKITD_PID   sandkitd's pid on the host
#   FORK_BOMB=1    also run a fork bomb (then MAX_PIDS is the sandbox's limit)
#   FILL_TMP=1     also fill /tmp
set -u
export LC_ALL=C
count=0
held() { count=$((count + 1)); echo "HELD $1 — $2"; }
escaped() { count=$((count + 1)); echo "ESCAPED $1 — $2"; }
short() { tr '\n' ' ' | head -c 200; }

# must_fail NAME COMMAND...: the command must not succeed.
must_fail() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    escaped "$name" "succeeded: $(printf '%s' "$out" | short)"
  else
    held "$name" "$(printf '%s' "$out" | tail -n 1 | short)"
  fi
}

me=$(id -un)

# ── who we are ──────────────────────────────────────────────────────────────────────────────
read -r _ outside _ < /proc/self/uid_map
if [ "$outside" = 0 ]; then
  escaped id_map "uid 0 inside is uid 0 on the host: $(short < /proc/self/uid_map)"
else
  held id_map "uid 0 inside is host uid $outside"
fi
status() { sed -n "s/^$1:[[:space:]]*//p" /proc/self/status; }
if [ "$(status NoNewPrivs)" = 1 ]; then held no_new_privs "set"; else escaped no_new_privs "not set"; fi
if [ "$(status Seccomp)" = 2 ]; then held seccomp "filter installed"; else escaped seccomp "mode $(status Seccomp)"; fi
eff=$((16#$(status CapEff)))
if (( eff & (1 << 21) )); then
  escaped capabilities "CAP_SYS_ADMIN is effective ($(status CapEff))"
else
  held capabilities "effective $(status CapEff), bounding $(status CapBnd)"
fi

# ── mounts ──────────────────────────────────────────────────────────────────────────────────
for mp in / /usr /etc /proc /proc/sys /sys /dev /tmp; do
  must_fail "remount_rw:$mp" mount -o remount,rw "$mp"
done
must_fail bind_mount_root mount --bind / /mnt
must_fail mount_tmpfs mount -t tmpfs none /mnt
must_fail mount_proc mount -t proc proc /mnt
must_fail mount_sysfs mount -t sysfs sysfs /mnt
must_fail mount_host_disk mount /dev/vda /mnt
must_fail umount_proc_mask umount /proc/kcore
must_fail umount_sys umount -l /sys

# ── devices ─────────────────────────────────────────────────────────────────────────────────
for spec in "sda b 8 0" "vda b 253 0" "mem c 1 1" "kmsg c 1 11"; do
  set -- $spec
  node=/tmp/node-$1-$$
  if mknod "$node" "$2" "$3" "$4" 2>/dev/null; then
    if head -c 16 "$node" > /dev/null 2>&1; then
      escaped "mknod:$1" "made and read $node"
    else
      held "mknod:$1" "made $node but cannot open it"
    fi
    rm -f "$node"
  else
    held "mknod:$1" "$(mknod "$node" "$2" "$3" "$4" 2>&1 | short)"
  fi
done
present=""
for d in /dev/sda /dev/vda /dev/xvda /dev/nvme0n1 /dev/mem /dev/kmem /dev/port /dev/kmsg /dev/fuse /dev/loop0 /dev/net/tun /dev/console; do
  [ -e "$d" ] && present="$present $d"
done
if [ -n "$present" ]; then escaped host_devices "present:$present"; else held host_devices "no disks, memory or kernel devices"; fi
extra=$(ls -A /dev | grep -vxE 'null|zero|full|random|urandom|tty|pts|ptmx|fd|stdin|stdout|stderr|shm' | tr '\n' ' ')
if [ -n "$extra" ]; then escaped dev_contents "unexpected: $extra"; else held dev_contents "only the safe set"; fi

# ── kernel settings and interfaces ──────────────────────────────────────────────────────────
must_fail write_proc_sys:sysrq sh -c 'echo 1 > /proc/sys/kernel/sysrq'
must_fail write_proc_sys:drop_caches sh -c 'echo 3 > /proc/sys/vm/drop_caches'
must_fail write_proc_sys:hostname sh -c 'echo pwned > /proc/sys/kernel/hostname'
must_fail write_proc_sys:core_pattern sh -c 'echo "|/tmp/x" > /proc/sys/kernel/core_pattern'
must_fail sysrq_trigger sh -c 'echo h > /proc/sysrq-trigger'
kcore=$(head -c 16 /proc/kcore 2>/dev/null | wc -c)
if [ "$kcore" -gt 0 ]; then escaped read_kcore "read $kcore bytes"; else held read_kcore "masked"; fi
must_fail write_sys:uevent_helper sh -c 'echo /tmp/x > /sys/kernel/uevent_helper'
must_fail write_sys:mtu sh -c 'echo 1400 > /sys/class/net/lo/mtu'
if [ -n "$(ls -A /sys/firmware 2>/dev/null)" ]; then escaped sys_firmware "visible"; else held sys_firmware "masked"; fi
must_fail lower_oom_score sh -c 'echo -1000 > /proc/self/oom_score_adj'
must_fail dmesg dmesg
must_fail sethostname hostname pwned
if command -v modprobe > /dev/null; then must_fail modprobe modprobe dummy; fi
must_fail nsenter_pid1 nsenter -t 1 -m -u -i -n -p true
must_fail unshare_user unshare -U -r true
must_fail unshare_mount unshare -m true
must_fail unshare_net unshare -n true
must_fail unshare_pid unshare -p -f true

# System calls a container runtime's filter refuses: each must be refused before the kernel
# acts on it (EPERM, or ENOSYS where programs are meant to fall back).
python3 - <<'PY'
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
arch = os.uname().machine
nr = {
    'x86_64': dict(keyctl=250, add_key=248, request_key=249, bpf=321, perf_event_open=298,
                   userfaultfd=323, kexec_load=246, kexec_file_load=320, reboot=169,
                   open_by_handle_at=304, io_uring_setup=425, swapon=167, settimeofday=164,
                   clock_settime=227, init_module=175, finit_module=313, delete_module=176,
                   unshare=272, setns=308, mount=165, pivot_root=155, fsopen=430,
                   open_tree=428, acct=163, syslog=103),
    'aarch64': dict(keyctl=219, add_key=217, request_key=218, bpf=280, perf_event_open=241,
                    userfaultfd=282, kexec_load=104, kexec_file_load=294, reboot=142,
                    open_by_handle_at=265, io_uring_setup=425, swapon=224, settimeofday=170,
                    clock_settime=112, init_module=105, finit_module=273, delete_module=106,
                    unshare=97, setns=268, mount=40, pivot_root=41, fsopen=430,
                    open_tree=428, acct=89, syslog=116),
}[arch]
# Arguments a kernel would reject anyway (null pointers, bad descriptors), so a call that got
# through would still do nothing: the errno tells the filter from the kernel.
probes = {
    'keyctl': (0, 0, 0, 0, 0), 'add_key': (0, 0, 0, 0, 0), 'request_key': (0, 0, 0, 0),
    'bpf': (0, 0, 0), 'perf_event_open': (0, 0, -1, -1, 0), 'userfaultfd': (0,),
    'kexec_load': (0, 0, 0, 0), 'kexec_file_load': (-1, -1, 0, 0, 0),
    'reboot': (0, 0, 0, 0), 'open_by_handle_at': (-1, 0, 0), 'swapon': (0, 0),
    'settimeofday': (0, 0), 'clock_settime': (0, 0), 'init_module': (0, 0, 0),
    'finit_module': (-1, 0, 0), 'delete_module': (0, 0), 'unshare': (0x10000000,),
    'setns': (-1, 0), 'mount': (0, 0, 0, 0, 0), 'pivot_root': (0, 0), 'fsopen': (0, 0),
    'open_tree': (-1, 0, 0), 'acct': (0,), 'syslog': (3, 0, 0), 'io_uring_setup': (0, 0),
}
expected = {'io_uring_setup': errno.ENOSYS}
for name, args in probes.items():
    ctypes.set_errno(0)
    rc = libc.syscall(nr[name], *[ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    want = expected.get(name, errno.EPERM)
    if rc != -1:
        print(f"ESCAPED syscall:{name} — returned {rc}")
    elif e != want:
        print(f"ESCAPED syscall:{name} — reached the kernel ({errno.errorcode.get(e, e)})")
    else:
        print(f"HELD syscall:{name} — {errno.errorcode[e]}")
print(f"COUNT {len(probes)}")
PY
# (the python block's lines are counted by the caller through its COUNT line)

# ── other processes ─────────────────────────────────────────────────────────────────────────
must_fail ptrace_pid1 python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.ptrace(16, 1, 0, 0) == 0 else 1)'
must_fail strace_pid1 timeout 5 strace -p 1 -e trace=none
must_fail read_pid1_environ cat /proc/1/environ
must_fail list_pid1_root ls /proc/1/root/
must_fail read_pid1_exe readlink -e /proc/1/exe
must_fail list_pid1_fds ls /proc/1/fd
# Nothing of sandkitd's or its agent's (the agent's socket, a descriptor sandkitd inherited)
# may reach the processes of the sandbox: a fresh process holds its stdio only.
fds=$(python3 -c 'import os; print(" ".join(f"{n}->{os.readlink(f"/proc/self/fd/{n}")}" for n in os.listdir("/proc/self/fd") if int(n) > 2 and os.path.exists(f"/proc/self/fd/{n}") and not os.readlink(f"/proc/self/fd/{n}").startswith("/proc/")))' </dev/null)
if [ -n "$fds" ]; then escaped inherited_descriptors "$fds"; else held inherited_descriptors "stdio only"; fi
procs=$(ls /proc | grep -c '^[0-9]')
if [ "$procs" -gt 40 ]; then escaped see_processes "$procs processes visible"; else held see_processes "$procs processes, all the sandbox's"; fi
if [ -n "${SANDKITD_PID:-}" ]; then
  kill -9 "$SANDKITD_PID" 2>/dev/null
  held kill_sandkitd "kill -9 $SANDKITD_PID reached no host process (the host checks it lives)"
fi

# ── the host's files ────────────────────────────────────────────────────────────────────────
IFS=: read -r -a secrets <<< "${SECRET_PATHS:-}"
for p in "${secrets[@]}"; do
  [ -n "$p" ] || continue
  must_fail "read_secret:$p" cat "$p"
done
if [ -n "${SECRET_TEXT:-}" ]; then
  # Everywhere host files could be (the template's /usr and /opt are searched by name only).
  found=$(timeout 60 grep -rlsF -- "$SECRET_TEXT" /etc /root /home /var /srv /mnt /media /tmp /run 2>/dev/null | head -3 | tr '\n' ' ')
  found="$found$(find /usr /opt -name "*$SECRET_TEXT*" 2>/dev/null | head -3)"
  if [ -n "$found" ]; then escaped secret_anywhere "found in $found"; else held secret_anywhere "no file of the sandbox holds it"; fi
fi
IFS=: read -r -a host_only <<< "${HOST_ONLY:-}"
for p in "${host_only[@]}"; do
  [ -n "$p" ] || continue
  if [ -e "$p" ]; then escaped "host_path:$p" "exists"; else held "host_path:$p" "absent"; fi
done
if grep -qE '^[^:]+:\$' /etc/shadow 2>/dev/null; then
  escaped shadow_hashes "/etc/shadow holds password hashes"
else
  held shadow_hashes "no password hashes"
fi
if [ -n "${MARKER_DIR:-}" ]; then
  # Writes here must land in the sandbox's own copy; the caller hashes the host's.
  mkdir -p "$MARKER_DIR" 2>/dev/null && echo pwned > "$MARKER_DIR/pwned" 2>/dev/null
  rm -rf "$MARKER_DIR"/* 2>/dev/null
  held write_marker "wrote and removed in the sandbox's view"
fi
if [ "$me" = root ]; then
  # The old way out of a chroot: keep a descriptor of /, chroot deeper, climb back up.
  before=$(ls -A / | tr '\n' ' ')
  after=$(python3 - <<'PY'
import os
os.makedirs('/tmp/jail', exist_ok=True)
fd = os.open('/', os.O_RDONLY)
os.chroot('/tmp/jail')
os.fchdir(fd)
for _ in range(64):
    os.chdir('..')
os.chroot('.')
print(' '.join(sorted(os.listdir('/'))))
PY
  )
  if [ "$(echo $before | tr ' ' '\n' | sort | tr '\n' ' ')" = "$(echo $after | tr ' ' '\n' | sort | tr '\n' ' ')" ]; then
    held chroot_escape "climbed back only to the sandbox's /"
  else
    escaped chroot_escape "reached a / with: $after"
  fi
else
  must_fail become_root python3 -c 'import os; os.setuid(0)'
  must_fail su_root su -c true root
fi

# ── resources ───────────────────────────────────────────────────────────────────────────────
if [ "${FILL_TMP:-}" = 1 ]; then
  out=$(dd if=/dev/zero of=/tmp/fill bs=1M 2>&1 | tr '\n' ' ')
  size=$(du -sm /tmp/fill | cut -f1)
  rm -f /tmp/fill
  case "$out" in
    *"No space left"*) held fill_tmp "stopped at $size MiB: $out" ;;
    *) escaped fill_tmp "no limit hit after $size MiB: $out" ;;
  esac
fi
if [ "${FORK_BOMB:-}" = 1 ]; then
  # Under a bomb nothing can fork, so one process made before it starts the bomb in a session
  # of its own, counts the processes, and ends the session, without forking again. Bounded in
  # time here, and in size by the sandbox's pids limit.
  result=$(python3 - <<'PY'
import os, signal, time
bomb = os.fork()
if bomb == 0:
    os.setsid()
    null = os.open('/dev/null', os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.execvp('bash', ['bash', '-c', 'b() { b | b & }; b'])
time.sleep(3)
procs = lambda: [int(p) for p in os.listdir('/proc') if p.isdigit()]
def in_bomb(pid):
    try:
        return os.getsid(pid) == bomb
    except OSError:
        return False
during = len(procs())
for _ in range(200):
    victims = [p for p in procs() if in_bomb(p)]
    if not victims:
        break
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(0.05)
try:
    os.waitpid(bomb, 0)
except OSError:
    pass
time.sleep(0.3)
print(during, len(procs()))
PY
  )
  read -r during left <<< "$result"
  if [ -n "$during" ] && [ "$during" -le "${MAX_PIDS:-1024}" ] && [ "$left" -le 20 ]; then
    held fork_bomb "at most ${MAX_PIDS:-1024} allowed: $during processes during the bomb, $left after"
  else
    escaped fork_bomb "'$during' processes during the bomb (limit ${MAX_PIDS:-1024}), '$left' after"
  fi
fi
echo "DONE $count"
