//! Everything the command line writes: the terminal, and sets of output files.
//!
//! - Terminal output goes through [`say`] (the `out!`/`outln!`/`errln!` macros): a closed
//!   pipe (`snapsim run … | head`) stops the printing, never the work, and never panics.
//! - Files are written as an [`OutputSet`]: every file of a command goes to a staging folder
//!   first, and only when all of them are written are they moved into place. When `--out` does
//!   not exist yet, the staging folder itself is renamed to it, so the set appears at once;
//!   when it exists, each file is renamed into it (a rename within one folder is atomic, so
//!   each file is whole), and other files already in it are left alone. On an error, a full
//!   disk or SIGINT/SIGTERM the staging folder is removed and nothing is moved.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Mutex;

use super::Failure;

/// Set once stdout has been closed by its reader; later output is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; a closed pipe ends all further output instead of panicking.
pub fn say(args: fmt::Arguments) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if out.write_fmt(args).and_then(|()| out.flush()).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes to stderr; an error writing there has nowhere to be reported, so it is dropped.
pub fn complain(args: fmt::Arguments) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `print!` that survives a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::say(format_args!($($arg)*)) };
}

/// `println!` that survives a closed pipe.
macro_rules! outln {
    () => { $crate::cli::output::say(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::say(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::cli::output::complain(format_args!("{}\n", format_args!($($arg)*))) };
}

/// Escapes control characters so that no input can drive the terminal.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// A path as a message shows it, with control characters escaped.
pub fn shown(path: &Path) -> String {
    printable(&path.display().to_string())
}

/// Staging folders that a signal must remove.
static STAGING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
/// The write end of the pipe the signal handler wakes the clean-up thread through.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);
/// Distinguishes the staging folders of one process.
static NEXT_STAGING: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work here: one byte down the pipe, which names the signal.
    let byte = signal as u8;
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    // SAFETY: write(2) is async-signal-safe; the buffer is a live local byte.
    unsafe {
        libc::write(fd, (&byte as *const u8).cast(), 1);
    }
}

/// On SIGINT or SIGTERM, removes every staging folder and exits with code 2.
///
/// The handler only writes to a pipe; a thread reads it and does the clean-up, so that no
/// allocation or lock happens inside the handler.
pub fn clean_up_on_signals() {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) fills the two-element array it is given.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return;
    }
    let [read_end, write_end] = fds;
    SIGNAL_PIPE.store(write_end, Ordering::Relaxed);
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut byte = 0u8;
            // SAFETY: reads at most one byte into a live local.
            let n = unsafe { libc::read(read_end, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                remove_staging();
                let name = if byte as libc::c_int == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                errln!("snapsim: error: interrupted by {name}; no partial output was left");
                std::process::exit(2);
            }
            if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return;
            }
        });
    if spawned.is_err() {
        return;
    }
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installs a handler that only calls write(2).
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

fn remove_staging() {
    let dirs = match STAGING.lock() {
        Ok(mut dirs) => std::mem::take(&mut *dirs),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn register(dir: &Path) {
    if let Ok(mut dirs) = STAGING.lock() {
        dirs.push(dir.to_path_buf());
    }
}

fn unregister(dir: &Path) {
    if let Ok(mut dirs) = STAGING.lock() {
        dirs.retain(|d| d != dir);
    }
}

/// What kind of thing a path is, for messages.
fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_file() {
        "a file"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

fn io_error(what: String, e: std::io::Error) -> Failure {
    Failure::Io(anyhow::anyhow!("{what}: {e}"))
}

/// The files one command writes, moved into place together.
pub struct OutputSet {
    /// The folder the files end up in.
    dest: PathBuf,
    /// Where they are written first.
    staging: PathBuf,
    /// `dest` did not exist: the staging folder becomes it.
    fresh: bool,
    /// Names written so far, to refuse a collision.
    names: BTreeSet<String>,
    committed: bool,
}

impl OutputSet {
    /// Checks that `dest` is (or can be created as) a writable folder and stages there.
    ///
    /// Called before any simulation runs, so a bad `--out` costs nothing.
    pub fn begin(flag: &str, dest: &Path) -> Result<OutputSet, Failure> {
        let bad = |problem: String| Failure::BadInput(format!("{flag} {}: {problem}", shown(dest)));
        let n = NEXT_STAGING.fetch_add(1, Ordering::Relaxed);
        let tag = format!(".snapsim-staging-{}-{n}", std::process::id());
        let (staging, fresh) = match std::fs::symlink_metadata(dest) {
            Ok(meta) => {
                let target = if meta.file_type().is_symlink() {
                    std::fs::metadata(dest)
                        .map_err(|e| bad(format!("a symlink that leads nowhere usable ({e})")))?
                } else {
                    meta
                };
                if !target.is_dir() {
                    return Err(bad(format!("is {}, not a folder", kind_of(&target))));
                }
                (dest.join(tag), false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let parent = match dest.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                std::fs::create_dir_all(&parent)
                    .map_err(|e| bad(format!("cannot create {}: {e}", shown(&parent))))?;
                let name = dest
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "out".into());
                (parent.join(format!(".{name}{tag}")), true)
            }
            Err(e) => return Err(bad(format!("cannot be used: {e}"))),
        };
        std::fs::create_dir(&staging).map_err(|e| bad(format!("cannot write there: {e}")))?;
        register(&staging);
        Ok(OutputSet {
            dest: dest.to_path_buf(),
            staging,
            fresh,
            names: BTreeSet::new(),
            committed: false,
        })
    }

    /// Stages a single file `path` (for `--out FILE`): its folder becomes the set's folder.
    ///
    /// An existing `path` must be a regular file; a folder, FIFO, device or symlink is never
    /// replaced.
    pub fn begin_file(flag: &str, path: &Path) -> Result<(OutputSet, String), Failure> {
        let bad = |problem: String| Failure::BadInput(format!("{flag} {}: {problem}", shown(path)));
        let name = match path.file_name() {
            Some(n) => n.to_string_lossy().into_owned(),
            None => return Err(bad("names no file".into())),
        };
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_symlink() {
                return Err(bad(
                    "is a symlink; name the file itself, which will be replaced".into(),
                ));
            }
            if !meta.is_file() {
                return Err(bad(format!("is {}, not a file", kind_of(&meta))));
            }
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok((OutputSet::begin(flag, &dir)?, name))
    }

    /// Writes one file of the set; the same name twice is an error.
    pub fn add(&mut self, name: &str, content: &[u8]) -> Result<PathBuf, Failure> {
        if !self.names.insert(name.to_string()) {
            return Err(Failure::BadInput(format!(
                "two outputs of this command would both be written to {}; give them different names",
                shown(&self.dest.join(name))
            )));
        }
        let staged = self.staging.join(name);
        let written = (|| {
            let mut f = std::fs::File::create(&staged)?;
            f.write_all(content)?;
            f.sync_all()
        })();
        written
            .map_err(|e| io_error(format!("cannot write {}", shown(&self.dest.join(name))), e))?;
        Ok(self.dest.join(name))
    }

    /// Moves every file into place.
    pub fn commit(mut self) -> Result<(), Failure> {
        if self.fresh && std::fs::rename(&self.staging, &self.dest).is_ok() {
            unregister(&self.staging);
            self.committed = true;
            return Ok(());
        }
        // `dest` exists (or appeared meanwhile): rename each file into it.
        if self.fresh {
            std::fs::create_dir_all(&self.dest)
                .map_err(|e| io_error(format!("cannot create {}", shown(&self.dest)), e))?;
        }
        for name in &self.names {
            let target = self.dest.join(name);
            if let Ok(meta) = std::fs::symlink_metadata(&target) {
                if !meta.is_file() {
                    return Err(Failure::BadInput(format!(
                        "{} is {}; it is not replaced",
                        shown(&target),
                        kind_of(&meta)
                    )));
                }
            }
        }
        for name in &self.names {
            std::fs::rename(self.staging.join(name), self.dest.join(name)).map_err(|e| {
                io_error(format!("cannot write {}", shown(&self.dest.join(name))), e)
            })?;
        }
        Ok(())
    }
}

impl Drop for OutputSet {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
            unregister(&self.staging);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_appears_whole_in_a_new_folder() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("a/b");
        let mut set = OutputSet::begin("--out", &dest).unwrap();
        set.add("x.json", b"1").unwrap();
        set.add("y.json", b"2").unwrap();
        assert!(!dest.exists(), "nothing appears before the commit");
        set.commit().unwrap();
        assert_eq!(std::fs::read(dest.join("y.json")).unwrap(), b"2");
        let stray: Vec<_> = std::fs::read_dir(root.path().join("a")).unwrap().collect();
        assert_eq!(stray.len(), 1, "only the folder itself: {stray:?}");
    }

    #[test]
    fn an_existing_folder_keeps_its_other_files_and_a_dropped_set_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("mine.txt"), b"keep").unwrap();
        let mut set = OutputSet::begin("--out", root.path()).unwrap();
        set.add("x.json", b"1").unwrap();
        assert!(set.add("x.json", b"2").is_err(), "a collision is refused");
        drop(set);
        let names: Vec<_> = std::fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("mine.txt")]);
        let mut set = OutputSet::begin("--out", root.path()).unwrap();
        set.add("x.json", b"1").unwrap();
        set.commit().unwrap();
        assert_eq!(
            std::fs::read(root.path().join("mine.txt")).unwrap(),
            b"keep"
        );
        assert_eq!(std::fs::read(root.path().join("x.json")).unwrap(), b"1");
    }

    #[test]
    fn special_files_are_refused_and_never_replaced() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert!(OutputSet::begin("--out", &file).is_err());
        assert!(OutputSet::begin_file("--out", root.path()).is_err());
        let link = root.path().join("l");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        assert!(OutputSet::begin_file("--out", &link).is_err());
        assert!(OutputSet::begin("--out", &link).is_err());
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(printable("ok\n"), "ok\n");
    }
}
