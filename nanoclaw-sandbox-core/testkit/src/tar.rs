//! Build contexts for tests: uncompressed tars of text files, and reading
//! one back.

use std::collections::BTreeMap;
use std::io::Read;

/// An uncompressed tar of `(path, text)` entries, mode 0644.
pub fn tar_context(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = ::tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut header = ::tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, path, text.as_bytes())
            .expect("writing to memory");
    }
    builder.into_inner().expect("writing to memory")
}

/// Every entry of a tar context: path → text.
pub fn context_files(context: &[u8]) -> BTreeMap<String, String> {
    let mut archive = ::tar::Archive::new(context);
    archive
        .entries()
        .expect("a tar archive")
        .map(|entry| {
            let mut entry = entry.expect("a tar entry");
            let path = entry.path().expect("a path").to_string_lossy().into_owned();
            let mut text = String::new();
            entry.read_to_string(&mut text).expect("a text file");
            (path, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_reads_back_as_written() {
        let files = context_files(&tar_context(&[
            ("Dockerfile", "FROM scratch\n"),
            ("a/b", "x"),
        ]));
        assert_eq!(files["Dockerfile"], "FROM scratch\n");
        assert_eq!(files["a/b"], "x");
    }
}
