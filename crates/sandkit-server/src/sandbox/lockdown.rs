//! The locks a sandbox's PID 1 puts on itself before it starts anything, inherited by every
//! process it forks or execs: a container's default capability set (bounding, effective and
//! permitted cut to it, nothing inheritable or ambient), no new privileges through exec, not
//! dumpable (nothing in the sandbox may ptrace PID 1 or read its /proc files), and a seccomp
//! filter that denies the system calls a hostile root could turn against the host's kernel
//! (modules, kexec, keyrings, BPF, perf, mounts, new namespaces, clocks, swap, io_uring...).

#[cfg(target_endian = "big")]
compile_error!(
    "the seccomp filter reads the low word of 64-bit arguments at little-endian offsets"
);

use libc::{c_int, c_ulong, sock_filter};
use nix::errno::Errno;

// Capability numbers, from <linux/capability.h>.
const CAP_CHOWN: u32 = 0;
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_FOWNER: u32 = 3;
const CAP_FSETID: u32 = 4;
const CAP_KILL: u32 = 5;
const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
const CAP_SETPCAP: u32 = 8;
const CAP_NET_BIND_SERVICE: u32 = 10;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_CHROOT: u32 = 18;
/// Not kept, but what the agent itself needs until the sandbox is named (`sethostname`).
pub const CAP_SYS_ADMIN: u32 = 21;
const CAP_MKNOD: u32 = 27;
const CAP_AUDIT_WRITE: u32 = 29;
const CAP_SETFCAP: u32 = 31;

/// Capabilities a sandbox's root keeps (the default set of Docker/runc): CHOWN, DAC_OVERRIDE,
/// FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE,
/// SYS_CHROOT, KILL, AUDIT_WRITE.
pub const KEPT_CAPABILITIES: &[u32] = &[
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_FSETID,
    CAP_FOWNER,
    CAP_MKNOD,
    CAP_NET_RAW,
    CAP_SETGID,
    CAP_SETUID,
    CAP_SETFCAP,
    CAP_SETPCAP,
    CAP_NET_BIND_SERVICE,
    CAP_SYS_CHROOT,
    CAP_KILL,
    CAP_AUDIT_WRITE,
];

/// [`KEPT_CAPABILITIES`] as a bit mask, the form capset and /proc/*/status use.
const KEPT_MASK: u64 = kept_mask();

const fn kept_mask() -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    while i < KEPT_CAPABILITIES.len() {
        mask |= 1 << KEPT_CAPABILITIES[i];
        i += 1;
    }
    mask
}

/// The last capability to try dropping when /proc/sys/kernel/cap_last_cap cannot be read
/// (CAP_CHECKPOINT_RESTORE, the last one as of Linux 6.x); the loop also ends at EINVAL.
const FALLBACK_LAST_CAP: u32 = 40;

/// `_LINUX_CAPABILITY_VERSION_3`: 64-bit capability sets, as two 32-bit data words.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

/// `struct __user_cap_data_struct`: one 32-bit word of each set.
#[repr(C)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// A system call that failed: which, and errno. Making one allocates nothing, so the work up
/// to the point where the message is built stays async-signal-safe.
#[derive(Debug, Clone, Copy)]
struct Failure {
    call: &'static str,
    /// The capability being dropped, if that is what failed.
    cap: Option<u32>,
    errno: Errno,
}

impl Failure {
    fn new(call: &'static str, errno: Errno) -> Self {
        Failure {
            call,
            cap: None,
            errno,
        }
    }
}

impl From<Failure> for String {
    fn from(failure: Failure) -> String {
        match failure.cap {
            Some(cap) => format!("{}, {cap}): {}", failure.call, failure.errno.desc()),
            None => format!("{}: {}", failure.call, failure.errno.desc()),
        }
    }
}

/// prctl with integer arguments only; the kernel wants the unused ones 0.
fn prctl(option: c_int, arg2: c_ulong, arg3: c_ulong) -> Result<c_int, Errno> {
    let zero: c_ulong = 0;
    // SAFETY: every option used here takes integers (no pointers), and the rest are zero.
    let result = unsafe { libc::prctl(option, arg2, arg3, zero, zero) };
    if result < 0 {
        Err(Errno::last())
    } else {
        Ok(result)
    }
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1).
pub fn set_no_new_privs() -> Result<(), String> {
    set_no_new_privs_raw().map_err(String::from)
}

fn set_no_new_privs_raw() -> Result<(), Failure> {
    // Exec can no longer grant anything (setuid bits, file capabilities), and it lets an
    // unprivileged process install a seccomp filter.
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0)
        .map(drop)
        .map_err(|errno| Failure::new("prctl(PR_SET_NO_NEW_PRIVS)", errno))
}

/// prctl(PR_SET_DUMPABLE, 0): nothing in the sandbox may ptrace or read /proc/1/* of the agent.
pub fn set_not_dumpable() -> Result<(), String> {
    prctl(libc::PR_SET_DUMPABLE, 0, 0)
        .map(drop)
        .map_err(|errno| String::from(Failure::new("prctl(PR_SET_DUMPABLE)", errno)))
}

/// Drops every capability not in KEPT_CAPABILITIES from the bounding set (PR_CAPBSET_DROP for
/// 0..=last cap, reading /proc/sys/kernel/cap_last_cap, falling back to 40 if unreadable;
/// EINVAL for an unknown cap ends the loop), clears the ambient set (PR_CAP_AMBIENT_CLEAR_ALL;
/// ignore EINVAL on old kernels), and sets effective = permitted = KEPT set plus `own`,
/// inheritable = empty with the raw capset syscall (_LINUX_CAPABILITY_VERSION_3, two 32-bit
/// data words). `own` stays with this process only: not in the bounding set, no program it
/// runs can get it; [`give_up_own`] drops it later.
pub fn drop_capabilities(own: &[u32]) -> Result<(), String> {
    drop_capabilities_raw(own).map_err(String::from)
}

/// Drops the capabilities [`drop_capabilities`] left to this process alone.
pub fn give_up_own() -> Result<(), String> {
    capset(KEPT_MASK).map_err(String::from)
}

fn drop_capabilities_raw(own: &[u32]) -> Result<(), Failure> {
    // The bounding set first (that takes CAP_SETPCAP, which is kept anyway): it caps what any
    // later exec can give back, whatever files the sandbox has.
    let last = last_cap().unwrap_or(FALLBACK_LAST_CAP);
    for cap in 0..=last {
        if is_kept(cap) {
            continue;
        }
        match prctl(libc::PR_CAPBSET_DROP, c_ulong::from(cap), 0) {
            Ok(_) => {}
            // A capability this kernel does not know: there are none past it either.
            Err(Errno::EINVAL) => break,
            Err(errno) => {
                return Err(Failure {
                    call: "prctl(PR_CAPBSET_DROP",
                    cap: Some(cap),
                    errno,
                });
            }
        }
    }
    // Ambient capabilities would survive exec for unprivileged programs; kernels before 4.3
    // have none (EINVAL).
    let clear_all = c_ulong::from(libc::PR_CAP_AMBIENT_CLEAR_ALL.unsigned_abs());
    match prctl(libc::PR_CAP_AMBIENT, clear_all, 0) {
        Ok(_) | Err(Errno::EINVAL) => {}
        Err(errno) => return Err(Failure::new("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno)),
    }
    let own = own
        .iter()
        .filter(|c| **c < 64)
        .fold(0u64, |mask, c| mask | 1 << c);
    capset(KEPT_MASK | own)
}

/// Effective and permitted become `mask`, inheritable nothing.
fn capset(mask: u64) -> Result<(), Failure> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // The low word holds capabilities 0..=31, the high word 32..=63.
    let words = [mask as u32, (mask >> 32) as u32];
    let data = words.map(|word| CapData {
        effective: word,
        permitted: word,
        inheritable: 0,
    });
    // SAFETY: version 3 reads one header and two data structs, all of which live on this
    // stack frame for the whole call; pid 0 means this thread.
    let result =
        unsafe { libc::syscall(libc::SYS_capset, &header as *const CapHeader, data.as_ptr()) };
    if result < 0 {
        return Err(Failure::new("capset", Errno::last()));
    }
    Ok(())
}

fn is_kept(cap: u32) -> bool {
    cap < 64 && (KEPT_MASK >> cap) & 1 == 1
}

/// The kernel's highest capability number, from /proc, read without allocating.
fn last_cap() -> Option<u32> {
    let path = c"/proc/sys/kernel/cap_last_cap";
    // SAFETY: a NUL-terminated path and plain flags; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 16];
    // SAFETY: reads at most buf.len() bytes into buf, which is ours.
    let read = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: fd was opened above and is not used after this.
    unsafe { libc::close(fd) };
    let read = usize::try_from(read).ok()?;
    parse_decimal(buf.get(..read)?)
}

fn parse_decimal(bytes: &[u8]) -> Option<u32> {
    let digits = bytes.trim_ascii();
    if digits.is_empty() {
        return None;
    }
    let mut value: u32 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u32::from(byte - b'0'))?;
    }
    Some(value)
}

/// The seccomp BPF program for this architecture (x86_64 and aarch64; any other architecture:
/// Err("no seccomp filter for this architecture")).
pub fn filter() -> Result<Vec<sock_filter>, String> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        Ok(bpf::program())
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Err("no seccomp filter for this architecture".to_string())
    }
}

/// Installs `filter()` with prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog). Requires
/// no_new_privs (or CAP_SYS_ADMIN); returns Err with the OS error text when the kernel refuses
/// (that is how callers learn seccomp is unavailable).
pub fn install_seccomp(program: &[sock_filter]) -> Result<(), String> {
    install_seccomp_raw(program).map_err(String::from)
}

fn install_seccomp_raw(program: &[sock_filter]) -> Result<(), Failure> {
    const CALL: &str = "prctl(PR_SET_SECCOMP)";
    // The kernel itself refuses an empty program or one over BPF_MAXINSNS (4096).
    let len = u16::try_from(program.len()).map_err(|_| Failure::new(CALL, Errno::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        // The kernel copies the program and never writes through this pointer.
        filter: program.as_ptr().cast_mut(),
    };
    let zero: c_ulong = 0;
    // SAFETY: prog and the program it points at outlive the call, which copies them.
    let result = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            c_ulong::from(libc::SECCOMP_MODE_FILTER),
            &prog as *const libc::sock_fprog,
            zero,
            zero,
        )
    };
    if result < 0 {
        return Err(Failure::new(CALL, Errno::last()));
    }
    Ok(())
}

/// The filter: a denylist in the spirit of Docker's default profile, as classic BPF over
/// `struct seccomp_data` {nr: u32 at 0, arch: u32 at 4, instruction_pointer: u64 at 8,
/// args: [u64; 6] at 16}.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod bpf {
    use libc::{c_long, sock_filter};

    const NR_OFFSET: u32 = 0;
    const ARCH_OFFSET: u32 = 4;
    /// The low 32 bits of args[0] (little-endian, see the compile_error! above).
    const ARG0_LOW_OFFSET: u32 = 16;

    /// AUDIT_ARCH_X86_64: EM_X86_64 (62) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xC000_003E;
    /// AUDIT_ARCH_AARCH64: EM_AARCH64 (183) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xC000_00B7;

    /// x32 system calls enter through the x86_64 entry (same AUDIT_ARCH) with this bit set.
    #[cfg(target_arch = "x86_64")]
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;

    /// Denied with ENOSYS, so that programs fall back to what the filter can judge: clone3's
    /// flags are in memory seccomp cannot read (glibc falls back to clone), and io_uring runs
    /// operations the filter never sees (everything falls back to plain system calls).
    const UNAVAILABLE: &[c_long] = &[
        libc::SYS_clone3,
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ];

    /// Denied with EPERM on both architectures: the kernel's and the host's business, not a
    /// sandbox's, and much of the kernel's attack surface.
    const DENIED: &[c_long] = &[
        // Kernel code.
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_reboot,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_fanotify_init,
        // Keyrings are not namespaced.
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_keyctl,
        // Mounts, old and new API.
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_mount_setattr,
        // Other namespaces.
        libc::SYS_setns,
        // Host-wide state.
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_acct,
        libc::SYS_quotactl,
        libc::SYS_quotactl_fd,
        libc::SYS_settimeofday,
        libc::SYS_clock_settime,
        libc::SYS_clock_adjtime,
        libc::SYS_adjtimex,
        libc::SYS_syslog,
        libc::SYS_vhangup,
        // File handles bypass the path walk (and with it the sandbox's root).
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        // Obsolete.
        libc::SYS_lookup_dcookie,
        libc::SYS_nfsservctl,
    ];

    /// Denied with EPERM, x86_64 only. (create_module, query_module and get_kernel_syms have
    /// no constant in the libc crate; the kernel has not implemented them for years.)
    #[cfg(target_arch = "x86_64")]
    const DENIED_HERE: &[c_long] = &[
        libc::SYS_iopl,
        libc::SYS_ioperm,
        libc::SYS_uselib,
        libc::SYS_ustat,
        libc::SYS_sysfs,
        libc::SYS__sysctl,
    ];
    #[cfg(target_arch = "aarch64")]
    const DENIED_HERE: &[c_long] = &[];

    /// The clone flags that make new namespaces. A sandbox gets none: each is kernel attack
    /// surface (a new user namespace above all), and the sandbox's own are already in place.
    const NEW_NAMESPACES: u32 = (libc::CLONE_NEWNS
        | libc::CLONE_NEWCGROUP
        | libc::CLONE_NEWUTS
        | libc::CLONE_NEWIPC
        | libc::CLONE_NEWUSER
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWNET) as u32;
    /// unshare also makes time namespaces; in clone's flags this bit is the exit signal's.
    const NEW_TIME_NAMESPACE: u32 = libc::CLONE_NEWTIME as u32;

    const fn errno(errno: i32) -> u32 {
        libc::SECCOMP_RET_ERRNO | (errno as u32 & libc::SECCOMP_RET_DATA)
    }
    const RET_EPERM: u32 = errno(libc::EPERM);
    const RET_ENOSYS: u32 = errno(libc::ENOSYS);

    // Instructions. Jumps are relative to the next instruction, with u8 offsets.
    fn stmt(code: u32, k: u32) -> sock_filter {
        jump(code, k, 0, 0)
    }
    fn jump(code: u32, k: u32, jt: u8, jf: u8) -> sock_filter {
        sock_filter {
            code: code as u16,
            jt,
            jf,
            k,
        }
    }
    /// A = the 32-bit word of seccomp_data at `offset`.
    fn load(offset: u32) -> sock_filter {
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, offset)
    }
    fn ret(action: u32) -> sock_filter {
        stmt(libc::BPF_RET | libc::BPF_K, action)
    }
    /// Jump `jt` if A == k, else `jf`.
    fn jeq(k: u32, jt: u8, jf: u8) -> sock_filter {
        jump(libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, k, jt, jf)
    }
    /// Jump `jt` if A >= k (unsigned), else `jf`.
    #[cfg(target_arch = "x86_64")]
    fn jge(k: u32, jt: u8, jf: u8) -> sock_filter {
        jump(libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, k, jt, jf)
    }
    /// Jump `jt` if A & k != 0, else `jf`.
    fn jset(k: u32, jt: u8, jf: u8) -> sock_filter {
        jump(libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K, k, jt, jf)
    }

    /// With the system call number in A: returns `action` for any of `numbers`, and falls
    /// through to what follows for the rest, with A untouched. Each group of comparisons jumps
    /// to one shared return right after it; groups are small enough for u8 offsets.
    fn deny(program: &mut Vec<sock_filter>, numbers: &[c_long], action: u32) {
        for group in numbers.chunks(128) {
            let last = group.len() - 1;
            for (i, &nr) in group.iter().enumerate() {
                // The shared return is `last - i` instructions past the next one; the last
                // comparison skips it when it does not match.
                let to_return = u8::try_from(last - i).unwrap_or(u8::MAX);
                if i == last {
                    program.push(jeq(nr as u32, 0, 1));
                } else {
                    program.push(jeq(nr as u32, to_return, 0));
                }
            }
            program.push(ret(action));
        }
    }

    /// With the system call number in A: for `nr`, returns EPERM when the low word of args[0]
    /// has any of `flags` and allows it otherwise; other calls fall through with A untouched.
    fn deny_flags(program: &mut Vec<sock_filter>, nr: c_long, flags: u32) {
        program.extend([
            jeq(nr as u32, 0, 4),
            load(ARG0_LOW_OFFSET),
            jset(flags, 0, 1),
            ret(RET_EPERM),
            ret(libc::SECCOMP_RET_ALLOW),
        ]);
    }

    pub fn program() -> Vec<sock_filter> {
        let mut program = Vec::with_capacity(96);
        // Another ABI's numbers mean other system calls (on x86_64: the i386 `int 0x80`
        // entry), which the lists below would misjudge: such a process is killed.
        program.extend([
            load(ARCH_OFFSET),
            jeq(AUDIT_ARCH, 1, 0),
            ret(libc::SECCOMP_RET_KILL_PROCESS),
            load(NR_OFFSET),
        ]);
        // x32 calls reach the same kernel code as x86_64 ones under other numbers: denied.
        // Number -1 is let through (the kernel answers ENOSYS): a tracer sets it to skip a
        // call, and an EPERM from here would overwrite the return value the tracer chose.
        #[cfg(target_arch = "x86_64")]
        program.extend([
            jge(X32_SYSCALL_BIT, 0, 2),
            jeq(u32::MAX, 1, 0),
            ret(RET_EPERM),
        ]);
        deny(&mut program, UNAVAILABLE, RET_ENOSYS);
        deny(&mut program, DENIED, RET_EPERM);
        deny(&mut program, DENIED_HERE, RET_EPERM);
        deny_flags(
            &mut program,
            libc::SYS_unshare,
            NEW_NAMESPACES | NEW_TIME_NAMESPACE,
        );
        // clone's flags are args[0] on x86_64 and aarch64 alike (the kernel reads their low
        // word only); its low byte is the exit signal.
        deny_flags(&mut program, libc::SYS_clone, NEW_NAMESPACES);
        // Everything else: personality, ptrace and chroot included.
        program.push(ret(libc::SECCOMP_RET_ALLOW));
        program
    }
}

#[cfg(all(test, any(target_arch = "x86_64", target_arch = "aarch64")))]
mod tests {
    use super::*;
    use libc::{c_long, pid_t};
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    const DATA_ARCH: usize = 4;
    #[cfg(target_arch = "x86_64")]
    const NATIVE_ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const NATIVE_ARCH: u32 = 0xC000_00B7;

    /// Runs `program` over a seccomp_data, as the kernel would (only the instructions the
    /// filter uses).
    fn evaluate(program: &[sock_filter], nr: u32, arch: u32, arg0: u64) -> u32 {
        let mut data = [0u8; 64];
        data[..4].copy_from_slice(&nr.to_ne_bytes());
        data[DATA_ARCH..DATA_ARCH + 4].copy_from_slice(&arch.to_ne_bytes());
        data[16..24].copy_from_slice(&arg0.to_ne_bytes());
        let mut a = 0u32;
        let mut pc = 0;
        loop {
            let insn = program[pc];
            let code = u32::from(insn.code);
            let k = insn.k;
            let taken = |cond: bool| 1 + usize::from(if cond { insn.jt } else { insn.jf });
            pc += match code {
                c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                    let at = k as usize;
                    a = u32::from_ne_bytes(data[at..at + 4].try_into().unwrap());
                    1
                }
                c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => taken(a == k),
                c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => taken(a >= k),
                c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => taken(a & k != 0),
                c if c == libc::BPF_RET | libc::BPF_K => return k,
                _ => panic!("unexpected instruction {code:#x} at {pc}"),
            };
        }
    }

    fn verdict(nr: c_long, arg0: u64) -> u32 {
        evaluate(&filter().unwrap(), nr as u32, NATIVE_ARCH, arg0)
    }

    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

    #[test]
    fn kept_capabilities_are_dockers_default_set() {
        assert_eq!(KEPT_MASK, 0x0000_0000_a804_25fb);
        assert_eq!(KEPT_CAPABILITIES.len(), 14);
        assert_eq!(parse_decimal(b"40\n"), Some(40));
        assert_eq!(parse_decimal(b"\n"), None);
        assert_eq!(parse_decimal(b"4x"), None);
        assert_eq!(parse_decimal(b"99999999999"), None);
    }

    #[test]
    fn errors_name_the_call_and_the_reason() {
        let failure = Failure::new("prctl(PR_SET_NO_NEW_PRIVS)", Errno::EPERM);
        assert_eq!(
            String::from(failure),
            "prctl(PR_SET_NO_NEW_PRIVS): Operation not permitted"
        );
        let failure = Failure {
            call: "prctl(PR_CAPBSET_DROP",
            cap: Some(21),
            errno: Errno::EPERM,
        };
        assert_eq!(
            String::from(failure),
            "prctl(PR_CAPBSET_DROP, 21): Operation not permitted"
        );
    }

    #[test]
    fn filter_is_small_and_its_jumps_stay_inside() {
        let program = filter().unwrap();
        assert!(program.len() < 4096, "{} instructions", program.len());
        for (pc, insn) in program.iter().enumerate() {
            let class = u32::from(insn.code) & 0x07;
            if class == libc::BPF_JMP {
                // Only conditional jumps are used (BPF_JA would jump by k).
                assert_ne!(u32::from(insn.code) & 0xf0, libc::BPF_JA, "at {pc}");
                let next = pc + 1;
                assert!(next + usize::from(insn.jt) < program.len(), "jt at {pc}");
                assert!(next + usize::from(insn.jf) < program.len(), "jf at {pc}");
            }
        }
        let last = program.last().unwrap();
        assert_eq!(u32::from(last.code), libc::BPF_RET | libc::BPF_K);
    }

    #[test]
    fn filter_decisions() {
        let program = filter().unwrap();
        // Another architecture's token: killed.
        let foreign = evaluate(&program, libc::SYS_getpid as u32, 0x4000_0003, 0);
        assert_eq!(foreign, libc::SECCOMP_RET_KILL_PROCESS);
        for nr in [
            libc::SYS_getpid,
            libc::SYS_read,
            libc::SYS_ptrace,
            libc::SYS_chroot,
        ] {
            assert_eq!(verdict(nr, 0), ALLOW, "{nr}");
        }
        assert_eq!(verdict(libc::SYS_personality, 0xffff_ffff), ALLOW);
        for nr in [
            libc::SYS_mount,
            libc::SYS_bpf,
            libc::SYS_keyctl,
            libc::SYS_setns,
        ] {
            assert_eq!(verdict(nr, 0), EPERM, "{nr}");
        }
        assert_eq!(verdict(libc::SYS_nfsservctl, 0), EPERM);
        assert_eq!(verdict(libc::SYS_clone3, 0), ENOSYS);
        assert_eq!(verdict(libc::SYS_io_uring_register, 0), ENOSYS);

        let sigchld = libc::SIGCHLD as u64;
        let newuser = libc::CLONE_NEWUSER as u64;
        let newtime = libc::CLONE_NEWTIME as u64;
        let files = libc::CLONE_FILES as u64;
        assert_eq!(verdict(libc::SYS_clone, sigchld), ALLOW);
        assert_eq!(verdict(libc::SYS_clone, newuser | sigchld), EPERM);
        // 0x80 is part of the exit signal for clone, a namespace for unshare.
        assert_eq!(verdict(libc::SYS_clone, newtime), ALLOW);
        assert_eq!(verdict(libc::SYS_unshare, newtime), EPERM);
        assert_eq!(verdict(libc::SYS_unshare, files), ALLOW);
        assert_eq!(verdict(libc::SYS_unshare, newuser), EPERM);
        // Only the low word counts (the kernel ignores the rest).
        assert_eq!(verdict(libc::SYS_unshare, files | 1 << 40), ALLOW);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(verdict(0x4000_0000 | libc::SYS_getpid, 0), EPERM);
            assert_eq!(verdict(-1, 0), ALLOW);
        }
    }

    /// Forks; the child runs `child` with the write end of a pipe and `_exit`s with what it
    /// returns. Returns the bytes it wrote and its wait status. `child` must not allocate:
    /// this process has other threads.
    fn in_child(child: impl FnOnce(c_int) -> c_int) -> (Vec<u8>, c_int) {
        let mut fds = [0 as c_int; 2];
        // SAFETY: fds has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both descriptors are new and owned by nothing else.
        let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), fds[1]) };
        // SAFETY: the child only makes system calls (see `child`'s contract) and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", Errno::last());
        if pid == 0 {
            let code = child(write_end);
            // SAFETY: leave without running this process's exit handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        // SAFETY: this end belongs to the child now.
        unsafe { libc::close(write_end) };
        // The child writes far less than a pipe holds: wait for it, then read without
        // blocking (another test's fork may hold a copy of the write end for a moment).
        let mut status = 0;
        // SAFETY: pid is our child; status is a valid out-pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        let mut file = std::fs::File::from(read_end);
        // SAFETY: setting O_NONBLOCK on a descriptor we own.
        unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let mut bytes = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        (bytes, status)
    }

    fn put(fd: c_int, bytes: &[u8]) {
        // SAFETY: writes from a live slice.
        unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    }

    /// The byte a probe reports: 0 for success, else errno.
    fn outcome(result: c_long) -> u8 {
        if result < 0 {
            Errno::last_raw() as u8
        } else {
            0
        }
    }

    fn exited_cleanly(status: c_int) -> bool {
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }

    /// After a fork-like call: the new process leaves at once; the old one reaps it.
    fn reap(result: c_long) -> c_long {
        if result == 0 {
            // SAFETY: this is the new process; leave at once.
            unsafe { libc::_exit(0) }
        }
        if result > 0 {
            let mut status = 0;
            // SAFETY: result is the pid of our child; status is a valid out-pointer.
            unsafe { libc::waitpid(result as pid_t, &mut status, 0) };
            return if exited_cleanly(status) { 0 } else { -1 };
        }
        result
    }

    fn sys(nr: c_long, a: usize, b: usize) -> c_long {
        // SAFETY: only probes whose arguments are integers or null pointers.
        unsafe { libc::syscall(nr, a, b, 0usize, 0usize, 0usize, 0usize) }
    }

    fn clone_newnet() -> c_long {
        let flags = (libc::CLONE_NEWNET | libc::SIGCHLD) as usize;
        // Raw clone with no new stack: the new process goes on from here (and `reap` ends it).
        reap(sys(libc::SYS_clone, flags, 0))
    }

    fn plain_fork() -> c_long {
        // SAFETY: the new process only `_exit`s (in `reap`).
        reap(c_long::from(unsafe { libc::fork() }))
    }

    #[cfg(target_arch = "x86_64")]
    fn x32_getpid() -> c_long {
        sys(0x4000_0000 | libc::SYS_getpid, 0, 0)
    }

    #[cfg(target_arch = "x86_64")]
    fn nr_minus_one() -> c_long {
        sys(-1, 0, 0)
    }

    type Probe = (&'static str, fn() -> c_long, i32);

    const PROBES: &[Probe] = &[
        (
            "unshare(CLONE_NEWUSER)",
            || sys(libc::SYS_unshare, libc::CLONE_NEWUSER as usize, 0),
            libc::EPERM,
        ),
        (
            "unshare(CLONE_NEWTIME)",
            || sys(libc::SYS_unshare, libc::CLONE_NEWTIME as usize, 0),
            libc::EPERM,
        ),
        (
            "unshare(CLONE_FILES)",
            || sys(libc::SYS_unshare, libc::CLONE_FILES as usize, 0),
            0,
        ),
        ("clone(CLONE_NEWNET)", clone_newnet, libc::EPERM),
        ("fork", plain_fork, 0),
        ("mount", || sys(libc::SYS_mount, 0, 0), libc::EPERM),
        ("umount2", || sys(libc::SYS_umount2, 0, 0), libc::EPERM),
        ("keyctl", || sys(libc::SYS_keyctl, 0, 0), libc::EPERM),
        ("bpf", || sys(libc::SYS_bpf, 0, 0), libc::EPERM),
        (
            "perf_event_open",
            || sys(libc::SYS_perf_event_open, 0, 0),
            libc::EPERM,
        ),
        (
            "init_module",
            || sys(libc::SYS_init_module, 0, 0),
            libc::EPERM,
        ),
        (
            "io_uring_setup",
            || sys(libc::SYS_io_uring_setup, 0, 0),
            libc::ENOSYS,
        ),
        ("clone3", || sys(libc::SYS_clone3, 0, 0), libc::ENOSYS),
        (
            "setns(-1, 0)",
            || sys(libc::SYS_setns, usize::MAX, 0),
            libc::EPERM,
        ),
        ("getpid", || sys(libc::SYS_getpid, 0, 0), 0),
        (
            "personality(0xffffffff)",
            || sys(libc::SYS_personality, 0xffff_ffff, 0),
            0,
        ),
        #[cfg(target_arch = "x86_64")]
        ("x32 getpid", x32_getpid, libc::EPERM),
        #[cfg(target_arch = "x86_64")]
        ("system call -1", nr_minus_one, libc::ENOSYS),
    ];

    fn describe(errno: i32) -> String {
        match errno {
            0 => "success".to_string(),
            errno => format!("{errno} ({})", Errno::from_raw(errno).desc()),
        }
    }

    #[test]
    fn seccomp_filter_denies_and_allows_in_the_kernel() {
        let program = filter().unwrap();
        let (bytes, status) = in_child(|out| {
            if set_no_new_privs().is_err() {
                return 2;
            }
            if install_seccomp(&program).is_err() {
                return 3;
            }
            for (_, probe, _) in PROBES {
                put(out, &[outcome(probe())]);
            }
            0
        });
        assert!(exited_cleanly(status), "child status {status:#x}");
        assert_eq!(bytes.len(), PROBES.len());
        for ((name, _, expected), &got) in PROBES.iter().zip(&bytes) {
            assert_eq!(
                i32::from(got),
                *expected,
                "{name}: got {}, expected {}",
                describe(got.into()),
                describe(*expected)
            );
        }
    }

    /// i386 getpid through `int 0x80`; the value is whatever the kernel left in eax.
    #[cfg(target_arch = "x86_64")]
    fn int80_getpid() -> u32 {
        let mut eax: u32 = 20;
        // SAFETY: the legacy system call entry; it returns in eax and may clear r8-r11.
        unsafe {
            std::arch::asm!(
                "int 0x80",
                inout("eax") eax,
                out("r8") _, out("r9") _, out("r10") _, out("r11") _,
                options(nostack)
            );
        }
        eax
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn seccomp_filter_kills_the_i386_abi() {
        // Without a filter: does this kernel run i386 system calls at all?
        let (_, status) = in_child(|_| {
            // No core dump if the probe crashes.
            let _ = prctl(libc::PR_SET_DUMPABLE, 0, 0);
            int80_getpid();
            0
        });
        if !exited_cleanly(status) {
            eprintln!("skipped: no i386 system calls on this kernel (status {status:#x})");
            return;
        }
        let program = filter().unwrap();
        let (_, status) = in_child(|_| {
            if set_not_dumpable().is_err() || set_no_new_privs().is_err() {
                return 2;
            }
            if install_seccomp(&program).is_err() {
                return 3;
            }
            int80_getpid();
            0
        });
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSYS,
            "child status {status:#x}"
        );
    }

    fn status_field(status: &str, name: &str) -> String {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
            .trim()
            .to_string()
    }

    #[test]
    fn capabilities_privileges_and_dumpable_are_locked() {
        let (bytes, status) = in_child(|out| {
            // The agent's order.
            if set_not_dumpable().is_err() {
                return 2;
            }
            if drop_capabilities(&[]).is_err() {
                return 3;
            }
            if set_no_new_privs().is_err() {
                return 4;
            }
            let zero: c_ulong = 0;
            // SAFETY: queries with integer arguments.
            let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, zero, zero, zero, zero) };
            // SAFETY: as above.
            let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, zero, zero, zero, zero) };
            put(out, &[dumpable as u8, nnp as u8]);
            // Hand /proc/self/status to the parent to parse.
            let path = c"/proc/self/status";
            // SAFETY: a NUL-terminated path; the descriptor is this child's until it exits.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return 5;
            }
            let mut buf = [0u8; 1024];
            loop {
                // SAFETY: reads into a buffer on this stack.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                match usize::try_from(n) {
                    Ok(0) => return 0,
                    Ok(n) => put(out, &buf[..n]),
                    Err(_) => return 6,
                }
            }
        });
        assert!(exited_cleanly(status), "child status {status:#x}");
        assert!(bytes.len() > 2);
        assert_eq!(bytes[0], 0, "PR_GET_DUMPABLE");
        assert_eq!(bytes[1], 1, "PR_GET_NO_NEW_PRIVS");
        let text = String::from_utf8_lossy(&bytes[2..]);
        let mask = |name: &str| u64::from_str_radix(&status_field(&text, name), 16).unwrap();
        assert_eq!(mask("CapBnd"), 0xa804_25fb);
        assert_eq!(mask("CapEff"), 0xa804_25fb);
        assert_eq!(mask("CapPrm"), 0xa804_25fb);
        assert_eq!(mask("CapInh"), 0);
        assert_eq!(mask("CapAmb"), 0);
        assert_eq!(status_field(&text, "NoNewPrivs"), "1");
    }

    #[test]
    fn seccomp_is_refused_without_no_new_privs_or_cap_sys_admin() {
        let program = filter().unwrap();
        let (bytes, status) = in_child(|out| {
            if drop_capabilities(&[]).is_err() {
                return 2;
            }
            let errno = match install_seccomp_raw(&program) {
                Ok(()) => 0,
                Err(failure) => failure.errno as i32 as u8,
            };
            put(out, &[errno]);
            0
        });
        assert!(exited_cleanly(status), "child status {status:#x}");
        assert_eq!(bytes, [libc::EACCES as u8]);
    }
}
