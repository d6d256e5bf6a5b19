//! A minimal zip writer for the Alipay bill: entry names are written as GBK bytes with the UTF-8 flag
//! (general purpose bit 11) clear, as Alipay's own zips are (protocols.md 5.2). The `zip` crate's writer sets
//! that flag for any non-ASCII name, so the bill cannot use it.
//!
//! Layout (PKWARE APPNOTE 4.3): for each entry a local file header, then its deflated data; then the central
//! directory (one header per entry); then the end of central directory record. No zip64, no data descriptors,
//! no extra fields: bills are small.

use std::io::Write as _;

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};

use crate::clock::beijing;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// Version 2.0: deflate.
const VERSION: u16 = 20;
/// General purpose bit flags: all clear, in particular bit 11 (names are UTF-8).
const FLAGS: u16 = 0;
const DEFLATE: u16 = 8;

/// One entry, as the central directory repeats it.
struct Written {
    name: Vec<u8>,
    crc: u32,
    compressed: u32,
    size: u32,
    offset: u32,
}

/// A zip of `(name, contents)` entries, names encoded as GBK, stamped with `modified` in Beijing time.
pub fn gbk_zip(entries: &[(&str, &[u8])], modified: DateTime<Utc>) -> Result<Vec<u8>, String> {
    let (time, date) = dos_time(modified);
    let mut out = Vec::new();
    let mut written = Vec::new();
    for (name, contents) in entries {
        let (name, _, unmappable) = encoding_rs::GBK.encode(name);
        if unmappable {
            return Err("a zip entry name has no GBK encoding".to_owned());
        }
        let mut crc = flate2::Crc::new();
        crc.update(contents);
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(contents).map_err(|e| e.to_string())?;
        let deflated = encoder.finish().map_err(|e| e.to_string())?;
        let entry = Written {
            name: name.into_owned(),
            crc: crc.sum(),
            compressed: u32_of(deflated.len())?,
            size: u32_of(contents.len())?,
            offset: u32_of(out.len())?,
        };
        put32(&mut out, LOCAL_HEADER);
        put_entry_fields(&mut out, &entry, time, date)?;
        out.extend_from_slice(&entry.name);
        out.extend_from_slice(&deflated);
        written.push(entry);
    }
    let directory_start = out.len();
    for entry in &written {
        put32(&mut out, CENTRAL_HEADER);
        put16(&mut out, VERSION); // made by: MS-DOS (high byte 0), whose names are in the local code page
        put_entry_fields(&mut out, entry, time, date)?;
        put16(&mut out, 0); // comment length
        put16(&mut out, 0); // disk number start
        put16(&mut out, 0); // internal attributes
        put32(&mut out, 0); // external attributes
        put32(&mut out, entry.offset);
        out.extend_from_slice(&entry.name);
    }
    let directory_size = u32_of(out.len() - directory_start)?;
    let count = u16_of(written.len())?;
    put32(&mut out, END_OF_CENTRAL_DIRECTORY);
    put16(&mut out, 0); // this disk
    put16(&mut out, 0); // disk with the central directory
    put16(&mut out, count); // entries on this disk
    put16(&mut out, count); // entries in all
    put32(&mut out, directory_size);
    put32(&mut out, u32_of(directory_start)?);
    put16(&mut out, 0); // comment length
    Ok(out)
}

/// The fields a local header and its central directory header share, from
/// "version needed to extract" to the extra field's length (empty).
fn put_entry_fields(
    out: &mut Vec<u8>,
    entry: &Written,
    time: u16,
    date: u16,
) -> Result<(), String> {
    put16(out, VERSION);
    put16(out, FLAGS);
    put16(out, DEFLATE);
    put16(out, time);
    put16(out, date);
    put32(out, entry.crc);
    put32(out, entry.compressed);
    put32(out, entry.size);
    put16(out, u16_of(entry.name.len())?);
    put16(out, 0); // extra field length
    Ok(())
}

/// MS-DOS (time, date) of an instant in Beijing time; two-second resolution, years from 1980.
fn dos_time(at: DateTime<Utc>) -> (u16, u16) {
    let local = at.with_timezone(&beijing());
    let year = u16::try_from(local.year().clamp(1980, 2107) - 1980).unwrap_or(0);
    // Month, day, hour, minute and second all fit in u16.
    let [month, day, hour, minute, second] = [
        local.month(),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
    ]
    .map(|v| u16::try_from(v).unwrap_or(0));
    let time = (hour << 11) | (minute << 5) | (second / 2);
    let date = (year << 9) | (month << 5) | day;
    (time, date)
}

fn u32_of(n: usize) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| "the bill is too large for a zip without zip64".to_owned())
}

fn u16_of(n: usize) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| "too many zip entries or too long a name".to_owned())
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    const UTF8_FLAG: u16 = 1 << 11;

    #[test]
    fn names_are_gbk_bytes_without_the_utf8_flag_and_contents_read_back() {
        let at: DateTime<Utc> = "2026-01-15T04:05:06Z".parse().unwrap();
        let detail = "#支付宝业务明细查询\r\n".repeat(50);
        let names = [
            "20881021778468800156_20260115_业务明细.csv",
            "20881021778468800156_20260115_业务明细(汇总).csv",
        ];
        let bytes = gbk_zip(&[(names[0], detail.as_bytes()), (names[1], b"summary")], at).unwrap();
        // The first local header's flags, straight from the bytes.
        assert_eq!(u16::from_le_bytes([bytes[6], bytes[7]]) & UTF8_FLAG, 0);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 2);
        for (i, (name, contents)) in names
            .iter()
            .zip([detail.as_bytes(), b"summary".as_slice()])
            .enumerate()
        {
            let mut file = archive.by_index(i).unwrap();
            let (gbk, _, _) = encoding_rs::GBK.encode(name);
            assert_eq!(file.name_raw(), &gbk[..]);
            assert_ne!(file.name_raw(), name.as_bytes(), "not UTF-8");
            assert_eq!(file.flags().as_u16() & UTF8_FLAG, 0);
            assert_eq!(file.compression(), zip::CompressionMethod::Deflated);
            let mut read = Vec::new();
            file.read_to_end(&mut read).unwrap();
            assert_eq!(read, contents);
        }
    }

    #[test]
    fn dos_time_is_beijing_time() {
        let (time, date) = dos_time("2026-01-15T04:05:06Z".parse().unwrap());
        assert_eq!(time, (12 << 11) | (5 << 5) | 3);
        assert_eq!(date, (46 << 9) | (1 << 5) | 15);
    }
}
