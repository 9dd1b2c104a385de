//! A minimal `newc` cpio writer for initramfs images (the format the kernel unpacks:
//! `Documentation/driver-api/early-userspace/buffer-format.rst`).

/// An initramfs under construction.
#[derive(Debug, Default)]
pub struct Archive {
    bytes: Vec<u8>,
    ino: u32,
}

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFCHR: u32 = 0o020_000;

impl Archive {
    /// An empty archive.
    pub fn new() -> Archive {
        Archive::default()
    }

    fn entry(&mut self, name: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        self.ino += 1;
        let namesize = name.len() + 1;
        let filesize = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            filesize,
            0,
            0,
            rdev.0,
            rdev.1,
            u32::try_from(namesize).unwrap_or(u32::MAX),
            0,
        ];
        self.bytes.extend_from_slice(b"070701");
        for f in fields {
            self.bytes.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }

    /// A directory.
    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, (0, 0), &[]);
    }

    /// A regular file with permission bits `perm`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | perm, (0, 0), data);
    }

    /// A character device node.
    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | 0o600, (major, minor), &[]);
    }

    /// The archive with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_aligned_and_end_with_the_trailer() {
        let mut a = Archive::new();
        a.file("init", 0o755, b"abc");
        let b = a.finish();
        assert_eq!(&b[..6], b"070701");
        assert_eq!(b.len() % 4, 0);
        let trailer = b.windows(10).position(|w| w == b"TRAILER!!!");
        assert!(trailer.is_some());
        // Header (110) + "init\0" padded to 116, then data padded to 4 bytes.
        assert_eq!(&b[116..119], b"abc");
    }
}
