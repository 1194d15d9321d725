//! Anonymous in-memory files: content that must be a file (sent as a download, mounted over
//! another file) without a name anywhere on a filesystem.

use std::ffi::CStr;
use std::io::{Seek, Write};
use std::os::fd::FromRawFd;

/// A new anonymous file holding `content`, its position at the start. `name` shows only in
/// `/proc/<pid>/fd`.
pub fn holding(name: &CStr, content: &[u8]) -> std::io::Result<std::fs::File> {
    // SAFETY: a NUL-terminated name; the descriptor returned is owned by the `File` below.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    file.write_all(content)?;
    file.rewind()?;
    Ok(file)
}
