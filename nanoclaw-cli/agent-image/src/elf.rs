//! Just enough ELF reading to know what a dynamically linked executable needs
//! at run time: its program interpreter (`PT_INTERP`, the dynamic loader),
//! its `DT_NEEDED` libraries and its `DT_RUNPATH`/`DT_RPATH`.
//!
//! Reading the file itself, rather than asking `ldd` or the running process,
//! works for any binary (not only the current one) and needs no tool that a
//! minimal machine may lack. Only 64-bit little-endian ELF is supported
//! (x86_64, aarch64): the platforms Docker Sandboxes run on.

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// What an executable or shared library needs from the dynamic loader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DynamicNeeds {
    /// The program interpreter, e.g. `/lib64/ld-linux-x86-64.so.2` (none when static).
    pub interpreter: Option<String>,
    /// Sonames of the needed libraries, in order.
    pub needed: Vec<String>,
    /// Extra library directories (`DT_RUNPATH`, else `DT_RPATH`), `:`-split.
    pub runpath: Vec<String>,
}

/// Reads the dynamic needs of the ELF image `bytes`; the error says what is wrong.
pub fn dynamic_needs(bytes: &[u8]) -> Result<DynamicNeeds, String> {
    if bytes.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".into());
    }
    if bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file (the only kind supported)".into());
    }
    let phoff = read_u64(bytes, 0x20)?;
    let phentsize = u64::from(read_u16(bytes, 0x36)?);
    let phnum = u64::from(read_u16(bytes, 0x38)?);
    let headers: Vec<ProgramHeader> = (0..phnum)
        .map(|i| ProgramHeader::read(bytes, offset(phoff, i * phentsize)?))
        .collect::<Result<_, _>>()?;

    let mut needs = DynamicNeeds::default();
    for header in &headers {
        if header.kind == PT_INTERP {
            let interp = slice(bytes, header.offset, header.filesz)?;
            needs.interpreter = Some(c_string(interp, 0)?);
        }
    }
    let Some(dynamic) = headers.iter().find(|h| h.kind == PT_DYNAMIC) else {
        return Ok(needs);
    };
    let entries = slice(bytes, dynamic.offset, dynamic.filesz)?;
    let mut tags: Vec<(u64, u64)> = Vec::new();
    for entry in entries.chunks_exact(16) {
        let tag = read_u64(entry, 0)?;
        if tag == DT_NULL {
            break;
        }
        tags.push((tag, read_u64(entry, 8)?));
    }
    let strtab_vaddr = tags
        .iter()
        .find(|(tag, _)| *tag == DT_STRTAB)
        .map(|(_, value)| *value)
        .ok_or("a dynamic section without a string table")?;
    let strtab = file_offset(&headers, strtab_vaddr)?;
    let string_at = |value: u64| -> Result<String, String> {
        let start = usize::try_from(offset(strtab, value)?).map_err(|_| "offset too large")?;
        c_string(bytes, start)
    };
    let (mut runpath, mut rpath) = (Vec::new(), Vec::new());
    for (tag, value) in &tags {
        match *tag {
            DT_NEEDED => needs.needed.push(string_at(*value)?),
            DT_RUNPATH => runpath = split_path_list(&string_at(*value)?),
            DT_RPATH => rpath = split_path_list(&string_at(*value)?),
            _ => {}
        }
    }
    // The loader ignores DT_RPATH when DT_RUNPATH is present.
    needs.runpath = if runpath.is_empty() { rpath } else { runpath };
    Ok(needs)
}

struct ProgramHeader {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

impl ProgramHeader {
    fn read(bytes: &[u8], at: u64) -> Result<Self, String> {
        let at = usize::try_from(at).map_err(|_| "program header offset too large")?;
        let header = bytes
            .get(at..at.saturating_add(56))
            .ok_or("a truncated program header table")?;
        Ok(Self {
            kind: read_u32(header, 0)?,
            offset: read_u64(header, 8)?,
            vaddr: read_u64(header, 16)?,
            filesz: read_u64(header, 32)?,
        })
    }
}

/// The file offset of virtual address `vaddr`, through the loadable segments.
fn file_offset(headers: &[ProgramHeader], vaddr: u64) -> Result<u64, String> {
    headers
        .iter()
        .filter(|h| h.kind == PT_LOAD)
        .find(|h| vaddr >= h.vaddr && vaddr - h.vaddr < h.filesz)
        .map(|h| vaddr - h.vaddr + h.offset)
        .ok_or_else(|| format!("address {vaddr:#x} is in no loadable segment"))
}

fn split_path_list(list: &str) -> Vec<String> {
    list.split(':')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn offset(base: u64, add: u64) -> Result<u64, String> {
    base.checked_add(add)
        .ok_or_else(|| "an offset overflows".to_string())
}

fn slice(bytes: &[u8], start: u64, len: u64) -> Result<&[u8], String> {
    let start = usize::try_from(start).map_err(|_| "offset too large")?;
    let len = usize::try_from(len).map_err(|_| "size too large")?;
    bytes
        .get(start..start.saturating_add(len))
        .ok_or_else(|| "a segment reaches past the end of the file".to_string())
}

fn c_string(bytes: &[u8], start: usize) -> Result<String, String> {
    let tail = bytes.get(start..).ok_or("a string offset past the end")?;
    let end = tail
        .iter()
        .position(|b| *b == 0)
        .ok_or("an unterminated string")?;
    String::from_utf8(tail[..end].to_vec()).map_err(|_| "a string that is not UTF-8".to_string())
}

fn read_u16(bytes: &[u8], at: usize) -> Result<u16, String> {
    read_array(bytes, at).map(u16::from_le_bytes)
}

fn read_u32(bytes: &[u8], at: usize) -> Result<u32, String> {
    read_array(bytes, at).map(u32::from_le_bytes)
}

fn read_u64(bytes: &[u8], at: usize) -> Result<u64, String> {
    read_array(bytes, at).map(u64::from_le_bytes)
}

fn read_array<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], String> {
    bytes
        .get(at..at.saturating_add(N))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| "the file is truncated".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_needs_libc_and_a_loader() {
        let exe = std::env::current_exe().unwrap();
        let needs = dynamic_needs(&std::fs::read(exe).unwrap()).unwrap();
        let interpreter = needs.interpreter.expect("a dynamically linked test binary");
        assert!(interpreter.contains("ld-linux"), "{interpreter}");
        assert!(
            needs.needed.iter().any(|n| n.starts_with("libc.so")),
            "{:?}",
            needs.needed
        );
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        assert_eq!(dynamic_needs(b"").unwrap_err(), "not an ELF file");
        assert!(dynamic_needs(b"\x7fELF\x01\x01")
            .unwrap_err()
            .contains("64-bit"));
        // A header that promises program headers far past the end.
        let mut truncated = b"\x7fELF\x02\x01\x01".to_vec();
        truncated.resize(64, 0);
        truncated[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        truncated[0x38] = 1;
        assert!(dynamic_needs(&truncated).is_err());
        // Every prefix of a real binary fails cleanly or parses.
        let real = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        for len in [0, 7, 63, 64, 100, 1000, 4096] {
            let _ = dynamic_needs(&real[..len.min(real.len())]);
        }
    }
}
